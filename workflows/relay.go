package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"

	"github.com/outcomebill/outcomebill/billing"
)

// OutboxStore is the outbox as the relay sees it. The API writes one row per accepted event in
// the transaction that stores the event, so an event is never acknowledged without a row.
type OutboxStore interface {
	// ClaimOutbox returns up to limit undelivered rows whose retry time has come, oldest (lowest
	// id) first, and hides them from other claims for lease (it sets their retry time to now +
	// lease and increments their attempts). Several relays may claim at once: the implementation
	// must lock with FOR UPDATE SKIP LOCKED so that no row goes to two of them within a lease. A
	// relay that dies mid-batch leaves its rows to be claimed again when the lease runs out.
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]billing.OutboxItem, error)
	// MarkDelivered marks rows delivered (or deletes them); they are never claimed again.
	// Unknown or already delivered ids are not an error.
	MarkDelivered(ctx context.Context, ids []int64) error
	// Release makes claimed rows claimable again from retryAt on and records the error.
	Release(ctx context.Context, ids []int64, retryAt time.Time, lastErr string) error
	// OutboxLag returns how long the oldest undelivered row has been waiting (by the database's
	// clock), 0 when there is none.
	OutboxLag(ctx context.Context) (time.Duration, error)
}

// Signaler is the one Temporal call the relay makes; client.Client satisfies it.
type Signaler interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
}

// Relay moves events from the outbox to their task workflows. It runs in the worker process
// next to the worker: a loop, not a workflow, since its job is to reach Temporal when Temporal
// may be down. Delivery is at least once; the workflow ignores event ids it has seen.
type Relay struct {
	Temporal Signaler
	Store    OutboxStore
	Logger   *slog.Logger     // nil: slog.Default()
	Lag      prometheus.Gauge // optional: seconds the oldest undelivered event has waited
	// Delivered counts delivered events and Errors failures by stage (claim, signal, mark); both
	// optional (NewRelayMetrics makes all three).
	Delivered prometheus.Counter
	Errors    *prometheus.CounterVec
	// Tracer traces each pass that found events, with a span per signal whose context the
	// Temporal client's tracing interceptor carries into the task workflow; nil: no spans.
	Tracer trace.Tracer
	// TaskQueue of the workflows the relay starts; default TaskQueue.
	TaskQueue string

	BatchSize    int           // rows claimed at a time; default 500
	Concurrency  int           // signals in flight at once; default 4
	PollInterval time.Duration // wait when the outbox was empty or short; default 100 ms
	Lease        time.Duration // how long a claim hides rows; default 30 s
	MinBackoff   time.Duration // first retry delay after a failure; default 100 ms
	MaxBackoff   time.Duration // longest retry delay; default 30 s
	Now          func() time.Time

	lagAt time.Time
}

