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
