package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

const (
	temporalStartTimeout = 60 * time.Second
	temporalStopTimeout  = 30 * time.Second
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// CLIPath is the Temporal CLI binary, usually from CLIPath. Required:
	// without it the SDK would try to download one.
	CLIPath string
	// DBFile is the server's sqlite database. Empty means a file in a new
	// temporary directory, removed by Close.
	DBFile string
	// Port for the gRPC frontend on 127.0.0.1; 0 picks a free one. Start
	// after Stop keeps it.
	Port int
	// UI enables the web UI on a free port (see UIURL).
	UI bool
	// Log receives the server's output; nil discards it. The last few KiB
	// are kept either way and included in startup errors.
	Log io.Writer
}

// Temporal is a Temporal dev server (the CLI's `server start-dev`) backed by
// a sqlite file, with the "default" namespace.
type Temporal struct {
	opts   TemporalOptions
	dbFile string
	tmpDir string // created for an empty DBFile; removed by Close
	port   int
	uiPort int
	tail   *tailBuffer

	mu  sync.Mutex
	srv *testsuite.DevServer
}

// StartTemporal starts a dev server and waits until it serves the default
// namespace.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	if opts.CLIPath == "" {
		return nil, errors.New("temporal: CLIPath is required")
	}
	t := &Temporal{opts: opts, dbFile: opts.DBFile, port: opts.Port, tail: newTailBuffer(8 << 10)}
	var err error
	if t.dbFile == "" {
		if t.tmpDir, err = os.MkdirTemp("", "outcomebill-temporal-"); err != nil {
			return nil, fmt.Errorf("temporal: %w", err)
		}
		t.dbFile = filepath.Join(t.tmpDir, "temporal.db")
	} else if err := os.MkdirAll(filepath.Dir(t.dbFile), 0o755); err != nil {
		return nil, fmt.Errorf("temporal: %w", err)
	}
	if t.port == 0 {
		if t.port, err = freePort(); err != nil {
			t.Close()
			return nil, fmt.Errorf("temporal: %w", err)
		}
	}
	if opts.UI {
		if t.uiPort, err = freePort(); err != nil {
			t.Close()
			return nil, fmt.Errorf("temporal: %w", err)
		}
	}
	if err := t.Start(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Address returns the frontend's host:port, for client.Options.HostPort.
func (t *Temporal) Address() string { return "127.0.0.1:" + strconv.Itoa(t.port) }

// UIURL returns the web UI's URL, or "" when the UI is off.
func (t *Temporal) UIURL() string {
	if t.uiPort == 0 {
		return ""
	}
	return "http://127.0.0.1:" + strconv.Itoa(t.uiPort)
}

// DBFile returns the sqlite file the server uses.
func (t *Temporal) DBFile() string { return t.dbFile }

// Start starts the server again after Stop, with the same database file and
// ports. Starting a running server does nothing.
func (t *Temporal) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, temporalStartTimeout)
	defer cancel()
	out := io.Writer(t.tail)
	if t.opts.Log != nil {
		out = io.MultiWriter(t.opts.Log, t.tail)
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := testsuite.DevServerOptions{
		ExistingPath: t.opts.CLIPath, // never download
		DBFilename:   t.dbFile,
		ExtraArgs: []string{
			"--sqlite-pragma", "journal_mode=wal",
			"--sqlite-pragma", "synchronous=normal",
		},
		ClientOptions: &client.Options{
			HostPort:  t.Address(),
			Namespace: "default",
			Logger:    sdklog.NewStructuredLogger(logger),
		},
		LogLevel: "warn",
		EnableUI: t.opts.UI,
		Stdout:   out,
		Stderr:   out,
	}
	if t.uiPort != 0 {
		opts.UIPort = strconv.Itoa(t.uiPort)
	}
	srv, err := testsuite.StartDevServer(ctx, opts)
	if err != nil {
		// If the process started, the SDK gives us no handle to stop it;
		// it exits by itself when its ports are taken or on its own
		// errors, and otherwise lingers until Close of its parent. See
		// the package doc.
		return withTail(fmt.Errorf("temporal: start dev server on %s with %s: %w", t.Address(), t.dbFile, err), t.tail)
	}
	// The SDK dials a client to wait for readiness; callers dial their
	// own.
	srv.Client().Close()
	t.srv = srv
	return nil
}

// Stop shuts the server down (SIGINT) and waits for it to exit, for at most
// 30s. The database file stays, so Start can continue where it stopped.
// Stopping a stopped server does nothing.
func (t *Temporal) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv == nil {
		return nil
	}
	srv := t.srv
	t.srv = nil
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()
	select {
	case err := <-stopped:
		if err != nil && !isInterruptExit(err) {
			return fmt.Errorf("temporal: stop: %w", err)
		}
		return nil
	case <-time.After(temporalStopTimeout):
		return fmt.Errorf("temporal: server on %s didn't exit within %s of SIGINT", t.Address(), temporalStopTimeout)
	}
}

// Close stops the server and removes the temporary directory made for an
// empty TemporalOptions.DBFile.
func (t *Temporal) Close() error {
	err := t.Stop()
	if t.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(t.tmpDir))
	}
	return err
}

// isInterruptExit reports whether err only says the process ended because of
// the SIGINT we sent it.
func isInterruptExit(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
