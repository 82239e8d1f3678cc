package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
)

// insertEventSQL stores an event straight into events, past the ingest statement's own checks.
const insertEventSQL = `INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
	VALUES ($1, '\x00', 'task.usage', $2, $3, $4, $4, '{}')`

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// The database keeps an event's customer the owner of its task (migration 00015: per statement,
// no longer per row): an insert or update naming a task of another customer, or a task without
// a key, fails whole; a repair of a key takes the task's events along; a key with events cannot
// be deleted; repricing an event is not a change of its key.
func TestEventsKeepTheirTaskKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ingestFixture(t)
	var batch []billing.IncomingEvent
	for _, f := range []map[string]any{
		{"id": "k1-0", "type": "task.started", "customer_id": "acme", "task_id": "k1", "outcome_type": "support.ticket_resolved"},
		{"id": "k1-1", "type": "task.usage", "customer_id": "acme", "task_id": "k1", "cost": "0.5", "description": "search"},
		{"id": "k2-0", "type": "task.started", "customer_id": "globex", "task_id": "k2", "outcome_type": "support.ticket_resolved"},
	} {
		batch = append(batch, incoming(t, f))
	}
	if _, err := db.IngestEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		what string
		sql  string
		args []any
	}{
		{"an event of another customer's task", insertEventSQL, []any{"x1", "globex", "k1", eventClock}},
		{"an event of a task without a key", insertEventSQL, []any{"x2", "acme", "nope", eventClock}},
		{"a good and a bad event in one statement", `INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
			VALUES ('x3', '\x00', 'task.usage', 'acme', 'k1', $1, $1, '{}'), ('x4', '\x00', 'task.usage', 'acme', 'k2', $1, $1, '{}')`,
			[]any{eventClock}},
		{"an event moved to another customer", `UPDATE events SET customer_id = 'globex' WHERE id = 'k1-1'`, nil},
		{"a key deleted while its task has events", `DELETE FROM task_keys WHERE task_id = 'k2'`, nil},
	} {
		if _, err := db.Pool.Exec(ctx, c.sql, c.args...); !isForeignKeyViolation(err) {
			t.Errorf("%s: error %v, want a foreign key violation", c.what, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM events WHERE id LIKE 'x%'`); n != 0 {
		t.Errorf("%d refused events stored", n)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE events SET cost_usd = 0.25 WHERE id = 'k1-1'`); err != nil {
		t.Errorf("repricing: %v", err)
	}

	// A repair moves k1 to globex: its row and its events follow its key.
	if _, err := db.Pool.Exec(ctx, `UPDATE task_keys SET customer_id = 'globex' WHERE task_id = 'k1'`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM events WHERE task_id = 'k1' AND customer_id = 'globex'`); n != 2 {
		t.Errorf("%d of k1's 2 events moved with its key", n)
	}
	if n := count(t, db, `SELECT count(*) FROM tasks WHERE task_id = 'k1' AND customer_id = 'globex'`); n != 1 {
		t.Error("k1's row did not move with its key")
	}
}

// The per-statement check locks the keys it finds, as a foreign key does: a repair of a key waits
// for a transaction that inserted events of it, and takes them along when it goes on; an insert
// that waited for a repair fails when the key no longer names its customer.
func TestEventsTaskKeyCheckUnderConcurrentRepair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, insertFirst := range []bool{true, false} {
		db := ingestFixture(t)
		if _, err := db.IngestEvents(ctx, []billing.IncomingEvent{incoming(t, map[string]any{"id": "r-0", "type": "task.started",
			"customer_id": "acme", "task_id": "r", "outcome_type": "support.ticket_resolved"})}); err != nil {
			t.Fatal(err)
		}
		first, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = first.Rollback(ctx) }()
		insert := func(q interface {
			Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		}) error {
			_, err := q.Exec(ctx, insertEventSQL, "r-1", "acme", "r", eventClock.Add(time.Minute))
			return err
		}
		repair := func(q interface {
			Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		}) error {
			_, err := q.Exec(ctx, `UPDATE task_keys SET customer_id = 'globex' WHERE task_id = 'r'`)
			return err
		}
		if insertFirst {
			err = insert(first)
		} else {
			err = repair(first)
		}
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			if insertFirst {
				done <- repair(db.Pool)
			} else {
				done <- insert(db.Pool)
			}
		}()
		waitForLockWait(t, db, "%", "the other transaction")
		if err := first.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err = <-done
		if insertFirst {
			// The repair went on after the insert committed and moved its event too.
			if err != nil {
				t.Fatalf("repair after the insert: %v", err)
			}
			if n := count(t, db, `SELECT count(*) FROM events WHERE task_id = 'r' AND customer_id = 'globex'`); n != 2 {
				t.Errorf("%d of the task's 2 events moved with its key", n)
			}
		} else if !isForeignKeyViolation(err) {
			t.Errorf("insert for the old owner after the repair: error %v, want a foreign key violation", err)
		}
	}
}

// waitForLockWait returns once a statement of db whose text is LIKE pattern waits for a lock,
// which holder (a description) holds; it fails the test if none does within 20 seconds.
func waitForLockWait(t *testing.T, db *postgres.DB, pattern, holder string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE $1`, pattern) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no statement waited for %s", holder)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
