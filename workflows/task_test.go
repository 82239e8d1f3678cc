package workflows

import (
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	h      = time.Hour
	day    = 24 * time.Hour
	window = billing.DefaultDisputeWindow
)

func ev(taskID, id string, typ billing.EventType, at time.Duration) billing.TaskEvent {
	return billing.TaskEvent{ID: id, Type: typ, CustomerID: "C1", TaskID: taskID, OccurredAt: t0.Add(at)}
}
func started(id string, at time.Duration) billing.TaskEvent {
	e := ev("T1", id, billing.EventStarted, at)
	e.OutcomeType, e.Priority = "support.ticket_resolved", billing.PriorityNormal
	return e
}
func usage(id string, at time.Duration) billing.TaskEvent {
	return ev("T1", id, billing.EventUsage, at)
}
func outcome(id string, at time.Duration, s billing.OutcomeStatus) billing.TaskEvent {
	e := ev("T1", id, billing.EventOutcome, at)
	e.Status = s
	return e
}
func disputed(id string, at time.Duration) billing.TaskEvent {
	e := ev("T1", id, billing.EventDisputed, at)
	e.Reason = "customer says no"
	return e
}
func cancelled(id string, at time.Duration) billing.TaskEvent {
	return ev("T1", id, billing.EventCancelled, at)
}

// wfTest runs TaskWorkflow for task T1 in the test environment, on its clock, with a memStore.
type wfTest struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	store *memStore
	start time.Time
}

func newWFTest(t *testing.T, store *memStore, start time.Time) *wfTest {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	Register(env, &Activities{Store: store})
	return &wfTest{t: t, env: env, store: store, start: start}
}

// at stores evs at workflow time start+d and signals them, as ingest and the relay do.
func (w *wfTest) at(d time.Duration, evs ...billing.TaskEvent) {
	w.env.RegisterDelayedCallback(func() {
		w.store.ingest(evs...)
		w.env.SignalWorkflow(TaskEventsSignal, TaskSignal{Events: evs})
	}, d)
}

