package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

type baselineJSON struct {
	HumanMinutes    string       `json:"human_minutes"`
	AnnualCost      money.Money  `json:"annual_cost"`
	ProductiveHours string       `json:"productive_hours,omitempty"`
	HourlyRate      *money.Money `json:"hourly_rate,omitempty"` // computed, output only
	TaskCost        *money.Money `json:"task_cost,omitempty"`   // computed, output only
}

func (b baselineJSON) parse(prefix string) (billing.LaborBaseline, error) {
	var out billing.LaborBaseline
	var err error
	if out.HumanMinutes, err = decimalField(prefix+".human_minutes", b.HumanMinutes); err != nil {
		return out, err
	}
	if b.ProductiveHours != "" {
		if out.ProductiveHours, err = decimalField(prefix+".productive_hours", b.ProductiveHours); err != nil {
			return out, err
		}
	}
	if b.AnnualCost.Currency == "" {
		return out, billing.Invalid(prefix+".annual_cost", "is required: {\"amount\": \"94000\", \"currency\": \"USD\"}")
	}
	out.AnnualCost = b.AnnualCost
	return out, nil
}

func renderBaseline(b billing.LaborBaseline) baselineJSON {
	rate, cost := b.HourlyRate(), b.TaskCost()
	// Computed figures are shown to four places: enough to check by hand, and clearly not an
	// invoice amount (those are rounded once, on invoice lines).
	rate.Amount, cost.Amount = rate.Amount.Round(4), cost.Amount.Round(4)
	return baselineJSON{HumanMinutes: b.HumanMinutes.String(), AnnualCost: b.AnnualCost,
		ProductiveHours: b.ProductiveHours.String(), HourlyRate: &rate, TaskCost: &cost}
}

type outcomeTypeJSON struct {
	OutcomeType          string       `json:"outcome_type"`
	Name                 string       `json:"name"`
	Description          string       `json:"description"`
	Baseline             baselineJSON `json:"baseline"`
	DisputeWindowSeconds *int64       `json:"dispute_window_seconds,omitempty"`
	TaskTimeoutSeconds   *int64       `json:"task_timeout_seconds,omitempty"`
	CreatedAt            time.Time    `json:"created_at,omitzero"`
	UpdatedAt            time.Time    `json:"updated_at,omitzero"`
}

func renderOutcomeType(o billing.OutcomeType) outcomeTypeJSON {
	w, t := int64(o.DisputeWindow/time.Second), int64(o.TaskTimeout/time.Second)
	return outcomeTypeJSON{OutcomeType: o.Key, Name: o.Name, Description: o.Description, Baseline: renderBaseline(o.Baseline),
		DisputeWindowSeconds: &w, TaskTimeoutSeconds: &t, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func (s *Server) putOutcomeType() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in outcomeTypeJSON
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		key := c.Param("outcome_type")
		if in.OutcomeType != "" && in.OutcomeType != key {
			renderError(c, billing.Invalid("outcome_type", "the body names %q but the path %q", in.OutcomeType, key))
			return
		}
		b, err := in.Baseline.parse("baseline")
		if err != nil {
			renderError(c, err)
			return
		}
		o := billing.OutcomeType{Key: key, Name: in.Name, Description: in.Description, Baseline: b,
			DisputeWindow: billing.DefaultDisputeWindow, TaskTimeout: billing.DefaultTaskTimeout}
		if in.DisputeWindowSeconds != nil {
			o.DisputeWindow = time.Duration(*in.DisputeWindowSeconds) * time.Second
		}
		if in.TaskTimeoutSeconds != nil {
			o.TaskTimeout = time.Duration(*in.TaskTimeoutSeconds) * time.Second
		}
		out, created, err := s.cfg.OutcomeTypes.PutOutcomeType(c.Request.Context(), o)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderOutcomeType(out))
	}
}

func (s *Server) listOutcomeTypes() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.OutcomeTypes.OutcomeTypes(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderOutcomeType))
	}
}

