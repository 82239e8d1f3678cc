package billing

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/pricing"
)

// FuzzPlanValidate decodes arbitrary JSON as a plan's pricing the way the store reads it back
// and checks that Plan.Validate never panics, and that a plan it accepts rates a period of zero
// usage without error: a valid plan must never fail at invoice time for want of usage.
func FuzzPlanValidate(f *testing.F) {
	for _, s := range []string{
		`{"currency":"USD","terms":{"platform_fee":"49.00"},"prices":[{"outcome_type":"support.ticket_resolved","model":"per_outcome","unit_amount":"0.99"}]}`,
		`{"currency":"eur","terms":{"minimum_commitment":"100","cap":"500","urgent_multiplier":"1.5"},"prices":[{"outcome_type":"a.b","model":"labor_share","share":"0.3","floor":"1","cap":"9"}]}`,
		`{"currency":"JPY","prices":[{"outcome_type":"a.b","model":"seat_equivalent","outcomes_per_seat":"600","seat_price":"3000","round_up_seats":true}]}`,
		`{"currency":"USD","prices":[{"meter":"tokens","model":"graduated","tiers":[{"up_to":"1000","unit_amount":"0.01","flat_amount":"5"},{"up_to":null,"unit_amount":"0.005","flat_amount":"0"}]}]}`,
		`{"currency":"USD","prices":[{"meter":"tokens","model":"volume","tiers":[{"up_to":"10","unit_amount":"1","flat_amount":"0"},{"up_to":null,"unit_amount":"0.5","flat_amount":"2"}]}]}`,
		`{"currency":"USD","prices":[{"meter":"gpu","model":"package","package_size":"100","amount":"5","free_units":"50"}]}`,
		`{"currency":"USD","prices":[{"meter":"payments","model":"percentage","rate":"0.013","fixed_fee":"0.30","min":"0.5","max":"5"}]}`,
		`{"currency":"GBP","prices":[{"model":"cost_plus","markup":"0.2"}]}`,
		`{"currency":"USD","prices":[{"meter":"m","model":"per_unit","unit_amount":"-1"}]}`,
		`{"currency":"XXX"}`, `{"currency":"USD","prices":[{"model":"nope"}]}`, `{}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pv pricing.PlanVersion
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&pv); err != nil {
			return
		}
		p := Plan{ID: "fuzz", Name: "Fuzz", Version: 1, Pricing: pv}
		if err := p.Validate(); err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Validate: %v is not an invalid-input error", err)
			}
			return
		}
		// Validate normalised the currency; the pricing package's own check must agree.
		if err := p.Pricing.Validate(); err != nil {
			t.Fatalf("billing accepted a plan pricing refuses: %v", err)
		}
		rate := decimal.NewFromInt(1)
		res, err := pricing.Rate(p.Pricing, pricing.Usage{Period: pricing.Period{
			End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), ExchangeRate: &rate}})
		if err != nil {
			t.Fatalf("an accepted plan fails to rate zero usage: %v\nplan %s", err, data)
		}
		if res.Total.IsNegative() {
			t.Fatalf("zero usage costs %s", res.Total)
		}
		sum := decimal.Zero
		for _, l := range res.Lines {
			sum = sum.Add(l.Amount)
		}
		if !sum.Equal(res.Total) {
			t.Fatalf("lines sum to %s, total %s", sum, res.Total)
		}
	})
}
