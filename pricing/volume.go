package pricing

import "github.com/shopspring/decimal"

// rateVolume prices all of q at the one tier q falls in, plus that tier's flat amount. Up_to is
// inclusive: 5 falls in a tier up to 5, 5.001 in the next.
func rateVolume(tiers []Tier, q decimal.Decimal) (decimal.Decimal, TierUse) {
	i := volumeTier(tiers, q)
	t := tiers[i]
	from := zero
	if i > 0 {
		from = *tiers[i-1].UpTo
	}
	amount := q.Mul(t.UnitAmount).Add(t.FlatAmount)
	return amount, TierUse{Tier: i, From: from, UpTo: t.UpTo, Quantity: q,
		UnitAmount: t.UnitAmount, FlatAmount: t.FlatAmount, Amount: amount}
}

func volumeTier(tiers []Tier, q decimal.Decimal) int {
	for i, t := range tiers {
		if t.UpTo == nil || !q.GreaterThan(*t.UpTo) {
			return i
		}
	}
	return len(tiers) - 1 // unreachable for a validated price, whose last tier is open-ended
}
