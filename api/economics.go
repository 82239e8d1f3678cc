package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// EconomicsStore computes the margin, labor-equivalent and model-economics views (DESIGN.md §6).
type EconomicsStore interface {
	Margin(ctx context.Context, customerID string, r billing.DateRange) (billing.Margin, error)
	VendorMargin(ctx context.Context, r billing.DateRange) (billing.VendorMargin, error)
	LaborEquivalent(ctx context.Context, customerID string, r billing.DateRange) (billing.LaborEquivalent, error)
	ModelEconomics(ctx context.Context, outcomeType string, r billing.DateRange, bar billing.ModelBar) (billing.ModelEconomics, error)
}

func economicsRoutes() []route {
	finance := []string{billing.ScopeFinance}
	// Viewer keys pass the scope check of the labor-equivalent view; the handler then holds them
	// to their own customer.
	laborReaders := []string{billing.ScopeFinance, billing.ScopeViewer}
	return []route{
		{"GET", "/v1/customers/:customer_id/margin", finance, "A customer's gross margin over ?from=&to= (dates in its billing timezone, or RFC 3339 times), by outcome type and model", "", "Margin", 200, (*Server).getMargin},
		{"GET", "/v1/margin", finance, "Every customer's gross margin over ?from=&to= (each customer's dates in its own timezone) and the totals in USD", "", "VendorMargin", 200, (*Server).getVendorMargin},
		{"GET", "/v1/customers/:customer_id/labor-equivalent", laborReaders, "What a customer's outcomes over ?from=&to= would have cost in people, and the trend of its last 6 billing periods; a viewer key reads its own customer's", "", "LaborEquivalent", 200, (*Server).getLaborEquivalent},
		{"GET", "/v1/model-economics", finance, "Per outcome type and model over ?from=&to=: success rate, quality, cost per outcome, and the cheapest model that clears ?min_success_rate= (0.9) and ?min_quality= (0.8); ?outcome_type= narrows", "", "ModelEconomics", 200, (*Server).getModelEconomics},
	}
}

func dateRange(c *gin.Context) (billing.DateRange, error) {
	return billing.ParseDateRange(c.Query("from"), c.Query("to"))
}

// usdString shows a USD cost at full precision: cost of goods is kept unrounded (DESIGN.md §4).
func usdString(d decimal.Decimal) string { return d.String() }

func decPtr(d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	s := d.String()
	return &s
}

// shown rounds an amount in c for display, or nil.
func shown(d *decimal.Decimal, c money.Currency) *money.Money {
	if d == nil {
		return nil
	}
	m := money.New(money.Round(*d, c), c)
	return &m
}

func roundedMoney(m money.Money) money.Money { return m.Rounded() }

func keyOrNil(k string) *string {
	if k == "" {
		return nil
	}
	return &k
}

type rateJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	Rate string `json:"rate"`
}

type taskCountsJSON struct {
	Total     int64 `json:"total"`
	Billable  int64 `json:"billable"`
	NotBilled int64 `json:"not_billed"`
	Pending   int64 `json:"pending"`
}

type costJSON struct {
	USD          string       `json:"usd"`
	Converted    *money.Money `json:"converted"`
	BillableUSD  string       `json:"billable_usd"`
	NotBilledUSD string       `json:"not_billed_usd"`
	PendingUSD   string       `json:"pending_usd"`
	// NotBilledShare is the share (0–1) of the cost spent on tasks that did not bill.
	NotBilledShare        *string `json:"not_billed_share"`
	PerBillableOutcomeUSD *string `json:"per_billable_outcome_usd"`
	UnpricedUsageEvents   int64   `json:"unpriced_usage_events"`
	BillableOutcomes      string  `json:"billable_outcomes"`
}

type marginLineJSON struct {
	OutcomeType   *string        `json:"outcome_type,omitempty"`
	Model         *string        `json:"model,omitempty"`
	Tasks         taskCountsJSON `json:"tasks"`
	Revenue       money.Money    `json:"revenue"`
	Cost          costJSON       `json:"cost"`
	GrossMargin   *money.Money   `json:"gross_margin"`
	MarginPercent *string        `json:"margin_percent"`
}

