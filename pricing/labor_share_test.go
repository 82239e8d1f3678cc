package pricing

import (
	"errors"
	"strings"
	"testing"

	"github.com/outcomebill/outcomebill/money"
)

// baseline of 15 minutes of a person costing 94,000 a year over 1,880 h: 50 an hour, 12.50 a task.
func baseline(cur money.Currency, minutes, annual string, src BaselineSource) *Baseline {
	return &Baseline{HumanMinutes: d(minutes), AnnualCost: money.New(d(annual), cur), Source: src}
}

func TestLaborShare(t *testing.T) {
	std := baseline("USD", "15", "94000", SourceOutcomeType)
	tests := []struct {
		name       string
		price      Price
		tasks      []Outcome
		wantAmount string
		wantUnit   string // "" when no single unit price
		wantFloor  int64
		wantCap    int64
	}{
		{"zero usage", Price{Share: dp("0.3")}, nil, "0", "", 0, 0},
		{"share of labor cost", Price{Share: dp("0.3")},
			[]Outcome{{Status: StatusSucceeded, Baseline: std}, {Status: StatusSucceeded, Baseline: std}}, "7.5", "3.75", 0, 0},
		{"partial counts half after the bounds", Price{Share: dp("0.3"), Floor: dp("5")},
			[]Outcome{{Status: StatusSucceeded, Baseline: std}, {Status: StatusPartial, Baseline: std}}, "7.5", "5", 1 + 1, 0},
		{"floor raises a cheap task", Price{Share: dp("0.3"), Floor: dp("5")},
			[]Outcome{{Status: StatusSucceeded, Baseline: std}}, "5", "5", 1, 0},
		{"cap lowers an expensive task", Price{Share: dp("0.3"), Cap: dp("3")},
			[]Outcome{{Status: StatusSucceeded, Baseline: std}}, "3", "3", 0, 1},
		{"floor and cap applied per task, not per line", Price{Share: dp("0.5"), Floor: dp("2"), Cap: dp("10")},
			[]Outcome{
				{Status: StatusSucceeded, Baseline: baseline("USD", "1", "94000", SourceOutcomeType)},        // 0.4166 → 2
				{Status: StatusSucceeded, Baseline: baseline("USD", "120", "94000", SourceCustomerOverride)}, // 50 → 10
				{Status: StatusSucceeded, Baseline: std},                                                     // 6.25
			}, "18.25", "", 1, 1},
		{"default productive hours 1880", Price{Share: dp("1")},
			[]Outcome{{Status: StatusSucceeded, Baseline: baseline("USD", "60", "1880", SourceOutcomeType)}}, "1", "1", 0, 0},
		{"share above one with the flag", Price{Share: dp("1.5"), AllowShareAboveOne: true},
			[]Outcome{{Status: StatusSucceeded, Baseline: std}}, "18.75", "18.75", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.price.Model = ModelLaborShare
			for i := range tt.tasks {
				tt.tasks[i].OutcomeType = "finance.invoice_reconciled"
			}
			res := rateOne(t, "USD", Charge{OutcomeType: "finance.invoice_reconciled", Price: tt.price}, Usage{Tasks: tt.tasks})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "amount", l.Amount, tt.wantAmount)
			if tt.wantUnit == "" {
				if l.UnitAmount != nil {
					t.Errorf("unit amount = %s, want none", l.UnitAmount)
				}
			} else if l.UnitAmount == nil {
				t.Errorf("unit amount = nil, want %s", tt.wantUnit)
			} else {
				wantAmount(t, "unit amount", *l.UnitAmount, tt.wantUnit)
			}
			lab := l.Explanation.Labor
			if lab.RaisedToFloor != tt.wantFloor || lab.LoweredToCap != tt.wantCap {
				t.Errorf("raised/lowered = %d/%d, want %d/%d", lab.RaisedToFloor, lab.LoweredToCap, tt.wantFloor, tt.wantCap)
			}
		})
	}
}

