package money

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestRoundHalfAwayFromZero(t *testing.T) {
	tests := []struct {
		in   string
		cur  Currency
		want string
	}{
		{"0.125", "USD", "0.13"},
		{"-0.125", "USD", "-0.13"},
		{"0.124999999", "USD", "0.12"},
		{"2.5", "JPY", "3"},
		{"-2.5", "JPY", "-3"},
		{"1234.4999", "JPY", "1234"},
		{"0.0005", "BHD", "0.001"},
		{"-0.0005", "BHD", "-0.001"},
		{"1.23449", "BHD", "1.234"},
		{"10", "USD", "10"},
	}
	for _, tt := range tests {
		t.Run(string(tt.cur)+"/"+tt.in, func(t *testing.T) {
			got := Round(decimal.RequireFromString(tt.in), tt.cur)
			if !got.Equal(decimal.RequireFromString(tt.want)) {
				t.Errorf("Round(%s, %s) = %s, want %s", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct {
		in   string
		cur  Currency
		want string
	}{
		{"12.5", "USD", "12.50"},
		{"1200", "JPY", "1200"},
		{"0.1", "BHD", "0.100"},
		{"0.125", "USD", "0.125"}, // unrounded amounts show every digit
	}
	for _, tt := range tests {
		if got := New(decimal.RequireFromString(tt.in), tt.cur).Display(); got != tt.want {
			t.Errorf("Display(%s %s) = %q, want %q", tt.in, tt.cur, got, tt.want)
		}
	}
}

func TestJSONRoundTripIsExact(t *testing.T) {
	for _, s := range []string{"0", "12.50", "-3.14159265358979323846", "99999999999999999999.99", "0.000000001"} {
		m, err := Parse(s, USD)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Money
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !back.Equal(m) {
			t.Errorf("%s round-tripped to %s via %s", m, back, b)
		}
	}
}

func TestParseDecimalRefusesLooseForms(t *testing.T) {
	for _, s := range []string{"", "1e3", "NaN", "+1", " 1", "1.", ".5", "1,000", "0x10", "--1", "1.2.3", "Inf"} {
		if _, err := ParseDecimal(s); !errors.Is(err, ErrDecimal) {
			t.Errorf("ParseDecimal(%q) err = %v, want ErrDecimal", s, err)
		}
	}
	for _, s := range []string{"0", "-0.5", "123.456", "007"} {
		if _, err := ParseDecimal(s); err != nil {
			t.Errorf("ParseDecimal(%q): %v", s, err)
		}
	}
}

func TestUnmarshalRefusesNumbersAndUnknownCurrency(t *testing.T) {
	for _, in := range []string{
		`{"amount": 12.5, "currency": "USD"}`,
		`{"amount": "12.5", "currency": "XYZ"}`,
		`{"amount": "1e2", "currency": "USD"}`,
	} {
		var m Money
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", in, m)
		}
	}
}

func TestParseCurrency(t *testing.T) {
	if c, err := ParseCurrency("usd"); err != nil || c != USD {
		t.Errorf("ParseCurrency(usd) = %q, %v", c, err)
	}
	for _, bad := range []string{"", "US", "XAU", "DOLLARS"} {
		if _, err := ParseCurrency(bad); err == nil {
			t.Errorf("ParseCurrency(%q) accepted", bad)
		}
	}
}

func TestMixingCurrenciesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("adding USD to EUR did not panic")
		}
	}()
	New(decimal.NewFromInt(1), "USD").Add(New(decimal.NewFromInt(1), "EUR"))
}
