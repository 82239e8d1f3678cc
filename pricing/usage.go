package pricing

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// Status is the outcome of a billable task. Failed, escalated, cancelled and disputed tasks are
// not billable and never reach pricing.
type Status string

// Billable statuses (DESIGN.md §2).
const (
	StatusSucceeded Status = "succeeded"
	StatusPartial   Status = "partial"
)

// BaselineSource says where the labor figures of an outcome came from, so that an explanation
// can tell the customer whether its own figures were used.
type BaselineSource string

// Baseline sources.
const (
	SourceOutcomeType      BaselineSource = "outcome_type"
	SourceCustomerOverride BaselineSource = "customer_override"
)

// Baseline is the labor baseline a labor_share price reads for one outcome, already resolved by
// the caller (a customer's override wins over the outcome type's figures). AnnualCost must be in
// the plan's currency.
type Baseline struct {
	HumanMinutes    decimal.Decimal `json:"human_minutes"`
	AnnualCost      money.Money     `json:"annual_cost"`
	ProductiveHours decimal.Decimal `json:"productive_hours"` // zero means DefaultProductiveHours
	Source          BaselineSource  `json:"source"`
}

func (b *Baseline) productiveHours() decimal.Decimal {
	if b.ProductiveHours.IsZero() {
		return DefaultProductiveHours
	}
	return b.ProductiveHours
}

// HourlyRate is the burdened hourly rate: AnnualCost / productive hours, at full precision.
func (b *Baseline) HourlyRate() decimal.Decimal {
	return b.AnnualCost.Amount.Div(b.productiveHours())
}

// LaborCost is what one task costs done by a person: HumanMinutes / 60 × HourlyRate. It
// multiplies before it divides so that the usual figures stay exact as long as possible.
func (b *Baseline) LaborCost() decimal.Decimal {
	return b.HumanMinutes.Mul(b.AnnualCost.Amount).Div(b.productiveHours().Mul(sixty))
}

var sixty = decimal.NewFromInt(60)

// Outcome is one billable task as the invoice run streams it in.
type Outcome struct {
	TaskID      string
	OutcomeType string
	Status      Status
	Urgent      bool
	// Baseline is required when a labor_share charge prices the outcome type.
	Baseline *Baseline
}

// OutcomeCount is many billable outcomes of one outcome type that share one baseline, for
// callers that aggregate in SQL instead of streaming tasks. Succeeded and Partial count tasks of
// normal priority, UrgentSucceeded and UrgentPartial urgent ones.
type OutcomeCount struct {
	OutcomeType     string
	Succeeded       int64
	Partial         int64
	UrgentSucceeded int64
	UrgentPartial   int64
	Baseline        *Baseline
}

// CreditGrant is a prepaid credit as it stands before this rating: what is left of it and when
// it expires. The zero ExpiresAt means it never does.
type CreditGrant struct {
	ID        string          `json:"id"`
	Currency  money.Currency  `json:"currency"`
	Remaining decimal.Decimal `json:"remaining"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
}

// Draw records what one rating took from one grant. The caller persists it with the invoice (in
// the same transaction that lowers the grant's balance), which is what keeps a credit from being
// drawn twice.
type Draw struct {
	GrantID        string          `json:"grant_id"`
	Amount         decimal.Decimal `json:"amount"`
	RemainingAfter decimal.Decimal `json:"remaining_after"`
	ExpiresAt      time.Time       `json:"expires_at,omitzero"`
}

// Period is what rating needs about the period besides its usage.
type Period struct {
	// End is the end of the billing period (exclusive). A credit whose ExpiresAt is at or before
	// End has expired by the time the invoice is drawn and is not applied.
	End time.Time
	// ExchangeRate is how many units of the plan's currency one USD buys. Required when a
	// cost_plus charge prices cost in a currency other than USD.
	ExchangeRate *decimal.Decimal
	// Credits are the customer's prepaid grants, in any order.
	Credits []CreditGrant
}

// Usage is a whole period's input for Rate.
type Usage struct {
	Period
	// Counts are billable outcomes aggregated per outcome type and baseline.
	Counts []OutcomeCount
	// Tasks are billable outcomes one task at a time, where each has its own baseline.
	Tasks []Outcome
	// Meters are metered quantities by meter name.
	Meters map[string]decimal.Decimal
	// Transactions are the amounts a percentage charge takes its share of, by meter name.
	Transactions map[string][]decimal.Decimal
	// CostUSD is token and other cost in USD by outcome type; cost not tied to an outcome type
	// goes under "". A cost_plus charge without an outcome type prices all of it.
	CostUSD map[string]decimal.Decimal
}
