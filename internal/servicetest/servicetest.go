// Package servicetest tells tests where the real services are that scripts/test started, and
// makes a missing one a skip under plain `go test` but a failure under scripts/test (which sets
// OUTCOMEBILL_REQUIRE_SERVICES=1), so that CI can never pass by skipping.
package servicetest

import (
	"os"
	"testing"
)

// Names of the variables `outcomebill testenv` sets.
const (
	DatabaseURLEnv     = "OUTCOMEBILL_TEST_DATABASE_URL"
	TemporalAddressEnv = "OUTCOMEBILL_TEST_TEMPORAL_ADDRESS"
	TemporalCLIEnv     = "OUTCOMEBILL_TEMPORAL_CLI"
	RequireEnv         = "OUTCOMEBILL_REQUIRE_SERVICES"
)

// Required reports whether a missing service must fail the test rather than skip it.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Get returns the value of the environment variable name, skipping the test (or failing it when
// services are required) if it is not set. what says which service it names, for the message.
func Get(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if Required() {
			t.Fatalf("%s is not set: no %s; run the tests through scripts/test", name, what)
		}
		t.Skipf("no %s: set %s or run scripts/test", what, name)
	}
	return v
}

// DatabaseURL is the admin URL of the test PostgreSQL server.
func DatabaseURL(t testing.TB) string { return Get(t, DatabaseURLEnv, "PostgreSQL") }

// TemporalAddress is the host:port of the shared test Temporal server.
func TemporalAddress(t testing.TB) string { return Get(t, TemporalAddressEnv, "Temporal server") }

// TemporalCLI is the path of the Temporal CLI, for tests that start a server of their own.
func TemporalCLI(t testing.TB) string { return Get(t, TemporalCLIEnv, "Temporal CLI") }
