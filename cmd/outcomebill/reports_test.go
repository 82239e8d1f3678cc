package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/internal/servicetest"
)

// The API that serve wires with --reports-database-url pointing at a real streaming standby of its
// primary: the economics reports are read from the standby, everything else from the primary. A
// replay paused on the standby shows which is which: a task ingested meanwhile is readable at
// once through GET /v1/tasks (primary) and missing from the margin (standby) until replay resumes.
// A write through the reports pool is refused by the standby.
func TestReportsFromAStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := exec.LookPath(bin); err != nil {
			if servicetest.Required() {
				t.Fatalf("%s not found: %v", bin, err)
			}
			t.Skipf("%s not found: %v", bin, err)
		}
	}
	ctx := context.Background()
	dir := t.TempDir()
	primary, err := devenv.StartPostgres(ctx, devenv.PostgresOptions{DataDir: filepath.Join(dir, "primary")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Stop() })
	standby, err := primary.StartStandby(ctx, devenv.PostgresOptions{DataDir: filepath.Join(dir, "standby")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Stop() })

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config{databaseURL: primary.URL(devenv.DatabaseName), reportsDatabaseURL: standby.URL(devenv.DatabaseName),
		temporalAddress: "127.0.0.1:1", namespace: "default"} // never dialled: no route here starts a workflow
	db, err := openAndMigrate(ctx, cfg.databaseURL, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := standby.CatchUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	reports, err := cfg.openReports(ctx, db, log)
	if err != nil {
		t.Fatal(err)
	}
	defer reports.Close()
	if reports == db {
		t.Fatal("reports read from the primary although --reports-database-url is set")
	}
	if same, _ := (&config{}).openReports(ctx, db, log); same != db {
		t.Error("without --reports-database-url the reports must read from the primary")
	}
	tc, err := dialTemporal(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	srv := httptest.NewServer(newAPI(cfg, db, reports, tc, log))
	defer srv.Close()
	_, key, err := db.CreateAPIKey(ctx, "test", []string{"admin", "finance", "ingest"}, "")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var in io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			in = strings.NewReader(string(raw))
		}
		req, _ := http.NewRequest(method, srv.URL+path, in)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, out := call("POST", "/v1/customers", map[string]any{"customer_id": "acme", "name": "Acme", "currency": "USD"}); st != 201 {
		t.Fatalf("customer: %d %v", st, out)
	}
	if st, out := call("PUT", "/v1/outcome-types/support.ticket_resolved", map[string]any{"name": "Resolved ticket",
		"dispute_window_seconds": 0, "baseline": map[string]any{"human_minutes": "12",
			"annual_cost": map[string]any{"amount": "94000", "currency": "USD"}}}); st != 201 {
		t.Fatalf("outcome type: %d %v", st, out)
	}
	// billTask ingests a task's events through the API and saves its state as the task workflow
	// would.
	billTask := func(task string) {
		t.Helper()
		ev := func(suffix, typ, at string, fields map[string]any) map[string]any {
			e := map[string]any{"id": task + suffix, "type": typ, "customer_id": "acme", "task_id": task, "occurred_at": at}
			for k, v := range fields {
				e[k] = v
			}
			return e
		}
		events := []map[string]any{
			ev("-s", "task.started", "2026-03-05T15:00:00Z", map[string]any{"outcome_type": "support.ticket_resolved"}),
			ev("-u", "task.usage", "2026-03-05T15:01:00Z", map[string]any{"cost": "0.40", "description": "tool calls"}),
			ev("-o", "task.outcome", "2026-03-05T15:02:00Z", map[string]any{"status": "succeeded", "quality": 0.9}),
		}
		if st, out := call("POST", "/v1/events", map[string]any{"events": events}); st != 200 || strings.Contains(fmt.Sprint(out), "rejected") {
			t.Fatalf("events: %d %v", st, out)
		}
		evs, _, err := db.LoadTask(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		s := billing.FoldTask(task, evs, billing.TaskSettings{TaskTimeout: time.Hour}, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC))
		s.Version = 1
		if err := db.SaveTaskState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	billable := func() float64 {
		t.Helper()
		st, out := call("GET", "/v1/customers/acme/margin?from=2026-03-01&to=2026-04-01", nil)
		if st != 200 {
			t.Fatalf("margin: %d %v", st, out)
		}
		n, _ := out["tasks"].(map[string]any)["billable"].(float64)
		return n
	}

	billTask("t1")
	if err := standby.CatchUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if n := billable(); n != 1 {
		t.Fatalf("margin after catching up: %v billable tasks, want 1", n)
	}

	// Hold the standby at this point, as a lagging replica would be.
	sc, err := pgx.Connect(ctx, standby.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close(ctx)
	if _, err := sc.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	for state := ""; state != "paused"; time.Sleep(10 * time.Millisecond) {
		if err := sc.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
			t.Fatal(err)
		}
	}
	billTask("t2")
	if st, out := call("GET", "/v1/tasks/t2", nil); st != 200 {
		t.Errorf("task read right after its events: %d %v (tasks must be read from the primary)", st, out)
	}
	if n := billable(); n != 1 {
		t.Errorf("margin with replay paused: %v billable tasks, want 1 (the standby's): not read from the standby", n)
	}
	if _, err := sc.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	if err := standby.CatchUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if n := billable(); n != 2 {
		t.Errorf("margin after replay resumed: %v billable tasks, want 2", n)
	}

	// The other reports run on the standby too.
	for _, path := range []string{"/v1/margin", "/v1/customers/acme/labor-equivalent", "/v1/model-economics"} {
		if st, out := call("GET", path+"?from=2026-03-01&to=2026-04-01", nil); st != 200 {
			t.Errorf("%s on the standby: %d %v", path, st, out)
		}
	}

	_, _, err = reports.CreateCustomer(ctx, billing.Customer{ID: "globex", Name: "Globex", Currency: "USD"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Errorf("write through the reports pool: %v, want the standby's read_only_sql_transaction", err)
	}
	if st, out := call("GET", "/readyz", nil); out["checks"].(map[string]any)["postgres-reports"] != "ok" {
		t.Errorf("readyz: %d %v, want postgres-reports ok", st, out)
	}
}
