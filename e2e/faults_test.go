package e2e_test

// Fault injection: each test breaks something real — a worker stopped in the middle of an invoice
// run, PostgreSQL restarted under an ingest burst, a storm of duplicate requests, clients with
// skewed clocks — and ends with a reconciliation: events acknowledged = events stored = events
// counted (outbox rows, task states, invoice quantities), 0 lost, 0 doubled. Each test logs a
// "figures:" line; docs/RELIABILITY.md quotes them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

// newHarnessOn is newHarness on a database the test opened itself (one on a PostgreSQL server
// the test may restart).
func newHarnessOn(t *testing.T, db *postgres.DB) *harness {
	t.Helper()
	runner := &lateRunner{}
	srv := httptest.NewServer(api.New(api.Config{
		Customers: db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db, Invoices: db, Plans: db, Economics: db,
		InvoiceRunner: runner, InvoiceRuns: db,
		Ready: []api.Check{{Name: "postgres", Ping: db.Ping}},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, db: db, url: srv.URL, runner: runner}
	h.admin = h.key("admin", "finance", "ingest")
	return h
}

// worker is one Temporal worker on a task queue that outlives it, so that a test can stop one
// and start another in its place.
type queueWorker struct {
	w       worker.Worker
	stopped bool
}

func (q *queueWorker) stop() {
	if !q.stopped {
		q.stopped = true
		q.w.Stop()
	}
}

// startQueueWorker runs a worker for store on queue; the test's cleanup stops it if the test has
// not.
func startQueueWorker(t *testing.T, c client.Client, queue string, store workflows.Store) *queueWorker {
	t.Helper()
	q := &queueWorker{w: workflows.NewWorker(c, queue, store, worker.Options{})}
	if err := q.w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.stop)
	return q
}

// startRelay runs the outbox relay for h's database on queue until the test ends.
func startRelay(t *testing.T, c client.Client, db *postgres.DB, queue string) {
	ctx, cancel := context.WithCancel(context.Background())
	relay := &workflows.Relay{Temporal: c, Store: db, TaskQueue: queue, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 20 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// crashingStore is the real store, except that BuildDraft writes the draft and then hangs until
// its worker is stopped: the worker dies after the side effect and before Temporal hears of it,
// the worst moment for exactly-once.
type crashingStore struct {
	*postgres.DB
	built chan billing.Invoice // receives the draft the doomed attempt wrote
}

func (s *crashingStore) BuildDraft(ctx context.Context, customerID string, from, to time.Time) (billing.Invoice, error) {
	inv, err := s.DB.BuildDraft(ctx, customerID, from, to)
	if err != nil {
		return inv, err
	}
	select {
	case s.built <- inv:
	default:
	}
	<-ctx.Done() // the worker's shutdown cancels the activity
	return billing.Invoice{}, fmt.Errorf("worker stopped mid-activity: %w", ctx.Err())
}

// A worker is stopped in the middle of an invoice run — after BuildDraft wrote the draft, before
// the activity completed — and another worker takes over the task queue: the run finishes with
// one invoice for the period, with the right total, and every event counted once.
func TestWorkerKilledMidInvoiceRun(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	queue := "test-" + uniq()
	h.runner.r = &workflows.InvoiceRunner{Client: c, Store: h.db, TaskQueue: queue}
	startRelay(t, c, h.db, queue)
	crash := &crashingStore{DB: h.db, built: make(chan billing.Invoice, 1)}
	first := startQueueWorker(t, c, queue, crash)

	const tasks = 12
	now := time.Now().UTC()
	billTasks(t, h, uniq(), tasks, now.Add(-2*time.Hour))
	body := map[string]any{"customer_id": "acme", "period_start": now.Add(-24 * time.Hour).Format(time.RFC3339),
		"period_end": now.Add(time.Hour).Format(time.RFC3339)}
	r := h.do("POST", "/v1/invoice-runs", h.admin, body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	runID := r.json(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	var doomed billing.Invoice
	select {
	case doomed = <-crash.built:
	case <-time.After(30 * time.Second):
		t.Fatal("the first worker never reached BuildDraft")
	}
	first.stop() // the kill: its BuildDraft is cancelled, its result never reported as success
	startQueueWorker(t, c, queue, h.db)

	run := waitRun(t, h, runID, "drafted")
	if run["invoice_id"] != doomed.ID {
		t.Errorf("the new worker drafted invoice %v, the killed one %s: the period has two", run["invoice_id"], doomed.ID)
	}
	inv, err := h.db.Invoice(context.Background(), doomed.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 12 outcomes at 0.99 and a 49.00 platform fee.
	if inv.Total.String() != "60.88" || inv.Status != billing.InvoiceDraft {
		t.Errorf("invoice: %s total %s, want a draft of 60.88", inv.Status, inv.Total)
	}
	var outcomes string
	for _, l := range inv.Lines {
		if l.OutcomeType != "" {
			outcomes = l.Quantity.String()
		}
	}
	var invoices, lines, events, outbox, billable int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM invoice_lines),
		(SELECT count(*) FROM events), (SELECT count(*) FROM outbox), (SELECT count(*) FROM tasks WHERE status = 'billable')`).
		Scan(&invoices, &lines, &events, &outbox, &billable); err != nil {
		t.Fatal(err)
	}
	if invoices != 1 || lines != len(inv.Lines) {
		t.Errorf("%d invoices with %d lines stored, want 1 with %d", invoices, lines, len(inv.Lines))
	}
	if events != 3*tasks || outbox != 0 || billable != tasks || outcomes != fmt.Sprint(tasks) {
		t.Errorf("reconciliation: %d events acknowledged, %d stored, %d undelivered, %d billable tasks, %s outcomes invoiced",
			3*tasks, events, outbox, billable, outcomes)
	}
	t.Logf("figures: worker killed mid-BuildDraft; events acknowledged %d stored %d billable tasks %d invoiced outcomes %s; invoices %d total %s",
		3*tasks, events, billable, outcomes, invoices, inv.Total)
}

// burstClient sends batches and resends each one until it gets a 200, the way a well-behaved
// client treats a 5xx or a dropped connection. It records what was acknowledged.
type burstClient struct {
	url, key string
	http     *http.Client

	retries, serverErrors, transportErrors atomic.Int64
}

// send posts batch until it is answered with results, and returns the status of each event.
func (c *burstClient) send(ctx context.Context, batch []any) (map[string]string, error) {
	body, err := json.Marshal(map[string]any{"events": batch})
	if err != nil {
		return nil, err
	}
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, ctx.Err())
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 500*time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, "POST", c.url+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.key)
		res, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.transportErrors.Add(1)
			continue
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			c.transportErrors.Add(1)
			continue
		}
		if res.StatusCode >= 500 {
			c.serverErrors.Add(1)
			continue
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d: %s", res.StatusCode, b)
		}
		var out struct {
			Results []struct{ ID, Status string } `json:"results"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
		got := map[string]string{}
		for _, r := range out.Results {
			got[r.ID] = r.Status
		}
		return got, nil
	}
}

// taskBatch is n tasks of two events each (started, succeeded), named prefix-i.
func taskBatch(prefix string, n int, at time.Time) ([]any, []string) {
	var batch []any
	var ids []string
	for i := 0; i < n; i++ {
		task := fmt.Sprintf("%s-%d", prefix, i)
		batch = append(batch,
			ev(task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
			ev(task+"-o", "task.outcome", task, at.Add(time.Minute), map[string]any{"status": "succeeded"}))
		ids = append(ids, task+"-s", task+"-o")
	}
	return batch, ids
}

// PostgreSQL is restarted while clients send batches in a loop. Requests in flight get 5xx or a
// dropped connection; the clients resend them; at the end every acknowledged event is stored
// exactly once with exactly one outbox row, and, once a worker runs, every task reached its
// workflow and state.
func TestPostgresRestartDuringIngestBurst(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	_ = servicetest.DatabaseURL(t) // the PostgreSQL binaries are there when the shared server is
	ctx := context.Background()
	pg, err := devenv.StartPostgres(ctx, devenv.PostgresOptions{DataDir: filepath.Join(t.TempDir(), "pg"), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	db, err := postgres.Open(ctx, pg.URL(devenv.DatabaseName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SeedModelCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, db)
	setupBilling(t, h, 0)

	const clients, batches, tasksPerBatch = 4, 12, 5
	total := clients * batches
	cl := &burstClient{url: h.url, key: h.key("ingest"), http: &http.Client{Timeout: 10 * time.Second}}
	at := time.Now().Add(-time.Hour)
	p := uniq()
	var acked sync.Map // event id → final status
	var sent, answered atomic.Int64
	restartAt := int64(total / 4)
	restarted := make(chan error, 1)
	var once sync.Once
	burstCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				batch, ids := taskBatch(fmt.Sprintf("%s-%d-%d", p, c, b), tasksPerBatch, at)
				sent.Add(int64(len(ids)))
				got, err := cl.send(burstCtx, batch)
				if err != nil {
					errs <- fmt.Errorf("client %d batch %d: %w", c, b, err)
					return
				}
				for _, id := range ids {
					acked.Store(id, got[id])
				}
				if answered.Add(1) == restartAt {
					once.Do(func() { go func() { restarted <- pg.Restart(ctx) }() })
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the restart did not finish")
	}
	if t.Failed() {
		return
	}
	if cl.serverErrors.Load()+cl.transportErrors.Load() == 0 {
		t.Fatal("the restart hit no request: the fault was not injected")
	}

	// Reconcile: everything sent was acknowledged (accepted, or duplicate where a resend found
	// the first attempt committed), stored once, with one outbox row each.
	counts := map[string]int{}
	n := 0
	acked.Range(func(_, v any) bool {
		counts[v.(string)]++
		n++
		return true
	})
	if n != int(sent.Load()) || counts["accepted"]+counts["duplicate"] != n {
		t.Errorf("sent %d events, acknowledged %v", sent.Load(), counts)
	}
	var events, distinct, outbox, outboxDistinct, tasks int
	err = db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT id) FROM events),
		(SELECT count(*) FROM outbox), (SELECT count(DISTINCT event_id) FROM outbox), (SELECT count(*) FROM tasks)`).
		Scan(&events, &distinct, &outbox, &outboxDistinct, &tasks)
	if err != nil {
		t.Fatal(err)
	}
	if events != n || distinct != n || outbox != n || outboxDistinct != n || tasks != n/2 {
		t.Errorf("acknowledged %d events; stored %d (%d distinct), outbox rows %d (%d distinct), tasks %d (want %d)",
			n, events, distinct, outbox, outboxDistinct, tasks, n/2)
	}
	// Now the relay delivers them: every task reaches billable and the outbox empties.
	runWorker(t, h, addr)
	want := map[string]string{}
	for c := 0; c < clients; c++ {
		for b := 0; b < batches; b++ {
			for i := 0; i < tasksPerBatch; i++ {
				want[fmt.Sprintf("%s-%d-%d-%d", p, c, b, i)] = "billable"
			}
		}
	}
	waitTasks(t, db, want, 60*time.Second)
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil || outbox != 0 {
		t.Errorf("outbox %d after delivery (%v)", outbox, err)
	}
	t.Logf("figures: postgres restarted once mid-burst; requests %d, 5xx %d, dropped connections %d, resends %d; "+
		"events sent %d acknowledged %d (accepted %d, duplicate on resend %d) stored %d outbox %d tasks billable %d; lost 0 doubled 0",
		total, cl.serverErrors.Load(), cl.transportErrors.Load(), cl.retries.Load(), sent.Load(), n, counts["accepted"], counts["duplicate"],
		events, n, len(want))
}

// Many clients send the same batches at once, several times each: every event is accepted
// exactly once across all responses, every other answer is duplicate, nothing is stored or
// delivered twice, and each task's cost is that of one usage event.
func TestDuplicateStormOverHTTP(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	p := uniq()
	at := time.Now().Add(-time.Hour)
	const tasks, clients, rounds = 20, 12, 3
	var batch []any
	want := map[string]string{}
	for i := 0; i < tasks; i++ {
		task := fmt.Sprintf("%s-%d", p, i)
		want[task] = "billable"
		batch = append(batch,
			ev(task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
			ev(task+"-u", "task.usage", task, at.Add(time.Minute), map[string]any{"model": "gpt-4.1-mini", "input_tokens": 5000, "output_tokens": 500}),
			ev(task+"-o", "task.outcome", task, at.Add(2*time.Minute), map[string]any{"status": "succeeded"}))
	}
	cl := &burstClient{url: h.url, key: h.key("ingest"), http: &http.Client{Timeout: 20 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var mu sync.Mutex
	accepted, duplicate, other := map[string]int{}, 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := 0; r < rounds; r++ {
				got, err := cl.send(ctx, batch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for id, s := range got {
					switch s {
					case "accepted":
						accepted[id]++
					case "duplicate":
						duplicate++
					default:
						other++
					}
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	n := len(batch)
	requests := clients * rounds
	if len(accepted) != n || other != 0 || duplicate != n*(requests-1) {
		t.Errorf("%d events × %d requests: %d accepted, %d duplicate, %d other", n, requests, len(accepted), duplicate, other)
	}
	for id, k := range accepted {
		if k != 1 {
			t.Errorf("event %s accepted %d times", id, k)
		}
	}
	waitTasks(t, h.db, want, 60*time.Second)
	var events, outbox, costly int
	err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox),
		(SELECT count(*) FROM events WHERE type = 'task.usage' AND cost_usd = 0.0028)`).Scan(&events, &outbox, &costly)
	if err != nil {
		t.Fatal(err)
	}
	if events != n || outbox != 0 || costly != tasks {
		t.Errorf("stored %d events (want %d), %d undelivered, %d usage events at one usage's cost (want %d)", events, n, outbox, costly, tasks)
	}
	for i := 0; i < tasks; i += 7 {
		r := h.do("GET", fmt.Sprintf("/v1/tasks/%s-%d", p, i), h.admin, nil)
		if got := r.json(t); got["cost_usd"] != "0.0028" || len(got["events"].([]any)) != 3 {
			t.Errorf("task %d after the storm: %s", i, r.Body)
		}
	}
	t.Logf("figures: duplicate storm; %d clients × %d rounds of the same %d events = %d requests, %d event sends; "+
		"accepted %d duplicate %d 5xx %d; stored %d; lost 0 doubled 0",
		clients, rounds, n, requests, n*requests, len(accepted), duplicate, cl.serverErrors.Load(), events)
}

// Clients with wrong clocks: an occurred_at more than 15 minutes ahead of the server or before
// 2020 is refused with code invalid on field occurred_at; one within the skew, in any offset, is
// accepted; nothing refused is stored.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setupBilling(t, h, 0)
	now := time.Now()
	ist := time.FixedZone("IST", 5*3600+1800)
	cases := []struct {
		name string
		at   string
		ok   bool
	}{
		{"now", now.UTC().Format(time.RFC3339Nano), true},
		{"14 minutes ahead", now.Add(14 * time.Minute).UTC().Format(time.RFC3339), true},
		{"10 minutes ahead in +05:30", now.Add(10 * time.Minute).In(ist).Format(time.RFC3339), true},
		{"first instant of 2020", "2020-01-01T00:00:00Z", true},
		{"a year ago", now.AddDate(-1, 0, 0).UTC().Format(time.RFC3339), true},
		{"16 minutes ahead", now.Add(16 * time.Minute).UTC().Format(time.RFC3339), false},
		{"a day ahead", now.Add(24 * time.Hour).UTC().Format(time.RFC3339), false},
		{"year 9999", "9999-12-31T23:59:59Z", false},
		{"last second of 2019", "2019-12-31T23:59:59Z", false},
		{"2020 in Paris, still 2019 in UTC", "2020-01-01T00:30:00+01:00", false},
		{"unix epoch", "1970-01-01T00:00:00Z", false},
		{"year 1", "0001-01-01T00:00:00Z", false},
	}
	p := uniq()
	var batch []any
	for i, c := range cases {
		task := fmt.Sprintf("%s-%d", p, i)
		batch = append(batch, map[string]any{"id": task, "type": "task.started", "customer_id": "acme", "task_id": task,
			"occurred_at": c.at, "outcome_type": "support.ticket_resolved"})
	}
	r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	results := r.json(t)["results"].([]any)
	accepted := 0
	for i, c := range cases {
		res := results[i].(map[string]any)
		if c.ok {
			if res["status"] != "accepted" {
				t.Errorf("%s (%s): %v, want accepted", c.name, c.at, res)
			}
			accepted++
			continue
		}
		e, _ := res["error"].(map[string]any)
		if res["status"] != "rejected" || e["code"] != "invalid" || e["field"] != "occurred_at" {
			t.Errorf("%s (%s): %v, want rejected invalid occurred_at", c.name, c.at, res)
		}
	}
	var events int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != accepted {
		t.Errorf("%d events stored, want the %d accepted", events, accepted)
	}
	t.Logf("figures: clock skew; %d occurred_at values, %d accepted, %d refused with invalid/occurred_at, %d stored",
		len(cases), accepted, len(cases)-accepted, events)
}
