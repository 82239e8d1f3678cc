package pricing

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// Model names a price model. The names are those of DESIGN.md §4 and are stored as they are.
type Model string

// The price models of DESIGN.md §4.
const (
	ModelPerOutcome     Model = "per_outcome"
	ModelLaborShare     Model = "labor_share"
	ModelSeatEquivalent Model = "seat_equivalent"
	ModelPerUnit        Model = "per_unit"
	ModelGraduated      Model = "graduated"
	ModelVolume         Model = "volume"
	ModelPackage        Model = "package"
	ModelPercentage     Model = "percentage"
	ModelCostPlus       Model = "cost_plus"
)

// Defaults of DESIGN.md §1 and §4.
var (
	DefaultPartialCredit   = decimal.New(5, -1)
	DefaultProductiveHours = decimal.NewFromInt(1880)
)

// PlanVersion is one immutable version of a plan: what rating a period needs to know about it.
// It is stored as JSONB and accepted over the API, hence the snake_case tags.
type PlanVersion struct {
	PlanID   string         `json:"plan_id,omitempty"`
	Version  int            `json:"version,omitempty"`
	Currency money.Currency `json:"currency"`
	Terms    Terms          `json:"terms"`
	Prices   []Charge       `json:"prices"`
}

// Terms are the plan-level terms of DESIGN.md §4. Every field is optional. The amounts are in
// the plan's currency and may not be finer than its minor unit, because they become invoice
// lines as they are.
type Terms struct {
	// PlatformFee is charged once a period, whatever the usage.
	PlatformFee *decimal.Decimal `json:"platform_fee,omitempty"`
	// MinimumCommitment is what usage must come to in a period; a true-up line makes up a shortfall.
	MinimumCommitment *decimal.Decimal `json:"minimum_commitment,omitempty"`
	// UrgentMultiplier (at least 1) scales what outcomes of urgent tasks cost; nil means 1.
	UrgentMultiplier *decimal.Decimal `json:"urgent_multiplier,omitempty"`
	// Cap is the most a period may cost before credits; an adjustment line brings it down.
	Cap *decimal.Decimal `json:"cap,omitempty"`
}

// Charge prices one outcome type or one metered quantity with one model. The Price is embedded
// so that the JSON reads {"outcome_type": "...", "model": "per_outcome", "unit_amount": "0.99"}.
type Charge struct {
	// OutcomeType is the outcome type whose billable outcomes this charge counts.
	OutcomeType string `json:"outcome_type,omitempty"`
	// Meter names a metered quantity (e.g. "tokens", "gpu_minutes") or, for percentage, the
	// stream of transactions the charge takes its share of.
	Meter string `json:"meter,omitempty"`
	// Description replaces the generated line description when set.
	Description string `json:"description,omitempty"`
	Price
}

// Price is a tagged union: Model says which of the other fields apply. Unset fields are nil so
// that validation can tell "0" from "absent" and refuse fields that do not belong to the model.
type Price struct {
	Model Model `json:"model"`

	// per_outcome, per_unit
	UnitAmount *decimal.Decimal `json:"unit_amount,omitempty"`
	// Any charge counting outcomes: the fraction of a unit a partial outcome counts as (0.5).
	PartialCredit *decimal.Decimal `json:"partial_credit,omitempty"`

	// labor_share
	Share              *decimal.Decimal `json:"share,omitempty"`
	AllowShareAboveOne bool             `json:"allow_share_above_one,omitempty"`
	Floor              *decimal.Decimal `json:"floor,omitempty"`
	Cap                *decimal.Decimal `json:"cap,omitempty"`

	// seat_equivalent
	OutcomesPerSeat *decimal.Decimal `json:"outcomes_per_seat,omitempty"`
	SeatPrice       *decimal.Decimal `json:"seat_price,omitempty"`
	RoundUpSeats    bool             `json:"round_up_seats,omitempty"`

	// graduated, volume
	Tiers []Tier `json:"tiers,omitempty"`

	// package
	PackageSize *decimal.Decimal `json:"package_size,omitempty"`
	Amount      *decimal.Decimal `json:"amount,omitempty"`
	FreeUnits   *decimal.Decimal `json:"free_units,omitempty"`

	// percentage
	Rate     *decimal.Decimal `json:"rate,omitempty"`
	FixedFee *decimal.Decimal `json:"fixed_fee,omitempty"`
	Min      *decimal.Decimal `json:"min,omitempty"`
	Max      *decimal.Decimal `json:"max,omitempty"`

	// cost_plus
	Markup *decimal.Decimal `json:"markup,omitempty"`
}

