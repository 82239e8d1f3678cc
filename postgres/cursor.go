package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
)

// listPage runs query (which takes the cursor key as $1 and the row limit as $2, and orders by that
// key) and returns at most limitOf(p) rows with the cursor of the next page.
func listPage[T any](ctx context.Context, db *DB, p billing.Page, query string, scan func(pgx.Row) (T, error), key func(T) string, args ...any) ([]T, string, error) {
	after, err := cursorKey(p)
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(p)
	rows, err := db.Pool.Query(ctx, query, append([]any{after, limit + 1}, args...)...)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = encodeCursor(key(list[limit-1]))
	}
	return list, next, nil
}
