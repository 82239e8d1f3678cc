package pricing

import (
	"testing"

	"github.com/outcomebill/outcomebill/money"
)

func TestPerOutcome(t *testing.T) {
	tests := []struct {
		name          string
		cur           money.Currency
		unit          string
		partialCredit string
		succeeded     int64
		partial       int64
		wantQty       string
		wantUnrounded string
		wantAmount    string
	}{
		{"zero usage", "USD", "0.99", "", 0, 0, "0", "0", "0"},
		{"succeeded only", "USD", "0.99", "", 100, 0, "100", "99", "99"},
		{"partial at default half", "USD", "0.99", "", 10, 5, "12.5", "12.375", "12.38"},
		{"partial credit 0.25", "USD", "2", "0.25", 1, 2, "1.5", "3", "3"},
		{"partial credit 0 makes partials free", "USD", "2", "0", 1, 7, "1", "2", "2"},
		{"JPY rounds to whole yen, half away from zero", "JPY", "0.5", "", 3, 0, "3", "1.5", "2"},
		{"BHD rounds to three decimals", "BHD", "0.0015", "", 3, 0, "3", "0.0045", "0.005"},
		{"USD half cent rounds up", "USD", "0.125", "", 1, 0, "1", "0.125", "0.13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Charge{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp(tt.unit)}}
			if tt.partialCredit != "" {
				c.PartialCredit = dp(tt.partialCredit)
			}
			res := rateOne(t, tt.cur, c, Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", tt.succeeded, tt.partial)}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "quantity", l.Quantity, tt.wantQty)
			wantAmount(t, "unrounded", l.Explanation.Unrounded, tt.wantUnrounded)
			wantAmount(t, "amount", l.Amount, tt.wantAmount)
			wantAmount(t, "unit amount", *l.UnitAmount, tt.unit)
			wantAmount(t, "total", res.Total, tt.wantAmount)
		})
	}
}
