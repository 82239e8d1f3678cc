package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// UpOptions configures Up.
type UpOptions struct {
	// StateDir holds the Postgres cluster (StateDir/pg) and the Temporal
	// database (StateDir/temporal.db), so a second Up continues where the
	// first stopped. Empty means a new temporary directory, removed by
	// Close.
	StateDir string
	// Durable keeps PostgreSQL's crash-safety settings; see
	// PostgresOptions.Durable.
	Durable bool
	// TemporalUI enables Temporal's web UI.
	TemporalUI bool
	// TemporalCLI is the Temporal CLI binary; empty means CLIPath.
	TemporalCLI string
	// Log receives progress lines; nil means slog.Default().
	Log *slog.Logger
	// ServerLog receives the output of both servers. Nil means the files
	// StateDir/postgres.log and StateDir/temporal.log.
	ServerLog io.Writer
}

// Env is a running PostgreSQL plus Temporal pair.
type Env struct {
	Postgres    *Postgres
	Temporal    *Temporal
	StateDir    string
	TemporalCLI string

	tmpState bool
	logs     []*os.File
}

// Up starts PostgreSQL and Temporal side by side. If either fails, the other
// is stopped again.
func Up(ctx context.Context, opts UpOptions) (_ *Env, err error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	env := &Env{StateDir: opts.StateDir, TemporalCLI: opts.TemporalCLI}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if env.StateDir == "" {
		if env.StateDir, err = os.MkdirTemp("", "outcomebill-env-"); err != nil {
			return nil, err
		}
		env.tmpState = true
		// Reachable by the postgres user when running as root, so the
		// cluster can stay inside it (see the package doc).
		if err = os.Chmod(env.StateDir, 0o755); err != nil {
			return nil, err
		}
	} else if err = os.MkdirAll(env.StateDir, 0o755); err != nil {
		return nil, err
	}
	if env.TemporalCLI == "" {
		if env.TemporalCLI, err = CLIPath(ctx, log); err != nil {
			return nil, err
		}
	}
	pgLog, temporalLog := opts.ServerLog, opts.ServerLog
	if opts.ServerLog == nil {
		if pgLog, err = env.openLog("postgres.log"); err != nil {
			return nil, err
		}
		if temporalLog, err = env.openLog("temporal.log"); err != nil {
			return nil, err
		}
	}

	type pgResult struct {
		pg  *Postgres
		err error
	}
	pgDone := make(chan pgResult, 1)
	go func() {
		start := time.Now()
		pg, err := StartPostgres(ctx, PostgresOptions{
			DataDir: filepath.Join(env.StateDir, "pg"),
			Durable: opts.Durable,
			Log:     pgLog,
		})
		if err == nil {
			log.Info("postgres ready", "url", pg.URL(DatabaseName), "data", pg.DataDir(), "took", time.Since(start).Round(time.Millisecond))
		}
		pgDone <- pgResult{pg, err}
	}()
	start := time.Now()
	temporal, temporalErr := StartTemporal(ctx, TemporalOptions{
		CLIPath: env.TemporalCLI,
		DBFile:  filepath.Join(env.StateDir, "temporal.db"),
		UI:      opts.TemporalUI,
		Log:     temporalLog,
	})
	if temporalErr == nil {
		env.Temporal = temporal
		log.Info("temporal ready", "address", temporal.Address(), "ui", temporal.UIURL(), "took", time.Since(start).Round(time.Millisecond))
	}
	r := <-pgDone
	env.Postgres = r.pg
	if err := errors.Join(r.err, temporalErr); err != nil {
		return nil, err
	}
	return env, nil
}

func (e *Env) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(e.StateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	e.logs = append(e.logs, f)
	return f, nil
}

// DatabaseURL returns the URL of the database DatabaseName.
func (e *Env) DatabaseURL() string { return e.Postgres.URL(DatabaseName) }

// TemporalAddress returns Temporal's host:port.
func (e *Env) TemporalAddress() string { return e.Temporal.Address() }

// Close stops what Up started and removes a temporary StateDir.
func (e *Env) Close() error {
	var errs []error
	if e.Temporal != nil {
		errs = append(errs, e.Temporal.Close())
	}
	if e.Postgres != nil {
		errs = append(errs, e.Postgres.Stop())
	}
	for _, f := range e.logs {
		f.Close()
	}
	if e.tmpState {
		errs = append(errs, os.RemoveAll(e.StateDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devenv: close: %w", err)
	}
	return nil
}
