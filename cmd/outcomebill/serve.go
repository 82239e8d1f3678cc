package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

func newServeCmd() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cfg.withServices(cmd.Context(), func(db *postgres.DB, tc client.Client, log *slog.Logger) error {
				reports, err := cfg.openReports(cmd.Context(), db, log)
				if err != nil {
					return err
				}
				if reports != db {
					defer reports.Close()
				}
				ln, err := net.Listen("tcp", cfg.listen)
				if err != nil {
					return err
				}
				return serveHTTP(cmd.Context(), ln, newAPI(cfg, db, reports, tc, log), log)
			})
		},
	}
	cfg.addDatabase(cmd)
	cfg.addReports(cmd)
	cfg.addTemporal(cmd)
	cfg.addLog(cmd)
	cfg.addBilling(cmd)
	cmd.Flags().StringVar(&cfg.listen, "listen", envOr("OUTCOMEBILL_LISTEN", "127.0.0.1:8080"), "address to listen on (env OUTCOMEBILL_LISTEN)")
	cmd.Flags().Float64Var(&ingestLimit.PerSecond, "ingest-rate", ingestLimit.PerSecond,
		"POST /v1/events requests a second allowed per API key, 0 for no limit (env OUTCOMEBILL_INGEST_RATE)")
	cmd.Flags().IntVar(&ingestLimit.Burst, "ingest-burst", ingestLimit.Burst,
		"requests per API key allowed at once above the rate (env OUTCOMEBILL_INGEST_BURST)")
	return cmd
}

// ingestLimit is the per-key rate limit on ingest. It lives outside config so that `dev` gets
// it too (from the environment); `serve` also has flags for it.
var ingestLimit = api.RateLimit{
	PerSecond: envFloat("OUTCOMEBILL_INGEST_RATE", api.DefaultIngestRate),
	Burst:     envInt("OUTCOMEBILL_INGEST_BURST", api.DefaultIngestBurst),
}

func envFloat(name string, def float64) float64 {
	if v := os.Getenv(name); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && !math.IsInf(f, 0) {
			return f
		}
		fmt.Fprintf(os.Stderr, "outcomebill: ignoring %s=%q: not a non-negative number\n", name, v)
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			return n
		}
		fmt.Fprintf(os.Stderr, "outcomebill: ignoring %s=%q: not a whole number of at least 1\n", name, v)
	}
	return def
}

func openAndMigrate(ctx context.Context, url string, log *slog.Logger) (*postgres.DB, error) {
	db, err := postgres.OpenWithOptions(ctx, url, dbOptions())
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, db.Pool, log); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.SeedModelCatalog(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// withServices sets up logging, opens and migrates the database and dials Temporal, runs fn, and
// closes both: the start-up serve and worker share.
func (cfg config) withServices(ctx context.Context, fn func(*postgres.DB, client.Client, *slog.Logger) error) error {
	log := cfg.logger()
	if err := cfg.needDatabase(); err != nil {
		return err
	}
	db, err := openAndMigrate(ctx, cfg.databaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	tc, err := dialTemporal(cfg, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	return fn(db, tc, log)
}

// dialTemporal returns a client that connects lazily, so that the API starts — and keeps taking
// events into the outbox — while Temporal is down.
func dialTemporal(cfg config, log *slog.Logger) (client.Client, error) {
	c, err := client.NewLazyClient(temporalOptions(client.Options{HostPort: cfg.temporalAddress, Namespace: cfg.namespace, Logger: newTemporalLogger(log)}, log))
	if err != nil {
		return nil, fmt.Errorf("temporal client for %s: %w", cfg.temporalAddress, err)
	}
	return c, nil
}

// newAPI wires the API to the primary db for everything but the read-only reports, which read
// from reports (db itself unless a replica is configured; see reports.go).
func newAPI(cfg config, db, reports *postgres.DB, tc client.Client, log *slog.Logger) http.Handler {
	ready := []api.Check{
		{Name: "postgres", Ping: db.Ping},
		{Name: "temporal", Ping: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}
	if reports != db {
		ready = append(ready, api.Check{Name: "postgres-reports", Ping: reports.Ping})
	}
	return api.New(api.Config{
		InvoiceRunner: &workflows.InvoiceRunner{Client: tc, Store: db, AutoFinalizeAfter: cfg.autoFinalize},
		InvoiceRuns:   db,
		Customers:     db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db, Plans: db, Invoices: db, Economics: reports,
		Importer:    db,
		Ready:       ready,
		Log:         log,
		IngestLimit: ingestLimit,
		Webhooks:    db, WebhookAllowPrivate: webhookAllowPrivate,
		SimulationRunner: &workflows.SimulationRunner{Client: tc, Store: db},
		Simulations:      db,
		TracerProvider:   apiTracer(),
	})
}

// serveHTTP serves until ctx ends, then drains in-flight requests for up to 10 seconds.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("API listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
