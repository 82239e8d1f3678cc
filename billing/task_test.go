package billing

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// ev builds a task event of task T1 for customer C1 that occurred at t0+at.
func ev(id string, typ EventType, at time.Duration, opts ...func(*TaskEvent)) TaskEvent {
	return TaskEvent{ID: id, Type: typ, CustomerID: "C1", TaskID: "T1", OccurredAt: t0.Add(at)}.with(opts...)
}

func (e TaskEvent) with(opts ...func(*TaskEvent)) TaskEvent {
	for _, o := range opts {
		o(&e)
	}
	return e
}

func started(id string, at time.Duration, opts ...func(*TaskEvent)) TaskEvent {
	return ev(id, EventStarted, at, func(e *TaskEvent) { e.OutcomeType, e.Priority = "support.ticket_resolved", PriorityNormal }).with(opts...)
}
func usage(id string, at time.Duration) TaskEvent { return ev(id, EventUsage, at) }
func outcome(id string, at time.Duration, s OutcomeStatus) TaskEvent {
	return ev(id, EventOutcome, at, func(e *TaskEvent) { e.Status = s })
}
func disputed(id string, at time.Duration) TaskEvent {
	return ev(id, EventDisputed, at, func(e *TaskEvent) { e.Reason = "wrong answer " + id })
}
func cancelled(id string, at time.Duration) TaskEvent { return ev(id, EventCancelled, at) }

const (
	h      = time.Hour
	day    = 24 * time.Hour
	window = DefaultDisputeWindow
)

var defaults = DefaultTaskSettings()

