package workflows

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/servicetest"
)

// Tests against a real Temporal server run when OUTCOMEBILL_TEST_TEMPORAL_ADDRESS names one
// (host:port). With -record they also rewrite the histories in testdata/ that TestReplay replays:
//
//	temporal server start-dev --ip 127.0.0.1 --port 7233 --headless
//	OUTCOMEBILL_TEST_TEMPORAL_ADDRESS=127.0.0.1:7233 go test ./workflows -run TestRecord -record
var record = flag.Bool("record", false, "record task workflow histories from a real Temporal server into testdata/")

func temporalAddress(t *testing.T) string { return servicetest.TemporalAddress(t) }

// recordingSignaler passes signals on to Temporal and remembers the batches it sent.
type recordingSignaler struct {
	Signaler
	mu      sync.Mutex
	batches map[string][]int // workflow ID -> sizes of the batches signalled
}

func (r *recordingSignaler) SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	run, err := r.Signaler.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
	if err == nil {
		r.mu.Lock()
		r.batches[workflowID] = append(r.batches[workflowID], len(signalArg.(TaskSignal).Events))
		r.mu.Unlock()
	}
	return run, err
}

// live is a worker and a relay on a private task queue of a real Temporal server, over a memStore.
type live struct {
	t      *testing.T
	c      client.Client
	store  *memStore
	rec    *recordingSignaler
	queue  string
	prefix string // of task ids, unique per test run since the server keeps workflow IDs
}