// run stores the first events, starts the workflow as signal-with-start would (those events in a
// signal) and runs it to completion.
func (w *wfTest) run(first ...billing.TaskEvent) billing.TaskState {
	w.t.Helper()
	w.store.ingest(first...)
	w.env.RegisterDelayedCallback(func() { w.env.SignalWorkflow(TaskEventsSignal, TaskSignal{Events: first}) }, 0)
	w.env.ExecuteWorkflow(TaskWorkflowName, TaskInput{TaskID: "T1"})
	if !w.env.IsWorkflowCompleted() {
		w.t.Fatal("workflow did not complete")
	}
	if err := w.env.GetWorkflowError(); err != nil {
		w.t.Fatalf("workflow error: %v", err)
	}
	var st billing.TaskState
	if err := w.env.GetWorkflowResult(&st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

// ended checks the workflow completed at start+d on its clock.
func (w *wfTest) ended(d time.Duration) {
	w.t.Helper()
	if got := w.env.Now().Sub(w.start); got != d {
		w.t.Errorf("workflow ended after %v, want %v", got, d)
	}
}

func checkStatus(t *testing.T, s billing.TaskState, status billing.TaskStatus, at time.Time) {
	t.Helper()
	if s.Status != status || !s.StatusAt.Equal(at) {
		t.Errorf("status %s at %s, want %s at %s", s.Status, s.StatusAt, status, at)
	}
}

func checkSaves(t *testing.T, m *memStore, want ...billing.TaskStatus) {
	t.Helper()
	if got := m.savedStatuses(); !reflect.DeepEqual(got, want) {
		t.Errorf("saved states %v, want %v", got, want)
	}
	for i, s := range m.saves {
		if s.Version != int64(i+1) {
			t.Errorf("save %d has version %d", i, s.Version)
		}
	}
}

func TestTaskWindowPassesBillable(t *testing.T) {
	w := newWFTest(t, newMemStore(), t0)
	w.at(10*time.Minute, usage("u2", 9*time.Minute))
	w.at(h, outcome("o1", h, billing.OutcomeSucceeded))
	st := w.run(started("s1", 0), usage("u1", time.Minute))
	checkStatus(t, st, billing.TaskBillable, t0.Add(h+window))
	checkSaves(t, w.store, billing.TaskOpen, billing.TaskVerifying, billing.TaskBillable)
	w.ended(h + window)
	if got, _ := w.store.state("T1"); !got.Equal(st) || got.OutcomeType != "support.ticket_resolved" {
		t.Errorf("stored %+v", got)
	}
	if n := w.store.calls["LoadTask"]; n != 1 {
		t.Errorf("LoadTask called %d times", n)
	}
}

func TestTaskDisputeInsideWindow(t *testing.T) {
	w := newWFTest(t, newMemStore(), t0)
	w.at(h, outcome("o1", h, billing.OutcomeSucceeded))
	w.at(5*h, disputed("d1", 5*h))
	st := w.run(started("s1", 0))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(5*h))
	if !st.Disputed || st.DisputeReason != "customer says no" {
		t.Errorf("dispute not recorded: %+v", st)
	}
	checkSaves(t, w.store, billing.TaskOpen, billing.TaskVerifying, billing.TaskNotBillable)
	w.ended(5 * h)
}

func TestTaskOutOfOrder(t *testing.T) {
	store := newMemStore()
	store.settings["code.pr_merged"] = billing.TaskSettings{DisputeWindow: 2 * h, TaskTimeout: day}
	w := newWFTest(t, store, t0.Add(h))
	start := started("s1", 0)
	start.OutcomeType = "code.pr_merged"
	w.at(30*time.Minute, start)                       // the start arrives after the outcome
	w.at(45*time.Minute, usage("u1", 30*time.Minute)) // usage after the outcome: no change
	st := w.run(outcome("o1", h, billing.OutcomeSucceeded))
	// The window of code.pr_merged (2 h), not the default, counts from the outcome.
	checkStatus(t, st, billing.TaskBillable, t0.Add(3*h))
	if st.OutcomeType != "code.pr_merged" || !st.StartedAt.Equal(t0) {
		t.Errorf("state %+v", st)
	}
	// Verifying with default settings, verifying with the outcome type's, billable.
	checkSaves(t, store, billing.TaskVerifying, billing.TaskVerifying, billing.TaskBillable)
	w.ended(2 * h)
	if n := store.calls["TaskSettings"]; n != 1 {
		t.Errorf("TaskSettings called %d times", n)
	}
}

func TestTaskTimeoutExpires(t *testing.T) {
	store := newMemStore()
	w := newWFTest(t, store, t0)
	w.at(h, usage("u1", h))
	st := w.run(started("s1", 0))
	checkStatus(t, st, billing.TaskExpired, t0.Add(billing.DefaultTaskTimeout))
	checkSaves(t, store, billing.TaskOpen, billing.TaskExpired)
	w.ended(billing.DefaultTaskTimeout)
}

func TestTaskCancelled(t *testing.T) {
	store := newMemStore()
	w := newWFTest(t, store, t0)
	w.at(2*h, cancelled("c1", 2*h))
	st := w.run(started("s1", 0), usage("u1", time.Minute))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(2*h))
	checkSaves(t, store, billing.TaskOpen, billing.TaskNotBillable)
	w.ended(2 * h)
}

func TestTaskWindowZero(t *testing.T) {
	store := newMemStore()
	store.settings["support.ticket_resolved"] = billing.TaskSettings{DisputeWindow: 0, TaskTimeout: day}
	w := newWFTest(t, store, t0)
	w.at(h, outcome("o1", h, billing.OutcomePartial))
	st := w.run(started("s1", 0))
	checkStatus(t, st, billing.TaskBillable, t0.Add(h))
	checkSaves(t, store, billing.TaskOpen, billing.TaskBillable)
	w.ended(h)
}

func TestTaskFailedOutcome(t *testing.T) {
	store := newMemStore()
	// The test environment checks local activity deadlines against the real clock, so retries
	// only work when the workflow clock starts at the real time.
	w := newWFTest(t, store, time.Now())
	st := w.run(started("s1", 0), outcome("o1", h, billing.OutcomeFailed))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(h))
	checkSaves(t, store, billing.TaskNotBillable)
	w.ended(0)
}

