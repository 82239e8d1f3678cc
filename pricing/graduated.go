package pricing

import "github.com/shopspring/decimal"

// rateGraduated prices each unit of q in the tier it falls in. Tier i holds the quantity in
// (up_to[i-1], up_to[i]]; its flat amount is charged when q reaches into it, and the first tier
// always counts as reached so that its flat amount acts as a base fee even at q = 0.
func rateGraduated(tiers []Tier, q decimal.Decimal) (decimal.Decimal, []TierUse) {
	total := zero
	from := zero
	uses := make([]TierUse, 0, len(tiers))
	for i, t := range tiers {
		if i > 0 && !q.GreaterThan(from) {
			break
		}
		in := q.Sub(from)
		if t.UpTo != nil && q.GreaterThan(*t.UpTo) {
			in = t.UpTo.Sub(from)
		}
		amount := in.Mul(t.UnitAmount).Add(t.FlatAmount)
		uses = append(uses, TierUse{Tier: i, From: from, UpTo: t.UpTo, Quantity: in,
			UnitAmount: t.UnitAmount, FlatAmount: t.FlatAmount, Amount: amount})
		total = total.Add(amount)
		if t.UpTo == nil {
			break
		}
		from = *t.UpTo
	}
	return total, uses
}
