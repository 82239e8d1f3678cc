package billing

import (
	"time"

	"github.com/shopspring/decimal"
)

// ModelPrice is what one million tokens of an LLM cost the vendor, in USD, from EffectiveFrom on
// until the next row of the same model. Rows are never edited: a price change is a new row.
type ModelPrice struct {
	Model         string
	EffectiveFrom time.Time
	Input         decimal.Decimal // per 1M input tokens
	CachedInput   decimal.Decimal // per 1M cache-read input tokens
	CacheWrite    decimal.Decimal // per 1M cache-write tokens
	Output        decimal.Decimal // per 1M output tokens
	// Reasoning is the price of 1M reasoning tokens where the provider bills them apart from
	// output; nil means they are billed at the output price.
	Reasoning *decimal.Decimal
	Source    string    // where the figure comes from (a URL), or "vendor override"
	AsOf      time.Time // when the source was read
	Origin    string    // PriceOriginCatalog or PriceOriginVendor
	CreatedAt time.Time
}

// Where a price row came from.
const (
	PriceOriginCatalog = "catalog"
	PriceOriginVendor  = "vendor"
)

var million = decimal.NewFromInt(1_000_000)

// TokenUsage counts the tokens of one usage event. Reasoning tokens are counted apart from output
// tokens (not included in them), so that each is priced at its own rate.
type TokenUsage struct {
	Input       int64
	CachedInput int64
	CacheWrite  int64
	Reasoning   int64
	Output      int64
}

// Cost prices u at p in USD at full precision; it is never rounded here (DESIGN.md §4: COGS is
// rounded only for display).
func (p ModelPrice) Cost(u TokenUsage) decimal.Decimal {
	reasoning := p.Output
	if p.Reasoning != nil {
		reasoning = *p.Reasoning
	}
	sum := p.Input.Mul(decimal.NewFromInt(u.Input)).
		Add(p.CachedInput.Mul(decimal.NewFromInt(u.CachedInput))).
		Add(p.CacheWrite.Mul(decimal.NewFromInt(u.CacheWrite))).
		Add(reasoning.Mul(decimal.NewFromInt(u.Reasoning))).
		Add(p.Output.Mul(decimal.NewFromInt(u.Output)))
	return sum.Div(million)
}

// Validate checks a price row: a model name, an effective date, and no negative price.
func (p *ModelPrice) Validate() error {
	if !ValidModelName(p.Model) {
		return Invalid("model", "must be 1–100 characters of letters, digits and . _ : @ / -")
	}
	if p.EffectiveFrom.IsZero() {
		return Invalid("effective_from", "is required (RFC 3339)")
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"input", p.Input}, {"cached_input", p.CachedInput}, {"cache_write", p.CacheWrite}, {"output", p.Output}} {
		if f.v.IsNegative() {
			return Invalid(f.name, "must not be negative")
		}
	}
	if p.Reasoning != nil && p.Reasoning.IsNegative() {
		return Invalid("reasoning", "must not be negative")
	}
	if len(p.Source) > 500 {
		return Invalid("source", "must be at most 500 characters")
	}
	return nil
}

// ValidModelName reports whether s can name a model (e.g. gpt-4.1-mini, claude-sonnet-4-5,
// meta-llama/Llama-3.3-70B).
func ValidModelName(s string) bool { return len(s) <= 100 && ValidID(s) }

// PriceAt returns the price valid at t among one model's rows sorted by EffectiveFrom: the latest
// vendor row from before t if there is one, else the latest catalog row. A vendor's own price
// wins over the list price for the whole time it covers. ok is false when no row covers t.
func PriceAt(rows []ModelPrice, t time.Time) (price ModelPrice, ok bool) {
	var catalog, vendor *ModelPrice
	for i := range rows {
		if rows[i].EffectiveFrom.After(t) {
			break
		}
		if rows[i].Origin == PriceOriginVendor {
			vendor = &rows[i]
		} else {
			catalog = &rows[i]
		}
	}
	switch {
	case vendor != nil:
		return *vendor, true
	case catalog != nil:
		return *catalog, true
	}
	return ModelPrice{}, false
}
