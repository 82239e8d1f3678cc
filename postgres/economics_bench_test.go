package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/migrations"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// Economics benchmarks read 1,000,000 tasks of 1,000 customers spread over the twelve months from
// April 2025 (1,250,000 usage events; 70 % billable, 15 % not billable, 5 % expired, 10 % pending;
// three models, three outcome types; five time zones, two currencies) from the test server:
//
//	go test -run='^$' -bench='^Benchmark(Margin|LaborEquivalent)$' -benchtime=400x ./postgres
//
// Each reports p50/p95/p99 in ms of one customer's calendar month (a random customer and month
// per iteration) and all-customers-ms: the whole vendor's month (VendorMargin; for the labor view,
// every customer's LaborEquivalent one after another).
//
// Seeding takes about a minute, so the seeded database is kept on the server for the next run,
// named after a hash of the migrations and of the seed below (a changed schema seeds anew). Drop
// it with DROP DATABASE when done: SELECT datname FROM pg_database WHERE datname LIKE 'bench_econ_%'.
//
// OUTCOMEBILL_BENCH_ECON_TASKS seeds another number of tasks, with a customer per 1,000 of them
// (at least 10, at most 9,999): scripts/bench --short seeds 20,000 so that CI runs these benchmarks in seconds.

var econBenchTasks, econBenchCustomers = econBenchSize()

func econBenchSize() (tasks, customers int) {
	tasks = 1_000_000
	if n, err := strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_ECON_TASKS")); err == nil && n > 0 {
		tasks = n
	}
	return tasks, min(max(tasks/1000, 10), 9999) // customer ids have four digits
}

// econBenchSeed is the seed; its text, with the sizes in it, is part of the database's name.
var econBenchSeed = strings.NewReplacer("{tasks}", strconv.Itoa(econBenchTasks), "{customers}", strconv.Itoa(econBenchCustomers)).Replace(`
INSERT INTO customers (id, name, currency, timezone, billing_anchor_day)
SELECT 'c' || lpad(i::text, 4, '0'), 'Customer ' || i, CASE WHEN i % 3 = 0 THEN 'EUR' ELSE 'USD' END,
	(ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Asia/Kolkata'])[1 + i % 5], 1
FROM generate_series(1, {customers}) i;

INSERT INTO outcome_types (key, name, human_minutes, annual_cost, annual_cost_currency, productive_hours,
	dispute_window_seconds, task_timeout_seconds)
VALUES ('support.ticket', 'Ticket', 12, 94000, 'USD', 1880, 259200, 604800),
	('finance.reconcile', 'Reconciliation', 45, 120000, 'USD', 1880, 259200, 604800),
	('code.review', 'Review', 30, 150000, 'USD', 1880, 259200, 604800);
INSERT INTO exchange_rates (currency, effective_from, rate, created_at) VALUES ('EUR', '2020-01-01', 0.92, now());

-- Bulk load with triggers off (this session only), then one economics_rebuild.
SET session_replication_role = replica;

INSERT INTO tasks (task_id, customer_id, opened_at, status, created_at, updated_at, outcome_type, priority, status_at,
	outcome, quality, version)
SELECT 't' || g, 'c' || lpad((1 + g % {customers})::text, 4, '0'), s.at, s.status, s.at, s.at,
	(ARRAY['support.ticket', 'finance.reconcile', 'code.review'])[1 + (g / 7) % 3], 'normal', s.at,
	CASE s.status WHEN 'billable' THEN CASE WHEN g % 7 = 0 THEN 'partial' ELSE 'succeeded' END
		WHEN 'not_billable' THEN CASE WHEN g % 2 = 0 THEN 'failed' ELSE 'escalated' END
		WHEN 'verifying' THEN 'succeeded' END,
	CASE WHEN s.status IN ('billable', 'not_billable', 'verifying') THEN round(((g * 37) % 100) / 100.0, 2) END, 1
FROM generate_series(1, {tasks}) g
CROSS JOIN LATERAL (SELECT
	CASE WHEN g % 20 < 14 THEN 'billable' WHEN g % 20 < 17 THEN 'not_billable' WHEN g % 20 = 17 THEN 'expired'
		WHEN g % 20 = 18 THEN 'open' ELSE 'verifying' END AS status,
	timestamptz '2025-04-01 00:00:00+00' + ((g::bigint * 7919) % 31536000) * interval '1 second' AS at) s;
-- With the triggers off, foreign keys are not checked either: the keys are written after the tasks.
INSERT INTO task_keys (task_id, customer_id, opened_at) SELECT task_id, customer_id, opened_at FROM tasks;

INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, input_tokens,
	output_tokens, cost_usd)
SELECT 'e' || t.g, '\x00', 'task.usage', t.customer_id, t.task_id, t.status_at, t.status_at, '{}',
	(ARRAY['gpt-4.1-mini', 'claude-sonnet-4', 'in-house-7b'])[1 + t.g % 3], 1000 + t.g % 5000, 200 + t.g % 800,
	CASE WHEN t.g % 500 <> 0 THEN ((t.g % 97) + 1) / 1000.0 * (1 + t.g % 3) END
FROM (SELECT substr(task_id, 2)::bigint AS g, task_id, customer_id, status_at FROM tasks) t;

INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, cost_usd)
SELECT 'x' || t.g, '\x00', 'task.usage', t.customer_id, t.task_id, t.status_at, t.status_at, '{}', ((t.g % 13) + 1) / 10000.0
FROM (SELECT substr(task_id, 2)::bigint AS g, task_id, customer_id, status_at FROM tasks) t
WHERE t.g % 4 = 0;

SET session_replication_role = origin;
SELECT economics_rebuild();
CREATE TABLE bench_seeded (done boolean);
`)

