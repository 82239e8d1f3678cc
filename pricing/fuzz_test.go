package pricing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

var fuzzCurrencies = []money.Currency{"USD", "JPY", "BHD", "EUR"}

// FuzzInvoiceTotal rates a plan using every kind of line and checks that the total is the sum of
// the lines, every line rounded once, and no credit overdrawn.
func FuzzInvoiceTotal(f *testing.F) {
	f.Add(uint8(0), uint32(99), uint16(1200), uint16(45), uint16(10), uint32(12345), uint16(4900), uint16(10000), uint32(0), uint32(3000), uint32(500000), uint8(1))
	f.Add(uint8(1), uint32(1), uint16(0), uint16(0), uint16(0), uint32(0), uint16(0), uint16(0), uint32(0), uint32(0), uint32(0), uint8(0))
	f.Add(uint8(2), uint32(1555), uint16(7), uint16(3), uint16(7), uint32(5001), uint16(0), uint16(50000), uint32(60000), uint32(99999), uint32(1), uint8(3))
	f.Fuzz(func(t *testing.T, curIdx uint8, unitMilli uint32, succeeded, partial, urgent uint16, meterMilli uint32,
		fee, minimum uint16, capExtra, grantA, grantB uint32, flags uint8) {
		cur := fuzzCurrencies[int(curIdx)%len(fuzzCurrencies)]
		exp := cur.MinorUnits()
		minor := func(n uint32) *decimal.Decimal { v := decimal.New(int64(n), -exp); return &v }
		terms := Terms{PlatformFee: minor(uint32(fee)), MinimumCommitment: minor(uint32(minimum)), UrgentMultiplier: dp("1.25")}
		if flags&1 != 0 {
			c := minor(uint32(fee) + uint32(minimum) + capExtra)
			terms.Cap = c
		}
		plan := PlanVersion{Currency: cur, Terms: terms, Prices: []Charge{
			{OutcomeType: "a.b", Price: Price{Model: ModelPerOutcome, UnitAmount: ptr(decimal.New(int64(unitMilli), -3))}},
			{OutcomeType: "a.b", Price: Price{Model: ModelSeatEquivalent, OutcomesPerSeat: dp("7"), SeatPrice: dp("3.33"), RoundUpSeats: flags&2 != 0}},
			{Meter: "m", Price: Price{Model: ModelGraduated, Tiers: tiers("1.5", "0.333", "1", "10", "0.125", "0.5", "-", "0.01", "0")}},
			{Meter: "m", Price: Price{Model: ModelVolume, Tiers: tiers("1.5", "0.333", "1", "10", "0.125", "0.5", "-", "0.01", "0")}},
			{Meter: "m", Price: Price{Model: ModelPackage, PackageSize: dp("3"), Amount: dp("0.7"), FreeUnits: dp("1")}},
			{Meter: "p", Price: Price{Model: ModelPercentage, Rate: dp("0.013"), FixedFee: dp("0.3"), Min: dp("0.5"), Max: dp("5")}},
			{Price: Price{Model: ModelCostPlus, Markup: dp("0.15")}},
		}}
		u := uint16(min(int(urgent), int(succeeded)))
		end := day("2026-04-01")
		usage := Usage{
			Period: Period{End: end, ExchangeRate: dp("151.3333"), Credits: []CreditGrant{
				{ID: "a", Currency: cur, Remaining: *minor(grantA), ExpiresAt: end.AddDate(0, 0, int(flags>>2)%5-2)},
				{ID: "b", Currency: cur, Remaining: *minor(grantB)},
			}},
			Counts:       []OutcomeCount{{OutcomeType: "a.b", Succeeded: int64(succeeded - u), Partial: int64(partial), UrgentSucceeded: int64(u)}},
			Meters:       map[string]decimal.Decimal{"m": decimal.New(int64(meterMilli), -3)},
			Transactions: map[string][]decimal.Decimal{"p": {decimal.New(int64(meterMilli), -2), decimal.New(int64(unitMilli), -3)}},
			CostUSD:      map[string]decimal.Decimal{"": decimal.New(int64(meterMilli), -4)},
		}
		res, err := Rate(plan, usage)
		if err != nil {
			t.Fatalf("Rate: %v", err)
		}
		checkInvariants(t, res)
		if terms.Cap != nil && res.Subtotal.GreaterThan(*terms.Cap) {
			t.Errorf("subtotal %s above cap %s", res.Subtotal, terms.Cap)
		}
		if res.Total.IsNegative() {
			t.Errorf("negative total %s", res.Total)
		}
		checkDraws(t, usage.Credits, res.Draws, end, res.CreditsApplied, res.Subtotal)
	})
}

