package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

func uniq() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runWorker runs a worker and the outbox relay for db on a task queue of the test's own, so that
// tests sharing the Temporal server never pick up each other's workflows.
func runWorker(t *testing.T, h *harness, addr string) {
	t.Helper()
	db := h.db
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	queue := "test-" + uniq()
	w := workflows.NewWorkerWithConfig(c, queue, db, worker.Options{}, workflows.WorkerConfig{WebhookAllowPrivate: true})
	h.runner.r = &workflows.InvoiceRunner{Client: c, Store: db, TaskQueue: queue}
	if h.sims != nil {
		h.sims.r = &workflows.SimulationRunner{Client: c, Store: db, TaskQueue: queue}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	relay := &workflows.Relay{Temporal: c, Store: db, TaskQueue: queue, Logger: quiet,
		PollInterval: 20 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	done := make(chan struct{})
	hooks := &workflows.WebhookDispatcher{Temporal: c, Store: db, TaskQueue: queue, Logger: quiet, PollInterval: 20 * time.Millisecond,
		Retry: workflows.WebhookRetry{InitialInterval: 100 * time.Millisecond, MaximumInterval: 400 * time.Millisecond, MaximumAttempts: 5}}
	hooksDone := make(chan struct{})
	// Alerts as tasks bill and credits.expiring, on a quick clock: the defaults wait seconds.
	alerts := &postgres.AlertWatcher{DB: db, Settle: time.Millisecond, Interval: 50 * time.Millisecond, ExpiryEvery: 50 * time.Millisecond, Logger: quiet}
	alertsDone := make(chan struct{})
	go func() { defer close(alertsDone); _ = alerts.Run(ctx) }()
	go func() { defer close(hooksDone); _ = hooks.Run(ctx) }()
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-hooksDone
		<-alertsDone
		w.Stop()
		c.Close()
	})
}

