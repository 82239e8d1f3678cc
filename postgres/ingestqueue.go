package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/outcomebill/outcomebill/billing"
)

// Batches smaller than coalesceBelow events are coalesced with other small batches sent at the
// same time; a statement carries at most coalesceMax events.
const (
	coalesceBelow = 100
	coalesceMax   = 1000
)

// flushTimeout bounds a coalesced statement, which runs for several callers and so under none
// of their contexts.
const flushTimeout = time.Minute

// ingestQueue is group commit for small batches. Each call of IngestEvents with a few events
// would otherwise be a statement and a commit of its own, and a statement of the ingest kind
// costs far more to start than to run for one more event: single events from 8 clients went in
// at 0.2–0.4 of the rate of a bare single-row insert (docs/BENCHMARKS.md, issue 4).
//
// Calls wait in a queue; at most flushers statements run at once, each taking every waiting
// call (up to coalesceMax events) as one batch. A call that finds a flusher slot free starts one
// at once, so an idle system adds no delay, and under load the batches grow with the load.
// Results go back to each caller after the commit of the statement that held its events, so an
// accepted event is as durable as ever. A call sharing an event id with calls already taken
// waits for the next statement: in-batch repeats keep their meaning (the same caller sent the id
// twice), and two callers racing with one id get what they would one after the other.
//
// The zero value is ready to use.
type ingestQueue struct {
	mu       sync.Mutex
	pending  []*ingestCall
	flushers int
}

type ingestCall struct {
	batch   []billing.IncomingEvent
	results []billing.IngestResult
	err     error
	done    chan struct{}
}

// flushers is how many coalesced statements run at once. One makes the batches largest: with 8
// single-event clients, one flusher took about 4 calls a statement and reached 0.69 of the raw
// single-row rate, two took 2.6 and reached 0.52, three 1.9 and 0.42 (BenchmarkIngestVsRaw, run
// side by side). Throughput does not stop at one statement at a time: the batches grow with the
// load, up to coalesceMax events.
const flushers = 1

// ingest queues batch and waits for its results. The caller's ctx bounds the wait only: once
// taken, its events are stored whether or not it still waits, as they would be had the client
// gone away during a statement of its own.
func (q *ingestQueue) ingest(ctx context.Context, db *DB, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	call := &ingestCall{batch: batch, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, call)
	start := q.flushers < flushers
	if start {
		q.flushers++
	}
	q.mu.Unlock()
	if start {
		go q.flush(db)
	}
	select {
	case <-call.done:
		return call.results, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flush stores waiting calls, a statement at a time, until none is left.
func (q *ingestQueue) flush(db *DB) {
	for {
		calls := q.take()
		if len(calls) == 0 {
			return
		}
		var batch []billing.IncomingEvent
		for _, c := range calls {
			batch = append(batch, c.batch...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		results, err := db.ingestBatch(ctx, batch)
		cancel()
		for _, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.results, results = results[:len(c.batch):len(c.batch)], results[len(c.batch):]
			}
			close(c.done)
		}
	}
}

// take removes from the queue the calls of the next statement: waiting calls in arrival order up
// to coalesceMax events, stopping at the first that shares an event id with those taken. When it
// returns none, the flusher has ended.
func (q *ingestQueue) take() []*ingestCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	var (
		taken  []*ingestCall
		events int
		ids    map[string]bool
	)
	for _, c := range q.pending {
		if len(taken) > 0 && events+len(c.batch) > coalesceMax {
			break
		}
		if len(taken) > 0 && ids == nil {
			ids = make(map[string]bool, coalesceMax)
			for _, e := range taken[0].batch {
				ids[e.Event.ID] = true
			}
		}
		if ids != nil {
			clash := false
			for _, e := range c.batch {
				if ids[e.Event.ID] {
					clash = true
					break
				}
			}
			if clash {
				break
			}
			for _, e := range c.batch {
				ids[e.Event.ID] = true
			}
		}
		taken = append(taken, c)
		events += len(c.batch)
	}
	q.pending = q.pending[len(taken):]
	if len(taken) == 0 {
		q.flushers--
	}
	return taken
}
