package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/workflows"
)

// billTasks sets acme up on a per-outcome plan and sends n tasks that succeed at 'at'.
func billTasks(t *testing.T, h *harness, prefix string, n int, at time.Time) []string {
	t.Helper()
	plan := map[string]any{"plan_id": "support", "name": "Support", "currency": "USD", "terms": map[string]any{"platform_fee": "49.00"},
		"prices": []any{map[string]any{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"}}}
	if r := h.do("POST", "/v1/plans", h.admin, plan); r.Status != http.StatusCreated {
		t.Fatalf("plan: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/customers/acme/subscriptions", h.admin, map[string]any{"plan_id": "support", "starts_at": "2020-01-01"}); r.Status != http.StatusCreated {
		t.Fatalf("subscription: %d %s", r.Status, r.Body)
	}
	var batch []any
	var tasks []string
	for i := 0; i < n; i++ {
		task := prefix + "-" + string(rune('a'+i))
		tasks = append(tasks, task)
		batch = append(batch,
			ev(task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
			ev(task+"-u", "task.usage", task, at.Add(time.Minute), map[string]any{"model": "gpt-4.1-mini", "input_tokens": 3000, "output_tokens": 300}),
			ev(task+"-o", "task.outcome", task, at.Add(2*time.Minute), map[string]any{"status": "succeeded"}))
	}
	if r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch}); r.Status != 200 {
		t.Fatalf("events: %d %s", r.Status, r.Body)
	}
	want := map[string]string{}
	for _, task := range tasks {
		want[task] = "billable"
	}
	waitTasks(t, h.db, want, 30*time.Second)
	return tasks
}

// waitRun polls GET /v1/invoice-runs/{id} until the run reaches status.
func waitRun(t *testing.T, h *harness, id, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.do("GET", "/v1/invoice-runs/"+id, h.admin, nil)
		if r.Status == 200 && r.json(t)["status"] == status {
			return r.json(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not reach %s: %d %s", id, status, r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Events → billable tasks → an invoice run through the API on a real Temporal server → the draft;
// running it again is the same run and the same invoice, never a second one.
func TestInvoiceRunOnDemand(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	now := time.Now().UTC()
	billTasks(t, h, uniq(), 3, now.Add(-2*time.Hour))
	body := map[string]any{"customer_id": "acme", "period_start": now.Add(-24 * time.Hour).Format(time.RFC3339),
		"period_end": now.Add(time.Hour).Format(time.RFC3339)}
	r := h.do("POST", "/v1/invoice-runs", h.admin, body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	run := waitRun(t, h, id, "drafted")
	if run["tasks_total"].(float64) != 3 || run["tasks_rated"].(float64) != 3 {
		t.Errorf("progress: %v", run)
	}
	invoiceID := run["invoice_id"].(string)
	inv, err := h.db.Invoice(context.Background(), invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	// 3 outcomes at 0.99 and a 49.00 platform fee.
	if inv.Status != billing.InvoiceDraft || inv.Total.String() != "51.97" {
		t.Errorf("draft: status %s total %s, want draft 51.97", inv.Status, inv.Total)
	}
	// The same run again: the same invoice.
	r = h.do("POST", "/v1/invoice-runs", h.admin, body)
	if r.Status != http.StatusAccepted || r.json(t)["data"].([]any)[0].(map[string]any)["id"] != id {
		t.Fatalf("second run: %d %s", r.Status, r.Body)
	}
	time.Sleep(500 * time.Millisecond)
	run = waitRun(t, h, id, "drafted")
	if run["invoice_id"] != invoiceID || run["runs"].(float64) != 2 {
		t.Errorf("second run made %v, want the same invoice %s on run 2", run, invoiceID)
	}
	var invoices int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM invoices`).Scan(&invoices); err != nil {
		t.Fatal(err)
	}
	if invoices != 1 {
		t.Errorf("%d invoices after two runs of one period, want 1", invoices)
	}
	// Finance finalizes it and exports it: the number is assigned, the exports carry it.
	r = h.do("POST", "/v1/invoices/"+invoiceID+"/finalize", h.admin, nil)
	if r.Status != 200 || r.json(t)["status"] != "finalized" {
		t.Fatalf("finalize: %d %s", r.Status, r.Body)
	}
	number, _ := r.json(t)["number"].(string)
	for format, want := range map[string]string{"csv": number, "json": number, "pdf": "%PDF-"} {
		r := h.do("GET", "/v1/invoices/"+invoiceID+"/export?format="+format, h.admin, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), want) {
			t.Errorf("export %s: %d, want a body with %q", format, r.Status, want)
		}
	}
	// A run of a finalized period changes nothing.
	r = h.do("POST", "/v1/invoice-runs", h.admin, body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("run after finalize: %d %s", r.Status, r.Body)
	}
	time.Sleep(500 * time.Millisecond)
	waitRun(t, h, id, "drafted")
	if inv, err := h.db.Invoice(context.Background(), invoiceID); err != nil || inv.Number != number || inv.Status != billing.InvoiceFinalized {
		t.Errorf("after a third run: %+v, %v; want the finalized invoice %s unchanged", inv.Number, err, number)
	}

	// Bad requests change nothing.
	for _, bad := range []map[string]any{
		{"customer_id": "acme"},
		{"customer_id": "acme", "period_start": body["period_end"], "period_end": body["period_start"]},
		{"period": "October"},
		{"customer_id": "nobody", "period": "2026-10"},
	} {
		if r := h.do("POST", "/v1/invoice-runs", h.admin, bad); r.Status/100 != 4 {
			t.Errorf("bad run %v: %d %s", bad, r.Status, r.Body)
		}
	}
}

// The customer's schedule exists, fires (triggered here instead of waiting a month) and bills the
// period that just closed.
func TestScheduleBillsTheClosedPeriod(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	c, err := client.Dial(client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// acme bills in New York from the 1st: the period that closed is last month there.
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Now()
	closed := billing.PeriodContaining(now, ny, 1).Previous(ny)
	billTasks(t, h, uniq(), 2, closed.Start.Add(36*time.Hour))

	queue := h.runner.r.TaskQueue
	sched := &workflows.Scheduler{Client: c, Store: h.db, TaskQueue: queue, Grace: time.Millisecond}
	if err := sched.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	handle := c.ScheduleClient().GetHandle(context.Background(), workflows.InvoiceScheduleID("acme"))
	t.Cleanup(func() { _ = handle.Delete(context.Background()) })
	desc, err := handle.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tz := desc.Schedule.Spec.TimeZoneName; tz != "America/New_York" {
		t.Errorf("schedule zone %q, want the customer's", tz)
	}
	if next := desc.Info.NextActionTimes; len(next) == 0 || next[0].In(ny).Day() != 1 || next[0].In(ny).Hour() != 0 {
		t.Errorf("next fire %v, want midnight of the 1st in New York", next)
	}
	if err := handle.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, h, billing.InvoiceRunID("acme", closed), "drafted")
	inv, err := h.db.Invoice(context.Background(), run["invoice_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.PeriodStart.Equal(closed.Start) || inv.Total.String() != "50.98" {
		t.Errorf("scheduled invoice: period %s total %s, want %s and 2 × 0.99 + 49", inv.PeriodStart, inv.Total, closed)
	}
}