var econBench struct {
	once sync.Once
	db   *postgres.DB
	err  error
}

// econBenchDB returns the seeded database, seeding it on first use.
func econBenchDB(b *testing.B) *postgres.DB {
	b.Helper()
	admin := pgtest.URL(b)
	econBench.once.Do(func() { econBench.db, econBench.err = openEconBench(admin, b) })
	if econBench.err != nil {
		b.Fatal(econBench.err)
	}
	return econBench.db
}

func openEconBench(admin string, b *testing.B) (*postgres.DB, error) {
	ctx := context.Background()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(migrations.FS, p)
		h.Write(raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.Write([]byte(econBenchSeed))
	name := "bench_econ_" + hex.EncodeToString(h.Sum(nil))[:12]
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, err
	}
	if exists {
		db, err := postgres.Open(ctx, u.String())
		if err != nil {
			return nil, err
		}
		var done bool
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'bench_seeded')`).Scan(&done); err == nil && done {
			b.Logf("reusing seeded database %s", name)
			return db, nil
		}
		db.Close()
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return nil, err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	// The simple protocol runs the whole script, several statements, in one call.
	if _, err := c.Conn().PgConn().Exec(ctx, econBenchSeed).ReadAll(); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if _, err := c.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return nil, err
	}
	b.Logf("seeded %s with %d tasks of %d customers in %s", name, econBenchTasks, econBenchCustomers, time.Since(start).Round(time.Second))
	return db, nil
}

// econBenchMonth is a random customer and calendar month of the seeded year.
func econBenchMonth(rng *rand.Rand) (string, billing.DateRange) {
	id := fmt.Sprintf("c%04d", 1+rng.IntN(econBenchCustomers))
	m := time.Date(2025, time.Month(4+rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
	return id, billing.DateRange{From: billing.DateBound(m.Date()), To: billing.DateBound(m.AddDate(0, 1, 0).Date())}
}

func econPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func BenchmarkMargin(b *testing.B) {
	db := econBenchDB(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, r := econBenchMonth(rng)
		start := time.Now()
		m, err := db.Margin(ctx, id, r)
		lat = append(lat, time.Since(start))
		if err != nil || m.Total.Tasks == 0 {
			b.Fatalf("%s %v: %d tasks, %v", id, r, m.Total.Tasks, err)
		}
	}
	b.StopTimer()
	econPercentiles(b, lat)
	// The whole vendor's month, best of three (the first warms the cache).
	r := billing.DateRange{From: billing.DateBound(2026, 1, 1), To: billing.DateBound(2026, 2, 1)}
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		v, err := db.VendorMargin(ctx, r)
		if err != nil || len(v.Customers) != econBenchCustomers {
			b.Fatalf("vendor margin: %d customers, %v", len(v.Customers), err)
		}
		best = min(best, time.Since(start))
	}
	b.ReportMetric(float64(best)/float64(time.Millisecond), "all-customers-ms")
}

func BenchmarkLaborEquivalent(b *testing.B) {
	db := econBenchDB(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, r := econBenchMonth(rng)
		start := time.Now()
		le, err := db.LaborEquivalent(ctx, id, r)
		lat = append(lat, time.Since(start))
		if err != nil || len(le.Trend) != 6 {
			b.Fatalf("%s %v: %v", id, r, err)
		}
	}
	b.StopTimer()
	econPercentiles(b, lat)
	// Every customer's January, one after another.
	r := billing.DateRange{From: billing.DateBound(2026, 1, 1), To: billing.DateBound(2026, 2, 1)}
	start := time.Now()
	for i := 1; i <= econBenchCustomers; i++ {
		if _, err := db.LaborEquivalent(ctx, fmt.Sprintf("c%04d", i), r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start))/float64(time.Millisecond), "all-customers-ms")
}

// BenchmarkModelEconomics is the vendor-wide model comparison over a month.
func BenchmarkModelEconomics(b *testing.B) {
	db := econBenchDB(b)
	ctx := context.Background()
	r := billing.DateRange{From: billing.DateBound(2026, 1, 1), To: billing.DateBound(2026, 2, 1)}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := db.ModelEconomics(ctx, "", r, billing.DefaultModelBar()); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	econPercentiles(b, lat)
}

// BenchmarkMarginPending is BenchmarkMargin's read of one customer's month while 100 of that
// month's tasks wait for the folder (about a quarter of a second of a busy customer's ingest):
// what reading exactly, without waiting for the fold, costs.
func BenchmarkMarginPending(b *testing.B) {
	db := econBenchDB(b)
	ctx := context.Background()
	r := billing.DateRange{From: billing.DateBound(2025, 6, 1), To: billing.DateBound(2025, 7, 1)}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO economics_dirty (task_id, customer_id)
		SELECT task_id, customer_id FROM tasks WHERE customer_id = 'c0001' AND status_at >= '2025-06-01' AND status_at < '2025-07-01'
		LIMIT 100`); err != nil {
		b.Fatal(err)
	}
	// The rollups are current (seeded by a rebuild), so these rows would fold to nothing: remove
	// them rather than leave them to the next run.
	b.Cleanup(func() { _, _ = db.Pool.Exec(ctx, `DELETE FROM economics_dirty`) })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := db.Margin(ctx, "c0001", r); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	econPercentiles(b, lat)
}

