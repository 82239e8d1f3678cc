package billing

// External identifiers come from the vendor's systems. They are limited to characters that are
// safe in URLs, workflow IDs, CSV cells and log lines, so that no layer has to escape them.
//
// The rules are written as loops over bytes rather than regular expressions: every ingested
// event checks three ids, and the regexp engine was a sixth of DecodeEvent's time (BENCHMARKS.md,
// § Import). TestIDRulesMatchTheirPatterns and FuzzIDRules hold them to the patterns in their
// comments.

// ValidID reports whether s can be a customer_id, task_id or event id: 1–200 characters of letters,
// digits and . _ : @ / -, starting with a letter or digit (^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 200 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case isAlnum(c), c == '.', c == '_', c == ':', c == '@', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidOutcomeTypeKey reports whether s is a dotted lower-case key such as support.ticket_resolved,
// at most 100 characters (^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$).
func ValidOutcomeTypeKey(s string) bool {
	if len(s) == 0 || len(s) > 100 {
		return false
	}
	segmentStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case segmentStart:
			if c < 'a' || c > 'z' {
				return false
			}
			segmentStart = false
		case c == '.':
			segmentStart = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
	}
	return !segmentStart
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

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
