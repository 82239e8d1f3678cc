package pricing

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func dp(s string) *decimal.Decimal {
	v := d(s)
	return &v
}

// rateOne rates usage under a plan of one charge and returns the result, failing on error.
func rateOne(t *testing.T, cur money.Currency, c Charge, u Usage) Result {
	t.Helper()
	res, err := Rate(PlanVersion{Currency: cur, Prices: []Charge{c}}, u)
	if err != nil {
		t.Fatalf("Rate: %v", err)
	}
	checkInvariants(t, res)
	return res
}

// checkInvariants holds for every Result: each line rounded to the minor unit, the total the sum
// of the lines, the subtotal the sum of all lines but credits.
func checkInvariants(t testing.TB, res Result) {
	t.Helper()
	sum, sub := decimal.Zero, decimal.Zero
	for _, l := range res.Lines {
		if !money.Round(l.Amount, res.Currency).Equal(l.Amount) {
			t.Errorf("line %q amount %s not rounded to %s", l.Description, l.Amount, res.Currency)
		}
		if !l.Explanation.Amount.Equal(l.Amount) {
			t.Errorf("line %q: explanation amount %s != line amount %s", l.Description, l.Explanation.Amount, l.Amount)
		}
		sum = sum.Add(l.Amount)
		if l.Kind != KindPrepaidCredits {
			sub = sub.Add(l.Amount)
		}
	}
	if !sum.Equal(res.Total) {
		t.Errorf("total %s != sum of lines %s", res.Total, sum)
	}
	if !sub.Equal(res.Subtotal) {
		t.Errorf("subtotal %s != sum of lines before credits %s", res.Subtotal, sub)
	}
	if !res.Subtotal.Sub(res.CreditsApplied).Equal(res.Total) {
		t.Errorf("subtotal %s − credits %s != total %s", res.Subtotal, res.CreditsApplied, res.Total)
	}
}

func lineOf(t *testing.T, res Result, kind string) Line {
	t.Helper()
	for _, l := range res.Lines {
		if l.Kind == kind {
			return l
		}
	}
	t.Fatalf("no %s line in %+v", kind, res.Lines)
	return Line{}
}

func hasLine(res Result, kind string) bool {
	for _, l := range res.Lines {
		if l.Kind == kind {
			return true
		}
	}
	return false
}

func wantAmount(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(d(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func counts(outcomeType string, succeeded, partial int64) OutcomeCount {
	return OutcomeCount{OutcomeType: outcomeType, Succeeded: succeeded, Partial: partial}
}

func tiers(spec ...string) []Tier {
	// spec: "up_to unit flat" triples; up_to "-" is open-ended.
	var out []Tier
	for i := 0; i < len(spec); i += 3 {
		t := Tier{UnitAmount: d(spec[i+1]), FlatAmount: d(spec[i+2])}
		if spec[i] != "-" {
			t.UpTo = dp(spec[i])
		}
		out = append(out, t)
	}
	return out
}

func decimalFromInt(i int) decimal.Decimal { return decimal.NewFromInt(int64(i)) }

func decimalMax(a, b decimal.Decimal) decimal.Decimal { return decimal.Max(a, b) }

type decimalT = decimal.Decimal

func moneyCurrency(s string) money.Currency { return money.Currency(s) }
