package billing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// This file holds what-if repricing (issue 9): a simulation rates real history twice — with the
// plan in force (actual) and with the requested changes (simulated) — for each customer and
// monthly billing period, and compares revenue, cost, margin and the customer's savings. The
// store gathers the sums; the comparison arithmetic is here, testable without a database.
//
// Actual is what RatePeriod gives today for the period with the plan in force, not the totals of
// finalized invoices: both sides are then rated by the same engine from the same snapshot, so a
// difference comes from the changes alone and never from late events or a voided invoice.

// MaxSimulationMonths is the longest range a simulation covers.
const MaxSimulationMonths = 24

// SimulationStatus is where a simulation's workflow got to.
type SimulationStatus string

// Simulation statuses.
const (
	SimulationQueued    SimulationStatus = "queued"
	SimulationRunning   SimulationStatus = "running"
	SimulationCompleted SimulationStatus = "completed"
	SimulationFailed    SimulationStatus = "failed"
)

// SimulationBaseline is another labor baseline for an outcome type.
type SimulationBaseline struct {
	HumanMinutes    decimal.Decimal `json:"human_minutes"`
	AnnualCost      money.Money     `json:"annual_cost"`
	ProductiveHours decimal.Decimal `json:"productive_hours,omitzero"` // zero: pricing.DefaultProductiveHours
}

// LaborBaseline returns the baseline with its productive hours defaulted.
func (b SimulationBaseline) LaborBaseline() LaborBaseline {
	h := b.ProductiveHours
	if h.IsZero() {
		h = pricing.DefaultProductiveHours
	}
	return LaborBaseline{HumanMinutes: b.HumanMinutes, AnnualCost: b.AnnualCost, ProductiveHours: h}
}

// SimulationChanges are what a simulation changes. Plan replaces the plan version in force (and
// the subscription's overrides) with a whole other one; Terms and Prices are applied on top of
// whatever rates the period (the plan in force with its overrides, or Plan), as subscription
// overrides are. LaborBaselines replace the baselines of their outcome types (the customer's
// override included). ModelMix re-costs the tasks of an outcome type as if the model named had
// served them all, at the average cost per task observed for that model and outcome type.
type SimulationChanges struct {
	Plan           *pricing.PlanVersion          `json:"plan,omitempty"`
	Terms          *pricing.Terms                `json:"terms,omitempty"`
	Prices         []pricing.Charge              `json:"prices,omitempty"`
	LaborBaselines map[string]SimulationBaseline `json:"labor_baselines,omitempty"`
	ModelMix       map[string]string             `json:"model_mix,omitempty"`
}

// Overrides returns the terms and prices changes as subscription-style overrides.
func (c SimulationChanges) Overrides() Overrides { return Overrides{Terms: c.Terms, Prices: c.Prices} }

// IsZero reports whether c changes nothing.
func (c SimulationChanges) IsZero() bool {
	return c.Plan == nil && c.Overrides().IsZero() && len(c.LaborBaselines) == 0 && len(c.ModelMix) == 0
}

// RatingOverride is what rating a period with changes replaces; the zero value replaces nothing.
type RatingOverride struct {
	Plan      *pricing.PlanVersion
	Overrides Overrides
	// Baselines replace the labor baselines of their outcome types.
	Baselines map[string]LaborBaseline
}

// RatingOverride returns the part of c that rating a period needs.
func (c SimulationChanges) RatingOverride() RatingOverride {
	o := RatingOverride{Plan: c.Plan, Overrides: c.Overrides()}
	if len(c.LaborBaselines) > 0 {
		o.Baselines = make(map[string]LaborBaseline, len(c.LaborBaselines))
		for k, b := range c.LaborBaselines {
			o.Baselines[k] = b.LaborBaseline()
		}
	}
	return o
}

