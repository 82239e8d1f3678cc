package devenv

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// temporalCLI returns the Temporal CLI, skipping the test when it would
// have to be built first, unless OUTCOMEBILL_REQUIRE_SERVICES=1.
func temporalCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real Temporal server; skipped with -short")
	}
	if p, ok := cachedCLI(t.Context()); ok {
		return p
	}
	if !requireServices() {
		t.Skip("Temporal CLI not built yet (see CLIPath); set OUTCOMEBILL_REQUIRE_SERVICES=1 to build it")
	}
	p, err := CLIPath(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func dialTemporal(t *testing.T, address string) client.Client {
	t.Helper()
	c, err := client.DialContext(t.Context(), client.Options{HostPort: address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.CheckHealth(t.Context(), &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTemporalStopStartKeepsState(t *testing.T) {
	cli := temporalCLI(t)
	start := time.Now()
	tp, err := StartTemporal(t.Context(), TemporalOptions{CLIPath: cli, DBFile: filepath.Join(t.TempDir(), "temporal.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("start: %s on %s", time.Since(start), tp.Address())

	// A workflow with no worker stays open, so it must still be there
	// after a restart.
	c := dialTemporal(t, tp.Address())
	run, err := c.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "kept", TaskQueue: "nobody"}, "Nothing")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	address := tp.Address()
	start = time.Now()
	if err := tp.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %s", time.Since(start))
	start = time.Now()
	if err := tp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("start again: %s", time.Since(start))
	if tp.Address() != address {
		t.Errorf("address after restart = %s, want %s", tp.Address(), address)
	}
	c = dialTemporal(t, tp.Address())
	if _, err := c.DescribeWorkflowExecution(t.Context(), "kept", run.GetRunID()); err != nil {
		t.Errorf("workflow started before the restart: %v", err)
	}
}

func TestUp(t *testing.T) {
	skipWithoutPostgres(t)
	cli := temporalCLI(t)
	start := time.Now()
	env, err := Up(t.Context(), UpOptions{StateDir: filepath.Join(t.TempDir(), "state"), TemporalCLI: cli, TemporalUI: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up: %s", time.Since(start))
	defer func() {
		if err := env.Close(); err != nil {
			t.Error(err)
		}
		if abs := filepath.Join(env.StateDir, "pg"); env.Postgres.DataDir() != abs {
			// Running as root: remove the fallback cluster.
			removeFallback(env.Postgres)
		}
	}()
	if got := queryInt(t, env.DatabaseURL(), "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
	dialTemporal(t, env.TemporalAddress())

	ui := env.Temporal.UIURL()
	if !strings.HasPrefix(ui, "http://127.0.0.1:") {
		t.Fatalf("UIURL() = %q", ui)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(ui)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("web UI at %s: %v", ui, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCLIPathFromEnvironment(t *testing.T) {
	t.Setenv("OUTCOMEBILL_TEMPORAL_CLI", "/bin/sh")
	if p, err := CLIPath(context.Background(), nil); err != nil || p != "/bin/sh" {
		t.Errorf("CLIPath() = %q, %v; want /bin/sh", p, err)
	}
	t.Setenv("OUTCOMEBILL_TEMPORAL_CLI", "/nonexistent/temporal")
	if _, err := CLIPath(context.Background(), nil); err == nil {
		t.Error("CLIPath() with a missing OUTCOMEBILL_TEMPORAL_CLI: no error")
	}
}