func renderMarginLine(l billing.MarginLine, cur money.Currency) marginLineJSON {
	return marginLineJSON{
		Tasks:   taskCountsJSON{Total: l.Tasks, Billable: l.BillableTasks, NotBilled: l.NotBilledTasks, Pending: l.PendingTasks},
		Revenue: roundedMoney(money.New(l.Revenue, cur)),
		Cost: costJSON{USD: usdString(l.CostUSD), Converted: shown(l.Cost, cur), BillableUSD: usdString(l.BillableCostUSD),
			NotBilledUSD: usdString(l.NotBilledCostUSD), PendingUSD: usdString(l.PendingCostUSD),
			NotBilledShare: decPtr(l.NotBilledCostShare()), PerBillableOutcomeUSD: decPtr(l.CostPerBillableOutcome()),
			UnpricedUsageEvents: l.Unpriced, BillableOutcomes: l.BillableOutcomes().String()},
		GrossMargin:   shown(l.GrossMargin, cur),
		MarginPercent: decPtr(l.MarginPercent),
	}
}

type revenueJSON struct {
	Amount          money.Money   `json:"amount"`
	Paid            money.Money   `json:"paid"`
	CreditsApplied  money.Money   `json:"credits_applied"`
	Invoices        int64         `json:"invoices"`
	EndingAfter     int64         `json:"invoices_ending_after_range"`
	OtherCurrencies []money.Money `json:"other_currencies"`
}

func renderRevenue(r billing.Revenue, cur money.Currency) revenueJSON {
	out := revenueJSON{Amount: money.New(r.Amount, cur), Paid: money.New(r.Paid, cur), CreditsApplied: money.New(r.CreditsApplied, cur),
		Invoices: r.Invoices, EndingAfter: r.Straddling, OtherCurrencies: []money.Money{}}
	out.OtherCurrencies = append(out.OtherCurrencies, r.Other...)
	return out
}

type marginJSON struct {
	CustomerID         string           `json:"customer_id"`
	Currency           string           `json:"currency"`
	From               time.Time        `json:"from"`
	To                 time.Time        `json:"to"`
	ExchangeRate       *rateJSON        `json:"exchange_rate"`
	Revenue            revenueJSON      `json:"revenue"`
	Tasks              taskCountsJSON   `json:"tasks"`
	Cost               costJSON         `json:"cost"`
	GrossMargin        *money.Money     `json:"gross_margin"`
	MarginPercent      *string          `json:"margin_percent"`
	ByOutcomeType      []marginLineJSON `json:"by_outcome_type"`
	ByModel            []marginLineJSON `json:"by_model"`
	UnallocatedRevenue money.Money      `json:"unallocated_revenue"`
	Notes              []string         `json:"notes"`
}

func renderMargin(m billing.Margin) marginJSON {
	total := renderMarginLine(m.Total, m.Currency)
	out := marginJSON{CustomerID: m.CustomerID, Currency: string(m.Currency), From: m.From, To: m.To,
		Revenue: renderRevenue(m.Revenue, m.Currency), Tasks: total.Tasks, Cost: total.Cost, GrossMargin: total.GrossMargin,
		MarginPercent: total.MarginPercent, ByOutcomeType: []marginLineJSON{}, ByModel: []marginLineJSON{},
		UnallocatedRevenue: roundedMoney(money.New(m.UnallocatedRevenue, m.Currency)), Notes: []string{}}
	if m.Rate != nil {
		out.ExchangeRate = &rateJSON{From: "USD", To: string(m.Currency), Rate: m.Rate.String()}
	} else {
		out.Notes = append(out.Notes, fmt.Sprintf("No USD→%s exchange rate is in force before %s: cost is shown in USD only and no margin is computed. Costs are never converted 1:1; add a rate.",
			m.Currency, m.To.Format(time.RFC3339)))
	}
	for _, l := range m.ByOutcomeType {
		j := renderMarginLine(l, m.Currency)
		j.OutcomeType = keyOrNil(l.Key)
		out.ByOutcomeType = append(out.ByOutcomeType, j)
	}
	for _, l := range m.ByModel {
		j := renderMarginLine(l, m.Currency)
		j.Model = keyOrNil(l.Key)
		out.ByModel = append(out.ByModel, j)
	}
	out.Notes = append(out.Notes, economicsNotes(m.Total.Unpriced, m.Revenue)...)
	return out
}

