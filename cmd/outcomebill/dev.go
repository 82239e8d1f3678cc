package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/internal/devenv"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

func newDevCmd() *cobra.Command {
	var (
		stateDir string
		listen   string
		noDemo   bool
		ui       bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system on a private PostgreSQL and Temporal, with demo data",
		Long: `Starts (and on first run creates) a PostgreSQL cluster and a Temporal dev server under
--state-dir, migrates, seeds demo data, and runs the API and the worker in this process. It prints
the API's URL and an admin key. Ctrl-C stops everything it started; a second run reuses the data.
The first run builds the pinned Temporal CLI (v1.5.1) with the Go toolchain, about 5 minutes.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), stateDir, listen, !noDemo, ui)
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", ".outcomebill", "where PostgreSQL, Temporal and the dev admin key live")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "API address; if taken, a free port is used")
	cmd.Flags().BoolVar(&noDemo, "no-demo", false, "do not seed demo customers, outcome types and tasks")
	cmd.Flags().BoolVar(&ui, "temporal-ui", true, "serve Temporal's web UI")
	return cmd
}

func runDev(ctx context.Context, stateDir, listen string, demo, ui bool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	env, err := devenv.Up(ctx, devenv.UpOptions{StateDir: abs, Durable: true, TemporalUI: ui, Log: log})
	if err != nil {
		return err
	}
	defer env.Close()

	db, err := openAndMigrate(ctx, env.DatabaseURL(), log)
	if err != nil {
		return err
	}
	defer db.Close()
	tc, err := dialTemporal(config{temporalAddress: env.TemporalAddress(), namespace: "default"}, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	key, err := devAdminKey(ctx, db, filepath.Join(abs, "admin-key"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Warn("address taken, using a free port", "wanted", listen, "error", err)
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	cfg := config{grace: billing.DefaultGracePeriod}
	g.Go(func() error { return serveHTTP(gctx, ln, newAPI(cfg, db, db, tc, log), log) })
	g.Go(func() error { return runWorker(gctx, cfg, db, tc, prometheus.DefaultRegisterer, log) })
	if demo {
		if err := seedDemo(ctx, db, log); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		runner := &workflows.InvoiceRunner{Client: tc, Store: db}
		g.Go(func() error {
			// Invoices need settled tasks; they are built in the background so the API is usable at once.
			if err := demoInvoices(gctx, db, runner, log); err != nil && gctx.Err() == nil {
				log.Warn("demo invoices", "error", err)
			}
			return nil
		})
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stdout, `
outcomebill is running.
  API          %s   (OpenAPI: %s/openapi.json)
  admin key    %s
  PostgreSQL   %s
  Temporal     %s%s
  state        %s

Try:
  curl -s -H "Authorization: Bearer %s" %s/v1/customers

Ctrl-C stops everything.
`, url, url, key, env.DatabaseURL(), env.TemporalAddress(), uiLine(env), abs, key, url)
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopping")
	return err
}

func uiLine(env *devenv.Env) string {
	if u := env.Temporal.UIURL(); u != "" {
		return "  (UI: " + u + ")"
	}
	return ""
}

// devAdminKey reuses the admin key a previous dev run kept in path (a local file readable by its
// owner only; dev data is for trying things out), or makes a new one.
func devAdminKey(ctx context.Context, db *postgres.DB, path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		token := strings.TrimSpace(string(b))
		if k, err := db.Authenticate(ctx, token); err == nil && k.Has("admin") {
			return token, nil
		}
	}
	_, token, err := db.CreateAPIKey(ctx, "dev bootstrap", []string{"admin", "finance", "ingest"}, "")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, nil
}
