package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
)

const invoiceRunColumns = `id, customer_id, period_start, period_end, status, tasks_total, tasks_rated, COALESCE(invoice_id, ''),
	credit_notes, error, runs, created_at, updated_at`

func scanInvoiceRun(row pgx.Row) (billing.InvoiceRun, error) {
	var r billing.InvoiceRun
	err := row.Scan(&r.ID, &r.CustomerID, &r.Period.Start, &r.Period.End, &r.Status, &r.TasksTotal, &r.TasksRated, &r.InvoiceID,
		&r.CreditNotes, &r.Error, &r.Runs, &r.CreatedAt, &r.UpdatedAt)
	r.Period.Start, r.Period.End = r.Period.Start.UTC(), r.Period.End.UTC()
	return r, err
}

// QueueInvoiceRun records that a run of customerID for period p was asked for and returns it:
// the existing row (its count of runs raised by one) when the same run was asked for before.
func (db *DB) QueueInvoiceRun(ctx context.Context, customerID string, p billing.Period) (billing.InvoiceRun, error) {
	if _, err := db.Customer(ctx, customerID); err != nil {
		return billing.InvoiceRun{}, err
	}
	id := billing.InvoiceRunID(customerID, p)
	r, err := scanInvoiceRun(db.Pool.QueryRow(ctx, `
		INSERT INTO invoice_runs (id, customer_id, period_start, period_end, status, runs, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'queued', 1, $5, $5)
		ON CONFLICT (id) DO UPDATE SET runs = invoice_runs.runs + 1, updated_at = EXCLUDED.updated_at,
			status = CASE WHEN invoice_runs.status IN ('drafted', 'failed') THEN 'queued' ELSE invoice_runs.status END, error = ''
		RETURNING `+invoiceRunColumns, id, customerID, p.Start, p.End, db.Now()))
	return r, interpretError(err, "invoice run", id)
}

// UpdateInvoiceRun writes a run's progress as its workflow reports it, creating the row if the
// run was started by a schedule rather than through QueueInvoiceRun.
func (db *DB) UpdateInvoiceRun(ctx context.Context, r billing.InvoiceRun) error {
	if r.CreditNotes == nil {
		r.CreditNotes = []string{}
	}
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO invoice_runs (id, customer_id, period_start, period_end, status, tasks_total, tasks_rated, invoice_id,
			credit_notes, error, runs, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), $9, $10, 1, $11, $11)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, tasks_total = EXCLUDED.tasks_total,
			tasks_rated = EXCLUDED.tasks_rated, invoice_id = COALESCE(EXCLUDED.invoice_id, invoice_runs.invoice_id),
			credit_notes = EXCLUDED.credit_notes, error = EXCLUDED.error, updated_at = EXCLUDED.updated_at`,
		r.ID, r.CustomerID, r.Period.Start, r.Period.End, string(r.Status), r.TasksTotal, r.TasksRated, r.InvoiceID,
		r.CreditNotes, r.Error, db.Now())
	if err != nil {
		return fmt.Errorf("invoice run %s: %w", r.ID, err)
	}
	return nil
}

// InvoiceRun returns one run.
func (db *DB) InvoiceRun(ctx context.Context, id string) (billing.InvoiceRun, error) {
	r, err := scanInvoiceRun(db.Pool.QueryRow(ctx, `SELECT `+invoiceRunColumns+` FROM invoice_runs WHERE id = $1`, id))
	return r, interpretError(err, "invoice run", id)
}

// CountBillable counts a customer's tasks that became billable in p: the run's total.
func (db *DB) CountBillable(ctx context.Context, customerID string, p billing.Period) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE customer_id = $1 AND status = 'billable'
		AND status_at >= $2 AND status_at < $3`, customerID, p.Start, p.End).Scan(&n)
	return n, err
}
