package billing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

func decEq(t *testing.T, name string, got *decimal.Decimal, want string) {
	t.Helper()
	switch {
	case want == "nil" && got != nil:
		t.Errorf("%s = %s, want nil", name, got)
	case want != "nil" && got == nil:
		t.Errorf("%s = nil, want %s", name, want)
	case want != "nil" && !got.Equal(d(want)):
		t.Errorf("%s = %s, want %s", name, got, want)
	}
}

func TestParseDateRange(t *testing.T) {
	tests := []struct {
		from, to, field string
	}{
		{"2026-03-01", "2026-04-01", ""},
		{"2026-03-01T00:00:00Z", "2026-03-01T00:00:01Z", ""},
		{"2026-03-01", "2026-03-02T10:00:00+02:00", ""},
		{"2023-04-01", "2026-04-01", ""},
		{"", "2026-04-01", "from"},
		{"2026-03-01", "", "to"},
		{"March", "2026-04-01", "from"},
		{"2026-03-01", "2026-02-30", "to"},
		{"2026-03-01", "2026-03-01", "to"},
		{"2026-04-01", "2026-03-01", "to"},
		{"2023-03-31", "2026-04-01", "to"},
	}
	for _, tt := range tests {
		_, err := ParseDateRange(tt.from, tt.to)
		if got := ErrorField(err); got != tt.field || (tt.field != "" && ErrorCode(err) != EINVALID) {
			t.Errorf("ParseDateRange(%q, %q) = %v, want field %q", tt.from, tt.to, err, tt.field)
		}
	}
	r, _ := ParseDateRange("2026-03-01", "2026-03-01T12:00:00Z")
	ny, _ := time.LoadLocation("America/New_York")
	from, to, err := r.Resolve(ny)
	if err != nil || !from.Equal(time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("resolve in New York: %s %s %v", from, to, err)
	}
	r, _ = ParseDateRange("2026-03-01", "2026-03-01T03:00:00Z")
	if _, _, err := r.Resolve(ny); ErrorField(err) != "to" {
		t.Errorf("a date after the instant once placed in New York: %v, want invalid to", err)
	}
}

func TestTallyRatios(t *testing.T) {
	var ta Tally
	ta.Add(EconomicsCell{Status: TaskBillable, Tasks: 3, Succeeded: 2, Partial: 1, QualitySum: d("2.4"), QualityN: 3, CostUSD: d("3")})
	ta.Add(EconomicsCell{Status: TaskNotBillable, Tasks: 2, Failed: 1, Escalated: 1, QualitySum: d("0.2"), QualityN: 1, CostUSD: d("1.5")})
	ta.Add(EconomicsCell{Status: TaskExpired, Tasks: 1, CostUSD: d("0.5"), Unpriced: 2})
	ta.Add(EconomicsCell{Status: TaskVerifying, Tasks: 1, Succeeded: 1, CostUSD: d("1")})
	if ta.Tasks != 7 || ta.BillableTasks != 3 || ta.NotBilledTasks != 3 || ta.PendingTasks != 1 || ta.Unpriced != 2 {
		t.Errorf("counts: %+v", ta)
	}
	// Billable outcomes 2 + 0.5; cost 6 over them all.
	if !ta.BillableOutcomes().Equal(d("2.5")) {
		t.Errorf("billable outcomes %s", ta.BillableOutcomes())
	}
	decEq(t, "cost per billable outcome", ta.CostPerBillableOutcome(), "2.4")
	decEq(t, "cost per task", ta.CostPerTask(), "0.857143")
	// (3 + 0.5) of 6 outcomes.
	decEq(t, "success rate", ta.SuccessRate(), "0.5833")
	decEq(t, "quality", ta.AverageQuality(), "0.65")
	// (1.5 + 0.5) of 6.
	decEq(t, "not billed share", ta.NotBilledCostShare(), "0.3333")
	var empty Tally
	decEq(t, "empty success", empty.SuccessRate(), "nil")
	decEq(t, "empty cpo", empty.CostPerBillableOutcome(), "nil")
	decEq(t, "empty share", empty.NotBilledCostShare(), "nil")
}