func (r *Relay) defaults() {
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.TaskQueue == "" {
		r.TaskQueue = TaskQueue
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 500
	}
	if r.Concurrency <= 0 {
		r.Concurrency = 4
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 100 * time.Millisecond
	}
	if r.Lease <= 0 {
		r.Lease = 30 * time.Second
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff < r.MinBackoff {
		r.MaxBackoff = max(30*time.Second, r.MinBackoff)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Tracer == nil {
		r.Tracer = noop.Tracer{}
	}
}

func (r *Relay) countError(stage string) {
	if r.Errors != nil {
		r.Errors.WithLabelValues(stage).Inc()
	}
}

// signalTimeout bounds one signal-with-start so that a hung connection does not hold a batch;
// storeTimeout bounds the writes made after a batch, which do not stop with the relay's context.
const (
	signalTimeout = 10 * time.Second
	storeTimeout  = 10 * time.Second
)

// Run delivers until ctx is cancelled, then returns nil. It polls every PollInterval while the
// outbox is short, claims again at once after a full batch, and backs off exponentially (capped
// at MaxBackoff) while deliveries fail, e.g. while Temporal is down: events keep being accepted
// and wait in the outbox meanwhile.
func (r *Relay) Run(ctx context.Context) error {
	r.defaults()
	failures := 0
	for {
		n, delivered, err := r.Deliver(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.recordLag(ctx)
		if err != nil {
			r.Logger.Warn("outbox relay: delivery failed", "err", err, "claimed", n, "delivered", delivered)
		}
		wait := r.PollInterval
		switch {
		case err != nil && delivered == 0:
			// Nothing got through: Temporal or the database is down. Rows that failed wait for
			// their own retry time; the loop slows down too instead of spinning on claims.
			failures++
			wait = r.backoff(failures)
		case n >= r.BatchSize:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// Deliver makes one pass: it claims a batch, sends each task's events in one signal-with-start
// (a few tasks at a time), marks what was delivered and releases the rest for a later retry.
// It returns how many rows it claimed and delivered, and an error if anything failed.
func (r *Relay) Deliver(ctx context.Context) (claimed, delivered int, err error) {
	r.defaults()
	items, err := r.Store.ClaimOutbox(ctx, r.BatchSize, r.Lease)
	if err != nil {
		r.countError("claim")
		return 0, 0, fmt.Errorf("claim outbox: %w", err)
	}
	if len(items) == 0 {
		return 0, 0, nil
	}
	batches := coalesce(items)
	// A span only for passes that found events: idle polls, ten a second, are not worth a trace.
	ctx, span := r.Tracer.Start(ctx, "outbox.deliver", trace.WithAttributes(
		attribute.Int("outbox.claimed", len(items)), attribute.Int("outbox.tasks", len(batches))))
	defer func() {
		span.SetAttributes(attribute.Int("outbox.delivered", delivered))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	var (
		mu   sync.Mutex
		done []int64
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, r.Concurrency)
	)
	for _, b := range batches {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := r.signal(ctx, b)
			if err == nil {
				mu.Lock()
				done = append(done, b.ids...)
				mu.Unlock()
				return
			}
			r.countError("signal")
			err = fmt.Errorf("signal task %s: %w", b.taskID, err)
			retryAt := r.Now().Add(r.backoff(b.attempts))
			// A failed release only delays the retry until the lease runs out.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
			defer cancel()
			if rerr := r.Store.Release(rctx, b.ids, retryAt, err.Error()); rerr != nil {
				r.Logger.Error("outbox relay: release", "err", rerr, "task_id", b.taskID)
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(done) > 0 {
		// Not cancelled with ctx: the signals went out, so record that even when stopping.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := r.Store.MarkDelivered(mctx, done); err != nil {
			r.countError("mark")
			// The rows come back after the lease and are signalled twice; the workflow dedups.
			return len(items), 0, errors.Join(append(errs, fmt.Errorf("mark delivered: %w", err))...)
		}
		if r.Delivered != nil {
			r.Delivered.Add(float64(len(done)))
		}
	}
	return len(items), len(done), errors.Join(errs...)
}

// taskBatch is the events of one task in a claimed batch.
type taskBatch struct {
	taskID   string
	ids      []int64
	events   []billing.TaskEvent
	attempts int // the most of any row
}

// maxSignalEvents caps one signal's events so that its payload stays far below Temporal's 2 MB
// limit even with every free-text field full (about 3 kB an event); a task with more events in
// one batch gets several signals.
const maxSignalEvents = 200

// coalesce groups items by task, in order of each task's first row.
func coalesce(items []billing.OutboxItem) []*taskBatch {
	var out []*taskBatch
	byTask := make(map[string]*taskBatch)
	for _, it := range items {
		b := byTask[it.Event.TaskID]
		if b == nil || len(b.events) == maxSignalEvents {
			b = &taskBatch{taskID: it.Event.TaskID}
			byTask[b.taskID] = b
			out = append(out, b)
		}
		b.ids = append(b.ids, it.ID)
		b.events = append(b.events, it.Event)
		b.attempts = max(b.attempts, it.Attempts)
	}
	return out
}

func (r *Relay) signal(ctx context.Context, b *taskBatch) error {
	ctx, span := r.Tracer.Start(ctx, "outbox.signal", trace.WithAttributes(
		attribute.String("outcomebill.task_id", b.taskID), attribute.Int("outbox.events", len(b.events))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, signalTimeout)
	defer cancel()
	id := TaskWorkflowID(b.taskID)
	_, err := r.Temporal.SignalWithStartWorkflow(ctx, id, TaskEventsSignal, TaskSignal{Events: b.events},
		client.StartWorkflowOptions{ID: id, TaskQueue: r.TaskQueue}, TaskWorkflowName, TaskInput{TaskID: b.taskID})
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// backoff is MinBackoff doubled per earlier attempt, capped at MaxBackoff, with up to 20% jitter
// taken off so that relays retrying together drift apart.
func (r *Relay) backoff(attempt int) time.Duration {
	d := r.MinBackoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// recordLag sets the lag gauge, at most once a second.
func (r *Relay) recordLag(ctx context.Context) {
	if r.Lag == nil || r.Now().Sub(r.lagAt) < time.Second {
		return
	}
	r.lagAt = r.Now()
	lag, err := r.Store.OutboxLag(ctx)
	if err != nil {
		r.Logger.Warn("outbox relay: lag", "err", err)
		return
	}
	r.Lag.Set(lag.Seconds())
}
