package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// SimulationStarter validates, stores and starts a what-if simulation.
type SimulationStarter interface {
	StartSimulation(ctx context.Context, req billing.SimulationRequest) (billing.Simulation, error)
}

// SimulationStore reads simulations with their results.
type SimulationStore interface {
	Simulation(ctx context.Context, id string) (billing.Simulation, error)
	// Simulations lists simulations newest first, without their results.
	Simulations(ctx context.Context, f billing.SimulationFilter, p billing.Page) ([]billing.Simulation, string, error)
}

func simulationRoutes() []route {
	finance := []string{billing.ScopeFinance}
	return []route{
		{"POST", "/v1/simulations", finance, "What-if repricing: rate customers' past billing periods (from–to months) with another plan, terms, prices, labor baselines or model mix, beside what the plan in force gives; never writes invoices", "SimulationInput", "Simulation", 202, (*Server).postSimulation},
		{"GET", "/v1/simulations", finance, "List simulations, newest first, with their status and progress but not their results (filters: status, customer_id)", "", "SimulationList", 200, (*Server).listSimulations},
		{"GET", "/v1/simulations/:id", finance, "A simulation's status, progress and results per customer and period, with totals per currency", "", "Simulation", 200, (*Server).getSimulation},
	}
}

// simulationInput is billing.SimulationRequest, decoded as strictly as plans are: amounts are
// decimal strings.
type simulationInput billing.SimulationRequest

func (in *simulationInput) UnmarshalJSON(b []byte) error {
	type plain simulationInput
	return strictDecode(b, (*plain)(in), "changes")
}

func (s *Server) postSimulation() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in simulationInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		sim, err := s.cfg.SimulationRunner.StartSimulation(c.Request.Context(), billing.SimulationRequest(in))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusAccepted, renderSimulation(sim))
	}
}

func (s *Server) getSimulation() gin.HandlerFunc {
	return func(c *gin.Context) {
		sim, err := s.cfg.Simulations.Simulation(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderSimulation(sim))
	}
}

func (s *Server) listSimulations() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		f := billing.SimulationFilter{Status: billing.SimulationStatus(c.Query("status")), CustomerID: c.Query("customer_id")}
		items, next, err := s.cfg.Simulations.Simulations(c.Request.Context(), f, p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderSimulationSummary))
	}
}

