package billing

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// This file holds the arithmetic of the economics views (DESIGN.md §6): gross margin, labor
// equivalent and model economics. The store sums tasks in SQL into EconomicsCells and reads
// invoices and rates; everything derived from those sums — percentages, conversions, per-outcome
// figures, allocations, the model recommendation — is computed here, where it can be tested
// without a database.
//
// Conventions shared by the three views:
//   - A task counts in the range that contains its status_at: a billable task where it is billed,
//     a not-billable or expired one where it stopped, an open or verifying one (pending) where it
//     last changed. Its whole cost — every usage event, whenever it occurred — counts with it.
//   - A partial outcome counts as PartialWeight (0.5) of an outcome, as plans credit it by default.
//     A plan may credit partial outcomes otherwise; the views do not follow per-plan credits, so
//     that figures of customers on different plans compare.
//   - A task's model is the model with the most cost in it (see migration 00006); the whole task
//     counts for that model.
//   - Costs are USD at full precision. They are converted into another currency only with an
//     exchange rate in force at the end of the range; without one the view shows USD beside the
//     other currency and leaves the figures that would mix them out — never a silent 1:1.
//   - Revenue is the invoiced amount before prepaid credits (the lines other than
//     prepaid_credits; outcomebill has no tax lines) of the non-void invoices — drafts and
//     finalized — whose period starts in the range. An invoice counts once, in the range its period
//     starts in; Straddling says how many of them end after the range.

// Figures are rounded only where shown: per-unit costs to 6 places, ratios to 4, percentages and
// hours to 2, money to its currency's minor unit.
const (
	unitPlaces    = 6
	ratioPlaces   = 4
	percentPlaces = 2
)

var (
	hundred        = decimal.NewFromInt(100)
	minutesPerHour = decimal.NewFromInt(60)
)

// MaxEconomicsRange is the longest range an economics view covers.
const MaxEconomicsRange = 3 // years

// Bound is one end of a date range: an instant, or a calendar date that means midnight in the
// customer's billing timezone (each customer's own, in a view over all customers).
type Bound struct {
	at   time.Time // the instant; for a date, the date at midnight UTC
	date bool
}

// DateBound returns the bound of a calendar date.
func DateBound(y int, m time.Month, d int) Bound {
	return Bound{at: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), date: true}
}

// InstantBound returns the bound of an instant.
func InstantBound(t time.Time) Bound { return Bound{at: t.UTC()} }

