package pricing

import (
	"fmt"
	"maps"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// tally counts billable outcomes. Succeeded and Partial count all of them; the Urgent fields
// count the urgent ones among them.
type tally struct {
	Succeeded, Partial, UrgentSucceeded, UrgentPartial int64
}

func (t *tally) add(o tally) {
	t.Succeeded += o.Succeeded
	t.Partial += o.Partial
	t.UrgentSucceeded += o.UrgentSucceeded
	t.UrgentPartial += o.UrgentPartial
}

func (t tally) units(partialCredit decimal.Decimal) decimal.Decimal {
	return decimal.NewFromInt(t.Succeeded).Add(decimal.NewFromInt(t.Partial).Mul(partialCredit))
}

func (t tally) urgentUnits(partialCredit decimal.Decimal) decimal.Decimal {
	return decimal.NewFromInt(t.UrgentSucceeded).Add(decimal.NewFromInt(t.UrgentPartial).Mul(partialCredit))
}

// chargeState is what a Rater keeps for one charge: counters and running sums, never the
// outcomes themselves.
type chargeState struct {
	c        *Charge
	tally    tally
	quantity decimal.Decimal // metered quantity
	costUSD  decimal.Decimal
	labor    *laborState
	pct      *percentageState
}

// Rater rates one period of one plan version from outcomes, quantities, transactions and cost
// added one at a time, as an invoice run streams them from the database. Its memory grows with
// the number of charges (lines), not with the number of outcomes. A Rater is not safe for
// concurrent use.
type Rater struct {
	plan       PlanVersion
	charges    []chargeState
	byType     map[string][]int // charges counting outcomes of a type
	costByType map[string][]int // cost_plus charges on one outcome type
	costAll    []int            // cost_plus charges on all cost
	byMeter    map[string][]int // per_unit, graduated, volume, package on a meter
	pctByMeter map[string][]int // percentage charges on a stream of transactions
	unpriced   map[string]int64
}

// NewRater validates plan and returns a Rater for one period of it.
func NewRater(plan PlanVersion) (*Rater, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	plan.Prices = append([]Charge(nil), plan.Prices...) // the caller may reuse its slice
	r := &Rater{
		plan:       plan,
		charges:    make([]chargeState, len(plan.Prices)),
		byType:     map[string][]int{},
		costByType: map[string][]int{},
		byMeter:    map[string][]int{},
		pctByMeter: map[string][]int{},
		unpriced:   map[string]int64{},
	}
	for i := range plan.Prices {
		c := &plan.Prices[i]
		s := &r.charges[i]
		s.c = c
		switch {
		case c.Model == ModelCostPlus && c.OutcomeType != "":
			r.costByType[c.OutcomeType] = append(r.costByType[c.OutcomeType], i)
		case c.Model == ModelCostPlus:
			r.costAll = append(r.costAll, i)
		case c.Model == ModelPercentage:
			s.pct = &percentageState{}
			r.pctByMeter[c.Meter] = append(r.pctByMeter[c.Meter], i)
		case c.OutcomeType != "":
			r.byType[c.OutcomeType] = append(r.byType[c.OutcomeType], i)
		default:
			r.byMeter[c.Meter] = append(r.byMeter[c.Meter], i)
		}
		if c.Model == ModelLaborShare {
			s.labor = &laborState{}
		}
	}
	return r, nil
}

// Add counts one billable outcome. An outcome of a type no charge prices is counted in
// Result.Unpriced. A refused outcome changes nothing.
func (r *Rater) Add(o Outcome) error {
	var t tally
	switch o.Status {
	case StatusSucceeded:
		t.Succeeded = 1
		if o.Urgent {
			t.UrgentSucceeded = 1
		}
	case StatusPartial:
		t.Partial = 1
		if o.Urgent {
			t.UrgentPartial = 1
		}
	default:
		return fieldErrorf("status", "task %s: %q is not billable; want succeeded or partial", o.TaskID, string(o.Status))
	}
	return r.addTally(o.OutcomeType, t, o.Baseline)
}

// AddCount counts many billable outcomes of one type sharing one baseline.
func (r *Rater) AddCount(c OutcomeCount) error {
	if c.Succeeded < 0 || c.Partial < 0 || c.UrgentSucceeded < 0 || c.UrgentPartial < 0 {
		return fieldErrorf("counts", "outcome type %s: counts must not be negative", c.OutcomeType)
	}
	return r.addTally(c.OutcomeType, tally{
		Succeeded:       c.Succeeded + c.UrgentSucceeded,
		Partial:         c.Partial + c.UrgentPartial,
		UrgentSucceeded: c.UrgentSucceeded,
		UrgentPartial:   c.UrgentPartial,
	}, c.Baseline)
}

func (r *Rater) addTally(outcomeType string, t tally, b *Baseline) error {
	idx, ok := r.byType[outcomeType]
	if !ok {
		r.unpriced[outcomeType] += t.Succeeded + t.Partial
		return nil
	}
	// Check before counting anything, so that an error leaves the Rater as it was.
	for _, i := range idx {
		if r.charges[i].labor != nil {
			if err := checkBaseline(b, r.plan.Currency); err != nil {
				return fmt.Errorf("outcome type %s: %w", outcomeType, err)
			}
			break
		}
	}
	for _, i := range idx {
		s := &r.charges[i]
		s.tally.add(t)
		if s.labor != nil {
			s.labor.add(&s.c.Price, b, t)
		}
	}
	return nil
}

// AddMeter adds q to a metered quantity. Meters no charge prices are ignored: a vendor meters
// more than any one plan bills.
func (r *Rater) AddMeter(meter string, q decimal.Decimal) error {
	if q.IsNegative() {
		return fieldErrorf("meters."+meter, "must not be negative")
	}
	for _, i := range r.byMeter[meter] {
		r.charges[i].quantity = r.charges[i].quantity.Add(q)
	}
	return nil
}

// AddTransaction adds one transaction of the given amount to the percentage charges on meter.
func (r *Rater) AddTransaction(meter string, amount decimal.Decimal) error {
	if amount.IsNegative() {
		return fieldErrorf("transactions."+meter, "amount must not be negative")
	}
	for _, i := range r.pctByMeter[meter] {
		s := &r.charges[i]
		s.pct.add(&s.c.Price, amount)
	}
	return nil
}

// AddCost adds token or other cost in USD, of an outcome type or of none (""), for cost_plus.
func (r *Rater) AddCost(outcomeType string, usd decimal.Decimal) error {
	if usd.IsNegative() {
		return fieldErrorf("cost_usd", "must not be negative")
	}
	for _, i := range r.costByType[outcomeType] {
		r.charges[i].costUSD = r.charges[i].costUSD.Add(usd)
	}
	for _, i := range r.costAll {
		r.charges[i].costUSD = r.charges[i].costUSD.Add(usd)
	}
	return nil
}

// Rate prices a whole period at once: it feeds u into a Rater and finishes it.
func Rate(plan PlanVersion, u Usage) (Result, error) {
	r, err := NewRater(plan)
	if err != nil {
		return Result{}, err
	}
	for _, c := range u.Counts {
		if err := r.AddCount(c); err != nil {
			return Result{}, err
		}
	}
	for _, o := range u.Tasks {
		if err := r.Add(o); err != nil {
			return Result{}, err
		}
	}
	for m, q := range u.Meters {
		if err := r.AddMeter(m, q); err != nil {
			return Result{}, err
		}
	}
	for m, txs := range u.Transactions {
		for _, a := range txs {
			if err := r.AddTransaction(m, a); err != nil {
				return Result{}, err
			}
		}
	}
	for t, c := range u.CostUSD {
		if err := r.AddCost(t, c); err != nil {
			return Result{}, err
		}
	}
	return r.Finish(u.Period)
}

// Finish prices what was added and applies the plan's terms and p's credits. It does not change
// the Rater: finishing twice gives the same Result.
//
// Lines come in this order: each charge in plan order, followed by its urgent surcharge when it
// has one; the platform fee; the minimum-commitment true-up; the spend-cap adjustment; the
// prepaid credits.
func (r *Rater) Finish(p Period) (Result, error) {
	cur := r.plan.Currency
	if p.ExchangeRate != nil && !p.ExchangeRate.IsPositive() {
		return Result{}, fieldErrorf("exchange_rate", "must be greater than 0")
	}
	res := Result{Currency: cur, Lines: make([]Line, 0, len(r.charges)+4)}
	if len(r.unpriced) > 0 {
		res.Unpriced = maps.Clone(r.unpriced)
	}
	usage := zero
	for i := range r.charges {
		lines, err := r.priceCharge(&r.charges[i], p)
		if err != nil {
			return Result{}, fmt.Errorf("prices[%d]: %w", i, err)
		}
		for _, l := range lines {
			usage = usage.Add(l.Amount)
			res.Lines = append(res.Lines, l)
		}
	}
	t := &r.plan.Terms
	subtotal := usage
	if t.PlatformFee != nil && t.PlatformFee.IsPositive() {
		l := r.line(KindPlatformFee, "Platform fee", "", "", one, t.PlatformFee, *t.PlatformFee,
			Explanation{Rule: KindPlatformFee, Quantity: one, UnitAmount: t.PlatformFee})
		res.Lines = append(res.Lines, l)
		subtotal = subtotal.Add(l.Amount)
	}
	if t.MinimumCommitment != nil && usage.LessThan(*t.MinimumCommitment) {
		l := r.line(KindMinimumTrueUp, "Minimum commitment true-up", "", "", one, nil, t.MinimumCommitment.Sub(usage),
			Explanation{Rule: KindMinimumTrueUp, Quantity: one, Limit: &LimitDetail{Limit: *t.MinimumCommitment, Before: usage}})
		res.Lines = append(res.Lines, l)
		subtotal = subtotal.Add(l.Amount)
	}
	if t.Cap != nil && subtotal.GreaterThan(*t.Cap) {
		l := r.line(KindSpendCap, "Spend cap adjustment", "", "", one, nil, t.Cap.Sub(subtotal),
			Explanation{Rule: KindSpendCap, Quantity: one, Limit: &LimitDetail{Limit: *t.Cap, Before: subtotal}})
		res.Lines = append(res.Lines, l)
		subtotal = subtotal.Add(l.Amount)
	}
	res.Subtotal = subtotal
	owed := decimal.Max(subtotal, zero)
	draws, expired, err := drawCredits(owed, cur, p.Credits, p.End)
	if err != nil {
		return Result{}, err
	}
	drawn := zero
	for _, d := range draws {
		drawn = drawn.Add(d.Amount)
	}
	if drawn.IsPositive() {
		l := r.line(KindPrepaidCredits, "Prepaid credits applied", "", "", one, nil, drawn.Neg(),
			Explanation{Rule: KindPrepaidCredits, Quantity: one, Credits: &CreditDetail{Owed: owed, Draws: draws, Expired: expired}})
		res.Lines = append(res.Lines, l)
	}
	res.Draws = draws
	res.ExpiredCredits = expired
	res.CreditsApplied = drawn
	res.Total = subtotal.Sub(drawn)
	return res, nil
}

// line rounds unrounded once, through money.Round, and records both figures in the explanation.
func (r *Rater) line(kind, desc, outcomeType, meter string, qty decimal.Decimal, unit *decimal.Decimal, unrounded decimal.Decimal, e Explanation) Line {
	cur := r.plan.Currency
	amount := money.Round(unrounded, cur)
	e.Currency = cur
	e.Unrounded = unrounded
	e.Amount = amount
	return Line{Kind: kind, Description: desc, OutcomeType: outcomeType, Meter: meter,
		Quantity: qty, UnitAmount: unit, Amount: amount, Explanation: e}
}

var modelLabels = map[Model]string{
	ModelPerOutcome:     "per outcome",
	ModelLaborShare:     "share of labor cost",
	ModelSeatEquivalent: "seat equivalents",
	ModelPerUnit:        "per unit",
	ModelGraduated:      "graduated tiers",
	ModelVolume:         "volume tiers",
	ModelPackage:        "packages",
	ModelPercentage:     "percentage of transactions",
	ModelCostPlus:       "token and other cost plus markup",
}

// priceCharge returns the charge's line and, when urgent outcomes raise it, its surcharge line.
func (r *Rater) priceCharge(s *chargeState, per Period) ([]Line, error) {
	c := s.c
	p := &c.Price
	subject := c.OutcomeType + c.Meter
	desc := c.Description
	if desc == "" {
		desc = modelLabels[p.Model]
		if subject != "" {
			desc = subject + ": " + desc
		}
	}
	e := Explanation{Rule: string(p.Model), Subject: subject}
	pc := p.partialCredit()
	q := s.quantity
	urgentUnits := zero
	if c.countsOutcomes() {
		q = s.tally.units(pc)
		urgentUnits = s.tally.urgentUnits(pc)
		e.Outcomes = &OutcomeTally{Succeeded: s.tally.Succeeded, Partial: s.tally.Partial, PartialCredit: pc,
			UrgentSucceeded: s.tally.UrgentSucceeded, UrgentPartial: s.tally.UrgentPartial}
	}
	e.Quantity = q
	lineQty := q
	var amount, urgentBase decimal.Decimal
	var unit *decimal.Decimal
	proRata := false
	switch p.Model {
	case ModelPerOutcome:
		amount, urgentBase = ratePerOutcome(p, q, urgentUnits)
		unit = p.UnitAmount
	case ModelPerUnit:
		amount, urgentBase = ratePerUnit(p, q, urgentUnits)
		unit = p.UnitAmount
	case ModelLaborShare:
		amount, urgentBase, e.Labor = s.labor.rate(p)
		unit = s.labor.uniformPrice()
	case ModelSeatEquivalent:
		amount, e.Seats = rateSeats(p, q)
		lineQty, unit, proRata = e.Seats.Seats, p.SeatPrice, true
	case ModelGraduated:
		amount, e.Tiers = rateGraduated(p.Tiers, q)
		proRata = true
	case ModelVolume:
		var tu TierUse
		amount, tu = rateVolume(p.Tiers, q)
		e.Tiers = []TierUse{tu}
		if tu.FlatAmount.IsZero() {
			unit = &tu.UnitAmount
		}
		proRata = true
	case ModelPackage:
		amount, e.Package = ratePackage(p, q)
		lineQty, unit, proRata = e.Package.Packages, p.Amount, true
	case ModelPercentage:
		amount, e.Percentage = s.pct.rate(p)
		lineQty = decimal.NewFromInt(e.Percentage.Transactions)
		e.Quantity = lineQty
	case ModelCostPlus:
		var err error
		amount, e.CostPlus, err = rateCostPlus(p, s.costUSD, r.plan.Currency, per.ExchangeRate)
		if err != nil {
			return nil, err
		}
		markup := one.Add(*p.Markup)
		lineQty, unit = e.CostPlus.Cost, &markup
		e.Quantity = e.CostPlus.Cost
	}
	e.UnitAmount = unit
	lines := []Line{r.line(KindCharge, desc, c.OutcomeType, c.Meter, lineQty, unit, amount, e)}

	m := r.plan.Terms.urgentMultiplier()
	if !c.countsOutcomes() || !urgentUnits.IsPositive() || !m.GreaterThan(one) {
		return lines, nil
	}
	if proRata {
		// Tiers, seats and packages have no price per outcome; the urgent outcomes' share of the
		// line is the fair stand-in, and the explanation says so.
		urgentBase = amount.Mul(urgentUnits).Div(q)
	}
	extra := m.Sub(one)
	var surUnit *decimal.Decimal
	if unit != nil && !proRata {
		u := unit.Mul(extra)
		surUnit = &u
	}
	lines = append(lines, r.line(KindUrgentSurcharge, "Urgent surcharge: "+subject, c.OutcomeType, "", urgentUnits, surUnit,
		urgentBase.Mul(extra), Explanation{Rule: KindUrgentSurcharge, Subject: subject, Quantity: urgentUnits, UnitAmount: surUnit,
			Urgent: &UrgentDetail{Multiplier: m, UrgentUnits: urgentUnits, Base: urgentBase, ProRata: proRata}}))
	return lines, nil
}
