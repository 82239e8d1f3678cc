package billing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestModelPriceCost(t *testing.T) {
	r := d("12")
	tests := []struct {
		name  string
		price ModelPrice
		usage TokenUsage
		want  string
	}{
		{"input and output", ModelPrice{Input: d("3"), Output: d("15")}, TokenUsage{Input: 1000, Output: 500}, "0.0105"},
		{"cache read and write", ModelPrice{Input: d("3"), CachedInput: d("0.30"), CacheWrite: d("3.75"), Output: d("15")},
			TokenUsage{Input: 100, CachedInput: 10000, CacheWrite: 2000, Output: 0}, "0.0108"},
		{"reasoning at output price", ModelPrice{Input: d("2"), Output: d("8")}, TokenUsage{Reasoning: 1000}, "0.008"},
		{"reasoning at its own price", ModelPrice{Input: d("2"), Output: d("8"), Reasoning: &r}, TokenUsage{Reasoning: 1000}, "0.012"},
		{"one token keeps full precision", ModelPrice{Input: d("0.15")}, TokenUsage{Input: 1}, "0.00000015"},
		{"nothing", ModelPrice{Input: d("3"), Output: d("15")}, TokenUsage{}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.price.Cost(tt.usage); !got.Equal(d(tt.want)) {
				t.Errorf("Cost = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPriceAt(t *testing.T) {
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	rows := []ModelPrice{
		{EffectiveFrom: day("2025-01-01"), Input: d("5"), Origin: PriceOriginCatalog},
		{EffectiveFrom: day("2025-03-01"), Input: d("4"), Origin: PriceOriginVendor},
		{EffectiveFrom: day("2025-06-01"), Input: d("2"), Origin: PriceOriginCatalog},
	}
	tests := []struct {
		at   string
		ok   bool
		want string
	}{
		{"2024-12-31", false, ""},
		{"2025-01-01", true, "5"},
		{"2025-02-28", true, "5"},
		{"2025-03-01", true, "4"},
		{"2025-06-01", true, "4"}, // the vendor's own price keeps winning over a newer list price
		{"2030-01-01", true, "4"},
	}
	for _, tt := range tests {
		p, ok := PriceAt(rows, day(tt.at))
		if ok != tt.ok || (ok && !p.Input.Equal(d(tt.want))) {
			t.Errorf("PriceAt(%s) = %s, %v; want %s, %v", tt.at, p.Input, ok, tt.want, tt.ok)
		}
	}
}

func TestLaborBaselineTaskCost(t *testing.T) {
	// 12 minutes of a person costing 94,000 a year over 1,880 hours: 50/h, so 10 a task.
	b := LaborBaseline{HumanMinutes: d("12"), ProductiveHours: d("1880")}
	b.AnnualCost.Amount, b.AnnualCost.Currency = d("94000"), "USD"
	if got := b.TaskCost().Amount; !got.Equal(d("10")) {
		t.Errorf("TaskCost = %s, want 10", got)
	}
	if got := b.HourlyRate().Amount; !got.Equal(d("50")) {
		t.Errorf("HourlyRate = %s, want 50", got)
	}
}

func TestModelCatalogParses(t *testing.T) {
	rows, err := ModelCatalog()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.Model] {
			t.Errorf("model %s listed twice", r.Model)
		}
		seen[r.Model] = true
		if r.Source == "" || r.AsOf.IsZero() || !r.Output.IsPositive() {
			t.Errorf("row %s lacks a source, an as-of date or an output price", r.Model)
		}
	}
	for _, want := range []string{"gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "deepseek-chat"} {
		if !seen[want] {
			t.Errorf("catalog lacks %s", want)
		}
	}
}
