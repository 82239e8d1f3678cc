package pricing

import "testing"

func TestSeatEquivalent(t *testing.T) {
	tests := []struct {
		name              string
		roundUp           bool
		succeeded, partl  int64
		wantSeats, wantAm string
	}{
		{"zero usage", false, 0, 0, "0", "0"},
		{"fractional seats", false, 1250, 0, "2.0833333333333333", "62.5"},
		{"rounded up to whole seats", true, 1250, 0, "3", "90"},
		{"exactly one seat is not rounded up", true, 600, 0, "1", "30"},
		{"one outcome past a seat rounds up", true, 601, 0, "2", "60"},
		{"partials count half", false, 500, 200, "1", "30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Charge{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelSeatEquivalent,
				OutcomesPerSeat: dp("600"), SeatPrice: dp("30"), RoundUpSeats: tt.roundUp}}
			res := rateOne(t, "USD", c, Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", tt.succeeded, tt.partl)}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "seats", l.Quantity, tt.wantSeats)
			wantAmount(t, "amount", l.Amount, tt.wantAm)
		})
	}
}