// SimulationRequest is the body of POST /v1/simulations. From and To are months (YYYY-MM), both
// included: each customer's billing periods that start in them.
type SimulationRequest struct {
	CustomerIDs []string          `json:"customer_ids"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	Changes     SimulationChanges `json:"changes"`
}

// Months returns the first month and the number of months of the request.
func (r *SimulationRequest) Months() (first time.Time, n int, err error) {
	first, err = time.Parse("2006-01", r.From)
	if err != nil {
		return first, 0, Invalid("from", "must be a month such as 2026-01")
	}
	last, err := time.Parse("2006-01", r.To)
	if err != nil {
		return first, 0, Invalid("to", "must be a month such as 2026-03")
	}
	n = (last.Year()-first.Year())*12 + int(last.Month()-first.Month()) + 1
	if n < 1 {
		return first, 0, Invalid("to", "must not be before from")
	}
	if n > MaxSimulationMonths {
		return first, 0, Invalid("to", "a simulation covers at most %d months", MaxSimulationMonths)
	}
	return first, n, nil
}

// Validate checks the request on its own; the store checks it against the customers (that they
// exist, and that a plan is in their currency).
func (r *SimulationRequest) Validate() error {
	if _, _, err := r.Months(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, id := range r.CustomerIDs {
		if err := checkID(fmt.Sprintf("customer_ids[%d]", i), id); err != nil {
			return err
		}
		if seen[id] {
			return Invalid(fmt.Sprintf("customer_ids[%d]", i), "%q is listed twice", id)
		}
		seen[id] = true
	}
	c := &r.Changes
	if c.IsZero() {
		return Invalid("changes", "name at least one change: plan, terms, prices, labor_baselines or model_mix")
	}
	if c.Plan != nil {
		cur, err := money.ParseCurrency(string(c.Plan.Currency))
		if err != nil {
			return Invalid("changes.plan.currency", "%s", err.Error())
		}
		c.Plan.Currency, c.Plan.PlanID, c.Plan.Version = cur, "", 0
		if err := PricingError("changes.plan.", c.Plan.Validate()); err != nil {
			return err
		}
		if err := checkMeters("changes.plan.", c.Plan.Prices); err != nil {
			return err
		}
		if err := c.Overrides().Validate(*c.Plan); err != nil {
			return prefixOverrides(err)
		}
	}
	for _, k := range sortedKeys(c.LaborBaselines) {
		b := c.LaborBaselines[k]
		field := "changes.labor_baselines." + k
		if !ValidOutcomeTypeKey(k) {
			return Invalid(field, "is not an outcome type key such as support.ticket_resolved")
		}
		if !b.HumanMinutes.IsPositive() {
			return Invalid(field+".human_minutes", "must be greater than 0")
		}
		if !b.AnnualCost.Currency.Valid() {
			return Invalid(field+".annual_cost.currency", "unknown currency %q", string(b.AnnualCost.Currency))
		}
		if b.AnnualCost.Amount.IsNegative() {
			return Invalid(field+".annual_cost.amount", "must not be negative")
		}
		if b.ProductiveHours.IsNegative() {
			return Invalid(field+".productive_hours", "must be greater than 0, or left out for 1,880")
		}
	}
	for _, k := range sortedKeys(c.ModelMix) {
		field := "changes.model_mix." + k
		if !ValidOutcomeTypeKey(k) {
			return Invalid(field, "is not an outcome type key such as support.ticket_resolved")
		}
		if strings.TrimSpace(c.ModelMix[k]) == "" {
			return Invalid(field, "must name a model")
		}
	}
	return nil
}

// prefixOverrides renames "overrides.x" (what Overrides.Validate names) to "changes.x".
func prefixOverrides(err error) error {
	var e *Error
	if errors.As(err, &e) && strings.HasPrefix(e.Field, "overrides.") {
		e.Field = "changes." + strings.TrimPrefix(e.Field, "overrides.")
	}
	return err
}

// ValidateFor checks the request's changes against a customer billed in cur.
func (r *SimulationRequest) ValidateFor(cur money.Currency) error {
	c := r.Changes
	if c.Plan != nil && c.Plan.Currency != cur {
		return Invalid("changes.plan.currency", "the plan is in %s but a customer simulated is billed in %s", c.Plan.Currency, cur)
	}
	if c.Plan == nil && !c.Overrides().IsZero() {
		if err := c.Overrides().Validate(pricing.PlanVersion{Currency: cur}); err != nil {
			return prefixOverrides(err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SimulationPeriods returns a customer's monthly billing periods that start in the n months from
// first: each starts on the anchor day, midnight in loc.
func SimulationPeriods(first time.Time, n int, loc *time.Location, anchorDay int) []Period {
	out := make([]Period, 0, n)
	for i := range n {
		m := first.AddDate(0, i, 0)
		start := time.Date(m.Year(), m.Month(), anchorDay, 0, 0, 0, 0, loc)
		out = append(out, Period{Start: start.UTC(), End: start.AddDate(0, 1, 0).UTC()})
	}
	return out
}

// ObservedModelCost is the observed cost of the tasks of an outcome type that a model served (a task's
// model is the one with the most cost in it, as in the economics views).
type ObservedModelCost struct {
	Model   string          `json:"model"`
	Tasks   int64           `json:"tasks"`
	CostUSD decimal.Decimal `json:"cost_usd"`
}

// PerTask is the average cost of a task in USD at full precision; zero without tasks.
func (m ObservedModelCost) PerTask() decimal.Decimal {
	if m.Tasks == 0 {
		return decimal.Zero
	}
	return m.CostUSD.DivRound(decimal.NewFromInt(m.Tasks), 16)
}

// SimulationGroup sums a period's tasks of one outcome type: all of them (their cost counts
// whether they billed or not) and the billable outcomes among them.
type SimulationGroup struct {
	OutcomeType         string
	Tasks               int64
	Succeeded, Partial  int64 // billable
	CostUSD             decimal.Decimal
	UnpricedUsageEvents int64
}

// SimulationSide is one side — actual or simulated — of a period.
type SimulationSide struct {
	PlanID      string `json:"plan_id,omitempty"`
	PlanVersion int    `json:"plan_version,omitempty"`
	// Revenue is the rated lines before prepaid credits, Paid after them (the invoice total).
	Revenue decimal.Decimal `json:"revenue"`
	Paid    decimal.Decimal `json:"paid"`
	CostUSD decimal.Decimal `json:"cost_usd"`
	// Cost is CostUSD in the customer's currency; nil without a rate (and so are Margin and
	// MarginPercent).
	Cost          *decimal.Decimal `json:"cost,omitempty"`
	Margin        *decimal.Decimal `json:"margin,omitempty"`
	MarginPercent *decimal.Decimal `json:"margin_percent,omitempty"`
	// LaborCost is what the billable outcomes would have cost in people at the baselines, in the
	// customer's currency; Savings is LaborCost − Paid. Both nil when a baseline's currency has no rate.
	LaborCost *decimal.Decimal `json:"labor_cost,omitempty"`
	Savings   *decimal.Decimal `json:"savings,omitempty"`
	// Error says why the side could not be rated (no subscription yet, a plan in another
	// currency, a missing exchange rate); the figures are then zero.
	Error string `json:"error,omitempty"`
}

// SimulationInputs are what one side of a period is computed from.
type SimulationInputs struct {
	Currency money.Currency
	Revenue  decimal.Decimal // rated subtotal
	Paid     decimal.Decimal // rated total
	Groups   []SimulationGroup
	// Baselines per outcome type; outcome types without one add no labor cost.
	Baselines map[string]LaborBaseline
	// ModelMix re-costs each task of an outcome type at its ObservedModelCost.PerTask.
	ModelMix map[string]ObservedModelCost
	Rates    Rates
}

// NewSimulationSide computes one side of a period.
func NewSimulationSide(in SimulationInputs) SimulationSide {
	s := SimulationSide{Revenue: in.Revenue, Paid: in.Paid}
	labor := decimal.Zero
	laborKnown := true
	for _, g := range in.Groups {
		if mc, ok := in.ModelMix[g.OutcomeType]; ok && g.OutcomeType != "" {
			s.CostUSD = s.CostUSD.Add(mc.PerTask().Mul(decimal.NewFromInt(g.Tasks)))
		} else {
			s.CostUSD = s.CostUSD.Add(g.CostUSD)
		}
		b, ok := in.Baselines[g.OutcomeType]
		units := OutcomeUnits(g.Succeeded, g.Partial)
		if !ok || units.IsZero() || b.ProductiveHours.IsZero() {
			continue
		}
		// units × minutes / 60 × annual / hours, divided once.
		cost := units.Mul(b.HumanMinutes).Mul(b.AnnualCost.Amount).DivRound(minutesPerHour.Mul(b.ProductiveHours), 16)
		conv, ok := in.Rates.Convert(money.New(cost, b.AnnualCost.Currency), in.Currency)
		if !ok {
			laborKnown = false
			continue
		}
		labor = labor.Add(conv.Amount)
	}
	if laborKnown {
		savings := labor.Sub(in.Paid)
		s.LaborCost, s.Savings = &labor, &savings
	}
	if cost, ok := in.Rates.Convert(money.New(s.CostUSD, money.USD), in.Currency); ok {
		margin := in.Revenue.Sub(cost.Amount)
		s.Cost, s.Margin = &cost.Amount, &margin
		s.MarginPercent = ratio(margin.Mul(hundred), in.Revenue, percentPlaces)
	}
	return s
}

// SimulationDelta is simulated − actual; a figure is nil when either side lacks it.
type SimulationDelta struct {
	Revenue decimal.Decimal  `json:"revenue"`
	CostUSD decimal.Decimal  `json:"cost_usd"`
	Margin  *decimal.Decimal `json:"margin,omitempty"`
	Savings *decimal.Decimal `json:"savings,omitempty"`
}

func subPtr(a, b *decimal.Decimal) *decimal.Decimal {
	if a == nil || b == nil {
		return nil
	}
	d := a.Sub(*b)
	return &d
}

// Delta compares the sides.
func Delta(actual, simulated SimulationSide) SimulationDelta {
	return SimulationDelta{Revenue: simulated.Revenue.Sub(actual.Revenue), CostUSD: simulated.CostUSD.Sub(actual.CostUSD),
		Margin: subPtr(simulated.Margin, actual.Margin), Savings: subPtr(simulated.Savings, actual.Savings)}
}

// SimulationPeriodResult is one customer's period, side by side.
type SimulationPeriodResult struct {
	CustomerID  string           `json:"customer_id"`
	Currency    money.Currency   `json:"currency"`
	PeriodStart time.Time        `json:"period_start"`
	PeriodEnd   time.Time        `json:"period_end"`
	Tasks       int64            `json:"tasks"`
	Billable    decimal.Decimal  `json:"billable_outcomes"`
	Unpriced    int64            `json:"unpriced_usage_events"`
	Rate        *decimal.Decimal `json:"exchange_rate,omitempty"` // USD → Currency; nil for USD
	Actual      SimulationSide   `json:"actual"`
	Simulated   SimulationSide   `json:"simulated"`
	Delta       SimulationDelta  `json:"delta"`
}

// SimulationTotal sums the periods of one currency. A pointer figure is nil when any period lacks it.
type SimulationTotal struct {
	Currency  money.Currency  `json:"currency"`
	Periods   int             `json:"periods"`
	Actual    SimulationSide  `json:"actual"`
	Simulated SimulationSide  `json:"simulated"`
	Delta     SimulationDelta `json:"delta"`
}

func addPtr(sum **decimal.Decimal, v *decimal.Decimal, first bool) {
	switch {
	case first && v != nil:
		d := *v
		*sum = &d
	case first || v == nil || *sum == nil:
		*sum = nil
	default:
		d := (*sum).Add(*v)
		*sum = &d
	}
}

func addSide(sum *SimulationSide, s SimulationSide, first bool) {
	sum.Revenue, sum.Paid, sum.CostUSD = sum.Revenue.Add(s.Revenue), sum.Paid.Add(s.Paid), sum.CostUSD.Add(s.CostUSD)
	addPtr(&sum.Cost, s.Cost, first)
	addPtr(&sum.Margin, s.Margin, first)
	addPtr(&sum.LaborCost, s.LaborCost, first)
	addPtr(&sum.Savings, s.Savings, first)
}

// SimulationTotals sums results per currency, in currency order.
func SimulationTotals(results []SimulationPeriodResult) []SimulationTotal {
	by := map[money.Currency]*SimulationTotal{}
	for _, r := range results {
		t := by[r.Currency]
		first := t == nil
		if first {
			t = &SimulationTotal{Currency: r.Currency}
			by[r.Currency] = t
		}
		t.Periods++
		addSide(&t.Actual, r.Actual, first)
		addSide(&t.Simulated, r.Simulated, first)
	}
	out := make([]SimulationTotal, 0, len(by))
	for _, c := range sortedKeys(currencyKeys(by)) {
		t := by[money.Currency(c)]
		for _, s := range []*SimulationSide{&t.Actual, &t.Simulated} {
			if s.Margin != nil {
				s.MarginPercent = ratio(s.Margin.Mul(hundred), s.Revenue, percentPlaces)
			}
		}
		t.Delta = Delta(t.Actual, t.Simulated)
		out = append(out, *t)
	}
	return out
}

func currencyKeys(m map[money.Currency]*SimulationTotal) map[string]bool {
	out := make(map[string]bool, len(m))
	for c := range m {
		out[string(c)] = true
	}
	return out
}

// SimulationTarget is one customer's period a simulation rates.
type SimulationTarget struct {
	CustomerID string `json:"customer_id"`
	Period     Period `json:"period"`
}

// Simulation is a what-if run and what it found so far.
type Simulation struct {
	ID           string
	Request      SimulationRequest
	Status       SimulationStatus
	PeriodsTotal int
	PeriodsDone  int
	// ModelCosts are the observed costs ModelMix re-costs with, per outcome type.
	ModelCosts map[string]ObservedModelCost
	Error      string
	Results    []SimulationPeriodResult
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SimulationPage is a page of a simulation's customers' periods, all the periods of each customer
// on it. Next is the cursor of the following page (the last customer on this one), "" after the
// last page.
type SimulationPage struct {
	Targets []SimulationTarget `json:"targets"`
	Next    string             `json:"next,omitempty"`
}

// SimulationFilter narrows a list of simulations; zero fields do not filter. CustomerID matches
// simulations that name the customer and those that cover every customer.
type SimulationFilter struct {
	Status     SimulationStatus
	CustomerID string
}

// Validate checks the filter's status.
func (f SimulationFilter) Validate() error {
	switch f.Status {
	case "", SimulationQueued, SimulationRunning, SimulationCompleted, SimulationFailed:
		return nil
	}
	return Invalid("status", "must be queued, running, completed or failed")
}
