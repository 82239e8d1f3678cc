package billing

import "regexp"

// External identifiers come from the vendor's systems. They are limited to characters that are
// safe in URLs, workflow IDs, CSV cells and log lines, so that no layer has to escape them.
var (
	idPattern          = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$`)
	outcomeTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
)

// ValidID reports whether s can be a customer_id, task_id or event id: 1–200 characters of letters,
// digits and . _ : @ / -, starting with a letter or digit.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// ValidOutcomeTypeKey reports whether s is a dotted lower-case key such as support.ticket_resolved,
// at most 100 characters.
func ValidOutcomeTypeKey(s string) bool { return len(s) <= 100 && outcomeTypePattern.MatchString(s) }

// checkID returns an invalid error for field when s is not a valid identifier.
func checkID(field, s string) *Error {
	if s == "" {
		return Invalid(field, "is required")
	}
	if !ValidID(s) {
		return Invalid(field, "must be 1–200 characters of letters, digits and . _ : @ / -, starting with a letter or digit")
	}
	return nil
}