func TestRatesConvert(t *testing.T) {
	r := Rates{"EUR": d("0.8"), "JPY": d("150")}
	tests := []struct {
		m    money.Money
		to   money.Currency
		want string
		ok   bool
	}{
		{money.New(d("10"), "USD"), "EUR", "8", true},
		{money.New(d("8"), "EUR"), "USD", "10", true},
		{money.New(d("8"), "EUR"), "JPY", "1500", true},
		{money.New(d("8"), "EUR"), "EUR", "8", true},
		{money.New(d("8"), "GBP"), "EUR", "", false},
		{money.New(d("8"), "USD"), "GBP", "", false},
	}
	for _, tt := range tests {
		got, ok := r.Convert(tt.m, tt.to)
		if ok != tt.ok || (ok && (!got.Amount.Equal(d(tt.want)) || got.Currency != tt.to)) {
			t.Errorf("convert %s to %s = %s %v, want %s %v", tt.m, tt.to, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewMargin(t *testing.T) {
	c := Customer{ID: "acme", Currency: "EUR"}
	cells := []EconomicsCell{
		{OutcomeType: "ticket", Model: "big", Status: TaskBillable, Tasks: 3, Succeeded: 2, Partial: 1, CostUSD: d("3")},
		{OutcomeType: "ticket", Model: "small", Status: TaskBillable, Tasks: 2, Succeeded: 2, CostUSD: d("1")},
		{OutcomeType: "ticket", Model: "small", Status: TaskNotBillable, Tasks: 1, Failed: 1, CostUSD: d("1")},
		{OutcomeType: "", Model: "", Status: TaskOpen, Tasks: 1, CostUSD: d("0.25"), Unpriced: 1},
	}
	rev := Revenue{Currency: "EUR", Amount: d("13.5"), ByOutcomeType: map[string]decimal.Decimal{"ticket": d("9"), "": d("4.5")}}
	rate := d("0.8")
	m := NewMargin(c, time.Time{}, time.Time{}, cells, rev, &rate)
	// Cost 5.25 USD = 4.2 EUR; margin 13.5 − 4.2 = 9.3 = 68.89 %.
	decEq(t, "cost", m.Total.Cost, "4.2")
	decEq(t, "margin", m.Total.GrossMargin, "9.3")
	decEq(t, "margin %", m.Total.MarginPercent, "68.89")
	// Billable outcomes 2.5 + 2 = 4.5; 5.25 / 4.5.
	decEq(t, "cost per billable outcome", m.Total.CostPerBillableOutcome(), "1.166667")
	decEq(t, "not billed share", m.Total.NotBilledCostShare(), "0.1905")
	if len(m.ByOutcomeType) != 2 || m.ByOutcomeType[1].Key != "ticket" || !m.ByOutcomeType[1].Revenue.Equal(d("9")) {
		t.Fatalf("by outcome type: %+v", m.ByOutcomeType)
	}
	// ticket: cost 5 USD = 4 EUR, margin 5 = 55.56 %.
	decEq(t, "ticket margin %", m.ByOutcomeType[1].MarginPercent, "55.56")
	// The ticket revenue 9 splits 2.5 : 2 between big and small; the 4.5 of no outcome type stays unallocated.
	if len(m.ByModel) != 3 || !m.ByModel[1].Revenue.Equal(d("5")) || !m.ByModel[2].Revenue.Equal(d("4")) || !m.UnallocatedRevenue.Equal(d("4.5")) {
		t.Errorf("by model: %+v unallocated %s", m.ByModel, m.UnallocatedRevenue)
	}
	// Without a rate nothing that mixes currencies is computed.
	m = NewMargin(c, time.Time{}, time.Time{}, cells, rev, nil)
	if m.Total.Cost != nil || m.Total.GrossMargin != nil || m.Total.MarginPercent != nil || m.Rate != nil {
		t.Errorf("without a rate: %+v", m.Total)
	}
	// USD needs no rate; no revenue means no percentage.
	m = NewMargin(Customer{ID: "u", Currency: "USD"}, time.Time{}, time.Time{}, cells, Revenue{Currency: "USD"}, nil)
	decEq(t, "usd margin", m.Total.GrossMargin, "-5.25")
	decEq(t, "usd margin %", m.Total.MarginPercent, "nil")
}

func TestNewVendorMargin(t *testing.T) {
	eur, jpy := d("0.8"), d("150")
	v := NewVendorMargin(DateRange{}, []CustomerMargin{
		{CustomerID: "a", Currency: "USD", Revenue: Revenue{Amount: d("100")}, MarginLine: MarginLine{Tally: Tally{CostUSD: d("40")}}},
		{CustomerID: "b", Currency: "EUR", Rate: &eur, Revenue: Revenue{Amount: d("80")}, MarginLine: MarginLine{Tally: Tally{CostUSD: d("10")}}},
		{CustomerID: "c", Currency: "GBP", Revenue: Revenue{Amount: d("50")}, MarginLine: MarginLine{Tally: Tally{CostUSD: d("5")}}},
		{CustomerID: "d", Currency: "JPY", Rate: &jpy, Revenue: Revenue{Amount: d("0")}, MarginLine: MarginLine{Tally: Tally{CostUSD: d("1")}}},
	})
	// Revenue 100 + 100 USD; cost of the converted customers 51; margin 149 = 74.5 %.
	if !v.RevenueUSD.Equal(d("200")) || !v.CostUSD.Equal(d("56")) || !v.GrossMarginUSD.Equal(d("149")) {
		t.Errorf("totals: revenue %s cost %s margin %s", v.RevenueUSD, v.CostUSD, v.GrossMarginUSD)
	}
	decEq(t, "vendor margin %", v.MarginPercent, "74.5")
	if len(v.Unconverted) != 1 || v.Unconverted[0] != "c" {
		t.Errorf("unconverted %v", v.Unconverted)
	}
	decEq(t, "b margin", v.Customers[1].GrossMargin, "72")
	decEq(t, "c margin", v.Customers[2].GrossMargin, "nil")
}

func TestNewLaborPeriod(t *testing.T) {
	usd := LaborBasis{Baseline: LaborBaseline{HumanMinutes: d("12"), AnnualCost: money.New(d("94000"), "USD"), ProductiveHours: d("1880")}}
	gbp := LaborBasis{Baseline: LaborBaseline{HumanMinutes: d("30"), AnnualCost: money.New(d("47000"), "GBP"), ProductiveHours: d("1880")}, Override: true}
	cells := []EconomicsCell{
		{OutcomeType: "ticket", Model: "m", Status: TaskBillable, Tasks: 5, Succeeded: 4, Partial: 1},
		{OutcomeType: "ticket", Model: "n", Status: TaskBillable, Tasks: 1, Succeeded: 1},
		{OutcomeType: "ticket", Status: TaskNotBillable, Tasks: 7, Failed: 7},
		{OutcomeType: "review", Model: "m", Status: TaskBillable, Tasks: 2, Succeeded: 2},
		{OutcomeType: "mystery", Status: TaskBillable, Tasks: 1, Succeeded: 1},
	}
	bases := map[string]LaborBasis{"ticket": usd, "review": gbp}
	paid := Revenue{Paid: d("20"), Invoices: 1}
	// ticket: 5.5 outcomes × 12 min = 1.1 h × 50 USD = 55 USD = 44 EUR;
	// review: 2 × 30 min = 1 h × 25 GBP = 25 GBP, no GBP rate.
	p := NewLaborPeriod("EUR", time.Time{}, time.Time{}, cells, bases, paid, Rates{"EUR": d("0.8")})
	if !p.Outcomes.Equal(d("8.5")) || !p.Hours.Equal(d("2.1")) || p.LaborCost != nil || p.Savings != nil ||
		len(p.MissingRates) != 1 || p.MissingRates[0] != "GBP" {
		t.Errorf("without a GBP rate: %+v", p)
	}
	if len(p.Lines) != 3 || p.Lines[2].OutcomeType != "ticket" || !p.Lines[2].LaborCost.Equal(money.New(d("55"), "USD")) ||
		!p.Lines[2].ConvertedLaborCost.Equal(money.New(d("44"), "EUR")) || p.Lines[0].Basis != nil {
		t.Errorf("lines: %+v", p.Lines)
	}
	// With GBP at 0.5 per USD: 25 GBP = 50 USD = 40 EUR; labor 84 EUR, paid 20, savings 64.
	p = NewLaborPeriod("EUR", time.Time{}, time.Time{}, cells, bases, paid, Rates{"EUR": d("0.8"), "GBP": d("0.5")})
	if p.LaborCost == nil || !p.LaborCost.Equal(money.New(d("84"), "EUR")) || !p.Savings.Equal(money.New(d("64"), "EUR")) {
		t.Errorf("with rates: labor %v savings %v", p.LaborCost, p.Savings)
	}
}

func TestTrendPeriods(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	ps := TrendPeriods(time.Date(2026, 4, 15, 4, 0, 0, 0, time.UTC), ny, 15, 6)
	// 04:00 UTC on 15 April is still 14 April in New York: the last period is 15 March – 15 April.
	if len(ps) != 6 || ps[5].End != time.Date(2026, 4, 15, 4, 0, 0, 0, time.UTC) || ps[0].Start != time.Date(2025, 10, 15, 4, 0, 0, 0, time.UTC) {
		t.Errorf("periods: %v", ps)
	}
	for i := 1; i < len(ps); i++ {
		if !ps[i].Start.Equal(ps[i-1].End) {
			t.Errorf("gap between %v and %v", ps[i-1], ps[i])
		}
	}
}

func TestRecommend(t *testing.T) {
	bar := DefaultModelBar()
	cells := []EconomicsCell{
		// big: 10 tasks, 10 succeeded, quality 0.95, cost 20 → 2 per outcome.
		{OutcomeType: "ticket", Model: "big", Status: TaskBillable, Tasks: 10, Succeeded: 10, QualitySum: d("9.5"), QualityN: 10, CostUSD: d("20")},
		// mid: 9 succeeded + 1 failed: success 0.9, quality 0.85, cost 5 → 5/9 per outcome.
		{OutcomeType: "ticket", Model: "mid", Status: TaskBillable, Tasks: 9, Succeeded: 9, QualitySum: d("7.65"), QualityN: 9, CostUSD: d("4.5")},
		{OutcomeType: "ticket", Model: "mid", Status: TaskNotBillable, Tasks: 1, Failed: 1, QualitySum: d("0.85"), QualityN: 1, CostUSD: d("0.5")},
		// tiny: cheap but success 0.5.
		{OutcomeType: "ticket", Model: "tiny", Status: TaskBillable, Tasks: 1, Succeeded: 1, QualitySum: d("0.9"), QualityN: 1, CostUSD: d("0.1")},
		{OutcomeType: "ticket", Model: "tiny", Status: TaskNotBillable, Tasks: 1, Failed: 1, CostUSD: d("0.1")},
		// nameless: good but no quality reported.
		{OutcomeType: "ticket", Model: "quiet", Status: TaskBillable, Tasks: 2, Succeeded: 2, CostUSD: d("0.2")},
		// review: nobody clears the bar.
		{OutcomeType: "review", Model: "big", Status: TaskBillable, Tasks: 2, Succeeded: 1, Partial: 1, QualitySum: d("1.8"), QualityN: 2, CostUSD: d("4")},
	}
	me := NewModelEconomics(DateRange{}, bar, cells)
	if len(me.Models) != 5 || len(me.Recommendations) != 2 {
		t.Fatalf("models %d, recommendations %d", len(me.Models), len(me.Recommendations))
	}
	clears := map[string]bool{}
	for _, m := range me.Models {
		clears[m.OutcomeType+"/"+m.Model] = m.ClearsBar
	}
	if !clears["ticket/big"] || !clears["ticket/mid"] || clears["ticket/tiny"] || clears["ticket/quiet"] || clears["review/big"] {
		t.Errorf("clears: %v", clears)
	}
	review, ticket := me.Recommendations[0], me.Recommendations[1]
	if review.OutcomeType != "review" || review.Model != "" {
		t.Errorf("review: %+v", review)
	}
	// mid at 5/9 per outcome; big's 10 outcomes would have cost 50/9 instead of 20: 130/9 saved.
	if ticket.Model != "mid" || !ticket.CostPerBillableOutcome.Equal(d("0.555556")) || !ticket.Savings.Equal(d("14.444444")) {
		t.Errorf("ticket: %+v", ticket)
	}
	// A quality bar of 0 lets the quiet model in, and it is the cheapest.
	me = NewModelEconomics(DateRange{}, ModelBar{MinSuccessRate: d("0.9")}, cells)
	if r := me.Recommendations[1]; r.Model != "quiet" || !r.CostPerBillableOutcome.Equal(d("0.1")) {
		t.Errorf("quality bar 0: %+v", r)
	}
	if err := (ModelBar{MinSuccessRate: d("1.1")}).Validate(); ErrorField(err) != "min_success_rate" {
		t.Errorf("bar 1.1: %v", err)
	}
}
