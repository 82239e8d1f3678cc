package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// The economics views (DESIGN.md §6) read the rollups of migration 00006: economics_daily sums
// tasks per customer, local day, outcome type, model and status; task_economics holds each task's
// row. Writers only mark the tasks they change dirty (economics_dirty) and the worker folds those
// into the rollups moments later (FoldEconomics), so a read takes the rollups as they are and
// corrects them for its customers' dirty tasks: exact, without writing or waiting.
//
// A view asks for spans — (customer, from, to) — and gets sums back, never tasks: memory and time
// grow with the number of days and groups in the range (and the tasks not yet folded), not with
// the number of tasks. Every read runs in one read-only repeatable-read transaction, its queries
// pipelined in one round trip, so that cost, outcomes and revenue come from one snapshot.

// span is one customer's range [from, to), numbered k so that one query can answer many.
type span struct {
	k          int
	customerID string
	from, to   time.Time
}

func spanArrays(spans []span) (ks []int32, ids []string, from, to []time.Time) {
	for _, s := range spans {
		ks, ids, from, to = append(ks, int32(s.k)), append(ids, s.customerID), append(from, s.from), append(to, s.to)
	}
	return ks, ids, from, to
}

// cellsSQL sums the tasks of each span. It stays fast as data grows because each span costs:
//   - for the whole local days inside it, one range scan of economics_daily's primary key
//     (customer_id, day, …): about a row per day and group, however many tasks those days had;
//   - for the partial days at its ends (only when from or to is not a local midnight), two range
//     scans of task_economics_customer_at covering less than a day each;
//   - for its customer's dirty tasks (changed since the folder last ran: normally well under a
//     second's worth), one probe of economics_dirty_customer, a probe of task_economics and of
//     tasks each, and, for those whose time falls in a span (a report of past months skips the
//     tasks being ingested now), their current rows (economics_task_rows: a probe of events_task
//     each; 10–30 µs a task).
//
// Exact in one snapshot: the rollup and task_economics are a sum and its terms as of the last fold
// of each task, and every task whose row has changed since has a dirty row (see migration 00006).
// So a dirty task's stale row is taken out where the rollup counted it (its stale day, in the
// whole days) and left out of the partial days, and its current row is counted wherever its at
// falls in [from, to). Clean tasks count as before; no task counts twice or goes missing.
//
// Rollup rows whose tasks all moved on to another status or day are left at zero by the folder
// (deleting them would cost every fold a second probe) and skipped here.
//
// d0 is the first local date whose midnight is at or after from, d1 the local date of to; whole
// days are [d0, d1). The rest of [from, to) — [from, ws) and [we, to) — is read task by task.
// $5 filters on an outcome type (NULL: all). The select list groups by status and, per %s, by
// the span k (or a constant 0: all spans together), the outcome type and the model (or an empty string).
const cellsSQL = `
WITH q AS (
	SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(k, customer_id, f, t)
), d AS (
	SELECT q.k, q.customer_id, q.f, q.t, x.d0, y.d1,
		CASE WHEN x.d0 < y.d1 THEN x.d0::timestamp AT TIME ZONE c.timezone ELSE q.t END AS ws,
		CASE WHEN x.d0 < y.d1 THEN y.d1::timestamp AT TIME ZONE c.timezone ELSE q.t END AS we
	FROM q
	JOIN customers c ON c.id = q.customer_id
	CROSS JOIN LATERAL (SELECT (q.f AT TIME ZONE c.timezone)::date AS fd, (q.t AT TIME ZONE c.timezone)::date AS d1) y
	CROSS JOIN LATERAL (SELECT CASE WHEN y.fd::timestamp AT TIME ZONE c.timezone >= q.f THEN y.fd ELSE y.fd + 1 END AS d0) x
), dirty AS MATERIALIZED (
	SELECT DISTINCT x.task_id FROM economics_dirty x WHERE x.customer_id = ANY($2::text[])
), stale AS MATERIALIZED (
	SELECT te.* FROM dirty JOIN task_economics te ON te.task_id = dirty.task_id
), fresh AS MATERIALIZED (
	SELECT * FROM economics_task_rows(ARRAY(
		SELECT t.task_id FROM dirty JOIN task_keys k ON k.task_id = dirty.task_id
		JOIN tasks t ON t.task_id = k.task_id AND t.opened_at = k.opened_at
		WHERE EXISTS (SELECT 1 FROM q WHERE q.customer_id = t.customer_id
			AND COALESCE(t.status_at, t.created_at) >= q.f AND COALESCE(t.status_at, t.created_at) < q.t)))
), edges AS (
	SELECT d.k, te.* FROM d JOIN task_economics te ON te.customer_id = d.customer_id AND te.at >= d.f AND te.at < d.ws
	UNION ALL
	SELECT d.k, te.* FROM d JOIN task_economics te ON te.customer_id = d.customer_id AND te.at >= d.we AND te.at < d.t
), singles AS (
	SELECT e.*, 1 AS sign FROM edges e WHERE NOT EXISTS (SELECT 1 FROM dirty WHERE dirty.task_id = e.task_id)
	UNION ALL
	SELECT d.k, s.*, -1 FROM d JOIN stale s ON s.customer_id = d.customer_id AND s.day >= d.d0 AND s.day < d.d1
	UNION ALL
	SELECT d.k, f.*, 1 FROM d JOIN fresh f ON f.customer_id = d.customer_id AND f.at >= d.f AND f.at < d.t
), cells AS (
	SELECT d.k, r.outcome_type, r.model, r.status, r.tasks, r.succeeded, r.partial, r.failed, r.escalated,
		r.quality_sum, r.quality_n, r.cost_usd, r.unpriced
	FROM d JOIN economics_daily r ON r.customer_id = d.customer_id AND r.day >= d.d0 AND r.day < d.d1
	WHERE r.tasks <> 0 AND ($5::text IS NULL OR r.outcome_type = $5)
	UNION ALL
	SELECT e.k, e.outcome_type, e.model, e.status, e.sign, e.sign * (e.outcome IS NOT DISTINCT FROM 'succeeded')::int,
		e.sign * (e.outcome IS NOT DISTINCT FROM 'partial')::int, e.sign * (e.outcome IS NOT DISTINCT FROM 'failed')::int,
		e.sign * (e.outcome IS NOT DISTINCT FROM 'escalated')::int, e.sign * COALESCE(e.quality, 0),
		e.sign * (e.quality IS NOT NULL)::int, e.sign * e.cost_usd, e.sign * e.unpriced
	FROM singles e
	WHERE $5::text IS NULL OR e.outcome_type = $5
)
SELECT %s, %s, %s, status, sum(tasks)::bigint, sum(succeeded)::bigint, sum(partial)::bigint, sum(failed)::bigint,
	sum(escalated)::bigint, sum(quality_sum), sum(quality_n)::bigint, sum(cost_usd), sum(unpriced)::bigint
FROM cells GROUP BY 1, 2, 3, 4 HAVING sum(tasks) <> 0`

