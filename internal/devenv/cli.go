package devenv

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// TemporalCLIVersion is the Temporal CLI release the dev server runs.
// Newer releases don't build with this module proxy (@latest fails).
const TemporalCLIVersion = "v1.5.1"

const temporalCLIPackage = "github.com/temporalio/cli/cmd/temporal"

// CLIPath returns the path of the Temporal CLI:
//   - $OUTCOMEBILL_TEMPORAL_CLI, if set;
//   - else <cache>/bin/temporal, where cache is $XDG_CACHE_HOME/outcomebill
//     or ~/.cache/outcomebill, if it is TemporalCLIVersion;
//   - else it builds that binary with `go install` first, which takes about
//     5 minutes on 2 cores, once per machine. A lock file in the cache
//     directory keeps concurrent callers from building it twice.
//
// log receives progress and the go command's output; nil means
// slog.Default().
func CLIPath(ctx context.Context, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.Default()
	}
	if p := os.Getenv("OUTCOMEBILL_TEMPORAL_CLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("OUTCOMEBILL_TEMPORAL_CLI: %w", err)
		}
		return p, nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin", "temporal")
	if isPinnedCLI(ctx, bin) {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("temporal CLI: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "temporal-cli.lock"), log)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if isPinnedCLI(ctx, bin) {
		return bin, nil
	}
	if err := buildCLI(ctx, cache, bin, log); err != nil {
		return "", err
	}
	return bin, nil
}

// cachedCLI returns the Temporal CLI if CLIPath would find it without
// building it.
func cachedCLI(ctx context.Context) (string, bool) {
	if p := os.Getenv("OUTCOMEBILL_TEMPORAL_CLI"); p != "" {
		_, err := os.Stat(p)
		return p, err == nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", false
	}
	bin := filepath.Join(cache, "bin", "temporal")
	return bin, isPinnedCLI(ctx, bin)
}

func cacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "outcomebill"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("temporal CLI: no cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "outcomebill"), nil
}

// isPinnedCLI reports whether bin is the Temporal CLI at TemporalCLIVersion.
// A binary from `go install` reports "0.0.0-DEV" for --version (the release
// version is set by linker flags), so the Go build info is checked first;
// --version covers release binaries.
func isPinnedCLI(ctx context.Context, bin string) bool {
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Path == temporalCLIPackage {
		return info.Main.Version == TemporalCLIVersion
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return false
	}
	fields := strings.Fields(string(out)) // "temporal version 1.5.1 (Server ...)"
	return len(fields) >= 3 && fields[2] == strings.TrimPrefix(TemporalCLIVersion, "v")
}

func buildCLI(ctx context.Context, cache, bin string, log *slog.Logger) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("temporal CLI: not found in %s and no go command to build it: %w", bin, err)
	}
	// Build into a private directory and rename, so nobody ever runs a
	// half-written binary.
	tmp, err := os.MkdirTemp(cache, "bin-build-")
	if err != nil {
		return fmt.Errorf("temporal CLI: %w", err)
	}
	defer os.RemoveAll(tmp)

	log.Info("building the Temporal CLI; this happens once per machine and takes about 5 minutes",
		"version", TemporalCLIVersion, "dest", bin)
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "install", temporalCLIPackage+"@"+TemporalCLIVersion)
	cmd.Dir = tmp // outside any module or workspace
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.Info("go install: " + sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-logged
	if err != nil {
		return fmt.Errorf("temporal CLI: go install %s@%s: %w", temporalCLIPackage, TemporalCLIVersion, err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return fmt.Errorf("temporal CLI: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "temporal"), bin); err != nil {
		return fmt.Errorf("temporal CLI: %w", err)
	}
	if !isPinnedCLI(ctx, bin) {
		return fmt.Errorf("temporal CLI: built %s but it doesn't report version %s", bin, TemporalCLIVersion)
	}
	log.Info("built the Temporal CLI", "path", bin, "took", time.Since(start).Round(time.Second))
	return nil
}

// lockFile takes an exclusive flock on path, waiting as long as ctx allows.
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("temporal CLI: lock: %w", err)
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("temporal CLI: lock %s: %w", path, err)
		}
		if !waited {
			log.Info("waiting for another process that is building the Temporal CLI", "lock", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("temporal CLI: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
