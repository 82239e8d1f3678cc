package devenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DatabaseName is the database StartPostgres makes sure exists.
const DatabaseName = "outcomebill"

const (
	pgReadyTimeout = 30 * time.Second
	pgStopTimeout  = 30 * time.Second
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// DataDir holds the cluster. It's created with initdb on the first
	// start and reused afterwards. Required. See the package doc for where
	// the cluster goes when running as root.
	DataDir string
	// Port on 127.0.0.1; 0 picks a free one. Restart keeps it.
	Port int
	// Durable keeps PostgreSQL's crash-safety defaults (dev, benchmarks).
	// When false, fsync, synchronous_commit and full_page_writes are off,
	// which is much faster for tests and unsafe if the machine crashes.
	Durable bool
	// Log receives the output of initdb and postgres; nil discards it. The
	// last few KiB are kept either way and included in startup errors.
	Log io.Writer
}

// Postgres is a running (or stopped) private PostgreSQL server.
type Postgres struct {
	opts    PostgresOptions
	dataDir string
	port    int
	cred    *syscall.Credential // nil unless running as root
	tail    *tailBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error
}

// StartPostgres initializes opts.DataDir if needed, starts postgres on
// 127.0.0.1, waits until it accepts connections and creates the database
// DatabaseName if it doesn't exist yet.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DataDir == "" {
		return nil, errors.New("postgres: DataDir is required")
	}
	requested, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &Postgres{opts: opts, port: opts.Port, tail: newTailBuffer(8 << 10)}
	if p.cred, err = postgresCredential(); err != nil {
		return nil, err
	}
	if p.dataDir, err = prepareDataDir(requested, p.cred); err != nil {
		return nil, fmt.Errorf("postgres: data dir %s: %w", requested, err)
	}
	if err := p.initdb(ctx); err != nil {
		return nil, err
	}
	if p.port == 0 {
		if p.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	if err := p.ensureDatabase(ctx, DatabaseName); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// URL returns a connection URL for the database dbname as the superuser
// "postgres" (trust authentication, no password).
func (p *Postgres) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, dbname)
}

// Port returns the TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// DataDir returns where the cluster really is, which differs from
// PostgresOptions.DataDir when running as root (see the package doc).
func (p *Postgres) DataDir() string { return p.dataDir }

// Stop shuts the server down: SIGINT (fast shutdown: roll back open
// transactions, checkpoint), then SIGKILL if it hasn't exited after 30s.
// Stopping a stopped server does nothing.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	cmd, done := p.cmd, p.done
	p.cmd = nil
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		if p.waitErr != nil {
			return fmt.Errorf("postgres: stop: %w", p.waitErr)
		}
		return nil
	case <-time.After(pgStopTimeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("postgres: no shutdown within %s, killed", pgStopTimeout)
	}
}

// Restart stops the server and starts it again on the same port with the
// same data directory.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.start(ctx)
}

func (p *Postgres) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("postgres: already running")
	}
	if err := clearStalePID(p.dataDir); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	bin, err := lookPathAbs("postgres")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	args := []string{
		"-D", p.dataDir,
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		// No Unix socket: every client uses TCP, and there is no socket
		// directory to share between root and the postgres user.
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
	}
	if !p.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// Not CommandContext: the server outlives the ctx of its start.
	cmd := p.command(exec.Command(bin, args...))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.waitErr = err
		close(done)
	}()
	if err := waitForPostgres(ctx, p.URL("postgres"), done); err != nil {
		cmd.Process.Kill()
		<-done
		return withTail(fmt.Errorf("postgres on port %d in %s: %w", p.port, p.dataDir, err), p.tail)
	}
	p.cmd, p.done = cmd, done
	return nil
}

// waitForPostgres polls until a connection succeeds, the server exits, ctx
// ends or pgReadyTimeout passes.
func waitForPostgres(ctx context.Context, url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, pgReadyTimeout)
	defer cancel()
	var lastErr error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, url)
		cancelAttempt()
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-exited:
			return errors.New("server exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Postgres) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return nil
}

func (p *Postgres) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	bin, err := lookPathAbs("initdb")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	args := []string{"-D", p.dataDir, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-instructions"}
	if !p.opts.Durable {
		args = append(args, "--no-sync")
	}
	cmd := p.command(exec.CommandContext(ctx, bin, args...))
	if err := cmd.Run(); err != nil {
		return withTail(fmt.Errorf("postgres: initdb %s: %w", p.dataDir, err), p.tail)
	}
	return nil
}

