package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// BenchmarkRatePeriod rates a month of 100,000 billable tasks of one customer end to end: plan and
// subscription lookup, outcome counts, baselines, credits, pricing. The goal of issue 5 is at least
// 250,000 outcomes a second. with_cost_plus adds a cost_plus charge, which sums one usage event per
// task.
func BenchmarkRatePeriod(b *testing.B) {
	const tasks = 100_000
	db := pgtest.NewDB(b)
	ctx := context.Background()
	seedRatingFixture(b, db, "acme", tasks)
	for _, id := range []string{"g1", "g2"} {
		if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: id, Amount: usd("1000"), PricePaid: usd("900")}); err != nil {
			b.Fatal(err)
		}
	}
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, cost_usd)
		SELECT 'e' || i, '\x00', 'task.usage', 'acme', 't' || i, $1::timestamptz, $1::timestamptz, '{}', 'some-model', 0.0123
		FROM generate_series(1, $2::int) i`, jan1, tasks)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}

	for _, bc := range []struct{ name, plan string }{{"outcomes", "outcomes"}, {"with_cost_plus", "resale"}} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := db.Pool.Exec(ctx, `DELETE FROM subscriptions`); err != nil {
				b.Fatal(err)
			}
			if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: bc.plan, StartsAt: jan1}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, info, err := db.RatePeriod(ctx, "acme", jan1, feb1)
				if err != nil {
					b.Fatal(err)
				}
				if info.Tasks != tasks || !res.Total.IsPositive() {
					b.Fatalf("rated %d tasks, total %s", info.Tasks, res.Total)
				}
			}
			b.ReportMetric(float64(tasks)*float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
		})
	}
	// Rating and writing the draft: the invoice run's one call. It rates, records the 100,000
	// billed tasks in invoice_tasks and writes the lines, in one repeatable-read transaction.
	b.Run("build_draft", func(b *testing.B) {
		if _, err := db.Pool.Exec(ctx, `DELETE FROM subscriptions`); err != nil {
			b.Fatal(err)
		}
		if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "outcomes", StartsAt: jan1}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			inv, err := db.BuildDraft(ctx, "acme", jan1, feb1)
			if err != nil {
				b.Fatal(err)
			}
			if inv.Value.Outcomes == 0 || !inv.Total.IsPositive() {
				b.Fatalf("draft %+v", inv.Value)
			}
		}
		b.ReportMetric(float64(tasks)*float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
	})
}

// ratingPrices are the outcome prices of the rating benchmarks' plans: four outcome types, one per
// price model that counts outcomes (labor_share's with a customer's baseline override).
const ratingPrices = `{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"},
	{"outcome_type": "finance.invoice_reconciled", "model": "labor_share", "share": "0.3", "floor": "5", "cap": "11"},
	{"outcome_type": "code.pr_merged", "model": "graduated", "tiers": [{"up_to": "10000", "unit_amount": "2", "flat_amount": "0"},
		{"up_to": null, "unit_amount": "1.5", "flat_amount": "0"}]},
	{"outcome_type": "sales.lead_qualified", "model": "seat_equivalent", "outcomes_per_seat": "600", "seat_price": "30", "round_up_seats": true}`

// seedRatingFixture makes the customer, the four outcome types of ratingPrices with a baseline
// override, the plans "outcomes" (ratingPrices, a platform fee and an urgent surcharge) and
// "resale" (the same and cost_plus), and tasks billable tasks of the customer spread over January
// 2026 (one in ten urgent, one in seven partial), inserted in SQL with triggers off: the economics
// triggers' dirty rows are nothing rating reads, and would make a million tasks take minutes.
// The customer has no subscription yet.
func seedRatingFixture(b *testing.B, db *postgres.DB, customer string, tasks int) {
	b.Helper()
	ctx := context.Background()
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: customer, Name: customer, Currency: "USD"}); err != nil {
		b.Fatal(err)
	}
	for _, key := range []string{"support.ticket_resolved", "finance.invoice_reconciled", "code.pr_merged", "sales.lead_qualified"} {
		if _, _, err := db.PutOutcomeType(ctx, billing.OutcomeType{Key: key, Name: key, DisputeWindow: time.Hour, TaskTimeout: time.Hour,
			Baseline: billing.LaborBaseline{HumanMinutes: dec("12"), AnnualCost: usd("94000")}}); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := db.PutBaselineOverride(ctx, billing.BaselineOverride{CustomerID: customer, OutcomeType: "finance.invoice_reconciled",
		Baseline: billing.LaborBaseline{HumanMinutes: dec("45"), AnnualCost: usd("94000")}}); err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct{ id, prices string }{
		{"outcomes", ratingPrices},
		{"resale", ratingPrices + `, {"model": "cost_plus", "markup": "0.2"}`},
	} {
		if _, _, err := db.CreatePlan(ctx, plan(b, p.id, `{"currency": "USD", "terms": {"platform_fee": "49.00", "urgent_multiplier": "1.5"}, "prices": [`+p.prices+`]}`)); err != nil {
			b.Fatal(err)
		}
	}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	// Triggers off for this session only (a superuser setting: the test and benchmark servers
	// connect as postgres).
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET session_replication_role`)
	_, err = conn.Exec(ctx, `
		INSERT INTO tasks (task_id, customer_id, opened_at, status, outcome_type, priority, status_at, outcome)
		SELECT 't' || i, $1, $2::timestamptz + (i::float8 / ($4::int + 1)) * ($3::timestamptz - $2::timestamptz), 'billable',
			(ARRAY['support.ticket_resolved', 'finance.invoice_reconciled', 'code.pr_merged', 'sales.lead_qualified'])[1 + i % 4],
			CASE WHEN i % 10 = 0 THEN 'urgent' ELSE 'normal' END,
			$2::timestamptz + (i::float8 / ($4::int + 1)) * ($3::timestamptz - $2::timestamptz),
			CASE WHEN i % 7 = 0 THEN 'partial' ELSE 'succeeded' END
		FROM generate_series(1, $4::int) i`, customer, jan1, feb1, tasks)
	if err != nil {
		b.Fatal(err)
	}
	// With the triggers off, foreign keys are not checked either: the keys are written after the
	// tasks.
	if _, err := conn.Exec(ctx, `INSERT INTO task_keys (task_id, customer_id, opened_at)
		SELECT task_id, customer_id, opened_at FROM tasks WHERE customer_id = $1`, customer); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE tasks`); err != nil {
		b.Fatal(err)
	}
}