func ptr(d decimal.Decimal) *decimal.Decimal { return &d }

// checkDraws: no grant drawn twice, none beyond its balance or below zero, none expired, no more
// drawn than owed, and when less was drawn than owed, every live grant is empty.
func checkDraws(t *testing.T, grants []CreditGrant, draws []Draw, end time.Time, applied, owed decimal.Decimal) {
	t.Helper()
	byID := map[string]CreditGrant{}
	for _, g := range grants {
		byID[g.ID] = g
	}
	drawn := map[string]bool{}
	sum := decimal.Zero
	for _, d := range draws {
		g, ok := byID[d.GrantID]
		switch {
		case !ok:
			t.Fatalf("draw from unknown grant %q", d.GrantID)
		case drawn[d.GrantID]:
			t.Errorf("grant %q drawn twice", d.GrantID)
		case !d.Amount.IsPositive():
			t.Errorf("draw of %s from %q", d.Amount, d.GrantID)
		case d.Amount.GreaterThan(g.Remaining), d.RemainingAfter.IsNegative():
			t.Errorf("grant %q overdrawn: %s of %s", d.GrantID, d.Amount, g.Remaining)
		case !d.RemainingAfter.Equal(g.Remaining.Sub(d.Amount)):
			t.Errorf("grant %q: remaining after %s, want %s", d.GrantID, d.RemainingAfter, g.Remaining.Sub(d.Amount))
		case !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(end):
			t.Errorf("expired grant %q drawn", d.GrantID)
		}
		drawn[d.GrantID] = true
		sum = sum.Add(d.Amount)
	}
	if !sum.Equal(applied) {
		t.Errorf("draws sum to %s, credits applied %s", sum, applied)
	}
	if sum.GreaterThan(decimal.Max(owed, decimal.Zero)) {
		t.Errorf("drew %s of %s owed", sum, owed)
	}
	if sum.LessThan(owed) {
		for _, g := range grants {
			live := g.ExpiresAt.IsZero() || g.ExpiresAt.After(end)
			if live && g.Remaining.IsPositive() && !drawn[g.ID] {
				t.Errorf("owed %s, drew %s, but live grant %q was left untouched", owed, sum, g.ID)
			}
		}
	}
}

// FuzzCredits draws an amount from grants described by data: three bytes a grant (balance, days
// to expiry with 0 meaning never, and a currency switch).
func FuzzCredits(f *testing.F) {
	f.Add(uint32(15000), []byte{10, 0, 0, 200, 30, 0, 50, 3, 0})
	f.Add(uint32(0), []byte{1, 1, 0})
	f.Add(uint32(999999), []byte{255, 0, 0, 255, 255, 0, 0, 10, 0, 7, 1, 0})
	f.Fuzz(func(t *testing.T, owedCents uint32, data []byte) {
		end := day("2026-04-01")
		var grants []CreditGrant
		for i := 0; i+2 < len(data) && len(grants) < 50; i += 3 {
			g := CreditGrant{ID: string(rune('A' + len(grants))), Currency: "USD", Remaining: decimal.New(int64(data[i])*137, -2)}
			if data[i+1] != 0 {
				g.ExpiresAt = end.AddDate(0, 0, int(data[i+1])-8)
			}
			grants = append(grants, g)
		}
		owed := decimal.New(int64(owedCents), -2)
		draws, expired, err := drawCredits(owed, "USD", grants, end)
		if err != nil {
			t.Fatal(err)
		}
		sum := decimal.Zero
		for _, d := range draws {
			sum = sum.Add(d.Amount)
		}
		checkDraws(t, grants, draws, end, sum, owed)
		for _, id := range expired {
			for _, d := range draws {
				if d.GrantID == id {
					t.Errorf("grant %q both expired and drawn", id)
				}
			}
		}
	})
}

