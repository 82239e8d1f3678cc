package billing

import (
	"cmp"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// TaskStatus is where a task stands in its lifecycle (DESIGN.md §3).
type TaskStatus string

const (
	TaskOpen        TaskStatus = "open"         // no outcome yet, task timeout not reached
	TaskVerifying   TaskStatus = "verifying"    // outcome delivered, dispute window running
	TaskBillable    TaskStatus = "billable"     // window passed without dispute or cancellation
	TaskNotBillable TaskStatus = "not_billable" // failed or escalated outcome, cancelled or disputed
	TaskExpired     TaskStatus = "expired"      // no outcome before the task timeout
)

// Settled reports whether no deadline is pending: the status changes again only if a new event
// arrives (a late dispute, a late outcome correction).
func (s TaskStatus) Settled() bool {
	return s == TaskBillable || s == TaskNotBillable || s == TaskExpired
}

// TaskSettings are the two durations of a task's lifecycle, taken from its outcome type.
type TaskSettings struct {
	DisputeWindow time.Duration `json:"dispute_window"` // 0 allowed: billable as soon as delivered
	TaskTimeout   time.Duration `json:"task_timeout"`
}

// DefaultTaskSettings are those of DESIGN.md §3: a 72 h dispute window and a 7 day timeout. They
// apply while a task's outcome type is not known yet (no task.started received) or not defined.
func DefaultTaskSettings() TaskSettings {
	return TaskSettings{DisputeWindow: DefaultDisputeWindow, TaskTimeout: DefaultTaskTimeout}
}

// TaskSettings returns the lifecycle durations of tasks of this outcome type.
func (o OutcomeType) TaskSettings() TaskSettings {
	return TaskSettings{DisputeWindow: o.DisputeWindow, TaskTimeout: o.TaskTimeout}
}

// normalized makes the fold total: a negative window counts as 0 and a timeout that is not
// positive as the default (OutcomeType.Validate refuses both, so this only guards bad rows).
func (s TaskSettings) normalized() TaskSettings {
	if s.DisputeWindow < 0 {
		s.DisputeWindow = 0
	}
	if s.TaskTimeout <= 0 {
		s.TaskTimeout = DefaultTaskTimeout
	}
	return s
}

// TaskEvent is the part of an Event that the task fold needs: no metadata, no token counts, no
// fingerprint. It is what the outbox relay sends to a task's workflow and what the store loads
// back, so it is kept small and serializes to compact JSON.
type TaskEvent struct {
	ID          string           `json:"id"`
	Type        EventType        `json:"type"`
	CustomerID  string           `json:"customer_id"`
	TaskID      string           `json:"task_id"`
	OccurredAt  time.Time        `json:"occurred_at"`
	OutcomeType string           `json:"outcome_type,omitempty"` // task.started
	Priority    string           `json:"priority,omitempty"`     // task.started
	Status      OutcomeStatus    `json:"status,omitempty"`       // task.outcome
	Quality     *decimal.Decimal `json:"quality,omitempty"`      // task.outcome
	Evidence    string           `json:"evidence,omitempty"`     // task.outcome
	Reason      string           `json:"reason,omitempty"`       // task.disputed
}

// TaskEvent returns the fields of e that the task fold needs.
func (e Event) TaskEvent() TaskEvent {
	te := TaskEvent{ID: e.ID, Type: e.Type, CustomerID: e.CustomerID, TaskID: e.TaskID, OccurredAt: e.OccurredAt}
	switch e.Type {
	case EventStarted:
		te.OutcomeType, te.Priority = e.OutcomeType, e.Priority
	case EventOutcome:
		te.Status, te.Evidence = e.Status, e.Evidence
		if e.Quality != nil {
			q := *e.Quality
			te.Quality = &q
		}
	case EventDisputed:
		te.Reason = e.Reason
	}
	return te
}

// compareEvents orders events by occurred_at, then id: the order the fold reads them in, whatever
// order they arrived in. Type breaks the tie only for the impossible case of one id with two
// bodies (the API refuses those as conflicts), so that even then the order is total.
func compareEvents(a, b TaskEvent) int {
	if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.Type, b.Type)
}

// CompactTaskEvents returns the events the fold needs, sorted by occurred_at then id, with
// duplicate ids dropped: every event except task.usage, and of the usage events only the earliest
// (usage events matter to the lifecycle only as the task's first sign of life when task.started is
// missing; their cost is computed by the store). FoldTask gives the same state for the compacted
// events as for all of them, so a workflow can keep just these in its history.
func CompactTaskEvents(events []TaskEvent) []TaskEvent {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, compareEvents)
	out := sorted[:0]
	seen := make(map[string]bool, len(sorted))
	usage := false
	for _, e := range sorted {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		if e.Type == EventUsage {
			if usage {
				continue
			}
			usage = true
		}
		out = append(out, e)
	}
	return slices.Clip(out)
}