func economicsNotes(unpriced int64, r billing.Revenue) []string {
	var notes []string
	if unpriced > 0 {
		notes = append(notes, fmt.Sprintf("%d usage events have no model price covering their time yet: their cost is not in these figures until a price is added.", unpriced))
	}
	if r.Straddling > 0 {
		notes = append(notes, fmt.Sprintf("%d of the invoices counted start in the range but end after it; an invoice counts in full in the range its period starts in.", r.Straddling))
	}
	if len(r.Other) > 0 {
		notes = append(notes, "Some invoices are in another currency than the customer's current one: shown under revenue.other_currencies, left out of the margin.")
	}
	return notes
}

// viewerMayRead holds a viewer key to its own customer: any other customer — existing or not —
// is forbidden with the same answer, so that the key learns nothing about it. A finance key reads
// every customer.
func viewerMayRead(c *gin.Context, customerID string) error {
	if bound := boundCustomer(c); bound != "" && bound != customerID {
		return billing.Errorf(billing.EFORBIDDEN, "this key reads only its own customer's labor-equivalent view")
	}
	return nil
}

func (s *Server) getMargin() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, err := dateRange(c)
		if err != nil {
			renderError(c, err)
			return
		}
		m, err := s.cfg.Economics.Margin(c.Request.Context(), c.Param("customer_id"), r)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderMargin(m))
	}
}

type customerMarginJSON struct {
	CustomerID    string       `json:"customer_id"`
	Currency      string       `json:"currency"`
	From          time.Time    `json:"from"`
	To            time.Time    `json:"to"`
	ExchangeRate  *string      `json:"exchange_rate"` // units of currency per USD
	Revenue       money.Money  `json:"revenue"`
	Invoices      int64        `json:"invoices"`
	Tasks         int64        `json:"tasks"`
	Cost          costJSON     `json:"cost"`
	GrossMargin   *money.Money `json:"gross_margin"`
	MarginPercent *string      `json:"margin_percent"`
}

type vendorMarginJSON struct {
	From                 string               `json:"from"`
	To                   string               `json:"to"`
	RevenueUSD           string               `json:"revenue_usd"`
	CostUSD              string               `json:"cost_usd"`
	GrossMarginUSD       string               `json:"gross_margin_usd"`
	MarginPercent        *string              `json:"margin_percent"`
	Tasks                taskCountsJSON       `json:"tasks"`
	Cost                 costJSON             `json:"cost"`
	UnconvertedCustomers []string             `json:"unconverted_customers"`
	Customers            []customerMarginJSON `json:"customers"`
	Notes                []string             `json:"notes"`
}

func renderVendorMargin(v billing.VendorMargin) vendorMarginJSON {
	tot := renderMarginLine(billing.MarginLine{Tally: v.Tally}, money.USD)
	out := vendorMarginJSON{From: v.Range.From.String(), To: v.Range.To.String(),
		RevenueUSD: money.Round(v.RevenueUSD, money.USD).StringFixed(2), CostUSD: usdString(v.CostUSD),
		GrossMarginUSD: money.Round(v.GrossMarginUSD, money.USD).StringFixed(2), MarginPercent: decPtr(v.MarginPercent),
		Tasks: tot.Tasks, Cost: tot.Cost, UnconvertedCustomers: append([]string{}, v.Unconverted...),
		Customers: make([]customerMarginJSON, 0, len(v.Customers)), Notes: []string{}}
	if len(v.Unconverted) > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d customers are billed in a currency with no USD exchange rate: their cost is in cost_usd, their revenue and margin are not in the USD totals.", len(v.Unconverted)))
	}
	if v.Tally.Unpriced > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d usage events have no model price covering their time yet: their cost is not in these figures until a price is added.", v.Tally.Unpriced))
	}
	for _, cm := range v.Customers {
		l := renderMarginLine(cm.MarginLine, cm.Currency)
		out.Customers = append(out.Customers, customerMarginJSON{CustomerID: cm.CustomerID, Currency: string(cm.Currency),
			From: cm.From, To: cm.To, ExchangeRate: decPtr(cm.Rate), Revenue: l.Revenue, Invoices: cm.Revenue.Invoices,
			Tasks: cm.Tasks, Cost: l.Cost, GrossMargin: l.GrossMargin, MarginPercent: l.MarginPercent})
	}
	return out
}

func (s *Server) getVendorMargin() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, err := dateRange(c)
		if err != nil {
			renderError(c, err)
			return
		}
		v, err := s.cfg.Economics.VendorMargin(c.Request.Context(), r)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderVendorMargin(v))
	}
}

