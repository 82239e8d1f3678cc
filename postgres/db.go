// Package postgres is outcomebill's store on PostgreSQL through pgx/v5: it runs the embedded
// migrations and maps rows to billing's domain types at the edge. pgx.ErrNoRows becomes billing's
// not_found here and nowhere else.
//
// It may import billing, pricing and money; never api or workflows, which reach it through small
// interfaces of their own, wired in cmd.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/migrations"
)

// DB is the store. Its public methods open the transaction they need and hand it to lowercase
// helpers, so that one call is one unit of work.
type DB struct {
	Pool *pgxpool.Pool
	// Now is the store's clock; tests set it to make timestamps predictable.
	Now func() time.Time

	ingestQ ingestQueue // small IngestEvents batches, stored together
}

// Options tune OpenWithOptions; the zero value is Open.
type Options struct {
	// QueryTracer sees every query, batch, COPY, prepare, connect and pool acquire (the process's
	// tracing, when it is on); nil costs nothing.
	QueryTracer pgx.QueryTracer
}

// Open connects to url and checks the connection.
func Open(ctx context.Context, url string) (*DB, error) { return OpenWithOptions(ctx, url, Options{}) }

// OpenWithOptions is Open with options.
func OpenWithOptions(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if opts.QueryTracer != nil {
		cfg.ConnConfig.Tracer = opts.QueryTracer
	}
	// pgxpool's default, max(4, CPUs), is sized for CPU-bound work; ours waits on the database
	// (most of an ingest request is its commit's flush), so with more concurrent requests than
	// connections they queue for one: 8 single-event clients got half the events/s through the
	// default 4 connections that they got through 8 (docs/BENCHMARKS.md). Connections are opened
	// on demand, so an idle process still holds few. pool_max_conns in the URL wins.
	if pc, err := pgconn.ParseConfig(url); err == nil {
		if _, set := pc.RuntimeParams["pool_max_conns"]; !set {
			cfg.MaxConns = max(cfg.MaxConns, int32(4*runtime.NumCPU()), 16)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &DB{Pool: pool, Now: time.Now}, nil
}

// Close releases the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that the database answers; /readyz calls it.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// Migrate applies every embedded migration not yet applied. A Postgres advisory lock lets several
// processes (API and workers starting together) call it at once safely.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	sqldb := stdlib.OpenDBFromPool(pool)
	defer sqldb.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqldb, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return nil
}

// interpretError maps driver errors to the domain vocabulary: no rows becomes not_found for the
// thing being looked up, a unique violation a conflict, a foreign-key violation a not_found of
// what was referred to. Everything else stays internal.
func interpretError(err error, kind, id string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.NotFound(kind, id)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return billing.Errorf(billing.ECONFLICT, "%s %q already exists", kind, id)
		case "23503":
			return billing.Errorf(billing.ENOTFOUND, "%s %q refers to something that does not exist", kind, id)
		}
	}
	return fmt.Errorf("%s %s: %w", kind, id, err)
}

// retryable reports a serialization failure or deadlock, after which the transaction may simply
// be run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.Pool, fn)
}
