package pricing

import "testing"

func TestPerUnit(t *testing.T) {
	tests := []struct {
		name, cur, unit, q, want string
	}{
		{"zero usage", "USD", "0.002", "0", "0"},
		{"tokens", "USD", "0.002", "1500", "3"},
		{"sub-cent unit price rounds once at the line", "USD", "0.0004", "1234", "0.49"},
		{"fractional quantity", "EUR", "1.5", "2.25", "3.38"},
		{"JPY", "JPY", "0.3", "5", "2"},
		{"BHD", "BHD", "0.0003", "5", "0.002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rateOne(t, moneyCurrency(tt.cur), Charge{Meter: "tokens", Price: Price{Model: ModelPerUnit, UnitAmount: dp(tt.unit)}},
				Usage{Meters: map[string]decimalT{"tokens": d(tt.q), "other": d("99")}})
			wantAmount(t, "amount", lineOf(t, res, KindCharge).Amount, tt.want)
		})
	}
}
