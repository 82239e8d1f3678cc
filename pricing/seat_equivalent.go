package pricing

import "github.com/shopspring/decimal"

// rateSeats prices outcomes as the seats of people they replace: units ÷ outcomes_per_seat seat
// equivalents at seat_price each, optionally rounded up to whole seats.
func rateSeats(p *Price, units decimal.Decimal) (decimal.Decimal, *SeatDetail) {
	d := &SeatDetail{OutcomesPerSeat: *p.OutcomesPerSeat, SeatPrice: *p.SeatPrice, RoundedUp: p.RoundUpSeats}
	d.SeatEquivalents = units.Div(*p.OutcomesPerSeat)
	if p.RoundUpSeats {
		quo, rem := units.QuoRem(*p.OutcomesPerSeat, 0)
		if !rem.IsZero() {
			quo = quo.Add(one)
		}
		d.Seats = quo
		return quo.Mul(*p.SeatPrice), d
	}
	d.Seats = d.SeatEquivalents
	// Multiplying before dividing keeps 1250 × 30 / 600 exact where 1250/600 × 30 would not be.
	return units.Mul(*p.SeatPrice).Div(*p.OutcomesPerSeat), d
}
