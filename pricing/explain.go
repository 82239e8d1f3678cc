package pricing

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

var hundred = decimal.NewFromInt(100)

// String renders the explanation as one or two sentences for people: the API, the CSV and the
// PDF print it under the line. Intermediate figures are shown to the minor unit with "≈" when
// that hides digits; the JSON form keeps every digit.
func (e Explanation) String() string {
	var b strings.Builder
	m := func(d decimal.Decimal) string { return showMoney(d, e.Currency) }
	// Prices are shown with every digit they were set with: 0.000002 a token is not "0.00".
	px := func(d decimal.Decimal) string { return money.New(d, e.Currency).String() }
	switch e.Rule {
	case string(ModelPerOutcome), string(ModelPerUnit):
		fmt.Fprintf(&b, "%s × %s", e.quantityPhrase(), px(*e.UnitAmount))
	case string(ModelLaborShare):
		e.writeLabor(&b)
	case string(ModelSeatEquivalent):
		s := e.Seats
		fmt.Fprintf(&b, "%s ÷ %s outcomes a seat = %s seat equivalents", e.quantityPhrase(), s.OutcomesPerSeat, approx(s.SeatEquivalents))
		if s.RoundedUp {
			fmt.Fprintf(&b, ", rounded up to %s seats", s.Seats)
		}
		fmt.Fprintf(&b, ", × %s a seat", px(s.SeatPrice))
	case string(ModelGraduated):
		fmt.Fprintf(&b, "%s in graduated tiers: ", e.quantityPhrase())
		for i, t := range e.Tiers {
			if i > 0 {
				b.WriteString("; ")
			}
			e.writeTier(&b, t, true)
		}
	case string(ModelVolume):
		fmt.Fprintf(&b, "%s, all at the tier they reach: ", e.quantityPhrase())
		e.writeTier(&b, e.Tiers[0], e.Tiers[0].FlatAmount.IsPositive())
	case string(ModelPackage):
		d := e.Package
		fmt.Fprintf(&b, "%s", e.quantityPhrase())
		if d.FreeUnits.IsPositive() {
			fmt.Fprintf(&b, ", the first %s free", d.FreeUnits)
		}
		fmt.Fprintf(&b, ", in packages of %s = %s packages × %s", d.PackageSize, d.Packages, px(d.Amount))
	case string(ModelPercentage):
		d := e.Percentage
		fmt.Fprintf(&b, "%s%% of %d transactions totalling %s", d.Rate.Mul(hundred), d.Transactions, m(d.Volume))
		if d.FixedFee.IsPositive() {
			fmt.Fprintf(&b, ", plus %s a transaction", px(d.FixedFee))
		}
		if d.Min != nil {
			fmt.Fprintf(&b, ", at least %s a transaction (%d raised)", px(*d.Min), d.RaisedToMin)
		}
		if d.Max != nil {
			fmt.Fprintf(&b, ", at most %s a transaction (%d lowered)", px(*d.Max), d.LoweredToMax)
		}
	case string(ModelCostPlus):
		d := e.CostPlus
		b.WriteString("token and other cost")
		if e.Subject != "" {
			fmt.Fprintf(&b, " of %s", e.Subject)
		}
		fmt.Fprintf(&b, " %s", money.New(d.CostUSD, money.USD))
		if d.ExchangeRate != nil {
			fmt.Fprintf(&b, " × %s %s/USD = %s", d.ExchangeRate, e.Currency, m(d.Cost))
		}
		fmt.Fprintf(&b, ", plus %s%% markup", d.Markup.Mul(hundred))
	case KindUrgentSurcharge:
		u := e.Urgent
		fmt.Fprintf(&b, "%s urgent units of %s cost %s", u.UrgentUnits, e.Subject, m(u.Base))
		if u.ProRata {
			b.WriteString(" (their pro rata share of the line)")
		}
		fmt.Fprintf(&b, "; the urgent multiplier %s adds %s%%", u.Multiplier, u.Multiplier.Sub(one).Mul(hundred))
	case KindPlatformFee:
		b.WriteString("platform fee for the period")
	case KindMinimumTrueUp:
		fmt.Fprintf(&b, "usage came to %s, short of the minimum commitment of %s; the difference is billed",
			m(e.Limit.Before), m(e.Limit.Limit))
	case KindSpendCap:
		fmt.Fprintf(&b, "charges came to %s, above the spend cap of %s; the excess is taken off",
			m(e.Limit.Before), m(e.Limit.Limit))
	case KindPrepaidCredits:
		b.WriteString("prepaid credits drawn before cash: ")
		for i, d := range e.Credits.Draws {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s from grant %s (%s left", m(d.Amount), d.GrantID, m(d.RemainingAfter))
			if !d.ExpiresAt.IsZero() {
				fmt.Fprintf(&b, ", expires %s", d.ExpiresAt.UTC().Format("2006-01-02"))
			}
			b.WriteString(")")
		}
		if len(e.Credits.Expired) > 0 {
			fmt.Fprintf(&b, "; expired and not applied: %s", strings.Join(e.Credits.Expired, ", "))
		}
	default:
		fmt.Fprintf(&b, "%s", e.Rule)
	}
	fmt.Fprintf(&b, " = %s", m(e.Amount))
	if !e.Unrounded.Equal(e.Amount) {
		fmt.Fprintf(&b, " (%s before rounding)", e.Unrounded)
	}
	b.WriteString(".")
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// quantityPhrase says what was counted: outcomes with their partial credit, or a metered quantity.
func (e Explanation) quantityPhrase() string {
	o := e.Outcomes
	if o == nil {
		return fmt.Sprintf("%s units of %s", e.Quantity, e.Subject)
	}
	s := fmt.Sprintf("%s outcomes of %s (%d succeeded", e.Quantity, e.Subject, o.Succeeded)
	if o.Partial > 0 {
		s += fmt.Sprintf(", %d partial at %s", o.Partial, o.PartialCredit)
	}
	if n := o.UrgentSucceeded + o.UrgentPartial; n > 0 {
		s += fmt.Sprintf("; %d urgent", n)
	}
	return s + ")"
}

func (e Explanation) writeTier(b *strings.Builder, t TierUse, withAmount bool) {
	upTo := "∞)"
	if t.UpTo != nil {
		upTo = t.UpTo.String() + "]"
	}
	fmt.Fprintf(b, "tier %d (%s–%s %s × %s", t.Tier+1, t.From, upTo, t.Quantity, money.New(t.UnitAmount, e.Currency))
	if t.FlatAmount.IsPositive() {
		fmt.Fprintf(b, " + flat %s", money.New(t.FlatAmount, e.Currency))
	}
	if withAmount {
		fmt.Fprintf(b, " = %s", showMoney(t.Amount, e.Currency))
	}
}

func (e Explanation) writeLabor(b *strings.Builder) {
	l := e.Labor
	fmt.Fprintf(b, "%s%% of the labor cost of %s", l.Share.Mul(hundred), e.quantityPhrase())
	if l.Floor != nil {
		fmt.Fprintf(b, ", at least %s", money.New(*l.Floor, e.Currency))
	}
	if l.Cap != nil {
		fmt.Fprintf(b, ", at most %s", money.New(*l.Cap, e.Currency))
	}
	b.WriteString(" an outcome")
	for _, u := range l.Baselines {
		fmt.Fprintf(b, "; %d with %s: %s min at %s a year over %s h (%s an hour) = labor cost %s, %s an outcome",
			u.Succeeded+u.Partial, u.Source.label(), u.HumanMinutes, showMoney(u.AnnualCost, e.Currency), u.ProductiveHours,
			showMoney(u.HourlyRate, e.Currency), showMoney(u.LaborCost, e.Currency), showMoney(u.PerOutcome, e.Currency))
		switch u.Limited {
		case "floor":
			b.WriteString(" (raised to the floor)")
		case "cap":
			b.WriteString(" (lowered to the cap)")
		}
	}
	if l.OtherOutcomes > 0 {
		fmt.Fprintf(b, "; %d more with other baselines", l.OtherOutcomes)
	}
}

// showMoney prints d in c, to the minor unit; "≈" marks a figure whose further digits are only
// in the JSON. It goes through money.Round so that display and invoice never disagree on a digit.
func showMoney(d decimal.Decimal, c money.Currency) string {
	r := money.New(money.Round(d, c), c).String()
	if !money.Round(d, c).Equal(d) {
		return "≈" + r
	}
	return r
}

// approx prints a dimensionless ratio to four decimals at most.
func approx(d decimal.Decimal) string {
	if t := d.Truncate(4); !t.Equal(d) {
		return "≈" + t.String()
	}
	return d.String()
}
