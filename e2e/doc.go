// Package e2e holds end-to-end tests: the HTTP API over a real PostgreSQL, and the whole route of
// an event — API, outbox, relay, task workflow on a real Temporal server — to the task's row.
package e2e
