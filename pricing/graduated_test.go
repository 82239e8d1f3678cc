package pricing

import "testing"

// Tiers: (0–5] at 1 with a base fee of 10, (5–10] at 0.5 plus 2 on entry, (10–∞) at 0.1.
var stepTiers = tiers("5", "1", "10", "10", "0.5", "2", "-", "0.1", "0")

func TestGraduated(t *testing.T) {
	tests := []struct {
		name      string
		q         string
		want      string
		wantTiers int
	}{
		{"zero still pays the first tier's flat fee", "0", "10", 1},
		{"inside the first tier", "3", "13", 1},
		{"exactly at the first edge stays in tier 1", "5", "15", 1},
		{"a hair past the edge enters tier 2 and its flat fee", "5.001", "17.0005", 2},
		{"exactly at the second edge", "10", "19.5", 2},
		{"into the open-ended tier", "12", "19.7", 3},
		{"fractional in the last tier", "10.5", "19.55", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rateOne(t, "USD", Charge{Meter: "tokens", Price: Price{Model: ModelGraduated, Tiers: stepTiers}},
				Usage{Meters: map[string]decimalT{"tokens": d(tt.q)}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "unrounded", l.Explanation.Unrounded, tt.want)
			if n := len(l.Explanation.Tiers); n != tt.wantTiers {
				t.Errorf("tiers touched = %d, want %d", n, tt.wantTiers)
			}
			if l.UnitAmount != nil {
				t.Errorf("graduated line has unit amount %s", l.UnitAmount)
			}
			sum := d("0")
			for _, tu := range l.Explanation.Tiers {
				sum = sum.Add(tu.Quantity)
			}
			wantAmount(t, "sum of tier quantities", sum, tt.q)
		})
	}
}

func TestGraduatedOnOutcomeCounts(t *testing.T) {
	c := Charge{OutcomeType: "code.pr_merged", Price: Price{Model: ModelGraduated, Tiers: stepTiers}}
	res := rateOne(t, "USD", c, Usage{Counts: []OutcomeCount{counts("code.pr_merged", 5, 1)}}) // 5.5 units
	wantAmount(t, "amount", lineOf(t, res, KindCharge).Amount, "17.25")                        // 10+5 + 0.25+2
}