// TaskState is what a task's events say about it at a moment: who it is for, what was delivered,
// and whether it can be billed. FoldTask computes it; the task workflow saves it whenever it
// changes.
type TaskState struct {
	TaskID      string     `json:"task_id"`
	CustomerID  string     `json:"customer_id"`
	OutcomeType string     `json:"outcome_type,omitempty"` // "" until task.started arrives
	Priority    string     `json:"priority"`               // normal unless task.started says urgent
	Status      TaskStatus `json:"status"`
	// StatusAt is when the task entered Status, in event time: open — StartedAt; verifying —
	// OutcomeAt; billable — BillableAt; not_billable — the earliest of the reasons (cancellation,
	// dispute, failed or escalated outcome); expired — ExpiresAt. A billable task is billed in the
	// period that contains StatusAt.
	StatusAt time.Time `json:"status_at"`

	// StartedAt is task.started's occurred_at, or while there is none, the earliest event's.
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"` // StartedAt + TaskTimeout

	// The outcome that counts (see FoldTask); all zero while there is none.
	OutcomeEventID string           `json:"outcome_event_id,omitempty"`
	Outcome        OutcomeStatus    `json:"outcome,omitempty"`
	Quality        *decimal.Decimal `json:"quality,omitempty"`
	Evidence       string           `json:"evidence,omitempty"`
	OutcomeAt      time.Time        `json:"outcome_at"`
	// BillableAt is OutcomeAt + DisputeWindow when the task is verifying or billable; zero when it
	// is not headed for billing.
	BillableAt time.Time `json:"billable_at"`

	Disputed      bool      `json:"disputed"`
	DisputeReason string    `json:"dispute_reason,omitempty"`
	DisputedAt    time.Time `json:"disputed_at"` // the earliest dispute's occurred_at
	Cancelled     bool      `json:"cancelled"`
	CancelledAt   time.Time `json:"cancelled_at"` // the earliest cancellation's occurred_at

	// Settings are the durations the deadlines were computed with.
	Settings TaskSettings `json:"settings"`

	// Version is not part of the fold: the task workflow numbers the states it saves 1, 2, 3…
	// (continuing from the saved state across workflow runs) so that the store can refuse to
	// overwrite a state with an older one (a retried write that lost a race).
	Version int64 `json:"version"`
}

// Deadline is the instant at which the state changes by itself if no event arrives: BillableAt
// while verifying, ExpiresAt while open, zero when the status is settled.
func (s TaskState) Deadline() time.Time {
	switch s.Status {
	case TaskVerifying:
		return s.BillableAt
	case TaskOpen:
		return s.ExpiresAt
	}
	return time.Time{}
}

// Equal reports whether s and o say the same about the task. Version is ignored, and times are
// compared as instants so that a state read back from a database (in another location) equals
// the one that was written.
func (s TaskState) Equal(o TaskState) bool {
	return s.TaskID == o.TaskID && s.CustomerID == o.CustomerID && s.OutcomeType == o.OutcomeType &&
		s.Priority == o.Priority && s.Status == o.Status && s.StatusAt.Equal(o.StatusAt) &&
		s.StartedAt.Equal(o.StartedAt) && s.ExpiresAt.Equal(o.ExpiresAt) &&
		s.OutcomeEventID == o.OutcomeEventID && s.Outcome == o.Outcome && equalDecimal(s.Quality, o.Quality) &&
		s.Evidence == o.Evidence && s.OutcomeAt.Equal(o.OutcomeAt) && s.BillableAt.Equal(o.BillableAt) &&
		s.Disputed == o.Disputed && s.DisputeReason == o.DisputeReason && s.DisputedAt.Equal(o.DisputedAt) &&
		s.Cancelled == o.Cancelled && s.CancelledAt.Equal(o.CancelledAt) && s.Settings == o.Settings
}

