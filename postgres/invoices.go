package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// documentID makes an id that sorts by creation time (to the millisecond) and then at random, so
// that lists ordered by id read oldest first.
func documentID(prefix string, now time.Time) (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b[:])), nil
}

// Vendor returns the vendor's details as invoices print them; a default until they are set.
func (db *DB) Vendor(ctx context.Context) (billing.Vendor, error) {
	return vendorProfile(ctx, db.Pool)
}

type queryRower interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

func vendorProfile(ctx context.Context, q queryRower) (billing.Vendor, error) {
	var v billing.Vendor
	err := q.QueryRow(ctx, `SELECT name, address, email, tax_id FROM vendor_profile`).Scan(&v.Name, &v.Address, &v.Email, &v.TaxID)
	if err == pgx.ErrNoRows {
		return billing.Vendor{Name: billing.DefaultVendorName}, nil
	}
	if err != nil {
		return v, fmt.Errorf("vendor profile: %w", err)
	}
	return v, nil
}

// SetVendor stores the vendor's details. Drafts pick them up when next built; finalized invoices
// keep the details they were finalized with.
func (db *DB) SetVendor(ctx context.Context, v billing.Vendor) (billing.Vendor, error) {
	if v.Name == "" {
		return v, billing.Invalid("name", "is required")
	}
	_, err := db.Pool.Exec(ctx, `INSERT INTO vendor_profile (id, name, address, email, tax_id, updated_at) VALUES (true, $1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET name = $1, address = $2, email = $3, tax_id = $4, updated_at = $5`,
		v.Name, v.Address, v.Email, v.TaxID, db.Now())
	if err != nil {
		return v, fmt.Errorf("set vendor profile: %w", err)
	}
	return v, nil
}

const invoiceColumns = `i.id, i.customer_id, i.customer_name, i.timezone, i.vendor, i.period_start, i.period_end, i.status, i.currency,
	COALESCE(i.number, ''), i.issue_date, COALESCE(i.plan_id, ''), COALESCE(i.plan_version, 0), i.subtotal, i.credits_applied,
	i.total, i.credit_draws, i.notes, i.value_outcomes, i.value_hours, i.value_labor_cost, i.value_labor_currency,
	i.value_savings, i.value_fte, COALESCE(i.void_reason, ''), i.created_at, i.updated_at, i.finalized_at, i.voided_at`

// scanInvoice reads invoiceColumns; the lines are read apart (invoiceLines).
func scanInvoice(row pgx.Row) (billing.Invoice, error) {
	var inv billing.Invoice
	var status, cur string
	var vendor, draws, notes []byte
	var issue, finalized, voided *time.Time
	var laborCost, savings decimal.NullDecimal
	var laborCur *string
	err := row.Scan(&inv.ID, &inv.CustomerID, &inv.CustomerName, &inv.Timezone, &vendor, &inv.PeriodStart, &inv.PeriodEnd, &status, &cur,
		&inv.Number, &issue, &inv.PlanID, &inv.PlanVersion, &inv.Subtotal, &inv.CreditsApplied,
		&inv.Total, &draws, &notes, &inv.Value.Outcomes, &inv.Value.HumanHours, &laborCost, &laborCur,
		&savings, &inv.Value.FTE, &inv.VoidReason, &inv.CreatedAt, &inv.UpdatedAt, &finalized, &voided)
	if err != nil {
		return inv, err
	}
	inv.Status, inv.Currency = billing.InvoiceStatus(status), money.Currency(cur)
	inv.PeriodStart, inv.PeriodEnd = inv.PeriodStart.UTC(), inv.PeriodEnd.UTC()
	inv.CreatedAt, inv.UpdatedAt = inv.CreatedAt.UTC(), inv.UpdatedAt.UTC()
	if issue != nil {
		inv.IssueDate = time.Date(issue.Year(), issue.Month(), issue.Day(), 0, 0, 0, 0, time.UTC)
	}
	if finalized != nil {
		inv.FinalizedAt = finalized.UTC()
	}
	if voided != nil {
		inv.VoidedAt = voided.UTC()
	}
	for _, j := range []struct {
		raw []byte
		dst any
	}{{vendor, &inv.Vendor}, {draws, &inv.Draws}, {notes, &inv.Notes}} {
		if err := json.Unmarshal(j.raw, j.dst); err != nil {
			return inv, fmt.Errorf("invoice %s: %w", inv.ID, err)
		}
	}
	inv.Value.Amount = money.New(inv.Total, inv.Currency)
	if laborCost.Valid && laborCur != nil {
		lc := money.New(laborCost.Decimal, money.Currency(*laborCur))
		inv.Value.LaborCost = &lc
	}
	if savings.Valid {
		s := money.New(savings.Decimal, inv.Currency)
		inv.Value.Savings = &s
	}
	return inv, nil
}

