package billing

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// InvoiceStatus is where an invoice stands (DESIGN.md §5): a draft is rebuilt by every run, a
// finalized invoice never changes, a void one keeps its number and says why it was voided.
type InvoiceStatus string

// Invoice statuses.
const (
	InvoiceDraft     InvoiceStatus = "draft"
	InvoiceFinalized InvoiceStatus = "finalized"
	InvoiceVoid      InvoiceStatus = "void"
)

// Valid reports whether s is one of the statuses.
func (s InvoiceStatus) Valid() bool {
	return s == InvoiceDraft || s == InvoiceFinalized || s == InvoiceVoid
}

// Vendor is who issues the invoices: printed on every one, and copied into each invoice so that a
// finalized invoice keeps the details it was sent with.
type Vendor struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"` // lines separated by "\n"
	Email   string `json:"email,omitempty"`
	TaxID   string `json:"tax_id,omitempty"`
}

// DefaultVendorName is printed until the vendor sets its own details.
const DefaultVendorName = "outcomebill"

// Invoice is one customer's bill for one period.
type Invoice struct {
	ID           string
	CustomerID   string
	CustomerName string // as it was when the invoice was last built
	// Timezone is the customer's billing timezone, in which the period's bounds are midnights.
	Timezone    string
	Vendor      Vendor
	PeriodStart time.Time // inclusive
	PeriodEnd   time.Time // exclusive
	Status      InvoiceStatus
	Currency    money.Currency
	Number      string    // "" until finalized, e.g. 2026-000042
	IssueDate   time.Time // zero until finalized; a date (midnight UTC)
	PlanID      string
	PlanVersion int
	Lines       []InvoiceLine
	Subtotal    decimal.Decimal // all lines but prepaid credits
	// CreditsApplied is what prepaid credit covered, as a positive amount.
	CreditsApplied decimal.Decimal
	Total          decimal.Decimal // the sum of all lines
	Draws          []pricing.Draw
	Notes          InvoiceNotes
	Value          ValueStatement
	VoidReason     string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinalizedAt    time.Time // zero unless finalized (or finalized, then voided)
	VoidedAt       time.Time // zero unless void
}

// InvoiceLine is one line of an invoice: a priced line and its explanation as the sentence that
// was printed when the invoice was built, kept as it was so that a finalized invoice reads the
// same forever.
type InvoiceLine struct {
	Position int // 1, 2, …
	pricing.Line
	ExplanationText string
}

// InvoiceNotes are what rating could not price, kept with the invoice so that nobody mistakes a
// short invoice for a complete one.
type InvoiceNotes struct {
	UnpricedOutcomes map[string]int64 `json:"unpriced_outcomes,omitempty"`
	UnpricedUsage    int64            `json:"unpriced_usage,omitempty"`
	ExpiredCredits   []string         `json:"expired_credits,omitempty"`
}

// ValueStatement says what the billed outcomes would have cost had people done them (DESIGN.md
// §6): the figures a customer's line manager weighs the invoice against.
type ValueStatement struct {
	Outcomes  int64 // billed outcomes: succeeded plus partial
	Succeeded int64
	Partial   int64
	// HumanHours is Σ human_minutes / 60 over the outcomes, a partial outcome counting at
	// PartialWeight, with each customer's baseline override winning; to the hundredth.
	HumanHours decimal.Decimal
	// LaborCost is what those hours cost at the baselines' burdened rates, rounded to the minor
	// unit; nil when the baselines are in more than one currency.
	LaborCost *money.Money
	// Amount is what the invoice charges: its total.
	Amount money.Money
	// Savings is LaborCost − Amount; nil unless LaborCost is in the invoice's currency.
	Savings *money.Money
	// FTE is how many full-time people the hours equal over the period: hours ÷ (productive
	// hours ÷ 12) per month of the period; to the hundredth.
	FTE decimal.Decimal
}

// PartialWeight is the share of a person's time a partial outcome is taken to have saved, the
// same half that pricing credits a partial outcome by default.
var PartialWeight = pricing.DefaultPartialCredit

// ValueBasis is a group of billed outcomes with the same status and labor baseline.
type ValueBasis struct {
	Outcome  OutcomeStatus // succeeded or partial
	Count    int64
	Baseline LaborBaseline
}

var (
	sixty  = decimal.NewFromInt(60)
	twelve = decimal.NewFromInt(12)
)