// command sets up cmd with the server's user, log and working directory.
// cmd.Path must be absolute: initdb looks for postgres next to its own
// executable, and resolving a relative argv[0] needs the working directory,
// which the postgres user may not be able to read.
func (p *Postgres) command(cmd *exec.Cmd) *exec.Cmd {
	cmd.Dir = filepath.Dir(p.dataDir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out := io.Writer(p.tail)
	if p.opts.Log != nil {
		out = io.MultiWriter(p.opts.Log, p.tail)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr(p.cred)
	return cmd
}

func lookPathAbs(name string) (string, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(bin)
}

// postgresCredential returns the credential of the "postgres" user when
// running as root, and nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs an unprivileged 'postgres' user to run the server: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres: user postgres: %w", err)
	}
	// Groups left empty: Go then drops root's supplementary groups.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDataDir creates the data directory with the ownership and mode
// postgres insists on (0700, owned by the server's user) and returns its
// path, which is requested unless running as root and the postgres user
// can't reach requested (see the package doc).
func prepareDataDir(requested string, cred *syscall.Credential) (string, error) {
	if err := os.MkdirAll(filepath.Dir(requested), 0o755); err != nil {
		return "", err
	}
	dir := requested
	if cred != nil && !traversable(filepath.Dir(requested), cred) {
		if err := os.MkdirAll(requested, 0o700); err != nil {
			return "", err
		}
		base := os.TempDir()
		wrapper := filepath.Join(base, "outcomebill-pg-"+fallbackHash(requested))
		removeOrphanedFallbacks(base, wrapper)
		if err := os.MkdirAll(wrapper, 0o755); err != nil {
			return "", err
		}
		if err := os.Chmod(wrapper, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(wrapper, "origin"), []byte(requested), 0o644); err != nil {
			return "", err
		}
		if !traversable(wrapper, cred) {
			return "", fmt.Errorf("neither it nor %s is reachable by uid %d; make the parent directories traversable (o+x) or set TMPDIR", wrapper, cred.Uid)
		}
		dir = filepath.Join(wrapper, "data")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	if cred != nil {
		if err := chownTree(dir, cred); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func fallbackHash(requested string) string {
	sum := sha256.Sum256([]byte(requested))
	return hex.EncodeToString(sum[:6])
}

// traversable reports whether the user in cred can reach dir, that is search
// (x) dir and every directory above it.
func traversable(dir string, cred *syscall.Credential) bool {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		perm := fi.Mode().Perm()
		var x bool
		switch {
		case st.Uid == cred.Uid:
			x = perm&0o100 != 0
		case st.Gid == cred.Gid:
			x = perm&0o010 != 0
		default:
			x = perm&0o001 != 0
		}
		if !x {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// chownTree gives dir and, if dir isn't owned by cred's user yet, everything
// under it to that user.
func chownTree(dir string, cred *syscall.Credential) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == cred.Uid && st.Gid == cred.Gid {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

// removeOrphanedFallbacks deletes fallback clusters in base whose requested
// directory no longer exists (typically a finished test's t.TempDir()) and
// whose server isn't running.
func removeOrphanedFallbacks(base, keep string) {
	matches, _ := filepath.Glob(filepath.Join(base, "outcomebill-pg-*"))
	for _, wrapper := range matches {
		if wrapper == keep {
			continue
		}
		origin, err := os.ReadFile(filepath.Join(wrapper, "origin"))
		if err != nil {
			// Possibly being created right now; only clear it out
			// once it's clearly abandoned.
			if fi, err := os.Stat(wrapper); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if _, err := os.Stat(string(origin)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if pid := pidFromFile(filepath.Join(wrapper, "data", "postmaster.pid")); pid > 0 && processAlive(pid) {
			continue
		}
		os.RemoveAll(wrapper)
	}
}

// clearStalePID removes postmaster.pid left behind by a server that no
// longer runs. postgres does part of this itself, but refuses to start when
// the recorded pid has been reused by an unrelated process. A postgres that
// really still runs on the directory is an error.
func clearStalePID(dataDir string) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	pid := pidFromFile(path)
	if pid == 0 {
		return nil
	}
	if processAlive(pid) && servesDataDir(pid, dataDir) {
		return fmt.Errorf("a postgres server (pid %d) is already running on %s; stop it first", pid, dataDir)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", path, err)
	}
	return nil
}

// pidFromFile returns the pid on the first line of a postmaster.pid, or 0.
func pidFromFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// servesDataDir reports whether pid is a postgres started on dataDir. Where
// /proc isn't available it assumes so, to be safe.
func servesDataDir(pid int, dataDir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || !procMounted()
	}
	return bytes.Contains(cmdline, []byte("\x00"+dataDir+"\x00"))
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/cmdline")
	return err == nil
}
