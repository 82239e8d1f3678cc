package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
	"github.com/outcomebill/outcomebill/pricing"
)

// seedTask writes a task in the state its workflow would have saved.
func seedTask(t *testing.T, db *postgres.DB, id, customer, outcomeType, outcome, priority, status string, at time.Time) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `WITH k AS (INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ($1, $2, $6) RETURNING *)
		INSERT INTO tasks (task_id, customer_id, opened_at, status, outcome_type, priority, status_at, outcome)
		SELECT task_id, customer_id, opened_at, $3, $4, $5, $6, NULLIF($7, '') FROM k`, id, customer, status, outcomeType, priority, at, outcome)
	if err != nil {
		t.Fatal(err)
	}
}

// seedUsage writes a usage event of a task with its cost in USD ("" for unpriced usage).
func seedUsage(t *testing.T, db *postgres.DB, id, customer, task, costUSD string, at time.Time) {
	t.Helper()
	var cost any
	if costUSD != "" {
		cost = dec(costUSD)
	}
	_, err := db.Pool.Exec(context.Background(), `INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, cost_usd)
		VALUES ($1, '\x00', 'task.usage', $2, $3, $4, $4, '{}', 'some-model', $5)`, id, customer, task, at, cost)
	if err != nil {
		t.Fatal(err)
	}
}

func mustOutcomeType(t *testing.T, db *postgres.DB, key, minutes, annual string) {
	t.Helper()
	_, _, err := db.PutOutcomeType(context.Background(), billing.OutcomeType{Key: key, Name: key, DisputeWindow: time.Hour, TaskTimeout: time.Hour,
		Baseline: billing.LaborBaseline{HumanMinutes: dec(minutes), AnnualCost: usd(annual)}})
	if err != nil {
		t.Fatal(err)
	}
}

var (
	jan1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feb1 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
)

