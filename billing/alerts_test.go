package billing

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

func TestPeriodMarginFigures(t *testing.T) {
	d := decimal.RequireFromString
	rate := d("0.9")
	for _, tt := range []struct {
		name                  string
		m                     PeriodMargin
		ok                    bool
		cost, margin, percent string
	}{
		{"USD", PeriodMargin{Currency: money.USD, Revenue: d("100"), CostUSD: d("85.5")}, true, "85.5", "14.5", "14.5"},
		{"a loss", PeriodMargin{Currency: money.USD, Revenue: d("10"), CostUSD: d("25")}, true, "25", "-15", "-150"},
		// The percentage is rounded as the margin view shows it: 2 places, half away from zero.
		{"rounded", PeriodMargin{Currency: money.USD, Revenue: d("3"), CostUSD: d("1")}, true, "1", "2", "66.67"},
		{"EUR at the period's rate", PeriodMargin{Currency: "EUR", Revenue: d("100"), CostUSD: d("50"), Rate: &rate}, true, "45", "55", "55"},
		// Without revenue there is no percentage to hold against a floor: not evaluated.
		{"no revenue yet", PeriodMargin{Currency: money.USD, Revenue: d("0"), CostUSD: d("12")}, false, "", "", ""},
		{"negative revenue", PeriodMargin{Currency: money.USD, Revenue: d("-5"), CostUSD: d("1")}, false, "", "", ""},
		// Cost is never converted 1:1.
		{"no rate", PeriodMargin{Currency: "EUR", Revenue: d("100"), CostUSD: d("50")}, false, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cost, margin, percent, ok := tt.m.Figures()
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if !cost.Equal(d(tt.cost)) || !margin.Equal(d(tt.margin)) || !percent.Equal(d(tt.percent)) {
				t.Errorf("cost %s margin %s percent %s, want %s %s %s", cost, margin, percent, tt.cost, tt.margin, tt.percent)
			}
		})
	}
}

func TestMarginWebhookData(t *testing.T) {
	d := decimal.RequireFromString
	rate := d("150.5")
	p := Period{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	a := Alert{ID: "alert_1", CustomerID: "initech", Kind: AlertMarginFloor, Threshold: d("25")}
	m := PeriodMargin{CustomerID: "initech", Period: p, Currency: "JPY", Revenue: d("10000"), CostUSD: d("60.123456"), Unpriced: 2, Rate: &rate}
	got, err := json.Marshal(NewMarginWebhookData(a, m, BasisPeriodToDate, ""))
	if err != nil {
		t.Fatal(err)
	}
	// JPY has no minor unit: cost 9048.58… shows as 9049 and the margin 951.42… as 951, while the
	// percentage comes from the exact figures (9.514…) and cost_usd stays as it was summed.
	want := `{"alert_id":"alert_1","customer_id":"initech","kind":"margin_floor","period_start":"2026-03-01T00:00:00Z",` +
		`"period_end":"2026-04-01T00:00:00Z","currency":"JPY","revenue":"10000","cost":"9049","cost_usd":"60.123456",` +
		`"exchange_rate":"150.5","margin":"951","margin_percent":"9.51","floor_percent":"25","unpriced_usage_events":2,` +
		`"basis":"period_to_date"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCreditExpiryNotice(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tt := range []struct {
		name       string
		thresholds []int
		left       time.Duration
		had        []int
		days       int
		ok         bool
	}{
		{"far off", []int{7}, 8 * day, nil, 0, false},
		{"exactly at the threshold", []int{7}, 7 * day, nil, 7, true},
		{"inside it", []int{7}, 3 * day, nil, 7, true},
		{"had it already", []int{7}, 3 * day, []int{7}, 0, false},
		{"expired", []int{7}, 0, nil, 0, false},
		{"long expired", []int{7}, -day, nil, 0, false},
		// Several thresholds: the nearest one reached, once each.
		{"first of three", []int{30, 7, 1}, 20 * day, nil, 30, true},
		{"second after the first", []int{30, 7, 1}, 6 * day, []int{30}, 7, true},
		{"granted late: one notice, not three", []int{30, 7, 1}, 12 * time.Hour, nil, 1, true},
		{"the nearest was sent: nothing for the farther", []int{30, 7, 1}, 12 * time.Hour, []int{1}, 0, false},
		{"a nearer one sent covers this one", []int{30, 7}, 6 * day, []int{1}, 0, false},
		{"no thresholds", nil, time.Hour, nil, 0, false},
		{"thresholds in any order", []int{1, 30, 7}, 5 * day, nil, 7, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			days, ok := CreditExpiryNotice(tt.thresholds, now.Add(tt.left), now, tt.had)
			if days != tt.days || ok != tt.ok {
				t.Errorf("CreditExpiryNotice = %d, %v; want %d, %v", days, ok, tt.days, tt.ok)
			}
		})
	}
	if _, ok := CreditExpiryNotice([]int{7}, time.Time{}, now, nil); ok {
		t.Error("a grant that never expires got an expiry notice")
	}
}
