package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/outcomebill/outcomebill/billing"
)

// TaskStore is what the task workflow's activities need from the database.
type TaskStore interface {
	// LoadTask returns every stored event of the task, in any order (the caller dedups, sorts and
	// compacts), and the state last saved by SaveTaskState, nil if none. A task with no events
	// is not an error: it returns (nil, nil, nil).
	LoadTask(ctx context.Context, taskID string) ([]billing.TaskEvent, *billing.TaskState, error)

	// TaskSettings returns the dispute window and task timeout that apply to tasks of
	// outcomeType for customerID (the outcome type's today; customerID is there for per-customer
	// settings later). An unknown outcome type is a not_found *billing.Error; the workflow then
	// uses billing.DefaultTaskSettings.
	TaskSettings(ctx context.Context, customerID, outcomeType string) (billing.TaskSettings, error)

	// SaveTaskState upserts the task's row with s, keyed by s.TaskID, unless the stored row has a
	// Version >= s.Version (then it does nothing and returns nil: an older write retried late
	// must not undo a newer one). It must be idempotent: the same state may be saved twice.
	// When s makes a task that was already on a finalized invoice not billable any more (a late
	// dispute or cancellation), the same transaction marks it for a credit note on the next
	// invoice run (DESIGN.md §3).
	SaveTaskState(ctx context.Context, s billing.TaskState) error
}

// Activities are the task workflow's activities; register one value with the worker.
type Activities struct {
	Store TaskStore
}

// LoadedTask is what a new run of the task workflow starts from.
type LoadedTask struct {
	Events []billing.TaskEvent `json:"events,omitempty"` // compacted
	Saved  *billing.TaskState  `json:"saved,omitempty"`
	// Settings are those of SettingsFor, the outcome type of the task's task.started ("" when
	// none arrived yet: the defaults).
	Settings    billing.TaskSettings `json:"settings"`
	SettingsFor string               `json:"settings_for,omitempty"`
}

// LoadTask reads a task's stored events and last saved state, and the settings of its outcome
// type, in one activity so that a new run costs one history event to set up.
func (a *Activities) LoadTask(ctx context.Context, taskID string) (LoadedTask, error) {
	events, saved, err := a.Store.LoadTask(ctx, taskID)
	if err != nil {
		return LoadedTask{}, activityError(fmt.Errorf("load task %s: %w", taskID, err))
	}
	lt := LoadedTask{Events: billing.CompactTaskEvents(events), Saved: saved, Settings: billing.DefaultTaskSettings()}
	// Only customer and outcome type are needed here, which do not depend on the clock.
	st := billing.FoldTask(taskID, lt.Events, lt.Settings, time.Time{})
	if st.OutcomeType != "" {
		if lt.Settings, err = a.TaskSettings(ctx, st.CustomerID, st.OutcomeType); err != nil {
			return LoadedTask{}, err
		}
		lt.SettingsFor = st.OutcomeType
	}
	return lt, nil
}

// TaskSettings returns the settings of an outcome type, the defaults when it is not defined.
func (a *Activities) TaskSettings(ctx context.Context, customerID, outcomeType string) (billing.TaskSettings, error) {
	s, err := a.Store.TaskSettings(ctx, customerID, outcomeType)
	if billing.ErrorCode(err) == billing.ENOTFOUND {
		return billing.DefaultTaskSettings(), nil
	}
	if err != nil {
		return billing.TaskSettings{}, activityError(fmt.Errorf("settings of %s for %s: %w", outcomeType, customerID, err))
	}
	return s, nil
}

// SaveTaskState writes a task's state.
func (a *Activities) SaveTaskState(ctx context.Context, s billing.TaskState) error {
	if err := a.Store.SaveTaskState(ctx, s); err != nil {
		return activityError(fmt.Errorf("save task %s: %w", s.TaskID, err))
	}
	return nil
}

// Error types of business errors: retrying them cannot help, so they fail the activity at once.
const (
	ErrTypeInvalid  = "billing.invalid"
	ErrTypeNotFound = "billing.not_found"
	ErrTypeConflict = "billing.conflict"
)

var nonRetryable = []string{ErrTypeInvalid, ErrTypeNotFound, ErrTypeConflict}

// activityError turns a business error (a *billing.Error with a client code) into a
// non-retryable application error whose type names the code; anything else (a lost connection, a
// timeout) stays retryable.
func activityError(err error) error {
	switch code := billing.ErrorCode(err); code {
	case billing.EINVALID, billing.ENOTFOUND, billing.ECONFLICT:
		return temporal.NewNonRetryableApplicationError(err.Error(), "billing."+code, err)
	}
	return err
}
