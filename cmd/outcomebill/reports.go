package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/outcomebill/outcomebill/postgres"
)

// Reports on a read replica (docs/SCALING.md §3). Only the economics views read from it: they are
// read-only transactions, the heaviest reads the API serves (a vendor-wide month scans every
// customer's rollups), and nobody reads them right after a write of their own. Everything else
// stays on the primary: writes, the reads that decide a write (ingest's duplicate check, rating,
// drafts), authentication (a revoked key must stop working at once), and the reads a client makes
// right after writing (a task after its events, an invoice after finalizing it), which a lagging
// replica would answer with the state from before.

func (c *config) addReports(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.reportsDatabaseURL, "reports-database-url", os.Getenv("OUTCOMEBILL_REPORTS_DATABASE_URL"),
		"PostgreSQL URL of a read replica of --database-url for the economics reports (margin, labor equivalent, "+
			"model economics); empty reads them from the primary (env OUTCOMEBILL_REPORTS_DATABASE_URL)")
}

// openReports returns the store the reports read from: primary when no reports URL is set, else a
// pool on that URL, which the caller closes. The replica is not migrated: its schema is the
// primary's, replicated.
func (c *config) openReports(ctx context.Context, primary *postgres.DB, log *slog.Logger) (*postgres.DB, error) {
	if c.reportsDatabaseURL == "" {
		return primary, nil
	}
	db, err := postgres.OpenWithOptions(ctx, c.reportsDatabaseURL, dbOptions()) // traced like the primary
	if err != nil {
		return nil, fmt.Errorf("reports database: %w", err)
	}
	var standby bool
	if err := db.Pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		db.Close()
		return nil, fmt.Errorf("reports database: %w", err)
	}
	cc := db.Pool.Config().ConnConfig
	log.Info("reports read from a second database", "host", cc.Host, "port", cc.Port, "database", cc.Database, "standby", standby)
	return db, nil
}
