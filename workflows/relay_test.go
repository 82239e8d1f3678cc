package workflows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/outcomebill/outcomebill/billing"
)

// fakeTemporal records signal-with-start calls; down makes them fail.
type fakeTemporal struct {
	mu    sync.Mutex
	calls []signalCall
	down  func(workflowID string) bool
	at    []time.Time
}

type signalCall struct {
	workflowID, signal string
	events             []string
	opts               client.StartWorkflowOptions
	workflow           any
	input              TaskInput
}

func (f *fakeTemporal) SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	if f.down != nil && f.down(workflowID) {
		return nil, errors.New("connection refused")
	}
	var ids []string
	for _, e := range signalArg.(TaskSignal).Events {
		ids = append(ids, e.ID)
	}
	f.calls = append(f.calls, signalCall{workflowID, signalName, ids, options, workflow, workflowArgs[0].(TaskInput)})
	return nil, nil
}

func (f *fakeTemporal) delivered() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, c := range f.calls {
		out[c.workflowID] = append(out[c.workflowID], c.events...)
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func taskEvent(task, id string, typ billing.EventType) billing.TaskEvent {
	return ev(task, id, typ, 0)
}

func TestRelayCoalescesByTask(t *testing.T) {
	store := newMemStore()
	store.ingest(taskEvent("A", "a1", billing.EventStarted), taskEvent("B", "b1", billing.EventStarted),
		taskEvent("A", "a2", billing.EventUsage), taskEvent("C", "c1", billing.EventStarted), taskEvent("A", "a3", billing.EventOutcome))
	tc := &fakeTemporal{}
	r := &Relay{Temporal: tc, Store: store, Logger: quietLogger()}
	claimed, delivered, err := r.Deliver(context.Background())
	if err != nil || claimed != 5 || delivered != 5 {
		t.Fatalf("Deliver = %d, %d, %v", claimed, delivered, err)
	}
	if len(tc.calls) != 3 {
		t.Fatalf("%d signals, want one per task: %+v", len(tc.calls), tc.calls)
	}
	want := map[string][]string{"task:A": {"a1", "a2", "a3"}, "task:B": {"b1"}, "task:C": {"c1"}}
	if got := tc.delivered(); !reflect.DeepEqual(got, want) {
		t.Errorf("signalled %v, want %v", got, want)
	}
	for _, c := range tc.calls {
		if c.signal != TaskEventsSignal || c.opts.ID != c.workflowID || c.opts.TaskQueue != TaskQueue ||
			c.workflow != TaskWorkflowName || TaskWorkflowID(c.input.TaskID) != c.workflowID || c.input.Carry != nil {
			t.Errorf("call %+v", c)
		}
	}
	if n := store.undelivered(); n != 0 {
		t.Errorf("%d rows undelivered", n)
	}
	if store.calls["MarkDelivered"] != 1 {
		t.Errorf("MarkDelivered called %d times, want once per batch", store.calls["MarkDelivered"])
	}
	// Nothing left: the next pass claims nothing and signals nothing.
	if claimed, _, err := r.Deliver(context.Background()); claimed != 0 || err != nil || len(tc.calls) != 3 {
		t.Errorf("second pass: %d, %v, %d calls", claimed, err, len(tc.calls))
	}
}

func TestRelayReleasesFailedTasks(t *testing.T) {
	store := newMemStore()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	store.now = func() time.Time { return now }
	store.ingest(taskEvent("A", "a1", billing.EventStarted), taskEvent("B", "b1", billing.EventStarted), taskEvent("B", "b2", billing.EventUsage))
	tc := &fakeTemporal{down: func(id string) bool { return id == "task:B" }}
	r := &Relay{Temporal: tc, Store: store, Logger: quietLogger(), Now: store.now, MinBackoff: time.Second, MaxBackoff: time.Minute}
	claimed, delivered, err := r.Deliver(context.Background())
	if claimed != 3 || delivered != 1 || err == nil || !strings.Contains(err.Error(), "task B") {
		t.Fatalf("Deliver = %d, %d, %v", claimed, delivered, err)
	}
	for _, row := range store.outbox {
		switch row.item.Event.TaskID {
		case "A":
			if !row.delivered {
				t.Error("A not delivered")
			}
		case "B":
			// Released for a retry after the first backoff, with the error kept.
			if row.delivered || row.availAt.Before(now.Add(800*time.Millisecond)) || row.availAt.After(now.Add(time.Second)) ||
				!strings.Contains(row.lastErr, "connection refused") {
				t.Errorf("B row %+v", row)
			}
		}
	}
	// Before the retry time nothing is claimed; after it, B is retried with a longer backoff.
	if claimed, _, _ := r.Deliver(context.Background()); claimed != 0 {
		t.Errorf("claimed %d before the retry time", claimed)
	}
	now = now.Add(time.Second)
	if claimed, delivered, _ := r.Deliver(context.Background()); claimed != 2 || delivered != 0 {
		t.Errorf("retry: claimed %d delivered %d", claimed, delivered)
	}
	for _, row := range store.outbox {
		if row.item.Event.TaskID == "B" && (row.item.Attempts != 2 || row.availAt.Before(now.Add(1600*time.Millisecond))) {
			t.Errorf("second failure: %+v", row)
		}
	}
	tc.down = nil
	now = now.Add(time.Minute)
	if _, delivered, err := r.Deliver(context.Background()); delivered != 2 || err != nil {
		t.Errorf("after recovery: delivered %d, %v", delivered, err)
	}
	if got := tc.delivered()["task:B"]; !reflect.DeepEqual(got, []string{"b1", "b2"}) {
		t.Errorf("B got %v", got)
	}
}

// TestRelayRunBacksOffWhileTemporalIsDown: ingest goes on while Temporal is down, the relay slows
// down instead of spinning, and everything is delivered once Temporal is back.
func TestRelayRunBacksOffWhileTemporalIsDown(t *testing.T) {
	store := newMemStore()
	var mu sync.Mutex
	down := true
	tc := &fakeTemporal{down: func(string) bool { mu.Lock(); defer mu.Unlock(); return down }}
	r := &Relay{Temporal: tc, Store: store, Logger: quietLogger(), PollInterval: 2 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, BatchSize: 2}
	store.ingest(taskEvent("A", "a1", billing.EventStarted))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	time.Sleep(300 * time.Millisecond)
	for i := range 5 {
		store.ingest(taskEvent("B", "b"+string(rune('1'+i)), billing.EventUsage)) // accepted while down
	}
	tc.mu.Lock()
	attempts := len(tc.at)
	tc.mu.Unlock()
	// Polling every 2 ms would try ~150 times; backing off to 40 ms tries about 10.
	if attempts < 3 || attempts > 20 {
		t.Errorf("%d attempts in 300 ms while down", attempts)
	}

	mu.Lock()
	down = false
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for store.undelivered() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := store.undelivered(); n != 0 {
		t.Fatalf("%d rows undelivered after Temporal came back", n)
	}
	got := tc.delivered()
	if !reflect.DeepEqual(got["task:A"], []string{"a1"}) || len(got["task:B"]) != 5 {
		t.Errorf("delivered %v", got)
	}
}

func TestRelayBackoff(t *testing.T) {
	r := &Relay{MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000}
	for i, w := range want {
		w *= time.Millisecond
		for range 20 {
			if got := r.backoff(i + 1); got > w || got < w*8/10 {
				t.Fatalf("backoff(%d) = %v, want %v less up to 20%%", i+1, got, w)
			}
		}
	}
	if got := r.backoff(1000); got > 2*time.Second {
		t.Errorf("backoff(1000) = %v", got)
	}
}

func TestRelayRecordsLag(t *testing.T) {
	store := newMemStore()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	store.now = func() time.Time { return now }
	lag := &fakeGauge{Gauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outcomebill_outbox_lag_seconds"})}
	r := &Relay{Temporal: &fakeTemporal{down: func(string) bool { return true }}, Store: store, Logger: quietLogger(), Lag: lag, Now: store.now}
	r.defaults()
	store.ingest(taskEvent("A", "a1", billing.EventStarted))
	now = now.Add(90 * time.Second)
	r.recordLag(context.Background())
	if v := lag.value(); v != 90 {
		t.Errorf("lag %v, want 90", v)
	}
	// At most once a second.
	now = now.Add(500 * time.Millisecond)
	r.recordLag(context.Background())
	if v := lag.value(); v != 90 {
		t.Errorf("lag %v, want 90 until a second passed", v)
	}
	store.outbox[0].delivered = true
	now = now.Add(time.Second)
	r.recordLag(context.Background())
	if v := lag.value(); v != 0 {
		t.Errorf("lag %v with an empty outbox", v)
	}
}

// fakeGauge remembers the last value set.
type fakeGauge struct {
	prometheus.Gauge
	mu sync.Mutex
	v  float64
}

func (g *fakeGauge) Set(v float64)  { g.mu.Lock(); g.v = v; g.mu.Unlock() }
func (g *fakeGauge) value() float64 { g.mu.Lock(); defer g.mu.Unlock(); return g.v }

func TestCoalesceCapsSignalSize(t *testing.T) {
	var items []billing.OutboxItem
	for i := range 2*maxSignalEvents + 1 {
		items = append(items, billing.OutboxItem{ID: int64(i + 1), Event: taskEvent("A", fmt.Sprint("a", i), billing.EventUsage)})
	}
	items = append(items, billing.OutboxItem{ID: 999, Event: taskEvent("B", "b", billing.EventUsage)})
	var sizes []int
	for _, b := range coalesce(items) {
		sizes = append(sizes, len(b.events))
	}
	if want := []int{maxSignalEvents, maxSignalEvents, 1, 1}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}
