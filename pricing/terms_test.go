package pricing

import (
	"strings"
	"testing"
)

func perOutcomePlan(terms Terms) PlanVersion {
	return PlanVersion{Currency: "USD", Terms: terms, Prices: []Charge{
		{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("1")}},
	}}
}

func TestTerms(t *testing.T) {
	tests := []struct {
		name      string
		terms     Terms
		succeeded int64
		wantKinds string // kinds of the lines after the charge
		wantTotal string
	}{
		{"platform fee alone", Terms{PlatformFee: dp("99")}, 0, "platform_fee", "99"},
		{"minimum commitment shortfall is trued up", Terms{MinimumCommitment: dp("100")}, 40, "minimum_commitment", "100"},
		{"usage exactly at the minimum needs no true-up", Terms{MinimumCommitment: dp("100")}, 100, "", "100"},
		{"usage above the minimum", Terms{MinimumCommitment: dp("100")}, 150, "", "150"},
		{"platform fee does not count toward the commitment", Terms{PlatformFee: dp("10"), MinimumCommitment: dp("100")}, 40, "platform_fee minimum_commitment", "110"},
		{"cap reached", Terms{Cap: dp("1000")}, 1200, "spend_cap", "1000"},
		{"exactly at the cap", Terms{Cap: dp("1000")}, 1000, "", "1000"},
		{"cap counts the platform fee", Terms{PlatformFee: dp("50"), Cap: dp("1000")}, 990, "platform_fee spend_cap", "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Rate(perOutcomePlan(tt.terms), Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", tt.succeeded, 0)}})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			var kinds []string
			for _, l := range res.Lines[1:] {
				kinds = append(kinds, l.Kind)
			}
			if got := strings.Join(kinds, " "); got != tt.wantKinds {
				t.Errorf("lines = %q, want %q", got, tt.wantKinds)
			}
			wantAmount(t, "total", res.Total, tt.wantTotal)
		})
	}
}

func TestUrgentSurcharge(t *testing.T) {
	m := Terms{UrgentMultiplier: dp("1.5")}
	t.Run("per outcome: exact, own line", func(t *testing.T) {
		res, err := Rate(perOutcomePlan(m), Usage{Counts: []OutcomeCount{{OutcomeType: "support.ticket_resolved", Succeeded: 8, UrgentSucceeded: 2, UrgentPartial: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, res)
		wantAmount(t, "charge", lineOf(t, res, KindCharge).Amount, "10.5")
		s := lineOf(t, res, KindUrgentSurcharge)
		wantAmount(t, "surcharge quantity", s.Quantity, "2.5")
		wantAmount(t, "surcharge unit", *s.UnitAmount, "0.5")
		wantAmount(t, "surcharge", s.Amount, "1.25")
		if s.Explanation.Urgent.ProRata {
			t.Error("per_outcome surcharge marked pro rata")
		}
	})
	t.Run("labor share: per task", func(t *testing.T) {
		plan := PlanVersion{Currency: "USD", Terms: Terms{UrgentMultiplier: dp("2")}, Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("1")}}}}
		res, err := Rate(plan, Usage{Tasks: []Outcome{
			{OutcomeType: "x.y", Status: StatusSucceeded, Urgent: true, Baseline: baseline("USD", "60", "1880", SourceOutcomeType)},
			{OutcomeType: "x.y", Status: StatusSucceeded, Baseline: baseline("USD", "120", "1880", SourceOutcomeType)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, res)
		wantAmount(t, "surcharge", lineOf(t, res, KindUrgentSurcharge).Amount, "1")
	})
	t.Run("graduated: pro rata", func(t *testing.T) {
		plan := PlanVersion{Currency: "USD", Terms: m, Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelGraduated, Tiers: stepTiers}}}}
		res, err := Rate(plan, Usage{Counts: []OutcomeCount{{OutcomeType: "x.y", Succeeded: 3, UrgentSucceeded: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, res)
		s := lineOf(t, res, KindUrgentSurcharge) // line 14, 1/4 urgent, half of that again
		wantAmount(t, "surcharge", s.Amount, "1.75")
		if !s.Explanation.Urgent.ProRata || !strings.Contains(s.Explanation.String(), "pro rata") {
			t.Errorf("explanation %q does not say pro rata", s.Explanation.String())
		}
	})
	t.Run("no urgent outcomes, no line", func(t *testing.T) {
		res, err := Rate(perOutcomePlan(m), Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", 3, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		if hasLine(res, KindUrgentSurcharge) {
			t.Error("surcharge line without urgent outcomes")
		}
	})
}
