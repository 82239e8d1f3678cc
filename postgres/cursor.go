package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// listPage runs query (which takes the cursor key as $1 and the row limit as $2, and orders by that
// key) and returns at most p.limit() rows with the cursor of the next page.
func listPage[T any](ctx context.Context, db *DB, p Page, query string, scan func(pgx.Row) (T, error), key func(T) string, args ...any) ([]T, string, error) {
	after, err := p.after()
	if err != nil {
		return nil, "", err
	}
	limit := p.limit()
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