// Groupings of cellsSQL.
var (
	cellsByTypeAndModel    = fmt.Sprintf(cellsSQL, "k", "outcome_type", "model")
	cellsByType            = fmt.Sprintf(cellsSQL, "k", "outcome_type", "''")
	cellsByStatus          = fmt.Sprintf(cellsSQL, "k", "''", "''")
	cellsAllByTypeAndModel = fmt.Sprintf(cellsSQL, "0", "outcome_type", "model")
)

// invoicesSQL sums the non-void invoices of each span (those whose period starts in it): one range
// scan of invoices_customer (customer_id, period_start) per span.
const invoicesSQL = `
WITH q AS (
	SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(k, customer_id, f, t)
)
SELECT q.k, i.currency, count(*), count(*) FILTER (WHERE i.period_end > q.t), sum(i.subtotal), sum(i.total),
	sum(i.credits_applied)
FROM q JOIN invoices i ON i.customer_id = q.customer_id AND i.period_start >= q.f AND i.period_start < q.t
WHERE i.status <> 'void'
GROUP BY 1, 2`

// invoiceLinesSQL splits the same invoices' revenue by outcome type: the lines come by their
// primary key (invoice_id, position), a handful per invoice.
const invoiceLinesSQL = `
WITH q AS (
	SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(k, customer_id, f, t)
)
SELECT q.k, i.currency, l.outcome_type, sum(l.amount)
FROM q JOIN invoices i ON i.customer_id = q.customer_id AND i.period_start >= q.f AND i.period_start < q.t
JOIN invoice_lines l ON l.invoice_id = i.id
WHERE i.status <> 'void' AND l.kind <> 'prepaid_credits'
GROUP BY 1, 2, 3`

