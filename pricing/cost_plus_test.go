package pricing

import (
	"errors"
	"testing"
)

func TestCostPlus(t *testing.T) {
	tests := []struct {
		name, cur  string
		rate       string // "" for none
		outcome    string // charge's outcome type
		wantAmount string
		wantErr    error
	}{
		{"USD needs no rate", "USD", "", "", "14.81", nil},
		{"EUR with a rate", "EUR", "0.9", "", "13.33", nil},
		{"JPY with a rate", "JPY", "150", "", "2222", nil},
		{"missing rate is an error, never 1:1", "EUR", "", "", "", ErrNoExchangeRate},
		{"only the outcome type's cost", "USD", "", "a.b", "12", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := PlanVersion{Currency: moneyCurrency(tt.cur), Prices: []Charge{{OutcomeType: tt.outcome, Price: Price{Model: ModelCostPlus, Markup: dp("0.2")}}}}
			u := Usage{CostUSD: map[string]decimalT{"": d("2.345"), "a.b": d("10")}}
			if tt.rate != "" {
				u.ExchangeRate = dp(tt.rate)
			}
			res, err := Rate(plan, u)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			wantAmount(t, "amount", lineOf(t, res, KindCharge).Amount, tt.wantAmount)
		})
	}
}