func TestFoldTask(t *testing.T) {
	tests := []struct {
		name     string
		events   []TaskEvent
		settings TaskSettings
		now      time.Duration // after t0
		check    func(t *testing.T, s TaskState)
	}{
		{"started only", []TaskEvent{started("e1", 0)}, defaults, h, func(t *testing.T, s TaskState) {
			want(t, s, TaskOpen, t0)
			eq(t, "ExpiresAt", s.ExpiresAt, t0.Add(7*day))
			eq(t, "Deadline", s.Deadline(), t0.Add(7*day))
			eq(t, "OutcomeType", s.OutcomeType, "support.ticket_resolved")
			eq(t, "CustomerID", s.CustomerID, "C1")
		}},
		{"timeout passes without outcome", []TaskEvent{started("e1", 0), usage("u1", h)}, defaults, 7 * day, func(t *testing.T, s TaskState) {
			want(t, s, TaskExpired, t0.Add(7*day))
			eq(t, "Deadline", s.Deadline(), time.Time{})
		}},
		{"one nanosecond before the timeout", []TaskEvent{started("e1", 0)}, defaults, 7*day - 1, func(t *testing.T, s TaskState) {
			want(t, s, TaskOpen, t0)
		}},
		{"typical task verifying", []TaskEvent{started("e1", 0), usage("u1", h), usage("u2", 2*h), outcome("o1", 3*h, OutcomeSucceeded)}, defaults, 4 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskVerifying, t0.Add(3*h))
				eq(t, "BillableAt", s.BillableAt, t0.Add(3*h+window))
				eq(t, "Deadline", s.Deadline(), t0.Add(3*h+window))
				eq(t, "OutcomeEventID", s.OutcomeEventID, "o1")
			}},
		{"window passes exactly", []TaskEvent{started("e1", 0), usage("u1", h), outcome("o1", 3*h, OutcomeSucceeded)}, defaults, 3*h + window,
			func(t *testing.T, s TaskState) { want(t, s, TaskBillable, t0.Add(3*h+window)) }},
		{"one nanosecond before the window ends", []TaskEvent{started("e1", 0), outcome("o1", 3*h, OutcomeSucceeded)}, defaults, 3*h + window - 1,
			func(t *testing.T, s TaskState) { want(t, s, TaskVerifying, t0.Add(3*h)) }},
		{"partial is billable too", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomePartial)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskBillable, t0.Add(h+window)) }},
		{"failed", []TaskEvent{started("e1", 0), usage("u1", h), outcome("o1", 2*h, OutcomeFailed)}, defaults, 3 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskNotBillable, t0.Add(2*h))
				eq(t, "BillableAt", s.BillableAt, time.Time{})
			}},
		{"escalated", []TaskEvent{started("e1", 0), outcome("o1", 2*h, OutcomeEscalated)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(2*h)) }},
		{"outcome occurred before the start event", []TaskEvent{started("e1", h), outcome("o1", 0, OutcomeSucceeded)}, defaults, 2 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskVerifying, t0)
				eq(t, "StartedAt", s.StartedAt, t0.Add(h))
			}},
		{"usage after the outcome changes nothing", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), usage("u1", 2*h), usage("u2", 80*h)}, defaults, 4 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskBillable, t0.Add(h+window)) }},
		{"outcome without start", []TaskEvent{usage("u1", 0), outcome("o1", h, OutcomeSucceeded)}, defaults, 4 * day, func(t *testing.T, s TaskState) {
			want(t, s, TaskBillable, t0.Add(h+window))
			eq(t, "OutcomeType", s.OutcomeType, "")
			eq(t, "Priority", s.Priority, PriorityNormal)
			eq(t, "StartedAt", s.StartedAt, t0)
		}},
		{"usage only expires from the first event", []TaskEvent{usage("u2", 2*h), usage("u1", h)}, defaults, 7*day + h, func(t *testing.T, s TaskState) {
			want(t, s, TaskExpired, t0.Add(h+7*day))
			eq(t, "CustomerID", s.CustomerID, "C1")
		}},
		{"dispute inside the window", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), disputed("d1", 2*h)}, defaults, 3 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskNotBillable, t0.Add(2*h))
				eq(t, "Disputed", s.Disputed, true)
				eq(t, "DisputeReason", s.DisputeReason, "wrong answer d1")
				eq(t, "DisputedAt", s.DisputedAt, t0.Add(2*h))
				eq(t, "BillableAt", s.BillableAt, time.Time{})
				eq(t, "OutcomeEventID", s.OutcomeEventID, "o1")
			}},
		{"dispute after billable", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), disputed("d1", 10*day)}, defaults, 11 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(10*day)) }},
		{"dispute that occurred before the outcome", []TaskEvent{started("e1", 0), disputed("d1", h), outcome("o1", 2*h, OutcomeSucceeded)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(h)) }},
		{"dispute without outcome", []TaskEvent{started("e1", 0), disputed("d1", h)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(h)) }},
		{"earliest of two disputes", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), disputed("d2", 3*h), disputed("d1", 2*h)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskNotBillable, t0.Add(2*h))
				eq(t, "DisputeReason", s.DisputeReason, "wrong answer d1")
			}},
		{"cancelled while open", []TaskEvent{started("e1", 0), usage("u1", h), cancelled("c1", 2*h)}, defaults, 3 * h, func(t *testing.T, s TaskState) {
			want(t, s, TaskNotBillable, t0.Add(2*h))
			eq(t, "Cancelled", s.Cancelled, true)
			eq(t, "CancelledAt", s.CancelledAt, t0.Add(2*h))
		}},
		{"cancelled after the outcome", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), cancelled("c1", 2*h)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(2*h)) }},
		{"outcome after cancellation", []TaskEvent{started("e1", 0), cancelled("c1", h), outcome("o1", 2*h, OutcomeSucceeded)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(h)) }},
		{"cancelled after expiry", []TaskEvent{started("e1", 0), cancelled("c1", 8*day)}, defaults, 9 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(8*day)) }},
		{"cancelled and disputed: the earlier counts", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), disputed("d1", 3*h), cancelled("c1", 2*h)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(2*h)) }},
		{"failed outcome corrected to succeeded", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeFailed), outcome("o2", 2*h, OutcomeSucceeded)}, defaults, 3 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskVerifying, t0.Add(2*h))
				eq(t, "BillableAt", s.BillableAt, t0.Add(2*h+window))
				eq(t, "OutcomeEventID", s.OutcomeEventID, "o2")
			}},
		{"succeeded outcome corrected to failed", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), outcome("o2", 2*h, OutcomeFailed)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(2*h)) }},
		{"outcomes at the same instant: the greater id wins", []TaskEvent{started("e1", 0), outcome("o2", h, OutcomeFailed), outcome("o1", h, OutcomeSucceeded)}, defaults, 10 * day,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskNotBillable, t0.Add(h))
				eq(t, "OutcomeEventID", s.OutcomeEventID, "o2")
			}},
		{"outcome after the timeout does not count", []TaskEvent{started("e1", 0), outcome("o1", 7*day, OutcomeSucceeded)}, defaults, 20 * day,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskExpired, t0.Add(7*day))
				eq(t, "OutcomeEventID", s.OutcomeEventID, "")
			}},
		{"outcome in time counts even if a later one came after the timeout", []TaskEvent{started("e1", 0), outcome("o1", 6*day, OutcomeSucceeded), outcome("o2", 8*day, OutcomeFailed)}, defaults, 20 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskBillable, t0.Add(6*day+window)) }},
		{"outcome in time arriving after the timeout", []TaskEvent{started("e1", 0), outcome("o1", 7*day-time.Second, OutcomeSucceeded)}, defaults, 8 * day,
			func(t *testing.T, s TaskState) { want(t, s, TaskVerifying, t0.Add(7*day-time.Second)) }},
		{"a late start moves the timeout before the outcome", []TaskEvent{outcome("o1", 8*day, OutcomeSucceeded), started("e1", 0)}, defaults, 8*day + h,
			func(t *testing.T, s TaskState) { want(t, s, TaskExpired, t0.Add(7*day)) }},
		{"window 0", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded)}, TaskSettings{DisputeWindow: 0, TaskTimeout: day}, h,
			func(t *testing.T, s TaskState) { want(t, s, TaskBillable, t0.Add(h)) }},
		{"window 0 and a dispute", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded), disputed("d1", 2*h)}, TaskSettings{DisputeWindow: 0, TaskTimeout: day}, 3 * h,
			func(t *testing.T, s TaskState) { want(t, s, TaskNotBillable, t0.Add(2*h)) }},
		{"bad settings are normalized", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded)}, TaskSettings{DisputeWindow: -h, TaskTimeout: 0}, h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskBillable, t0.Add(h))
				eq(t, "Settings", s.Settings, TaskSettings{DisputeWindow: 0, TaskTimeout: DefaultTaskTimeout})
			}},
		{"the earliest start wins", []TaskEvent{started("e2", h), started("e1", 0, func(e *TaskEvent) { e.Priority = PriorityUrgent })}, defaults, 2 * h,
			func(t *testing.T, s TaskState) {
				want(t, s, TaskOpen, t0)
				eq(t, "Priority", s.Priority, PriorityUrgent)
			}},
		{"start gives the customer", []TaskEvent{usage("u1", 0), started("e1", h, func(e *TaskEvent) { e.CustomerID = "C2" })}, defaults, 2 * h,
			func(t *testing.T, s TaskState) { eq(t, "CustomerID", s.CustomerID, "C2") }},
		{"events of other tasks are ignored", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeFailed).with(func(e *TaskEvent) { e.TaskID = "T2" })}, defaults, 2 * h,
			func(t *testing.T, s TaskState) { want(t, s, TaskOpen, t0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.now)
			got := FoldTask("T1", tt.events, tt.settings, now)
			tt.check(t, got)
			if got.TaskID != "T1" {
				t.Errorf("TaskID = %q", got.TaskID)
			}
			// Every arrival order, each with a duplicate of some event, gives the same state.
			n := 0
			permute(tt.events, func(p []TaskEvent) {
				n++
				dup := append(p, p[n%len(p)])
				if other := FoldTask("T1", dup, tt.settings, now); !other.Equal(got) {
					t.Fatalf("order %v gives\n%+v\nwant\n%+v", ids(dup), other, got)
				}
			})
		})
	}
}

