package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/pricing"
	"github.com/outcomebill/outcomebill/workflows"
)

// The demo: three customers of an AI vendor, three kinds of agent work with their human
// baselines, and a few hundred tasks over the last 60 days. Every id is fixed, so a second run
// finds everything there (the events come back as duplicates) and changes nothing.
var demoCustomers = []billing.Customer{
	{ID: "acme", Name: "Acme Support Co", Currency: "USD", Timezone: "America/New_York", AnchorDay: 1},
	{ID: "globex", Name: "Globex Finance GmbH", Currency: "EUR", Timezone: "Europe/Berlin", AnchorDay: 1},
	{ID: "initech", Name: "Initech KK", Currency: "JPY", Timezone: "Asia/Tokyo", AnchorDay: 15},
}

func demoOutcomeTypes() []billing.OutcomeType {
	d := decimal.RequireFromString
	return []billing.OutcomeType{
		{Key: "support.ticket_resolved", Name: "Support ticket resolved", Description: "A customer ticket closed without a human touching it",
			Baseline:      billing.LaborBaseline{HumanMinutes: d("12"), AnnualCost: money.New(d("62000"), "USD")},
			DisputeWindow: 72 * time.Hour, TaskTimeout: 7 * 24 * time.Hour},
		{Key: "finance.invoice_reconciled", Name: "Invoice reconciled", Description: "A supplier invoice matched to PO and receipt",
			Baseline:      billing.LaborBaseline{HumanMinutes: d("20"), AnnualCost: money.New(d("85000"), "USD")},
			DisputeWindow: 24 * time.Hour, TaskTimeout: 3 * 24 * time.Hour},
		{Key: "code.pr_merged", Name: "Pull request merged", Description: "A code change reviewed and merged",
			Baseline:      billing.LaborBaseline{HumanMinutes: d("90"), AnnualCost: money.New(d("180000"), "USD")},
			DisputeWindow: 7 * 24 * time.Hour, TaskTimeout: 14 * 24 * time.Hour},
	}
}

// demoModels are the models the demo agents use, cheapest first.
var demoModels = []string{"gpt-4.1-mini", "claude-haiku-4-5", "gemini-2.5-flash", "claude-sonnet-4-5", "gpt-4.1"}

func seedDemo(ctx context.Context, db *postgres.DB, log *slog.Logger) error {
	for _, c := range demoCustomers {
		if _, _, err := db.CreateCustomer(ctx, c); err != nil {
			return err
		}
	}
	types := demoOutcomeTypes()
	for _, o := range types {
		if _, _, err := db.PutOutcomeType(ctx, o); err != nil {
			return err
		}
	}
	// Globex's reconciliations are done by a pricier team than the default baseline.
	if _, _, err := db.PutBaselineOverride(ctx, billing.BaselineOverride{CustomerID: "globex", OutcomeType: "finance.invoice_reconciled",
		Baseline: billing.LaborBaseline{HumanMinutes: decimal.NewFromInt(25), AnnualCost: money.New(decimal.NewFromInt(78000), "EUR")}}); err != nil {
		return err
	}
	if err := seedDemoPlans(ctx, db); err != nil {
		return err
	}
	batch, err := demoEvents(time.Now().UTC())
	if err != nil {
		return err
	}
	accepted := 0
	for len(batch) > 0 {
		n := min(len(batch), 1000)
		results, err := db.IngestEvents(ctx, batch[:n])
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.Status == billing.IngestAccepted {
				accepted++
			} else if r.Status == billing.IngestRejected {
				return fmt.Errorf("demo event %s rejected: %s", r.ID, r.Err.Message)
			}
		}
		batch = batch[n:]
	}
	log.Info("demo data ready", "customers", len(demoCustomers), "outcome_types", len(types), "new_events", accepted)
	return nil
}