// customerRatesSQL is each span's customer's USD rate in force at the span's end: one probe of the
// exchange_rates primary key (currency, effective_from) per span.
const customerRatesSQL = `
WITH q AS (
	SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS q(k, customer_id, f, t)
)
SELECT q.k, (SELECT r.rate FROM exchange_rates r WHERE r.currency = c.currency AND r.effective_from < q.t
	ORDER BY r.effective_from DESC LIMIT 1)
FROM q JOIN customers c ON c.id = q.customer_id`

// ratesSQL is the USD rate of each of $1's currencies in force at $2: a probe of the primary key each.
const ratesSQL = `
SELECT DISTINCT ON (currency) currency, rate FROM exchange_rates WHERE currency = ANY($1) AND effective_from < $2
ORDER BY currency, effective_from DESC`

// baselinesSQL is every outcome type's labor baseline for a customer, its override winning. Outcome
// types are a vendor's catalogue (tens of rows), not data that grows with traffic.
const baselinesSQL = `
SELECT o.key, COALESCE(b.human_minutes, o.human_minutes), COALESCE(b.annual_cost, o.annual_cost),
	COALESCE(b.annual_cost_currency, o.annual_cost_currency), COALESCE(b.productive_hours, o.productive_hours),
	b.customer_id IS NOT NULL
FROM outcome_types o LEFT JOIN baseline_overrides b ON b.outcome_type = o.key AND b.customer_id = $1`

type cellsByK map[int][]billing.EconomicsCell

// queueCells adds a cells query to b; its results land in out.
func queueCells(b *pgx.Batch, query string, spans []span, outcomeType *string, out cellsByK) {
	ks, ids, from, to := spanArrays(spans)
	b.Queue(query, ks, ids, from, to, outcomeType).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var k int
			var c billing.EconomicsCell
			var status string
			if err := rows.Scan(&k, &c.OutcomeType, &c.Model, &status, &c.Tasks, &c.Succeeded, &c.Partial, &c.Failed,
				&c.Escalated, &c.QualitySum, &c.QualityN, &c.CostUSD, &c.Unpriced); err != nil {
				return err
			}
			c.Status = billing.TaskStatus(status)
			out[k] = append(out[k], c)
		}
		return rows.Err()
	})
}

// queueRevenue adds the invoice queries to b; byType also splits revenue by outcome type. A
// customer's invoices in another currency than cur (it changed currency) go to Revenue.Other.
func queueRevenue(b *pgx.Batch, spans []span, currencies map[int]money.Currency, byType bool, out map[int]*billing.Revenue) {
	ks, ids, from, to := spanArrays(spans)
	rev := func(k int) *billing.Revenue {
		r := out[k]
		if r == nil {
			r = &billing.Revenue{Currency: currencies[k], ByOutcomeType: map[string]decimal.Decimal{}}
			out[k] = r
		}
		return r
	}
	b.Queue(invoicesSQL, ks, ids, from, to).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var k int
			var cur string
			var n, straddling int64
			var subtotal, total, credits decimal.Decimal
			if err := rows.Scan(&k, &cur, &n, &straddling, &subtotal, &total, &credits); err != nil {
				return err
			}
			r := rev(k)
			if money.Currency(cur) != r.Currency {
				r.Other = append(r.Other, money.New(subtotal, money.Currency(cur)))
				continue
			}
			r.Invoices, r.Straddling, r.Amount, r.Paid, r.CreditsApplied = n, straddling, subtotal, total, credits
		}
		return rows.Err()
	})
	if !byType {
		return
	}
	b.Queue(invoiceLinesSQL, ks, ids, from, to).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var k int
			var cur, ot string
			var amount decimal.Decimal
			if err := rows.Scan(&k, &cur, &ot, &amount); err != nil {
				return err
			}
			if r := rev(k); money.Currency(cur) == r.Currency {
				r.ByOutcomeType[ot] = amount
			}
		}
		return rows.Err()
	})
}

