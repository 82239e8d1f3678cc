package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventPartitionsAhead is how far past now the monthly partitions of events are made ahead of
// time. An event may be at most billing.MaxClockSkew in the future, so a month ahead would do;
// two leave a month's worth of failed maintenance runs before events of a new month go to the
// default partition (where they are still stored, only moved later).
const EventPartitionsAhead = 62 * 24 * time.Hour

// EnsureEventPartitions creates the monthly partitions of events up to now + ahead, and those of
// months that have events in the default partition, moving them there (ensure_event_partitions in
// migration 00013). It returns how many partitions it created. Several workers may call it at
// once.
//
// Creating a partition pauses ingest while it runs (it locks tasks, for the partition's foreign
// key, and the default partition) and waits for the statements using those tables. A run that
// creates nothing takes none of these locks. lock_timeout keeps the wait short, so that a long
// transaction cannot make ingest queue behind the maintenance; a run that times out is tried
// again a minute later.
func (db *DB) EnsureEventPartitions(ctx context.Context, ahead time.Duration) (created int, err error) {
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT ensure_event_partitions($1)`, ahead).Scan(&created)
	})
	if err != nil {
		return 0, fmt.Errorf("ensure event partitions: %w", err)
	}
	return created, nil
}

// RunPartitionMaintenance calls EnsureEventPartitions at once and then every interval until ctx
// ends, a minute after a failure. Months are long: an hourly run is plenty, and the default
// partition keeps every event stored whenever a run is late.
func (db *DB) RunPartitionMaintenance(ctx context.Context, every time.Duration, log *slog.Logger) error {
	for {
		wait := every
		n, err := db.EnsureEventPartitions(ctx, EventPartitionsAhead)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err != nil:
			wait = min(every, time.Minute)
			if log != nil {
				log.Warn("partition maintenance failed", "err", err, "retry_in", wait)
			}
		case n > 0 && log != nil:
			log.Info("event partitions created", "count", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