// TestTaskLateDispute: the first run completes billable; a dispute days later starts a new run
// (signal-with-start), which loads the stored events and state and flips the task.
func TestTaskLateDispute(t *testing.T) {
	store := newMemStore()
	w := newWFTest(t, store, t0)
	w.at(h, outcome("o1", h, billing.OutcomeSucceeded))
	first := w.run(started("s1", 0))
	checkStatus(t, first, billing.TaskBillable, t0.Add(h+window))

	// A late usage event: a new run that finds nothing changed writes nothing.
	w2 := newWFTest(t, store, t0.Add(5*day))
	if st := w2.run(usage("u9", 2*h)); !st.Equal(first) {
		t.Errorf("late usage changed the state: %+v", st)
	}
	checkSaves(t, store, billing.TaskOpen, billing.TaskVerifying, billing.TaskBillable)

	w3 := newWFTest(t, store, t0.Add(10*day))
	st := w3.run(disputed("d1", 10*day))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(10*day))
	if st.OutcomeEventID != "o1" || !st.Disputed {
		t.Errorf("late dispute not folded against the outcome: %+v", st)
	}
	checkSaves(t, store, billing.TaskOpen, billing.TaskVerifying, billing.TaskBillable, billing.TaskNotBillable)
	w3.ended(0)
}

// TestTaskSignalOnlyEvents: events known only from signals (not yet visible to LoadTask) count.
func TestTaskSignalOnlyEvents(t *testing.T) {
	store := newMemStore()
	w := newWFTest(t, store, t0)
	w.env.RegisterDelayedCallback(func() {
		w.env.SignalWorkflow(TaskEventsSignal, TaskSignal{Events: []billing.TaskEvent{outcome("o1", h, billing.OutcomeEscalated), outcome("o1", h, billing.OutcomeEscalated)}})
	}, h)
	st := w.run(started("s1", 0))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(h))
}

func TestTaskRetriesStoreFailures(t *testing.T) {
	store := newMemStore()
	store.fail = func(method string, n int) error {
		if n <= 2 {
			return errors.New("connection refused")
		}
		return nil
	}
	// The test environment checks local activity deadlines against the real clock, so retries
	// only work when the workflow clock starts at the real time.
	w := newWFTest(t, store, time.Now())
	st := w.run(started("s1", 0), outcome("o1", h, billing.OutcomeFailed))
	checkStatus(t, st, billing.TaskNotBillable, t0.Add(h))
	// LoadTask fails twice itself, then twice more in its TaskSettings call.
	if store.calls["LoadTask"] != 5 || store.calls["SaveTaskState"] != 3 {
		t.Errorf("calls %v", store.calls)
	}
}

func TestTaskBusinessErrorIsNotRetried(t *testing.T) {
	store := newMemStore()
	store.fail = func(method string, n int) error {
		if method == "SaveTaskState" {
			return billing.Invalid("customer_id", "unknown customer")
		}
		return nil
	}
	w := newWFTest(t, store, t0)
	store.ingest(started("s1", 0))
	w.env.ExecuteWorkflow(TaskWorkflowName, TaskInput{TaskID: "T1"})
	err := w.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalid || !appErr.NonRetryable() {
		t.Fatalf("workflow error %v, want a non-retryable %s", err, ErrTypeInvalid)
	}
	if n := store.calls["SaveTaskState"]; n != 1 {
		t.Errorf("SaveTaskState called %d times", n)
	}
}

func TestTaskContinueAsNew(t *testing.T) {
	store := newMemStore()
	w := newWFTest(t, store, t0)
	w.env.SetContinueAsNewSuggested(true)
	store.ingest(started("s1", 0))
	w.env.RegisterDelayedCallback(func() {}, 0)
	w.env.ExecuteWorkflow(TaskWorkflowName, TaskInput{TaskID: "T1"})
	var can *workflow.ContinueAsNewError
	if err := w.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow error %v, want continue-as-new", err)
	}
	var in TaskInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.TaskID != "T1" || in.Carry == nil || len(in.Carry.Events) != 1 || in.Carry.Saved == nil || in.Carry.Saved.Version != 1 {
		t.Fatalf("carried %+v", in)
	}

	// The next run goes on from the carried state without loading or saving it again.
	w2 := newWFTest(t, store, t0.Add(h))
	w2.at(h, outcome("o1", 2*h, billing.OutcomeSucceeded))
	w2.env.ExecuteWorkflow(TaskWorkflowName, in)
	var st billing.TaskState
	if err := w2.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, st, billing.TaskBillable, t0.Add(2*h+window))
	checkSaves(t, store, billing.TaskOpen, billing.TaskVerifying, billing.TaskBillable)
	if store.calls["LoadTask"] != 1 {
		t.Errorf("LoadTask called %d times", store.calls["LoadTask"])
	}
}

func TestTaskWorkflowID(t *testing.T) {
	if got := TaskWorkflowID("ticket-42"); got != "task:ticket-42" {
		t.Errorf("TaskWorkflowID = %q", got)
	}
}
