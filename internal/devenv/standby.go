package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartStandby makes a streaming replica of p in opts.DataDir and starts it as a hot standby on
// 127.0.0.1: read-only queries are served, every write is refused, and p's changes are replayed
// as they are committed. The copy is p's whole cluster, taken with pg_basebackup -R (which writes
// standby.signal and the connection to p), so it suits small clusters such as a test's. An
// existing replica in opts.DataDir is started again as it is. opts.Port and opts.Durable work as
// for StartPostgres.
//
// Replication uses initdb's default pg_hba.conf, which trusts replication connections from
// 127.0.0.1, and the defaults wal_level=replica and max_wal_senders=10 of PostgreSQL 10 and later.
func (p *Postgres) StartStandby(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DataDir == "" {
		return nil, errors.New("postgres standby: DataDir is required")
	}
	requested, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("postgres standby: %w", err)
	}
	s := &Postgres{opts: opts, port: opts.Port, tail: newTailBuffer(8 << 10), cred: p.cred}
	if s.dataDir, err = prepareDataDir(requested, s.cred); err != nil {
		return nil, fmt.Errorf("postgres standby: data dir %s: %w", requested, err)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); err != nil {
		if err := s.baseBackup(ctx, p.port); err != nil {
			return nil, err
		}
	}
	if s.port == 0 {
		if s.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("postgres standby: %w", err)
		}
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// baseBackup copies the cluster listening on primaryPort into s.dataDir, which must be empty.
func (s *Postgres) baseBackup(ctx context.Context, primaryPort int) error {
	bin, err := siblingOfPostgres("pg_basebackup")
	if err != nil {
		return fmt.Errorf("postgres standby: %w", err)
	}
	// A fast checkpoint: the default spreads it over checkpoint_timeout's share, minutes of
	// waiting for a copy of a few megabytes.
	args := []string{"-D", s.dataDir, "-h", "127.0.0.1", "-p", strconv.Itoa(primaryPort), "-U", "postgres",
		"--wal-method=stream", "--write-recovery-conf", "--checkpoint=fast"}
	if !s.opts.Durable {
		args = append(args, "--no-sync")
	}
	cmd := s.command(exec.CommandContext(ctx, bin, args...))
	if err := cmd.Run(); err != nil {
		return withTail(fmt.Errorf("postgres standby: pg_basebackup of port %d into %s: %w", primaryPort, s.dataDir, err), s.tail)
	}
	return nil
}

// CatchUp waits until the standby s has replayed everything primary had written when it was
// called: what was committed on the primary before is then visible on s.
func (s *Postgres) CatchUp(ctx context.Context, primary *Postgres) error {
	ctx, cancel := context.WithTimeout(ctx, pgReadyTimeout)
	defer cancel()
	// The insert position, not the write position: with synchronous_commit off (a non-durable
	// server) a commit record may not have been written yet when its transaction returns.
	var lsn string
	if err := queryRow(ctx, primary.URL("postgres"), `SELECT pg_current_wal_insert_lsn()::text`, &lsn); err != nil {
		return fmt.Errorf("postgres: primary's WAL position: %w", err)
	}
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("postgres standby: %w", err)
	}
	defer conn.Close(context.Background())
	for {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn).Scan(&done); err != nil {
			return fmt.Errorf("postgres standby: replay position: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres standby: not caught up with %s: %w", lsn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// siblingOfPostgres finds the executable name in the directory of the postgres binary in use, so
// that it is of the same version (Debian's /usr/bin/pg_basebackup is a wrapper that picks one), or
// else on PATH.
func siblingOfPostgres(name string) (string, error) {
	if pg, err := lookPathAbs("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(pg); err == nil {
			bin := filepath.Join(filepath.Dir(real), name)
			if _, err := os.Stat(bin); err == nil {
				return bin, nil
			}
		}
	}
	return lookPathAbs(name)
}

func queryRow(ctx context.Context, url, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dest...)
}