// FuzzTiers checks graduated and volume against a brute-force reference that walks the quantity
// one thousandth at a time in integers. data describes tiers, two bytes each: the width in
// thousandths (0 makes the tier open-ended and ends the list) and the unit price in cents; the
// flat amount is the price's low bits.
func FuzzTiers(f *testing.F) {
	f.Add(uint16(5000), []byte{250, 100, 250, 50, 0, 10}) // 5 exactly at the second edge
	f.Add(uint16(5001), []byte{250, 100, 250, 50, 0, 10}) // 5.001 just past it
	f.Add(uint16(0), []byte{1, 7})
	f.Add(uint16(65535), []byte{255, 1, 255, 2, 255, 3, 0, 4})
	f.Fuzz(func(t *testing.T, qMilli uint16, data []byte) {
		type ref struct{ upTo, unit, flat int64 } // upTo in thousandths, -1 open; unit, flat in cents
		var refs []ref
		var ts []Tier
		edge := int64(0)
		for i := 0; i+1 < len(data) && len(refs) < 12; i += 2 {
			width := int64(data[i]) * 10
			r := ref{upTo: -1, unit: int64(data[i+1]), flat: int64(data[i+1] % 7)}
			tr := Tier{UnitAmount: decimal.New(r.unit, -2), FlatAmount: decimal.New(r.flat, -2)}
			if width > 0 && len(refs) < 11 {
				edge += width
				r.upTo = edge
				tr.UpTo = ptr(decimal.New(edge, -3))
			}
			refs, ts = append(refs, r), append(ts, tr)
			if r.upTo < 0 {
				break
			}
		}
		if len(refs) == 0 || refs[len(refs)-1].upTo >= 0 {
			refs = append(refs, ref{upTo: -1, unit: 1})
			ts = append(ts, Tier{UnitAmount: decimal.New(1, -2)})
		}
		if err := validateTiers("tiers", ts); err != nil {
			t.Fatalf("generated tiers invalid: %v", err)
		}
		q := int64(qMilli)
		tierOf := func(x int64) int {
			for i, r := range refs {
				if r.upTo < 0 || x <= r.upTo {
					return i
				}
			}
			panic("no open tier")
		}
		// Graduated: every thousandth priced in its own tier; a tier's flat once it holds any.
		var wantGrad int64 // cents × thousandths
		reached := map[int]bool{0: true}
		for k := int64(1); k <= q; k++ {
			i := tierOf(k)
			reached[i] = true
			wantGrad += refs[i].unit
		}
		for i := range reached {
			wantGrad += refs[i].flat * 1000
		}
		vi := tierOf(q)
		wantVol := q*refs[vi].unit + refs[vi].flat*1000

		scale := decimal.New(100000, 0)
		qd := decimal.New(q, -3)
		grad, _ := rateGraduated(ts, qd)
		if !grad.Mul(scale).Equal(decimal.NewFromInt(wantGrad)) {
			t.Errorf("graduated(%s) = %s, reference %s", qd, grad, decimal.New(wantGrad, -5))
		}
		vol, _ := rateVolume(ts, qd)
		if !vol.Mul(scale).Equal(decimal.NewFromInt(wantVol)) {
			t.Errorf("volume(%s) = %s, reference %s", qd, vol, decimal.New(wantVol, -5))
		}
	})
}
