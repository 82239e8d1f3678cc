package pricing

import (
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// laborPrice is what one whole outcome costs under a labor_share price: share × the task's labor
// cost, then raised to floor and lowered to cap. Floor and cap bound a single outcome, which is
// why they are applied per outcome as outcomes stream in and not to the line.
func laborPrice(p *Price, b *Baseline) (laborCost, perOutcome decimal.Decimal, limited string) {
	laborCost = b.LaborCost()
	perOutcome = p.Share.Mul(laborCost)
	if p.Floor != nil && perOutcome.LessThan(*p.Floor) {
		return laborCost, *p.Floor, "floor"
	}
	if p.Cap != nil && perOutcome.GreaterThan(*p.Cap) {
		return laborCost, *p.Cap, "cap"
	}
	return laborCost, perOutcome, ""
}

// maxBaselineGroups bounds how many distinct sets of labor figures one line explains one by one.
// Past it, outcomes are summed without their figures, so memory stays bounded however varied
// the per-task baselines of a period are.
const maxBaselineGroups = 16

type baselineGroup struct {
	use   BaselineUse
	tally tally
}

// laborState accumulates a labor_share charge: outcomes grouped by baseline, so each group's
// price is computed once and the stream only counts.
type laborState struct {
	groups []baselineGroup
	// last is the group of the most recent baseline: consecutive tasks nearly always share one.
	// Baselines are compared by value, never by pointer, because a streaming caller may reuse
	// one Baseline variable for every row it scans.
	last int
	// Outcomes past maxBaselineGroups, summed at full precision.
	other                     tally
	otherAmount, otherUrgent  decimal.Decimal
	otherFloored, otherCapped int64
}

func checkBaseline(b *Baseline, c money.Currency) error {
	switch {
	case b == nil:
		return fieldErrorf("baseline", "is required for an outcome type priced by labor_share")
	case b.HumanMinutes.IsNegative():
		return fieldErrorf("baseline.human_minutes", "must not be negative")
	case b.AnnualCost.Currency != c:
		return fieldErrorf("baseline.annual_cost.currency", "is %q, want the plan currency %s (convert before rating)", string(b.AnnualCost.Currency), c)
	case b.AnnualCost.Amount.IsNegative():
		return fieldErrorf("baseline.annual_cost.amount", "must not be negative")
	case b.ProductiveHours.IsNegative():
		return fieldErrorf("baseline.productive_hours", "must not be negative")
	case b.Source != SourceOutcomeType && b.Source != SourceCustomerOverride:
		return fieldErrorf("baseline.source", "must be %s or %s", SourceOutcomeType, SourceCustomerOverride)
	}
	return nil
}

func sameBaseline(u *BaselineUse, b *Baseline) bool {
	return u.Source == b.Source && u.HumanMinutes.Equal(b.HumanMinutes) &&
		u.AnnualCost.Equal(b.AnnualCost.Amount) && u.ProductiveHours.Equal(b.productiveHours())
}

// add counts n outcomes (t) priced with baseline b, which checkBaseline has accepted.
func (s *laborState) add(p *Price, b *Baseline, t tally) {
	if s.last < len(s.groups) && sameBaseline(&s.groups[s.last].use, b) {
		s.groups[s.last].tally.add(t)
		return
	}
	for i := range s.groups {
		if sameBaseline(&s.groups[i].use, b) {
			s.last = i
			s.groups[i].tally.add(t)
			return
		}
	}
	laborCost, perOutcome, limited := laborPrice(p, b)
	if len(s.groups) < maxBaselineGroups {
		s.groups = append(s.groups, baselineGroup{use: BaselineUse{
			Source: b.Source, HumanMinutes: b.HumanMinutes, AnnualCost: b.AnnualCost.Amount,
			ProductiveHours: b.productiveHours(), HourlyRate: b.HourlyRate(), LaborCost: laborCost,
			PerOutcome: perOutcome, Limited: limited,
		}, tally: t})
		s.last = len(s.groups) - 1
		return
	}
	pc := p.partialCredit()
	s.other.add(t)
	s.otherAmount = s.otherAmount.Add(perOutcome.Mul(t.units(pc)))
	s.otherUrgent = s.otherUrgent.Add(perOutcome.Mul(t.urgentUnits(pc)))
	switch limited {
	case "floor":
		s.otherFloored += t.Succeeded + t.Partial
	case "cap":
		s.otherCapped += t.Succeeded + t.Partial
	}
}

// rate sums the groups. A partial outcome costs partial_credit of a whole one's price, after
// floor and cap: the bounds are per outcome, the credit scales the outcome.
func (s *laborState) rate(p *Price) (amount, urgentBase decimal.Decimal, d *LaborDetail) {
	pc := p.partialCredit()
	d = &LaborDetail{Share: *p.Share, Floor: p.Floor, Cap: p.Cap, Baselines: make([]BaselineUse, 0, len(s.groups)),
		OtherOutcomes: s.other.Succeeded + s.other.Partial, RaisedToFloor: s.otherFloored, LoweredToCap: s.otherCapped}
	amount, urgentBase = s.otherAmount, s.otherUrgent
	for _, g := range s.groups {
		amount = amount.Add(g.use.PerOutcome.Mul(g.tally.units(pc)))
		urgentBase = urgentBase.Add(g.use.PerOutcome.Mul(g.tally.urgentUnits(pc)))
		u := g.use
		u.Succeeded, u.Partial = g.tally.Succeeded, g.tally.Partial
		n := g.tally.Succeeded + g.tally.Partial
		switch u.Limited {
		case "floor":
			d.RaisedToFloor += n
		case "cap":
			d.LoweredToCap += n
		}
		d.Baselines = append(d.Baselines, u)
	}
	return amount, urgentBase, d
}

// uniformPrice is the price of a whole outcome when every outcome of the line had the same one.
func (s *laborState) uniformPrice() *decimal.Decimal {
	if len(s.groups) == 0 || s.other.Succeeded+s.other.Partial > 0 {
		return nil
	}
	first := s.groups[0].use.PerOutcome
	for _, g := range s.groups[1:] {
		if !g.use.PerOutcome.Equal(first) {
			return nil
		}
	}
	return &first
}

func (s BaselineSource) label() string {
	if s == SourceCustomerOverride {
		return "the customer's own baseline"
	}
	return "the outcome type's default baseline"
}
