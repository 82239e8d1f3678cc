// Package devenv starts a private PostgreSQL server and a real Temporal dev
// server on the loopback interface. It has one implementation for three users:
// `outcomebill dev` (persistent local state), tests, and `.ci/run` (through
// `outcomebill testenv`).
//
// Nothing here downloads a binary. PostgreSQL comes from the initdb and
// postgres executables on PATH. The Temporal CLI is pinned to
// [TemporalCLIVersion]; [CLIPath] builds it once with `go install` into the
// user cache when it's missing.
//
// Running as root: initdb and postgres refuse to run as root, so when the
// effective uid is 0 both run as the unprivileged "postgres" user, through
// exec.Cmd.SysProcAttr.Credential. That user has to be able to traverse the
// parents of the data directory. Directories from mktemp -d and t.TempDir()
// have mode 0700 and /root has mode 0700, so when the requested data
// directory can't be reached, the cluster is placed in
// os.TempDir()/outcomebill-pg-<hash of the requested path>/data instead and
// chowned to postgres. [Postgres.DataDir] reports where the cluster really
// is. The requested directory is still created, and fallback directories
// whose requested directory is gone are removed the next time a fallback is
// created, so clusters left behind by test runs don't pile up.
//
// Child processes: on Linux every process this package starts itself
// (postgres, initdb) gets Pdeathsig=SIGKILL, so a parent that is killed hard
// doesn't leave them running. The Temporal server is started by the SDK's
// testsuite.StartDevServer, which offers no hook for that, so callers must
// call Stop/Close. A stale Temporal process left on the same sqlite file is
// harmless because every start binds freshly chosen ports.
//
// This package imports no outcomebill package. Nothing outside cmd/ and tests
// should import it.
package devenv