// TestRatePeriod rates a seeded month and checks the invoice against figures worked out by hand.
func TestRatePeriod(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	mustCustomer(t, db, "other", "USD", "UTC")
	// support: 12 min at 94,000/1,880 h = 10.00 a task (unused: per_outcome).
	// finance: 30 min at 75,200/1,880 h = 40/h → 20.00 a task; acme's own figures, 45 min at
	// 94,000/1,880 h = 50/h → 37.50 a task, win.
	mustOutcomeType(t, db, "support.ticket_resolved", "12", "94000")
	mustOutcomeType(t, db, "finance.invoice_reconciled", "30", "75200")
	mustOutcomeType(t, db, "code.pr_merged", "60", "94000")
	if _, _, err := db.PutBaselineOverride(ctx, billing.BaselineOverride{CustomerID: "acme", OutcomeType: "finance.invoice_reconciled",
		Baseline: billing.LaborBaseline{HumanMinutes: dec("45"), AnnualCost: usd("94000")}}); err != nil {
		t.Fatal(err)
	}
	p := plan(t, "outcomes", `{"currency": "USD", "terms": {"platform_fee": "49.00", "urgent_multiplier": "1.5"}, "prices": [
		{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"},
		{"outcome_type": "finance.invoice_reconciled", "model": "labor_share", "share": "0.3", "floor": "5", "cap": "11"}]}`)
	if _, _, err := db.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "outcomes", StartsAt: jan1}); err != nil {
		t.Fatal(err)
	}

	// What the month holds, and the same outcomes one by one for the pure rater.
	var streamed []pricing.Outcome
	financeBaseline := &pricing.Baseline{HumanMinutes: dec("45"), AnnualCost: usd("94000"), ProductiveHours: dec("1880"), Source: pricing.SourceCustomerOverride}
	n := 0
	add := func(count int, outcomeType, outcome, priority string) {
		for range count {
			n++
			seedTask(t, db, fmt.Sprintf("t%d", n), "acme", outcomeType, outcome, priority, "billable", jan1.Add(time.Duration(n)*time.Hour))
			o := pricing.Outcome{TaskID: fmt.Sprint(n), OutcomeType: outcomeType, Status: pricing.Status(outcome), Urgent: priority == "urgent"}
			if outcomeType == "finance.invoice_reconciled" {
				o.Baseline = financeBaseline
			}
			streamed = append(streamed, o)
		}
	}
	add(10, "support.ticket_resolved", "succeeded", "normal")
	add(2, "support.ticket_resolved", "partial", "normal")
	add(1, "support.ticket_resolved", "succeeded", "urgent")
	add(3, "finance.invoice_reconciled", "succeeded", "normal")
	add(1, "finance.invoice_reconciled", "partial", "urgent")
	add(1, "code.pr_merged", "succeeded", "normal") // no charge prices it
	// None of these count: outside the period (the end is exclusive), not billable, or another customer's.
	seedTask(t, db, "x1", "acme", "support.ticket_resolved", "succeeded", "normal", "billable", feb1)
	seedTask(t, db, "x2", "acme", "support.ticket_resolved", "succeeded", "normal", "billable", jan1.Add(-time.Second))
	seedTask(t, db, "x3", "acme", "support.ticket_resolved", "succeeded", "normal", "verifying", jan1.Add(time.Hour))
	seedTask(t, db, "x4", "acme", "support.ticket_resolved", "failed", "normal", "not_billable", jan1.Add(time.Hour))
	seedTask(t, db, "x5", "other", "support.ticket_resolved", "succeeded", "normal", "billable", jan1.Add(time.Hour))

	// Credits: one expires inside the period (not applied), one is used up, two are drawn — the
	// one expiring first first.
	for _, g := range []billing.CreditGrant{
		{ID: "g-soon", Amount: usd("100"), ExpiresAt: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)},
		{ID: "g-june", Amount: usd("50"), ExpiresAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "g-open", Amount: usd("30")},
		{ID: "g-empty", Amount: usd("20")},
		{ID: "g-past", Amount: usd("20"), ExpiresAt: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)},
	} {
		g.CustomerID, g.PricePaid = "acme", g.Amount
		if _, _, err := db.CreateCreditGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ApplyCreditDraws(ctx, "acme", "inv-dec", []pricing.Draw{{GrantID: "g-empty", Amount: dec("20")}}); err != nil {
		t.Fatal(err)
	}

	res, info, err := db.RatePeriod(ctx, "acme", jan1, feb1)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ kind, amount string }{
		{"charge", "11.88"},          // (11 succeeded + 2 partial × 0.5) × 0.99
		{"urgent_surcharge", "0.50"}, // 1 × 0.99 × (1.5 − 1) = 0.495, rounded half away from zero
		{"charge", "38.50"},          // 0.3 × 37.50 = 11.25, capped at 11; (3 + 0.5) × 11
		{"urgent_surcharge", "2.75"}, // 0.5 × 11 × 0.5
		{"platform_fee", "49.00"},
		{"prepaid_credits", "-80.00"}, // g-june 50, then g-open 30
	}
	if len(res.Lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(res.Lines), len(want), res.Lines)
	}
	for i, w := range want {
		if l := res.Lines[i]; l.Kind != w.kind || !l.Amount.Equal(dec(w.amount)) {
			t.Errorf("line %d = %s %s (%s), want %s %s", i, l.Kind, l.Amount, l.Description, w.kind, w.amount)
		}
	}
	if !res.Subtotal.Equal(dec("102.63")) || !res.CreditsApplied.Equal(dec("80")) || !res.Total.Equal(dec("22.63")) {
		t.Errorf("subtotal %s credits %s total %s, want 102.63, 80, 22.63", res.Subtotal, res.CreditsApplied, res.Total)
	}
	if len(res.Draws) != 2 || res.Draws[0].GrantID != "g-june" || res.Draws[1].GrantID != "g-open" ||
		len(res.ExpiredCredits) != 1 || res.ExpiredCredits[0] != "g-soon" {
		t.Errorf("draws %+v expired %v", res.Draws, res.ExpiredCredits)
	}
	if b := res.Lines[2].Explanation.Labor.Baselines; len(b) != 1 || b[0].Source != pricing.SourceCustomerOverride || !b[0].LaborCost.Equal(dec("37.5")) {
		t.Errorf("labor explanation %+v, want the customer's override at 37.50", b)
	}
	if info.PlanID != "outcomes" || info.PlanVersion != 1 || info.Tasks != 18 || info.UnpricedOutcomes != 1 || res.Unpriced["code.pr_merged"] != 1 {
		t.Errorf("info = %+v unpriced %v", info, res.Unpriced)
	}

	// Counting in SQL rates exactly as streaming every task through the pure rater.
	credits := []pricing.CreditGrant{
		{ID: "g-soon", Currency: "USD", Remaining: dec("100"), ExpiresAt: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)},
		{ID: "g-june", Currency: "USD", Remaining: dec("50"), ExpiresAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "g-open", Currency: "USD", Remaining: dec("30")},
	}
	direct, err := pricing.Rate(p.Pricing, pricing.Usage{Period: pricing.Period{End: feb1, Credits: credits}, Tasks: streamed})
	if err != nil {
		t.Fatal(err)
	}
	if !direct.Total.Equal(res.Total) || len(direct.Lines) != len(res.Lines) {
		t.Errorf("streamed total %s (%d lines), SQL counts %s (%d lines)", direct.Total, len(direct.Lines), res.Total, len(res.Lines))
	}

	// Drawing what the rating says, then rating again: the drawn credit is gone.
	if err := db.ApplyCreditDraws(ctx, "acme", "inv-jan", res.Draws); err != nil {
		t.Fatal(err)
	}
	again, _, err := db.RatePeriod(ctx, "acme", jan1, feb1)
	if err != nil || !again.CreditsApplied.IsZero() || !again.Total.Equal(dec("102.63")) {
		t.Errorf("after drawing: credits %s total %s, %v", again.CreditsApplied, again.Total, err)
	}
	if _, _, err := db.RatePeriod(ctx, "acme", feb1, jan1); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("reversed period: %v", err)
	}
}

