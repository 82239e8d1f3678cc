package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/migrations"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// monthStart is the first instant (UTC) of the month months after t's.
func monthStart(t time.Time, months int) time.Time {
	return time.Date(t.Year(), t.Month()+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(month time.Time) string     { return monthPartition("events", month) }
func taskPartitionName(month time.Time) string { return monthPartition("tasks", month) }

// monthPartition is the name of table's partition of month.
func monthPartition(table string, month time.Time) string {
	return fmt.Sprintf("%s_y%04dm%02d", table, month.Year(), int(month.Month()))
}

// partitionOf names the partition that holds event id.
func partitionOf(t *testing.T, db *postgres.DB, id string) string {
	return partitionHolding(t, db, "events", "id", id)
}

// taskPartitionOf names the partition that holds task id's row.
func taskPartitionOf(t *testing.T, db *postgres.DB, id string) string {
	return partitionHolding(t, db, "tasks", "task_id", id)
}

func partitionHolding(t *testing.T, db *postgres.DB, table, key, id string) string {
	t.Helper()
	var name string
	q := fmt.Sprintf(`SELECT tableoid::regclass::text FROM %s WHERE %s = $1`, table, key)
	if err := db.Pool.QueryRow(context.Background(), q, id).Scan(&name); err != nil {
		t.Fatalf("%s %s: %v", table, id, err)
	}
	return name
}

func usageAt(t *testing.T, id, task string, at time.Time, inputTokens int) billing.IncomingEvent {
	t.Helper()
	return incomingAt(t, at, map[string]any{"id": id, "type": "task.usage", "customer_id": "acme", "task_id": task,
		"model": "gpt-4.1-mini", "input_tokens": inputTokens, "output_tokens": 10})
}

// Events go to their month's partition, or to the default one while their month has none; ids
// stay unique across all of them, and the maintenance moves default rows into new partitions
// without changing a verdict.
func TestEventsArePartitionedByMonth(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-2 * time.Minute)
	cur, prev1, prev2 := monthStart(now, 0), monthStart(now, -1), monthStart(now, -2)
	old := time.Date(2021, 3, 10, 8, 0, 0, 0, time.UTC)
	batch := []billing.IncomingEvent{
		usageAt(t, "cur", "t-cur", now, 100),
		usageAt(t, "prev1", "t-prev1", prev1.Add(5*24*time.Hour), 100),
		usageAt(t, "prev2", "t-prev2", prev2.Add(36*time.Hour), 100),
		usageAt(t, "old", "t-old", old, 100),
	}
	ingest := func(evs ...billing.IncomingEvent) string {
		t.Helper()
		rs, err := db.IngestEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(statuses(rs))
	}
	if s := ingest(batch...); s != "[accepted accepted accepted accepted]" {
		t.Fatalf("first batch: %s", s)
	}
	// The migration made the partitions of this month and the next two; older months have none.
	want := map[string]string{"cur": partitionName(cur), "prev1": "events_default", "prev2": "events_default", "old": "events_default"}
	for id, p := range want {
		if got := partitionOf(t, db, id); got != p {
			t.Errorf("event %s is in %s, want %s", id, got, p)
		}
	}
	// The same id is the same event whatever partition its row is in, or would go to.
	sameIDOtherMonth := usageAt(t, "old", "t-old", now, 100)
	sameIDOtherBody := usageAt(t, "cur", "t-cur", now, 999)
	if s := ingest(batch[3], sameIDOtherMonth, sameIDOtherBody); s != "[duplicate rejected:conflict:id rejected:conflict:id]" {
		t.Errorf("resends before maintenance: %s", s)
	}

	n, err := db.EnsureEventPartitions(ctx, postgres.PartitionsAhead)
	if err != nil || n != 3 {
		t.Fatalf("maintenance created %d partitions (%v), want 3: two past months and 2021-03", n, err)
	}
	want = map[string]string{"cur": partitionName(cur), "prev1": partitionName(prev1), "prev2": partitionName(prev2),
		"old": partitionName(monthStart(old, 0))}
	for id, p := range want {
		if got := partitionOf(t, db, id); got != p {
			t.Errorf("after maintenance event %s is in %s, want %s", id, got, p)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM events_default`); n != 0 {
		t.Errorf("%d rows left in the default partition", n)
	}
	if n, err := db.EnsureEventPartitions(ctx, postgres.PartitionsAhead); err != nil || n != 0 {
		t.Errorf("a second run created %d partitions (%v), want none", n, err)
	}

	if s := ingest(append(batch, sameIDOtherMonth, usageAt(t, "prev1-b", "t-prev1", prev1.Add(6*24*time.Hour), 5))...); s !=
		"[duplicate duplicate duplicate duplicate rejected:conflict:id accepted]" {
		t.Errorf("resends after maintenance: %s", s)
	}
	if got := partitionOf(t, db, "prev1-b"); got != partitionName(prev1) {
		t.Errorf("a new event of a month with a partition went to %s", got)
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 5 {
		t.Errorf("%d events stored, want 5", n)
	}
	if n := count(t, db, `SELECT count(*) FROM event_keys k JOIN events e ON e.id = k.id AND e.occurred_at = k.occurred_at`); n != 5 {
		t.Errorf("%d events match their key, want 5", n)
	}
	// Usage still marks its task for the economics folder through the parent's statement
	// triggers, whichever partition it went to.
	if n := count(t, db, `SELECT count(DISTINCT task_id) FROM economics_dirty WHERE task_id IN ('t-cur', 't-prev1', 't-prev2', 't-old')`); n != 4 {
		t.Errorf("%d of 4 tasks marked dirty by their usage", n)
	}
	// The relay finds each opening event in its partition, moved or not.
	items, err := db.ClaimOutbox(ctx, 10, time.Minute)
	if err != nil || len(items) != 4 {
		t.Fatalf("claimed %d outbox rows (%v), want the 4 opening usage events", len(items), err)
	}

	// Future months: the partitions up to now + ahead are made, once.
	ahead := monthStart(now, 5).Sub(time.Now()) + time.Hour
	if n, err := db.EnsureEventPartitions(ctx, ahead); err != nil || n != 3 {
		t.Errorf("five months ahead created %d partitions (%v), want 3 (months +3 to +5)", n, err)
	}
	for m := 0; m <= 5; m++ {
		if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass
			AND inhrelid = to_regclass($1)`, partitionName(monthStart(now, m))); n != 1 {
			t.Errorf("no partition %s", partitionName(monthStart(now, m)))
		}
	}
}

// A period's usage read (addMeters' query) reads the period's partition only: not the other
// months, not the default partition.
func TestUsageOfAPeriodReadsItsPartitionOnly(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-2 * time.Minute)
	cur, prev1 := monthStart(now, 0), monthStart(now, -1)
	rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{
		usageAt(t, "a", "t1", now, 100), usageAt(t, "b", "t1", prev1.Add(time.Hour), 100),
		usageAt(t, "c", "t2", monthStart(now, -2).Add(time.Hour), 100)})
	if err != nil || fmt.Sprint(statuses(rs)) != "[accepted accepted accepted]" {
		t.Fatalf("ingest: %v %v", statuses(rs), err)
	}
	if _, err := db.EnsureEventPartitions(ctx, postgres.PartitionsAhead); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to time.Time
		want     []string
	}{
		{prev1, cur, []string{partitionName(prev1)}},
		{cur, monthStart(now, 1), []string{partitionName(cur)}},
		{prev1.Add(24 * time.Hour), cur.Add(24 * time.Hour), []string{partitionName(prev1), partitionName(cur)}},
	} {
		rows, err := db.Pool.Query(ctx, `EXPLAIN SELECT COALESCE(sum(input_tokens), 0), COALESCE(sum(cost_usd), 0), count(*)
			FROM events WHERE customer_id = $1 AND type = 'task.usage' AND occurred_at >= $2 AND occurred_at < $3`,
			"acme", tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var read []string
		for m := -3; m <= 2; m++ {
			if p := partitionName(monthStart(now, m)); strings.Contains(plan.String(), p+" ") {
				read = append(read, p)
			}
		}
		if strings.Contains(plan.String(), "events_default") {
			read = append(read, "events_default")
		}
		if fmt.Sprint(read) != fmt.Sprint(tc.want) {
			t.Errorf("[%s, %s) reads %v, want %v:\n%s", tc.from.Format(time.DateOnly), tc.to.Format(time.DateOnly), read, tc.want, plan.String())
		}
	}
}

