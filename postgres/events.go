package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
)

// IngestEvents stores a batch of validated events with their outbox rows in one transaction and
// returns one result per event, in input order. Events whose id is already stored are duplicates
// when their body is the same and conflicts otherwise; events naming an unknown customer or
// outcome type, or a task that belongs to another customer, are rejected. Nothing of a rejected
// event is written. A batch costs four round trips whatever its size: the begin, one pipelined
// batch of look-ups that also claims the batch's tasks, the insert, and the commit (plus one to
// tell duplicates from conflicts when ids repeat).
func (db *DB) IngestEvents(ctx context.Context, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	for attempt := 1; ; attempt++ {
		results, err := db.ingest(ctx, batch)
		// Rows are locked in a fixed order (tasks by id, then events by id), so deadlocks should not
		// happen; should one anyway, the whole batch is simply tried again.
		if err == nil || attempt == 3 || !retryable(err) {
			return results, err
		}
	}
}

func (db *DB) ingest(ctx context.Context, batch []billing.IncomingEvent) (results []billing.IngestResult, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		results, err = db.ingestTx(ctx, tx, batch, insertEvents)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest %d events: %w", len(batch), err)
	}
	return results, nil
}

// eventWriter writes the events of batch at rows (sorted by id) with their outbox rows — fresh
// are the tasks this batch created — and returns the ids it inserted: an id already stored is
// skipped. insertEvents does it in one statement for API batches; the import stages through COPY.
type eventWriter func(ctx context.Context, tx pgx.Tx, batch []billing.IncomingEvent, rows []int, fresh map[string]bool,
	prices map[string][]billing.ModelPrice, now time.Time) (map[string]bool, error)

