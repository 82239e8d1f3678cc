package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// PartitionsAhead is how far past now the monthly partitions of events and tasks are made
// ahead of time. An event may be at most billing.MaxClockSkew in the future, so a month ahead would
// do; two leave a month's worth of failed maintenance runs before events and tasks of a new month
// go to the default partitions (where they are still stored, only moved later).
const PartitionsAhead = 62 * 24 * time.Hour

// EnsureEventPartitions creates the monthly partitions of events up to now + ahead, and those of
// months that have events in the default partition, moving them there (ensure_event_partitions,
// migrations 00013 and 00014). It returns how many partitions it created. Several workers may
// call it at once.
//
// Creating a partition pauses ingest while it runs (it locks task_keys, for the partition's
// foreign key, and the default partition) and waits for the statements using those tables. A run
// that creates nothing takes none of these locks. lock_timeout keeps the wait short, so that a
// long transaction cannot make ingest queue behind the maintenance; a run that times out is tried
// again a minute later.
func (db *DB) EnsureEventPartitions(ctx context.Context, ahead time.Duration) (created int, err error) {
	return db.ensurePartitions(ctx, "event", ahead)
}

// EnsureTaskPartitions is EnsureEventPartitions for tasks, partitioned by the month of opened_at
// (ensure_task_partitions, migration 00014); it pauses ingest in the same way while it creates a
// partition, and also waits for the workflows' task saves on the default partition.
func (db *DB) EnsureTaskPartitions(ctx context.Context, ahead time.Duration) (created int, err error) {
	return db.ensurePartitions(ctx, "task", ahead)
}

// ensurePartitions runs ensure_<what>_partitions in a transaction of its own.
func (db *DB) ensurePartitions(ctx context.Context, what string, ahead time.Duration) (created int, err error) {
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT ensure_`+what+`_partitions($1)`, ahead).Scan(&created)
	})
	if err != nil {
		return 0, fmt.Errorf("ensure %s partitions: %w", what, err)
	}
	return created, nil
}

// RunPartitionMaintenance calls EnsureEventPartitions and EnsureTaskPartitions (each in a
// transaction of its own, so that neither holds the other's locks) at once and then every
// interval until ctx ends, a minute after a failure. Months are long: an hourly run is plenty,
// and the default partitions keep every event and task stored whenever a run is late.
func (db *DB) RunPartitionMaintenance(ctx context.Context, every time.Duration, log *slog.Logger) error {
	for {
		wait := every
		for _, run := range []struct {
			what   string
			ensure func(context.Context, time.Duration) (int, error)
		}{{"event", db.EnsureEventPartitions}, {"task", db.EnsureTaskPartitions}} {
			n, err := run.ensure(ctx, PartitionsAhead)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch {
			case err != nil:
				wait = min(every, time.Minute)
				if log != nil {
					log.Warn("partition maintenance failed", "table", run.what+"s", "err", err, "retry_in", wait)
				}
			case n > 0 && log != nil:
				log.Info(run.what+" partitions created", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
