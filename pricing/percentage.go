package pricing

import "github.com/shopspring/decimal"

// percentageState sums the fees of a stream of transactions without keeping them.
type percentageState struct {
	count        int64
	volume       decimal.Decimal
	fees         decimal.Decimal
	raisedToMin  int64
	loweredToMax int64
}

// add prices one transaction: amount × rate + fixed_fee, clamped to [min, max]. The fee is kept
// at full precision; only the line is rounded.
func (s *percentageState) add(p *Price, amount decimal.Decimal) {
	fee := amount.Mul(*p.Rate)
	if p.FixedFee != nil {
		fee = fee.Add(*p.FixedFee)
	}
	if p.Min != nil && fee.LessThan(*p.Min) {
		fee = *p.Min
		s.raisedToMin++
	}
	if p.Max != nil && fee.GreaterThan(*p.Max) {
		fee = *p.Max
		s.loweredToMax++
	}
	s.count++
	s.volume = s.volume.Add(amount)
	s.fees = s.fees.Add(fee)
}

func (s *percentageState) rate(p *Price) (decimal.Decimal, *PercentageDetail) {
	return s.fees, &PercentageDetail{Rate: *p.Rate, FixedFee: orZero(p.FixedFee), Min: p.Min, Max: p.Max,
		Transactions: s.count, Volume: s.volume, RaisedToMin: s.raisedToMin, LoweredToMax: s.loweredToMax}
}