// NewValueStatement computes the value statement of outcomes billed amount over a period of
// months months (see PeriodMonths).
func NewValueStatement(amount money.Money, months decimal.Decimal, basis []ValueBasis) ValueStatement {
	v := ValueStatement{Amount: amount}
	hours, fteMonths := decimal.Zero, decimal.Zero
	cost, costCur, mixed := decimal.Zero, money.Currency(""), false
	for _, b := range basis {
		w := decimal.NewFromInt(1)
		switch b.Outcome {
		case OutcomePartial:
			v.Partial += b.Count
			w = PartialWeight
		default:
			v.Succeeded += b.Count
		}
		if !b.Baseline.ProductiveHours.IsPositive() || !b.Baseline.AnnualCost.Currency.Valid() {
			continue // an outcome type without a baseline: counted, but saves no known hours
		}
		n := decimal.NewFromInt(b.Count).Mul(w)
		h := n.Mul(b.Baseline.HumanMinutes).Div(sixty)
		hours = hours.Add(h)
		fteMonths = fteMonths.Add(h.Mul(twelve).Div(b.Baseline.ProductiveHours))
		c := b.Baseline.TaskCost()
		switch {
		case costCur == "":
			costCur = c.Currency
		case costCur != c.Currency:
			mixed = true
		}
		cost = cost.Add(c.Amount.Mul(n))
	}
	v.Outcomes = v.Succeeded + v.Partial
	v.HumanHours = hours.Round(2)
	if months.IsPositive() {
		v.FTE = fteMonths.Div(months).Round(2)
	}
	if !mixed && costCur.Valid() {
		lc := money.New(money.Round(cost, costCur), costCur)
		v.LaborCost = &lc
		if costCur == amount.Currency {
			s := lc.Sub(amount)
			v.Savings = &s
		}
	}
	return v
}

// averageMonth is 365.2425 / 12 days, the length of a month when a period is not whole months.
var averageMonth = decimal.RequireFromString("30.436875")

// PeriodMonths is how many months [start, end) spans in loc: whole calendar months when both ends
// fall on the same day of the month at the same time of day, else days ÷ the average month.
func PeriodMonths(start, end time.Time, loc *time.Location) decimal.Decimal {
	if loc == nil {
		loc = time.UTC
	}
	s, e := start.In(loc), end.In(loc)
	if !e.After(s) {
		return decimal.Zero
	}
	sh, sm, ss := s.Clock()
	eh, em, es := e.Clock()
	if s.Day() == e.Day() && sh == eh && sm == em && ss == es && s.Nanosecond() == e.Nanosecond() {
		return decimal.NewFromInt(int64((e.Year()-s.Year())*12 + int(e.Month()) - int(s.Month())))
	}
	days := decimal.NewFromInt(int64(e.Sub(s) / time.Second)).Div(decimal.NewFromInt(86400))
	return days.Div(averageMonth)
}

// LinesFromResult numbers a rated period's lines and renders their explanations.
func LinesFromResult(res pricing.Result) []InvoiceLine {
	out := make([]InvoiceLine, len(res.Lines))
	for i, l := range res.Lines {
		out[i] = InvoiceLine{Position: i + 1, Line: l, ExplanationText: l.Explanation.String()}
	}
	return out
}

// Check verifies the invoice's arithmetic: every line rounded once to the currency's minor unit,
// Total the sum of the lines, Subtotal the sum of all but the prepaid-credits line, and Total =
// Subtotal − CreditsApplied. A store refuses to write or finalize an invoice that fails it.
func (inv *Invoice) Check() error {
	if !inv.Currency.Valid() {
		return Invalid("currency", "unknown currency %q", string(inv.Currency))
	}
	sum, sub := decimal.Zero, decimal.Zero
	for i, l := range inv.Lines {
		if l.Position != i+1 {
			return Errorf(EINTERNAL, "invoice %s: line %d has position %d", inv.ID, i+1, l.Position)
		}
		if !money.Round(l.Amount, inv.Currency).Equal(l.Amount) {
			return Errorf(EINTERNAL, "invoice %s: line %d amount %s is not rounded to %s", inv.ID, l.Position, l.Amount, inv.Currency)
		}
		sum = sum.Add(l.Amount)
		if l.Kind != pricing.KindPrepaidCredits {
			sub = sub.Add(l.Amount)
		}
	}
	switch {
	case !sum.Equal(inv.Total):
		return Errorf(EINTERNAL, "invoice %s: total %s is not the sum of its lines %s", inv.ID, inv.Total, sum)
	case !sub.Equal(inv.Subtotal):
		return Errorf(EINTERNAL, "invoice %s: subtotal %s is not the sum of its lines before credits %s", inv.ID, inv.Subtotal, sub)
	case !inv.Subtotal.Sub(inv.CreditsApplied).Equal(inv.Total):
		return Errorf(EINTERNAL, "invoice %s: subtotal %s − credits %s is not the total %s", inv.ID, inv.Subtotal, inv.CreditsApplied, inv.Total)
	}
	return nil
}

// InvoiceFilter narrows a list of invoices; zero fields do not filter. An invoice matches the
// period filter when its period starts at or after PeriodFrom and ends at or before PeriodTo.
type InvoiceFilter struct {
	CustomerID string
	Status     InvoiceStatus
	PeriodFrom time.Time
	PeriodTo   time.Time
}

