package billing_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

func simDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func simStr(d *decimal.Decimal) string {
	if d == nil {
		return "nil"
	}
	return d.String()
}

func TestNewSimulationSide(t *testing.T) {
	support := billing.LaborBaseline{HumanMinutes: simDec("12"), AnnualCost: money.New(simDec("94000"), money.USD), ProductiveHours: simDec("1880")}
	groups := []billing.SimulationGroup{
		{OutcomeType: "support.ticket_resolved", Tasks: 13, Succeeded: 10, Partial: 2, CostUSD: simDec("0.65")},
		{OutcomeType: "", Tasks: 1, CostUSD: simDec("0.02")}, // no task.started: no baseline, no re-costing
	}
	for _, tc := range []struct {
		name                                      string
		in                                        billing.SimulationInputs
		cost, margin, percent, labor, savings, cu string
	}{
		{
			name: "USD, actual",
			in: billing.SimulationInputs{Currency: money.USD, Revenue: simDec("59.89"), Paid: simDec("59.89"), Groups: groups,
				Baselines: map[string]billing.LaborBaseline{"support.ticket_resolved": support}},
			// 11 units × 12 min × 94,000 / (60 × 1,880) = 110
			cu: "0.67", cost: "0.67", margin: "59.22", percent: "98.88", labor: "110", savings: "50.11",
		},
		{
			name: "model mix re-costs only its outcome type",
			in: billing.SimulationInputs{Currency: money.USD, Revenue: simDec("59.89"), Paid: simDec("20"), Groups: groups,
				Baselines: map[string]billing.LaborBaseline{"support.ticket_resolved": support},
				ModelMix:  map[string]billing.ObservedModelCost{"support.ticket_resolved": {Model: "m", Tasks: 3, CostUSD: simDec("0.03")}}},
			cu: "0.15", cost: "0.15", margin: "59.74", percent: "99.75", labor: "110", savings: "90",
		},
		{
			name: "EUR without a rate: no cost, margin or labor in EUR",
			in: billing.SimulationInputs{Currency: money.Currency("EUR"), Revenue: simDec("10"), Paid: simDec("10"), Groups: groups,
				Baselines: map[string]billing.LaborBaseline{"support.ticket_resolved": support}},
			cu: "0.67", cost: "nil", margin: "nil", percent: "nil", labor: "nil", savings: "nil",
		},
		{
			name: "EUR at 0.9: cost and the USD baseline converted",
			in: billing.SimulationInputs{Currency: money.Currency("EUR"), Revenue: simDec("10"), Paid: simDec("8"), Groups: groups,
				Baselines: map[string]billing.LaborBaseline{"support.ticket_resolved": support}, Rates: billing.Rates{money.Currency("EUR"): simDec("0.9")}},
			cu: "0.67", cost: "0.603", margin: "9.397", percent: "93.97", labor: "99", savings: "91",
		},
		{
			name: "no revenue: margin without a percentage",
			in:   billing.SimulationInputs{Currency: money.USD, Groups: groups},
			cu:   "0.67", cost: "0.67", margin: "-0.67", percent: "nil", labor: "0", savings: "0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := billing.NewSimulationSide(tc.in)
			got := []string{s.CostUSD.String(), simStr(s.Cost), simStr(s.Margin), simStr(s.MarginPercent), simStr(s.LaborCost), simStr(s.Savings)}
			want := []string{tc.cu, tc.cost, tc.margin, tc.percent, tc.labor, tc.savings}
			for i := range got {
				if got[i] == "nil" || want[i] == "nil" {
					if got[i] != want[i] {
						t.Fatalf("got %v, want %v", got, want)
					}
					continue
				}
				if !simDec(got[i]).Equal(simDec(want[i])) {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		})
	}
}

func TestSimulationTotalsAndDelta(t *testing.T) {
	p := func(s string) *decimal.Decimal { d := simDec(s); return &d }
	results := []billing.SimulationPeriodResult{
		{Currency: money.USD, Actual: billing.SimulationSide{Revenue: simDec("10"), CostUSD: simDec("1"), Margin: p("9"), Savings: p("5")},
			Simulated: billing.SimulationSide{Revenue: simDec("12"), CostUSD: simDec("0.5"), Margin: p("11.5"), Savings: p("3")}},
		{Currency: money.USD, Actual: billing.SimulationSide{Revenue: simDec("20"), CostUSD: simDec("2"), Margin: p("18")},
			Simulated: billing.SimulationSide{Revenue: simDec("25"), CostUSD: simDec("1"), Margin: p("24")}},
		{Currency: money.Currency("EUR"), Actual: billing.SimulationSide{Revenue: simDec("7")}, Simulated: billing.SimulationSide{Revenue: simDec("8")}},
	}
	totals := billing.SimulationTotals(results)
	if len(totals) != 2 || totals[0].Currency != money.Currency("EUR") || totals[1].Currency != money.USD {
		t.Fatalf("totals %+v", totals)
	}
	usd := totals[1]
	if usd.Periods != 2 || !usd.Actual.Revenue.Equal(simDec("30")) || simStr(usd.Simulated.Margin) != "35.5" || usd.Actual.Savings != nil {
		t.Errorf("USD totals %+v", usd)
	}
	if !usd.Delta.Revenue.Equal(simDec("7")) || !usd.Delta.CostUSD.Equal(simDec("-1.5")) || simStr(usd.Delta.Margin) != "8.5" || usd.Delta.Savings != nil {
		t.Errorf("USD delta %+v", usd.Delta)
	}
	if simStr(usd.Actual.MarginPercent) != "90" {
		t.Errorf("USD actual margin %% %s", simStr(usd.Actual.MarginPercent))
	}
}

func TestSimulationRequestValidate(t *testing.T) {
	prices := billing.SimulationChanges{ModelMix: map[string]string{"support.ticket_resolved": "m"}}
	for _, tc := range []struct {
		name, from, to string
		ids            []string
		changes        billing.SimulationChanges
		field          string
		months         int
	}{
		{"one month", "2026-01", "2026-01", nil, prices, "", 1},
		{"24 months", "2024-02", "2026-01", nil, prices, "", 24},
		{"25 months", "2024-01", "2026-01", nil, prices, "to", 0},
		{"to before from", "2026-02", "2026-01", nil, prices, "to", 0},
		{"day given", "2026-01-01", "2026-02", nil, prices, "from", 0},
		{"bad to", "2026-01", "March", nil, prices, "to", 0},
		{"duplicate customer", "2026-01", "2026-01", []string{"a", "a"}, prices, "customer_ids[1]", 0},
		{"bad customer id", "2026-01", "2026-01", []string{" a"}, prices, "customer_ids[0]", 0},
		{"no change", "2026-01", "2026-01", nil, billing.SimulationChanges{}, "changes", 0},
		{"empty model", "2026-01", "2026-01", nil, billing.SimulationChanges{ModelMix: map[string]string{"support.x": " "}}, "changes.model_mix.support.x", 0},
		{"bad baseline", "2026-01", "2026-01", nil, billing.SimulationChanges{LaborBaselines: map[string]billing.SimulationBaseline{
			"support.x": {HumanMinutes: simDec("0"), AnnualCost: money.New(simDec("1"), money.USD)}}}, "changes.labor_baselines.support.x.human_minutes", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := billing.SimulationRequest{CustomerIDs: tc.ids, From: tc.from, To: tc.to, Changes: tc.changes}
			err := r.Validate()
			if billing.ErrorField(err) != tc.field || (tc.field != "" && billing.ErrorCode(err) != billing.EINVALID) {
				t.Fatalf("got %v (field %q), want field %q", err, billing.ErrorField(err), tc.field)
			}
			if tc.field == "" {
				if _, n, _ := r.Months(); n != tc.months {
					t.Fatalf("%d months, want %d", n, tc.months)
				}
			}
		})
	}
}

func TestSimulationPeriods(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	ps := billing.SimulationPeriods(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 3, loc, 15)
	want := []string{"2026-11-15T05:00:00Z", "2026-12-15T05:00:00Z", "2027-01-15T05:00:00Z"}
	for i, p := range ps {
		if p.Start.Format(time.RFC3339) != want[i] {
			t.Errorf("period %d starts %s, want %s", i, p.Start.Format(time.RFC3339), want[i])
		}
		if i > 0 && !ps[i-1].End.Equal(p.Start) {
			t.Errorf("period %d does not follow the one before", i)
		}
	}
}