// BenchmarkFoldEconomics runs on the durable server of the ingest benchmarks (see benchServer).
// ingest+folder is BenchmarkIngest's batch=100/clients=8 with the worker's folder running
// (RunEconomicsFolder, 200 ms idle) — ingest must not slow down for it — and reports the dirty
// rows left when ingest stopped. fold ingests b.N batches of 100 events with no folder, then
// times folding them all (fold-events/s: events' worth of rollup changes folded per second).
func BenchmarkFoldEconomics(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	ctx := context.Background()
	pending := func(b *testing.B) int {
		var n int
		if err := bd.db.Pool.QueryRow(ctx, `SELECT count(*) FROM economics_dirty`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	ingest := func(b *testing.B, db *postgres.DB, batches [][]billing.IncomingEvent) func(int) error {
		return func(i int) error {
			rs, err := db.IngestEvents(ctx, batches[i])
			if err != nil {
				return err
			}
			return checkAll(rs, billing.IngestAccepted)
		}
	}
	b.Run("ingest+folder/batch=100/clients=8", func(b *testing.B) {
		db := bd.store(b, 8)
		gen := newEventGen()
		batches := make([][]billing.IncomingEvent, b.N)
		for i := range batches {
			batches[i] = gen.batch(b, 100)
		}
		fctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- bd.db.RunEconomicsFolder(fctx, 200*time.Millisecond, nil) }()
		runClients(b, 8, 100, ingest(b, db, batches))
		b.ReportMetric(float64(pending(b)), "pending-at-end")
		stop()
		<-done
	})
	b.Run("fold", func(b *testing.B) {
		db := bd.store(b, 8)
		if _, err := bd.db.Pool.Exec(ctx, `DELETE FROM economics_dirty`); err != nil {
			b.Fatal(err)
		}
		gen := newEventGen()
		batches := make([][]billing.IncomingEvent, b.N)
		for i := range batches {
			batches[i] = gen.batch(b, 100)
		}
		b.StopTimer()
		op := ingest(b, db, batches)
		for i := range batches {
			if err := op(i); err != nil {
				b.Fatal(err)
			}
		}
		rows := pending(b)
		b.StartTimer()
		for {
			n, err := bd.db.FoldEconomics(ctx, postgres.EconomicsFoldBatch)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "fold-events/s")
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "dirty-rows/s")
	})
}