// DraftInput is what a draft invoice is built from: a rated period and the tasks it billed.
type DraftInput struct {
	CustomerID  string
	PeriodStart time.Time
	PeriodEnd   time.Time
	Result      pricing.Result
	PlanID      string
	PlanVersion int
	// TaskIDs are the billable tasks the result rated; the store records them with the invoice
	// and computes the value statement from them.
	TaskIDs []string
	Notes   InvoiceNotes
}

// Validate checks the input's own fields.
func (in *DraftInput) Validate() error {
	if err := checkID("customer_id", in.CustomerID); err != nil {
		return err
	}
	if in.PeriodStart.IsZero() || in.PeriodEnd.IsZero() {
		return Invalid("period_start", "period_start and period_end are required")
	}
	if !in.PeriodEnd.After(in.PeriodStart) {
		return Invalid("period_end", "must be after period_start")
	}
	if !in.Result.Currency.Valid() {
		return Invalid("currency", "the rated result has no valid currency")
	}
	return nil
}

// Number formats: invoices 2026-000042, credit notes CN-2026-000007.
const (
	SeriesInvoice    = "invoice"
	SeriesCreditNote = "credit_note"
)

// DocumentNumber formats the nth number of a series in a year.
func DocumentNumber(series string, year int, n int64) string {
	if series == SeriesCreditNote {
		return fmt.Sprintf("CN-%d-%06d", year, n)
	}
	return fmt.Sprintf("%d-%06d", year, n)
}

// CheckVoidReason trims and checks the reason given for voiding an invoice.
func CheckVoidReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", Invalid("reason", "is required: say why the invoice is void")
	}
	if len(reason) > 2000 {
		return "", Invalid("reason", "must be at most 2000 characters")
	}
	return reason, nil
}

// BilledTask is a task as a finalized invoice billed it.
type BilledTask struct {
	InvoiceID     string
	InvoiceNumber string
	TaskID        string
	OutcomeType   string
	Outcome       OutcomeStatus // succeeded or partial
	Urgent        bool
}

// CreditNote gives back what finalized invoices billed for tasks that were disputed (or otherwise
// stopped being billable) after the invoice was finalized. It is never edited.
type CreditNote struct {
	ID         string
	Number     string // CN-2026-000007
	CustomerID string
	Currency   money.Currency
	IssueDate  time.Time
	Total      decimal.Decimal // positive: what is owed back
	Lines      []CreditNoteLine
	CreatedAt  time.Time
}

// CreditNoteLine credits one task of one invoice.
type CreditNoteLine struct {
	Position      int
	InvoiceID     string
	InvoiceNumber string
	TaskID        string
	Description   string
	Amount        decimal.Decimal // positive, rounded to the minor unit
	Explanation   string
}

// CreditLines prices the credit for each task against the invoice that billed it. A task gets
// its pro rata share of every outcome-counting line of its outcome type — a whole unit for a
// succeeded outcome, the line's partial credit for a partial one — and of the urgent surcharge
// when it was urgent. Tiered, seat and capped prices make that share an average, not a re-rating;
// the explanation says which lines it came from. Each task's credit is rounded once.
func CreditLines(inv Invoice, tasks []BilledTask) []CreditNoteLine {
	out := make([]CreditNoteLine, 0, len(tasks))
	for _, t := range tasks {
		total := decimal.Zero
		var parts []string
		for _, l := range inv.Lines {
			if l.OutcomeType != t.OutcomeType || !l.Quantity.IsPositive() {
				continue
			}
			var units decimal.Decimal
			switch {
			case l.Kind == pricing.KindCharge && l.Explanation.Outcomes != nil:
				units = decimal.NewFromInt(1)
				if t.Outcome == OutcomePartial {
					units = l.Explanation.Outcomes.PartialCredit
				}
			case l.Kind == pricing.KindUrgentSurcharge && t.Urgent:
				units = decimal.NewFromInt(1)
				if t.Outcome == OutcomePartial {
					units = PartialWeight
					if o := l.Explanation.Outcomes; o != nil {
						units = o.PartialCredit
					}
				}
			default:
				continue
			}
			share := l.Amount.Mul(units).Div(l.Quantity)
			total = total.Add(share)
			parts = append(parts, fmt.Sprintf("%s of %s units of line %d (%s, %s)", units, l.Quantity, l.Position, l.Description,
				money.New(l.Amount, inv.Currency)))
		}
		amount := money.Round(total, inv.Currency)
		expl := fmt.Sprintf("Task %s (%s) was billed on invoice %s", t.TaskID, t.Outcome, inv.Number)
		if len(parts) == 0 {
			expl += " on no outcome-priced line; nothing to credit."
		} else {
			expl += " as " + strings.Join(parts, "; ") + fmt.Sprintf(" = %s credited.", money.New(amount, inv.Currency))
		}
		out = append(out, CreditNoteLine{InvoiceID: inv.ID, InvoiceNumber: inv.Number, TaskID: t.TaskID, Amount: amount,
			Description: fmt.Sprintf("Credit for task %s (%s), no longer billable", t.TaskID, t.OutcomeType), Explanation: expl})
	}
	return out
}
