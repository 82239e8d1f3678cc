package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// Names that outlive a deployment: changing one strands running workflows.
const (
	TaskWorkflowName = "TaskWorkflow"
	// TaskEventsSignal carries a TaskSignal: a batch of one task's events.
	TaskEventsSignal = "task-events"
)

// TaskWorkflowID is the workflow ID of a task's lifecycle workflow. One ID per task means at most
// one run at a time, and signal-with-start on it reaches the running one or starts a new one.
func TaskWorkflowID(taskID string) string { return "task:" + taskID }

// TaskInput starts a run of TaskWorkflow.
type TaskInput struct {
	TaskID string `json:"task_id"`
	// Carry is set by continue-as-new; a fresh run loads the task through LoadTask instead.
	Carry *LoadedTask `json:"carry,omitempty"`
}

// TaskSignal is the payload of TaskEventsSignal: events of one task, in any order, possibly
// already seen.
type TaskSignal struct {
	Events []billing.TaskEvent `json:"events"`
}

// maxHistoryEvents makes a run continue as new well before Temporal's limits (50,000 events,
// 50 MB) even when the server does not suggest it. A task's events are few, so only a task
// flooded with usage events gets here.
const maxHistoryEvents = 2000

// localActivityOptions keep a task's history small: a local activity costs one marker event.
// They retry while the database is down, for up to a month (a failed run loses nothing: the next
// event starts a new one from the store); business errors fail at once.
var localActivityOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: 30 * 24 * time.Hour,
	StartToCloseTimeout:    30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: nonRetryable,
	},
}

// TaskWorkflow follows one task through its lifecycle (DESIGN.md §3). It keeps the task's
// events (compacted, deduplicated by id), folds them with billing.FoldTask at the workflow
// clock, saves the state whenever it changes, and sleeps until the next deadline (end of the
// dispute window, task timeout) or the next signal. It completes when the state is settled and
// no signal is pending; an event arriving later starts a new run (signal-with-start), which
// loads the stored events and last saved state, so a late dispute is folded against the earlier
// outcome.
func TaskWorkflow(ctx workflow.Context, in TaskInput) (billing.TaskState, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	var a *Activities // a nil receiver names the registered activities

	var t LoadedTask
	if in.Carry != nil {
		t = *in.Carry
	} else if err := workflow.ExecuteLocalActivity(ctx, a.LoadTask, in.TaskID).Get(ctx, &t); err != nil {
		return billing.TaskState{}, err
	}

	signals := workflow.GetSignalChannel(ctx, TaskEventsSignal)
	// drain takes every signal already received without blocking and reports whether there was one.
	drain := func() bool {
		got := false
		for {
			var s TaskSignal
			if !signals.ReceiveAsync(&s) {
				return got
			}
			t.Events = append(t.Events, s.Events...)
			got = true
		}
	}
	drain()

	var (
		timer       workflow.Future
		timerAt     time.Time
		cancelTimer workflow.CancelFunc
	)
	for {
		t.Events = billing.CompactTaskEvents(t.Events)
		st := billing.FoldTask(in.TaskID, t.Events, t.Settings, workflow.Now(ctx))
		if st.CustomerID == "" {
			// Started without events (not by the relay): nothing to follow.
			return st, nil
		}
		if st.OutcomeType != t.SettingsFor {
			if err := workflow.ExecuteLocalActivity(ctx, a.TaskSettings, st.CustomerID, st.OutcomeType).Get(ctx, &t.Settings); err != nil {
				return st, err
			}
			t.SettingsFor = st.OutcomeType
			st = billing.FoldTask(in.TaskID, t.Events, t.Settings, workflow.Now(ctx))
		}
		if t.Saved == nil || !t.Saved.Equal(st) {
			settles := st.Status.Settled() && (t.Saved == nil || t.Saved.Status != st.Status)
			if t.Saved != nil {
				st.Version = t.Saved.Version
			}
			st.Version++
			if err := workflow.ExecuteLocalActivity(ctx, a.SaveTaskState, st).Get(ctx, nil); err != nil {
				return st, err
			}
			t.Saved = &st
			if settles {
				recordTaskSettled(ctx, st)
			}
		}
		if st.Status.Settled() {
			// Signals that arrived while this workflow task ran would be lost by completing.
			if drain() {
				continue
			}
			return st, nil
		}

		info := workflow.GetInfo(ctx)
		if info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > maxHistoryEvents {
			drain()
			t.Events = billing.CompactTaskEvents(t.Events)
			return st, workflow.NewContinueAsNewError(ctx, TaskWorkflowName, TaskInput{TaskID: in.TaskID, Carry: &t})
		}

		if deadline := st.Deadline(); !deadline.Equal(timerAt) {
			if cancelTimer != nil {
				cancelTimer()
			}
			var tctx workflow.Context
			tctx, cancelTimer = workflow.WithCancel(ctx)
			// The fold already moved on at the deadline, so the wait is positive; never less than
			// a millisecond in any case, since a zero timer would not wait at all.
			timer = workflow.NewTimer(tctx, max(deadline.Sub(workflow.Now(ctx)), time.Millisecond))
			timerAt = deadline
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(signals, func(c workflow.ReceiveChannel, _ bool) {
			var s TaskSignal
			c.Receive(ctx, &s)
			t.Events = append(t.Events, s.Events...)
		})
		sel.AddFuture(timer, func(workflow.Future) {
			// Fired: the next pass folds at the new time and sets the next timer if any.
			timer, timerAt, cancelTimer = nil, time.Time{}, nil
		})
		sel.Select(ctx)
	}
}
