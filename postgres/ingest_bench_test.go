package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
)

// Ingest benchmarks run against a PostgreSQL with its crash-safety settings on (fsync,
// synchronous_commit, full_page_writes), since commit latency is what bounds ingest: the server
// named by OUTCOMEBILL_BENCH_DATABASE_URL (an admin URL; each benchmark creates its own
// database), or else a private durable server started in a temporary directory for each
// top-level benchmark. The fast, non-durable test server is never used: its figures would say
// nothing about production.
//
//	go test -run='^$' -bench='^Benchmark(RawInsert|Ingest)' -benchtime=2s ./postgres
//
// Each benchmark reports events/s. BenchmarkRawInsertBatch100 and BenchmarkRawInsertSingle are
// the yardsticks: the same server inserting events-shaped rows and an outbox row per event with
// one autocommitted statement and nothing else, which is as fast as this server can take events.

// benchServer returns an admin URL of a durable PostgreSQL for the benchmark b.
func benchServer(b *testing.B) string {
	b.Helper()
	if u := os.Getenv("OUTCOMEBILL_BENCH_DATABASE_URL"); u != "" {
		return u
	}
	dir, err := os.MkdirTemp("", "outcomebill-bench-")
	if err != nil {
		b.Fatal(err)
	}
	// The postgres user must reach the cluster when running as root (see devenv's doc).
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	pg, err := devenv.StartPostgres(context.Background(), devenv.PostgresOptions{
		DataDir: filepath.Join(dir, "pg"), Durable: true, Log: io.Discard})
	if err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = pg.Stop()
		_ = os.RemoveAll(dir)
	})
	return pg.URL("postgres")
}

// benchDB is a migrated database with the model catalog, a few customers and outcome types.
type benchDB struct {
	url string // of the database, for pools of the benchmark's own
	db  *postgres.DB
}

var benchCustomers = []string{"acme", "globex", "initech", "umbrella", "hooli"}

var benchOutcomeTypes = []string{"support.ticket_resolved", "code.pr_merged", "sales.lead_qualified"}