// readInvoice reads one invoice with its lines and value-statement counts.
func readInvoice(ctx context.Context, q pgx.Tx, id string, lock bool) (billing.Invoice, error) {
	query := `SELECT ` + invoiceColumns + ` FROM invoices i WHERE i.id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	inv, err := scanInvoice(q.QueryRow(ctx, query, id))
	if err != nil {
		return inv, interpretError(err, "invoice", id)
	}
	rows, err := q.Query(ctx, `SELECT position, kind, description, outcome_type, meter, quantity, unit_amount, amount,
			explanation, explanation_text
		FROM invoice_lines WHERE invoice_id = $1 ORDER BY position`, id)
	if err != nil {
		return inv, fmt.Errorf("invoice %s lines: %w", id, err)
	}
	inv.Lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.InvoiceLine, error) {
		var l billing.InvoiceLine
		var unit decimal.NullDecimal
		var expl []byte
		err := r.Scan(&l.Position, &l.Kind, &l.Description, &l.OutcomeType, &l.Meter, &l.Quantity, &unit, &l.Amount, &expl, &l.ExplanationText)
		if err != nil {
			return l, err
		}
		if unit.Valid {
			l.UnitAmount = &unit.Decimal
		}
		return l, json.Unmarshal(expl, &l.Explanation)
	})
	if err != nil {
		return inv, fmt.Errorf("invoice %s lines: %w", id, err)
	}
	err = q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE outcome = 'succeeded'), count(*) FILTER (WHERE outcome = 'partial')
		FROM invoice_tasks WHERE invoice_id = $1`, id).Scan(&inv.Value.Succeeded, &inv.Value.Partial)
	if err != nil {
		return inv, fmt.Errorf("invoice %s tasks: %w", id, err)
	}
	return inv, nil
}

// Invoice returns one invoice with its lines.
func (db *DB) Invoice(ctx context.Context, id string) (inv billing.Invoice, err error) {
	err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		inv, err = readInvoice(ctx, tx, id, false)
		return err
	})
	return inv, err
}

// Invoices lists invoices matching f, oldest first, without their lines.
func (db *DB) Invoices(ctx context.Context, f billing.InvoiceFilter, p billing.Page) ([]billing.Invoice, string, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", billing.Invalid("status", "must be draft, finalized or void")
	}
	var from, to *time.Time
	if !f.PeriodFrom.IsZero() {
		from = &f.PeriodFrom
	}
	if !f.PeriodTo.IsZero() {
		to = &f.PeriodTo
	}
	return listPage(ctx, db, p, `SELECT `+invoiceColumns+` FROM invoices i
		WHERE i.id > $1 AND ($3 = '' OR i.customer_id = $3) AND ($4 = '' OR i.status = $4)
			AND ($5::timestamptz IS NULL OR i.period_start >= $5) AND ($6::timestamptz IS NULL OR i.period_end <= $6)
		ORDER BY i.id LIMIT $2`,
		scanInvoice, func(inv billing.Invoice) string { return inv.ID }, f.CustomerID, string(f.Status), from, to)
}

