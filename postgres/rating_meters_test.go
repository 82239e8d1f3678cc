package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// Usage charges on meters and percentage charges on transactions, worked out by hand.
func TestRatePeriodMetersAndTransactions(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	mustOutcomeType(t, db, "finance.invoice_reconciled", "20", "85000")
	p := plan(t, "usage", `{"currency": "USD", "prices": [
		{"meter": "tokens.output", "model": "per_unit", "unit_amount": "0.00002"},
		{"meter": "cost_usd", "model": "graduated", "tiers": [
			{"up_to": "1", "unit_amount": "0", "flat_amount": "0"},
			{"up_to": null, "unit_amount": "1.5", "flat_amount": "0"}]},
		{"meter": "transaction_amount", "model": "percentage", "rate": "0.01", "min": "2.00"}]}`)
	if _, _, err := db.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "usage", StartsAt: jan1}); err != nil {
		t.Fatal(err)
	}
	march := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	// Three tasks: two reconciled invoices of 1,000.00 and 50.00, one escalated (not billable).
	var batch []billing.IncomingEvent
	for i, amount := range []string{"1000.00", "50.00", "99999.00"} {
		task := fmt.Sprintf("r%d", i)
		batch = append(batch,
			incomingAt(t, march, map[string]any{"id": task + "-s", "type": "task.started", "customer_id": "acme", "task_id": task,
				"outcome_type": "finance.invoice_reconciled", "metadata": map[string]any{"transaction_amount": amount}}),
			// 100,000 output tokens of gpt-4.1-mini each: 0.16 USD of cost, 2.00 at 0.00002 a token.
			incomingAt(t, march, map[string]any{"id": task + "-u", "type": "task.usage", "customer_id": "acme", "task_id": task,
				"model": "gpt-4.1-mini", "input_tokens": 0, "output_tokens": 100000}))
	}
	if _, err := db.IngestEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i, status := range []string{"billable", "billable", "not_billable"} {
		if _, err := db.Pool.Exec(ctx, `UPDATE tasks SET status = $2, status_at = $3, outcome_type = 'finance.invoice_reconciled',
			outcome = 'succeeded' WHERE task_id = $1`, fmt.Sprintf("r%d", i), status, march.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	res, _, err := db.RatePeriod(ctx, "acme", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// tokens.output: 300,000 × 0.00002 = 6.00 (usage counts whether or not the task bills).
	// cost_usd: 3 × 0.16 = 0.48, all within the free first tier: 0.00.
	// transaction_amount: billable tasks only: 1% of 1,000 = 10.00 and 1% of 50 = 0.50 → min 2.00.
	want := []string{"6", "0", "12"}
	if len(res.Lines) != 3 {
		t.Fatalf("lines: %+v", res.Lines)
	}
	for i, l := range res.Lines {
		if !l.Amount.Equal(dec(want[i])) {
			t.Errorf("line %d (%s) = %s, want %s", i, l.Description, l.Amount, want[i])
		}
	}
	if !res.Total.Equal(dec("18")) {
		t.Errorf("total %s, want 18.00", res.Total)
	}
	// A plan on a meter nobody measures is refused, not rated to nothing.
	bad := plan(t, "bad", `{"currency": "USD", "prices": [{"meter": "gpu_minutes", "model": "per_unit", "unit_amount": "1"}]}`)
	if _, _, err := db.CreatePlan(ctx, bad); billing.ErrorField(err) != "prices[0].meter" {
		t.Errorf("unknown meter: %v, want invalid prices[0].meter", err)
	}
}
