package billing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

func dd(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ratedInvoice(t *testing.T) Invoice {
	t.Helper()
	fee, unit, mult := dd("49"), dd("0.99"), dd("1.5")
	res, err := pricing.Rate(pricing.PlanVersion{Currency: "USD", Terms: pricing.Terms{PlatformFee: &fee, UrgentMultiplier: &mult},
		Prices: []pricing.Charge{{OutcomeType: "support.ticket_resolved", Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: &unit}}}},
		pricing.Usage{Counts: []pricing.OutcomeCount{{OutcomeType: "support.ticket_resolved", Succeeded: 9, Partial: 2, UrgentSucceeded: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return Invoice{ID: "inv_1", Number: "2026-000001", Currency: "USD", Lines: LinesFromResult(res), Subtotal: res.Subtotal,
		CreditsApplied: res.CreditsApplied, Total: res.Total}
}

func TestInvoiceCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Invoice)
		ok     bool
	}{
		{"as rated", func(*Invoice) {}, true},
		{"total off by a cent", func(i *Invoice) { i.Total = i.Total.Add(dd("0.01")) }, false},
		{"subtotal off", func(i *Invoice) { i.Subtotal = i.Subtotal.Sub(dd("1")) }, false},
		{"line not rounded", func(i *Invoice) {
			i.Lines[0].Amount = i.Lines[0].Amount.Add(dd("0.001"))
			i.Total, i.Subtotal = i.Total.Add(dd("0.001")), i.Subtotal.Add(dd("0.001"))
		}, false},
		{"positions out of order", func(i *Invoice) { i.Lines[0].Position = 2 }, false},
		{"credits not subtracted", func(i *Invoice) { i.CreditsApplied = dd("5") }, false},
		{"unknown currency", func(i *Invoice) { i.Currency = "XXX" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := ratedInvoice(t)
			tt.mutate(&inv)
			if err := inv.Check(); (err == nil) != tt.ok {
				t.Errorf("Check() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewValueStatement(t *testing.T) {
	base := func(cur money.Currency, minutes, annual string) LaborBaseline {
		return LaborBaseline{HumanMinutes: dd(minutes), AnnualCost: money.New(dd(annual), cur), ProductiveHours: DefaultProductiveHours}
	}
	usd := func(s string) money.Money { return money.New(dd(s), "USD") }
	tests := []struct {
		name                 string
		amount               money.Money
		months               string
		basis                []ValueBasis
		hours, fte           string
		laborCost, savings   string // "" for nil
		outcomes, succ, part int64
	}{
		// 1,000 × 12 min = 200 h; 200 h × 50/h = 10,000; 200 h ÷ (1,880 / 12) = 1.28 FTE.
		{"one month", usd("990"), "1", []ValueBasis{{OutcomeSucceeded, 1000, base("USD", "12", "94000")}}, "200", "1.28", "10000", "9010", 1000, 1000, 0},
		// A partial outcome counts half: 100 × 30 min × 0.5 = 25 h over two months.
		{"partial over two months", usd("100"), "2", []ValueBasis{{OutcomePartial, 100, base("USD", "30", "94000")}}, "25", "0.08", "1250", "1150", 100, 0, 100},
		{"labor in another currency", usd("10"), "1", []ValueBasis{{OutcomeSucceeded, 10, base("EUR", "60", "94000")}}, "10", "0.06", "500", "", 10, 10, 0},
		{"mixed currencies", usd("10"), "1", []ValueBasis{{OutcomeSucceeded, 10, base("EUR", "60", "94000")}, {OutcomeSucceeded, 10, base("USD", "60", "94000")}},
			"20", "0.13", "", "", 20, 20, 0},
		{"no outcomes", usd("49"), "1", nil, "0", "0", "", "", 0, 0, 0},
		{"outcome type without baseline", usd("1"), "1", []ValueBasis{{Outcome: OutcomeSucceeded, Count: 3}}, "0", "0", "", "", 3, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewValueStatement(tt.amount, dd(tt.months), tt.basis)
			if !v.HumanHours.Equal(dd(tt.hours)) || !v.FTE.Equal(dd(tt.fte)) || v.Outcomes != tt.outcomes || v.Succeeded != tt.succ || v.Partial != tt.part {
				t.Errorf("hours %s fte %s outcomes %d/%d/%d", v.HumanHours, v.FTE, v.Outcomes, v.Succeeded, v.Partial)
			}
			if (v.LaborCost == nil) != (tt.laborCost == "") || (v.LaborCost != nil && !v.LaborCost.Amount.Equal(dd(tt.laborCost))) {
				t.Errorf("labor cost %v, want %q", v.LaborCost, tt.laborCost)
			}
			if (v.Savings == nil) != (tt.savings == "") || (v.Savings != nil && !v.Savings.Amount.Equal(dd(tt.savings))) {
				t.Errorf("savings %v, want %q", v.Savings, tt.savings)
			}
		})
	}
}

func TestPeriodMonths(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		start, end time.Time
		loc        *time.Location
		want       string
	}{
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.UTC, "1"},
		{time.Date(2026, 2, 15, 0, 0, 0, 0, ny), time.Date(2026, 3, 15, 0, 0, 0, 0, ny), ny, "1"}, // across the DST change
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC, "12"},
	}
	for _, tt := range tests {
		if got := PeriodMonths(tt.start, tt.end, tt.loc); !got.Equal(dd(tt.want)) {
			t.Errorf("PeriodMonths(%s, %s) = %s, want %s", tt.start, tt.end, got, tt.want)
		}
	}
	// A week is a week's share of the average month.
	w := PeriodMonths(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC), time.UTC)
	if got := w.Round(4); !got.Equal(dd("0.23")) {
		t.Errorf("a week = %s months, want ≈0.23", w)
	}
}

func TestCreditLines(t *testing.T) {
	inv := ratedInvoice(t) // 9 + 1 urgent succeeded, 2 partial: 11 units × 0.99 = 10.89; surcharge 1 × 0.495 = 0.50
	got := CreditLines(inv, []BilledTask{
		{TaskID: "a", OutcomeType: "support.ticket_resolved", Outcome: OutcomeSucceeded},
		{TaskID: "b", OutcomeType: "support.ticket_resolved", Outcome: OutcomePartial},
		{TaskID: "c", OutcomeType: "support.ticket_resolved", Outcome: OutcomeSucceeded, Urgent: true},
		{TaskID: "d", OutcomeType: "code.pr_merged", Outcome: OutcomeSucceeded},
	})
	want := []string{"0.99", "0.5", "1.49", "0"}
	for i, l := range got {
		if !l.Amount.Equal(dd(want[i])) || l.Explanation == "" {
			t.Errorf("task %s: credit %s, want %s (%s)", l.TaskID, l.Amount, want[i], l.Explanation)
		}
	}
}

func TestDocumentNumber(t *testing.T) {
	if got := DocumentNumber(SeriesInvoice, 2026, 42); got != "2026-000042" {
		t.Errorf("invoice number %q", got)
	}
	if got := DocumentNumber(SeriesCreditNote, 2026, 7); got != "CN-2026-000007" {
		t.Errorf("credit note number %q", got)
	}
}