func TestRatePeriodResolvesSubscriptionAndVersion(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	mustOutcomeType(t, db, "support.ticket_resolved", "12", "94000")
	priced := func(amount string) billing.Plan {
		return plan(t, "support", `{"currency": "USD", "prices": [
			{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "`+amount+`"}]}`)
	}
	at := func(y int, m time.Month, d int) func() time.Time {
		return func() time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	}
	db.Now = at(2026, 1, 1)
	if _, _, err := db.CreatePlan(ctx, priced("0.99")); err != nil {
		t.Fatal(err)
	}
	latest, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: jan1})
	if err != nil {
		t.Fatal(err)
	}
	db.Now = at(2026, 2, 10)
	if _, _, err := db.PutPlan(ctx, priced("1.10")); err != nil {
		t.Fatal(err)
	}
	unit := dec("0.80")
	pinned, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "support", PlanVersion: 1,
		StartsAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Overrides: billing.Overrides{Prices: []pricing.Charge{{
			OutcomeType: "support.ticket_resolved", Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: &unit}}}}})
	if err != nil {
		t.Fatal(err)
	}
	db.Now = at(2026, 4, 2)
	if _, _, err := db.PutPlan(ctx, priced("2.00")); err != nil {
		t.Fatal(err)
	}
	for m := time.January; m <= time.April; m++ {
		seedTask(t, db, "t"+m.String(), "acme", "support.ticket_resolved", "succeeded", "normal", "billable", time.Date(2026, m, 5, 0, 0, 0, 0, time.UTC))
	}
	tests := []struct {
		month        time.Month
		subscription string
		version      int
		total        string
	}{
		{time.January, latest.ID, 1, "0.99"}, // version 2 did not exist yet when January ended
		{time.February, latest.ID, 2, "1.10"},
		{time.March, pinned.ID, 1, "0.80"}, // pinned to version 1, with the customer's own price
		{time.April, pinned.ID, 1, "0.80"}, // version 3 changes nothing for a pinned subscription
	}
	for _, tt := range tests {
		from := time.Date(2026, tt.month, 1, 0, 0, 0, 0, time.UTC)
		res, info, err := db.RatePeriod(ctx, "acme", from, from.AddDate(0, 1, 0))
		if err != nil || info.SubscriptionID != tt.subscription || info.PlanVersion != tt.version || !res.Total.Equal(dec(tt.total)) || info.Tasks != 1 {
			t.Errorf("%s: subscription %s version %d total %s tasks %d, %v; want %s %d %s",
				tt.month, info.SubscriptionID, info.PlanVersion, res.Total, info.Tasks, err, tt.subscription, tt.version, tt.total)
		}
	}
	if _, _, err := db.RatePeriod(ctx, "acme", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), jan1); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("before any subscription: %v, want not_found", err)
	}
	if _, _, err := db.RatePeriod(ctx, "nobody", jan1, feb1); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("unknown customer: %v, want not_found", err)
	}
}

