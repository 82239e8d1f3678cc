package pricing

import "github.com/shopspring/decimal"

// ratePerOutcome prices per_outcome and per_unit: unit_amount for every unit. The urgent base
// is exact because every unit has the same price.
func ratePerOutcome(p *Price, units, urgentUnits decimal.Decimal) (amount, urgentBase decimal.Decimal) {
	return units.Mul(*p.UnitAmount), urgentUnits.Mul(*p.UnitAmount)
}
