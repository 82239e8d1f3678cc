// Command outcomebill runs the outcomebill billing engine: the HTTP API (serve), the Temporal
// worker (worker), database migrations (migrate), API key management (keys), and the whole
// system on a private PostgreSQL and Temporal for trying it out (dev).
//
// This is the only place the packages are wired together.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/outcomebill/outcomebill/billing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopTracing := startTracing(ctx) // off unless OTEL_* variables ask for it
	err := newRootCmd().ExecuteContext(ctx)
	stopTracing()
	if err != nil {
		fmt.Fprintln(os.Stderr, "outcomebill:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "outcomebill",
		Short:         "Billing for AI agents paid per outcome",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newWorkerCmd(), newMigrateCmd(), newKeysCmd(), newDevCmd(), newTestenvCmd(), newLoadgenCmd(), newImportCmd())
	return root
}

// config is what serve, worker and migrate read from flags, with environment defaults so that a
// container needs no command line.
type config struct {
	databaseURL     string
	temporalAddress string
	namespace       string
	listen          string
	logFormat       string
	// billing
	grace        time.Duration
	autoFinalize time.Duration
	// reportsDatabaseURL, when set, serves the read-only reports (serve only; see reports.go).
	reportsDatabaseURL string
}

func (c *config) addDatabase(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.databaseURL, "database-url", os.Getenv("OUTCOMEBILL_DATABASE_URL"),
		"PostgreSQL URL (env OUTCOMEBILL_DATABASE_URL)")
}

func (c *config) addTemporal(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.temporalAddress, "temporal-address", envOr("OUTCOMEBILL_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		"Temporal frontend host:port (env OUTCOMEBILL_TEMPORAL_ADDRESS)")
	cmd.Flags().StringVar(&c.namespace, "temporal-namespace", envOr("OUTCOMEBILL_TEMPORAL_NAMESPACE", "default"),
		"Temporal namespace (env OUTCOMEBILL_TEMPORAL_NAMESPACE)")
}

// addBilling adds the invoicing settings serve and worker share.
func (c *config) addBilling(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&c.grace, "grace", envDuration("OUTCOMEBILL_GRACE", billing.DefaultGracePeriod),
		"how long after a period ends late events may still land in it before its draft is built (env OUTCOMEBILL_GRACE)")
	cmd.Flags().DurationVar(&c.autoFinalize, "auto-finalize-after", envDuration("OUTCOMEBILL_AUTO_FINALIZE_AFTER", 0),
		"review window after which a draft is finalized automatically; 0 leaves it to finance (env OUTCOMEBILL_AUTO_FINALIZE_AFTER)")
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "outcomebill: ignoring %s=%q: not a duration such as 24h\n", name, v)
	}
	return def
}

func (c *config) addLog(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.logFormat, "log-format", envOr("OUTCOMEBILL_LOG_FORMAT", "text"), "log format: text or json (env OUTCOMEBILL_LOG_FORMAT)")
}

func (c *config) logger() *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if c.logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}

func (c *config) needDatabase() error {
	if c.databaseURL == "" {
		return fmt.Errorf("no database: pass --database-url or set OUTCOMEBILL_DATABASE_URL (or run `outcomebill dev`)")
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
