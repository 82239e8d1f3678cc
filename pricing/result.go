package pricing

import (
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// Kinds of invoice line.
const (
	KindCharge          = "charge"
	KindUrgentSurcharge = "urgent_surcharge"
	KindPlatformFee     = "platform_fee"
	KindMinimumTrueUp   = "minimum_commitment"
	KindSpendCap        = "spend_cap"
	KindPrepaidCredits  = "prepaid_credits"
)

// Line is one priced invoice line. Amount has been rounded once, through money.Round.
type Line struct {
	Kind        string          `json:"kind"`
	Description string          `json:"description"`
	OutcomeType string          `json:"outcome_type,omitempty"`
	Meter       string          `json:"meter,omitempty"`
	Quantity    decimal.Decimal `json:"quantity"`
	// UnitAmount is set when one unit price explains the line; tiered and per-task prices
	// have none, and their explanation says how the amount was reached.
	UnitAmount  *decimal.Decimal `json:"unit_amount,omitempty"`
	Amount      decimal.Decimal  `json:"amount"`
	Explanation Explanation      `json:"explanation"`
}

// Result is a rated period. Total is always the sum of the Amounts of Lines, and Subtotal the
// sum of all lines but the prepaid-credits line.
type Result struct {
	Currency       money.Currency  `json:"currency"`
	Lines          []Line          `json:"lines"`
	Subtotal       decimal.Decimal `json:"subtotal"`
	CreditsApplied decimal.Decimal `json:"credits_applied"`
	Total          decimal.Decimal `json:"total"`
	Draws          []Draw          `json:"draws,omitempty"`
	// ExpiredCredits names the grants that had expired by the period's end and were not applied.
	ExpiredCredits []string `json:"expired_credits,omitempty"`
	// Unpriced counts billable outcomes of outcome types no charge of the plan prices, so that
	// the caller can show them instead of losing them silently.
	Unpriced map[string]int64 `json:"unpriced,omitempty"`
}

// Explanation says how a line's amount came about. Only the parts that apply to the line's rule
// are set. String renders it as a sentence.
type Explanation struct {
	// Rule is the price model of a charge line, or the line's kind for plan-level terms.
	Rule     string          `json:"rule"`
	Currency money.Currency  `json:"currency"`
	Subject  string          `json:"subject,omitempty"` // the outcome type or meter
	Quantity decimal.Decimal `json:"quantity"`

	Outcomes   *OutcomeTally     `json:"outcomes,omitempty"`
	UnitAmount *decimal.Decimal  `json:"unit_amount,omitempty"`
	Tiers      []TierUse         `json:"tiers,omitempty"`
	Labor      *LaborDetail      `json:"labor,omitempty"`
	Seats      *SeatDetail       `json:"seats,omitempty"`
	Package    *PackageDetail    `json:"package,omitempty"`
	Percentage *PercentageDetail `json:"percentage,omitempty"`
	CostPlus   *CostPlusDetail   `json:"cost_plus,omitempty"`
	Urgent     *UrgentDetail     `json:"urgent,omitempty"`
	Limit      *LimitDetail      `json:"limit,omitempty"`
	Credits    *CreditDetail     `json:"credits,omitempty"`

	// Unrounded is the amount at full precision; Amount is it rounded to the minor unit.
	Unrounded decimal.Decimal `json:"unrounded"`
	Amount    decimal.Decimal `json:"amount"`
}

// OutcomeTally is how the billable outcomes of a line were counted into units.
type OutcomeTally struct {
	Succeeded       int64           `json:"succeeded"`
	Partial         int64           `json:"partial"`
	PartialCredit   decimal.Decimal `json:"partial_credit"`
	UrgentSucceeded int64           `json:"urgent_succeeded,omitempty"`
	UrgentPartial   int64           `json:"urgent_partial,omitempty"`
}

// TierUse is one tier a graduated or volume price touched.
type TierUse struct {
	Tier       int              `json:"tier"` // index into the price's tiers
	From       decimal.Decimal  `json:"from"` // exclusive lower bound
	UpTo       *decimal.Decimal `json:"up_to"`
	Quantity   decimal.Decimal  `json:"quantity"`
	UnitAmount decimal.Decimal  `json:"unit_amount"`
	FlatAmount decimal.Decimal  `json:"flat_amount"`
	Amount     decimal.Decimal  `json:"amount"`
}

// LaborDetail explains a labor_share line: the share, the bounds, and each baseline used.
type LaborDetail struct {
	Share     decimal.Decimal  `json:"share"`
	Floor     *decimal.Decimal `json:"floor,omitempty"`
	Cap       *decimal.Decimal `json:"cap,omitempty"`
	Baselines []BaselineUse    `json:"baselines"`
	// Outcomes beyond the baselines listed (more distinct figures than an explanation can hold).
	OtherOutcomes int64 `json:"other_outcomes,omitempty"`
	RaisedToFloor int64 `json:"raised_to_floor,omitempty"`
	LoweredToCap  int64 `json:"lowered_to_cap,omitempty"`
}

// BaselineUse is one set of labor figures and the outcomes priced with it.
type BaselineUse struct {
	Source          BaselineSource  `json:"source"`
	HumanMinutes    decimal.Decimal `json:"human_minutes"`
	AnnualCost      decimal.Decimal `json:"annual_cost"`
	ProductiveHours decimal.Decimal `json:"productive_hours"`
	HourlyRate      decimal.Decimal `json:"hourly_rate"`
	LaborCost       decimal.Decimal `json:"labor_cost"`
	// PerOutcome is share × labor cost after floor and cap, for one whole outcome.
	PerOutcome decimal.Decimal `json:"per_outcome"`
	Limited    string          `json:"limited,omitempty"` // "floor", "cap" or ""
	Succeeded  int64           `json:"succeeded"`
	Partial    int64           `json:"partial"`
}

// SeatDetail explains a seat_equivalent line.
type SeatDetail struct {
	OutcomesPerSeat decimal.Decimal `json:"outcomes_per_seat"`
	SeatEquivalents decimal.Decimal `json:"seat_equivalents"`
	Seats           decimal.Decimal `json:"seats"` // what was billed
	RoundedUp       bool            `json:"rounded_up"`
	SeatPrice       decimal.Decimal `json:"seat_price"`
}

// PackageDetail explains a package line.
type PackageDetail struct {
	PackageSize decimal.Decimal `json:"package_size"`
	FreeUnits   decimal.Decimal `json:"free_units"`
	Packages    decimal.Decimal `json:"packages"`
	Amount      decimal.Decimal `json:"amount"` // per package
}

// PercentageDetail explains a percentage line.
type PercentageDetail struct {
	Rate         decimal.Decimal  `json:"rate"`
	FixedFee     decimal.Decimal  `json:"fixed_fee"`
	Min          *decimal.Decimal `json:"min,omitempty"`
	Max          *decimal.Decimal `json:"max,omitempty"`
	Transactions int64            `json:"transactions"`
	Volume       decimal.Decimal  `json:"volume"`
	RaisedToMin  int64            `json:"raised_to_min,omitempty"`
	LoweredToMax int64            `json:"lowered_to_max,omitempty"`
}

// CostPlusDetail explains a cost_plus line.
type CostPlusDetail struct {
	CostUSD decimal.Decimal `json:"cost_usd"`
	// ExchangeRate is nil when the plan is in USD and nothing was converted.
	ExchangeRate *decimal.Decimal `json:"exchange_rate,omitempty"`
	Cost         decimal.Decimal  `json:"cost"` // in the plan's currency
	Markup       decimal.Decimal  `json:"markup"`
}

// UrgentDetail explains an urgent surcharge: (Multiplier − 1) × Base.
type UrgentDetail struct {
	Multiplier  decimal.Decimal `json:"multiplier"`
	UrgentUnits decimal.Decimal `json:"urgent_units"`
	// Base is what the urgent outcomes cost before the multiplier.
	Base decimal.Decimal `json:"base"`
	// ProRata is set when the charge has no price per outcome (tiers, seats, packages), so the
	// base is the line's amount × urgent units ÷ all units.
	ProRata bool `json:"pro_rata,omitempty"`
}

// LimitDetail explains a minimum-commitment true-up or a spend-cap adjustment.
type LimitDetail struct {
	Limit  decimal.Decimal `json:"limit"`
	Before decimal.Decimal `json:"before"` // the sum it was compared with
}

// CreditDetail explains the prepaid-credits line.
type CreditDetail struct {
	Owed    decimal.Decimal `json:"owed"` // the subtotal credits could cover
	Draws   []Draw          `json:"draws"`
	Expired []string        `json:"expired,omitempty"` // grants not applied because expired
}
