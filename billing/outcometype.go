package billing

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// Defaults of DESIGN.md §1 and §3.
var DefaultProductiveHours = decimal.NewFromInt(1880)

const (
	DefaultDisputeWindow = 72 * time.Hour
	DefaultTaskTimeout   = 7 * 24 * time.Hour
	maxWindow            = 366 * 24 * time.Hour
)

// LaborBaseline is what one such task costs when a person does it: HumanMinutes of a person whose
// burdened annual cost (salary plus benefits, taxes, office, tools) is AnnualCost, working
// ProductiveHours a year.
type LaborBaseline struct {
	HumanMinutes    decimal.Decimal
	AnnualCost      money.Money
	ProductiveHours decimal.Decimal
}

// HourlyRate is AnnualCost / ProductiveHours at full precision.
func (b LaborBaseline) HourlyRate() money.Money {
	return money.New(b.AnnualCost.Amount.Div(b.ProductiveHours), b.AnnualCost.Currency)
}

// TaskCost is the labor cost of one task: HumanMinutes / 60 × HourlyRate, at full precision.
// It multiplies before dividing so that the usual figures stay exact as long as possible.
func (b LaborBaseline) TaskCost() money.Money {
	num := b.HumanMinutes.Mul(b.AnnualCost.Amount)
	den := b.ProductiveHours.Mul(decimal.NewFromInt(60))
	return money.New(num.Div(den), b.AnnualCost.Currency)
}

// Validate checks the baseline's figures, filling in the default productive hours. prefix names
// the enclosing field in errors ("baseline").
func (b *LaborBaseline) Validate(prefix string) error {
	if !b.HumanMinutes.IsPositive() {
		return Invalid(prefix+".human_minutes", "must be greater than 0")
	}
	if !b.AnnualCost.Currency.Valid() {
		return Invalid(prefix+".annual_cost.currency", "unknown currency %q", string(b.AnnualCost.Currency))
	}
	if b.AnnualCost.Amount.IsNegative() {
		return Invalid(prefix+".annual_cost.amount", "must not be negative")
	}
	if b.ProductiveHours.IsZero() {
		b.ProductiveHours = DefaultProductiveHours
	}
	if !b.ProductiveHours.IsPositive() || b.ProductiveHours.GreaterThan(decimal.NewFromInt(8784)) {
		return Invalid(prefix+".productive_hours", "must be between 0 and 8784 (hours in a leap year)")
	}
	return nil
}

// OutcomeType is a kind of agent work and what a person would need to do it.
type OutcomeType struct {
	Key           string // e.g. support.ticket_resolved
	Name          string
	Description   string
	Baseline      LaborBaseline
	DisputeWindow time.Duration // how long a delivered outcome may still be disputed; 0 allowed
	TaskTimeout   time.Duration // a task with no outcome after this long expires
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Validate checks the outcome type and fills in defaults. Windows are given as whole seconds on
// the wire; a negative value is refused while 0 keeps its meaning (no dispute window).
func (o *OutcomeType) Validate() error {
	if !ValidOutcomeTypeKey(o.Key) {
		return Invalid("outcome_type", "must be a dotted lower-case key such as support.ticket_resolved (at most 100 characters)")
	}
	o.Name = strings.TrimSpace(o.Name)
	if o.Name == "" {
		o.Name = o.Key
	}
	if err := checkName("name", o.Name); err != nil {
		return err
	}
	if len(o.Description) > 2000 {
		return Invalid("description", "must be at most 2000 characters")
	}
	if err := o.Baseline.Validate("baseline"); err != nil {
		return err
	}
	if o.DisputeWindow < 0 || o.DisputeWindow > maxWindow {
		return Invalid("dispute_window_seconds", "must be between 0 and one year")
	}
	if o.TaskTimeout <= 0 || o.TaskTimeout > maxWindow {
		return Invalid("task_timeout_seconds", "must be between 1 second and one year")
	}
	return nil
}

// BaselineOverride is a customer's own labor figures for one outcome type; it wins over the
// outcome type's baseline wherever labor cost is computed for that customer.
type BaselineOverride struct {
	CustomerID  string
	OutcomeType string
	Baseline    LaborBaseline
	UpdatedAt   time.Time
}
