package pricing

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestValidateRefuses(t *testing.T) {
	ot := "support.ticket_resolved"
	tests := []struct {
		name      string
		plan      PlanVersion
		wantField string
	}{
		{"unknown currency", PlanVersion{Currency: "XYZ"}, "currency"},
		{"lower-case currency is not normalised here", PlanVersion{Currency: "usd"}, "currency"},
		{"unknown model", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: "per_thing"}}}}, "prices[0].model"},
		{"negative unit amount", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelPerOutcome, UnitAmount: dp("-1")}}}}, "prices[0].unit_amount"},
		{"missing unit amount", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelPerOutcome}}}}, "prices[0].unit_amount"},
		{"field of another model", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelLaborShare, Share: dp("0.3"), UnitAmount: dp("1")}}}}, "prices[0].unit_amount"},
		{"share over one", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelLaborShare, Share: dp("30")}}}}, "prices[0].share"},
		{"cap below floor", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelLaborShare, Share: dp("0.3"), Floor: dp("5"), Cap: dp("4")}}}}, "prices[0].cap"},
		{"outcome model without outcome type", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("1")}}}}, "prices[0].outcome_type"},
		{"outcomes_per_seat zero", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelSeatEquivalent, OutcomesPerSeat: dp("0"), SeatPrice: dp("30")}}}}, "prices[0].outcomes_per_seat"},
		{"outcomes_per_seat negative", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelSeatEquivalent, OutcomesPerSeat: dp("-600"), SeatPrice: dp("30")}}}}, "prices[0].outcomes_per_seat"},
		{"package_size zero", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelPackage, PackageSize: dp("0"), Amount: dp("5")}}}}, "prices[0].package_size"},
		{"no tiers", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelGraduated}}}}, "prices[0].tiers"},
		{"tiers not increasing", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelGraduated, Tiers: tiers("10", "1", "0", "10", "1", "0", "-", "1", "0")}}}}, "prices[0].tiers[1].up_to"},
		{"tiers decreasing", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("10", "1", "0", "5", "1", "0", "-", "1", "0")}}}}, "prices[0].tiers[1].up_to"},
		{"first tier up to zero", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("0", "1", "0", "-", "1", "0")}}}}, "prices[0].tiers[0].up_to"},
		{"last tier closed", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("10", "1", "0")}}}}, "prices[0].tiers[0].up_to"},
		{"open tier in the middle", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("-", "1", "0", "-", "1", "0")}}}}, "prices[0].tiers[0].up_to"},
		{"negative tier price", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("10", "1", "-1", "-", "1", "0")}}}}, "prices[0].tiers[0].flat_amount"},
		{"percentage rate as percent", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelPercentage, Rate: dp("1.3")}}}}, "prices[0].rate"},
		{"percentage max below min", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelPercentage, Rate: dp("0.01"), Min: dp("2"), Max: dp("1")}}}}, "prices[0].max"},
		{"percentage without meter", PlanVersion{Currency: "USD", Prices: []Charge{{Price: Price{Model: ModelPercentage, Rate: dp("0.01")}}}}, "prices[0].meter"},
		{"negative markup", PlanVersion{Currency: "USD", Prices: []Charge{{Price: Price{Model: ModelCostPlus, Markup: dp("-0.1")}}}}, "prices[0].markup"},
		{"usage model with no subject", PlanVersion{Currency: "USD", Prices: []Charge{{Price: Price{Model: ModelPerUnit, UnitAmount: dp("1")}}}}, "prices[0].meter"},
		{"partial credit above one", PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: ot, Price: Price{Model: ModelPerOutcome, UnitAmount: dp("1"), PartialCredit: dp("2")}}}}, "prices[0].partial_credit"},
		{"partial credit on a meter", PlanVersion{Currency: "USD", Prices: []Charge{{Meter: "m", Price: Price{Model: ModelPerUnit, UnitAmount: dp("1"), PartialCredit: dp("0.5")}}}}, "prices[0].partial_credit"},
		{"negative platform fee", PlanVersion{Currency: "USD", Terms: Terms{PlatformFee: dp("-1")}}, "terms.platform_fee"},
		{"platform fee finer than the yen", PlanVersion{Currency: "JPY", Terms: Terms{PlatformFee: dp("1.5")}}, "terms.platform_fee"},
		{"urgent multiplier below one", PlanVersion{Currency: "USD", Terms: Terms{UrgentMultiplier: dp("0.5")}}, "terms.urgent_multiplier"},
		{"cap below the commitment", PlanVersion{Currency: "USD", Terms: Terms{MinimumCommitment: dp("100"), Cap: dp("50")}}, "terms.cap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("field = %q (%v), want %q", fe.Field, err, tt.wantField)
			}
			if fe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	in := `{"currency":"EUR","terms":{"platform_fee":"99","minimum_commitment":"500","urgent_multiplier":"1.5","cap":"10000"},
	"prices":[
	 {"outcome_type":"support.ticket_resolved","model":"per_outcome","unit_amount":"0.99","partial_credit":"0.5"},
	 {"outcome_type":"finance.invoice_reconciled","model":"labor_share","share":"0.3","floor":"1","cap":"20"},
	 {"outcome_type":"code.pr_merged","model":"seat_equivalent","outcomes_per_seat":"600","seat_price":"30","round_up_seats":true},
	 {"meter":"tokens","model":"graduated","tiers":[{"up_to":"1000","unit_amount":"0.01","flat_amount":"5"},{"up_to":null,"unit_amount":"0.005","flat_amount":"0"}]},
	 {"meter":"pages","model":"package","package_size":"100","amount":"5","free_units":"50"},
	 {"meter":"payments","model":"percentage","rate":"0.013","fixed_fee":"0.3","min":"0.5","max":"5"},
	 {"model":"cost_plus","markup":"0.2"}]}`
	var p PlanVersion
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back PlanVersion
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the plan:\n%s\n%s", b, b2)
	}
	if !reflect.DeepEqual(len(back.Prices), 7) || back.Prices[3].Tiers[1].UpTo != nil {
		t.Errorf("decoded %+v", back)
	}
}
