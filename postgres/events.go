package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
)

// IngestEvents stores a batch of validated events with their outbox rows and returns one result
// per event, in input order. Events whose id is already stored are duplicates when their body is
// the same and conflicts otherwise; events naming an unknown customer or outcome type, or a task
// that belongs to another customer, are rejected. Nothing of a rejected event is written.
//
// A batch is one autocommitted statement (ingestStatement): the look-ups, the task claim, the
// costing of usage, the inserts and the verdict on every event happen in SQL, so a batch costs
// one round trip whatever its size — as many as the raw insert it is measured against. Should a
// concurrent batch create one of its tasks or events while it runs, those events are settled by
// running the statement again for them alone (see settleEvents).
//
// Small batches sent at the same time by several clients are stored together (see ingestQueue):
// each caller still gets its own results, once the statement holding its events has committed.
func (db *DB) IngestEvents(ctx context.Context, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	if len(batch) < coalesceBelow {
		return db.ingestQ.ingest(ctx, db, batch)
	}
	return db.ingestBatch(ctx, batch)
}

// ingestBatch stores batch with the ingest statement, running it again for events that a
// deadlock left unsettled.
func (db *DB) ingestBatch(ctx context.Context, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	results, candidates := newResults(batch)
	for attempt := 1; ; attempt++ {
		err := settleEvents(batch, results, candidates, func(rows []int, read func(pgx.Rows) error) error {
			return db.runIngest(ctx, ingestArgs(batch, rows, db.Now().UTC()), read)
		})
		// Rows are locked in a fixed order (task keys by id, then event keys by id), so deadlocks
		// should not happen; should one anyway, the events not yet settled are simply tried again.
		if err == nil || attempt == 3 || !retryable(err) {
			if err != nil {
				return nil, fmt.Errorf("ingest %d events: %w", len(batch), err)
			}
			return results, nil
		}
		candidates = unsettled(results, candidates)
	}
}

// ingestPlanSQL sets, for the rest of the transaction, how the ingest statement is planned, by
// IngestEvents and imports alike (runIngest says why).
const ingestPlanSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

// runIngest runs the ingest statement in a transaction of its own, sent as one pipeline: one
// round trip. The statement is planned once per connection (plan_cache_mode): left to itself,
// PostgreSQL keeps planning it anew for small batches, because a plan made for the actual array
// lengths looks cheaper than the generic one, and planning a statement this size took longer
// than running it for a single event (BENCHMARKS.md, issue 4). The generic plan is the same
// index probes whatever the batch size — made without sequential scans, since a connection keeps
// it: planned while the tables were nearly empty (a new database), it scanned event_keys and
// tasks whole for every event instead, until statistics caught up
// (TestStorePathsProbeIndexesWhateverTheStatisticsWhenPlanned).
func (db *DB) runIngest(ctx context.Context, args []any, read func(pgx.Rows) error) (err error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(ingestPlanSQL)
	b.Queue(ingestArraysSQL, args...).Query(read)
	b.Queue(`COMMIT`)
	return db.Pool.SendBatch(ctx, b).Close()
}

// newResults starts the results of a batch: every event accepted until found otherwise, a
// repeated id resolved against its first occurrence in the batch. It returns the indexes of the
// events left for the database to judge (the first occurrence of each id).
func newResults(batch []billing.IncomingEvent) ([]billing.IngestResult, []int) {
	results := make([]billing.IngestResult, len(batch))
	first := make(map[string]int, len(batch))
	candidates := make([]int, 0, len(batch))
	for i, in := range batch {
		e := in.Event
		if j, ok := first[e.ID]; ok {
			results[i] = repeatResult(e, batch[j].Event)
			continue
		}
		first[e.ID] = i
		results[i] = billing.IngestResult{ID: e.ID} // Status empty: not settled yet
		candidates = append(candidates, i)
	}
	return results, candidates
}

// unsettled returns those of rows whose result is not known yet.
func unsettled(results []billing.IngestResult, rows []int) []int {
	var out []int
	for _, i := range rows {
		if results[i].Status == "" {
			out = append(out, i)
		}
	}
	return out
}

// maxRaces bounds how often an event is judged again because a concurrent batch created its task
// or its id while the statement ran. Each run waits for the writer it raced, so the next run sees
// that writer's rows; more than a couple of runs would mean something else is wrong.
const maxRaces = 5

