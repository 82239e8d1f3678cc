package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// econSeed writes, with plain SQL (so that the rollup triggers see what any writer would write),
// the dataset whose figures the economics tests work out by hand:
//
// acme bills in EUR from Europe/Berlin (anchor day 1); 1 USD = 0.8 EUR; 1 USD = 0.5 GBP is NOT
// known. support.ticket: 12 min at 94,000 USD / 1,880 h = 10 USD a task. code.review: 30 min at
// 60,000 EUR / 1,500 h, overridden for acme to 60 min at 72,000 EUR / 1,800 h = 40 EUR a task.
//
//	task  type    status        outcome    quality  usage (USD)                         local status_at
//	t1    ticket  billable      succeeded  0.9      big 2 + big 1                       March
//	t2    ticket  billable      partial    0.7      small 0.4 + other cost 0.1          March
//	t3    ticket  billable      succeeded  0.95     small 0.3                           March
//	t4    ticket  not_billable  failed     0.2      small 0.2                           March
//	t5    ticket  expired       —          —        big 0.5 + new-model (unpriced)      March
//	t6    review  billable      succeeded  0.85     big 1.2                             March
//	t7    review  verifying     succeeded  0.95     big 0.8                             March
//	t8    ticket  billable      succeeded  0.9      small 0.1      23:30 UTC 28 Feb = 00:30 1 March in Berlin
//	t9    ticket  billable      succeeded  —        small 5        22:30 UTC 31 March = 1 April in Berlin
//	t11   ticket  billable      succeeded  —        small 0.05     10 January
//
// beta bills in USD from UTC: t10 ticket billable succeeded 0.99, tiny 7, in March.
// gamma bills in GBP (no rate): no tasks, an invoice of 5 GBP in March.
//
// Invoices starting in March: acme's finalized March invoice (ticket 8, review 4, platform fee 3,
// prepaid credits −2: subtotal 15, total 13), an on-demand draft (ticket 1), a void one (100,
// left out); beta's finalized 10 USD; gamma's 5 GBP.
func econSeed(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO customers (id, name, currency, timezone, billing_anchor_day) VALUES
		('acme', 'Acme', 'EUR', 'Europe/Berlin', 1), ('beta', 'Beta', 'USD', 'UTC', 1), ('gamma', 'Gamma', 'GBP', 'UTC', 1)`)
	exec(`INSERT INTO outcome_types (key, name, human_minutes, annual_cost, annual_cost_currency, productive_hours,
			dispute_window_seconds, task_timeout_seconds) VALUES
		('support.ticket', 'Ticket', 12, 94000, 'USD', 1880, 0, 3600),
		('code.review', 'Review', 30, 60000, 'EUR', 1500, 0, 3600)`)
	exec(`INSERT INTO baseline_overrides (customer_id, outcome_type, human_minutes, annual_cost, annual_cost_currency, productive_hours)
		VALUES ('acme', 'code.review', 60, 72000, 'EUR', 1800)`)
	exec(`INSERT INTO exchange_rates (currency, effective_from, rate, created_at) VALUES ('EUR', '2026-01-01', 0.8, now())`)
	march := "2026-03-10T12:00:00Z"
	type task struct {
		id, customer, outcomeType, status, outcome, quality, at string
	}
	for _, tk := range []task{
		{"t1", "acme", "support.ticket", "billable", "succeeded", "0.9", march},
		{"t2", "acme", "support.ticket", "billable", "partial", "0.7", march},
		{"t3", "acme", "support.ticket", "billable", "succeeded", "0.95", march},
		{"t4", "acme", "support.ticket", "not_billable", "failed", "0.2", march},
		{"t5", "acme", "support.ticket", "expired", "", "", march},
		{"t6", "acme", "code.review", "billable", "succeeded", "0.85", march},
		{"t7", "acme", "code.review", "verifying", "succeeded", "0.95", march},
		{"t8", "acme", "support.ticket", "billable", "succeeded", "0.9", "2026-02-28T23:30:00Z"},
		{"t9", "acme", "support.ticket", "billable", "succeeded", "", "2026-03-31T22:30:00Z"},
		{"t11", "acme", "support.ticket", "billable", "succeeded", "", "2026-01-10T12:00:00Z"},
		{"t10", "beta", "support.ticket", "billable", "succeeded", "0.99", march},
	} {
		exec(`WITH k AS (INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ($1, $2, $7) RETURNING *)
			INSERT INTO tasks (task_id, customer_id, opened_at, outcome_type, status, outcome, quality, status_at)
			SELECT task_id, customer_id, opened_at, $3, $4, NULLIF($5, ''), NULLIF($6, '')::numeric, $7 FROM k`,
			tk.id, tk.customer, tk.outcomeType, tk.status, tk.outcome, tk.quality, tk.at)
	}
	type usage struct {
		id, task, model, cost string
	}
	for _, u := range []usage{
		{"u1a", "t1", "big", "2"}, {"u1b", "t1", "big", "1"},
		{"u2a", "t2", "small", "0.4"}, {"u2b", "t2", "", "0.1"},
		{"u3", "t3", "small", "0.3"}, {"u4", "t4", "small", "0.2"},
		{"u5a", "t5", "big", "0.5"}, {"u5b", "t5", "new-model", ""},
		{"u6", "t6", "big", "1.2"}, {"u7", "t7", "big", "0.8"}, {"u8", "t8", "small", "0.1"},
		{"u9", "t9", "small", "5"}, {"u11", "t11", "small", "0.05"}, {"u10", "t10", "tiny", "7"},
	} {
		exec(`INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, cost_usd)
			SELECT $1, '\x00', 'task.usage', customer_id, task_id, now(), now(), '{}', NULLIF($3, ''), NULLIF($4, '')::numeric
			FROM tasks WHERE task_id = $2`, u.id, u.task, u.model, u.cost)
	}
	// Invoices: the March period in Berlin is [28 Feb 23:00 UTC, 31 Mar 22:00 UTC).
	exec(`INSERT INTO invoices (id, customer_id, customer_name, period_start, period_end, currency, subtotal, credits_applied,
			total, created_at, updated_at) VALUES
		('inv-acme-mar', 'acme', 'Acme', '2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z', 'EUR', 15, 2, 13, now(), now()),
		('inv-acme-od', 'acme', 'Acme', '2026-03-15T00:00:00Z', '2026-03-20T00:00:00Z', 'EUR', 1, 0, 1, now(), now()),
		('inv-acme-void', 'acme', 'Acme', '2026-03-01T00:00:00Z', '2026-03-31T22:00:00Z', 'EUR', 100, 0, 100, now(), now()),
		('inv-beta-mar', 'beta', 'Beta', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z', 'USD', 10, 0, 10, now(), now()),
		('inv-gamma-mar', 'gamma', 'Gamma', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z', 'GBP', 5, 0, 5, now(), now())`)
	exec(`INSERT INTO invoice_lines (invoice_id, position, kind, description, outcome_type, quantity, amount, explanation, explanation_text) VALUES
		('inv-acme-mar', 1, 'charge', 'Tickets', 'support.ticket', 8, 8, '{}', ''),
		('inv-acme-mar', 2, 'charge', 'Reviews', 'code.review', 1, 4, '{}', ''),
		('inv-acme-mar', 3, 'platform_fee', 'Platform', '', 1, 3, '{}', ''),
		('inv-acme-mar', 4, 'prepaid_credits', 'Credits', '', 1, -2, '{}', ''),
		('inv-acme-od', 1, 'charge', 'Tickets', 'support.ticket', 1, 1, '{}', ''),
		('inv-acme-void', 1, 'charge', 'Tickets', 'support.ticket', 1, 100, '{}', ''),
		('inv-beta-mar', 1, 'charge', 'Tickets', 'support.ticket', 1, 10, '{}', ''),
		('inv-gamma-mar', 1, 'charge', 'Tickets', 'support.ticket', 1, 5, '{}', '')`)
	exec(`UPDATE invoices SET status = 'finalized', number = id, issue_date = '2026-04-02', finalized_at = now()
		WHERE id <> 'inv-acme-od'`)
	exec(`UPDATE invoices SET status = 'void', void_reason = 'wrong', voided_at = now() WHERE id = 'inv-acme-void'`)
}

func econRange(t *testing.T, from, to string) billing.DateRange {
	t.Helper()
	r, err := billing.ParseDateRange(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func econWant(t *testing.T, name string, got any, want string) {
	t.Helper()
	var g *decimal.Decimal
	switch v := got.(type) {
	case decimal.Decimal:
		g = &v
	case *decimal.Decimal:
		g = v
	}
	switch {
	case want == "nil":
		if g != nil {
			t.Errorf("%s = %s, want nil", name, g)
		}
	case g == nil:
		t.Errorf("%s = nil, want %s", name, want)
	case !g.Equal(dec(want)):
		t.Errorf("%s = %s, want %s", name, g, want)
	}
}

func TestMarginOfASeededMonth(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	m, err := db.Margin(context.Background(), "acme", econRange(t, "2026-03-01", "2026-04-01"))
	if err != nil {
		t.Fatal(err)
	}
	tot := m.Total
	// t1–t8: t8 is March in Berlin, t9 April. Cost 3 + 0.5 + 0.3 + 0.2 + 0.5 + 1.2 + 0.8 + 0.1 = 6.6 USD.
	if tot.Tasks != 8 || tot.BillableTasks != 5 || tot.NotBilledTasks != 2 || tot.PendingTasks != 1 || tot.Unpriced != 1 {
		t.Errorf("counts: %+v", tot.Tally)
	}
	econWant(t, "cost usd", tot.CostUSD, "6.6")
	econWant(t, "cost eur", tot.Cost, "5.28")
	// Revenue: 15 + 1 (the void invoice and the credits line left out); margin 16 − 5.28 = 10.72 = 67 %.
	econWant(t, "revenue", tot.Revenue, "16")
	econWant(t, "margin", tot.GrossMargin, "10.72")
	econWant(t, "margin %", tot.MarginPercent, "67")
	econWant(t, "paid", m.Revenue.Paid, "14")
	if m.Revenue.Invoices != 2 || m.Revenue.Straddling != 0 {
		t.Errorf("invoices %d straddling %d", m.Revenue.Invoices, m.Revenue.Straddling)
	}
	// Billable outcomes 4 + 0.5; 6.6 / 4.5.
	econWant(t, "cost per billable outcome", tot.CostPerBillableOutcome(), "1.466667")
	// t4 and t5: 0.7 of 6.6.
	econWant(t, "not billed share", tot.NotBilledCostShare(), "0.1061")
	byType := map[string]billing.MarginLine{}
	for _, l := range m.ByOutcomeType {
		byType[l.Key] = l
	}
	// Tickets: 4.6 USD = 3.68 EUR against 9; reviews 2 USD = 1.6 EUR against 4; the platform fee alone.
	econWant(t, "ticket cost", byType["support.ticket"].CostUSD, "4.6")
	econWant(t, "ticket margin %", byType["support.ticket"].MarginPercent, "59.11")
	econWant(t, "review margin", byType["code.review"].GrossMargin, "2.4")
	econWant(t, "no type revenue", byType[""].Revenue, "3")
	byModel := map[string]billing.MarginLine{}
	for _, l := range m.ByModel {
		byModel[l.Key] = l
	}
	// big: t1, t5, t6, t7 = 5.5; small: t2, t3, t4, t8 = 1.1. Ticket revenue 9 splits 1 : 2.5
	// (t1 against t2 ½ + t3 + t8), review revenue 4 goes to big.
	econWant(t, "big cost", byModel["big"].CostUSD, "5.5")
	econWant(t, "small cost", byModel["small"].CostUSD, "1.1")
	econWant(t, "big revenue", byModel["big"].Revenue.Round(4), "6.5714")
	econWant(t, "small revenue", byModel["small"].Revenue.Round(4), "6.4286")
	econWant(t, "unallocated", m.UnallocatedRevenue, "3")
	if len(m.ByModel) != 2 {
		t.Errorf("models: %+v", m.ByModel)
	}
}

func TestMarginEdgesAndErrors(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	ctx := context.Background()
	tests := []struct {
		from, to string
		tasks    int64
		cost     string
	}{
		// Less than a day, read task by task: only t8.
		{"2026-02-28T23:00:00Z", "2026-03-01T00:00:00Z", 1, "0.1"},
		// Starting 15 minutes after t8, ending at Berlin midnight: t1–t7 from the rollup.
		{"2026-02-28T23:45:00Z", "2026-03-31T22:00:00Z", 7, "6.5"},
		// Running into April by an hour in UTC terms picks up t9 from the partial day.
		{"2026-03-01", "2026-03-31T23:00:00Z", 9, "11.6"},
		// A whole year of dates: everything of acme's.
		{"2026-01-01", "2027-01-01", 10, "11.65"},
	}
	for _, tt := range tests {
		m, err := db.Margin(ctx, "acme", econRange(t, tt.from, tt.to))
		if err != nil {
			t.Fatal(err)
		}
		if m.Total.Tasks != tt.tasks || !m.Total.CostUSD.Equal(dec(tt.cost)) {
			t.Errorf("[%s, %s): %d tasks costing %s, want %d costing %s", tt.from, tt.to, m.Total.Tasks, m.Total.CostUSD, tt.tasks, tt.cost)
		}
	}
	if _, err := db.Margin(ctx, "nobody", econRange(t, "2026-03-01", "2026-04-01")); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("unknown customer: %v", err)
	}
	// A customer without a rate shows USD cost and no margin.
	m, err := db.Margin(ctx, "gamma", econRange(t, "2026-03-01", "2026-04-01"))
	if err != nil || m.Rate != nil || m.Total.GrossMargin != nil || !m.Total.Revenue.Equal(dec("5")) {
		t.Errorf("gamma: %+v %v", m.Total, err)
	}
}

func TestVendorMargin(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	v, err := db.VendorMargin(context.Background(), econRange(t, "2026-03-01", "2026-04-01"))
	if err != nil {
		t.Fatal(err)
	}
	// acme 16 EUR = 20 USD against 6.6; beta 10 against 7; gamma's GBP has no rate.
	econWant(t, "revenue usd", v.RevenueUSD, "30")
	econWant(t, "cost usd", v.CostUSD, "13.6")
	econWant(t, "margin usd", v.GrossMarginUSD, "16.4")
	econWant(t, "margin %", v.MarginPercent, "54.67")
	if len(v.Customers) != 3 || len(v.Unconverted) != 1 || v.Unconverted[0] != "gamma" {
		t.Fatalf("customers %d, unconverted %v", len(v.Customers), v.Unconverted)
	}
	econWant(t, "beta margin", v.Customers[1].GrossMargin, "3")
	econWant(t, "acme margin", v.Customers[0].GrossMargin, "10.72")
	if v.Tally.Tasks != 9 {
		t.Errorf("tasks %d", v.Tally.Tasks)
	}
}

func TestLaborEquivalent(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	le, err := db.LaborEquivalent(context.Background(), "acme", econRange(t, "2026-03-01", "2026-04-01"))
	if err != nil {
		t.Fatal(err)
	}
	// Tickets t1, t2 (½), t3, t8: 3.5 × 12 min = 0.7 h, 35 USD = 28 EUR. Review t6 with acme's
	// override: 1 h, 40 EUR. Paid: 13 + 1. Savings 68 − 14 = 54.
	econWant(t, "outcomes", le.Outcomes, "4.5")
	econWant(t, "hours", le.Hours, "1.7")
	if le.LaborCost == nil || !le.LaborCost.Amount.Equal(dec("68")) || le.LaborCost.Currency != "EUR" {
		t.Errorf("labor cost %v", le.LaborCost)
	}
	econWant(t, "paid", le.Paid.Amount, "14")
	if le.Savings == nil || !le.Savings.Amount.Equal(dec("54")) {
		t.Errorf("savings %v", le.Savings)
	}
	if len(le.Lines) != 2 || !le.Lines[0].Basis.Override || le.Lines[0].OutcomeType != "code.review" {
		t.Errorf("lines %+v", le.Lines)
	}
	// Trend: October to March in Berlin; January has t11 (0.2 h, 8 EUR), February nothing.
	if len(le.Trend) != 6 {
		t.Fatalf("trend: %d periods", len(le.Trend))
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if got := le.Trend[0].From.In(berlin); got != time.Date(2025, 10, 1, 0, 0, 0, 0, berlin) {
		t.Errorf("trend starts %s", got)
	}
	jan, feb, mar := le.Trend[3], le.Trend[4], le.Trend[5]
	econWant(t, "january hours", jan.Hours, "0.2")
	if jan.Savings == nil || !jan.Savings.Amount.Equal(dec("8")) || !feb.Outcomes.IsZero() || !mar.Hours.Equal(le.Hours) {
		t.Errorf("trend: jan %+v feb %+v mar %+v", jan, feb, mar)
	}
}

func TestModelEconomics(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	ctx := context.Background()
	r := econRange(t, "2026-03-01", "2026-04-01")
	me, err := db.ModelEconomics(ctx, "", r, billing.DefaultModelBar())
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]billing.ModelStats{}
	for _, m := range me.Models {
		stats[m.OutcomeType+"/"+m.Model] = m
	}
	// Tickets — big: t1, t5 (no outcome): success 1, quality 0.9, 3.5 USD for 1 billable outcome.
	// small: t2 ½, t3, t4 failed, t8: success 2.5 / 4, quality 0.6875. tiny: beta's t10, 7 USD.
	big, small := stats["support.ticket/big"], stats["support.ticket/small"]
	econWant(t, "big success", big.SuccessRate(), "1")
	econWant(t, "big cost per task", big.CostPerTask(), "1.75")
	econWant(t, "big cpo", big.CostPerBillableOutcome(), "3.5")
	econWant(t, "small success", small.SuccessRate(), "0.625")
	econWant(t, "small quality", small.AverageQuality(), "0.6875")
	econWant(t, "small cpo", small.CostPerBillableOutcome(), "0.44")
	if !big.ClearsBar || small.ClearsBar || !stats["support.ticket/tiny"].ClearsBar {
		t.Errorf("bar: big %v small %v tiny %v", big.ClearsBar, small.ClearsBar, stats["support.ticket/tiny"].ClearsBar)
	}
	recs := map[string]billing.ModelRecommendation{}
	for _, rec := range me.Recommendations {
		recs[rec.OutcomeType] = rec
	}
	// big at 3.5 per outcome; tiny's one outcome at 7 would have cost 3.5 less.
	if rec := recs["support.ticket"]; rec.Model != "big" || !rec.CostPerBillableOutcome.Equal(dec("3.5")) || !rec.Savings.Equal(dec("3.5")) {
		t.Errorf("ticket recommendation %+v", rec)
	}
	// Reviews: big alone (t6, t7): success 1, quality 0.9, 2 USD for 1 billable outcome.
	if rec := recs["code.review"]; rec.Model != "big" || !rec.CostPerBillableOutcome.Equal(dec("2")) || !rec.Savings.IsZero() {
		t.Errorf("review recommendation %+v", rec)
	}
	// A lower bar lets small in: 0.44 per outcome saves big 3.5 − 0.44 and tiny 7 − 0.44.
	me, err = db.ModelEconomics(ctx, "support.ticket", r, billing.ModelBar{MinSuccessRate: dec("0.6"), MinQuality: dec("0.6")})
	if err != nil {
		t.Fatal(err)
	}
	if len(me.Recommendations) != 1 || me.Recommendations[0].Model != "small" || !me.Recommendations[0].Savings.Equal(dec("9.62")) {
		t.Errorf("lower bar: %+v", me.Recommendations)
	}
	if _, err := db.ModelEconomics(ctx, "", r, billing.ModelBar{MinSuccessRate: dec("2")}); billing.ErrorField(err) != "min_success_rate" {
		t.Errorf("bad bar: %v", err)
	}
}

// econFoldAll folds until nothing is pending.
func econFoldAll(t *testing.T, db *postgres.DB) {
	t.Helper()
	for {
		n, err := db.FoldEconomics(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// econPending is how many dirty rows wait for the folder.
func econPending(t *testing.T, db *postgres.DB) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM economics_dirty`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// econReads is every economics view of the seeded customers over ranges of whole days, partial
// days at either end, less than a day and a year, as JSON: equal strings, equal reports.
func econReads(t *testing.T, db *postgres.DB) string {
	t.Helper()
	ctx := context.Background()
	var out []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	ranges := []billing.DateRange{
		econRange(t, "2026-03-01", "2026-04-01"),
		econRange(t, "2026-02-28T23:45:00Z", "2026-03-31T22:00:00Z"),
		econRange(t, "2026-03-01", "2026-03-31T23:00:00Z"),
		econRange(t, "2026-03-10T11:00:00Z", "2026-03-10T13:00:00Z"),
		econRange(t, "2026-01-01", "2027-01-01"),
	}
	for _, r := range ranges {
		for _, c := range []string{"acme", "beta"} {
			add(db.Margin(ctx, c, r))
			add(db.LaborEquivalent(ctx, c, r))
		}
		add(db.VendorMargin(ctx, r))
		add(db.ModelEconomics(ctx, "", r, billing.DefaultModelBar()))
	}
	raw, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// econDiff fails t when two econReads differ, showing the first differing line.
func econDiff(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Errorf("%s: reads differ at line %d: %q, want %q", what, i+1, g[i], w[i])
			return
		}
	}
	t.Errorf("%s: reads differ in length: %d lines, want %d", what, len(g), len(w))
}

// The folder keeps the rollups equal to what economics_rebuild computes from scratch, through
// late prices, state changes, a customer's new timezone and tasks created by ingest; and reads
// are the same whether those changes are still pending, folded, or rebuilt.
func TestEconomicsRollupsMatchARebuild(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	ctx := context.Background()
	if econPending(t, db) == 0 {
		t.Fatal("the seed left nothing for the folder")
	}
	econFoldAll(t, db)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// A price for new-model arrives: t5's unpriced usage is costed, and its model changes.
	exec(`UPDATE events SET cost_usd = 0.75 WHERE id = 'u5b'`)
	// t7's dispute window passes; t4 moves to April; t2 is corrected to succeeded.
	exec(`UPDATE tasks SET status = 'billable', status_at = '2026-03-20T00:00:00Z' WHERE task_id = 't7'`)
	exec(`UPDATE tasks SET status_at = '2026-04-02T00:00:00Z' WHERE task_id = 't4'`)
	exec(`UPDATE tasks SET outcome = 'succeeded', quality = 1 WHERE task_id = 't2'`)
	// An update that changes nothing reported marks nothing dirty.
	before := econPending(t, db)
	exec(`UPDATE tasks SET updated_at = now()`)
	if after := econPending(t, db); after != before {
		t.Errorf("an update of nothing reported left %d dirty rows", after-before)
	}
	// beta moves to Tokyo.
	exec(`UPDATE customers SET timezone = 'Asia/Tokyo' WHERE id = 'beta'`)
	// A task and its usage through ingest, in one batch.
	now := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	var batch []billing.IncomingEvent
	for i, raw := range []string{
		`{"id":"i1","type":"task.started","customer_id":"beta","task_id":"n1","occurred_at":"2026-03-04T00:00:00Z","outcome_type":"support.ticket"}`,
		`{"id":"i2","type":"task.usage","customer_id":"beta","task_id":"n1","occurred_at":"2026-03-04T00:01:00Z","cost":"0.25","description":"tool"}`,
		`{"id":"i3","type":"task.usage","customer_id":"beta","task_id":"n1","occurred_at":"2026-03-04T00:02:00Z","model":"no-such-model","input_tokens":10,"output_tokens":10}`,
	} {
		e, err := billing.DecodeEvent([]byte(raw), now)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		batch = append(batch, billing.IncomingEvent{Event: e, Body: []byte(raw)})
	}
	if res, err := db.IngestEvents(ctx, batch); err != nil || res[1].Status != billing.IngestAccepted {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	pending := econReads(t, db)

	snapshot := func() string {
		t.Helper()
		var s string
		err := db.Pool.QueryRow(ctx, `SELECT COALESCE(string_agg(concat_ws('|', customer_id, day, outcome_type, model, status, tasks,
				succeeded, partial, failed, escalated, quality_sum::float8, quality_n, cost_usd::float8, unpriced), E'\n'
				ORDER BY customer_id, day, outcome_type, model, status), '')
			FROM economics_daily WHERE tasks <> 0 OR cost_usd <> 0 OR unpriced <> 0`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	econFoldAll(t, db)
	folded := econReads(t, db)
	econDiff(t, "pending vs folded", pending, folded)
	live := snapshot()
	exec(`SELECT economics_rebuild()`)
	if rebuilt := snapshot(); live != rebuilt {
		t.Errorf("rollup kept by the folder:\n%s\n\nrebuilt:\n%s", live, rebuilt)
	}
	econDiff(t, "folded vs rebuilt", folded, econReads(t, db))
	var model string
	var unpriced int64
	if err := db.Pool.QueryRow(ctx, `SELECT model, unpriced FROM task_economics WHERE task_id = 't5'`).Scan(&model, &unpriced); err != nil ||
		model != "new-model" || unpriced != 0 {
		t.Errorf("t5: model %q unpriced %d %v; want new-model (0.75 > 0.5), 0", model, unpriced, err)
	}
}

// Reads are exact at every step of a fold that takes one dirty row at a time, including the
// steps where a task has been folded with some of its changes and not yet with others.
func TestEconomicsReadsExactWhileFolding(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	ctx := context.Background()
	want := econReads(t, db)
	for step := 1; ; step++ {
		n, err := db.FoldEconomics(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if step%5 == 0 {
			econDiff(t, fmt.Sprintf("after %d folds", step), econReads(t, db), want)
		}
	}
	econDiff(t, "all folded", econReads(t, db), want)
	// A task moving to another customer (its key, which its row and events follow), and one
	// deleted: both customers' reads follow.
	if _, err := db.Pool.Exec(ctx, `UPDATE task_keys SET customer_id = 'beta' WHERE task_id = 't3'`); err != nil {
		t.Fatal(err)
	}
	moved := econReads(t, db)
	econFoldAll(t, db)
	econDiff(t, "moved, folded", econReads(t, db), moved)
	if _, err := db.Pool.Exec(ctx, `DELETE FROM events WHERE task_id = 't3'; DELETE FROM tasks WHERE task_id = 't3'`); err != nil {
		t.Fatal(err)
	}
	deleted := econReads(t, db)
	if deleted == moved {
		t.Error("deleting t3 changed no read")
	}
	econFoldAll(t, db)
	econDiff(t, "deleted, folded", econReads(t, db), deleted)
}

// Concurrent ingest, state saves and several folders leave the rollups equal to a rebuild, with
// no deadlocks: the folders share tasks and rollup rows.
func TestEconomicsConcurrentFolders(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	econSeed(t, db)
	ctx := context.Background()
	now := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	stop := make(chan struct{})
	var folders sync.WaitGroup
	var folded atomic.Int64
	errs := make(chan error, 16)
	for range 3 {
		folders.Add(1)
		go func() {
			defer folders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := db.FoldEconomics(ctx, 7)
				if err != nil {
					errs <- err
					return
				}
				folded.Add(int64(n))
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 40 {
				// Every writer works on the same few tasks of both customers.
				task := fmt.Sprintf("c%d", i%5)
				customer := []string{"acme", "beta"}[i%5%2]
				raw := fmt.Sprintf(`{"id":"w%d-%d","type":"task.usage","customer_id":%q,"task_id":%q,"occurred_at":"2026-03-04T00:01:00Z","cost":"0.%d","description":"tool"}`,
					w, i, customer, task, 1+i%9)
				e, err := billing.DecodeEvent([]byte(raw), now)
				if err != nil {
					errs <- err
					return
				}
				if _, err := db.IngestEvents(ctx, []billing.IncomingEvent{{Event: e, Body: []byte(raw)}}); err != nil {
					errs <- err
					return
				}
				if _, err := db.Pool.Exec(ctx, `UPDATE tasks SET status = $2, status_at = $3, version = version + 1 WHERE task_id = $1`,
					task, []string{"open", "verifying", "billable"}[(w+i)%3], now.Add(time.Duration(w*i)*time.Hour)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	folders.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if folded.Load() == 0 {
		t.Error("the folders folded nothing while the writers ran")
	}
	pending := econReads(t, db)
	econFoldAll(t, db)
	folded2 := econReads(t, db)
	econDiff(t, "pending vs folded", pending, folded2)
	var live, rebuilt string
	q := `SELECT COALESCE(string_agg(concat_ws('|', customer_id, day, outcome_type, model, status, tasks, succeeded,
		quality_n, cost_usd::float8, unpriced), E'\n' ORDER BY customer_id, day, outcome_type, model, status), '')
		FROM economics_daily WHERE tasks <> 0 OR cost_usd <> 0 OR unpriced <> 0`
	if err := db.Pool.QueryRow(ctx, q).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `SELECT economics_rebuild()`); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, q).Scan(&rebuilt); err != nil {
		t.Fatal(err)
	}
	if live != rebuilt {
		t.Errorf("rollup kept by the folders:\n%s\n\nrebuilt:\n%s", live, rebuilt)
	}
}