// demoEvents makes the demo's tasks: most succeed, some are partial, fail or escalate, a few are
// disputed or cancelled, and each uses one to three models. Times are relative to a day boundary
// so that reruns on the same day produce the same events; a later day adds that day's tasks.
func demoEvents(now time.Time) ([]billing.IncomingEvent, error) {
	types := []string{"support.ticket_resolved", "finance.invoice_reconciled", "code.pr_merged"}
	today := now.Truncate(24 * time.Hour)
	var out []billing.IncomingEvent
	add := func(fields map[string]any) error {
		raw, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		e, err := billing.DecodeEvent(raw, now)
		if err != nil {
			return fmt.Errorf("demo event %v: %w", fields["id"], err)
		}
		out = append(out, billing.IncomingEvent{Event: e, Body: raw})
		return nil
	}
	for day := 60; day >= 1; day-- {
		start := today.Add(-time.Duration(day) * 24 * time.Hour)
		// One generator per day: a day's tasks are the same whenever the demo runs.
		rng := rand.New(rand.NewPCG(uint64(start.Unix()), 42))
		for n := 0; n < 4; n++ {
			cust := demoCustomers[rng.IntN(len(demoCustomers))].ID
			typ := types[rng.IntN(len(types))]
			task := fmt.Sprintf("demo-%s-%d", start.Format("20060102"), n)
			at := start.Add(time.Duration(rng.IntN(20*60)) * time.Minute)
			priority := "normal"
			if rng.IntN(10) == 0 {
				priority = "urgent"
			}
			if err := add(map[string]any{"id": task + "-start", "type": "task.started", "customer_id": cust, "task_id": task,
				"occurred_at": at.Format(time.RFC3339), "outcome_type": typ, "priority": priority}); err != nil {
				return nil, err
			}
			for u := 0; u < 1+rng.IntN(3); u++ {
				at = at.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
				if err := add(map[string]any{"id": fmt.Sprintf("%s-usage-%d", task, u), "type": "task.usage", "customer_id": cust,
					"task_id": task, "occurred_at": at.Format(time.RFC3339), "model": demoModels[rng.IntN(len(demoModels))],
					"input_tokens": 2000 + rng.IntN(30000), "cached_input_tokens": rng.IntN(20000), "output_tokens": 200 + rng.IntN(4000)}); err != nil {
					return nil, err
				}
			}
			status := []string{"succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "partial", "failed", "escalated"}[rng.IntN(9)]
			at = at.Add(time.Duration(1+rng.IntN(10)) * time.Minute)
			if err := add(map[string]any{"id": task + "-outcome", "type": "task.outcome", "customer_id": cust, "task_id": task,
				"occurred_at": at.Format(time.RFC3339), "status": status, "quality": json.Number(fmt.Sprintf("0.%d", 70+rng.IntN(30))),
				"evidence": "https://example.com/evidence/" + task}); err != nil {
				return nil, err
			}
			if rng.IntN(25) == 0 {
				if err := add(map[string]any{"id": task + "-dispute", "type": "task.disputed", "customer_id": cust, "task_id": task,
					"occurred_at": at.Add(2 * time.Hour).Format(time.RFC3339), "reason": "customer reopened the case"}); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// demoPlans prices the demo customers' work: outcome prices against the human baseline, a seat
// equivalent for code, an urgent surcharge and a platform fee, each in the customer's currency.
var demoPlans = []struct {
	id, name, customer, pricing string
}{
	{"outcomes-usd", "Outcomes (USD)", "acme", `{"currency": "USD",
		"terms": {"platform_fee": "49.00", "urgent_multiplier": "1.5"},
		"prices": [
			{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"},
			{"outcome_type": "finance.invoice_reconciled", "model": "labor_share", "share": "0.3", "floor": "2.00", "cap": "8.00"},
			{"outcome_type": "code.pr_merged", "model": "per_outcome", "unit_amount": "12.00"}]}`},
	{"outcomes-eur", "Outcomes (EUR)", "globex", `{"currency": "EUR",
		"terms": {"platform_fee": "45.00"},
		"prices": [
			{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.90"},
			{"outcome_type": "finance.invoice_reconciled", "model": "labor_share", "share": "0.25", "floor": "1.50", "cap": "7.00"},
			{"outcome_type": "code.pr_merged", "model": "per_outcome", "unit_amount": "11.00"}]}`},
	{"seats-jpy", "Seat equivalents (JPY)", "initech", `{"currency": "JPY",
		"terms": {"minimum_commitment": "20000"},
		"prices": [
			{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "150"},
			{"outcome_type": "finance.invoice_reconciled", "model": "per_outcome", "unit_amount": "300"},
			{"outcome_type": "code.pr_merged", "model": "seat_equivalent", "outcomes_per_seat": "40", "seat_price": "90000", "round_up_seats": true}]}`},
}

func seedDemoPlans(ctx context.Context, db *postgres.DB) error {
	for _, p := range demoPlans {
		var v pricing.PlanVersion
		if err := json.Unmarshal([]byte(p.pricing), &v); err != nil {
			return fmt.Errorf("demo plan %s: %w", p.id, err)
		}
		if _, _, err := db.CreatePlan(ctx, billing.Plan{ID: p.id, Name: p.name, Pricing: v}); err != nil {
			return fmt.Errorf("demo plan %s: %w", p.id, err)
		}
		if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: p.customer, PlanID: p.id,
			StartsAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			return fmt.Errorf("demo subscription %s: %w", p.customer, err)
		}
	}
	// Acme bought prepaid outcomes: 100 USD of credit for 90, good for a year from the demo's epoch.
	_, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: "demo-prepaid",
		Amount: money.New(decimal.NewFromInt(100), "USD"), PricePaid: money.New(decimal.NewFromInt(90), "USD"),
		ExpiresAt: time.Now().UTC().Truncate(24*time.Hour).AddDate(1, 0, 0)})
	return err
}

// demoInvoices bills the demo customers' last two closed periods once their tasks have settled:
// the older invoice is finalized (it gets a number), the newer stays a draft for review.
func demoInvoices(ctx context.Context, db *postgres.DB, runner *workflows.InvoiceRunner, log *slog.Logger) error {
	// The demo's events reach their workflows through the outbox, and the workflows save each
	// task's state through activities: an empty outbox is not enough, a task still open or
	// verifying after its dispute window would be billed as it stood (a run of the same data
	// came out 4.52 USD apart). Wait until the outbox is empty and every task whose outcome is
	// older than its type's dispute window has settled.
	for {
		var waiting int
		if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox) + (
			SELECT count(*) FROM tasks t JOIN outcome_types o ON o.key = t.outcome_type
			WHERE t.status IN ('open', 'verifying') AND EXISTS (
				SELECT 1 FROM events e WHERE e.task_id = t.task_id AND e.type = 'task.outcome'
					AND e.occurred_at < now() - make_interval(secs => o.dispute_window_seconds) - interval '1 minute'))`).Scan(&waiting); err != nil {
			return err
		}
		if waiting == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	now := time.Now()
	for _, c := range demoCustomers {
		loc, err := billing.LoadLocation(c.Timezone)
		if err != nil {
			return err
		}
		latest := billing.LastClosedPeriod(now, loc, c.AnchorDay, 0)
		for _, p := range []billing.Period{latest.Previous(loc), latest} {
			run, err := runner.StartInvoiceRun(ctx, c.ID, p)
			if err != nil {
				return err
			}
			inv, err := waitForDraft(ctx, db, run.ID)
			if err != nil {
				return err
			}
			if p != latest && inv != "" {
				if _, err := db.FinalizeInvoice(ctx, inv); err != nil {
					return err
				}
			}
		}
	}
	log.Info("demo invoices ready", "customers", len(demoCustomers))
	return nil
}

func waitForDraft(ctx context.Context, db *postgres.DB, runID string) (string, error) {
	for {
		run, err := db.InvoiceRun(ctx, runID)
		if err != nil {
			return "", err
		}
		switch run.Status {
		case billing.RunDrafted, billing.RunFinalized:
			return run.InvoiceID, nil
		case billing.RunFailed:
			return "", fmt.Errorf("invoice run %s failed: %s", runID, run.Error)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