// migratedUpTo is a new database migrated up to version, and the provider to migrate it further.
func migratedUpTo(t *testing.T, version int64) (*postgres.DB, *goose.Provider) {
	t.Helper()
	db, _ := pgtest.NewEmptyDBURL(t)
	sqldb := stdlib.OpenDBFromPool(db.Pool)
	t.Cleanup(func() { _ = sqldb.Close() })
	provider, err := goose.NewProvider(goose.DialectPostgres, sqldb, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return db, provider
}

// Migration 00013 converts a populated events table: every row lands in its month, keeps its
// columns, gets its key, and the outbox rows their occurred_at.
func TestEventsPartitioningMigrationKeepsRows(t *testing.T) {
	t.Parallel()
	db, provider := migratedUpTo(t, 12)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO customers (id, name, currency, timezone, billing_anchor_day) VALUES ('acme', 'Acme', 'USD', 'UTC', 1);
		INSERT INTO tasks (task_id, customer_id) VALUES ('t1', 'acme');
		INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, input_tokens, cost_usd)
		VALUES ('e1', '\x01', 'task.started', 'acme', 't1', '2024-01-31 23:59:59+00', now(), '{"n": 1}', NULL, NULL, NULL),
			('e2', '\x02', 'task.usage', 'acme', 't1', '2024-02-01 00:00:00+00', now(), '{"n": 2}', 'm', 7, 0.5),
			('e3', '\x03', 'task.usage', 'acme', 't1', '2025-07-15 12:00:00+00', now(), '{"n": 3}', 'm', 9, NULL);
		INSERT INTO outbox (event_id, task_id, customer_id, created_at, available_at)
		VALUES ('e1', 't1', 'acme', now(), now()), ('e3', 't1', 'acme', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for id, p := range map[string]string{"e1": "events_y2024m01", "e2": "events_y2024m02", "e3": "events_y2025m07"} {
		if got := partitionOf(t, db, id); got != p {
			t.Errorf("event %s is in %s, want %s", id, got, p)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM events WHERE (id, fingerprint, body, model, input_tokens, cost_usd) IN
		(('e2', '\x02'::bytea, '{"n": 2}'::jsonb, 'm', 7, 0.5), ('e3', '\x03'::bytea, '{"n": 3}'::jsonb, 'm', 9, NULL))
		OR (id = 'e3' AND cost_usd IS NULL AND input_tokens = 9)`); n != 2 {
		t.Errorf("%d of e2, e3 kept their columns", n)
	}
	if n := count(t, db, `SELECT count(*) FROM event_keys k JOIN events e USING (id, fingerprint, occurred_at)`); n != 3 {
		t.Errorf("%d of 3 events have their key", n)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox o JOIN events e ON e.id = o.event_id AND e.occurred_at = o.occurred_at`); n != 2 {
		t.Errorf("%d of 2 outbox rows carry their event's occurred_at", n)
	}
	// Every partition has the parent's indexes, and the foreign key still holds.
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename = 'events_y2025m07'`); n != 4 {
		t.Errorf("partition events_y2025m07 has %d indexes, want 4", n)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
		VALUES ('e4', '\x04', 'task.cancelled', 'acme', 'nope', '2025-07-16', now(), '{}')`); err == nil {
		t.Error("an event of an unknown task was stored")
	}
}

// An event of a month whose partition of events or of tasks is being created waits for the
// maintenance (on task_keys, which the maintenance locks first), and is then stored, with its
// task, in the new partition, not refused by the default partition's new bounds.
func TestIngestWhileAPartitionIsCreated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		create string
		where  func(*testing.T, *postgres.DB) string
		name   func(time.Time) string
	}{
		{"event_partition_create", func(t *testing.T, db *postgres.DB) string { return partitionOf(t, db, "late") }, partitionName},
		{"task_partition_create", func(t *testing.T, db *postgres.DB) string { return taskPartitionOf(t, db, "t1") }, taskPartitionName},
	} {
		t.Run(tc.create, func(t *testing.T) {
			t.Parallel()
			db := ingestFixture(t)
			ctx := context.Background()
			prev := monthStart(time.Now().UTC().Add(-2*time.Minute), -1)
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SELECT `+tc.create+`($1)`, prev); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			var rs []billing.IngestResult
			go func() {
				var err error
				rs, err = db.IngestEvents(ctx, []billing.IncomingEvent{usageAt(t, "late", "t1", prev.Add(time.Hour), 1)})
				done <- err
			}()
			waitForBlockedIngest(t, db, "the maintenance")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if s := fmt.Sprint(statuses(rs)); s != "[accepted]" {
				t.Fatalf("got %s", s)
			}
			if got := tc.where(t, db); got != tc.name(prev) {
				t.Errorf("stored in %s, want %s", got, tc.name(prev))
			}
		})
	}
}

// Tasks go to the partition of the month they were opened in — the occurred_at of their first
// event in the batch that created them — or to the default one while that month has none; the
// maintenance moves them, without marking anything dirty, and a status change leaves a task's
// row where it is.
func TestTasksArePartitionedByMonth(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-2 * time.Minute)
	cur, prev1, prev2 := monthStart(now, 0), monthStart(now, -1), monthStart(now, -2)
	old := time.Date(2021, 3, 10, 8, 0, 0, 0, time.UTC)
	rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{
		usageAt(t, "cur", "t-cur", now, 100),
		// t-prev1 is opened by its first event in the batch, not by its earliest one.
		usageAt(t, "prev1", "t-prev1", prev1.Add(5*24*time.Hour), 100),
		usageAt(t, "prev2", "t-prev1", prev2.Add(36*time.Hour), 100),
		usageAt(t, "old", "t-old", old, 100),
	})
	if err != nil || fmt.Sprint(statuses(rs)) != "[accepted accepted accepted accepted]" {
		t.Fatalf("ingest: %v %v", statuses(rs), err)
	}
	var opened time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT opened_at FROM tasks WHERE task_id = 't-prev1'`).Scan(&opened); err != nil ||
		!opened.Equal(prev1.Add(5*24*time.Hour)) {
		t.Errorf("t-prev1 opened at %v (%v), want its first event's %v", opened, err, prev1.Add(5*24*time.Hour))
	}
	want := map[string]string{"t-cur": taskPartitionName(cur), "t-prev1": "tasks_default", "t-old": "tasks_default"}
	for id, p := range want {
		if got := taskPartitionOf(t, db, id); got != p {
			t.Errorf("task %s is in %s, want %s", id, got, p)
		}
	}
	dirty := count(t, db, `SELECT count(*) FROM economics_dirty`)

	n, err := db.EnsureTaskPartitions(ctx, postgres.PartitionsAhead)
	if err != nil || n != 2 {
		t.Fatalf("maintenance created %d task partitions (%v), want 2: last month and 2021-03", n, err)
	}
	want = map[string]string{"t-cur": taskPartitionName(cur), "t-prev1": taskPartitionName(prev1), "t-old": taskPartitionName(monthStart(old, 0))}
	for id, p := range want {
		if got := taskPartitionOf(t, db, id); got != p {
			t.Errorf("after maintenance task %s is in %s, want %s", id, got, p)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM tasks_default`); n != 0 {
		t.Errorf("%d rows left in the default partition of tasks", n)
	}
	if n := count(t, db, `SELECT count(*) FROM economics_dirty`); n != dirty {
		t.Errorf("moving tasks between partitions marked %d tasks dirty", n-dirty)
	}
	if n, err := db.EnsureTaskPartitions(ctx, postgres.PartitionsAhead); err != nil || n != 0 {
		t.Errorf("a second run created %d partitions (%v), want none", n, err)
	}
	// Every task matches its key, and is found by id wherever it went.
	if n := count(t, db, `SELECT count(*) FROM task_keys k JOIN tasks t USING (task_id, customer_id, opened_at)`); n != 3 {
		t.Errorf("%d of 3 tasks match their key", n)
	}
	if events, _, err := db.LoadTask(ctx, "t-prev1"); err != nil || len(events) != 2 {
		t.Errorf("LoadTask(t-prev1): %d events, %v", len(events), err)
	}
	if v, err := db.TaskView(ctx, "t-old"); err != nil || v.CustomerID != "acme" {
		t.Errorf("TaskView(t-old): %+v, %v", v, err)
	}
	// A new task of a month with a partition goes there at once.
	if rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{usageAt(t, "prev1-b", "t-prev1-b", prev1.Add(6*24*time.Hour), 5)}); err != nil ||
		fmt.Sprint(statuses(rs)) != "[accepted]" {
		t.Fatalf("ingest: %v %v", statuses(rs), err)
	}
	if got := taskPartitionOf(t, db, "t-prev1-b"); got != taskPartitionName(prev1) {
		t.Errorf("a new task of a month with a partition went to %s", got)
	}

	// The workflow's saves change status and status_at, never opened_at: the row stays put.
	q := dec("0.9")
	if err := db.SaveTaskState(ctx, billing.TaskState{TaskID: "t-prev1", CustomerID: "acme", OutcomeType: "support.ticket_resolved",
		Priority: "normal", Status: billing.TaskBillable, StatusAt: now, Outcome: billing.OutcomeSucceeded, Quality: &q,
		OutcomeAt: now.Add(-72 * time.Hour), BillableAt: now, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if got := taskPartitionOf(t, db, "t-prev1"); got != taskPartitionName(prev1) {
		t.Errorf("a billable t-prev1 moved to %s", got)
	}
	if v, err := db.TaskView(ctx, "t-prev1"); err != nil || v.Status != billing.TaskBillable || v.State == nil || v.State.Version != 1 {
		t.Errorf("TaskView(t-prev1) after the save: %+v, %v", v, err)
	}
}

// The worker's maintenance looks after both tables: the rows of months without a partition leave
// the default partitions of events and of tasks.
func TestPartitionMaintenanceCoversEventsAndTasks(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prev := monthStart(time.Now().UTC().Add(-2*time.Minute), -1)
	if rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{usageAt(t, "e1", "t1", prev.Add(time.Hour), 1)}); err != nil ||
		fmt.Sprint(statuses(rs)) != "[accepted]" {
		t.Fatalf("ingest: %v %v", statuses(rs), err)
	}
	done := make(chan error, 1)
	go func() { done <- db.RunPartitionMaintenance(ctx, time.Hour, nil) }()
	for deadline := time.Now().Add(20 * time.Second); count(t, db, `SELECT (SELECT count(*) FROM events_default) + (SELECT count(*) FROM tasks_default)`) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the maintenance never emptied the default partitions")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("maintenance ended with %v, want context.Canceled", err)
	}
	if got := partitionOf(t, db, "e1"); got != partitionName(prev) {
		t.Errorf("event is in %s, want %s", got, partitionName(prev))
	}
	if got := taskPartitionOf(t, db, "t1"); got != taskPartitionName(prev) {
		t.Errorf("task is in %s, want %s", got, taskPartitionName(prev))
	}
}

// executedTaskPartitions runs EXPLAIN ANALYZE of query (in tx, so that an update can be rolled
// back) and returns the partitions of tasks that the plan read, each once, in plan order: pruned
// ones show as "(never executed)".
func executedTaskPartitions(t *testing.T, tx pgx.Tx, query string, args ...any) ([]string, string) {
	t.Helper()
	rows, err := tx.Query(context.Background(), `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	scan := regexp.MustCompile(`\bon (tasks_(?:y\d{4}m\d{2}|default)) \w+ \(actual`)
	var read []string
	seen := map[string]bool{}
	for _, l := range lines {
		if m := scan.FindStringSubmatch(l); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			read = append(read, m[1])
		}
	}
	return read, strings.Join(lines, "\n")
}

// The statements by task_id reach one partition of tasks, through the opened_at of the task's
// key: LoadTask's and TaskView's reads, SaveTaskState's update, and economics_task_rows (the
// economics folder, the margin reads, simulations) for each task it is given.
func TestTaskReadsProbeOnePartition(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-2 * time.Minute)
	var batch []billing.IncomingEvent
	for m := 0; m < 4; m++ {
		batch = append(batch, usageAt(t, fmt.Sprintf("e%d", m), fmt.Sprintf("t%d", m), monthStart(now, -m).Add(time.Hour), 10))
	}
	if rs, err := db.IngestEvents(ctx, batch); err != nil || fmt.Sprint(statuses(rs)) != "[accepted accepted accepted accepted]" {
		t.Fatalf("ingest: %v %v", statuses(rs), err)
	}
	if _, err := db.EnsureTaskPartitions(ctx, postgres.PartitionsAhead); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE tasks; ANALYZE task_keys`); err != nil {
		t.Fatal(err)
	}
	two := taskPartitionName(monthStart(now, -2))
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  []string
	}{
		{"LoadTask", postgres.TaskStateSQL, []any{"t2"}, []string{two}},
		{"TaskView", postgres.TaskViewSQL, []any{"t2"}, []string{two}},
		{"SaveTaskState", postgres.SaveTaskStateSQL, []any{"t2", "support.ticket_resolved", "normal", "verifying", now, "succeeded",
			nil, now, now.Add(72 * time.Hour), `{}`, int64(1), now}, []string{two}},
		{"economics_task_rows", `SELECT * FROM economics_task_rows($1)`, []any{[]string{"t2", "t0"}},
			[]string{taskPartitionName(monthStart(now, 0)), two}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			read, plan := executedTaskPartitions(t, tx, tc.query, tc.args...)
			sort.Strings(read)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if fmt.Sprint(read) != fmt.Sprint(want) {
				t.Errorf("reads %v, want %v:\n%s", read, want, plan)
			}
		})
	}
}

// Migration 00014 converts a populated tasks table: every task lands in the month of its earliest
// event (or of its creation, without events), keeps its columns, gets its key, and events
// reference the keys.
func TestTasksPartitioningMigrationKeepsRows(t *testing.T) {
	t.Parallel()
	db, provider := migratedUpTo(t, 13)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO customers (id, name, currency, timezone, billing_anchor_day)
		VALUES ('acme', 'Acme', 'USD', 'UTC', 1), ('beta', 'Beta', 'USD', 'UTC', 1);
		INSERT INTO tasks (task_id, customer_id, created_at, updated_at, status, outcome_type, priority, status_at, outcome,
			quality, outcome_at, billable_at, state, version, credit_note_pending)
		VALUES ('t1', 'acme', '2025-08-01 00:00:00+00', '2025-08-05 00:00:00+00', 'billable', 'x', 'urgent',
				'2025-08-04 00:00:00+00', 'succeeded', 0.9, '2025-08-01 00:00:00+00', '2025-08-04 00:00:00+00', '{"a": 1}', 3, true),
			('t2', 'beta', '2023-05-05 10:00:00+00', '2023-05-05 10:00:00+00', 'open', NULL, 'normal', NULL, NULL, NULL, NULL,
				NULL, NULL, 0, false);
		INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
		VALUES ('e1', '\x01', 'task.started', 'acme', 't1', '2025-07-31 23:00:00+00', now(), '{}'),
			('e2', '\x02', 'task.cancelled', 'acme', 't1', '2024-01-15 00:00:00+00', now(), '{}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for id, p := range map[string]string{"t1": "tasks_y2024m01", "t2": "tasks_y2023m05"} {
		if got := taskPartitionOf(t, db, id); got != p {
			t.Errorf("task %s is in %s, want %s", id, got, p)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM tasks WHERE task_id = 't1' AND customer_id = 'acme' AND status = 'billable'
		AND outcome_type = 'x' AND priority = 'urgent' AND status_at = '2025-08-04 00:00:00+00' AND outcome = 'succeeded'
		AND quality = 0.9 AND outcome_at = '2025-08-01 00:00:00+00' AND billable_at = '2025-08-04 00:00:00+00'
		AND state = '{"a": 1}' AND version = 3 AND credit_note_pending AND created_at = '2025-08-01 00:00:00+00'
		AND updated_at = '2025-08-05 00:00:00+00' AND opened_at = '2024-01-15 00:00:00+00'`); n != 1 {
		t.Error("t1 did not keep its columns")
	}
	if n := count(t, db, `SELECT count(*) FROM task_keys k JOIN tasks t USING (task_id, customer_id, opened_at)
		WHERE (k.task_id, k.opened_at) IN (('t1', '2024-01-15 00:00:00+00'::timestamptz), ('t2', '2023-05-05 10:00:00+00'))`); n != 2 {
		t.Errorf("%d of 2 tasks have their key", n)
	}
	// Partitions of this month and the next two, the parent's indexes on each partition, the
	// economics triggers on the parent, and events referencing the keys.
	now := time.Now().UTC()
	for m := 0; m <= 2; m++ {
		if n := count(t, db, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'tasks'::regclass AND inhrelid = to_regclass($1)`,
			taskPartitionName(monthStart(now, m))); n != 1 {
			t.Errorf("no partition %s", taskPartitionName(monthStart(now, m)))
		}
	}
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename = 'tasks_y2024m01'`); n != 3 {
		t.Errorf("partition tasks_y2024m01 has %d indexes, want 3", n)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'tasks'::regclass AND tgname LIKE 'economics_tasks_%'`); n != 3 {
		t.Errorf("%d economics triggers on tasks, want 3", n)
	}
	for _, bad := range []string{
		`INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t3', 'acme', now())`,
		`INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t1', 'acme', '2025-07-31 23:00:00+00')`,
		`INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
			VALUES ('e3', '\x03', 'task.cancelled', 'beta', 't1', now(), now(), '{}')`,
	} {
		if _, err := db.Pool.Exec(ctx, bad); err == nil {
			t.Errorf("stored without a matching key: %s", bad)
		}
	}
}
