package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
)

// ClaimOutbox hands up to limit due outbox rows to one relay and hides them from others for
// lease. SKIP LOCKED lets several relays claim side by side without waiting on each other.
//
// Each row's event is a look-up by the key of events, (id, occurred_at), which pruning takes to
// one partition per row. As a plain join the planner costs that look-up as a probe of every
// partition and, at tens of thousands of events, hashed all of events instead (40 ms for 100 rows
// at 40,000 events); the LIMIT keeps the subquery a per-row look-up.
func (db *DB) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]billing.OutboxItem, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM outbox WHERE available_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE outbox o SET available_at = now() + $2::interval, attempts = o.attempts + 1
			FROM due WHERE o.id = due.id
			RETURNING o.id, o.event_id, o.occurred_at, o.attempts
		)
		SELECT c.id, c.attempts, `+taskEventColumns+`
		FROM claimed c CROSS JOIN LATERAL (
			SELECT * FROM events e WHERE e.id = c.event_id AND e.occurred_at = c.occurred_at LIMIT 1) e
		ORDER BY c.id`, limit, lease)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.OutboxItem, error) {
		var it billing.OutboxItem
		var err error
		it.Event, err = scanTaskEvent(r, &it.ID, &it.Attempts)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return items, nil
}

// MarkDelivered deletes delivered rows: the event itself stays in events, and a small outbox keeps
// the relay's scan cheap.
func (db *DB) MarkDelivered(ctx context.Context, ids []int64) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	return nil
}

// Release puts claimed rows back for another try from retryAt on.
func (db *DB) Release(ctx context.Context, ids []int64, retryAt time.Time, lastErr string) error {
	if len(lastErr) > 1000 {
		lastErr = lastErr[:1000]
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE outbox SET available_at = $2, last_error = $3 WHERE id = ANY($1)`, ids, retryAt, lastErr); err != nil {
		return fmt.Errorf("release outbox rows: %w", err)
	}
	return nil
}

// OutboxLag is how long the oldest undelivered event has waited.
func (db *DB) OutboxLag(ctx context.Context) (time.Duration, error) {
	var lag time.Duration
	err := db.Pool.QueryRow(ctx, `SELECT COALESCE(now() - min(created_at), '0')::interval FROM outbox`).Scan(&lag)
	if err != nil {
		return 0, fmt.Errorf("outbox lag: %w", err)
	}
	return max(lag, 0), nil
}