// readOnly runs fn in a read-only repeatable-read transaction: one snapshot for all its queries.
func (db *DB) readOnly(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (db *DB) economicsCustomer(ctx context.Context, tx pgx.Tx, id string) (billing.Customer, *time.Location, error) {
	c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
	if err != nil {
		return c, nil, interpretError(err, "customer", id)
	}
	loc, err := billing.LoadLocation(c.Timezone)
	if err != nil {
		return c, nil, fmt.Errorf("customer %s timezone %q: %w", id, c.Timezone, err)
	}
	return c, loc, nil
}

func revenueOrEmpty(r *billing.Revenue, cur money.Currency) billing.Revenue {
	if r == nil {
		return billing.Revenue{Currency: cur, ByOutcomeType: map[string]decimal.Decimal{}}
	}
	return *r
}

// Margin returns a customer's gross margin over r.
func (db *DB) Margin(ctx context.Context, customerID string, r billing.DateRange) (m billing.Margin, err error) {
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		c, loc, err := db.economicsCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		from, to, err := r.Resolve(loc)
		if err != nil {
			return err
		}
		spans := []span{{0, c.ID, from, to}}
		cells, revenue := cellsByK{}, map[int]*billing.Revenue{}
		var rate *decimal.Decimal
		b := &pgx.Batch{}
		queueCells(b, cellsByTypeAndModel, spans, nil, cells)
		queueRevenue(b, spans, map[int]money.Currency{0: c.Currency}, true, revenue)
		b.Queue(ratesSQL, []string{string(c.Currency)}, to).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var cur string
				var v decimal.Decimal
				if err := rows.Scan(&cur, &v); err != nil {
					return err
				}
				rate = &v
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		m = billing.NewMargin(c, from, to, cells[0], revenueOrEmpty(revenue[0], c.Currency), rate)
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("margin of customer %s: %w", customerID, err)
	}
	return m, nil
}

// VendorMargin returns every customer's margin over r — each customer's dates in its own billing
// timezone — and the totals. It reads all customers (their ids, currencies and zones) and then
// sums per customer in SQL: three queries whatever the number of tasks.
func (db *DB) VendorMargin(ctx context.Context, r billing.DateRange) (v billing.VendorMargin, err error) {
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		customers, spans, err := allSpans(ctx, tx, r)
		if err != nil {
			return err
		}
		currencies := map[int]money.Currency{}
		for i, c := range customers {
			currencies[i] = c.Currency
		}
		cells, revenue, rates := cellsByK{}, map[int]*billing.Revenue{}, map[int]*decimal.Decimal{}
		b := &pgx.Batch{}
		queueCells(b, cellsByStatus, spans, nil, cells)
		queueRevenue(b, spans, currencies, false, revenue)
		ks, ids, from, to := spanArrays(spans)
		b.Queue(customerRatesSQL, ks, ids, from, to).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var k int
				var rate decimal.NullDecimal
				if err := rows.Scan(&k, &rate); err != nil {
					return err
				}
				if rate.Valid {
					rates[k] = &rate.Decimal
				}
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		lines := make([]billing.CustomerMargin, 0, len(spans))
		for _, s := range spans {
			c := customers[s.k]
			cm := billing.CustomerMargin{CustomerID: c.ID, Currency: c.Currency, From: s.from, To: s.to, Rate: rates[s.k],
				Revenue: revenueOrEmpty(revenue[s.k], c.Currency)}
			for _, cell := range cells[s.k] {
				cm.Tally.Add(cell)
			}
			lines = append(lines, cm)
		}
		v = billing.NewVendorMargin(r, lines)
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("vendor margin: %w", err)
	}
	return v, nil
}

