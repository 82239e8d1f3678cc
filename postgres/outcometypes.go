package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

const outcomeTypeColumns = `key, name, description, human_minutes, annual_cost, annual_cost_currency, productive_hours,
	dispute_window_seconds, task_timeout_seconds, created_at, updated_at`

// scanOutcomeType scans outcomeTypeColumns, then any extra destinations the query returns after them.
func scanOutcomeType(row pgx.Row, extra ...any) (billing.OutcomeType, error) {
	var o billing.OutcomeType
	var cur string
	var window, timeout int64
	err := row.Scan(append([]any{&o.Key, &o.Name, &o.Description, &o.Baseline.HumanMinutes, &o.Baseline.AnnualCost.Amount, &cur,
		&o.Baseline.ProductiveHours, &window, &timeout, &o.CreatedAt, &o.UpdatedAt}, extra...)...)
	o.Baseline.AnnualCost.Currency = money.Currency(cur)
	o.DisputeWindow = time.Duration(window) * time.Second
	o.TaskTimeout = time.Duration(timeout) * time.Second
	return o, err
}

// PutOutcomeType creates or replaces an outcome type. created reports which.
func (db *DB) PutOutcomeType(ctx context.Context, o billing.OutcomeType) (out billing.OutcomeType, created bool, err error) {
	if err := o.Validate(); err != nil {
		return billing.OutcomeType{}, false, err
	}
	b := o.Baseline
	// xmax = 0 only on a row this statement inserted: it tells an insert from an update in one trip.
	out, err = scanOutcomeType(db.Pool.QueryRow(ctx, `
		INSERT INTO outcome_types (key, name, description, human_minutes, annual_cost, annual_cost_currency,
			productive_hours, dispute_window_seconds, task_timeout_seconds, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
		ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
			human_minutes = EXCLUDED.human_minutes, annual_cost = EXCLUDED.annual_cost,
			annual_cost_currency = EXCLUDED.annual_cost_currency, productive_hours = EXCLUDED.productive_hours,
			dispute_window_seconds = EXCLUDED.dispute_window_seconds, task_timeout_seconds = EXCLUDED.task_timeout_seconds,
			updated_at = EXCLUDED.updated_at
		RETURNING `+outcomeTypeColumns+`, xmax = 0`,
		o.Key, o.Name, o.Description, b.HumanMinutes, b.AnnualCost.Amount, string(b.AnnualCost.Currency),
		b.ProductiveHours, int64(o.DisputeWindow/time.Second), int64(o.TaskTimeout/time.Second), db.Now(),
	), &created)
	return out, created, interpretError(err, "outcome type", o.Key)
}

// OutcomeType returns one outcome type.
func (db *DB) OutcomeType(ctx context.Context, key string) (billing.OutcomeType, error) {
	o, err := scanOutcomeType(db.Pool.QueryRow(ctx, `SELECT `+outcomeTypeColumns+` FROM outcome_types WHERE key = $1`, key))
	return o, interpretError(err, "outcome type", key)
}

// OutcomeTypes lists outcome types by key.
func (db *DB) OutcomeTypes(ctx context.Context, p billing.Page) ([]billing.OutcomeType, string, error) {
	return listPage(ctx, db, p, `SELECT `+outcomeTypeColumns+` FROM outcome_types WHERE key > $1 ORDER BY key LIMIT $2`,
		func(r pgx.Row) (billing.OutcomeType, error) { return scanOutcomeType(r) }, func(o billing.OutcomeType) string { return o.Key })
}

// PutBaselineOverride sets a customer's own labor figures for an outcome type. Both must exist.
func (db *DB) PutBaselineOverride(ctx context.Context, o billing.BaselineOverride) (out billing.BaselineOverride, created bool, err error) {
	if err := o.Baseline.Validate("baseline"); err != nil {
		return out, false, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustExist(ctx, tx, "customer", `SELECT 1 FROM customers WHERE id = $1`, o.CustomerID); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, "outcome type", `SELECT 1 FROM outcome_types WHERE key = $1`, o.OutcomeType); err != nil {
			return err
		}
		b := o.Baseline
		var cur string
		err := tx.QueryRow(ctx, `
			INSERT INTO baseline_overrides (customer_id, outcome_type, human_minutes, annual_cost, annual_cost_currency,
				productive_hours, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (customer_id, outcome_type) DO UPDATE SET human_minutes = EXCLUDED.human_minutes,
				annual_cost = EXCLUDED.annual_cost, annual_cost_currency = EXCLUDED.annual_cost_currency,
				productive_hours = EXCLUDED.productive_hours, updated_at = EXCLUDED.updated_at
			RETURNING customer_id, outcome_type, human_minutes, annual_cost, annual_cost_currency, productive_hours,
				updated_at, xmax = 0`,
			o.CustomerID, o.OutcomeType, b.HumanMinutes, b.AnnualCost.Amount, string(b.AnnualCost.Currency),
			b.ProductiveHours, db.Now(),
		).Scan(&out.CustomerID, &out.OutcomeType, &out.Baseline.HumanMinutes, &out.Baseline.AnnualCost.Amount, &cur,
			&out.Baseline.ProductiveHours, &out.UpdatedAt, &created)
		out.Baseline.AnnualCost.Currency = money.Currency(cur)
		return interpretError(err, "baseline", o.CustomerID+"/"+o.OutcomeType)
	})
	return out, created, err
}

// DeleteBaselineOverride removes a customer's override; the outcome type's baseline applies again.
func (db *DB) DeleteBaselineOverride(ctx context.Context, customerID, outcomeType string) error {
	tag, err := db.Pool.Exec(ctx, `DELETE FROM baseline_overrides WHERE customer_id = $1 AND outcome_type = $2`, customerID, outcomeType)
	if err != nil {
		return interpretError(err, "baseline", customerID+"/"+outcomeType)
	}
	if tag.RowsAffected() == 0 {
		return billing.NotFound("baseline override", customerID+"/"+outcomeType)
	}
	return nil
}

func mustExist(ctx context.Context, tx pgx.Tx, kind, query, id string) error {
	var one int
	return interpretError(tx.QueryRow(ctx, query, id).Scan(&one), kind, id)
}