func startLive(t *testing.T, settings billing.TaskSettings) *live {
	addr := temporalAddress(t)
	c, err := client.Dial(client.Options{HostPort: addr, Logger: log.NewStructuredLogger(quietLogger())})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	queue := fmt.Sprintf("outcomebill-test-%d", time.Now().UnixNano())
	store := newMemStore()
	store.settings["support.ticket_resolved"] = settings
	w := worker.New(c, queue, worker.Options{})
	Register(w, &Activities{Store: store})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	rec := &recordingSignaler{Signaler: c, batches: map[string][]int{}}
	relay := &Relay{Temporal: rec, Store: store, TaskQueue: queue, Logger: quietLogger(), PollInterval: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &live{t: t, c: c, store: store, rec: rec, queue: queue, prefix: fmt.Sprintf("t%d-", time.Now().UnixNano())}
}

// event builds an event of task id (prefixed) that occurred now.
func (l *live) event(task, id string, typ billing.EventType) billing.TaskEvent {
	e := billing.TaskEvent{ID: l.prefix + id, Type: typ, CustomerID: "C1", TaskID: l.prefix + task, OccurredAt: time.Now().UTC()}
	switch typ {
	case billing.EventStarted:
		e.OutcomeType, e.Priority = "support.ticket_resolved", billing.PriorityNormal
	case billing.EventOutcome:
		e.Status = billing.OutcomeSucceeded
	case billing.EventDisputed:
		e.Reason = "not resolved"
	}
	return e
}

// waitStatus waits until the stored state of task has the status.
func (l *live) waitStatus(task string, status billing.TaskStatus) billing.TaskState {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, ok := l.store.state(l.prefix + task)
		if ok && s.Status == status {
			return s
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("task %s: state %+v, waited for %s", task, s, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result waits for the latest run of task's workflow and returns its result and run ID.
func (l *live) result(task string) (billing.TaskState, string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := l.c.GetWorkflow(ctx, TaskWorkflowID(l.prefix+task), "")
	var st billing.TaskState
	if err := run.Get(ctx, &st); err != nil {
		l.t.Fatalf("task %s workflow: %v", task, err)
	}
	return st, run.GetRunID()
}

// history returns the events of one run, as JSON that the replayer reads, and their number.
func (l *live) history(task, runID string) ([]byte, int) {
	l.t.Helper()
	it := l.c.GetWorkflowHistory(context.Background(), TaskWorkflowID(l.prefix+task), runID, false, 0)
	var buf bytes.Buffer
	buf.WriteString("{\"events\": [")
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			l.t.Fatal(err)
		}
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(proto.Message(e))
		if err != nil {
			l.t.Fatal(err)
		}
		if n > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
		buf.Write(b)
		n++
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), n
}

func TestRelayLiveTemporal(t *testing.T) {
	l := startLive(t, billing.TaskSettings{DisputeWindow: time.Second, TaskTimeout: time.Hour})
	// Three events of A accepted together go out as one signal.
	l.store.ingest(l.event("A", "a1", billing.EventStarted), l.event("A", "a2", billing.EventUsage),
		l.event("B", "b1", billing.EventStarted), l.event("A", "a3", billing.EventUsage))
	l.waitStatus("A", billing.TaskOpen)
	l.waitStatus("B", billing.TaskOpen)
	l.store.ingest(l.event("A", "a4", billing.EventOutcome))
	l.store.ingest(l.event("B", "b2", billing.EventCancelled))
	l.waitStatus("A", billing.TaskBillable)
	l.waitStatus("B", billing.TaskNotBillable)
	if st, _ := l.result("A"); st.Status != billing.TaskBillable || st.OutcomeEventID != l.prefix+"a4" {
		t.Errorf("A ended %+v", st)
	}
	l.rec.mu.Lock()
	if got := l.rec.batches[TaskWorkflowID(l.prefix+"A")]; len(got) != 2 || got[0] != 3 || got[1] != 1 {
		t.Errorf("A signalled in batches of %v, want [3 1]", got)
	}
	l.rec.mu.Unlock()
	if n := l.store.undelivered(); n != 0 {
		t.Errorf("%d outbox rows undelivered", n)
	}
}

// TestRelayLiveTemporalDown: while Temporal is unreachable, rows stay in the outbox with a retry
// time; once it is back they are delivered and the workflow runs.
func TestRelayLiveTemporalDown(t *testing.T) {
	l := startLive(t, billing.TaskSettings{DisputeWindow: 0, TaskTimeout: time.Hour})
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: log.NewStructuredLogger(quietLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	store := newMemStore()
	store.settings = l.store.settings
	now := time.Now()
	store.now = func() time.Time { return now }
	down := &Relay{Temporal: dead, Store: store, Logger: quietLogger(), Now: store.now, TaskQueue: "unused"}
	store.ingest(l.event("D", "d1", billing.EventStarted), l.event("D", "d2", billing.EventOutcome))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if claimed, delivered, err := down.Deliver(ctx); claimed != 2 || delivered != 0 || err == nil {
		t.Fatalf("Deliver while down = %d, %d, %v", claimed, delivered, err)
	}
	if store.undelivered() != 2 || !strings.Contains(store.outbox[0].lastErr, "signal task") {
		t.Fatalf("rows after failure: %+v", store.outbox[0])
	}
	// Temporal is back: the rows go out after their retry time.
	up := &Relay{Temporal: l.c, Store: store, Logger: quietLogger(), Now: store.now, TaskQueue: l.queue}
	now = now.Add(time.Minute)
	if claimed, delivered, err := up.Deliver(ctx); claimed != 2 || delivered != 2 || err != nil {
		t.Fatalf("Deliver when back = %d, %d, %v", claimed, delivered, err)
	}
	if st, _ := l.result("D"); st.Status != billing.TaskBillable {
		t.Errorf("D ended %+v", st)
	}
}

// TestRecordTaskHistories runs typical tasks on a real server and, with -record, writes their
// histories to testdata/ for TestReplay. It logs the history length of each.
func TestRecordTaskHistories(t *testing.T) {
	const window = 2 * time.Second
	l := startLive(t, billing.TaskSettings{DisputeWindow: window, TaskTimeout: time.Hour})
	pause := func() { time.Sleep(300 * time.Millisecond) }

	// Typical: start, two usage events, outcome, each arriving on its own; the window passes.
	l.store.ingest(l.event("typical", "s", billing.EventStarted))
	l.waitStatus("typical", billing.TaskOpen)
	l.store.ingest(l.event("typical", "u1", billing.EventUsage))
	pause()
	l.store.ingest(l.event("typical", "u2", billing.EventUsage))
	pause()
	l.store.ingest(l.event("typical", "o", billing.EventOutcome))
	l.waitStatus("typical", billing.TaskBillable)
	_, typicalRun := l.result("typical")

	// Burst: start and usage arrive together, then the outcome.
	l.store.ingest(l.event("burst", "s", billing.EventStarted), l.event("burst", "u1", billing.EventUsage), l.event("burst", "u2", billing.EventUsage))
	l.waitStatus("burst", billing.TaskOpen)
	l.store.ingest(l.event("burst", "o", billing.EventOutcome))
	l.waitStatus("burst", billing.TaskBillable)
	_, burstRun := l.result("burst")

	// Late dispute: after the typical task completed, a new run folds it against the outcome.
	l.store.ingest(l.event("typical", "d", billing.EventDisputed))
	l.waitStatus("typical", billing.TaskNotBillable)
	st, disputeRun := l.result("typical")
	if disputeRun == typicalRun || st.OutcomeEventID != l.prefix+"o" || st.Version != 4 {
		t.Errorf("late dispute run %s (first %s) ended %+v", disputeRun, typicalRun, st)
	}

	for _, h := range []struct{ task, run, file string }{
		{"typical", typicalRun, "task_typical.json"},
		{"burst", burstRun, "task_burst.json"},
		{"typical", disputeRun, "task_late_dispute.json"},
	} {
		b, n := l.history(h.task, h.run)
		t.Logf("%s: %d history events", h.file, n)
		if *record {
			if err := os.WriteFile(filepath.Join("testdata", h.file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReplay replays the recorded histories with today's workflow code: a change that would
// break running workflows (a different sequence of commands) fails here.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "task_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: TaskWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(quietLogger()), f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
