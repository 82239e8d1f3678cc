package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outcomebill/outcomebill/billing"
)

// Bulk import against its yardstick, on the same durable server as the ingest benchmarks:
//
//	go test -run='^$' -bench='^BenchmarkImportVsRaw$' -benchtime=3x -count=3 ./postgres
//
// A file is importFileEvents events of realistic tasks; the yardstick stores the same number of
// events in chunks of importChunkEvents, the import's default chunk size.
const (
	importChunkEvents = 50_000
	importFileEvents  = 200_000
)

// rawCopyColumns are the columns the yardstick copies into its staging table.
var rawCopyColumns = []string{"id", "fingerprint", "type", "customer_id", "task_id", "occurred_at", "body", "model",
	"input_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "output_tokens", "cost_usd"}

// rawCopyThenUpsert is the yardstick for bulk import: in one transaction, COPY a chunk of
// events-shaped rows into a temporary table, then one INSERT … SELECT … ON CONFLICT (id) DO
// NOTHING into a table with the columns, defaults and indexes of events (no foreign keys, no
// triggers) with an outbox row for every event; synchronous_commit on. Nothing moves a chunk of
// events into this PostgreSQL faster. conn must have rawTables and raw_stage (rawStage).
func rawCopyThenUpsert(ctx context.Context, conn *pgxpool.Conn, r rawRows, now time.Time) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `TRUNCATE raw_stage`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_stage"}, rawCopyColumns, pgx.CopyFromSlice(len(r.ids), func(k int) ([]any, error) {
			return []any{r.ids[k], r.fps[k], r.types[k], r.customers[k], r.tasks[k], r.at[k], []byte(r.bodies[k]),
				r.models[k], r.in[k], r.cin[k], r.cw[k], r.re[k], r.out[k], r.cost[k]}, nil
		}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			WITH ins AS (
				INSERT INTO raw_events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model,
					input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)
				SELECT id, fingerprint, type, customer_id, task_id, occurred_at, $1, body, model,
					input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd
				FROM raw_stage
				ON CONFLICT (id) DO NOTHING
				RETURNING id, task_id, customer_id, occurred_at
			)
			INSERT INTO raw_outbox (event_id, task_id, customer_id, occurred_at, created_at, available_at)
			SELECT id, task_id, customer_id, occurred_at, $1, $1 FROM ins`, now)
		return err
	})
}

// rawStage creates the yardstick's staging table on conn.
func rawStage(b *testing.B, conn *pgxpool.Conn) {
	b.Helper()
	if _, err := conn.Exec(context.Background(), `CREATE TEMP TABLE raw_stage (id text, fingerprint bytea, type text,
		customer_id text, task_id text, occurred_at timestamptz, body jsonb, model text, input_tokens bigint,
		cached_input_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint, output_tokens bigint, cost_usd numeric)`); err != nil {
		b.Fatal(err)
	}
}

// benchImportOptions are the import's defaults, but for OUTCOMEBILL_BENCH_IMPORT_CHUNK and
// OUTCOMEBILL_BENCH_IMPORT_WRITERS, which override its chunk size and number of connections for
// experiments.
func benchImportOptions() billing.ImportOptions {
	var opt billing.ImportOptions
	opt.ChunkSize, _ = strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_IMPORT_CHUNK"))
	opt.Writers, _ = strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_IMPORT_WRITERS"))
	return opt
}

// ndjson is events as an import file.
func ndjson(events []billing.IncomingEvent) []byte {
	var buf bytes.Buffer
	for _, e := range events {
		buf.Write(e.Body)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkImportVsRaw measures bulk import and its yardstick side by side, as
// BenchmarkIngestVsRaw does for ingest: each round stores a file's worth of new events both ways
// (the yardstick first in odd rounds, the import first in even ones), then imports the round's
// file again (every line a duplicate), so that whatever else loads the machine weighs on all
// alike. b.N is the number of rounds; each takes about 20 s on 2 cores. Reports the events/s of
// each and the ratios.
func BenchmarkImportVsRaw(b *testing.B) {
	ctx := context.Background()
	bd := newBenchDB(b, benchServer(b))
	db := bd.store(b, 8)
	p := bd.pool(b, 1)
	rawTables(b, p)
	conn, err := p.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	rawStage(b, conn)

	gen := newEventGen()
	now := time.Now()
	raw := func(n int) (time.Duration, error) {
		events := gen.batch(b, n)
		start := time.Now()
		for k := 0; k < n; k += importChunkEvents {
			if err := rawCopyThenUpsert(ctx, conn, toRaw(events[k:min(k+importChunkEvents, n)]), now); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	opt := benchImportOptions()
	imp := func(file []byte, want billing.ImportResult) (time.Duration, error) {
		start := time.Now()
		res, err := db.ImportEvents(ctx, bytes.NewReader(file), opt)
		if err != nil {
			return 0, err
		}
		if res.Accepted != want.Accepted || res.Duplicate != want.Duplicate || res.Rejected != 0 {
			return 0, fmt.Errorf("import: %+v, want %+v", res, want)
		}
		return time.Since(start), nil
	}
	// Unmeasured first: connections, plans and the triggers' functions are made once.
	if _, err := raw(importChunkEvents / 10); err != nil {
		b.Fatal(err)
	}
	warm := ndjson(gen.batch(b, importChunkEvents/10))
	if _, err := imp(warm, billing.ImportResult{Accepted: importChunkEvents / 10}); err != nil {
		b.Fatal(err)
	}

	var rawTime, impTime, dupTime time.Duration
	b.ResetTimer()
	for round := range b.N {
		file := ndjson(gen.batch(b, importFileEvents))
		for _, isRaw := range []bool{round%2 == 0, round%2 == 1} {
			var d time.Duration
			var err error
			if isRaw {
				d, err = raw(importFileEvents)
				rawTime += d
			} else {
				d, err = imp(file, billing.ImportResult{Accepted: importFileEvents})
				impTime += d
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		d, err := imp(file, billing.ImportResult{Duplicate: importFileEvents})
		if err != nil {
			b.Fatal(err)
		}
		dupTime += d
		b.Logf("round %d: raw %v, import %v, re-import %v (totals)", round, rawTime, impTime, dupTime)
	}
	b.StopTimer()
	events := float64(b.N * importFileEvents)
	rawRate, impRate, dupRate := events/rawTime.Seconds(), events/impTime.Seconds(), events/dupTime.Seconds()
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(impRate, "events/s")
	b.ReportMetric(dupRate, "dup-events/s")
	b.ReportMetric(impRate/rawRate, "ratio")
}

// BenchmarkImport measures postgres.DB.ImportEvents alone, on NDJSON files of new events (dup:
// files already imported, every line a duplicate), for profiling and experiments; the figure with
// a goal comes from BenchmarkImportVsRaw.
func BenchmarkImport(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	opt := benchImportOptions()
	for _, dup := range []bool{false, true} {
		b.Run(fmt.Sprintf("dup=%v", dup), func(b *testing.B) {
			db := bd.store(b, 8)
			gen := newEventGen()
			files := make([][]byte, b.N)
			for i := range files {
				files[i] = ndjson(gen.batch(b, importFileEvents))
			}
			want := billing.ImportResult{Lines: importFileEvents, Accepted: importFileEvents}
			if dup {
				for _, f := range files {
					if _, err := db.ImportEvents(context.Background(), bytes.NewReader(f), opt); err != nil {
						b.Fatal(err)
					}
				}
				want = billing.ImportResult{Lines: importFileEvents, Duplicate: importFileEvents}
			}
			runClients(b, 1, importFileEvents, func(i int) error {
				res, err := db.ImportEvents(context.Background(), bytes.NewReader(files[i]), opt)
				if err != nil {
					return err
				}
				if res.Accepted != want.Accepted || res.Duplicate != want.Duplicate || res.Rejected != 0 {
					return fmt.Errorf("import: %+v, want %+v", res, want)
				}
				return nil
			})
		})
	}
}