// settleEvents runs the ingest statement (through run) over the events of batch at rows, in
// batch order, and fills in their results; events that raced a concurrent writer are run again.
// Finally a later event of the batch repeating an earlier one follows the earlier one's fate.
func settleEvents(batch []billing.IncomingEvent, results []billing.IngestResult, rows []int,
	run func(rows []int, read func(pgx.Rows) error) error) error {
	for race := 0; len(rows) > 0; race++ {
		if race == maxRaces {
			return fmt.Errorf("%d events still racing concurrent writers after %d runs", len(rows), maxRaces)
		}
		var raced []int
		err := run(rows, func(r pgx.Rows) error {
			var (
				ord                int32
				customerOK, typeOK bool
				owner              *string
				inserted           bool
				storedFP           []byte
			)
			_, err := pgx.ForEachRow(r, []any{&ord, &customerOK, &typeOK, &owner, &inserted, &storedFP}, func() error {
				i := int(ord)
				if i < 0 || i >= len(batch) {
					return fmt.Errorf("ingest statement returned event %d of %d", i, len(batch))
				}
				if res, ok := verdict(batch[i].Event, customerOK, typeOK, owner, inserted, storedFP); ok {
					results[i] = res
				} else {
					raced = append(raced, i)
				}
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
		rows = raced
	}
	first := make(map[string]int, len(batch))
	for i, in := range batch {
		j, seen := first[in.Event.ID]
		if !seen {
			first[in.Event.ID] = i
			continue
		}
		if results[i].Status == billing.IngestDuplicate && results[j].Status == billing.IngestRejected {
			results[i] = results[j]
		}
	}
	for i := range results {
		if results[i].Status == "" {
			return fmt.Errorf("event %d (%s) was not settled", i, results[i].ID)
		}
	}
	return nil
}

// verdict is an event's result from what the ingest statement found; ok is false when the event
// raced a concurrent writer and must be judged again: its task, or an event with its id, was
// created by a transaction that committed after the statement's snapshot was taken, so the
// statement could neither claim nor see it.
func verdict(e billing.Event, customerOK, typeOK bool, owner *string, inserted bool, storedFP []byte) (billing.IngestResult, bool) {
	switch {
	case !customerOK:
		return rejected(e.ID, billing.Invalid("customer_id", "unknown customer %q: create it with POST /v1/customers first", e.CustomerID)), true
	case !typeOK:
		return rejected(e.ID, billing.Invalid("outcome_type", "unknown outcome type %q: create it with PUT /v1/outcome-types/{outcome_type} first", e.OutcomeType)), true
	case owner == nil:
		return billing.IngestResult{}, false
	case *owner != e.CustomerID:
		return rejected(e.ID, &billing.Error{Code: billing.ECONFLICT, Field: "task_id",
			Message: fmt.Sprintf("task %q belongs to another customer", e.TaskID)}), true
	case inserted:
		return billing.IngestResult{ID: e.ID, Status: billing.IngestAccepted}, true
	case storedFP == nil:
		return billing.IngestResult{}, false
	case bytes.Equal(storedFP, e.Fingerprint[:]):
		return billing.IngestResult{ID: e.ID, Status: billing.IngestDuplicate}, true
	}
	return rejected(e.ID, &billing.Error{Code: billing.ECONFLICT, Field: "id",
		Message: "an event with this id was already accepted with a different body"}), true
}

func repeatResult(e, earlier billing.Event) billing.IngestResult {
	if e.Fingerprint == earlier.Fingerprint {
		return billing.IngestResult{ID: e.ID, Status: billing.IngestDuplicate}
	}
	return rejected(e.ID, &billing.Error{Code: billing.ECONFLICT, Field: "id",
		Message: "the batch carries this id twice with different bodies"})
}

func rejected(id string, err *billing.Error) billing.IngestResult {
	return billing.IngestResult{ID: id, Status: billing.IngestRejected, Err: err}
}

// ingestArgs are the arguments of ingestArraysSQL for the events of batch at rows: $1 the
// receive time, then one array per column of the incoming events.
func ingestArgs(batch []billing.IncomingEvent, rows []int, now time.Time) []any {
	n := len(rows)
	var (
		ords                                      = make([]int32, n)
		ids, types, customers, tasks, outcomeType = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		models                                    = make([]*string, n)
		fps                                       = make([][]byte, n)
		bodies                                    = make([]string, n)
		at                                        = make([]time.Time, n)
		in, cin, cw, re, out                      = make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		cost                                      = make([]decimal.NullDecimal, n)
	)
	for k, i := range rows {
		e := batch[i].Event
		ords[k], ids[k], types[k], customers[k], tasks[k], outcomeType[k], at[k] = int32(i), e.ID, string(e.Type), e.CustomerID, e.TaskID, e.OutcomeType, e.OccurredAt
		fp := e.Fingerprint
		fps[k], bodies[k] = fp[:], string(batch[i].Body)
		if e.Type != billing.EventUsage {
			continue
		}
		if e.Cost != nil {
			cost[k] = decimal.NullDecimal{Decimal: *e.Cost, Valid: true}
			continue
		}
		m, t := e.Model, e.Tokens
		models[k] = &m
		in[k], cin[k], cw[k], re[k], out[k] = &t.Input, &t.CachedInput, &t.CacheWrite, &t.Reasoning, &t.Output
	}
	return []any{now, ords, ids, fps, types, customers, tasks, outcomeType, at, bodies, models, in, cin, cw, re, out, cost}
}

// ingestArraysSQL is the ingest statement over the arrays of ingestArgs.
var ingestArraysSQL = ingestStatement(`
	SELECT * FROM unnest($2::int[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::timestamptz[], $10::jsonb[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[],
		$16::bigint[], $17::numeric[])
	AS t(ord, id, fingerprint, type, customer_id, task_id, outcome_type, occurred_at, body, model,
		input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)`)

// ingestStatement is the one statement that stores a batch: source yields the incoming events
// (ord, the event's index in the batch, and the columns of events; cost_usd set only for a
// reported non-token cost) and $1 is the receive time. It
//
//   - checks each event's customer and (for task.started) outcome type;
//   - claims the tasks of the valid events that do not exist yet — their keys go into
//     task_keys in task id order, so that concurrent batches lock them alike, and only the
//     claimed ones into tasks; the first event of a task in the batch names its owner and its
//     opened_at, the month partition of tasks it goes to (migration 00014);
//   - costs token usage with the model's price valid at occurred_at (billing.PriceAt's rule: a
//     vendor row wins over the catalog, then the latest; billing.ModelPrice.Cost's arithmetic,
//     rounded to 16 places as decimal's division is), NULL while no price covers it;
//   - inserts the events whose task belongs to their customer, skipping ids already stored. The
//     id goes into event_keys first, in id order, ON CONFLICT DO NOTHING, and only the ids that
//     went in there go into events: partitioned by occurred_at, events cannot keep an id unique
//     across months by itself (migration 00013);
//   - inserts an outbox row for each stored event — usage only when it opens its task: the
//     workflow's state does not depend on usage (cost is summed in SQL), and every signal it is
//     spared keeps a task's history four events shorter; a usage event that opens a task still
//     goes out, so that its timeout starts;
//   - returns for every incoming event what settles it (see verdict).
//
// All parts see the snapshot taken when the statement starts, so a task or an event id that a
// concurrent batch committed after that is neither claimed nor visible: owner (from task_keys) or
// the stored fingerprint (from event_keys) come back NULL, and the event is judged again by a new
// statement.
func ingestStatement(source string) string {
	return `
	WITH incoming AS (` + source + `
	), checked AS MATERIALIZED (
		SELECT i.*,
			EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id) AS customer_ok,
			(i.type <> 'task.started' OR EXISTS (SELECT 1 FROM outcome_types o WHERE o.key = i.outcome_type)) AS type_ok
		FROM incoming i
	), claimed AS (
		INSERT INTO task_keys (task_id, customer_id, opened_at)
		SELECT task_id, customer_id, occurred_at FROM (
			SELECT DISTINCT ON (task_id) task_id, customer_id, occurred_at FROM checked
			WHERE customer_ok AND type_ok ORDER BY task_id, ord) first
		ORDER BY task_id
		-- No conflict target: every unique key of task_keys (task_id; task_id with customer_id,
		-- which events reference; and with opened_at too, which tasks reference) must be an
		-- arbiter, or a task created by a concurrent batch would fail another key instead of
		-- being skipped.
		ON CONFLICT DO NOTHING
		RETURNING task_id, customer_id, opened_at
	), opened AS (
		INSERT INTO tasks (task_id, customer_id, opened_at, created_at, updated_at)
		SELECT task_id, customer_id, opened_at, $1, $1 FROM claimed
	), judged AS MATERIALIZED (
		SELECT c.*, coalesce(cl.customer_id, (SELECT k.customer_id FROM task_keys k WHERE k.task_id = c.task_id)) AS owner,
			cl.task_id IS NOT NULL AS fresh,
			CASE WHEN c.model IS NULL THEN c.cost_usd ELSE (
				SELECT round((p.input_per_mtok * c.input_tokens + p.cached_input_per_mtok * c.cached_input_tokens
					+ p.cache_write_per_mtok * c.cache_write_tokens
					+ coalesce(p.reasoning_per_mtok, p.output_per_mtok) * c.reasoning_tokens
					+ p.output_per_mtok * c.output_tokens) * 0.000001, 16)
				FROM model_prices p WHERE p.model = c.model AND p.effective_from <= c.occurred_at
				ORDER BY p.origin = 'vendor' DESC, p.effective_from DESC LIMIT 1)
			END AS cost
		FROM checked c LEFT JOIN claimed cl ON cl.task_id = c.task_id
	), ins AS (
		INSERT INTO event_keys (id, fingerprint, occurred_at)
		SELECT id, fingerprint, occurred_at
		FROM judged WHERE customer_ok AND type_ok AND owner = customer_id
		ORDER BY id
		ON CONFLICT (id) DO NOTHING
		RETURNING id
	), stored AS MATERIALIZED (
		SELECT j.* FROM ins JOIN judged j ON j.id = ins.id
	), evs AS (
		INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model,
			input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)
		SELECT id, fingerprint, type, customer_id, task_id, occurred_at, $1, body, model,
			input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost
		FROM stored
	), box AS (
		INSERT INTO outbox (event_id, task_id, customer_id, occurred_at, created_at, available_at)
		SELECT id, task_id, customer_id, occurred_at, $1, $1 FROM stored
		WHERE type <> 'task.usage' OR fresh
	)
	SELECT j.ord::int4, j.customer_ok, j.type_ok, j.owner, ins.id IS NOT NULL,
		CASE WHEN ins.id IS NULL THEN (SELECT k.fingerprint FROM event_keys k WHERE k.id = j.id) END
	FROM judged j LEFT JOIN ins ON ins.id = j.id
	ORDER BY j.ord`
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// costUnpricedUsage costs the usage events of model that no price covered when they arrived, now
// that a new price row exists. It runs in the transaction that adds the price.
func (db *DB) costUnpricedUsage(ctx context.Context, tx pgx.Tx, model string) error {
	rows, err := tx.Query(ctx, `SELECT `+modelPriceColumns+` FROM model_prices WHERE model = $1 ORDER BY effective_from, origin`, model)
	if err != nil {
		return err
	}
	prices, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.ModelPrice, error) { return scanModelPrice(r) })
	if err != nil {
		return err
	}
	ev, err := tx.Query(ctx, `SELECT id, occurred_at, input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
		output_tokens FROM events WHERE type = 'task.usage' AND cost_usd IS NULL AND model = $1`, model)
	if err != nil {
		return err
	}
	// occurred_at with the id: the key of events, and the update then probes one partition per
	// event rather than every month's.
	var ids []string
	var ats []time.Time
	var costs []decimal.Decimal
	for ev.Next() {
		var id string
		var at time.Time
		var u billing.TokenUsage
		if err := ev.Scan(&id, &at, &u.Input, &u.CachedInput, &u.CacheWrite, &u.Reasoning, &u.Output); err != nil {
			ev.Close()
			return err
		}
		if p, ok := billing.PriceAt(prices, at); ok {
			ids, ats, costs = append(ids, id), append(ats, at), append(costs, p.Cost(u))
		}
	}
	ev.Close()
	if err := ev.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `UPDATE events SET cost_usd = u.cost
		FROM unnest($1::text[], $2::timestamptz[], $3::numeric[]) AS u(id, occurred_at, cost)
		WHERE events.id = u.id AND events.occurred_at = u.occurred_at`, ids, ats, costs)
	return err
}