// simulationSummaryJSON is a simulation in a list: what it asked for and how far it got.
type simulationSummaryJSON struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Progress  map[string]int  `json:"progress"`
	Request   json.RawMessage `json:"request"`
	Error     string          `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func renderSimulationSummary(s billing.Simulation) simulationSummaryJSON {
	req, _ := json.Marshal(s.Request) // a request read back from JSON encodes again
	return simulationSummaryJSON{ID: s.ID, Status: string(s.Status), Request: req, Error: s.Error, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Progress: map[string]int{"periods_done": s.PeriodsDone, "periods_total": s.PeriodsTotal}}
}

type simulationSideJSON struct {
	Plan          *planRefJSON `json:"plan"`
	Revenue       money.Money  `json:"revenue"`
	Paid          money.Money  `json:"paid"`
	CostUSD       string       `json:"cost_usd"`
	Cost          *money.Money `json:"cost"`
	Margin        *money.Money `json:"margin"`
	MarginPercent *string      `json:"margin_percent"`
	LaborCost     *money.Money `json:"labor_cost"`
	Savings       *money.Money `json:"savings"`
	Error         string       `json:"error,omitempty"`
}

type planRefJSON struct {
	PlanID  string `json:"plan_id"`
	Version int    `json:"version"`
}

type simulationDeltaJSON struct {
	Revenue money.Money  `json:"revenue"`
	CostUSD string       `json:"cost_usd"`
	Margin  *money.Money `json:"margin"`
	Savings *money.Money `json:"savings"`
}

type simulationPeriodJSON struct {
	CustomerID       string              `json:"customer_id"`
	Currency         money.Currency      `json:"currency"`
	PeriodStart      time.Time           `json:"period_start"`
	PeriodEnd        time.Time           `json:"period_end"`
	Tasks            int64               `json:"tasks"`
	BillableOutcomes string              `json:"billable_outcomes"`
	UnpricedUsage    int64               `json:"unpriced_usage_events"`
	ExchangeRate     *string             `json:"exchange_rate"`
	Actual           simulationSideJSON  `json:"actual"`
	Simulated        simulationSideJSON  `json:"simulated"`
	Delta            simulationDeltaJSON `json:"delta"`
}

type simulationTotalJSON struct {
	Currency  money.Currency      `json:"currency"`
	Periods   int                 `json:"periods"`
	Actual    simulationSideJSON  `json:"actual"`
	Simulated simulationSideJSON  `json:"simulated"`
	Delta     simulationDeltaJSON `json:"delta"`
}

type simulationJSON struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Progress map[string]int  `json:"progress"`
	Request  json.RawMessage `json:"request"`
	// ModelCosts are the observed average costs per task the model mix re-costs with.
	ModelCosts map[string]observedCostJSON `json:"model_costs"`
	Error      string                      `json:"error,omitempty"`
	Results    []simulationPeriodJSON      `json:"results"`
	Totals     []simulationTotalJSON       `json:"totals"`
	CreatedAt  time.Time                   `json:"created_at"`
	UpdatedAt  time.Time                   `json:"updated_at"`
}

type observedCostJSON struct {
	Model          string `json:"model"`
	Tasks          int64  `json:"tasks"`
	CostUSD        string `json:"cost_usd"`
	PerTaskCostUSD string `json:"per_task_cost_usd"`
}

func renderSide(s billing.SimulationSide, c money.Currency) simulationSideJSON {
	out := simulationSideJSON{Revenue: money.New(s.Revenue, c), Paid: money.New(s.Paid, c), CostUSD: usdString(s.CostUSD),
		Cost: shown(s.Cost, c), Margin: shown(s.Margin, c), MarginPercent: decPtr(s.MarginPercent), LaborCost: shown(s.LaborCost, c),
		Savings: shown(s.Savings, c), Error: s.Error}
	if s.PlanID != "" || s.PlanVersion != 0 {
		out.Plan = &planRefJSON{PlanID: s.PlanID, Version: s.PlanVersion}
	}
	return out
}

func renderDelta(d billing.SimulationDelta, c money.Currency) simulationDeltaJSON {
	return simulationDeltaJSON{Revenue: money.New(d.Revenue, c), CostUSD: usdString(d.CostUSD), Margin: shown(d.Margin, c), Savings: shown(d.Savings, c)}
}

func renderSimulation(s billing.Simulation) simulationJSON {
	req, _ := json.Marshal(s.Request) // a request read back from JSON encodes again
	out := simulationJSON{ID: s.ID, Status: string(s.Status), Request: req, Error: s.Error,
		Progress:   map[string]int{"periods_done": s.PeriodsDone, "periods_total": s.PeriodsTotal},
		ModelCosts: map[string]observedCostJSON{}, Results: []simulationPeriodJSON{}, Totals: []simulationTotalJSON{},
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	for ot, mc := range s.ModelCosts {
		out.ModelCosts[ot] = observedCostJSON{Model: mc.Model, Tasks: mc.Tasks, CostUSD: usdString(mc.CostUSD), PerTaskCostUSD: usdString(mc.PerTask())}
	}
	for _, r := range s.Results {
		var rate *string
		if r.Rate != nil {
			rate = decPtr(r.Rate)
		}
		out.Results = append(out.Results, simulationPeriodJSON{CustomerID: r.CustomerID, Currency: r.Currency, PeriodStart: r.PeriodStart,
			PeriodEnd: r.PeriodEnd, Tasks: r.Tasks, BillableOutcomes: r.Billable.String(), UnpricedUsage: r.Unpriced, ExchangeRate: rate,
			Actual: renderSide(r.Actual, r.Currency), Simulated: renderSide(r.Simulated, r.Currency), Delta: renderDelta(r.Delta, r.Currency)})
	}
	for _, t := range billing.SimulationTotals(s.Results) {
		out.Totals = append(out.Totals, simulationTotalJSON{Currency: t.Currency, Periods: t.Periods, Actual: renderSide(t.Actual, t.Currency),
			Simulated: renderSide(t.Simulated, t.Currency), Delta: renderDelta(t.Delta, t.Currency)})
	}
	return out
}
