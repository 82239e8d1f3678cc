package billing

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// Plan is one version of a plan: its prices (a pricing.PlanVersion) and the list of all versions.
// Versions are immutable; editing a plan stores a new one, and invoices name the version they
// were rated with.
type Plan struct {
	ID        string
	Name      string
	Version   int
	Pricing   pricing.PlanVersion // PlanID and Version equal the fields above once stored
	CreatedAt time.Time
	// Versions lists every version of the plan, oldest first (filled by reads, not by writes).
	Versions []PlanVersionRef
}

// PlanVersionRef names one stored version of a plan.
type PlanVersionRef struct {
	Version   int
	Name      string
	CreatedAt time.Time
}

// Validate checks the plan, normalising the currency to upper case and a missing name to the
// plan id, and reports the first problem as an invalid error naming the field by its JSON path.
func (p *Plan) Validate() error {
	if err := checkID("plan_id", p.ID); err != nil {
		return err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		p.Name = p.ID
	}
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	cur, err := money.ParseCurrency(string(p.Pricing.Currency))
	if err != nil {
		return Invalid("currency", "%s", err.Error())
	}
	p.Pricing.Currency = cur
	p.Pricing.PlanID, p.Pricing.Version = p.ID, p.Version
	if err := PricingError("", p.Pricing.Validate()); err != nil {
		return err
	}
	return checkMeters("", p.Pricing.Prices)
}

// Fingerprint identifies the plan's content (name, currency, terms and prices), not its id,
// version or dates: two versions with the same fingerprint price everything alike. Decimals
// are encoded canonically, so "1.50" and "1.5" are the same content.
func (p *Plan) Fingerprint() []byte {
	v := p.Pricing
	v.PlanID, v.Version = "", 0
	if v.Prices == nil {
		v.Prices = []pricing.Charge{} // as stored and read back
	}
	return contentHash(struct {
		Name    string              `json:"name"`
		Pricing pricing.PlanVersion `json:"pricing"`
	}{p.Name, v})
}

