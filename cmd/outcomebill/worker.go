package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

func newWorkerCmd() *cobra.Command {
	var cfg config
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker and the outbox relay",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cfg.withServices(cmd.Context(), func(db *postgres.DB, tc client.Client, log *slog.Logger) error {
				g, ctx := errgroup.WithContext(cmd.Context())
				if metricsAddr != "" {
					ln, err := net.Listen("tcp", metricsAddr)
					if err != nil {
						return fmt.Errorf("metrics listener: %w", err)
					}
					g.Go(func() error { return serveHTTP(ctx, ln, promhttp.Handler(), log) })
				}
				g.Go(func() error { return runWorker(ctx, cfg, db, tc, prometheus.DefaultRegisterer, log) })
				return g.Wait()
			})
		},
	}
	cfg.addDatabase(cmd)
	cfg.addTemporal(cmd)
	cfg.addLog(cmd)
	cfg.addBilling(cmd)
	cmd.Flags().StringVar(&metricsAddr, "metrics-listen", envOr("OUTCOMEBILL_METRICS_LISTEN", "127.0.0.1:9091"),
		"address of the worker's /metrics (outbox lag, Temporal worker); empty disables it (env OUTCOMEBILL_METRICS_LISTEN)")
	return cmd
}

// runWorker runs the Temporal worker, the outbox relay, the invoice scheduler, the economics
// folder, the alert watcher and the partition maintenance until ctx ends. The relay and the
// scheduler keep going while Temporal is down (they retry); the worker reconnects by itself.
func runWorker(ctx context.Context, cfg config, db *postgres.DB, tc client.Client, reg prometheus.Registerer, log *slog.Logger) error {
	// The outbox lag is the age of the oldest event not yet delivered to its workflow: when tasks
	// arrive faster than Temporal takes them, ingest stays fast and the lag shows the backlog.
	rm := workflows.NewRelayMetrics(reg)
	w := workflows.NewWorkerWithConfig(tc, "", db, worker.Options{}, workflows.WorkerConfig{WebhookAllowPrivate: webhookAllowPrivate})
	hooks := &workflows.WebhookDispatcher{Temporal: tc, Store: db, Logger: log, Tracer: workerTracer()}
	sched := &workflows.Scheduler{Client: tc, Store: db, Grace: cfg.grace, AutoFinalizeAfter: cfg.autoFinalize, Logger: log}
	relay := &workflows.Relay{Temporal: tc, Store: db, Logger: log, Lag: rm.Lag, Delivered: rm.Delivered, Errors: rm.Errors, Tracer: workerTracer()}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		log.Info("worker started", "task_queue", workflows.TaskQueue)
		<-ctx.Done()
		w.Stop()
		return nil
	})
	g.Go(func() error { return ignoreCanceled(relay.Run(ctx)) })
	g.Go(func() error { return ignoreCanceled(sched.Run(ctx)) })
	g.Go(func() error { return ignoreCanceled(hooks.Run(ctx)) })
	g.Go(func() error { return ignoreCanceled(db.RunEconomicsFolder(ctx, 200*time.Millisecond, log)) })
	// Spend and margin_floor alerts as tasks bill; credits.expiring notices (alerts.go).
	g.Go(func() error { return ignoreCanceled(newAlertWatcher(db, cfg.grace, log).Run(ctx)) })
	g.Go(func() error { return ignoreCanceled(sampleEconomicsBacklog(ctx, db, reg, 10*time.Second, log)) })
	g.Go(func() error { return ignoreCanceled(db.RunPartitionMaintenance(ctx, time.Hour, log)) })
	return g.Wait()
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