// allSpans resolves r for every customer, in its billing timezone; span k is customers[k]. A
// customer for whom the range is empty once placed in its zone gets no span.
func allSpans(ctx context.Context, tx pgx.Tx, r billing.DateRange) ([]billing.Customer, []span, error) {
	rows, err := tx.Query(ctx, `SELECT `+customerColumns+` FROM customers ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	customers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Customer, error) { return scanCustomer(r) })
	if err != nil {
		return nil, nil, err
	}
	spans := make([]span, 0, len(customers))
	for i, c := range customers {
		loc, err := billing.LoadLocation(c.Timezone)
		if err != nil {
			return nil, nil, fmt.Errorf("customer %s timezone %q: %w", c.ID, c.Timezone, err)
		}
		from, to, err := r.Resolve(loc)
		if err != nil {
			continue
		}
		spans = append(spans, span{i, c.ID, from, to})
	}
	return customers, spans, nil
}

// LaborTrendPeriods is how many monthly billing periods the labor-equivalent trend shows.
const LaborTrendPeriods = 6

// LaborEquivalent returns a customer's labor equivalent over r and the trend of its last
// LaborTrendPeriods billing periods, the last being the one r ends in. Everything is converted at
// the rates in force at the end of r.
func (db *DB) LaborEquivalent(ctx context.Context, customerID string, r billing.DateRange) (le billing.LaborEquivalent, err error) {
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		c, loc, err := db.economicsCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		from, to, err := r.Resolve(loc)
		if err != nil {
			return err
		}
		spans := []span{{0, c.ID, from, to}}
		currencies := map[int]money.Currency{0: c.Currency}
		for i, p := range billing.TrendPeriods(to, loc, c.AnchorDay, LaborTrendPeriods) {
			spans = append(spans, span{i + 1, c.ID, p.Start, p.End})
			currencies[i+1] = c.Currency
		}
		cells, revenue := cellsByK{}, map[int]*billing.Revenue{}
		bases := map[string]billing.LaborBasis{}
		b := &pgx.Batch{}
		queueCells(b, cellsByType, spans, nil, cells)
		queueRevenue(b, spans, currencies, false, revenue)
		b.Queue(baselinesSQL, c.ID).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var key, cur string
				var lb billing.LaborBasis
				bl := &lb.Baseline
				if err := rows.Scan(&key, &bl.HumanMinutes, &bl.AnnualCost.Amount, &cur, &bl.ProductiveHours, &lb.Override); err != nil {
					return err
				}
				bl.AnnualCost.Currency = money.Currency(cur)
				bases[key] = lb
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		need := map[string]bool{string(c.Currency): true}
		for _, lb := range bases {
			need[string(lb.Baseline.AnnualCost.Currency)] = true
		}
		rates, err := usdRates(ctx, tx, keys(need), to)
		if err != nil {
			return err
		}
		le = billing.LaborEquivalent{CustomerID: c.ID, Currency: c.Currency}
		le.LaborPeriod = billing.NewLaborPeriod(c.Currency, from, to, cells[0], bases, revenueOrEmpty(revenue[0], c.Currency), rates)
		for _, s := range spans[1:] {
			le.Trend = append(le.Trend, billing.NewLaborPeriod(c.Currency, s.from, s.to, cells[s.k], bases,
				revenueOrEmpty(revenue[s.k], c.Currency), rates))
		}
		return nil
	})
	if err != nil {
		return le, fmt.Errorf("labor equivalent of customer %s: %w", customerID, err)
	}
	return le, nil
}

func usdRates(ctx context.Context, tx pgx.Tx, currencies []string, at time.Time) (billing.Rates, error) {
	rows, err := tx.Query(ctx, ratesSQL, currencies, at)
	if err != nil {
		return nil, fmt.Errorf("exchange rates: %w", err)
	}
	defer rows.Close()
	rates := billing.Rates{}
	for rows.Next() {
		var cur string
		var v decimal.Decimal
		if err := rows.Scan(&cur, &v); err != nil {
			return nil, err
		}
		rates[money.Currency(cur)] = v
	}
	return rates, rows.Err()
}

// ModelEconomics compares the models of each outcome type (or of outcomeType alone, when not "")
// over r, across all customers, each customer's dates in its own billing timezone.
func (db *DB) ModelEconomics(ctx context.Context, outcomeType string, r billing.DateRange, bar billing.ModelBar) (me billing.ModelEconomics, err error) {
	if err := bar.Validate(); err != nil {
		return me, err
	}
	var filter *string
	if outcomeType != "" {
		filter = &outcomeType
	}
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		_, spans, err := allSpans(ctx, tx, r)
		if err != nil {
			return err
		}
		cells := cellsByK{}
		b := &pgx.Batch{}
		queueCells(b, cellsAllByTypeAndModel, spans, filter, cells)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		me = billing.NewModelEconomics(r, bar, cells[0])
		return nil
	})
	if err != nil {
		return me, fmt.Errorf("model economics: %w", err)
	}
	return me, nil
}
