package money

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/shopspring/decimal"
)

// plainDecimal is what ParseDecimal promises to accept, and nothing else.
var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// FuzzParseDecimal: ParseDecimal never panics, accepts exactly the plain decimals of at most
// maxDecimalLen bytes once trailing fraction zeros are set aside, keeps every digit (its String parses back to an equal value), and the
// Money it makes survives a JSON round trip exactly, in any currency.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "12.50", "-0.001", "-0", "1e3", "NaN", "+1", " 1", "1.", ".5", "0x10", "--1",
		"99999999999999999999999999999999.99999999999999999999999999999999", "1.2.3", "", "٣", "0.0000000000000000000000001"} {
		f.Add(s, uint8(0))
	}
	f.Add("1234.5678", uint8(7))
	currencies := Currencies()
	f.Fuzz(func(t *testing.T, s string, cur uint8) {
		d, err := ParseDecimal(s)
		want := len(trimFractionZeros(s)) <= maxDecimalLen && plainDecimal.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("ParseDecimal(%q): err %v, want accepted=%v", s, err, want)
		}
		if err != nil {
			return
		}
		if !d.Equal(decimal.RequireFromString(s)) {
			t.Fatalf("ParseDecimal(%q) = %s, lost digits", s, d)
		}
		again, err := ParseDecimal(d.String())
		if err != nil || !again.Equal(d) {
			t.Fatalf("ParseDecimal(%q).String() = %q does not parse back equal: %v", s, d.String(), err)
		}
		m := New(d, currencies[int(cur)%len(currencies)])
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %v: %v", m, err)
		}
		var back Money
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !back.Equal(m) {
			t.Fatalf("JSON round trip of %s %s: %s reads back as %s %s", d, m.Currency, b, back.Amount, back.Currency)
		}
	})
}

// FuzzMoneyUnmarshalJSON: any bytes either fail to decode or decode to a valid currency and an
// amount that marshals and decodes back to the same value.
func FuzzMoneyUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`{"amount":"12.50","currency":"USD"}`, `{"amount":"1","currency":"jpy"}`, `{"amount":12.5,"currency":"USD"}`,
		`{"amount":"1e9","currency":"USD"}`, `{"amount":"1","currency":"XAU"}`, `null`, `{}`, `[]`, `{"amount":"-0.0001","currency":"BHD"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Money
		if err := json.Unmarshal(b, &m); err != nil {
			return
		}
		if !m.Currency.Valid() {
			t.Fatalf("%s decoded to invalid currency %q", b, m.Currency)
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Money
		if err := json.Unmarshal(enc, &back); err != nil || !back.Equal(m) {
			t.Fatalf("%s → %s → %v (%v)", b, enc, back, err)
		}
	})
}