type baselineOverrideJSON struct {
	CustomerID  string       `json:"customer_id"`
	OutcomeType string       `json:"outcome_type"`
	Baseline    baselineJSON `json:"baseline"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

func (s *Server) putBaseline() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baselineJSON
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		b, err := in.parse("baseline")
		if err != nil {
			renderError(c, err)
			return
		}
		out, created, err := s.cfg.OutcomeTypes.PutBaselineOverride(c.Request.Context(), billing.BaselineOverride{
			CustomerID: c.Param("customer_id"), OutcomeType: c.Param("outcome_type"), Baseline: b})
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), baselineOverrideJSON{CustomerID: out.CustomerID, OutcomeType: out.OutcomeType,
			Baseline: renderBaseline(out.Baseline), UpdatedAt: out.UpdatedAt})
	}
}

func (s *Server) deleteBaseline() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.cfg.OutcomeTypes.DeleteBaselineOverride(c.Request.Context(), c.Param("customer_id"), c.Param("outcome_type")); err != nil {
			renderError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

type modelPriceJSON struct {
	Model              string    `json:"model"`
	EffectiveFrom      time.Time `json:"effective_from"`
	Currency           string    `json:"currency"`
	InputPerMTok       string    `json:"input_per_mtok"`
	CachedInputPerMTok string    `json:"cached_input_per_mtok"`
	CacheWritePerMTok  string    `json:"cache_write_per_mtok"`
	OutputPerMTok      string    `json:"output_per_mtok"`
	ReasoningPerMTok   *string   `json:"reasoning_per_mtok"`
	Source             string    `json:"source"`
	AsOf               string    `json:"as_of,omitempty"`
	Origin             string    `json:"origin"`
}

func renderModelPrice(p billing.ModelPrice) modelPriceJSON {
	out := modelPriceJSON{Model: p.Model, EffectiveFrom: p.EffectiveFrom, Currency: string(money.USD),
		InputPerMTok: p.Input.String(), CachedInputPerMTok: p.CachedInput.String(), CacheWritePerMTok: p.CacheWrite.String(),
		OutputPerMTok: p.Output.String(), Source: p.Source, Origin: p.Origin}
	if p.Reasoning != nil {
		r := p.Reasoning.String()
		out.ReasoningPerMTok = &r
	}
	if !p.AsOf.IsZero() {
		out.AsOf = p.AsOf.Format(time.DateOnly)
	}
	return out
}

func (s *Server) listModelPrices() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.ModelPrices.ModelPrices(c.Request.Context(), c.Query("model"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderModelPrice))
	}
}

// modelPriceInput is the body of PUT /v1/model-prices/{model}. Prices are USD per million tokens;
// cached input and cache write default to the input price, reasoning to the output price.
type modelPriceInput struct {
	EffectiveFrom      *time.Time `json:"effective_from"`
	InputPerMTok       string     `json:"input_per_mtok"`
	CachedInputPerMTok string     `json:"cached_input_per_mtok"`
	CacheWritePerMTok  string     `json:"cache_write_per_mtok"`
	OutputPerMTok      string     `json:"output_per_mtok"`
	ReasoningPerMTok   *string    `json:"reasoning_per_mtok"`
	Source             string     `json:"source"`
}

func (s *Server) putModelPrice() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in modelPriceInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		p, err := in.parse(c.Param("model"))
		if err != nil {
			renderError(c, err)
			return
		}
		out, created, err := s.cfg.ModelPrices.AddModelPrice(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderModelPrice(out))
	}
}

func (in modelPriceInput) parse(model string) (billing.ModelPrice, error) {
	p := billing.ModelPrice{Model: model, Source: in.Source}
	if in.EffectiveFrom == nil {
		return p, billing.Invalid("effective_from", "is required (RFC 3339), e.g. 2026-01-01T00:00:00Z")
	}
	p.EffectiveFrom = in.EffectiveFrom.UTC()
	var err error
	if p.Input, err = decimalField("input_per_mtok", in.InputPerMTok); err != nil {
		return p, err
	}
	if p.Output, err = decimalField("output_per_mtok", in.OutputPerMTok); err != nil {
		return p, err
	}
	p.CachedInput, p.CacheWrite = p.Input, p.Input
	if in.CachedInputPerMTok != "" {
		if p.CachedInput, err = decimalField("cached_input_per_mtok", in.CachedInputPerMTok); err != nil {
			return p, err
		}
	}
	if in.CacheWritePerMTok != "" {
		if p.CacheWrite, err = decimalField("cache_write_per_mtok", in.CacheWritePerMTok); err != nil {
			return p, err
		}
	}
	if in.ReasoningPerMTok != nil {
		r, err := decimalField("reasoning_per_mtok", *in.ReasoningPerMTok)
		if err != nil {
			return p, err
		}
		p.Reasoning = &r
	}
	return p, nil
}
