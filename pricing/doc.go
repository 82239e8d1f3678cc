// Package pricing holds outcomebill's price models (DESIGN.md §4) as pure functions from a plan
// version and one period's usage and outcomes to priced invoice lines, each with an explanation
// that the API, CSV and PDF print.
//
// A PlanVersion names the currency, the plan-level terms (platform fee, minimum commitment,
// urgent multiplier, spend cap) and one Charge per outcome type or metered quantity, each priced
// by one model: per_outcome, labor_share, seat_equivalent, per_unit, graduated, volume, package,
// percentage or cost_plus. Rate prices a whole period at once; Rater does the same for outcomes
// streamed one at a time, in memory that grows with the number of lines, not of outcomes.
//
// Amounts are computed at full precision and each line is rounded exactly once, through
// money.Round; totals are sums of rounded lines.
//
// The package must stay pure: it imports only the standard library (no I/O, no clock, no
// context), shopspring/decimal and money. It must never import billing, pgx, Gin, Temporal or
// net/http; billing imports pricing, not the other way round.
package pricing