// Tier is one step of a graduated or volume price. UpTo is inclusive; the last tier has none.
type Tier struct {
	UpTo       *decimal.Decimal `json:"up_to"`
	UnitAmount decimal.Decimal  `json:"unit_amount"`
	FlatAmount decimal.Decimal  `json:"flat_amount"`
}

// countsOutcomes reports whether the charge's quantity is a count of billable outcomes.
func (c *Charge) countsOutcomes() bool {
	return c.OutcomeType != "" && c.Model != ModelCostPlus
}

func (p *Price) partialCredit() decimal.Decimal {
	if p.PartialCredit != nil {
		return *p.PartialCredit
	}
	return DefaultPartialCredit
}

func (t *Terms) urgentMultiplier() decimal.Decimal {
	if t.UrgentMultiplier != nil {
		return *t.UrgentMultiplier
	}
	return one
}

var (
	zero = decimal.Zero
	one  = decimal.NewFromInt(1)
)

// Validate checks the plan version and returns the first problem as a *FieldError naming the
// field by its JSON path.
func (v *PlanVersion) Validate() error {
	if !v.Currency.Valid() {
		return fieldErrorf("currency", "unknown currency %q: want an ISO 4217 code such as USD", string(v.Currency))
	}
	if err := v.Terms.validate(v.Currency); err != nil {
		return err
	}
	for i := range v.Prices {
		if err := v.Prices[i].validate(fmt.Sprintf("prices[%d].", i)); err != nil {
			return err
		}
	}
	return nil
}

func (t *Terms) validate(c money.Currency) error {
	for _, f := range []struct {
		name string
		v    *decimal.Decimal
	}{{"platform_fee", t.PlatformFee}, {"minimum_commitment", t.MinimumCommitment}, {"cap", t.Cap}} {
		if f.v == nil {
			continue
		}
		if err := nonNegative("terms."+f.name, f.v); err != nil {
			return err
		}
		if !money.Round(*f.v, c).Equal(*f.v) {
			return fieldErrorf("terms."+f.name, "must not be finer than the %s minor unit (%d decimals)", c, c.MinorUnits())
		}
	}
	if t.UrgentMultiplier != nil && t.UrgentMultiplier.LessThan(one) {
		return fieldErrorf("terms.urgent_multiplier", "must be at least 1")
	}
	if t.Cap != nil {
		// A cap below what the plan itself guarantees would silently cancel the fee or the
		// commitment; that is a plan mistake, not a discount.
		floor := orZero(t.PlatformFee).Add(orZero(t.MinimumCommitment))
		if t.Cap.LessThan(floor) {
			return fieldErrorf("terms.cap", "must be at least platform_fee + minimum_commitment (%s)", floor)
		}
	}
	return nil
}

func orZero(d *decimal.Decimal) decimal.Decimal {
	if d == nil {
		return zero
	}
	return *d
}

func nonNegative(field string, d *decimal.Decimal) error {
	if d.IsNegative() {
		return fieldErrorf(field, "must not be negative")
	}
	return nil
}

func required(field string, d *decimal.Decimal, m Model) error {
	if d == nil {
		return fieldErrorf(field, "is required for model %s", m)
	}
	return nonNegative(field, d)
}

func positive(field string, d *decimal.Decimal, m Model) error {
	if d == nil {
		return fieldErrorf(field, "is required for model %s", m)
	}
	if !d.IsPositive() {
		return fieldErrorf(field, "must be greater than 0")
	}
	return nil
}

