package pricing

import (
	"testing"

	"github.com/shopspring/decimal"
)

func reportOutcomes(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
}

// BenchmarkBareDecimal is the floor the pricing loop is measured against: per outcome, one
// shopspring multiply, one round and one add, with nothing else.
func BenchmarkBareDecimal(b *testing.B) {
	unit, q := decimal.RequireFromString("0.99"), decimal.NewFromInt(1)
	sum := decimal.Zero
	for b.Loop() {
		sum = sum.Add(unit.Mul(q).Round(2))
	}
	reportOutcomes(b)
	_ = sum
}

func benchRater(b *testing.B, plan PlanVersion, o Outcome) {
	r, err := NewRater(plan)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := r.Add(o); err != nil {
			b.Fatal(err)
		}
	}
	reportOutcomes(b)
	if _, err := r.Finish(Period{}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRatePerOutcome(b *testing.B) {
	benchRater(b, perOutcomePlan(Terms{UrgentMultiplier: dp("1.5")}),
		Outcome{TaskID: "t", OutcomeType: "support.ticket_resolved", Status: StatusSucceeded})
}

// The baseline is a fresh copy each time as a database scan would give; the rater compares it
// by value with the one before.
func BenchmarkRateLaborShare(b *testing.B) {
	plan := PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("0.3"), Floor: dp("1"), Cap: dp("20")}}}}
	bl := *baseline("USD", "15", "94000", SourceCustomerOverride)
	r, err := NewRater(plan)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cp := bl
		if err := r.Add(Outcome{TaskID: "t", OutcomeType: "x.y", Status: StatusSucceeded, Baseline: &cp}); err != nil {
			b.Fatal(err)
		}
	}
	reportOutcomes(b)
}

// A plan charging the same outcome three ways, as the worked plan does plus tiers.
func BenchmarkRateMixedPlan(b *testing.B) {
	plan := workedPlan()
	plan.Prices = append(plan.Prices, Charge{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelGraduated, Tiers: stepTiers}})
	benchRater(b, plan, Outcome{TaskID: "t", OutcomeType: "support.ticket_resolved", Status: StatusPartial, Urgent: true,
		Baseline: baseline("USD", "15", "94000", SourceOutcomeType)})
}

// BenchmarkRateFinish is the end of a period: pricing every line of the worked plan.
func BenchmarkRateFinish(b *testing.B) {
	r, err := NewRater(workedPlan())
	if err != nil {
		b.Fatal(err)
	}
	bl := baseline("USD", "15", "94000", SourceOutcomeType)
	for i := 0; i < 10000; i++ {
		_ = r.Add(Outcome{OutcomeType: "support.ticket_resolved", Status: StatusSucceeded, Urgent: i%5 == 0, Baseline: bl})
	}
	for b.Loop() {
		if _, err := r.Finish(Period{}); err != nil {
			b.Fatal(err)
		}
	}
}