func TestLaborShareExplainsBaselineSource(t *testing.T) {
	c := Charge{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("0.3")}}
	for _, src := range []BaselineSource{SourceOutcomeType, SourceCustomerOverride} {
		res := rateOne(t, "USD", c, Usage{Tasks: []Outcome{{OutcomeType: "x.y", Status: StatusSucceeded, Baseline: baseline("USD", "15", "94000", src)}}})
		e := lineOf(t, res, KindCharge).Explanation
		if got := e.Labor.Baselines[0].Source; got != src {
			t.Errorf("source = %s, want %s", got, src)
		}
		if !strings.Contains(e.String(), src.label()) {
			t.Errorf("explanation %q does not say %q", e.String(), src.label())
		}
	}
}

// A streaming caller may scan every row into the same Baseline variable; the rater must not
// mistake the changed figures for the ones it saw before.
func TestLaborShareReusedBaselineVariable(t *testing.T) {
	r, err := NewRater(PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("1")}}}})
	if err != nil {
		t.Fatal(err)
	}
	var b Baseline
	for _, minutes := range []string{"60", "120", "60"} {
		b = *baseline("USD", minutes, "1880", SourceOutcomeType)
		if err := r.Add(Outcome{OutcomeType: "x.y", Status: StatusSucceeded, Baseline: &b}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Finish(Period{})
	if err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "amount", res.Total, "4") // 1 + 2 + 1
}

func TestLaborShareManyBaselinesStayBounded(t *testing.T) {
	r, err := NewRater(PlanVersion{Currency: "USD", Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("1"), Floor: dp("3")}}}})
	if err != nil {
		t.Fatal(err)
	}
	// i minutes at 60 an hour (112,800 over 1,880 h) cost i; the floor of 3 raises i = 1 and 2.
	want := d("0")
	for i := 1; i <= 100; i++ {
		b := baseline("USD", decimalFromInt(i).String(), "112800", SourceOutcomeType)
		if err := r.Add(Outcome{OutcomeType: "x.y", Status: StatusSucceeded, Baseline: b}); err != nil {
			t.Fatal(err)
		}
		want = want.Add(decimalMax(decimalFromInt(i), d("3")))
	}
	res, err := r.Finish(Period{})
	if err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "amount", res.Total, want.String())
	lab := lineOf(t, res, KindCharge).Explanation.Labor
	if len(lab.Baselines) != maxBaselineGroups || lab.OtherOutcomes != 100-maxBaselineGroups {
		t.Errorf("baselines listed %d, others %d", len(lab.Baselines), lab.OtherOutcomes)
	}
	if lab.RaisedToFloor != 2 {
		t.Errorf("raised to floor = %d, want 2", lab.RaisedToFloor)
	}
}

func TestLaborShareRefusesBadBaselines(t *testing.T) {
	plan := PlanVersion{Currency: "EUR", Prices: []Charge{{OutcomeType: "x.y", Price: Price{Model: ModelLaborShare, Share: dp("0.3")}}}}
	tests := []struct {
		name      string
		b         *Baseline
		wantField string
	}{
		{"missing", nil, "baseline"},
		{"other currency", baseline("USD", "15", "94000", SourceOutcomeType), "baseline.annual_cost.currency"},
		{"negative minutes", baseline("EUR", "-1", "94000", SourceOutcomeType), "baseline.human_minutes"},
		{"unknown source", baseline("EUR", "15", "94000", "guess"), "baseline.source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRater(plan)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Add(Outcome{OutcomeType: "x.y", Status: StatusSucceeded, Baseline: tt.b})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("err = %v, want a FieldError on %s", err, tt.wantField)
			}
			res, _ := r.Finish(Period{})
			if lineOf(t, res, KindCharge).Explanation.Outcomes.Succeeded != 0 {
				t.Error("a refused outcome was counted")
			}
		})
	}
}
