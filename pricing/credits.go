package pricing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// drawCredits takes owed (already rounded, never negative) from the grants, the one expiring
// first first, so that the credit most at risk of being lost is the one used. Grants without an
// expiry come last. A grant whose expiry is at or before periodEnd has expired and is skipped.
// It never takes more than a grant holds nor more than is owed, and each grant at most once.
func drawCredits(owed decimal.Decimal, c money.Currency, grants []CreditGrant, periodEnd time.Time) (draws []Draw, expired []string, err error) {
	seen := make(map[string]bool, len(grants))
	for i, g := range grants {
		f := fmt.Sprintf("credits[%d].", i)
		switch {
		case g.ID == "":
			return nil, nil, fieldErrorf(f+"id", "is required")
		case seen[g.ID]:
			return nil, nil, fieldErrorf(f+"id", "grant %q is given twice; a grant can be drawn from only once per rating", g.ID)
		case g.Currency != c:
			return nil, nil, fieldErrorf(f+"currency", "is %q, want the plan currency %s", string(g.Currency), c)
		case g.Remaining.IsNegative():
			return nil, nil, fieldErrorf(f+"remaining", "must not be negative")
		case !money.Round(g.Remaining, c).Equal(g.Remaining):
			return nil, nil, fieldErrorf(f+"remaining", "must not be finer than the %s minor unit", c)
		case !g.ExpiresAt.IsZero() && periodEnd.IsZero():
			return nil, nil, fieldErrorf("period.end", "is required to tell whether credit %q has expired", g.ID)
		}
		seen[g.ID] = true
	}
	order := slices.Clone(grants)
	slices.SortStableFunc(order, func(a, b CreditGrant) int {
		switch {
		case a.ExpiresAt.IsZero() != b.ExpiresAt.IsZero():
			if a.ExpiresAt.IsZero() {
				return 1
			}
			return -1
		case !a.ExpiresAt.Equal(b.ExpiresAt):
			return a.ExpiresAt.Compare(b.ExpiresAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	left := owed
	for _, g := range order {
		if !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(periodEnd) {
			expired = append(expired, g.ID)
			continue
		}
		if !left.IsPositive() || !g.Remaining.IsPositive() {
			continue
		}
		take := decimal.Min(left, g.Remaining)
		draws = append(draws, Draw{GrantID: g.ID, Amount: take, RemainingAfter: g.Remaining.Sub(take), ExpiresAt: g.ExpiresAt})
		left = left.Sub(take)
	}
	return draws, expired, nil
}
