package workflows_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

// TestTemporalThroughput measures, on a real Temporal dev server and a durable PostgreSQL, how
// many task workflows per second our worker completes when events take the whole route (ingest
// into PostgreSQL with their outbox rows, the relay's signal-with-start, the task workflow with
// its local activities), next to how many trivial start-signal-complete workflows the same
// server and SDK complete in the same run: the ratio is the share of Temporal's capacity that
// our workflow design keeps. It also reports history events per task and the outbox lag (event
// committed → signal accepted by Temporal) while tasks arrive at a steady rate below that
// throughput.
//
// It is a measurement, not a test of behaviour, so it runs only when asked:
//
//	OUTCOMEBILL_BENCH_TEMPORAL=1 go test -run '^TestTemporalThroughput$' -v -timeout 10m ./workflows
//
// It starts its own PostgreSQL (durable) and Temporal dev server unless
// OUTCOMEBILL_BENCH_DATABASE_URL (an admin URL) or OUTCOMEBILL_BENCH_TEMPORAL_ADDRESS name
// them. OUTCOMEBILL_BENCH_TASKS sets the workflows per phase (default 1000);
// OUTCOMEBILL_BENCH_RELAY_CONCURRENCY the relay's signals in flight (default: the relay's);
// OUTCOMEBILL_BENCH_PACED_RATE the tasks/s of the lag phase (default 70% of the measured rate);
// OUTCOMEBILL_BENCH_PACED_SECONDS its length (default 15).
func TestTemporalThroughput(t *testing.T) {
	if os.Getenv("OUTCOMEBILL_BENCH_TEMPORAL") != "1" {
		t.Skip("a measurement: set OUTCOMEBILL_BENCH_TEMPORAL=1 to run it (scripts/bench does)")
	}
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_TASKS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	db := throughputDB(t)
	c, err := client.Dial(client.Options{HostPort: throughputTemporal(t),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := "tp" + randHex()

	trivial := measureTrivial(t, c, run, n)
	t.Logf("trivial start-signal-complete: %d workflows in %s: %.1f/s, %d history events each",
		n, trivial.took.Round(time.Millisecond), trivial.rate(), trivial.history)

	tasks := measureTasks(t, ctx, db, c, run, n)
	t.Logf("task workflows through the relay: %d in %s: %.1f/s, %d history events each (start and outcome in one signal)",
		n, tasks.took.Round(time.Millisecond), tasks.rate(), tasks.history)

	rate := 0.7 * tasks.rate()
	if v, err := strconv.ParseFloat(os.Getenv("OUTCOMEBILL_BENCH_PACED_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	pace := 15 * time.Second
	if v, err := strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_PACED_SECONDS")); err == nil && v > 0 {
		pace = time.Duration(v) * time.Second
	}
	paced := measurePaced(t, ctx, db, c, run, rate, pace)
	t.Logf("paced at %.1f tasks/s for %s (start, then outcome 1s later: two signals): %d tasks, %d history events each, "+
		"outbox lag p50 %s p95 %s p99 %s max %s", rate, pace, paced.tasks, paced.history,
		paced.lag(0.5), paced.lag(0.95), paced.lag(0.99), paced.lag(1))

	// One line for scripts/bench to pick up.
	fmt.Printf("THROUGHPUT trivial_per_s=%.1f tasks_per_s=%.1f ratio=%.2f history_trivial=%d history_task_one_signal=%d "+
		"history_task_two_signals=%d paced_per_s=%.1f lag_p50_ms=%.1f lag_p95_ms=%.1f lag_p99_ms=%.1f\n",
		trivial.rate(), tasks.rate(), tasks.rate()/trivial.rate(), trivial.history, tasks.history, paced.history, rate,
		msOf(paced.lag(0.5)), msOf(paced.lag(0.95)), msOf(paced.lag(0.99)))
}

type phase struct {
	n       int
	took    time.Duration
	history int // events in the history of a typical workflow of the phase
}

func (p phase) rate() float64 { return float64(p.n) / p.took.Seconds() }

func msOf(d time.Duration) float64 { return float64(d) / 1e6 }

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// throughputDB is a migrated database on a durable server, with a customer and an outcome type
// whose dispute window is 0, so a task is settled as soon as its outcome arrives.
func throughputDB(t *testing.T) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	admin := os.Getenv("OUTCOMEBILL_BENCH_DATABASE_URL")
	if admin == "" {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		pg, err := devenv.StartPostgres(ctx, devenv.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Durable: true, Log: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pg.Stop() })
		admin = pg.URL("postgres")
	}
	name := "throughput_" + randHex()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if c, err := pgx.Connect(context.Background(), admin); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SeedModelCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: "acme", Name: "Acme", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	ot := billing.OutcomeType{Key: "support.ticket_resolved", Baseline: billing.LaborBaseline{HumanMinutes: decimal.RequireFromString("12"),
		AnnualCost: money.New(decimal.RequireFromString("94000"), "USD")}, DisputeWindow: 0, TaskTimeout: 24 * time.Hour}
	if _, _, err := db.PutOutcomeType(ctx, ot); err != nil {
		t.Fatal(err)
	}
	return db
}

// throughputTemporal returns the address of a Temporal dev server started for the test, or of
// the one OUTCOMEBILL_BENCH_TEMPORAL_ADDRESS names.
func throughputTemporal(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv("OUTCOMEBILL_BENCH_TEMPORAL_ADDRESS"); addr != "" {
		return addr
	}
	ctx := context.Background()
	cli, err := devenv.CLIPath(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{CLIPath: cli, DBFile: filepath.Join(t.TempDir(), "temporal.db"), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Address()
}

// trivialWorkflow is the yardstick: started by signal-with-start like a task workflow, it takes
// the signal and completes.
func trivialWorkflow(ctx workflow.Context) error {
	var s string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &s)
	return nil
}

const trivialWorkflowName = "BenchTrivialWorkflow"

func startWorker(t *testing.T, c client.Client, queue string, register func(worker.Worker)) func() {
	t.Helper()
	w := worker.New(c, queue, worker.Options{})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w.Stop
}

// measureTrivial signal-with-starts n trivial workflows from 8 goroutines and times them until
// all are completed.
func measureTrivial(t *testing.T, c client.Client, run string, n int) phase {
	queue := run + "-trivial"
	stop := startWorker(t, c, queue, func(w worker.Worker) {
		w.RegisterWorkflowWithOptions(trivialWorkflow, workflow.RegisterOptions{Name: trivialWorkflowName})
	})
	defer stop()
	ctx := context.Background()
	start := time.Now()
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if _, err := c.SignalWithStartWorkflow(ctx, id, "go", "x", client.StartWorkflowOptions{ID: id, TaskQueue: queue},
					trivialWorkflowName); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range n {
		ids <- fmt.Sprintf("%s-trivial-%d", run, i)
	}
	close(ids)
	wg.Wait()
	took := waitCompleted(t, c, queue, n, start)
	return phase{n: n, took: took, history: historyLength(t, c, run+"-trivial-0")}
}

// waitCompleted polls visibility until n workflows of queue have completed, and returns the time
// since start when they had.
func waitCompleted(t *testing.T, c client.Client, queue string, n int, start time.Time) time.Duration {
	t.Helper()
	deadline := start.Add(3 * time.Minute)
	for {
		res, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Completed'", queue)})
		if err != nil {
			t.Fatal(err)
		}
		if int(res.GetCount()) >= n {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workflows on %s completed after %s", res.GetCount(), n, queue, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func historyLength(t *testing.T, c client.Client, workflowID string) int {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// lagSignaler is the relay's Temporal client, recording for every event it delivers how long it
// waited since the API committed it.
type lagSignaler struct {
	client.Client
	committed sync.Map // event id → time.Time
	mu        sync.Mutex
	lags      []time.Duration
}

func (s *lagSignaler) SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	run, err := s.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
	if err == nil {
		now := time.Now()
		s.mu.Lock()
		for _, e := range signalArg.(workflows.TaskSignal).Events {
			if at, ok := s.committed.Load(e.ID); ok {
				s.lags = append(s.lags, now.Sub(at.(time.Time)))
			}
		}
		s.mu.Unlock()
	}
	return run, err
}

// runTaskWorker runs our worker and the relay, with production defaults, on queue.
func runTaskWorker(t *testing.T, db *postgres.DB, c client.Client, sig workflows.Signaler, queue string) (stop func()) {
	stopWorker := startWorker(t, c, queue, func(w worker.Worker) { workflows.Register(w, &workflows.Activities{Store: db}) })
	ctx, cancel := context.WithCancel(context.Background())
	relay := &workflows.Relay{Temporal: sig, Store: db, TaskQueue: queue, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// To try other relay settings than the defaults, e.g. more signals in flight.
	if v, err := strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_RELAY_CONCURRENCY")); err == nil {
		relay.Concurrency = v
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	return func() { cancel(); <-done; stopWorker() }
}

func taskEvent(t *testing.T, id, typ, task string, at time.Time, fields map[string]any) billing.IncomingEvent {
	e := map[string]any{"id": id, "type": typ, "customer_id": "acme", "task_id": task, "occurred_at": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		e[k] = v
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := billing.DecodeEvent(raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return billing.IncomingEvent{Event: ev, Body: raw}
}

func ingest(t *testing.T, ctx context.Context, db *postgres.DB, sig *lagSignaler, batch []billing.IncomingEvent) {
	rs, err := db.IngestEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, r := range rs {
		if r.Status != billing.IngestAccepted {
			t.Fatalf("event %s: %s %+v", r.ID, r.Status, r.Err)
		}
		if sig != nil {
			sig.committed.Store(r.ID, now)
		}
	}
}

// measureTasks ingests n tasks (a start and a succeeded outcome each, in batches of 50 tasks) as
// fast as the store takes them, with the worker and relay running, and times them until every
// task workflow has completed.
func measureTasks(t *testing.T, ctx context.Context, db *postgres.DB, c client.Client, run string, n int) phase {
	queue := run + "-tasks"
	stop := runTaskWorker(t, db, c, c, queue)
	defer stop()
	at := time.Now().Add(-time.Hour)
	start := time.Now()
	var batch []billing.IncomingEvent
	for i := range n {
		task := fmt.Sprintf("%s-sat-%d", run, i)
		batch = append(batch,
			taskEvent(t, task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
			taskEvent(t, task+"-o", "task.outcome", task, at.Add(time.Minute), map[string]any{"status": "succeeded"}))
		if len(batch) == 100 || i == n-1 {
			ingest(t, ctx, db, nil, batch)
			batch = nil
		}
	}
	took := waitCompleted(t, c, queue, n, start)
	return phase{n: n, took: took, history: historyLength(t, c, workflows.TaskWorkflowID(run+"-sat-0"))}
}

type pacedResult struct {
	tasks   int
	history int
	lags    []time.Duration // sorted
}

func (p pacedResult) lag(q float64) time.Duration {
	if len(p.lags) == 0 {
		return 0
	}
	return p.lags[min(len(p.lags)-1, int(q*float64(len(p.lags))))]
}

// measurePaced starts rate tasks a second for d, each task's start then its outcome a second
// later in another request, and records every event's outbox lag.
func measurePaced(t *testing.T, ctx context.Context, db *postgres.DB, c client.Client, run string, rate float64, d time.Duration) pacedResult {
	queue := run + "-paced"
	sig := &lagSignaler{Client: c}
	stop := runTaskWorker(t, db, c, sig, queue)
	defer stop()
	at := time.Now().Add(-time.Hour)
	tick := time.Duration(float64(time.Second) / rate * 10) // 10 tasks a tick
	type due struct {
		at   time.Time
		task string
	}
	var outcomes []due
	start, next, i := time.Now(), time.Now(), 0
	for time.Since(start) < d || len(outcomes) > 0 {
		time.Sleep(time.Until(next))
		next = next.Add(tick)
		var batch []billing.IncomingEvent
		for len(outcomes) > 0 && !time.Now().Before(outcomes[0].at) {
			task := outcomes[0].task
			outcomes = outcomes[1:]
			batch = append(batch, taskEvent(t, task+"-o", "task.outcome", task, at.Add(time.Minute), map[string]any{"status": "succeeded"}))
		}
		if time.Since(start) < d {
			for range 10 {
				task := fmt.Sprintf("%s-paced-%d", run, i)
				i++
				batch = append(batch, taskEvent(t, task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}))
				outcomes = append(outcomes, due{time.Now().Add(time.Second), task})
			}
		}
		if len(batch) > 0 {
			ingest(t, ctx, db, sig, batch)
		}
	}
	waitCompleted(t, c, queue, i, start)
	sig.mu.Lock()
	lags := slices.Clone(sig.lags)
	sig.mu.Unlock()
	slices.Sort(lags)
	return pacedResult{tasks: i, history: historyLength(t, c, workflows.TaskWorkflowID(run+"-paced-0")), lags: lags}
}
