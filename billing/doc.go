// Package billing holds outcomebill's domain: customers, outcome types and their labor baselines,
// model prices, events and the fold of a task's events into its state, invoices and credit notes,
// and the error vocabulary every layer speaks.
//
// It imports only the standard library, shopspring/decimal, money and pricing. It must never
// import pgx, Gin, Temporal or net/http: those live in postgres, api and workflows, which depend on
// this package and not the other way round.
package billing
