package devenv

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestStandbyReplaysAndRefusesWrites(t *testing.T) {
	skipWithoutPostgres(t)
	dir := t.TempDir()
	primary := startPostgres(t, filepath.Join(dir, "primary"))
	exec1(t, primary.URL(DatabaseName), "CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")

	standby, err := primary.StartStandby(t.Context(), PostgresOptions{DataDir: filepath.Join(dir, "standby")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := standby.Stop(); err != nil {
			t.Error(err)
		}
		if abs, _ := filepath.Abs(filepath.Join(dir, "standby")); standby.DataDir() != abs {
			removeFallback(standby)
		}
	})
	if standby.Port() == primary.Port() {
		t.Fatalf("standby on the primary's port %d", primary.Port())
	}
	if got := queryInt(t, standby.URL(DatabaseName), "SELECT pg_is_in_recovery()::int"); got != 1 {
		t.Fatal("the standby is not in recovery")
	}

	// A change committed on the primary after the copy reaches the standby.
	exec1(t, primary.URL(DatabaseName), "INSERT INTO kept VALUES (2)")
	if err := standby.CatchUp(t.Context(), primary); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, standby.URL(DatabaseName), "SELECT sum(n)::int FROM kept"); got != 3 {
		t.Errorf("sum on the standby = %d, want 3", got)
	}

	conn, err := pgx.Connect(t.Context(), standby.URL(DatabaseName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), "INSERT INTO kept VALUES (3)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Errorf("write on the standby: %v, want read_only_sql_transaction", err)
	}
}
