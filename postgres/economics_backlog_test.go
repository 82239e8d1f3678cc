package postgres_test

import (
	"context"
	"testing"

	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// The backlog is what the folder has left, counted up to the limit, and zero once it is folded.
func TestEconomicsBacklog(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO economics_dirty (task_id, customer_id)
		SELECT 't' || i, 'acme' FROM generate_series(1, 3) i`); err != nil {
		t.Fatal(err)
	}
	for limit, want := range map[int]int64{10: 3, 2: 2} {
		if n, err := db.EconomicsBacklog(ctx, limit); err != nil || n != want {
			t.Errorf("EconomicsBacklog(%d) = %d, %v; want %d", limit, n, err, want)
		}
	}
	if _, err := db.FoldEconomics(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if n, err := db.EconomicsBacklog(ctx, 10); err != nil || n != 0 {
		t.Errorf("after folding: %d, %v; want 0", n, err)
	}
}