type laborBaselineJSON struct {
	HumanMinutes string      `json:"human_minutes"`
	HourlyRate   money.Money `json:"hourly_rate"`
	TaskCost     money.Money `json:"task_cost"`
	Source       string      `json:"source"` // customer_override or outcome_type
}

type laborLineJSON struct {
	OutcomeType        *string            `json:"outcome_type"`
	Succeeded          int64              `json:"succeeded"`
	Partial            int64              `json:"partial"`
	Outcomes           string             `json:"outcomes"`
	Hours              string             `json:"hours"`
	Baseline           *laborBaselineJSON `json:"baseline"`
	LaborCost          *money.Money       `json:"labor_cost"`
	ConvertedLaborCost *money.Money       `json:"labor_cost_converted"`
}

type laborPeriodJSON struct {
	From         time.Time       `json:"from"`
	To           time.Time       `json:"to"`
	Succeeded    int64           `json:"succeeded"`
	Partial      int64           `json:"partial"`
	Outcomes     string          `json:"outcomes"`
	Hours        string          `json:"hours"`
	LaborCost    *money.Money    `json:"labor_cost"`
	MissingRates []string        `json:"missing_rates"`
	Paid         money.Money     `json:"paid"`
	Invoices     int64           `json:"invoices"`
	Savings      *money.Money    `json:"savings"`
	ByOutcome    []laborLineJSON `json:"by_outcome_type,omitempty"`
}

type laborJSON struct {
	CustomerID    string `json:"customer_id"`
	Currency      string `json:"currency"`
	PartialCredit string `json:"partial_credit"`
	laborPeriodJSON
	Trend []laborPeriodJSON `json:"trend"`
}

func renderLaborPeriod(p billing.LaborPeriod, lines bool) laborPeriodJSON {
	out := laborPeriodJSON{From: p.From, To: p.To, Succeeded: p.Succeeded, Partial: p.Partial, Outcomes: p.Outcomes.String(),
		Hours: p.Hours.StringFixed(2), LaborCost: p.LaborCost, MissingRates: []string{}, Paid: p.Paid, Invoices: p.Invoices,
		Savings: p.Savings}
	for _, c := range p.MissingRates {
		out.MissingRates = append(out.MissingRates, string(c))
	}
	if !lines {
		return out
	}
	out.ByOutcome = []laborLineJSON{}
	for _, l := range p.Lines {
		j := laborLineJSON{OutcomeType: keyOrNil(l.OutcomeType), Succeeded: l.Succeeded, Partial: l.Partial,
			Outcomes: l.Outcomes.String(), Hours: l.Hours.StringFixed(2), LaborCost: l.LaborCost, ConvertedLaborCost: l.ConvertedLaborCost}
		if b := l.Basis; b != nil {
			src := "outcome_type"
			if b.Override {
				src = "customer_override"
			}
			j.Baseline = &laborBaselineJSON{HumanMinutes: b.Baseline.HumanMinutes.String(), HourlyRate: b.Baseline.HourlyRate().Rounded(),
				TaskCost: b.Baseline.TaskCost().Rounded(), Source: src}
		}
		out.ByOutcome = append(out.ByOutcome, j)
	}
	return out
}

func (s *Server) getLaborEquivalent() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("customer_id")
		if err := viewerMayRead(c, id); err != nil {
			renderError(c, err)
			return
		}
		r, err := dateRange(c)
		if err != nil {
			renderError(c, err)
			return
		}
		le, err := s.cfg.Economics.LaborEquivalent(c.Request.Context(), id, r)
		if err != nil {
			renderError(c, err)
			return
		}
		out := laborJSON{CustomerID: le.CustomerID, Currency: string(le.Currency), PartialCredit: billing.PartialWeight.String(),
			laborPeriodJSON: renderLaborPeriod(le.LaborPeriod, true), Trend: []laborPeriodJSON{}}
		for _, p := range le.Trend {
			out.Trend = append(out.Trend, renderLaborPeriod(p, false))
		}
		c.JSON(http.StatusOK, out)
	}
}

type modelStatsJSON struct {
	OutcomeType            *string `json:"outcome_type"`
	Model                  *string `json:"model"`
	Tasks                  int64   `json:"tasks"`
	Succeeded              int64   `json:"succeeded"`
	Partial                int64   `json:"partial"`
	Failed                 int64   `json:"failed"`
	Escalated              int64   `json:"escalated"`
	BillableOutcomes       string  `json:"billable_outcomes"`
	SuccessRate            *string `json:"success_rate"`
	AverageQuality         *string `json:"average_quality"`
	CostUSD                string  `json:"cost_usd"`
	CostPerTaskUSD         *string `json:"average_cost_per_task_usd"`
	CostPerBillableOutcome *string `json:"average_cost_per_billable_outcome_usd"`
	UnpricedUsageEvents    int64   `json:"unpriced_usage_events"`
	ClearsBar              bool    `json:"clears_bar"`
	NotBilledShare         *string `json:"not_billed_share"`
}

