// Package money holds Money — an exact decimal amount with an ISO 4217 currency — the table of
// currency minor units, and Round, the one rounding function of the product (DESIGN.md §4).
//
// It imports only the standard library and shopspring/decimal: no I/O, no clock. Nothing on a
// money path may use a float; every amount that leaves a pricing rule is rounded here, once.
package money
