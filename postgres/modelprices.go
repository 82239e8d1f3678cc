package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
)

const modelPriceColumns = `model, effective_from, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok,
	output_per_mtok, reasoning_per_mtok, source, as_of, origin, created_at`

// scanModelPrice scans modelPriceColumns after any leading destinations the query returns first.
func scanModelPrice(row pgx.Row, leading ...any) (billing.ModelPrice, error) {
	var p billing.ModelPrice
	var reasoning decimal.NullDecimal
	var asOf *time.Time
	err := row.Scan(append(leading, &p.Model, &p.EffectiveFrom, &p.Input, &p.CachedInput, &p.CacheWrite, &p.Output,
		&reasoning, &p.Source, &asOf, &p.Origin, &p.CreatedAt)...)
	if reasoning.Valid {
		p.Reasoning = &reasoning.Decimal
	}
	if asOf != nil {
		p.AsOf = *asOf
	}
	p.EffectiveFrom = p.EffectiveFrom.UTC()
	return p, err
}

func nullableDecimal(d *decimal.Decimal) decimal.NullDecimal {
	if d == nil {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: *d, Valid: true}
}

func insertModelPrice(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, p billing.ModelPrice, now time.Time) (billing.ModelPrice, error) {
	var asOf *time.Time
	if !p.AsOf.IsZero() {
		asOf = &p.AsOf
	}
	return scanModelPrice(q.QueryRow(ctx, `
		INSERT INTO model_prices (model, effective_from, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok,
			output_per_mtok, reasoning_per_mtok, source, as_of, origin, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (model, origin, effective_from) DO NOTHING
		RETURNING `+modelPriceColumns,
		p.Model, p.EffectiveFrom, p.Input, p.CachedInput, p.CacheWrite, p.Output, nullableDecimal(p.Reasoning),
		p.Source, asOf, p.Origin, now))
}

// SeedModelCatalog inserts the shipped catalog rows that are not there yet. It never touches
// vendor rows, and running it again changes nothing.
func (db *DB) SeedModelCatalog(ctx context.Context) error {
	rows, err := billing.ModelCatalog()
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, p := range rows {
			if _, err := insertModelPrice(ctx, tx, p, db.Now()); err != nil && err != pgx.ErrNoRows {
				return interpretError(err, "model price", p.Model)
			}
		}
		return nil
	})
}

// AddModelPrice stores a vendor price row for a model from p.EffectiveFrom on. Sending the same row
// again is a no-op (created=false); a different row for the same model and time is a conflict,
// because tasks may already have been costed with the first one.
func (db *DB) AddModelPrice(ctx context.Context, p billing.ModelPrice) (out billing.ModelPrice, created bool, err error) {
	p.Origin = billing.PriceOriginVendor
	if p.Source == "" {
		p.Source = "vendor override"
	}
	if err := p.Validate(); err != nil {
		return out, false, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		out, err = insertModelPrice(ctx, tx, p, db.Now())
		if err == nil {
			created = true
			return db.costUnpricedUsage(ctx, tx, p.Model)
		}
		if err != pgx.ErrNoRows {
			return interpretError(err, "model price", p.Model)
		}
		out, err = scanModelPrice(tx.QueryRow(ctx, `SELECT `+modelPriceColumns+` FROM model_prices
			WHERE model = $1 AND origin = 'vendor' AND effective_from = $2`, p.Model, p.EffectiveFrom))
		if err != nil {
			return interpretError(err, "model price", p.Model)
		}
		if !samePrices(out, p) {
			return billing.Errorf(billing.ECONFLICT, "model %q already has a different vendor price from %s; send a new effective_from",
				p.Model, p.EffectiveFrom.Format(time.RFC3339))
		}
		return nil
	})
	return out, created, err
}

func samePrices(a, b billing.ModelPrice) bool {
	ra, rb := nullableDecimal(a.Reasoning), nullableDecimal(b.Reasoning)
	return a.Input.Equal(b.Input) && a.CachedInput.Equal(b.CachedInput) && a.CacheWrite.Equal(b.CacheWrite) &&
		a.Output.Equal(b.Output) && ra.Valid == rb.Valid && ra.Decimal.Equal(rb.Decimal)
}

// ModelPrices lists price rows by model, then effective date, then origin; a non-empty model
// narrows the list to that model.
func (db *DB) ModelPrices(ctx context.Context, model string, p billing.Page) ([]billing.ModelPrice, string, error) {
	// Ordered by model and effective date, the way people read a price list; the cursor is the
	// row's position in that order, encoded as model|effective_from|origin.
	return listPage(ctx, db, p, `SELECT `+modelPriceColumns+` FROM model_prices
		WHERE (model || '|' || to_char(effective_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' || origin) COLLATE "C" > $1
		  AND ($3 = '' OR model = $3)
		ORDER BY model || '|' || to_char(effective_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' || origin COLLATE "C" LIMIT $2`,
		scanModelPriceRow, modelPriceKey, model)
}

func scanModelPriceRow(r pgx.Row) (billing.ModelPrice, error) { return scanModelPrice(r) }

func modelPriceKey(p billing.ModelPrice) string {
	return p.Model + "|" + p.EffectiveFrom.UTC().Format("2006-01-02T15:04:05.000000") + "|" + p.Origin
}