func equalDecimal(a, b *decimal.Decimal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// FoldTask computes the state of task taskID from its events — all of them, in any order, with
// duplicates — under settings, as seen at now. It is a pure function of its arguments: the same
// events give the same state whatever order they arrived in, which is what lets the workflow,
// a replay and a late run after the workflow completed agree. Events of other tasks are ignored.
//
// The rules, where events could disagree:
//   - Events are read in occurred_at order (ties by id); an id seen twice counts once.
//   - task.started: the earliest one gives the outcome type, priority, customer and start time;
//     later ones are ignored. Without one, the earliest event of any type gives the customer and
//     the start time, the outcome type stays unknown and the priority normal.
//   - The task timeout runs from the start time: ExpiresAt = StartedAt + TaskTimeout. An outcome
//     counts only if it occurred before ExpiresAt (one that arrives late but occurred in time
//     counts); with no outcome that counts, the task is expired from ExpiresAt on.
//   - Of the outcomes that count, the one that occurred last (ties: the greater id) wins: a second
//     outcome is the vendor correcting the first, and the dispute window runs from it.
//   - task.cancelled and task.disputed make the task not_billable whenever they occurred — before
//     or after the outcome, during or after the dispute window, even after expiry. Neither can be
//     undone by a later event: only the vendor sends events, and both say "do not bill this".
//     A dispute after the task was invoiced becomes a credit note (the store's concern).
//   - A failed or escalated outcome makes the task not_billable; succeeded and partial ones make it
//     verifying until OutcomeAt + DisputeWindow, then billable (immediately with a 0 window).
func FoldTask(taskID string, events []TaskEvent, settings TaskSettings, now time.Time) TaskState {
	settings = settings.normalized()
	st := TaskState{TaskID: taskID, Priority: PriorityNormal, Status: TaskOpen, Settings: settings}

	var evs []TaskEvent
	for _, e := range CompactTaskEvents(events) {
		if e.TaskID == taskID {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		return st
	}
	var started, dispute, cancel *TaskEvent
	for i := range evs {
		e := &evs[i]
		switch {
		case e.Type == EventStarted && started == nil:
			started = e
		case e.Type == EventDisputed && dispute == nil:
			dispute = e
		case e.Type == EventCancelled && cancel == nil:
			cancel = e
		}
	}
	first := &evs[0]
	if started != nil {
		first = started
		st.OutcomeType = started.OutcomeType
		if started.Priority != "" {
			st.Priority = started.Priority
		}
	}
	st.CustomerID = first.CustomerID
	st.StartedAt = first.OccurredAt
	st.ExpiresAt = st.StartedAt.Add(settings.TaskTimeout)

	var outcome *TaskEvent
	for i := range evs {
		if e := &evs[i]; e.Type == EventOutcome && e.OccurredAt.Before(st.ExpiresAt) {
			outcome = e // sorted ascending, so the last one wins
		}
	}
	if outcome != nil {
		st.OutcomeEventID = outcome.ID
		st.Outcome = outcome.Status
		st.Quality = outcome.Quality
		st.Evidence = outcome.Evidence
		st.OutcomeAt = outcome.OccurredAt
	}
	if dispute != nil {
		st.Disputed, st.DisputeReason, st.DisputedAt = true, dispute.Reason, dispute.OccurredAt
	}
	if cancel != nil {
		st.Cancelled, st.CancelledAt = true, cancel.OccurredAt
	}

	// Reasons not to bill, each with the time it took effect.
	var reasons []time.Time
	if cancel != nil {
		reasons = append(reasons, st.CancelledAt)
	}
	if dispute != nil {
		reasons = append(reasons, st.DisputedAt)
	}
	if outcome != nil && (outcome.Status == OutcomeFailed || outcome.Status == OutcomeEscalated) {
		reasons = append(reasons, st.OutcomeAt)
	}
	switch {
	case len(reasons) > 0:
		st.Status = TaskNotBillable
		st.StatusAt = slices.MinFunc(reasons, time.Time.Compare)
	case outcome != nil:
		st.BillableAt = st.OutcomeAt.Add(settings.DisputeWindow)
		if now.Before(st.BillableAt) {
			st.Status, st.StatusAt = TaskVerifying, st.OutcomeAt
		} else {
			st.Status, st.StatusAt = TaskBillable, st.BillableAt
		}
	case now.Before(st.ExpiresAt):
		st.Status, st.StatusAt = TaskOpen, st.StartedAt
	default:
		st.Status, st.StatusAt = TaskExpired, st.ExpiresAt
	}
	return st
}

// OutboxItem is one accepted event waiting in the outbox to be delivered to its task's workflow.
// The store writes it in the same transaction as the event; the relay in package workflows
// claims, delivers and marks it.
type OutboxItem struct {
	ID       int64     // increasing in insertion order
	Event    TaskEvent // carries the task id
	Attempts int       // how many times the row has been claimed, this claim included
}