func TestFoldTaskNoEvents(t *testing.T) {
	s := FoldTask("T1", nil, defaults, t0)
	if s.Status != TaskOpen || !s.StartedAt.IsZero() || !s.Deadline().IsZero() || s.TaskID != "T1" {
		t.Errorf("FoldTask(nil) = %+v", s)
	}
}

// TestCompactKeepsTheFold checks that the workflow may keep only the compacted events.
func TestCompactKeepsTheFold(t *testing.T) {
	all := []TaskEvent{usage("u3", 3*h), started("e1", h), usage("u1", 0), usage("u2", 2*h), outcome("o1", 4*h, OutcomeSucceeded),
		usage("u1", 0), disputed("d1", 5*day), outcome("o1", 4*h, OutcomeSucceeded)}
	c := CompactTaskEvents(all)
	if got, want := ids(c), []string{"u1", "e1", "o1", "d1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CompactTaskEvents = %v, want %v", got, want)
	}
	for _, now := range []time.Duration{0, h, 5 * h, 4 * day, 6 * day, 30 * day} {
		for i := 1; i <= len(all); i++ {
			a := FoldTask("T1", all[:i], defaults, t0.Add(now))
			b := FoldTask("T1", CompactTaskEvents(all[:i]), defaults, t0.Add(now))
			if !a.Equal(b) {
				t.Errorf("now %v, %d events: compacted fold differs:\n%+v\n%+v", now, i, a, b)
			}
		}
	}
	// The caller's slice is left alone.
	if all[0].ID != "u3" {
		t.Error("CompactTaskEvents reordered its argument")
	}
}