func contentHash(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only types without a JSON encoding fail here, and these have one.
		panic("billing: content hash: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// PricingError turns a *pricing.FieldError into an invalid error whose field is prefix plus the
// error's JSON path; other errors pass through unchanged.
func PricingError(prefix string, err error) error {
	var fe *pricing.FieldError
	if errors.As(err, &fe) {
		return Invalid(prefix+fe.Field, "%s", fe.Message)
	}
	return err
}

// ValidatePlanRef checks a reference to a version of a plan; version 0 means the latest.
func ValidatePlanRef(planID string, version int) error {
	if err := checkID("plan_id", planID); err != nil {
		return err
	}
	if version < 0 {
		return Invalid("plan_version", "must be a version number (1 or more), or left out to follow the latest version")
	}
	return nil
}

// Subscription puts a customer on a plan from StartsAt until the next subscription's StartsAt.
type Subscription struct {
	ID         string
	CustomerID string
	PlanID     string
	// PlanVersion pins one version of the plan; 0 follows the plan's latest version (see
	// ResolveVersion for what "latest" means when a period is rated).
	PlanVersion int
	StartsAt    time.Time
	// DateOnly says StartsAt was given as a calendar date: only its year, month and day count,
	// and the store places it at midnight in the customer's billing timezone (InZone).
	DateOnly  bool
	Overrides Overrides
	CreatedAt time.Time
}

// InZone places a date-only start at midnight in loc and returns it in UTC.
func (s *Subscription) InZone(loc *time.Location) {
	if s.DateOnly {
		y, m, d := s.StartsAt.Date()
		s.StartsAt, s.DateOnly = time.Date(y, m, d, 0, 0, 0, 0, loc), false
	}
	s.StartsAt = s.StartsAt.UTC()
}

// Overrides are a customer's own terms and prices on top of a plan version.
type Overrides struct {
	// Terms replace the plan's terms field by field: a field set here wins, an unset one keeps
	// the plan's.
	Terms *pricing.Terms `json:"terms,omitempty"`
	// Prices replace the plan's charges with the same subject (outcome_type or meter, and whether
	// the charge is a cost_plus one); a charge with a subject the plan does not price is added.
	Prices []pricing.Charge `json:"prices,omitempty"`
}

// IsZero reports whether o changes nothing.
func (o Overrides) IsZero() bool { return o.Terms == nil && len(o.Prices) == 0 }

// Fingerprint identifies the overrides' content.
func (o Overrides) Fingerprint() []byte { return contentHash(o) }

func chargeKey(c *pricing.Charge) string {
	kind := "price"
	if c.Model == pricing.ModelCostPlus {
		kind = "cost"
	}
	return c.OutcomeType + "\x00" + c.Meter + "\x00" + kind
}

// Apply returns v with o merged in. v's slices are not modified.
func (o Overrides) Apply(v pricing.PlanVersion) pricing.PlanVersion {
	if o.Terms != nil {
		t := v.Terms
		if o.Terms.PlatformFee != nil {
			t.PlatformFee = o.Terms.PlatformFee
		}
		if o.Terms.MinimumCommitment != nil {
			t.MinimumCommitment = o.Terms.MinimumCommitment
		}
		if o.Terms.UrgentMultiplier != nil {
			t.UrgentMultiplier = o.Terms.UrgentMultiplier
		}
		if o.Terms.Cap != nil {
			t.Cap = o.Terms.Cap
		}
		v.Terms = t
	}
	if len(o.Prices) == 0 {
		return v
	}
	replace := make(map[string]bool, len(o.Prices))
	for i := range o.Prices {
		replace[chargeKey(&o.Prices[i])] = true
	}
	prices := make([]pricing.Charge, 0, len(v.Prices)+len(o.Prices))
	for i := range v.Prices {
		if !replace[chargeKey(&v.Prices[i])] {
			prices = append(prices, v.Prices[i])
		}
	}
	v.Prices = append(prices, o.Prices...)
	return v
}

// Validate checks o against the plan version it will be merged into. Errors name the field under
// "overrides.", indexed into the overrides' own prices.
func (o Overrides) Validate(v pricing.PlanVersion) error {
	own := pricing.PlanVersion{Currency: v.Currency, Terms: o.Apply(pricing.PlanVersion{Terms: v.Terms}).Terms, Prices: o.Prices}
	if err := own.Validate(); err != nil {
		return PricingError("overrides.", err)
	}
	if err := checkMeters("overrides.", o.Prices); err != nil {
		return err
	}
	merged := o.Apply(v)
	return PricingError("overrides.", merged.Validate())
}

// CreditGrant is prepaid credit a customer bought: Amount of credit for PricePaid, drawn down by
// invoices before cash until Remaining is zero or ExpiresAt passes.
type CreditGrant struct {
	CustomerID string
	// ID is the client's grant_id, which makes creating the grant idempotent; the store makes one
	// up when it is empty.
	ID        string
	Amount    money.Money
	PricePaid money.Money
	Remaining decimal.Decimal
	ExpiresAt time.Time // zero: never
	CreatedAt time.Time
}

// Validate checks the grant's own fields; the store checks the currency against the customer's.
func (g *CreditGrant) Validate() error {
	if g.ID != "" {
		if err := checkID("grant_id", g.ID); err != nil {
			return err
		}
	}
	if !g.Amount.Currency.Valid() {
		return Invalid("amount.currency", "unknown currency %q", string(g.Amount.Currency))
	}
	if !g.Amount.Amount.IsPositive() {
		return Invalid("amount.amount", "must be greater than 0")
	}
	if !g.Amount.Rounded().Equal(g.Amount) {
		return Invalid("amount.amount", "must not be finer than the %s minor unit (%d decimals)", g.Amount.Currency, g.Amount.Currency.MinorUnits())
	}
	if !g.PricePaid.Currency.Valid() {
		return Invalid("price_paid.currency", "unknown currency %q", string(g.PricePaid.Currency))
	}
	if g.PricePaid.Amount.IsNegative() {
		return Invalid("price_paid.amount", "must not be negative")
	}
	if !g.PricePaid.Rounded().Equal(g.PricePaid) {
		return Invalid("price_paid.amount", "must not be finer than the %s minor unit", g.PricePaid.Currency)
	}
	return nil
}

// ExchangeRate says how many units of Currency one USD buys from EffectiveFrom on, until the
// next rate of the same currency. Costs are kept in USD; cost_plus prices convert them with it.
type ExchangeRate struct {
	Currency      money.Currency
	EffectiveFrom time.Time
	Rate          decimal.Decimal
	CreatedAt     time.Time
}

// Validate checks the rate.
func (r *ExchangeRate) Validate() error {
	cur, err := money.ParseCurrency(string(r.Currency))
	if err != nil {
		return Invalid("currency", "%s", err.Error())
	}
	r.Currency = cur
	if cur == money.USD {
		return Invalid("currency", "rates convert from USD; USD to USD is always 1")
	}
	if r.EffectiveFrom.IsZero() {
		return Invalid("effective_from", "is required")
	}
	if !r.Rate.IsPositive() {
		return Invalid("rate", "must be greater than 0")
	}
	return nil
}

// RatingInfo says what a rated period was rated with and what it could not price.
type RatingInfo struct {
	SubscriptionID string
	PlanID         string
	PlanVersion    int
	// Tasks is how many billable tasks the period holds.
	Tasks int64
	// UnpricedOutcomes counts billable outcomes of outcome types no charge of the plan prices.
	UnpricedOutcomes int64
	// UnpricedUsage counts usage events of the period's tasks that have no cost yet (a model
	// without a price), so that cost_plus lines are known to be short. Counted only when a
	// cost_plus charge needs the cost.
	UnpricedUsage int64
	// ExchangeRate is the USD rate used, when anything was converted.
	ExchangeRate *decimal.Decimal
}