// fieldsOf lists which model-specific fields of p are set, by JSON name, in a fixed order.
func (p *Price) fieldsOf() []string {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	add("unit_amount", p.UnitAmount != nil)
	add("partial_credit", p.PartialCredit != nil)
	add("share", p.Share != nil)
	add("allow_share_above_one", p.AllowShareAboveOne)
	add("floor", p.Floor != nil)
	add("cap", p.Cap != nil)
	add("outcomes_per_seat", p.OutcomesPerSeat != nil)
	add("seat_price", p.SeatPrice != nil)
	add("round_up_seats", p.RoundUpSeats)
	add("tiers", p.Tiers != nil)
	add("package_size", p.PackageSize != nil)
	add("amount", p.Amount != nil)
	add("free_units", p.FreeUnits != nil)
	add("rate", p.Rate != nil)
	add("fixed_fee", p.FixedFee != nil)
	add("min", p.Min != nil)
	add("max", p.Max != nil)
	add("markup", p.Markup != nil)
	return set
}

// allowedFields says which fields each model reads. A field outside its model's list is refused
// rather than ignored: "unit_amount" on a labor_share price is a mistake someone would pay for.
var allowedFields = map[Model]string{
	ModelPerOutcome:     "unit_amount partial_credit",
	ModelLaborShare:     "share allow_share_above_one floor cap partial_credit",
	ModelSeatEquivalent: "outcomes_per_seat seat_price round_up_seats partial_credit",
	ModelPerUnit:        "unit_amount partial_credit",
	ModelGraduated:      "tiers partial_credit",
	ModelVolume:         "tiers partial_credit",
	ModelPackage:        "package_size amount free_units partial_credit",
	ModelPercentage:     "rate fixed_fee min max",
	ModelCostPlus:       "markup",
}

func (c *Charge) validate(prefix string) error {
	p := &c.Price
	allowed, ok := allowedFields[p.Model]
	if !ok {
		return fieldErrorf(prefix+"model", "unknown price model %q: want one of per_outcome, labor_share, seat_equivalent, per_unit, graduated, volume, package, percentage, cost_plus", string(p.Model))
	}
	for _, f := range p.fieldsOf() {
		if !strings.Contains(" "+allowed+" ", " "+f+" ") {
			return fieldErrorf(prefix+f, "does not apply to model %s", p.Model)
		}
	}
	if len(c.Description) > 200 {
		return fieldErrorf(prefix+"description", "must be at most 200 characters")
	}
	if err := c.validateSubject(prefix); err != nil {
		return err
	}
	if p.PartialCredit != nil {
		if p.Model != ModelPerOutcome && p.Model != ModelLaborShare && p.Model != ModelSeatEquivalent && c.OutcomeType == "" {
			return fieldErrorf(prefix+"partial_credit", "applies only to charges on an outcome_type")
		}
		if p.PartialCredit.IsNegative() || p.PartialCredit.GreaterThan(one) {
			return fieldErrorf(prefix+"partial_credit", "must be between 0 and 1")
		}
	}
	m := p.Model
	switch m {
	case ModelPerOutcome, ModelPerUnit:
		return required(prefix+"unit_amount", p.UnitAmount, m)
	case ModelLaborShare:
		return p.validateLaborShare(prefix)
	case ModelSeatEquivalent:
		if err := positive(prefix+"outcomes_per_seat", p.OutcomesPerSeat, m); err != nil {
			return err
		}
		return required(prefix+"seat_price", p.SeatPrice, m)
	case ModelGraduated, ModelVolume:
		return validateTiers(prefix+"tiers", p.Tiers)
	case ModelPackage:
		if err := positive(prefix+"package_size", p.PackageSize, m); err != nil {
			return err
		}
		if err := required(prefix+"amount", p.Amount, m); err != nil {
			return err
		}
		if p.FreeUnits != nil {
			return nonNegative(prefix+"free_units", p.FreeUnits)
		}
	case ModelPercentage:
		return p.validatePercentage(prefix)
	case ModelCostPlus:
		return required(prefix+"markup", p.Markup, m)
	}
	return nil
}