// waitTasks polls until every task has the wanted status or the deadline passes.
func waitTasks(t *testing.T, db *postgres.DB, want map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := map[string]string{}
		rows, err := db.Pool.Query(context.Background(), `SELECT task_id, status FROM tasks`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, s string
			if err := rows.Scan(&id, &s); err != nil {
				t.Fatal(err)
			}
			got[id] = s
		}
		rows.Close()
		ok := true
		for id, s := range want {
			if got[id] != s {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s tasks are %v, want %v", within, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func setupBilling(t *testing.T, h *harness, windowSeconds int) {
	t.Helper()
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusCreated {
		t.Fatalf("customer: %d %s", r.Status, r.Body)
	}
	ot := map[string]any{"baseline": ticket["baseline"], "dispute_window_seconds": windowSeconds}
	if r := h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, ot); r.Status != http.StatusCreated {
		t.Fatalf("outcome type: %d %s", r.Status, r.Body)
	}
}

func ev(id, typ, task string, at time.Time, extra map[string]any) map[string]any {
	e := map[string]any{"id": id, "type": typ, "customer_id": "acme", "task_id": task, "occurred_at": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// The whole route of an event: API → PostgreSQL + outbox → relay → task workflow on a real
// Temporal server → the task's row. Duplicates change nothing; an id reused for another body is
// a conflict.
func TestEventsToBillableTasks(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	p := uniq()
	now := time.Now().Add(-time.Hour)
	ok, failed, late := p+"-ok", p+"-failed", p+"-late"
	batch := []any{
		// delivered out of order: the outcome before the start, usage after the outcome
		ev(p+"1", "task.outcome", ok, now.Add(3*time.Minute), map[string]any{"status": "succeeded", "quality": 0.9}),
		ev(p+"2", "task.started", ok, now, map[string]any{"outcome_type": "support.ticket_resolved"}),
		ev(p+"3", "task.usage", ok, now.Add(4*time.Minute), map[string]any{"model": "gpt-4.1-mini", "input_tokens": 5000, "output_tokens": 500}),
		ev(p+"4", "task.started", failed, now, map[string]any{"outcome_type": "support.ticket_resolved"}),
		ev(p+"5", "task.usage", failed, now.Add(time.Minute), map[string]any{"model": "claude-sonnet-4-5", "input_tokens": 9000, "output_tokens": 900}),
		ev(p+"6", "task.outcome", failed, now.Add(2*time.Minute), map[string]any{"status": "failed"}),
		ev(p+"7", "task.started", late, now, map[string]any{"outcome_type": "support.ticket_resolved"}),
	}
	r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch})
	if r.Status != 200 {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	for _, res := range r.json(t)["results"].([]any) {
		if s := res.(map[string]any)["status"]; s != "accepted" {
			t.Fatalf("first send: %s", r.Body)
		}
	}
	waitTasks(t, h.db, map[string]string{ok: "billable", failed: "not_billable", late: "open"}, 30*time.Second)

	// The task as the API shows it: state, events in occurred order, cost by model. 5,000 input
	// and 500 output tokens of gpt-4.1-mini at 0.40 and 1.60 per million cost 0.0028 USD.
	r = h.do("GET", "/v1/tasks/"+ok, h.admin, nil)
	task := r.json(t)
	if r.Status != 200 || task["status"] != "billable" || task["cost_usd"] != "0.0028" || task["outcome"] != "succeeded" ||
		len(task["events"].([]any)) != 3 || task["billable_at"] == nil {
		t.Errorf("GET task: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/tasks/nope", h.admin, nil); r.Status != 404 {
		t.Errorf("GET unknown task: %d", r.Status)
	}

	// The same batch again: every event a duplicate, nothing stored twice.
	r = h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch})
	for _, res := range r.json(t)["results"].([]any) {
		if s := res.(map[string]any)["status"]; s != "duplicate" {
			t.Fatalf("second send: %s", r.Body)
		}
	}
	// The same id with another body is a conflict.
	r = h.do("POST", "/v1/events", h.admin, map[string]any{"events": []any{
		ev(p+"6", "task.outcome", failed, now.Add(2*time.Minute), map[string]any{"status": "succeeded"})}})
	res := r.json(t)["results"].([]any)[0].(map[string]any)
	if res["status"] != "rejected" || res["error"].(map[string]any)["code"] != "conflict" {
		t.Errorf("same id, other body: %s", r.Body)
	}
	// The late task gets its outcome now and bills too.
	r = h.do("POST", "/v1/events", h.admin, map[string]any{"events": []any{
		ev(p+"8", "task.outcome", late, now.Add(10*time.Minute), map[string]any{"status": "partial"})}})
	if r.Status != 200 {
		t.Fatal(r.Status)
	}
	waitTasks(t, h.db, map[string]string{ok: "billable", failed: "not_billable", late: "billable"}, 30*time.Second)
	var events, outbox int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)`).Scan(&events, &outbox); err != nil {
		t.Fatal(err)
	}
	if events != 8 {
		t.Errorf("%d events stored, want 8", events)
	}
	if outbox != 0 {
		t.Errorf("%d outbox rows left undelivered", outbox)
	}
}

// A dispute inside the window stops the task from billing.
func TestDisputeInsideWindow(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 3600)
	runWorker(t, h, addr)
	p := uniq()
	now := time.Now().Add(-time.Minute)
	task := p + "-t"
	r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": []any{
		ev(p+"1", "task.started", task, now, map[string]any{"outcome_type": "support.ticket_resolved"}),
		ev(p+"2", "task.outcome", task, now.Add(time.Second), map[string]any{"status": "succeeded"}),
	}})
	if r.Status != 200 {
		t.Fatal(r.Status)
	}
	waitTasks(t, h.db, map[string]string{task: "verifying"}, 30*time.Second)
	r = h.do("POST", "/v1/events", h.admin, map[string]any{"events": []any{
		ev(p+"3", "task.disputed", task, now.Add(30*time.Second), map[string]any{"reason": "ticket reopened"})}})
	if r.Status != 200 {
		t.Fatal(r.Status)
	}
	waitTasks(t, h.db, map[string]string{task: "not_billable"}, 30*time.Second)
}

// Temporal stops; events keep being accepted; Temporal comes back and every event reaches its
// workflow. This test runs its own Temporal server so that stopping it disturbs no other test.
func TestNoEventLostWhileTemporalIsDown(t *testing.T) {
	t.Parallel()
	cli := servicetest.TemporalCLI(t)
	ctx := context.Background()
	tmp, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{CLIPath: cli, DBFile: t.TempDir() + "/temporal.db", Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Close() })
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, tmp.Address())
	p := uniq()
	now := time.Now().Add(-time.Hour)
	send := func(n int, from int) {
		var batch []any
		for i := from; i < from+n; i++ {
			task := fmt.Sprintf("%s-%d", p, i)
			batch = append(batch,
				ev(task+"-s", "task.started", task, now, map[string]any{"outcome_type": "support.ticket_resolved"}),
				ev(task+"-o", "task.outcome", task, now.Add(time.Minute), map[string]any{"status": "succeeded"}))
		}
		r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch})
		for _, res := range r.json(t)["results"].([]any) {
			if s := res.(map[string]any)["status"]; s != "accepted" {
				t.Fatalf("send: %s", r.Body)
			}
		}
	}
	want := map[string]string{}
	for i := 0; i < 30; i++ {
		want[fmt.Sprintf("%s-%d", p, i)] = "billable"
	}
	send(10, 0)
	if err := tmp.Stop(); err != nil {
		t.Fatal(err)
	}
	send(20, 10) // accepted while Temporal is down
	var waiting int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if waiting == 0 {
		t.Error("with Temporal down, the outbox is empty: events were not kept for later delivery")
	}
	time.Sleep(time.Second) // let the relay fail and back off
	if err := tmp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, h.db, want, 60*time.Second)
	var events int
	if err := h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 60 {
		t.Errorf("acknowledged 60 events, stored %d", events)
	}
}
