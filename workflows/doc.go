// Package workflows holds outcomebill's Temporal code: the task lifecycle workflow with its
// activities, the outbox relay that signals task workflows, the worker registration, and the
// bridge that turns the Temporal SDK's metrics (and the workflows' own) into Prometheus series.
//
// Workflows only coordinate: they fold events with package billing, set timers and call
// activities; every read and write goes through an activity to a store interface declared here
// and implemented by package postgres (which must not import this package, so every type in those
// interfaces comes from billing or the standard library). This package must not import postgres or
// api; cmd/outcomebill wires them together.
package workflows
