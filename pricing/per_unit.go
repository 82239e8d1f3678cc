package pricing

import "github.com/shopspring/decimal"

// ratePerUnit prices a quantity (metered, or the billable outcomes of a type) at unit_amount a
// unit. It is per_outcome under another name: the two differ only in what the unit is.
func ratePerUnit(p *Price, q, urgentUnits decimal.Decimal) (amount, urgentBase decimal.Decimal) {
	return ratePerOutcome(p, q, urgentUnits)
}