// ParseBound reads YYYY-MM-DD or an RFC 3339 time.
func ParseBound(field, s string) (Bound, error) {
	if s == "" {
		return Bound{}, Invalid(field, "is required: a date (YYYY-MM-DD, midnight in the customer's billing timezone) or an RFC 3339 time")
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return Bound{at: d, date: true}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Bound{}, Invalid(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time such as 2026-03-01T00:00:00Z")
	}
	return Bound{at: t.UTC()}, nil
}

// In returns the instant b stands for in loc.
func (b Bound) In(loc *time.Location) time.Time {
	if !b.date {
		return b.at
	}
	y, m, d := b.at.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC()
}

// IsDate reports whether b is a calendar date.
func (b Bound) IsDate() bool { return b.date }

func (b Bound) String() string {
	if b.date {
		return b.at.Format(time.DateOnly)
	}
	return b.at.Format(time.RFC3339Nano)
}

// DateRange is a half-open range [From, To) of an economics view.
type DateRange struct {
	From, To Bound
}

// ParseDateRange reads and checks from and to: both required, from before to, at most
// MaxEconomicsRange years apart. A date and an instant are compared as if the date were in UTC;
// Resolve checks the order again in the customer's timezone.
func ParseDateRange(from, to string) (DateRange, error) {
	f, err := ParseBound("from", from)
	if err != nil {
		return DateRange{}, err
	}
	t, err := ParseBound("to", to)
	if err != nil {
		return DateRange{}, err
	}
	r := DateRange{From: f, To: t}
	if !f.at.Before(t.at) {
		return DateRange{}, Invalid("to", "must be after from")
	}
	if t.at.After(f.at.AddDate(MaxEconomicsRange, 0, 0)) {
		return DateRange{}, Invalid("to", "must be at most %d years after from", MaxEconomicsRange)
	}
	return r, nil
}

// Resolve returns the range's instants in loc.
func (r DateRange) Resolve(loc *time.Location) (from, to time.Time, err error) {
	from, to = r.From.In(loc), r.To.In(loc)
	if !from.Before(to) {
		return from, to, Invalid("to", "must be after from in the customer's billing timezone")
	}
	return from, to, nil
}

// EconomicsCell is the sum of a group of tasks with the same outcome type, model and status, as
// the store reads it from its rollups. OutcomeType is "" for tasks whose task.started has not
// arrived; Model is "" for tasks without token usage.
type EconomicsCell struct {
	OutcomeType string
	Model       string
	Status      TaskStatus
	Tasks       int64
	// Outcomes of the tasks, whatever their status.
	Succeeded, Partial, Failed, Escalated int64
	QualitySum                            decimal.Decimal
	QualityN                              int64 // tasks that reported a quality
	CostUSD                               decimal.Decimal
	Unpriced                              int64 // usage events with no price yet, so not in CostUSD
}

// Tally sums cells, keeping apart the tasks that billed, did not bill (not_billable or expired)
// and are still pending (open or verifying).
type Tally struct {
	Tasks, BillableTasks, NotBilledTasks, PendingTasks int64
	Succeeded, Partial, Failed, Escalated              int64
	BillableSucceeded, BillablePartial                 int64
	QualitySum                                         decimal.Decimal
	QualityN                                           int64
	CostUSD, BillableCostUSD, NotBilledCostUSD         decimal.Decimal
	PendingCostUSD                                     decimal.Decimal
	Unpriced                                           int64
}

// Add adds a cell.
func (t *Tally) Add(c EconomicsCell) {
	t.Tasks += c.Tasks
	t.Succeeded += c.Succeeded
	t.Partial += c.Partial
	t.Failed += c.Failed
	t.Escalated += c.Escalated
	t.QualitySum = t.QualitySum.Add(c.QualitySum)
	t.QualityN += c.QualityN
	t.CostUSD = t.CostUSD.Add(c.CostUSD)
	t.Unpriced += c.Unpriced
	switch c.Status {
	case TaskBillable:
		t.BillableTasks += c.Tasks
		t.BillableSucceeded += c.Succeeded
		t.BillablePartial += c.Partial
		t.BillableCostUSD = t.BillableCostUSD.Add(c.CostUSD)
	case TaskNotBillable, TaskExpired:
		t.NotBilledTasks += c.Tasks
		t.NotBilledCostUSD = t.NotBilledCostUSD.Add(c.CostUSD)
	default:
		t.PendingTasks += c.Tasks
		t.PendingCostUSD = t.PendingCostUSD.Add(c.CostUSD)
	}
}

// OutcomeUnits counts succeeded outcomes as 1 and partial ones as PartialWeight.
func OutcomeUnits(succeeded, partial int64) decimal.Decimal {
	return decimal.NewFromInt(succeeded).Add(decimal.NewFromInt(partial).Mul(PartialWeight))
}

// BillableOutcomes is the billable tasks' outcomes, partial ones at PartialWeight.
func (t Tally) BillableOutcomes() decimal.Decimal {
	return OutcomeUnits(t.BillableSucceeded, t.BillablePartial)
}

// Outcomes counts tasks that have an outcome, whatever it is.
func (t Tally) Outcomes() int64 { return t.Succeeded + t.Partial + t.Failed + t.Escalated }

// SuccessRate is (succeeded + partial × PartialWeight) ÷ outcomes; nil without outcomes.
func (t Tally) SuccessRate() *decimal.Decimal {
	return ratio(OutcomeUnits(t.Succeeded, t.Partial), decimal.NewFromInt(t.Outcomes()), ratioPlaces)
}

// AverageQuality is the mean of the reported qualities; nil when no task reported one.
func (t Tally) AverageQuality() *decimal.Decimal {
	return ratio(t.QualitySum, decimal.NewFromInt(t.QualityN), ratioPlaces)
}

// CostPerTask is the average cost of a task in USD; nil without tasks.
func (t Tally) CostPerTask() *decimal.Decimal {
	return ratio(t.CostUSD, decimal.NewFromInt(t.Tasks), unitPlaces)
}

// CostPerBillableOutcome is the cost of all tasks — including those that did not bill — per
// billable outcome, in USD: what one billed outcome really cost. nil without billable outcomes.
func (t Tally) CostPerBillableOutcome() *decimal.Decimal {
	return ratio(t.CostUSD, t.BillableOutcomes(), unitPlaces)
}

// NotBilledCostShare is the share (0–1) of the cost spent on tasks that did not bill; nil when
// nothing cost anything.
func (t Tally) NotBilledCostShare() *decimal.Decimal {
	return ratio(t.NotBilledCostUSD, t.CostUSD, ratioPlaces)
}

// ratio returns num ÷ den rounded to places, or nil when den is zero.
func ratio(num, den decimal.Decimal, places int32) *decimal.Decimal {
	if den.IsZero() {
		return nil
	}
	r := num.DivRound(den, places)
	return &r
}

// Rates are exchange rates from USD: how many units of each currency one USD buys, USD itself
// included at 1.
type Rates map[money.Currency]decimal.Decimal

// Convert converts m into c through USD, reporting false when a rate is missing.
func (r Rates) Convert(m money.Money, c money.Currency) (money.Money, bool) {
	if m.Currency == c {
		return m, true
	}
	from, ok1 := r.rate(m.Currency)
	to, ok2 := r.rate(c)
	if !ok1 || !ok2 {
		return money.Money{}, false
	}
	// Multiply first, divide once: exact whenever the result is.
	return money.New(m.Amount.Mul(to).DivRound(from, 16), c), true
}

// Rate returns the rate of c (1 for USD).
func (r Rates) rate(c money.Currency) (decimal.Decimal, bool) {
	if c == money.USD {
		return decimal.NewFromInt(1), true
	}
	v, ok := r[c]
	return v, ok && v.IsPositive()
}

// Revenue is what the invoices of a range charged a customer.
type Revenue struct {
	Currency money.Currency
	// Amount is the lines before prepaid credits, in Currency; ByOutcomeType splits it by the
	// lines' outcome type, "" holding the lines of no outcome type (platform fee, minimum
	// commitment, spend cap, metered and cost_plus lines).
	Amount        decimal.Decimal
	ByOutcomeType map[string]decimal.Decimal
	// Paid is the invoices' totals: Amount less the prepaid credits applied.
	Paid           decimal.Decimal
	CreditsApplied decimal.Decimal
	Invoices       int64
	Straddling     int64 // invoices that start in the range but end after it
	// Other is what invoices in other currencies than Currency charged (the customer changed
	// currency): shown, but left out of margins.
	Other []money.Money
}

// MarginLine is the margin of part of a customer's range (an outcome type, a model) or of all of it.
type MarginLine struct {
	Key string // outcome type or model; "" for the total and for tasks of no outcome type or model
	Tally
	Revenue decimal.Decimal // in the customer's currency
	// Cost is CostUSD in the customer's currency; nil when no rate converts it.
	Cost *decimal.Decimal
	// GrossMargin is Revenue − Cost and MarginPercent its share of Revenue × 100; both nil when
	// Cost is, and the percentage also when there is no revenue.
	GrossMargin   *decimal.Decimal
	MarginPercent *decimal.Decimal
}

// Margin is a customer's gross margin over a range.
type Margin struct {
	CustomerID string
	Currency   money.Currency
	From, To   time.Time
	// Rate is the USD rate of Currency used to convert cost (1 for USD); nil when there is none.
	Rate          *decimal.Decimal
	Revenue       Revenue
	Total         MarginLine
	ByOutcomeType []MarginLine
	// ByModel allocates each outcome type's revenue to models by their share of its billable
	// outcomes; revenue of no outcome type, or of an outcome type with no billable outcomes in
	// the range, stays in UnallocatedRevenue.
	ByModel            []MarginLine
	UnallocatedRevenue decimal.Decimal
}

// NewMargin computes a customer's margin from the range's cells, its revenue and the USD rate of
// its currency (nil when there is none; ignored for USD).
func NewMargin(c Customer, from, to time.Time, cells []EconomicsCell, rev Revenue, rate *decimal.Decimal) Margin {
	m := Margin{CustomerID: c.ID, Currency: c.Currency, From: from, To: to, Revenue: rev}
	if c.Currency == money.USD {
		one := decimal.NewFromInt(1)
		rate = &one
	}
	m.Rate = rate
	byType := map[string]*MarginLine{}
	byModel := map[string]*MarginLine{}
	// units[outcome type][model]: billable outcomes, to allocate revenue by.
	units := map[string]map[string]decimal.Decimal{}
	for _, cell := range cells {
		m.Total.Tally.Add(cell)
		line(byType, cell.OutcomeType).Tally.Add(cell)
		line(byModel, cell.Model).Tally.Add(cell)
		if cell.Status == TaskBillable {
			if units[cell.OutcomeType] == nil {
				units[cell.OutcomeType] = map[string]decimal.Decimal{}
			}
			u := units[cell.OutcomeType]
			u[cell.Model] = u[cell.Model].Add(OutcomeUnits(cell.Succeeded, cell.Partial))
		}
	}
	m.Total.Revenue = rev.Amount
	for ot, amount := range rev.ByOutcomeType {
		line(byType, ot).Revenue = amount
		total := decimal.Zero
		for _, u := range units[ot] {
			total = total.Add(u)
		}
		if ot == "" || total.IsZero() {
			m.UnallocatedRevenue = m.UnallocatedRevenue.Add(amount)
			continue
		}
		for model, u := range units[ot] {
			l := line(byModel, model)
			l.Revenue = l.Revenue.Add(amount.Mul(u).Div(total))
		}
	}
	m.Total.finish(rate)
	m.ByOutcomeType = sortedLines(byType, rate)
	m.ByModel = sortedLines(byModel, rate)
	return m
}

func line(lines map[string]*MarginLine, key string) *MarginLine {
	l := lines[key]
	if l == nil {
		l = &MarginLine{Key: key}
		lines[key] = l
	}
	return l
}

func sortedLines(lines map[string]*MarginLine, rate *decimal.Decimal) []MarginLine {
	out := make([]MarginLine, 0, len(lines))
	for _, l := range lines {
		l.finish(rate)
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b MarginLine) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// finish converts the cost and computes the margin.
func (l *MarginLine) finish(rate *decimal.Decimal) {
	if rate == nil {
		return
	}
	cost := l.CostUSD.Mul(*rate)
	margin := l.Revenue.Sub(cost)
	l.Cost, l.GrossMargin = &cost, &margin
	if p := ratio(margin.Mul(hundred), l.Revenue, percentPlaces); p != nil {
		l.MarginPercent = p
	}
}

// CustomerMargin is one customer's line of the vendor's margin summary.
type CustomerMargin struct {
	CustomerID string
	Currency   money.Currency
	From, To   time.Time
	Rate       *decimal.Decimal // USD rate of Currency; nil when there is none
	Revenue    Revenue          // ByOutcomeType is not filled
	MarginLine
}

// VendorMargin is the margin of every customer over a range, and the totals in USD.
type VendorMargin struct {
	Range     DateRange
	Customers []CustomerMargin
	// CostUSD is every customer's cost; RevenueUSD, GrossMarginUSD and MarginPercent cover the
	// customers whose revenue converts to USD (all but those in Unconverted).
	CostUSD        decimal.Decimal
	RevenueUSD     decimal.Decimal
	GrossMarginUSD decimal.Decimal
	MarginPercent  *decimal.Decimal
	Tally          Tally
	Unconverted    []string // customers billed in a currency with no USD rate
}

// NewVendorMargin totals the customers' margins. Each customer's line must have its Tally,
// Revenue and Rate set; NewVendorMargin computes the rest.
func NewVendorMargin(r DateRange, customers []CustomerMargin) VendorMargin {
	v := VendorMargin{Range: r, Customers: customers}
	covered := decimal.Zero // cost of the customers whose revenue converts
	for i := range v.Customers {
		c := &v.Customers[i]
		if c.Currency == money.USD {
			one := decimal.NewFromInt(1)
			c.Rate = &one
		}
		c.MarginLine.Revenue = c.Revenue.Amount
		c.MarginLine.finish(c.Rate)
		addTally(&v.Tally, c.Tally)
		v.CostUSD = v.CostUSD.Add(c.CostUSD)
		if c.Rate == nil {
			v.Unconverted = append(v.Unconverted, c.CustomerID)
			continue
		}
		v.RevenueUSD = v.RevenueUSD.Add(c.Revenue.Amount.DivRound(*c.Rate, 16))
		covered = covered.Add(c.CostUSD)
	}
	v.GrossMarginUSD = v.RevenueUSD.Sub(covered)
	v.MarginPercent = ratio(v.GrossMarginUSD.Mul(hundred), v.RevenueUSD, percentPlaces)
	return v
}

func addTally(t *Tally, o Tally) {
	t.Tasks += o.Tasks
	t.BillableTasks += o.BillableTasks
	t.NotBilledTasks += o.NotBilledTasks
	t.PendingTasks += o.PendingTasks
	t.Succeeded += o.Succeeded
	t.Partial += o.Partial
	t.Failed += o.Failed
	t.Escalated += o.Escalated
	t.BillableSucceeded += o.BillableSucceeded
	t.BillablePartial += o.BillablePartial
	t.QualitySum = t.QualitySum.Add(o.QualitySum)
	t.QualityN += o.QualityN
	t.CostUSD = t.CostUSD.Add(o.CostUSD)
	t.BillableCostUSD = t.BillableCostUSD.Add(o.BillableCostUSD)
	t.NotBilledCostUSD = t.NotBilledCostUSD.Add(o.NotBilledCostUSD)
	t.PendingCostUSD = t.PendingCostUSD.Add(o.PendingCostUSD)
	t.Unpriced += o.Unpriced
}

// LaborBasis is the labor baseline that applies to one outcome type for one customer.
type LaborBasis struct {
	Baseline LaborBaseline
	Override bool // the customer's own figures
}

// LaborLine is what one outcome type's billable outcomes would have cost in people.
type LaborLine struct {
	OutcomeType        string
	Succeeded, Partial int64
	Outcomes           decimal.Decimal // succeeded + partial × PartialWeight
	Hours              decimal.Decimal // Outcomes × human_minutes ÷ 60, to the hundredth
	Basis              *LaborBasis     // nil for tasks of an unknown outcome type
	LaborCost          *money.Money    // at the baseline's rate and currency, rounded
	ConvertedLaborCost *money.Money    // in the customer's currency; nil without a rate
}

// LaborPeriod is the labor equivalent of one range.
type LaborPeriod struct {
	From, To           time.Time
	Succeeded, Partial int64
	Outcomes           decimal.Decimal
	Hours              decimal.Decimal
	// LaborCost is what the hours cost in the customer's currency; nil when a baseline's currency
	// has no rate (MissingRates says which).
	LaborCost    *money.Money
	MissingRates []money.Currency
	Paid         money.Money // the invoices' totals (see Revenue.Paid)
	Invoices     int64
	// Savings is LaborCost − Paid; nil with LaborCost.
	Savings *money.Money
	Lines   []LaborLine
}

// LaborEquivalent is a customer's labor-equivalent view: a range and the trend of its last
// billing periods.
type LaborEquivalent struct {
	CustomerID string
	Currency   money.Currency
	LaborPeriod
	Trend []LaborPeriod
}

// NewLaborPeriod computes a range's labor equivalent from the billable cells, the customer's
// baselines by outcome type, what its invoices charged and the rates in force.
func NewLaborPeriod(cur money.Currency, from, to time.Time, cells []EconomicsCell, bases map[string]LaborBasis, paid Revenue, rates Rates) LaborPeriod {
	p := LaborPeriod{From: from, To: to, Paid: money.New(paid.Paid, cur), Invoices: paid.Invoices}
	lines := map[string]*LaborLine{}
	for _, c := range cells {
		if c.Status != TaskBillable {
			continue
		}
		l := lines[c.OutcomeType]
		if l == nil {
			l = &LaborLine{OutcomeType: c.OutcomeType}
			if b, ok := bases[c.OutcomeType]; ok {
				l.Basis = &b
			}
			lines[c.OutcomeType] = l
		}
		l.Succeeded += c.Succeeded
		l.Partial += c.Partial
	}
	total, converted := decimal.Zero, true
	missing := map[money.Currency]bool{}
	for _, l := range lines {
		l.Outcomes = OutcomeUnits(l.Succeeded, l.Partial)
		p.Succeeded += l.Succeeded
		p.Partial += l.Partial
		p.Outcomes = p.Outcomes.Add(l.Outcomes)
		if l.Basis == nil {
			continue // no baseline: counted, but saves no known hours
		}
		b := l.Basis.Baseline
		hours := l.Outcomes.Mul(b.HumanMinutes).Div(minutesPerHour)
		l.Hours = hours.Round(percentPlaces)
		p.Hours = p.Hours.Add(hours)
		cost := b.TaskCost().Mul(l.Outcomes)
		lc := cost.Rounded()
		l.LaborCost = &lc
		if conv, ok := rates.Convert(cost, cur); ok {
			total = total.Add(conv.Amount)
			r := conv.Rounded()
			l.ConvertedLaborCost = &r
		} else {
			converted = false
			missing[cost.Currency] = true
		}
	}
	p.Hours = p.Hours.Round(percentPlaces)
	for c := range missing {
		p.MissingRates = append(p.MissingRates, c)
	}
	slices.Sort(p.MissingRates)
	if converted {
		lc := money.New(money.Round(total, cur), cur)
		s := lc.Sub(p.Paid)
		p.LaborCost, p.Savings = &lc, &s
	}
	for _, l := range lines {
		p.Lines = append(p.Lines, *l)
	}
	slices.SortFunc(p.Lines, func(a, b LaborLine) int { return strings.Compare(a.OutcomeType, b.OutcomeType) })
	return p
}

// TrendPeriods returns the n monthly billing periods of a customer billed in loc from anchorDay
// that end with the one containing the last instant before to, oldest first.
func TrendPeriods(to time.Time, loc *time.Location, anchorDay, n int) []Period {
	out := make([]Period, n)
	p := PeriodContaining(to.Add(-time.Nanosecond), loc, anchorDay)
	for i := n - 1; i >= 0; i-- {
		out[i] = p
		p = p.Previous(loc)
	}
	return out
}

// ModelBar is the quality bar a model must clear to be recommended.
type ModelBar struct {
	MinSuccessRate decimal.Decimal
	MinQuality     decimal.Decimal
}

// DefaultModelBar is a success rate of 0.9 and an average quality of 0.8.
func DefaultModelBar() ModelBar {
	return ModelBar{MinSuccessRate: decimal.RequireFromString("0.9"), MinQuality: decimal.RequireFromString("0.8")}
}

// Validate checks that both figures are between 0 and 1; field names the query parameters.
func (b ModelBar) Validate() error {
	one := decimal.NewFromInt(1)
	if b.MinSuccessRate.IsNegative() || b.MinSuccessRate.GreaterThan(one) {
		return Invalid("min_success_rate", "must be between 0 and 1")
	}
	if b.MinQuality.IsNegative() || b.MinQuality.GreaterThan(one) {
		return Invalid("min_quality", "must be between 0 and 1")
	}
	return nil
}

// ModelStats are one model's figures on one outcome type.
type ModelStats struct {
	OutcomeType string
	Model       string // "" for tasks without token usage
	Tally
	// ClearsBar: the success rate and the average quality reach the bar (a model whose tasks
	// reported no quality clears a quality bar of 0 only), and it has billable outcomes to price
	// one by. Tasks without a model never clear it.
	ClearsBar bool
}

// ModelRecommendation is the cheapest model that clears the bar on an outcome type.
type ModelRecommendation struct {
	OutcomeType string
	// Model is "" when no model clears the bar.
	Model                  string
	CostPerBillableOutcome decimal.Decimal // USD
	// Savings is what the range's billable outcomes made by dearer models would have cost less
	// at the recommended model's cost per billable outcome: Σ outcomes × (their cost per billable
	// outcome − the recommended one's), in USD. Outcomes of cheaper models that miss the bar are
	// left out: moving them is buying quality, not saving.
	Savings decimal.Decimal
}

// ModelEconomics compares models per outcome type over a range.
type ModelEconomics struct {
	Range           DateRange
	Bar             ModelBar
	Models          []ModelStats
	Recommendations []ModelRecommendation
}

// NewModelEconomics computes the figures and recommendations from cells grouped by outcome type
// and model (their status apart).
func NewModelEconomics(r DateRange, bar ModelBar, cells []EconomicsCell) ModelEconomics {
	me := ModelEconomics{Range: r, Bar: bar}
	stats := map[[2]string]*ModelStats{}
	for _, c := range cells {
		k := [2]string{c.OutcomeType, c.Model}
		s := stats[k]
		if s == nil {
			s = &ModelStats{OutcomeType: c.OutcomeType, Model: c.Model}
			stats[k] = s
		}
		s.Tally.Add(c)
	}
	for _, s := range stats {
		s.ClearsBar = s.clears(bar)
		me.Models = append(me.Models, *s)
	}
	slices.SortFunc(me.Models, func(a, b ModelStats) int {
		return cmp.Or(strings.Compare(a.OutcomeType, b.OutcomeType), strings.Compare(a.Model, b.Model))
	})
	for i := 0; i < len(me.Models); {
		j := i
		for j < len(me.Models) && me.Models[j].OutcomeType == me.Models[i].OutcomeType {
			j++
		}
		me.Recommendations = append(me.Recommendations, Recommend(me.Models[i:j]))
		i = j
	}
	return me
}

func (s ModelStats) clears(bar ModelBar) bool {
	if s.Model == "" || s.CostPerBillableOutcome() == nil {
		return false
	}
	sr := s.SuccessRate()
	if sr == nil || sr.LessThan(bar.MinSuccessRate) {
		return false
	}
	if q := s.AverageQuality(); q == nil {
		return bar.MinQuality.IsZero()
	} else if q.LessThan(bar.MinQuality) {
		return false
	}
	return true
}

// Recommend picks, among one outcome type's models, the cheapest per billable outcome that clears
// the bar (ties: the higher success rate, then the name) and what it would have saved.
func Recommend(models []ModelStats) ModelRecommendation {
	var rec ModelRecommendation
	if len(models) > 0 {
		rec.OutcomeType = models[0].OutcomeType
	}
	var best *ModelStats
	for i := range models {
		m := &models[i]
		if !m.ClearsBar {
			continue
		}
		if best == nil {
			best = m
			continue
		}
		c := m.CostPerBillableOutcome().Cmp(*best.CostPerBillableOutcome())
		if c == 0 {
			c = -m.SuccessRate().Cmp(*best.SuccessRate())
		}
		if c == 0 {
			c = strings.Compare(m.Model, best.Model)
		}
		if c < 0 {
			best = m
		}
	}
	if best == nil {
		return rec
	}
	// Unrounded cost per outcome, so that the savings do not carry the rounding of the display.
	bestCPO := best.CostUSD.Div(best.BillableOutcomes())
	rec.Model, rec.CostPerBillableOutcome = best.Model, *best.CostPerBillableOutcome()
	for _, m := range models {
		units := m.BillableOutcomes()
		if m.Model == "" || m.Model == best.Model || units.IsZero() {
			continue
		}
		if extra := m.CostUSD.Sub(bestCPO.Mul(units)); extra.IsPositive() {
			rec.Savings = rec.Savings.Add(extra)
		}
	}
	rec.Savings = rec.Savings.Round(unitPlaces)
	return rec
}
