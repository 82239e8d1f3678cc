package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Money is an exact amount in one currency. Amounts inside a computation keep full precision;
// Round turns one into what may be printed on an invoice line.
type Money struct {
	Amount   decimal.Decimal `json:"amount"`
	Currency Currency        `json:"currency"`
}

// New returns Money of amount in currency c.
func New(amount decimal.Decimal, c Currency) Money { return Money{Amount: amount, Currency: c} }

// Zero is no money in c.
func Zero(c Currency) Money { return Money{Amount: decimal.Zero, Currency: c} }

// Parse reads a decimal string such as "12.50" (no exponent, no thousands separators, no float
// noise) into Money of currency c. It keeps every digit given; it does not round.
func Parse(s string, c Currency) (Money, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return Money{}, err
	}
	if !c.Valid() {
		return Money{}, fmt.Errorf("unknown currency %q", string(c))
	}
	return Money{Amount: d, Currency: c}, nil
}

// ErrDecimal is wrapped by every error ParseDecimal returns.
var ErrDecimal = errors.New("not a decimal number")

// maxDecimalLen bounds what ParseDecimal reads: no amount in billing needs more digits, and an
// unbounded string would let one request make the decimal library allocate without limit.
const maxDecimalLen = 64

// ParseDecimal reads a plain decimal string: an optional minus sign, digits, and an optional
// fraction. Exponents ("1e3"), "NaN", leading "+", spaces and empty fractions are refused, because
// an API that accepts them invites amounts nobody meant to send.
func ParseDecimal(s string) (decimal.Decimal, error) {
	// Trailing zeros of a fraction carry no digits: Display pads amounts to the minor unit, and
	// what it writes must read back.
	if s == "" || len(trimFractionZeros(s)) > maxDecimalLen {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", s, ErrDecimal)
	}
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", s, ErrDecimal)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", s, ErrDecimal)
	}
	return d, nil
}

func trimFractionZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Round rounds d half away from zero (commercial rounding) to c's minor unit. It is the one
// rounding function of the product: invoice lines pass through it exactly once.
func Round(d decimal.Decimal, c Currency) decimal.Decimal {
	return d.Round(c.MinorUnits())
}

// Rounded returns m rounded to its currency's minor unit.
func (m Money) Rounded() Money {
	return Money{Amount: Round(m.Amount, m.Currency), Currency: m.Currency}
}

// Add returns m+o. Adding different currencies is a programming error and panics: conversion is
// explicit, through an exchange rate, never implied by arithmetic.
func (m Money) Add(o Money) Money {
	m.mustMatch(o)
	return Money{Amount: m.Amount.Add(o.Amount), Currency: m.Currency}
}

// Sub returns m-o; currencies must match.
func (m Money) Sub(o Money) Money {
	m.mustMatch(o)
	return Money{Amount: m.Amount.Sub(o.Amount), Currency: m.Currency}
}

// Mul returns m scaled by a dimensionless factor, at full precision.
func (m Money) Mul(f decimal.Decimal) Money {
	return Money{Amount: m.Amount.Mul(f), Currency: m.Currency}
}

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Amount.IsZero() }

// Equal reports whether m and o are the same amount in the same currency (1.50 equals 1.5).
func (m Money) Equal(o Money) bool { return m.Currency == o.Currency && m.Amount.Equal(o.Amount) }

// String renders "12.50 USD" with the currency's minor unit when m is already rounded to it, or
// every digit otherwise, so that nothing is hidden by formatting.
func (m Money) String() string { return m.Display() + " " + string(m.Currency) }

// Display renders the amount alone, padded to the currency's minor unit ("12.50", "1200", "0.125").
func (m Money) Display() string {
	e := m.Currency.MinorUnits()
	if -m.Amount.Exponent() <= e {
		return m.Amount.StringFixed(e)
	}
	return m.Amount.String()
}

func (m Money) mustMatch(o Money) {
	if m.Currency != o.Currency {
		panic(fmt.Sprintf("money: %s and %s do not mix", m.Currency, o.Currency))
	}
}

// moneyJSON is the wire form of DESIGN.md §8: amounts are decimal strings beside a currency.
type moneyJSON struct {
	Amount   string   `json:"amount"`
	Currency Currency `json:"currency"`
}

// MarshalJSON writes {"amount":"12.50","currency":"USD"}.
func (m Money) MarshalJSON() ([]byte, error) {
	return json.Marshal(moneyJSON{Amount: m.Display(), Currency: m.Currency})
}

// UnmarshalJSON reads the form MarshalJSON writes, refusing numbers given as JSON numbers (they
// would pass through a float in many clients) and unknown currencies.
func (m *Money) UnmarshalJSON(b []byte) error {
	var w moneyJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("money: want {\"amount\": \"decimal string\", \"currency\": \"ISO 4217\"}: %w", err)
	}
	c, err := ParseCurrency(string(w.Currency))
	if err != nil {
		return err
	}
	parsed, err := Parse(w.Amount, c)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}
