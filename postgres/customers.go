package postgres

import (
	"context"
	"encoding/base64"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

const customerColumns = `id, name, currency, timezone, billing_anchor_day, created_at, updated_at`

func scanCustomer(row pgx.Row) (billing.Customer, error) {
	var c billing.Customer
	var cur string
	err := row.Scan(&c.ID, &c.Name, &cur, &c.Timezone, &c.AnchorDay, &c.CreatedAt, &c.UpdatedAt)
	c.Currency = money.Currency(cur)
	return c, err
}

// CreateCustomer stores c. Creating the same customer again with the same fields returns the stored
// one with created=false, so that a client may retry; other fields under the same id are a conflict.
func (db *DB) CreateCustomer(ctx context.Context, c billing.Customer) (out billing.Customer, created bool, err error) {
	if err := c.Validate(); err != nil {
		return billing.Customer{}, false, err
	}
	now := db.Now()
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		out, err = scanCustomer(tx.QueryRow(ctx, `
			INSERT INTO customers (id, name, currency, timezone, billing_anchor_day, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (id) DO NOTHING
			RETURNING `+customerColumns, c.ID, c.Name, string(c.Currency), c.Timezone, c.AnchorDay, now))
		if err == nil {
			created = true
			return nil
		}
		if err != pgx.ErrNoRows {
			return interpretError(err, "customer", c.ID)
		}
		out, err = scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, c.ID))
		if err != nil {
			return interpretError(err, "customer", c.ID)
		}
		if out.Name != c.Name || out.Currency != c.Currency || out.Timezone != c.Timezone || out.AnchorDay != c.AnchorDay {
			return billing.Errorf(billing.ECONFLICT, "customer %q already exists with other fields; use PATCH to change it", c.ID)
		}
		return nil
	})
	return out, created, err
}

// Customer returns one customer.
func (db *DB) Customer(ctx context.Context, id string) (billing.Customer, error) {
	c, err := scanCustomer(db.Pool.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
	return c, interpretError(err, "customer", id)
}

// UpdateCustomer applies p to customer id under a row lock, validating the result as a whole.
func (db *DB) UpdateCustomer(ctx context.Context, id string, p billing.CustomerPatch) (out billing.Customer, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return interpretError(err, "customer", id)
		}
		if p.Name != nil {
			c.Name = *p.Name
		}
		if p.Currency != nil {
			c.Currency = *p.Currency
		}
		if p.Timezone != nil {
			c.Timezone = *p.Timezone
		}
		if p.AnchorDay != nil {
			c.AnchorDay = *p.AnchorDay
		}
		if err := c.Validate(); err != nil {
			return err
		}
		out, err = scanCustomer(tx.QueryRow(ctx, `
			UPDATE customers SET name = $2, currency = $3, timezone = $4, billing_anchor_day = $5, updated_at = $6
			WHERE id = $1 RETURNING `+customerColumns,
			id, c.Name, string(c.Currency), c.Timezone, c.AnchorDay, db.Now()))
		return interpretError(err, "customer", id)
	})
	return out, err
}

// limit is the page size asked for, within the API's bounds.
func limitOf(p billing.Page) int {
	if p.Limit <= 0 {
		return billing.DefaultPageLimit
	}
	return min(p.Limit, billing.MaxPageLimit)
}

// after decodes the cursor: the sort key of the last row of the previous page.
func cursorKey(p billing.Page) (string, error) {
	if p.Cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return "", billing.Invalid("cursor", "is not a cursor this API returned")
	}
	return string(b), nil
}

func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// Customers lists customers by id. next is the cursor of the following page, "" on the last one.
func (db *DB) Customers(ctx context.Context, p billing.Page) ([]billing.Customer, string, error) {
	return listPage(ctx, db, p, `SELECT `+customerColumns+` FROM customers WHERE id > $1 ORDER BY id LIMIT $2`,
		scanCustomer, func(c billing.Customer) string { return c.ID })
}