// ingestTx validates batch against the database and stores it through write, in tx: the one path
// of every event into the store, for API batches and imports alike.
func (db *DB) ingestTx(ctx context.Context, tx pgx.Tx, batch []billing.IncomingEvent, write eventWriter) ([]billing.IngestResult, error) {
	results := make([]billing.IngestResult, len(batch))
	for i, in := range batch {
		results[i] = billing.IngestResult{ID: in.Event.ID, Status: billing.IngestAccepted}
	}
	// Within the batch, a repeated id is resolved against its first occurrence.
	first := map[string]int{}
	var candidates []int // events not settled as in-batch repeats
	for i, in := range batch {
		if j, ok := first[in.Event.ID]; ok {
			results[i] = repeatResult(in.Event, batch[j].Event)
			continue
		}
		first[in.Event.ID] = i
		candidates = append(candidates, i)
	}
	now := db.Now().UTC()
	known, err := lookupBatch(ctx, tx, batch, candidates, now)
	if err != nil {
		return nil, err
	}
	var rows []int // indexes of events to insert
	for _, i := range candidates {
		e := batch[i].Event
		switch {
		case !known.customers[e.CustomerID]:
			results[i] = rejected(e.ID, billing.Invalid("customer_id", "unknown customer %q: create it with POST /v1/customers first", e.CustomerID))
		case e.Type == billing.EventStarted && !known.outcomeTypes[e.OutcomeType]:
			results[i] = rejected(e.ID, billing.Invalid("outcome_type", "unknown outcome type %q: create it with PUT /v1/outcome-types/{outcome_type} first", e.OutcomeType))
		case known.owners[e.TaskID] != e.CustomerID:
			results[i] = rejected(e.ID, &billing.Error{Code: billing.ECONFLICT, Field: "task_id",
				Message: fmt.Sprintf("task %q belongs to another customer", e.TaskID)})
		default:
			rows = append(rows, i)
		}
	}
	// Sorted by id so that concurrent batches carrying the same events lock them in the same
	// order and never deadlock.
	sort.Slice(rows, func(a, b int) bool { return batch[rows[a]].Event.ID < batch[rows[b]].Event.ID })
	inserted, err := write(ctx, tx, batch, rows, known.fresh, known.prices, now)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, i := range rows {
		if !inserted[batch[i].Event.ID] {
			missing = append(missing, batch[i].Event.ID)
		}
	}
	if len(missing) > 0 {
		stored, err := storedFingerprints(ctx, tx, missing)
		if err != nil {
			return nil, err
		}
		for _, i := range rows {
			e := batch[i].Event
			if inserted[e.ID] {
				continue
			}
			if fp, ok := stored[e.ID]; ok && fp == e.Fingerprint {
				results[i] = billing.IngestResult{ID: e.ID, Status: billing.IngestDuplicate}
			} else {
				results[i] = rejected(e.ID, &billing.Error{Code: billing.ECONFLICT, Field: "id",
					Message: "an event with this id was already accepted with a different body"})
			}
		}
	}
	// A later event of the batch repeating an earlier one follows the earlier one's fate.
	for i, in := range batch {
		if j := first[in.Event.ID]; j != i && results[i].Status == billing.IngestDuplicate && results[j].Status == billing.IngestRejected {
			results[i] = results[j]
		}
	}
	return results, nil
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

type batchLookups struct {
	customers    map[string]bool
	outcomeTypes map[string]bool
	owners       map[string]string               // task → its customer, after the claim
	fresh        map[string]bool                 // tasks this batch created
	prices       map[string][]billing.ModelPrice // by model, sorted by effective_from
}

// lookupBatch fetches in one pipelined round trip what validating a batch needs from the database,
// and claims the batch's tasks on the way: it creates the tasks that do not exist yet — only for
// events that name a known customer (and, for task.started, a known outcome type), in task id
// order so that concurrent batches lock them alike — and then reads every task's owner. The read
// is a statement of its own so that it sees a task another batch created while this one waited
// for it: the first batch to create a task decides its customer.
func lookupBatch(ctx context.Context, tx pgx.Tx, batch []billing.IncomingEvent, candidates []int, now time.Time) (batchLookups, error) {
	customers, outcomeTypes, models := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, in := range batch {
		e := in.Event
		customers[e.CustomerID] = true
		if e.OutcomeType != "" {
			outcomeTypes[e.OutcomeType] = true
		}
		if e.Model != "" {
			models[e.Model] = true
		}
	}
	out := batchLookups{customers: map[string]bool{}, outcomeTypes: map[string]bool{}, prices: map[string][]billing.ModelPrice{},
		owners: map[string]string{}, fresh: map[string]bool{}}
	n := len(candidates)
	tasks, custs, types, ots := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for k, i := range candidates {
		e := batch[i].Event
		tasks[k], custs[k], types[k], ots[k] = e.TaskID, e.CustomerID, string(e.Type), e.OutcomeType
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id FROM customers WHERE id = ANY($1)`, keys(customers)).Query(func(rows pgx.Rows) error {
		return collectInto(rows, func(id string, _ string) { out.customers[id] = true })
	})
	b.Queue(`SELECT key FROM outcome_types WHERE key = ANY($1)`, keys(outcomeTypes)).Query(func(rows pgx.Rows) error {
		return collectInto(rows, func(k string, _ string) { out.outcomeTypes[k] = true })
	})
	b.Queue(`SELECT `+modelPriceColumns+` FROM model_prices WHERE model = ANY($1) ORDER BY model, effective_from, origin`,
		keys(models)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			p, err := scanModelPrice(rows)
			if err != nil {
				return err
			}
			out.prices[p.Model] = append(out.prices[p.Model], p)
		}
		return rows.Err()
	})
	// DISTINCT ON keeps each task's first valid event: its customer becomes the task's owner.
	b.Queue(`INSERT INTO tasks (task_id, customer_id, created_at, updated_at)
		SELECT task_id, customer_id, $5, $5 FROM (
			SELECT DISTINCT ON (e.task_id) e.task_id, e.customer_id
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS e(task_id, customer_id, type, outcome_type, ord)
			WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = e.customer_id)
				AND (e.type <> 'task.started' OR EXISTS (SELECT 1 FROM outcome_types o WHERE o.key = e.outcome_type))
			ORDER BY e.task_id, e.ord) first
		ORDER BY task_id
		ON CONFLICT (task_id) DO NOTHING RETURNING task_id`, tasks, custs, types, ots, now).Query(func(rows pgx.Rows) error {
		return collectInto(rows, func(t, _ string) { out.fresh[t] = true })
	})
	// Joined from unnest rather than filtered with = ANY($1): the planner then sizes the look-up by
	// the array (index probes) instead of by the table, and a cached generic plan made while the
	// table was small cannot turn it into a full scan later.
	b.Queue(`SELECT t.task_id, t.customer_id FROM unnest($1::text[]) AS u(id) JOIN tasks t ON t.task_id = u.id`, tasks).Query(func(rows pgx.Rows) error {
		return collectInto(rows, func(t, c string) { out.owners[t] = c })
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return out, fmt.Errorf("look up batch references: %w", err)
	}
	return out, nil
}

// collectInto reads rows of one or two text columns.
func collectInto(rows pgx.Rows, f func(a, b string)) error {
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		a, _ := vals[0].(string)
		var b string
		if len(vals) > 1 {
			b, _ = vals[1].(string)
		}
		f(a, b)
	}
	return rows.Err()
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// insertEvents writes the events at rows, their tasks (if new) and their outbox rows in one
// statement, and returns the ids it inserted: an id already stored is skipped, not overwritten.
func insertEvents(ctx context.Context, tx pgx.Tx, batch []billing.IncomingEvent, rows []int, fresh map[string]bool, prices map[string][]billing.ModelPrice, now time.Time) (map[string]bool, error) {
	n := len(rows)
	if n == 0 {
		return map[string]bool{}, nil
	}
	var (
		ids, types, customers, tasks, models = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
		fps                                  = make([][]byte, n)
		bodies                               = make([]string, n)
		at                                   = make([]time.Time, n)
		in, cin, cw, re, out                 = make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		cost                                 = make([]decimal.NullDecimal, n)
	)
	for k, i := range rows {
		e := batch[i].Event
		ids[k], types[k], customers[k], tasks[k], at[k] = e.ID, string(e.Type), e.CustomerID, e.TaskID, e.OccurredAt
		fp := e.Fingerprint
		fps[k], bodies[k] = fp[:], string(batch[i].Body)
		if e.Type != billing.EventUsage {
			continue
		}
		if e.Cost != nil {
			cost[k] = decimal.NullDecimal{Decimal: *e.Cost, Valid: true}
			continue
		}
		m := e.Model
		models[k] = &m
		t := e.Tokens
		in[k], cin[k], cw[k], re[k], out[k] = &t.Input, &t.CachedInput, &t.CacheWrite, &t.Reasoning, &t.Output
		if p, ok := billing.PriceAt(prices[m], e.OccurredAt); ok {
			cost[k] = decimal.NullDecimal{Decimal: p.Cost(t), Valid: true}
		}
	}
	// Events, then outbox rows, in one statement. Usage events get an outbox row only when they
	// open a task (one of fresh, created by this batch): the workflow's state does not depend on
	// usage (cost is summed here, in SQL), and every signal it is spared keeps a task's history
	// four events shorter. A usage event that opens a task still goes out, so that its timeout
	// starts.
	r, err := tx.Query(ctx, `
		WITH incoming AS (
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
				$7::jsonb[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::numeric[])
				WITH ORDINALITY AS t(id, fingerprint, type, customer_id, task_id, occurred_at, body, model,
					input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd, ord)
		), ins AS (
			INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model,
				input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd)
			SELECT id, fingerprint, type, customer_id, task_id, occurred_at, $15, body, model,
				input_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, output_tokens, cost_usd
			FROM incoming ORDER BY ord
			ON CONFLICT (id) DO NOTHING
			RETURNING id, type, task_id, customer_id
		), box AS (
			INSERT INTO outbox (event_id, task_id, customer_id, created_at, available_at)
			SELECT id, task_id, customer_id, $15, $15 FROM ins
			WHERE type <> 'task.usage' OR task_id = ANY($16)
		)
		SELECT id FROM ins`,
		ids, fps, types, customers, tasks, at, bodies, models, in, cin, cw, re, out, cost, now, keys(fresh))
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	inserted := map[string]bool{}
	err = collectInto(r, func(id, _ string) { inserted[id] = true })
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	return inserted, nil
}

func storedFingerprints(ctx context.Context, tx pgx.Tx, ids []string) (map[string][32]byte, error) {
	rows, err := tx.Query(ctx, `SELECT e.id, e.fingerprint FROM unnest($1::text[]) AS u(id) JOIN events e ON e.id = u.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up stored events: %w", err)
	}
	defer rows.Close()
	out := map[string][32]byte{}
	for rows.Next() {
		var id string
		var fp []byte
		if err := rows.Scan(&id, &fp); err != nil {
			return nil, err
		}
		var a [32]byte
		copy(a[:], fp)
		out[id] = a
	}
	return out, rows.Err()
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
	var ids []string
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
			ids, costs = append(ids, id), append(costs, p.Cost(u))
		}
	}
	ev.Close()
	if err := ev.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `UPDATE events SET cost_usd = u.cost FROM unnest($1::text[], $2::numeric[]) AS u(id, cost)
		WHERE events.id = u.id`, ids, costs)
	return err
}