func newBenchDB(b *testing.B, admin string) *benchDB {
	b.Helper()
	ctx := context.Background()
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := "bench_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	bd := &benchDB{url: u.String()}
	if bd.db, err = postgres.Open(ctx, bd.url); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		bd.db.Close()
		if c, err := pgx.Connect(context.Background(), admin); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	if err := postgres.Migrate(ctx, bd.db.Pool, nil); err != nil {
		b.Fatal(err)
	}
	if err := bd.db.SeedModelCatalog(ctx); err != nil {
		b.Fatal(err)
	}
	for _, c := range benchCustomers {
		if _, _, err := bd.db.CreateCustomer(ctx, billing.Customer{ID: c, Name: c, Currency: "USD"}); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range benchOutcomeTypes {
		ot := billing.OutcomeType{Key: k, Baseline: billing.LaborBaseline{HumanMinutes: decimal.RequireFromString("12"),
			AnnualCost: money.New(decimal.RequireFromString("94000"), "USD")}, TaskTimeout: 24 * time.Hour}
		if _, _, err := bd.db.PutOutcomeType(ctx, ot); err != nil {
			b.Fatal(err)
		}
	}
	return bd
}

// pool opens a pool of n connections to the benchmark's database.
func (bd *benchDB) pool(b *testing.B, n int) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(bd.url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(n)
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// store opens the store with a pool of n connections (0: the pool's default, what
// postgres.Open gives `outcomebill serve` unless the URL says pool_max_conns).
func (bd *benchDB) store(b *testing.B, n int) *postgres.DB {
	b.Helper()
	u, err := url.Parse(bd.url)
	if err != nil {
		b.Fatal(err)
	}
	if n > 0 {
		q := u.Query()
		q.Set("pool_max_conns", fmt.Sprint(n))
		u.RawQuery = q.Encode()
	}
	db, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	return db
}

// eventGen produces the events of realistic tasks, one task after the other: a start, one to
// four usage events across catalog models (one in eight a non-token cost), an outcome.
type eventGen struct {
	prefix string
	task   int
	queue  []billing.IncomingEvent
	now    time.Time
}

var benchSeq atomic.Int64

func newEventGen() *eventGen {
	return &eventGen{prefix: fmt.Sprintf("b%d-%d", time.Now().UnixNano(), benchSeq.Add(1)), now: time.Now()}
}

var benchModels = []string{"gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-5-mini", "claude-haiku-4-5"}

var benchOutcomes = []string{"succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "partial", "failed", "escalated"}

func (g *eventGen) next(b *testing.B) billing.IncomingEvent {
	if len(g.queue) == 0 {
		g.queue = g.taskEvents(b)
	}
	e := g.queue[0]
	g.queue = g.queue[1:]
	return e
}

func (g *eventGen) batch(b *testing.B, n int) []billing.IncomingEvent {
	out := make([]billing.IncomingEvent, n)
	for i := range out {
		out[i] = g.next(b)
	}
	return out
}

func (g *eventGen) taskEvents(b *testing.B) []billing.IncomingEvent {
	g.task++
	k := g.task
	task := fmt.Sprintf("%s-t%d", g.prefix, k)
	customer := benchCustomers[k%len(benchCustomers)]
	at := g.now.Add(-time.Hour).Add(time.Duration(k%3600) * time.Second)
	var evs []map[string]any
	add := func(typ string, d time.Duration, fields map[string]any) {
		e := map[string]any{"id": fmt.Sprintf("%s-%d", task, len(evs)), "type": typ, "customer_id": customer,
			"task_id": task, "occurred_at": at.Add(d).UTC().Format(time.RFC3339Nano)}
		for f, v := range fields {
			e[f] = v
		}
		evs = append(evs, e)
	}
	add("task.started", 0, map[string]any{"outcome_type": benchOutcomeTypes[k%len(benchOutcomeTypes)],
		"metadata": map[string]any{"ticket": fmt.Sprintf("T-%d", k), "channel": "email"}})
	for u := 0; u < 1+k%4; u++ {
		if (k+u)%8 == 0 {
			add("task.usage", time.Duration(u+1)*10*time.Second, map[string]any{"cost": "0.0042", "description": "web search"})
			continue
		}
		add("task.usage", time.Duration(u+1)*10*time.Second, map[string]any{"model": benchModels[(k+u)%len(benchModels)],
			"input_tokens": 1000 + 37*k%9000, "output_tokens": 200 + 13*k%800, "cached_input_tokens": 500})
	}
	add("task.outcome", time.Minute, map[string]any{"status": benchOutcomes[k%len(benchOutcomes)], "quality": 0.9,
		"evidence": "https://tickets.example.com/T-" + fmt.Sprint(k)})
	out := make([]billing.IncomingEvent, len(evs))
	for i, e := range evs {
		raw, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := billing.DecodeEvent(raw, g.now)
		if err != nil {
			b.Fatalf("decode %s: %v", raw, err)
		}
		out[i] = billing.IncomingEvent{Event: ev, Body: raw}
	}
	return out
}

// runClients calls op(i) for i in [0, b.N) from clients goroutines, each taking the next i,
// and reports events/s given events per op. An op that fails with a deadlock is retried, as a
// client would retry the 500 it gets, and counted (deadlocks/op). RunParallel would give GOMAXPROCS×p goroutines; an
// exact number of clients is what the goals are stated in.
func runClients(b *testing.B, clients, eventsPerOp int, op func(i int) error) {
	b.Helper()
	var (
		next      atomic.Int64
		deadlocks atomic.Int64
		wg        sync.WaitGroup
		once      sync.Once
		fail      error
	)
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				err := op(i)
				for attempt := 0; isDeadlock(err) && attempt < 5; attempt++ {
					deadlocks.Add(1)
					err = op(i) // what a client does with the 500 it gets
				}
				if err != nil {
					once.Do(func() { fail = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if fail != nil {
		b.Fatal(fail)
	}
	b.ReportMetric(float64(b.N*eventsPerOp)/b.Elapsed().Seconds(), "events/s")
	if n := deadlocks.Load(); n > 0 {
		b.ReportMetric(float64(n)/float64(b.N), "deadlocks/op")
	}
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected: the transaction was rolled
// back and may be retried.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

func checkAll(rs []billing.IngestResult, want string) error {
	for _, r := range rs {
		if r.Status != want {
			return fmt.Errorf("event %s: %s, want %s (%+v)", r.ID, r.Status, want, r.Err)
		}
	}
	return nil
}

// BenchmarkIngest measures IngestEvents on new events: batches of realistic tasks' events.
func BenchmarkIngest(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	for _, tc := range []struct {
		batch, clients, pool int
	}{
		{1, 1, 0}, {1, 8, 8}, {1, 8, 0}, {100, 1, 0}, {100, 8, 8}, {1000, 1, 0}, {1000, 8, 8},
	} {
		name := fmt.Sprintf("batch=%d/clients=%d", tc.batch, tc.clients)
		if tc.clients > 4 && tc.pool == 0 {
			name += "/pool=default"
		}
		b.Run(name, func(b *testing.B) {
			db := bd.store(b, tc.pool)
			gen := newEventGen()
			batches := make([][]billing.IncomingEvent, b.N)
			for i := range batches {
				batches[i] = gen.batch(b, tc.batch)
			}
			runClients(b, tc.clients, tc.batch, func(i int) error {
				rs, err := db.IngestEvents(context.Background(), batches[i])
				if err != nil {
					return err
				}
				return checkAll(rs, billing.IngestAccepted)
			})
		})
	}
}

// BenchmarkIngestDuplicates sends batches once (timed separately, reported as first-events/s),
// then measures sending the same batches again: every event a duplicate.
func BenchmarkIngestDuplicates(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	for _, tc := range []struct{ batch, clients int }{{1, 8}, {100, 1}, {100, 8}} {
		b.Run(fmt.Sprintf("batch=%d/clients=%d", tc.batch, tc.clients), func(b *testing.B) {
			db := bd.store(b, max(tc.clients, 4))
			gen := newEventGen()
			batches := make([][]billing.IncomingEvent, b.N)
			for i := range batches {
				batches[i] = gen.batch(b, tc.batch)
			}
			first := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			errs := make(chan error, tc.clients)
			for range tc.clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
						rs, err := db.IngestEvents(context.Background(), batches[i])
						for attempt := 0; isDeadlock(err) && attempt < 5; attempt++ {
							rs, err = db.IngestEvents(context.Background(), batches[i])
						}
						if err == nil {
							err = checkAll(rs, billing.IngestAccepted)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			firstRate := float64(b.N*tc.batch) / time.Since(first).Seconds()
			runClients(b, tc.clients, tc.batch, func(i int) error {
				rs, err := db.IngestEvents(context.Background(), batches[i])
				if err != nil {
					return err
				}
				return checkAll(rs, billing.IngestDuplicate)
			})
			b.ReportMetric(firstRate, "first-events/s")
		})
	}
}

// rawRows is a batch as the arrays the raw statements take: the columns of events.
type rawRows struct {
	ids, types, customers, tasks []string
	models                       []*string
	fps                          [][]byte
	bodies                       []string
	at                           []time.Time
	in, cin, cw, re, out         []*int64
	cost                         []decimal.NullDecimal
}

func toRaw(batch []billing.IncomingEvent) rawRows {
	n := len(batch)
	r := rawRows{ids: make([]string, n), types: make([]string, n), customers: make([]string, n), tasks: make([]string, n),
		models: make([]*string, n), fps: make([][]byte, n), bodies: make([]string, n), at: make([]time.Time, n),
		in: make([]*int64, n), cin: make([]*int64, n), cw: make([]*int64, n), re: make([]*int64, n), out: make([]*int64, n),
		cost: make([]decimal.NullDecimal, n)}
	for k, ie := range batch {
		e := ie.Event
		fp := e.Fingerprint
		r.ids[k], r.types[k], r.customers[k], r.tasks[k], r.at[k] = e.ID, string(e.Type), e.CustomerID, e.TaskID, e.OccurredAt
		r.fps[k], r.bodies[k] = fp[:], string(ie.Body)
		if e.Type != billing.EventUsage {
			continue
		}
		if e.Cost != nil {
			r.cost[k] = decimal.NullDecimal{Decimal: *e.Cost, Valid: true}
			continue
		}
		m, t := e.Model, e.Tokens
		r.models[k] = &m
		r.in[k], r.cin[k], r.cw[k], r.re[k], r.out[k] = &t.Input, &t.CachedInput, &t.CacheWrite, &t.Reasoning, &t.Output
		r.cost[k] = decimal.NullDecimal{Decimal: decimal.RequireFromString("0.0031"), Valid: true}
	}
	return r
}

// rawTables makes raw_events and raw_outbox: the columns, defaults and indexes of events and
// outbox, without the foreign keys. raw_events stays what events was before it was partitioned
// (migration 00013): one table keyed by id, which is as cheap as keeping ids unique can be. So
// the ratio to it says what event_keys and the partitions cost too.
func rawTables(b *testing.B, p *pgxpool.Pool) {
	b.Helper()
	if _, err := p.Exec(context.Background(), `
		CREATE TABLE IF NOT EXISTS raw_events (LIKE events INCLUDING DEFAULTS, PRIMARY KEY (id));
		CREATE INDEX IF NOT EXISTS raw_events_task ON raw_events (task_id, occurred_at);
		CREATE INDEX IF NOT EXISTS raw_events_unpriced ON raw_events (model, occurred_at)
			WHERE type = 'task.usage' AND cost_usd IS NULL;
		CREATE INDEX IF NOT EXISTS raw_events_customer_time ON raw_events (customer_id, occurred_at)
			WHERE type = 'task.usage';
		CREATE TABLE IF NOT EXISTS raw_outbox (LIKE outbox INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
}

const rawBatchInsert = `
	WITH ins AS (
		INSERT INTO raw_events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model,
			input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)
		SELECT id, fp, type, customer_id, task_id, occurred_at, $15, body, model, i, ci, cw, re, o, cost
		FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[],
			$8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::numeric[])
			AS t(id, fp, type, customer_id, task_id, occurred_at, body, model, i, ci, cw, re, o, cost)
		ON CONFLICT (id) DO NOTHING
		RETURNING id, task_id, customer_id, occurred_at
	)
	INSERT INTO raw_outbox (event_id, task_id, customer_id, occurred_at, created_at, available_at)
	SELECT id, task_id, customer_id, occurred_at, $15, $15 FROM ins`

const rawSingleInsert = `
	WITH ins AS (
		INSERT INTO raw_events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model,
			input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)
		VALUES ($1, $2, $3, $4, $5, $6, $15, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO NOTHING
		RETURNING id, task_id, customer_id, occurred_at
	)
	INSERT INTO raw_outbox (event_id, task_id, customer_id, occurred_at, created_at, available_at)
	SELECT id, task_id, customer_id, occurred_at, $15, $15 FROM ins`

// insert stores r with the yardstick's statement: the single-row one for one event, the batch one
// otherwise.
func (r rawRows) insert(p *pgxpool.Pool, now time.Time) error {
	var err error
	if len(r.ids) == 1 {
		_, err = p.Exec(context.Background(), rawSingleInsert, r.ids[0], r.fps[0], r.types[0], r.customers[0],
			r.tasks[0], r.at[0], r.bodies[0], r.models[0], r.in[0], r.cin[0], r.cw[0], r.re[0], r.out[0], r.cost[0], now)
	} else {
		_, err = p.Exec(context.Background(), rawBatchInsert, r.ids, r.fps, r.types, r.customers, r.tasks, r.at,
			r.bodies, r.models, r.in, r.cin, r.cw, r.re, r.out, r.cost, now)
	}
	return err
}

// BenchmarkRawInsertBatch100 is the yardstick for batched ingest: one autocommitted statement
// inserting 100 events-shaped rows (ON CONFLICT DO NOTHING) and an outbox row for each.
func BenchmarkRawInsertBatch100(b *testing.B) {
	benchRaw(b, 100)
}

// BenchmarkRawInsertSingle is the yardstick for single-event ingest: one autocommitted
// single-row insert with its outbox row, per event.
func BenchmarkRawInsertSingle(b *testing.B) {
	benchRaw(b, 1)
}

func benchRaw(b *testing.B, size int) {
	bd := newBenchDB(b, benchServer(b))
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			p := bd.pool(b, clients)
			rawTables(b, p)
			gen := newEventGen()
			batches := make([]rawRows, b.N)
			for i := range batches {
				batches[i] = toRaw(gen.batch(b, size))
			}
			now := time.Now()
			runClients(b, clients, size, func(i int) error {
				return batches[i].insert(p, now)
			})
		})
	}
}

// BenchmarkIngestVsRaw measures ingest and its yardstick side by side: short phases of raw
// inserts and of IngestEvents alternate on the same server (raw first in odd rounds, ingest first
// in even ones), so that whatever else loads the machine weighs on both alike, and reports both
// rates and their ratio — the figure the goals are stated in. Each op's events are new; b.N is
// the number of rounds (-benchtime=6x is a sound choice; each round is two phases of
// BENCH_PHASE, 500ms by default).
func BenchmarkIngestVsRaw(b *testing.B) {
	phase := 500 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("BENCH_PHASE")); err == nil && d > 0 {
		phase = d
	}
	bd := newBenchDB(b, benchServer(b))
	for _, tc := range []struct{ batch, clients int }{{1, 8}, {100, 1}, {100, 8}, {1000, 1}} {
		b.Run(fmt.Sprintf("batch=%d/clients=%d", tc.batch, tc.clients), func(b *testing.B) {
			db := bd.store(b, tc.clients)
			p := bd.pool(b, tc.clients)
			rawTables(b, p)

			gen := newEventGen()
			var genMu sync.Mutex // the generator is not safe for concurrent use
			next := func() []billing.IncomingEvent {
				genMu.Lock()
				defer genMu.Unlock()
				return gen.batch(b, tc.batch)
			}
			now := time.Now()
			raw := func() error {
				return toRaw(next()).insert(p, now)
			}
			ingest := func() error {
				rs, err := db.IngestEvents(context.Background(), next())
				if err != nil {
					return err
				}
				return checkAll(rs, billing.IngestAccepted)
			}
			// A short unmeasured phase of each first: connections, prepared statements, plans and
			// the triggers' functions are made once per connection, not per round.
			for _, op := range []func() error{raw, ingest} {
				if _, _, err := runPhase(tc.clients, phase/5, op); err != nil {
					b.Fatal(err)
				}
			}
			var rawEvents, ingEvents int
			var rawTime, ingTime time.Duration
			b.ResetTimer()
			for round := range b.N {
				sides := []bool{true, false}
				if round%2 == 1 {
					sides = []bool{false, true}
				}
				for _, isRaw := range sides {
					op := ingest
					if isRaw {
						op = raw
					}
					n, d, err := runPhase(tc.clients, phase, op)
					if err != nil {
						b.Fatal(err)
					}
					if isRaw {
						rawEvents, rawTime = rawEvents+n*tc.batch, rawTime+d
					} else {
						ingEvents, ingTime = ingEvents+n*tc.batch, ingTime+d
					}
				}
			}
			b.StopTimer()
			rawRate, ingRate := float64(rawEvents)/rawTime.Seconds(), float64(ingEvents)/ingTime.Seconds()
			b.ReportMetric(rawRate, "raw-events/s")
			b.ReportMetric(ingRate, "events/s")
			b.ReportMetric(ingRate/rawRate, "ratio")

		})
	}
}

// runPhase runs op from clients goroutines until d has passed and returns how many ops completed
// and how long they took.
func runPhase(clients int, d time.Duration, op func() error) (int, time.Duration, error) {
	var (
		done atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		fail error
	)
	start := time.Now()
	stop := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := op(); err != nil {
					once.Do(func() { fail = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), time.Since(start), fail
}
