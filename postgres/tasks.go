package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
)

// LoadTask returns every stored event of a task in the form the fold needs, and the state the
// workflow last saved (nil before the first save). A task nobody sent events for is (nil, nil, nil).
func (db *DB) LoadTask(ctx context.Context, taskID string) ([]billing.TaskEvent, *billing.TaskState, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+taskEventColumns+` FROM events e WHERE e.task_id = $1 ORDER BY e.occurred_at, e.id`, taskID)
	if err != nil {
		return nil, nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.TaskEvent, error) { return scanTaskEvent(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	var raw []byte
	err = db.Pool.QueryRow(ctx, taskStateSQL, taskID).Scan(&raw)
	if err == pgx.ErrNoRows || (err == nil && raw == nil) {
		return events, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("task %s state: %w", taskID, err)
	}
	var st billing.TaskState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, nil, fmt.Errorf("task %s state: %w", taskID, err)
	}
	return events, &st, nil
}

// taskOpenedAt is where task $1's row is: tasks is partitioned by opened_at (migration 00014),
// and a look-up by task_id alone would probe every month's partition. With opened_at from the
// task's key, run-time pruning leaves one partition to probe (TestTaskReadsProbeOnePartition).
const taskOpenedAt = `(SELECT k.opened_at FROM task_keys k WHERE k.task_id = $1)`

// The statements by task_id ($1) on tasks.
const (
	taskStateSQL = `SELECT state FROM tasks WHERE task_id = $1 AND opened_at = ` + taskOpenedAt
	taskViewSQL  = `SELECT customer_id, status, state FROM tasks WHERE task_id = $1 AND opened_at = ` + taskOpenedAt
	// saveTaskStateSQL returns the status it replaced.
	saveTaskStateSQL = `
	UPDATE tasks t SET outcome_type = NULLIF($2, ''), priority = $3, status = $4, status_at = $5, outcome = NULLIF($6, ''),
		quality = $7, outcome_at = $8, billable_at = $9, state = $10, version = $11, updated_at = $12
	FROM (SELECT task_id, opened_at, status FROM tasks WHERE task_id = $1 AND opened_at = ` + taskOpenedAt + ` FOR UPDATE) old
	WHERE t.task_id = $1 AND t.opened_at = ` + taskOpenedAt + ` AND t.opened_at = old.opened_at AND t.version < $11
	RETURNING old.status`
)

// taskEventColumns reads from events e what the fold needs; the event-type specific fields come
// out of the stored body, where the decoder validated them on the way in.
const taskEventColumns = `e.id, e.type, e.customer_id, e.task_id, e.occurred_at,
	COALESCE(e.body->>'outcome_type', ''), COALESCE(e.body->>'priority', ''), COALESCE(e.body->>'status', ''),
	e.body->>'quality', COALESCE(e.body->>'evidence', ''), COALESCE(e.body->>'reason', '')`

func scanTaskEvent(row pgx.Row, leading ...any) (billing.TaskEvent, error) {
	var te billing.TaskEvent
	var quality *string
	err := row.Scan(append(leading, &te.ID, &te.Type, &te.CustomerID, &te.TaskID, &te.OccurredAt, &te.OutcomeType,
		&te.Priority, &te.Status, &quality, &te.Evidence, &te.Reason)...)
	if err != nil {
		return te, err
	}
	te.OccurredAt = te.OccurredAt.UTC()
	if te.Type == billing.EventStarted && te.Priority == "" {
		te.Priority = billing.PriorityNormal
	}
	if quality != nil {
		q, err := decimal.NewFromString(*quality)
		if err != nil {
			return te, fmt.Errorf("event %s quality %q: %w", te.ID, *quality, err)
		}
		te.Quality = &q
	}
	return te, nil
}

// TaskSettings returns the lifecycle durations of an outcome type's tasks.
func (db *DB) TaskSettings(ctx context.Context, customerID, outcomeType string) (billing.TaskSettings, error) {
	o, err := db.OutcomeType(ctx, outcomeType)
	if err != nil {
		return billing.TaskSettings{}, err
	}
	return o.TaskSettings(), nil
}

// SaveTaskState writes the workflow's view of a task unless a newer version is already stored, so
// a retried write that lost a race never undoes a later one.
func (db *DB) SaveTaskState(ctx context.Context, s billing.TaskState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	// The update returns the status it replaced, so that a move into billable or not_billable is
	// announced (a webhook event) in the same transaction as the move itself.
	now := db.Now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var prev string
		err := tx.QueryRow(ctx, saveTaskStateSQL,
			s.TaskID, s.OutcomeType, s.Priority, string(s.Status), nullTime(s.StatusAt), string(s.Outcome),
			nullableDecimal(s.Quality), nullTime(s.OutcomeAt), nullTime(s.BillableAt), raw, s.Version, now).Scan(&prev)
		if err == pgx.ErrNoRows {
			return nil // a newer state is stored already
		}
		if err != nil {
			return fmt.Errorf("save task %s: %w", s.TaskID, err)
		}
		return taskWebhook(ctx, tx, billing.TaskStatus(prev), s, now)
	})
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// TaskView returns a task's state, events and cost by model.
func (db *DB) TaskView(ctx context.Context, taskID string) (billing.TaskView, error) {
	v := billing.TaskView{TaskID: taskID}
	var raw []byte
	var status string
	err := db.Pool.QueryRow(ctx, taskViewSQL, taskID).Scan(&v.CustomerID, &status, &raw)
	if err != nil {
		return v, interpretError(err, "task", taskID)
	}
	v.Status = billing.TaskStatus(status)
	if raw != nil {
		var st billing.TaskState
		if err := json.Unmarshal(raw, &st); err != nil {
			return v, fmt.Errorf("task %s state: %w", taskID, err)
		}
		v.State = &st
	}
	rows, err := db.Pool.Query(ctx, `SELECT id, type, occurred_at, received_at, body, cost_usd FROM events
		WHERE task_id = $1 ORDER BY occurred_at, id`, taskID)
	if err != nil {
		return v, fmt.Errorf("task %s events: %w", taskID, err)
	}
	v.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.StoredEvent, error) {
		var e billing.StoredEvent
		var cost decimal.NullDecimal
		err := r.Scan(&e.ID, &e.Type, &e.OccurredAt, &e.ReceivedAt, &e.Body, &cost)
		if cost.Valid {
			e.CostUSD = &cost.Decimal
		}
		return e, err
	})
	if err != nil {
		return v, fmt.Errorf("task %s events: %w", taskID, err)
	}
	rows, err = db.Pool.Query(ctx, `SELECT COALESCE(model, ''), COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0),
			COALESCE(sum(cost_usd), 0), count(*) FILTER (WHERE cost_usd IS NULL)
		FROM events WHERE task_id = $1 AND type = 'task.usage' GROUP BY 1 ORDER BY 1`, taskID)
	if err != nil {
		return v, fmt.Errorf("task %s cost: %w", taskID, err)
	}
	v.Cost, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.ModelCost, error) {
		var m billing.ModelCost
		err := r.Scan(&m.Model, &m.InputTokens, &m.OutputTokens, &m.CostUSD, &m.Unpriced)
		return m, err
	})
	if err != nil {
		return v, fmt.Errorf("task %s cost: %w", taskID, err)
	}
	for _, m := range v.Cost {
		v.TotalCost = v.TotalCost.Add(m.CostUSD)
		v.Unpriced += m.Unpriced
	}
	return v, nil
}
