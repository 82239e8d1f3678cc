package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// EconomicsFoldBatch is how many dirty rows one FoldEconomics call of RunEconomicsFolder takes: a
// few hundred tasks, a transaction of some milliseconds.
const EconomicsFoldBatch = 1000

// FoldEconomics folds up to limit of the oldest pending economics changes (economics_dirty) into
// task_economics and economics_daily, in one short transaction, and returns how many it took.
// Several callers may run at once (in one process or several): each claims different rows and
// the tasks they share are folded one after the other (see economics_fold in migration 00006).
// Reads do not depend on it for exactness, only for speed: they correct the rollups for the
// tasks still pending.
func (db *DB) FoldEconomics(ctx context.Context, limit int) (folded int, err error) {
	// READ COMMITTED whatever the server's default: economics_fold relies on each of its statements
	// seeing what was committed before it started.
	err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT economics_fold($1)`, limit).Scan(&folded)
	})
	if err != nil {
		return 0, fmt.Errorf("fold economics: %w", err)
	}
	return folded, nil
}

// RunEconomicsFolder calls FoldEconomics until ctx ends: again at once while it finds full
// batches, after idle when it found less, and backing off up to a minute while it fails (the
// database is down). The worker runs it next to the outbox relay.
func (db *DB) RunEconomicsFolder(ctx context.Context, idle time.Duration, log *slog.Logger) error {
	return runPasses(ctx, idle, 10, func(ctx context.Context) (bool, error) {
		n, err := db.FoldEconomics(ctx, EconomicsFoldBatch)
		return n >= EconomicsFoldBatch, err
	}, func(err error, wait time.Duration) {
		if log != nil {
			log.Warn("economics folder: fold failed", "err", err, "retry_in", wait)
		}
	})
}

// EconomicsBacklog counts the economics changes not folded yet (rows of economics_dirty), up to
// limit: a backlog past that is alarming whatever its size, and counting further costs a longer
// scan on every sample.
func (db *DB) EconomicsBacklog(ctx context.Context, limit int) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM economics_dirty LIMIT $1) d`, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("economics backlog: %w", err)
	}
	return n, nil
}
