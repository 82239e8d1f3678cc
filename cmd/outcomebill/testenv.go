package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/outcomebill/outcomebill/internal/devenv"
)

// newTestenvCmd returns `outcomebill testenv`, which runs a command (usually
// go test) against a private PostgreSQL and Temporal. .ci/run uses it.
func newTestenvCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "testenv [--state-dir DIR] -- COMMAND [ARGS...]",
		Short: "Run a command against a private PostgreSQL and Temporal",
		Long: `Starts PostgreSQL (fsync off: fast, not crash-safe) and a Temporal dev server
on 127.0.0.1, runs COMMAND with these variables added to its environment, then
stops both and exits with COMMAND's exit code:

  OUTCOMEBILL_TEST_DATABASE_URL      the "postgres" database; tests create their own from it
  OUTCOMEBILL_TEST_TEMPORAL_ADDRESS  host:port of the Temporal frontend
  OUTCOMEBILL_TEMPORAL_CLI           the Temporal CLI, for tests that start their own server
  OUTCOMEBILL_REQUIRE_SERVICES=1     tests fail instead of skipping when a service is missing

State lives in a new temporary directory unless --state-dir is given. SIGINT and
SIGTERM are passed on to COMMAND.`,
		Example: "  outcomebill testenv -- go test ./...",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := runTestenv(cmd, stateDir, args)
			if err != nil && code == 0 {
				return err
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
			}
			if code != 0 {
				// Everything is stopped by now; the exit code is the
				// command's result, not an error of ours to print.
				os.Exit(code)
			}
			return nil
		},
	}
	// Flags after COMMAND belong to COMMAND, with or without "--".
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "keep PostgreSQL and Temporal state (and their logs) in `DIR` instead of a temporary directory")
	return cmd
}

// runTestenv starts the services, runs args and returns its exit code.
func runTestenv(cmd *cobra.Command, stateDir string, args []string) (code int, err error) {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("cmd", "testenv")

	// A signal cancels start-up; once the command runs, it goes to the
	// command, which decides how to end, and we clean up after it.
	var (
		mu    sync.Mutex
		child *os.Process
	)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			mu.Lock()
			if child != nil {
				child.Signal(sig)
			} else {
				cancel()
			}
			mu.Unlock()
		}
	}()

	env, err := devenv.Up(ctx, devenv.UpOptions{StateDir: stateDir, Log: log})
	if err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	defer func() {
		if cerr := env.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("testenv: %w", cerr))
		}
	}()

	c := exec.Command(args[0], args[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	c.Env = append(os.Environ(),
		"OUTCOMEBILL_TEST_DATABASE_URL="+env.Postgres.URL("postgres"),
		"OUTCOMEBILL_TEST_TEMPORAL_ADDRESS="+env.TemporalAddress(),
		"OUTCOMEBILL_TEMPORAL_CLI="+env.TemporalCLI,
		"OUTCOMEBILL_REQUIRE_SERVICES=1",
	)
	mu.Lock()
	if ctx.Err() != nil { // interrupted while the services started
		mu.Unlock()
		return 0, fmt.Errorf("testenv: %w", ctx.Err())
	}
	err = c.Start()
	if err == nil {
		child = c.Process
	}
	mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	return exitCode(c.Wait())
}

// exitCode turns the result of Wait into a shell-style exit code: the
// command's own, or 128+N when signal N ended it.
func exitCode(err error) (int, error) {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	default:
		return 0, fmt.Errorf("testenv: %w", err)
	}
}