// validateSubject checks what the charge counts: outcome models need an outcome type, percentage
// a stream of transactions, cost_plus at most an outcome type (none: all cost of the period).
func (c *Charge) validateSubject(prefix string) error {
	if c.OutcomeType != "" && c.Meter != "" {
		return fieldErrorf(prefix+"meter", "give either outcome_type or meter, not both")
	}
	switch c.Model {
	case ModelPerOutcome, ModelLaborShare, ModelSeatEquivalent:
		if c.OutcomeType == "" {
			return fieldErrorf(prefix+"outcome_type", "is required for model %s", c.Model)
		}
	case ModelPercentage:
		if c.Meter == "" {
			return fieldErrorf(prefix+"meter", "is required for model percentage: it names the transactions")
		}
	case ModelCostPlus:
		if c.Meter != "" {
			return fieldErrorf(prefix+"meter", "does not apply to model cost_plus, which prices token and other cost")
		}
	default:
		if c.OutcomeType == "" && c.Meter == "" {
			return fieldErrorf(prefix+"meter", "give the outcome_type or the meter whose quantity model %s prices", c.Model)
		}
	}
	for _, s := range []struct{ field, v string }{{"outcome_type", c.OutcomeType}, {"meter", c.Meter}} {
		if len(s.v) > 100 {
			return fieldErrorf(prefix+s.field, "must be at most 100 characters")
		}
	}
	return nil
}

func (p *Price) validateLaborShare(prefix string) error {
	if err := required(prefix+"share", p.Share, ModelLaborShare); err != nil {
		return err
	}
	// A share above 1 charges more than a person would cost. Possible (a premium service) but
	// far likelier a percentage typed as 30 instead of 0.3, so it takes an explicit flag.
	if p.Share.GreaterThan(one) && !p.AllowShareAboveOne {
		return fieldErrorf(prefix+"share", "is %s, above 1 (100%% of labor cost); write it as a fraction (0.3 for 30%%) or set allow_share_above_one", p.Share)
	}
	if p.Floor != nil {
		if err := nonNegative(prefix+"floor", p.Floor); err != nil {
			return err
		}
	}
	if p.Cap != nil {
		if err := nonNegative(prefix+"cap", p.Cap); err != nil {
			return err
		}
		if p.Floor != nil && p.Cap.LessThan(*p.Floor) {
			return fieldErrorf(prefix+"cap", "must not be below floor (%s)", p.Floor)
		}
	}
	return nil
}

func (p *Price) validatePercentage(prefix string) error {
	if err := required(prefix+"rate", p.Rate, ModelPercentage); err != nil {
		return err
	}
	if p.Rate.GreaterThan(one) {
		return fieldErrorf(prefix+"rate", "is %s, above 1; write it as a fraction (0.013 for 1.3%%)", p.Rate)
	}
	for _, f := range []struct {
		name string
		v    *decimal.Decimal
	}{{"fixed_fee", p.FixedFee}, {"min", p.Min}, {"max", p.Max}} {
		if f.v != nil {
			if err := nonNegative(prefix+f.name, f.v); err != nil {
				return err
			}
		}
	}
	if p.Min != nil && p.Max != nil && p.Max.LessThan(*p.Min) {
		return fieldErrorf(prefix+"max", "must not be below min (%s)", p.Min)
	}
	return nil
}

func validateTiers(field string, tiers []Tier) error {
	if len(tiers) == 0 {
		return fieldErrorf(field, "at least one tier is required")
	}
	prev := zero
	for i, t := range tiers {
		f := fmt.Sprintf("%s[%d].", field, i)
		if err := nonNegative(f+"unit_amount", &t.UnitAmount); err != nil {
			return err
		}
		if err := nonNegative(f+"flat_amount", &t.FlatAmount); err != nil {
			return err
		}
		last := i == len(tiers)-1
		switch {
		case t.UpTo == nil && !last:
			return fieldErrorf(f+"up_to", "only the last tier may be open-ended")
		case t.UpTo != nil && last:
			return fieldErrorf(f+"up_to", "the last tier must be open-ended (up_to null)")
		case t.UpTo != nil && !t.UpTo.GreaterThan(prev):
			if i == 0 {
				return fieldErrorf(f+"up_to", "must be greater than 0")
			}
			return fieldErrorf(f+"up_to", "must be greater than tiers[%d].up_to (%s): tiers must be strictly increasing", i-1, prev)
		}
		if t.UpTo != nil {
			prev = *t.UpTo
		}
	}
	return nil
}
