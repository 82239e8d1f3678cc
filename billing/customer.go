package billing

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/outcomebill/outcomebill/money"
)

// Customer is a company the vendor bills, known by the vendor's own id.
type Customer struct {
	ID        string         // the vendor's customer_id
	Name      string         //
	Currency  money.Currency // billing currency
	Timezone  string         // IANA zone the billing periods are cut in
	AnchorDay int            // day of month a billing period starts, 1–28
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Default customer settings when a request leaves them out.
const (
	DefaultTimezone  = "UTC"
	DefaultAnchorDay = 1
	maxNameLen       = 200
)

// Validate checks every field and returns the first problem as an invalid error naming the field.
// It normalises what it can (trims the name, upper-cases the currency) before checking.
func (c *Customer) Validate() error {
	if err := checkID("customer_id", c.ID); err != nil {
		return err
	}
	c.Name = strings.TrimSpace(c.Name)
	if err := checkName("name", c.Name); err != nil {
		return err
	}
	cur, err := money.ParseCurrency(string(c.Currency))
	if err != nil {
		return Invalid("currency", "%s", err.Error())
	}
	c.Currency = cur
	if c.Timezone == "" {
		c.Timezone = DefaultTimezone
	}
	if _, err := LoadLocation(c.Timezone); err != nil {
		return Invalid("timezone", "unknown IANA time zone %q", c.Timezone)
	}
	if c.AnchorDay == 0 {
		c.AnchorDay = DefaultAnchorDay
	}
	// Days 29–31 do not exist in every month; allowing them would make periods of uneven length
	// drift, so the contract stops at 28 like most billing systems.
	if c.AnchorDay < 1 || c.AnchorDay > 28 {
		return Invalid("billing_anchor_day", "must be between 1 and 28")
	}
	return nil
}

// LoadLocation is time.LoadLocation, refusing "Local", whose meaning depends on the machine.
func LoadLocation(name string) (*time.Location, error) {
	if name == "Local" || name == "" {
		return nil, Invalid("timezone", "want an IANA zone name such as Europe/Berlin")
	}
	return time.LoadLocation(name)
}

func checkName(field, s string) *Error {
	if s == "" {
		return Invalid(field, "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNameLen {
		return Invalid(field, "must be valid UTF-8 of at most %d characters", maxNameLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Invalid(field, "must not contain control characters")
		}
	}
	return nil
}