func TestRatePeriodCostPlusConvertsWithTheRateInForce(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "euro", "EUR", "UTC")
	mustOutcomeType(t, db, "support.ticket_resolved", "12", "94000")
	p := plan(t, "resale", `{"currency": "EUR", "prices": [
		{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "1.00"},
		{"model": "cost_plus", "markup": "0.2"}]}`)
	if _, _, err := db.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "euro", PlanID: "resale", StartsAt: jan1}); err != nil {
		t.Fatal(err)
	}
	seedTask(t, db, "t1", "euro", "support.ticket_resolved", "succeeded", "normal", "billable", jan1.Add(time.Hour))
	seedTask(t, db, "t2", "euro", "support.ticket_resolved", "failed", "normal", "not_billable", jan1.Add(time.Hour))
	seedUsage(t, db, "e1", "euro", "t1", "6", jan1)
	seedUsage(t, db, "e2", "euro", "t1", "4", jan1)
	seedUsage(t, db, "e3", "euro", "t1", "", jan1) // a model without a price yet
	seedUsage(t, db, "e4", "euro", "t2", "100", jan1)

	_, _, err := db.RatePeriod(ctx, "euro", jan1, feb1)
	if !errors.Is(err, pricing.ErrNoExchangeRate) || billing.ErrorCode(err) != billing.EINVALID {
		t.Fatalf("without a rate: %v, want invalid wrapping ErrNoExchangeRate", err)
	}
	rates := []struct {
		r       billing.ExchangeRate
		code    string
		created bool
	}{
		{billing.ExchangeRate{Currency: "eur", EffectiveFrom: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), Rate: dec("0.9")}, "", true},
		{billing.ExchangeRate{Currency: "EUR", EffectiveFrom: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), Rate: dec("0.90")}, "", false},
		{billing.ExchangeRate{Currency: "EUR", EffectiveFrom: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), Rate: dec("0.8")}, billing.ECONFLICT, false},
		{billing.ExchangeRate{Currency: "EUR", EffectiveFrom: feb1, Rate: dec("0.5")}, "", true}, // from the next period on
		{billing.ExchangeRate{Currency: "USD", EffectiveFrom: feb1, Rate: dec("1")}, billing.EINVALID, false},
		{billing.ExchangeRate{Currency: "EUR", EffectiveFrom: feb1, Rate: dec("0")}, billing.EINVALID, false},
	}
	for i, tt := range rates {
		_, created, err := db.AddExchangeRate(ctx, tt.r)
		if billing.ErrorCode(err) != tt.code || created != tt.created {
			t.Errorf("rate %d: created=%v %v, want %q created=%v", i, created, err, tt.code, tt.created)
		}
	}
	res, info, err := db.RatePeriod(ctx, "euro", jan1, feb1)
	if err != nil {
		t.Fatal(err)
	}
	// 1.00 for the outcome; (6 + 4) USD × 0.9 = 9.00 EUR × 1.2 = 10.80. The failed task's cost is
	// not resold with the billable outcomes.
	if !res.Total.Equal(dec("11.80")) || res.Currency != money.Currency("EUR") || info.ExchangeRate == nil || !info.ExchangeRate.Equal(dec("0.9")) || info.UnpricedUsage != 1 {
		t.Errorf("total %s %s rate %v unpriced usage %d, want 11.80 EUR at 0.9 with 1 unpriced", res.Total, res.Currency, info.ExchangeRate, info.UnpricedUsage)
	}
}