type recommendationJSON struct {
	OutcomeType            *string `json:"outcome_type"`
	Model                  *string `json:"model"`
	CostPerBillableOutcome *string `json:"cost_per_billable_outcome_usd"`
	SavingsUSD             string  `json:"savings_usd"`
}

type modelEconomicsJSON struct {
	From            string               `json:"from"`
	To              string               `json:"to"`
	OutcomeType     *string              `json:"outcome_type"`
	MinSuccessRate  string               `json:"min_success_rate"`
	MinQuality      string               `json:"min_quality"`
	PartialCredit   string               `json:"partial_credit"`
	Models          []modelStatsJSON     `json:"models"`
	Recommendations []recommendationJSON `json:"recommendations"`
}

func (s *Server) getModelEconomics() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, err := dateRange(c)
		if err != nil {
			renderError(c, err)
			return
		}
		bar := billing.DefaultModelBar()
		for _, p := range []struct {
			name string
			dst  *decimal.Decimal
		}{{"min_success_rate", &bar.MinSuccessRate}, {"min_quality", &bar.MinQuality}} {
			if v := c.Query(p.name); v != "" {
				d, err := decimalField(p.name, v)
				if err != nil {
					renderError(c, err)
					return
				}
				*p.dst = d
			}
		}
		if err := bar.Validate(); err != nil {
			renderError(c, err)
			return
		}
		ot := c.Query("outcome_type")
		if ot != "" && !billing.ValidOutcomeTypeKey(ot) {
			renderError(c, billing.Invalid("outcome_type", "must be a dotted lower-case key such as support.ticket_resolved"))
			return
		}
		me, err := s.cfg.Economics.ModelEconomics(c.Request.Context(), ot, r, bar)
		if err != nil {
			renderError(c, err)
			return
		}
		out := modelEconomicsJSON{From: r.From.String(), To: r.To.String(), OutcomeType: keyOrNil(ot),
			MinSuccessRate: bar.MinSuccessRate.String(), MinQuality: bar.MinQuality.String(), PartialCredit: billing.PartialWeight.String(),
			Models: []modelStatsJSON{}, Recommendations: []recommendationJSON{}}
		for _, m := range me.Models {
			out.Models = append(out.Models, modelStatsJSON{OutcomeType: keyOrNil(m.OutcomeType), Model: keyOrNil(m.Model), Tasks: m.Tasks,
				Succeeded: m.Succeeded, Partial: m.Partial, Failed: m.Failed, Escalated: m.Escalated,
				BillableOutcomes: m.BillableOutcomes().String(), SuccessRate: decPtr(m.SuccessRate()),
				AverageQuality: decPtr(m.AverageQuality()), CostUSD: usdString(m.CostUSD), CostPerTaskUSD: decPtr(m.CostPerTask()),
				CostPerBillableOutcome: decPtr(m.CostPerBillableOutcome()), UnpricedUsageEvents: m.Unpriced, ClearsBar: m.ClearsBar,
				NotBilledShare: decPtr(m.NotBilledCostShare())})
		}
		for _, rec := range me.Recommendations {
			j := recommendationJSON{OutcomeType: keyOrNil(rec.OutcomeType), Model: keyOrNil(rec.Model), SavingsUSD: usdString(rec.Savings)}
			if rec.Model != "" {
				cpo := rec.CostPerBillableOutcome
				j.CostPerBillableOutcome = decPtr(&cpo)
			}
			out.Recommendations = append(out.Recommendations, j)
		}
		c.JSON(http.StatusOK, out)
	}
}

// OpenAPI pieces for the economics schemas (api/openapi.go): figures that are null when they
// cannot be computed (no rate, nothing to divide by).
var nullableDec = map[string]any{"type": "string", "nullable": true, "pattern": decStr["pattern"], "description": "exact decimal as a string; null when it cannot be computed"}

func nullableRef(name string) map[string]any {
	return map[string]any{"allOf": []any{ref(name)}, "nullable": true}
}
