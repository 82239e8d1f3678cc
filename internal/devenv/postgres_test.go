package devenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// requireServices reports whether a missing dependency must fail the test
// instead of skipping it (set by `outcomebill testenv` and CI).
func requireServices() bool { return os.Getenv("OUTCOMEBILL_REQUIRE_SERVICES") == "1" }

func skipWithoutPostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real PostgreSQL server; skipped with -short")
	}
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := exec.LookPath(bin); err != nil {
			if requireServices() {
				t.Fatalf("%s not found and OUTCOMEBILL_REQUIRE_SERVICES=1: %v", bin, err)
			}
			t.Skipf("%s not found: %v", bin, err)
		}
	}
}

// startPostgres starts a server in a fresh t.TempDir() and stops it, and
// removes any root fallback cluster, when the test ends.
func startPostgres(t *testing.T, dataDir string) *Postgres {
	t.Helper()
	pg, err := StartPostgres(t.Context(), PostgresOptions{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
		if abs, _ := filepath.Abs(dataDir); pg.DataDir() != abs {
			removeFallback(pg)
		}
	})
	return pg
}

// removeFallback removes the cluster that running as root put outside the
// requested directory (see the package doc).
func removeFallback(pg *Postgres) { os.RemoveAll(filepath.Dir(pg.DataDir())) }

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func exec1(t *testing.T, url, sql string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestPostgresRestartKeepsData(t *testing.T) {
	skipWithoutPostgres(t)
	dataDir := filepath.Join(t.TempDir(), "pg")
	start := time.Now()
	pg := startPostgres(t, dataDir)
	t.Logf("initdb+start: %s (data in %s)", time.Since(start), pg.DataDir())

	if got := queryInt(t, pg.URL(DatabaseName), "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
	exec1(t, pg.URL(DatabaseName), "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")

	port := pg.Port()
	start = time.Now()
	if err := pg.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: %s", time.Since(start))
	if pg.Port() != port {
		t.Errorf("port after restart = %d, want %d", pg.Port(), port)
	}
	if got := queryInt(t, pg.URL(DatabaseName), "SELECT n FROM kept"); got != 42 {
		t.Errorf("after restart: n = %d, want 42", got)
	}

	// A second StartPostgres on the same directory reuses the cluster.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	pg2 := startPostgres(t, dataDir)
	t.Logf("start on existing data dir: %s", time.Since(start))
	if pg2.DataDir() != pg.DataDir() {
		t.Errorf("data dir = %s, want %s", pg2.DataDir(), pg.DataDir())
	}
	if got := queryInt(t, pg2.URL(DatabaseName), "SELECT n FROM kept"); got != 42 {
		t.Errorf("second start: n = %d, want 42", got)
	}
}

func TestPostgresStalePID(t *testing.T) {
	skipWithoutPostgres(t)
	pg := startPostgres(t, filepath.Join(t.TempDir(), "pg"))
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	// Pretend the previous server crashed: a postmaster.pid naming a
	// process that has exited, and one naming a live unrelated process
	// (this test), which postgres alone would refuse.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{dead.Process.Pid, os.Getpid()} {
		pidFile := filepath.Join(pg.DataDir(), "postmaster.pid")
		content := strconv.Itoa(pid) + "\n" + pg.DataDir() + "\n0\n" + strconv.Itoa(pg.Port()) + "\n\n127.0.0.1\n  0  0\nready\n"
		if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := pg.Restart(context.Background()); err != nil {
			t.Fatalf("start with stale pid %d: %v", pid, err)
		}
		if got := queryInt(t, pg.URL("postgres"), "SELECT 1"); got != 1 {
			t.Fatalf("SELECT 1 = %d", got)
		}
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPostgresRefusesRunningDataDir(t *testing.T) {
	skipWithoutPostgres(t)
	dataDir := filepath.Join(t.TempDir(), "pg")
	startPostgres(t, dataDir)
	if pg, err := StartPostgres(t.Context(), PostgresOptions{DataDir: dataDir}); err == nil {
		pg.Stop()
		t.Fatal("second server on the same data dir started")
	}
}

func TestPostgresStartFailureShowsLog(t *testing.T) {
	skipWithoutPostgres(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dataDir := filepath.Join(t.TempDir(), "pg")
	pg, err := StartPostgres(t.Context(), PostgresOptions{DataDir: dataDir, Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil {
		pg.Stop()
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "could not bind") {
		t.Errorf("error doesn't show the server log:\n%v", err)
	}
	os.RemoveAll(filepath.Join(os.TempDir(), "outcomebill-pg-"+fallbackHash(dataDir)))
}
