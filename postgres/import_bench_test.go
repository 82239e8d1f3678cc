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

	"github.com/outcomebill/outcomebill/billing"
)

// Bulk import against its yardstick, on the same durable server as the ingest benchmarks:
//
//	go test -run='^$' -bench='^Benchmark(RawCopyThenUpsert|Import)$' -benchtime=4x -count=3 ./postgres
//
// One op of the yardstick is one chunk of importChunkEvents events of realistic tasks; one op of
// BenchmarkImport is a file of importFileEvents, which the import cuts into chunks of the
// default size (50,000) and stores on its default number of connections. Both report events/s.
const (
	importChunkEvents = 50_000
	importFileEvents  = 200_000
)

// BenchmarkRawCopyThenUpsert is the yardstick for bulk import: in one transaction, COPY a chunk of
// events-shaped rows into a temporary table, then one INSERT … SELECT … ON CONFLICT (id) DO
// NOTHING into a table with the columns, defaults and indexes of events (no foreign keys, no
// triggers) with an outbox row for every event; synchronous_commit on. Nothing moves a chunk of
// events into this PostgreSQL faster.
func BenchmarkRawCopyThenUpsert(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	p := bd.pool(b, 1)
	rawTables(b, p)
	ctx := context.Background()
	conn, err := p.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE raw_stage (id text, fingerprint bytea, type text, customer_id text,
		task_id text, occurred_at timestamptz, body jsonb, model text, input_tokens bigint, cached_input_tokens bigint,
		cache_write_tokens bigint, reasoning_tokens bigint, output_tokens bigint, cost_usd numeric)`); err != nil {
		b.Fatal(err)
	}
	cols := []string{"id", "fingerprint", "type", "customer_id", "task_id", "occurred_at", "body", "model",
		"input_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "output_tokens", "cost_usd"}
	gen := newEventGen()
	chunks := make([]rawRows, b.N)
	for i := range chunks {
		chunks[i] = toRaw(gen.batch(b, importChunkEvents))
	}
	now := time.Now()
	runClients(b, 1, importChunkEvents, func(i int) error {
		r := chunks[i]
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `TRUNCATE raw_stage`); err != nil {
				return err
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_stage"}, cols, pgx.CopyFromSlice(len(r.ids), func(k int) ([]any, error) {
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
	})
}

// BenchmarkImport measures postgres.DB.ImportEvents on NDJSON files of new events, one chunk
// each: reading, validating (DecodeEvent), look-ups, task claim, COPY and the move into tasks,
// events and outbox, and the commit. dup re-imports files already imported: every line a
// duplicate.
//
// OUTCOMEBILL_BENCH_IMPORT_CHUNK and OUTCOMEBILL_BENCH_IMPORT_WRITERS override the import's chunk
// size and number of connections, for experiments.
func BenchmarkImport(b *testing.B) {
	bd := newBenchDB(b, benchServer(b))
	var opt billing.ImportOptions
	opt.ChunkSize, _ = strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_IMPORT_CHUNK"))
	opt.Writers, _ = strconv.Atoi(os.Getenv("OUTCOMEBILL_BENCH_IMPORT_WRITERS"))
	for _, dup := range []bool{false, true} {
		b.Run(fmt.Sprintf("dup=%v", dup), func(b *testing.B) {
			db := bd.store(b, 8)
			gen := newEventGen()
			files := make([][]byte, b.N)
			for i := range files {
				var buf bytes.Buffer
				for _, e := range gen.batch(b, importFileEvents) {
					buf.Write(e.Body)
					buf.WriteByte('\n')
				}
				files[i] = buf.Bytes()
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