// UpsertDraft builds or rebuilds the draft invoice of a customer and period from a rated period,
// in one transaction: a re-run replaces the draft's lines, billed tasks and value statement (late
// events change them) and keeps its id. A finalized or void invoice for the period is returned
// unchanged: running the invoice run twice never makes a second invoice.
func (db *DB) UpsertDraft(ctx context.Context, in billing.DraftInput) (inv billing.Invoice, err error) {
	lines, err := draftLines(&in)
	if err != nil {
		return inv, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		inv, err = upsertDraft(ctx, tx, in, lines, db.Now(), periodTasks{})
		return err
	})
	return inv, err
}

// BuildDraft builds or rebuilds the draft invoice of a customer for [from, to): it rates the
// period (RatePeriod), records the billable tasks rated and writes the draft, all from one
// consistent snapshot in one transaction. It is the one idempotent call an invoice run needs:
// calling it again rebuilds the same draft with whatever arrived since, and once the period's
// invoice is finalized (or void) it returns that invoice unchanged without rating anything.
// Concurrent builds of the same period are retried, so they end with one invoice.
func (db *DB) BuildDraft(ctx context.Context, customerID string, from, to time.Time) (inv billing.Invoice, err error) {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return inv, billing.Invalid("period_end", "must be after period_start")
	}
	for attempt := 1; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
			inv, err = buildDraft(ctx, tx, customerID, from, to, db.Now())
			return err
		})
		if err == nil || attempt == 5 || !retryable(err) {
			return inv, err
		}
	}
}

func buildDraft(ctx context.Context, tx pgx.Tx, customerID string, from, to, now time.Time) (billing.Invoice, error) {
	id, status, err := periodInvoice(ctx, tx, customerID, from, to)
	if err != nil {
		return billing.Invoice{}, err
	}
	if status == billing.InvoiceFinalized || status == billing.InvoiceVoid {
		return readInvoice(ctx, tx, id, false)
	}
	res, info, err := ratePeriod(ctx, tx, customerID, from, to)
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("rate customer %s from %s to %s: %w", customerID, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	in := billing.DraftInput{CustomerID: customerID, PeriodStart: from, PeriodEnd: to, Result: res, PlanID: info.PlanID,
		PlanVersion: info.PlanVersion, Notes: billing.InvoiceNotes{UnpricedUsage: info.UnpricedUsage}}
	lines, err := draftLines(&in)
	if err != nil {
		return billing.Invoice{}, err
	}
	// The billed tasks are copied inside the database, by the predicate the rating used and from
	// the same snapshot, rather than read into Go and sent back: for 100,000 tasks that round trip
	// was most of the draft's time.
	return upsertDraft(ctx, tx, in, lines, now, periodTasks{expect: info.Tasks})
}

// recordPeriodTasks makes the draft's billed tasks the customer's tasks that became billable in
// its period, copied inside the database from the snapshot the rating read.
func recordPeriodTasks(ctx context.Context, tx pgx.Tx, id string, in billing.DraftInput, expect int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM invoice_tasks WHERE invoice_id = $1`, id); err != nil {
		return fmt.Errorf("invoice %s: clear tasks: %w", id, err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO invoice_tasks (invoice_id, task_id, outcome_type, outcome, urgent)
		SELECT $1, t.task_id, COALESCE(t.outcome_type, ''), COALESCE(t.outcome, ''), t.priority = 'urgent'
		FROM tasks t WHERE t.customer_id = $2 AND t.status = 'billable' AND t.status_at >= $3 AND t.status_at < $4`,
		id, in.CustomerID, in.PeriodStart, in.PeriodEnd)
	if err != nil {
		return fmt.Errorf("invoice %s: record tasks: %w", id, err)
	}
	if tag.RowsAffected() != expect {
		return fmt.Errorf("invoice %s: rated %d tasks but recorded %d", id, expect, tag.RowsAffected())
	}
	return nil
}

// periodTasks, when expect is set, makes upsertDraft bill every task of the customer that became
// billable in the draft's period (expect of them) instead of the draft input's TaskIDs.
type periodTasks struct {
	expect int64
}