// TestTaskStateEqualCoversEveryField changes each field in turn: a field added to TaskState
// without a line in Equal would make the workflow skip saving a change.
func TestTaskStateEqualCoversEveryField(t *testing.T) {
	q := decimal.RequireFromString("0.9")
	base := FoldTask("T1", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomeSucceeded).with(func(e *TaskEvent) { e.Quality = &q })}, defaults, t0)
	if !base.Equal(base) {
		t.Fatal("state not equal to itself")
	}
	v := reflect.ValueOf(&base).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch x := f.Addr().Interface().(type) {
		case *string:
			*x += "x"
		case *TaskStatus:
			*x += "x"
		case *OutcomeStatus:
			*x += "x"
		case *bool:
			*x = !*x
		case *time.Time:
			*x = x.Add(time.Nanosecond)
		case **decimal.Decimal:
			other := decimal.RequireFromString("0.8")
			*x = &other
		case *TaskSettings:
			x.DisputeWindow++
		case *int64:
			*x++
		default:
			t.Fatalf("field %s of type %s: teach this test how to change it", name, f.Type())
		}
		if eq := base.Equal(changed); eq != (name == "Version") {
			t.Errorf("changing %s: Equal = %v", name, eq)
		}
	}
	// A nil quality differs from a set one, and equal decimals in other forms are equal.
	a, b := base, base
	a.Quality = nil
	q2 := decimal.RequireFromString("0.90")
	b.Quality = &q2
	if a.Equal(base) || !b.Equal(base) {
		t.Error("Quality comparison wrong")
	}
}

func TestTaskStateJSONRoundTrip(t *testing.T) {
	q := decimal.RequireFromString("0.75")
	s := FoldTask("T1", []TaskEvent{started("e1", 0), outcome("o1", h, OutcomePartial).with(func(e *TaskEvent) { e.Quality, e.Evidence = &q, "https://x/1" }),
		disputed("d1", 2*h)}, defaults, t0.Add(3*h))
	s.Version = 3
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back TaskState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) || back.Version != 3 {
		t.Errorf("round trip:\n%s\n%+v", b, back)
	}
	// In another location the instants are still equal.
	loc := time.FixedZone("X", 3600)
	back.StatusAt = back.StatusAt.In(loc)
	if !back.Equal(s) {
		t.Error("Equal depends on the location")
	}
}

func TestEventTaskEvent(t *testing.T) {
	raw := `{"id":"o1","type":"task.outcome","customer_id":"C1","task_id":"T1","occurred_at":"2026-03-02T12:00:00+02:00",
		"status":"partial","quality":0.5,"evidence":"https://tickets/1"}`
	e, err := DecodeEvent([]byte(raw), t0.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	te := e.TaskEvent()
	want := TaskEvent{ID: "o1", Type: EventOutcome, CustomerID: "C1", TaskID: "T1", OccurredAt: t0, Status: OutcomePartial, Evidence: "https://tickets/1"}
	if te.Quality == nil || !te.Quality.Equal(decimal.RequireFromString("0.5")) {
		t.Fatalf("Quality = %v", te.Quality)
	}
	te.Quality = nil
	if !reflect.DeepEqual(te, want) {
		t.Errorf("TaskEvent = %+v, want %+v", te, want)
	}

	raw = `{"id":"e1","type":"task.started","customer_id":"C1","task_id":"T1","occurred_at":"2026-03-02T10:00:00Z",
		"outcome_type":"support.ticket_resolved","metadata":{"big":"thing"}}`
	e, err = DecodeEvent([]byte(raw), t0.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	if te := e.TaskEvent(); te.OutcomeType != "support.ticket_resolved" || te.Priority != PriorityNormal {
		t.Errorf("TaskEvent = %+v", te)
	}
}

func TestStatusSettled(t *testing.T) {
	for s, want := range map[TaskStatus]bool{TaskOpen: false, TaskVerifying: false, TaskBillable: true, TaskNotBillable: true, TaskExpired: true} {
		if s.Settled() != want {
			t.Errorf("%s.Settled() = %v", s, !want)
		}
	}
}

func want(t *testing.T, s TaskState, status TaskStatus, at time.Time) {
	t.Helper()
	if s.Status != status || !s.StatusAt.Equal(at) {
		t.Errorf("status %s at %s, want %s at %s", s.Status, s.StatusAt, status, at)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ids(evs []TaskEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// permute calls f with every ordering of evs (Heap's algorithm).
func permute(evs []TaskEvent, f func([]TaskEvent)) {
	a := append([]TaskEvent(nil), evs...)
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			f(append([]TaskEvent(nil), a...))
			return
		}
		for i := 0; i < k-1; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
		gen(k - 1)
	}
	gen(len(a))
}

func ExampleFoldTask() {
	events := []TaskEvent{
		{ID: "o1", Type: EventOutcome, CustomerID: "acme", TaskID: "t-42", OccurredAt: t0.Add(2 * h), Status: OutcomeSucceeded},
		{ID: "s1", Type: EventStarted, CustomerID: "acme", TaskID: "t-42", OccurredAt: t0, OutcomeType: "support.ticket_resolved"},
	}
	for _, after := range []time.Duration{3 * h, 2*h + window} {
		s := FoldTask("t-42", events, DefaultTaskSettings(), t0.Add(after))
		fmt.Println(s.Status, s.StatusAt.Format(time.RFC3339))
	}
	// Output:
	// verifying 2026-03-02T12:00:00Z
	// billable 2026-03-05T12:00:00Z
}
