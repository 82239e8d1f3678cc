package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outcomebill/outcomebill/billing"
)

// BenchmarkInvoiceScale rates and drafts one customer's month of 100,000 and of 1,000,000
// billable tasks on the durable server of the ingest benchmarks (see benchServer), the invoice
// run's work at those sizes, and measures what bounds it:
//
//	go test -run='^$' -bench='^BenchmarkInvoiceScale$' -benchtime=1x -timeout 30m ./postgres
//
// For each size, in a database of its own seeded in SQL (seedRatingFixture):
//   - read: the yardstick, the period's billable task rows (outcome type, outcome, priority)
//     streamed to the client in one read-only snapshot and decoded: rows/s;
//   - rate: RatePeriod, the rating the draft does, read-only: outcomes/s;
//   - draft: BuildDraft, the invoice run's one call (rate, record every billed task in
//     invoice_tasks, write the lines, commit): outcomes/s. Each iteration builds the draft anew
//     (the previous one is deleted with the timer stopped).
//
// Every one also reports peak-heap-MB, the most the Go heap grew above its size before the step
// (sampled every millisecond through runtime/metrics, so without stopping the world), which must
// not grow with the task count: rating counts in SQL and copies the billed tasks inside the
// database. OUTCOMEBILL_BENCH_RATING_TASKS lists other sizes (scripts/bench --short: 1000,10000).
func BenchmarkInvoiceScale(b *testing.B) {
	sizes := []int{100_000, 1_000_000}
	if v := os.Getenv("OUTCOMEBILL_BENCH_RATING_TASKS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("OUTCOMEBILL_BENCH_RATING_TASKS=%q: not a list of task counts", v)
			}
			sizes = append(sizes, n)
		}
	}
	admin := benchServer(b)
	ctx := context.Background()
	for _, tasks := range sizes {
		b.Run(fmt.Sprintf("tasks=%d", tasks), func(b *testing.B) {
			bd := newBenchDB(b, admin)
			db := bd.db
			start := time.Now()
			seedRatingFixture(b, db, "scale", tasks)
			if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "scale", PlanID: "outcomes", StartsAt: jan1}); err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d tasks in %s", tasks, time.Since(start).Round(time.Millisecond))

			b.Run("read", func(b *testing.B) {
				peak := startHeapPeak()
				for b.Loop() {
					n, err := readPeriodRows(ctx, db.Pool, "scale")
					if err != nil {
						b.Fatal(err)
					}
					if n != tasks {
						b.Fatalf("read %d rows, want %d", n, tasks)
					}
				}
				peak.report(b)
				b.ReportMetric(float64(tasks)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
			b.Run("rate", func(b *testing.B) {
				b.ReportAllocs()
				peak := startHeapPeak()
				for b.Loop() {
					res, info, err := db.RatePeriod(ctx, "scale", jan1, feb1)
					if err != nil {
						b.Fatal(err)
					}
					if info.Tasks != int64(tasks) || !res.Total.IsPositive() {
						b.Fatalf("rated %d tasks, total %s", info.Tasks, res.Total)
					}
				}
				peak.report(b)
				b.ReportMetric(float64(tasks)*float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
			})
			b.Run("draft", func(b *testing.B) {
				b.ReportAllocs()
				peak := startHeapPeak()
				for b.Loop() {
					b.StopTimer()
					// A draft deleted whole cascades to its lines and billed tasks.
					if _, err := db.Pool.Exec(ctx, `DELETE FROM invoices WHERE customer_id = 'scale'`); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					inv, err := db.BuildDraft(ctx, "scale", jan1, feb1)
					if err != nil {
						b.Fatal(err)
					}
					if inv.Value.Outcomes != int64(tasks) || !inv.Total.IsPositive() {
						b.Fatalf("draft of %d outcomes, total %s", inv.Value.Outcomes, inv.Total)
					}
				}
				peak.report(b)
				b.ReportMetric(float64(tasks)*float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
			})
		})
	}
}

// readPeriodRows reads the customer's billable tasks of January 2026 as a rater that counted in
// Go would: every row to the client, decoded.
func readPeriodRows(ctx context.Context, pool *pgxpool.Pool, customer string) (n int, err error) {
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT COALESCE(outcome_type, ''), COALESCE(outcome, ''), priority FROM tasks
			WHERE customer_id = $1 AND status = 'billable' AND status_at >= $2 AND status_at < $3`, customer, jan1, feb1)
		if err != nil {
			return err
		}
		var outcomeType, outcome, priority string
		_, err = pgx.ForEachRow(rows, []any{&outcomeType, &outcome, &priority}, func() error {
			n++
			return nil
		})
		return err
	})
	return n, err
}

// heapPeak follows the Go heap in the background from startHeapPeak until report.
type heapPeak struct {
	base uint64
	stop chan struct{}
	peak chan uint64
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// startHeapPeak collects garbage, notes the heap's size and samples it every millisecond. The heap
// only shrinks when a collection sweeps, so a peak between two samples is missed only if a
// collection ran between them too.
func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: heapBytes(), stop: make(chan struct{}), peak: make(chan uint64, 1)}
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		top := h.base
		for {
			select {
			case <-h.stop:
				h.peak <- max(top, heapBytes())
				return
			case <-t.C:
				top = max(top, heapBytes())
			}
		}
	}()
	return h
}

// report stops sampling and reports the peak's growth above the starting heap, in MB.
func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	top := <-h.peak
	b.ReportMetric(float64(top-min(top, h.base))/1e6, "peak-heap-MB")
}