// draftLines validates a draft's input and returns its lines, refusing arithmetic that does not add up.
func draftLines(in *billing.DraftInput) ([]billing.InvoiceLine, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	in.PeriodStart, in.PeriodEnd = in.PeriodStart.UTC(), in.PeriodEnd.UTC()
	draft := billing.Invoice{ID: "(draft)", Currency: in.Result.Currency, Lines: billing.LinesFromResult(in.Result),
		Subtotal: in.Result.Subtotal, CreditsApplied: in.Result.CreditsApplied, Total: in.Result.Total}
	if err := draft.Check(); err != nil {
		return nil, err
	}
	return draft.Lines, nil
}

// upsertDraft is UpsertDraft inside the caller's transaction.
func upsertDraft(ctx context.Context, tx pgx.Tx, in billing.DraftInput, lines []billing.InvoiceLine, now time.Time, period periodTasks) (inv billing.Invoice, err error) {
	cur := in.Result.Currency
	ids := slices.Clone(in.TaskIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if in.Notes.ExpiredCredits == nil {
		in.Notes.ExpiredCredits = in.Result.ExpiredCredits
	}
	if in.Notes.UnpricedOutcomes == nil {
		in.Notes.UnpricedOutcomes = in.Result.Unpriced
	}
	draws, err := json.Marshal(nonNil(in.Result.Draws))
	if err != nil {
		return inv, err
	}
	notes, err := json.Marshal(in.Notes)
	if err != nil {
		return inv, err
	}
	var name, zone string
	err = tx.QueryRow(ctx, `SELECT name, timezone FROM customers WHERE id = $1 FOR SHARE`, in.CustomerID).Scan(&name, &zone)
	if err != nil {
		return inv, interpretError(err, "customer", in.CustomerID)
	}
	vendor, err := vendorProfile(ctx, tx)
	if err != nil {
		return inv, err
	}
	vendorJSON, err := json.Marshal(vendor)
	if err != nil {
		return inv, err
	}
	id, status, err := periodInvoice(ctx, tx, in.CustomerID, in.PeriodStart, in.PeriodEnd)
	if err != nil {
		return inv, err
	}
	if status != "" && status != billing.InvoiceDraft {
		return readInvoice(ctx, tx, id, false)
	}
	if id == "" {
		if id, err = documentID("inv_", now); err != nil {
			return inv, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO invoices (id, customer_id, customer_name, period_start, period_end, currency,
				subtotal, credits_applied, total, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7, $7)
			ON CONFLICT (customer_id, period_start, period_end) WHERE status <> 'void' DO NOTHING`,
			id, in.CustomerID, name, in.PeriodStart, in.PeriodEnd, string(cur), now)
		if err != nil {
			return inv, interpretError(err, "invoice", id)
		}
		if tag.RowsAffected() == 0 {
			// Another run created it a moment ago; rebuild that one.
			if id, status, err = periodInvoice(ctx, tx, in.CustomerID, in.PeriodStart, in.PeriodEnd); err != nil {
				return inv, err
			}
			if status != billing.InvoiceDraft {
				return readInvoice(ctx, tx, id, false)
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM invoice_lines WHERE invoice_id = $1`, id); err != nil {
		return inv, fmt.Errorf("invoice %s: clear lines: %w", id, err)
	}
	if err := insertInvoiceLines(ctx, tx, id, lines); err != nil {
		return inv, err
	}
	if period.expect > 0 {
		if err := recordPeriodTasks(ctx, tx, id, in, period.expect); err != nil {
			return inv, err
		}
	} else {
		if _, err := tx.Exec(ctx, `DELETE FROM invoice_tasks WHERE invoice_id = $1`, id); err != nil {
			return inv, fmt.Errorf("invoice %s: clear tasks: %w", id, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO invoice_tasks (invoice_id, task_id, outcome_type, outcome, urgent)
			SELECT $1, t.task_id, COALESCE(t.outcome_type, ''), COALESCE(t.outcome, ''), t.priority = 'urgent'
			FROM task_keys k JOIN tasks t ON t.task_id = k.task_id AND t.opened_at = k.opened_at
			WHERE k.task_id = ANY($2) AND k.customer_id = $3`, id, ids, in.CustomerID)
		if err != nil {
			return inv, fmt.Errorf("invoice %s: record tasks: %w", id, err)
		}
		if tag.RowsAffected() != int64(len(ids)) {
			return inv, billing.Invalid("task_ids", "%d of the %d tasks are not tasks of customer %q", int64(len(ids))-tag.RowsAffected(), len(ids), in.CustomerID)
		}
	}
	loc, err := billing.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	value, err := valueStatement(ctx, tx, id, in.CustomerID, money.New(in.Result.Total, cur), billing.PeriodMonths(in.PeriodStart, in.PeriodEnd, loc))
	if err != nil {
		return inv, err
	}
	var laborCost, savings decimal.NullDecimal
	var laborCur *string
	if value.LaborCost != nil {
		laborCost = decimal.NullDecimal{Decimal: value.LaborCost.Amount, Valid: true}
		c := string(value.LaborCost.Currency)
		laborCur = &c
	}
	if value.Savings != nil {
		savings = decimal.NullDecimal{Decimal: value.Savings.Amount, Valid: true}
	}
	var planID *string
	var planVersion *int
	if in.PlanID != "" {
		planID, planVersion = &in.PlanID, &in.PlanVersion
	}
	_, err = tx.Exec(ctx, `UPDATE invoices SET customer_name = $2, vendor = $3, currency = $4, plan_id = $5, plan_version = $6,
			subtotal = $7, credits_applied = $8, total = $9, credit_draws = $10, notes = $11,
			value_outcomes = $12, value_hours = $13, value_labor_cost = $14, value_labor_currency = $15,
			value_savings = $16, value_fte = $17, updated_at = $18, timezone = $19
		WHERE id = $1`,
		id, name, vendorJSON, string(cur), planID, planVersion, in.Result.Subtotal, in.Result.CreditsApplied, in.Result.Total,
		draws, notes, value.Outcomes, value.HumanHours, laborCost, laborCur, savings, value.FTE, now, loc.String())
	if err != nil {
		return inv, interpretError(err, "invoice", id)
	}
	if inv, err = readInvoice(ctx, tx, id, false); err != nil {
		return inv, err
	}
	return inv, invoiceDraftedWebhook(ctx, tx, inv, now)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// periodInvoice finds the live invoice of a customer and period under a row lock, or else the
// latest void one; ("", "", nil) when there is none.
func periodInvoice(ctx context.Context, tx pgx.Tx, customerID string, from, to time.Time) (string, billing.InvoiceStatus, error) {
	var id, status string
	err := tx.QueryRow(ctx, `SELECT id, status FROM invoices WHERE customer_id = $1 AND period_start = $2 AND period_end = $3
		ORDER BY status = 'void', created_at DESC, id DESC LIMIT 1 FOR UPDATE`, customerID, from, to).Scan(&id, &status)
	if err == pgx.ErrNoRows {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("invoice of %s for %s–%s: %w", customerID, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return id, billing.InvoiceStatus(status), nil
}

func insertInvoiceLines(ctx context.Context, tx pgx.Tx, id string, lines []billing.InvoiceLine) error {
	b := &pgx.Batch{}
	for _, l := range lines {
		expl, err := json.Marshal(l.Explanation)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO invoice_lines (invoice_id, position, kind, description, outcome_type, meter, quantity, unit_amount,
				amount, explanation, explanation_text)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, l.Position, l.Kind, l.Description, l.OutcomeType, l.Meter, l.Quantity, nullableDecimal(l.UnitAmount),
			l.Amount, expl, l.ExplanationText)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("invoice %s: write lines: %w", id, err)
	}
	return nil
}

// valueStatement computes the value statement of an invoice from the tasks recorded with it and
// the labor baselines in force (a customer's override winning over the outcome type's).
func valueStatement(ctx context.Context, tx pgx.Tx, invoiceID, customerID string, amount money.Money, months decimal.Decimal) (billing.ValueStatement, error) {
	rows, err := tx.Query(ctx, `
		SELECT it.outcome, count(*), COALESCE(bo.human_minutes, o.human_minutes, 0), COALESCE(bo.annual_cost, o.annual_cost, 0),
			COALESCE(bo.annual_cost_currency, o.annual_cost_currency, ''), COALESCE(bo.productive_hours, o.productive_hours, 0)
		FROM invoice_tasks it
		LEFT JOIN outcome_types o ON o.key = it.outcome_type
		LEFT JOIN baseline_overrides bo ON bo.customer_id = $2 AND bo.outcome_type = it.outcome_type
		WHERE it.invoice_id = $1
		GROUP BY 1, 3, 4, 5, 6 ORDER BY 1, 3, 4, 5, 6`, invoiceID, customerID)
	if err != nil {
		return billing.ValueStatement{}, fmt.Errorf("invoice %s value statement: %w", invoiceID, err)
	}
	basis, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.ValueBasis, error) {
		var b billing.ValueBasis
		var outcome, cur string
		err := r.Scan(&outcome, &b.Count, &b.Baseline.HumanMinutes, &b.Baseline.AnnualCost.Amount, &cur, &b.Baseline.ProductiveHours)
		b.Outcome, b.Baseline.AnnualCost.Currency = billing.OutcomeStatus(outcome), money.Currency(cur)
		return b, err
	})
	if err != nil {
		return billing.ValueStatement{}, fmt.Errorf("invoice %s value statement: %w", invoiceID, err)
	}
	return billing.NewValueStatement(amount, months, basis), nil
}

// nextNumber takes the next number of a series for a year. The UPDATE holds the counter row's lock
// until the calling transaction ends, so concurrent callers queue and numbers have no gaps: a
// transaction that rolls back gives its number back with it.
func nextNumber(ctx context.Context, tx pgx.Tx, series string, year int) (string, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO invoice_numbers (series, year) VALUES ($1, $2) ON CONFLICT DO NOTHING`, series, year); err != nil {
		return "", fmt.Errorf("%s numbers %d: %w", series, year, err)
	}
	var n int64
	if err := tx.QueryRow(ctx, `UPDATE invoice_numbers SET last = last + 1 WHERE series = $1 AND year = $2 RETURNING last`,
		series, year).Scan(&n); err != nil {
		return "", fmt.Errorf("%s numbers %d: %w", series, year, err)
	}
	return billing.DocumentNumber(series, year, n), nil
}

// FinalizeInvoice makes a draft final: it checks that the totals are the sums of the lines, draws
// the prepaid credit the draft applied from the customer's grants, and assigns the next gapless
// number and today's issue date (UTC), all in one transaction. Finalizing a finalized invoice
// returns it unchanged; a void one is a conflict.
func (db *DB) FinalizeInvoice(ctx context.Context, id string) (inv billing.Invoice, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		inv, err = readInvoice(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch inv.Status {
		case billing.InvoiceFinalized:
			return nil
		case billing.InvoiceVoid:
			return billing.Errorf(billing.ECONFLICT, "invoice %s is void and cannot be finalized", id)
		}
		if err := inv.Check(); err != nil {
			return err
		}
		now := db.Now().UTC()
		if len(inv.Draws) > 0 {
			if err := applyCreditDraws(ctx, tx, inv.CustomerID, inv.ID, inv.Draws, now); err != nil {
				return fmt.Errorf("invoice %s: %w", id, err)
			}
		}
		number, err := nextNumber(ctx, tx, billing.SeriesInvoice, now.Year())
		if err != nil {
			return err
		}
		issue := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		if _, err := tx.Exec(ctx, `UPDATE invoices SET status = 'finalized', number = $2, issue_date = $3, finalized_at = $4, updated_at = $4
			WHERE id = $1`, id, number, issue, now); err != nil {
			return interpretError(err, "invoice", id)
		}
		if inv, err = readInvoice(ctx, tx, id, false); err != nil {
			return err
		}
		return invoiceFinalizedWebhook(ctx, tx, inv, now)
	})
	return inv, err
}

// VoidInvoice voids a finalized invoice, keeping its number (numbers are never reused). reason is
// required. Voiding a void invoice again with the same reason returns it; a draft cannot be voided
// (it has no number; the next run rebuilds it).
func (db *DB) VoidInvoice(ctx context.Context, id, reason string) (inv billing.Invoice, err error) {
	reason, err = billing.CheckVoidReason(reason)
	if err != nil {
		return inv, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		inv, err = readInvoice(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch inv.Status {
		case billing.InvoiceDraft:
			return billing.Errorf(billing.ECONFLICT, "invoice %s is a draft; only a finalized invoice can be voided", id)
		case billing.InvoiceVoid:
			if inv.VoidReason == reason {
				return nil
			}
			return billing.Errorf(billing.ECONFLICT, "invoice %s is already void (%s)", id, inv.VoidReason)
		}
		if _, err := tx.Exec(ctx, `UPDATE invoices SET status = 'void', void_reason = $2, voided_at = $3 WHERE id = $1`,
			id, reason, db.Now()); err != nil {
			return interpretError(err, "invoice", id)
		}
		if inv, err = readInvoice(ctx, tx, id, false); err != nil {
			return err
		}
		return invoiceVoidedWebhook(ctx, tx, inv, db.Now())
	})
	return inv, err
}

// PendingCredits lists the tasks that finalized invoices billed and that are no longer billable
// (disputed, cancelled or failed after all) and have no credit note yet, by invoice number.
func (db *DB) PendingCredits(ctx context.Context, customerID string) ([]billing.BilledTask, error) {
	return pendingCredits(ctx, db.Pool, customerID)
}

func pendingCredits(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, customerID string) ([]billing.BilledTask, error) {
	rows, err := q.Query(ctx, `
		SELECT it.invoice_id, i.number, it.task_id, it.outcome_type, it.outcome, it.urgent
		FROM invoice_tasks it
		JOIN invoices i ON i.id = it.invoice_id
		JOIN task_keys k ON k.task_id = it.task_id
		JOIN tasks t ON t.task_id = k.task_id AND t.opened_at = k.opened_at
		WHERE i.customer_id = $1 AND i.status = 'finalized' AND t.status = 'not_billable'
			AND NOT EXISTS (SELECT 1 FROM credit_note_lines c WHERE c.invoice_id = it.invoice_id AND c.task_id = it.task_id)
		ORDER BY i.number, it.task_id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("pending credits of %s: %w", customerID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.BilledTask, error) {
		var t billing.BilledTask
		var outcome string
		err := r.Scan(&t.InvoiceID, &t.InvoiceNumber, &t.TaskID, &t.OutcomeType, &outcome, &t.Urgent)
		t.Outcome = billing.OutcomeStatus(outcome)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("pending credits of %s: %w", customerID, err)
	}
	return out, nil
}

// CreateCreditNotes issues credit notes for every pending credit of a customer — one note per
// currency, each with the next number of the credit-note series — and returns them; none when
// nothing is pending. It holds the customer's row lock, so two runs at once issue each credit once.
func (db *DB) CreateCreditNotes(ctx context.Context, customerID string) (notes []billing.CreditNote, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		notes = nil
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM customers WHERE id = $1 FOR UPDATE`, customerID).Scan(&one); err != nil {
			return interpretError(err, "customer", customerID)
		}
		pending, err := pendingCredits(ctx, tx, customerID)
		if err != nil || len(pending) == 0 {
			return err
		}
		now := db.Now().UTC()
		byCurrency := map[money.Currency][]billing.CreditNoteLine{}
		var order []money.Currency
		invoices := map[string]billing.Invoice{}
		for start := 0; start < len(pending); {
			end := start
			for end < len(pending) && pending[end].InvoiceID == pending[start].InvoiceID {
				end++
			}
			invID := pending[start].InvoiceID
			inv, ok := invoices[invID]
			if !ok {
				if inv, err = readInvoice(ctx, tx, invID, false); err != nil {
					return err
				}
				invoices[invID] = inv
			}
			if _, seen := byCurrency[inv.Currency]; !seen {
				order = append(order, inv.Currency)
			}
			byCurrency[inv.Currency] = append(byCurrency[inv.Currency], billing.CreditLines(inv, pending[start:end])...)
			start = end
		}
		for _, cur := range order {
			lines := byCurrency[cur]
			id, err := documentID("cn_", now)
			if err != nil {
				return err
			}
			number, err := nextNumber(ctx, tx, billing.SeriesCreditNote, now.Year())
			if err != nil {
				return err
			}
			cn := billing.CreditNote{ID: id, Number: number, CustomerID: customerID, Currency: cur,
				IssueDate: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), CreatedAt: now}
			for i := range lines {
				lines[i].Position = i + 1
				cn.Total = cn.Total.Add(lines[i].Amount)
			}
			cn.Lines = lines
			if _, err := tx.Exec(ctx, `INSERT INTO credit_notes (id, number, customer_id, currency, issue_date, total, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, cn.ID, cn.Number, customerID, string(cur), cn.IssueDate, cn.Total, now); err != nil {
				return interpretError(err, "credit note", cn.ID)
			}
			b := &pgx.Batch{}
			for _, l := range lines {
				b.Queue(`INSERT INTO credit_note_lines (credit_note_id, position, invoice_id, task_id, description, amount, explanation)
					VALUES ($1, $2, $3, $4, $5, $6, $7)`, cn.ID, l.Position, l.InvoiceID, l.TaskID, l.Description, l.Amount, l.Explanation)
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return interpretError(err, "credit note", cn.ID)
			}
			if err := creditNoteWebhook(ctx, tx, cn, now); err != nil {
				return err
			}
			notes = append(notes, cn)
		}
		return nil
	})
	return notes, err
}

const creditNoteColumns = `n.id, n.number, n.customer_id, n.currency, n.issue_date, n.total, n.created_at`

// CreditNotes lists credit notes with their lines, oldest first; customerID "" lists every
// customer's.
func (db *DB) CreditNotes(ctx context.Context, customerID string, p billing.Page) ([]billing.CreditNote, string, error) {
	notes, next, err := listPage(ctx, db, p, `SELECT `+creditNoteColumns+` FROM credit_notes n
		WHERE n.id > $1 AND ($3 = '' OR n.customer_id = $3) ORDER BY n.id LIMIT $2`,
		func(r pgx.Row) (billing.CreditNote, error) {
			var n billing.CreditNote
			var cur string
			err := r.Scan(&n.ID, &n.Number, &n.CustomerID, &cur, &n.IssueDate, &n.Total, &n.CreatedAt)
			n.Currency, n.CreatedAt = money.Currency(cur), n.CreatedAt.UTC()
			n.IssueDate = time.Date(n.IssueDate.Year(), n.IssueDate.Month(), n.IssueDate.Day(), 0, 0, 0, 0, time.UTC)
			return n, err
		}, func(n billing.CreditNote) string { return n.ID }, customerID)
	if err != nil || len(notes) == 0 {
		return notes, next, err
	}
	ids := make([]string, len(notes))
	index := make(map[string]int, len(notes))
	for i, n := range notes {
		ids[i], index[n.ID] = n.ID, i
	}
	rows, err := db.Pool.Query(ctx, `SELECT l.credit_note_id, l.position, l.invoice_id, COALESCE(i.number, ''), l.task_id, l.description,
			l.amount, l.explanation
		FROM credit_note_lines l JOIN invoices i ON i.id = l.invoice_id
		WHERE l.credit_note_id = ANY($1) ORDER BY l.credit_note_id, l.position`, ids)
	if err != nil {
		return nil, "", fmt.Errorf("credit note lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var noteID string
		var l billing.CreditNoteLine
		if err := rows.Scan(&noteID, &l.Position, &l.InvoiceID, &l.InvoiceNumber, &l.TaskID, &l.Description, &l.Amount, &l.Explanation); err != nil {
			return nil, "", fmt.Errorf("credit note lines: %w", err)
		}
		n := &notes[index[noteID]]
		n.Lines = append(n.Lines, l)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("credit note lines: %w", err)
	}
	return notes, next, nil
}
