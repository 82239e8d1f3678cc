package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// What-if simulations (issue 9). CreateSimulation validates a request and stores it; the
// simulation's workflow then asks for its targets (SimulationTargets), rates each customer's
// period twice in a read-only snapshot and stores the comparison (SimulatePeriod), and records how
// it ended (FinishSimulation). Nothing here writes invoices, draws credits or changes tasks.

// simulationTasksSQL sums a customer's tasks of a period per outcome type: all tasks whose
// status_at (or creation, before a first state) falls in it, as the economics views count them,
// the billable outcomes among them and their whole cost.
const simulationTasksSQL = `
SELECT COALESCE(t.outcome_type, ''), count(*),
	count(*) FILTER (WHERE t.status = 'billable' AND t.outcome = 'succeeded'),
	count(*) FILTER (WHERE t.status = 'billable' AND t.outcome = 'partial'),
	COALESCE(sum(u.cost), 0), COALESCE(sum(u.unpriced), 0)::bigint
FROM tasks t
CROSS JOIN LATERAL (SELECT sum(e.cost_usd) AS cost, count(*) FILTER (WHERE e.cost_usd IS NULL) AS unpriced
	FROM events e WHERE e.task_id = t.task_id AND e.type = 'task.usage') u
WHERE t.customer_id = $1 AND COALESCE(t.status_at, t.created_at) >= $2 AND COALESCE(t.status_at, t.created_at) < $3
GROUP BY 1 ORDER BY 1`

// modelCostsSQL is the observed cost of the tasks of $1's outcome types in [$2, $3), across all
// customers, per outcome type and the task's model (economics_task_rows: the model with the most
// cost in it). It reads the tasks themselves rather than the rollups, so that it is exact however
// far the folder is behind.
const modelCostsSQL = `
SELECT r.outcome_type, r.model, count(*), COALESCE(sum(r.cost_usd), 0)
FROM economics_task_rows(ARRAY(SELECT t.task_id FROM tasks t WHERE t.outcome_type = ANY($1)
	AND COALESCE(t.status_at, t.created_at) >= $2 AND COALESCE(t.status_at, t.created_at) < $3)) r
GROUP BY 1, 2`

// CreateSimulation validates req against the customers and stores it as a queued simulation. A
// request that is not valid stores nothing.
func (db *DB) CreateSimulation(ctx context.Context, req billing.SimulationRequest) (sim billing.Simulation, err error) {
	if err := req.Validate(); err != nil {
		return sim, err
	}
	err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		targets, err := simulationTargets(ctx, tx, req, true)
		if err != nil {
			return err
		}
		costs := map[string]billing.ObservedModelCost{}
		if len(req.Changes.ModelMix) > 0 {
			if costs, err = observedModelCosts(ctx, tx, req, targets); err != nil {
				return err
			}
		}
		now := db.Now()
		id, err := documentID("sim_", now)
		if err != nil {
			return err
		}
		reqJSON, err := json.Marshal(req)
		if err != nil {
			return err
		}
		costsJSON, err := json.Marshal(costs)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO simulations (id, request, model_costs, status, periods_total, created_at, updated_at)
			VALUES ($1, $2, $3, 'queued', $4, $5, $5)`, id, reqJSON, costsJSON, len(targets), now); err != nil {
			return err
		}
		sim = billing.Simulation{ID: id, Request: req, Status: billing.SimulationQueued, PeriodsTotal: len(targets), ModelCosts: costs,
			CreatedAt: now, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return billing.Simulation{}, fmt.Errorf("create simulation: %w", err)
	}
	return sim, nil
}

// simulationTargets lists the customers' periods req covers, customers in id order. With check it
// also holds the changes against each customer (unknown customers, plan currency).
func simulationTargets(ctx context.Context, tx pgx.Tx, req billing.SimulationRequest, check bool) ([]billing.SimulationTarget, error) {
	first, n, err := req.Months()
	if err != nil {
		return nil, err
	}
	var customers []billing.Customer
	if len(req.CustomerIDs) == 0 {
		rows, err := tx.Query(ctx, `SELECT `+customerColumns+` FROM customers ORDER BY id`)
		if err != nil {
			return nil, err
		}
		if customers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Customer, error) { return scanCustomer(r) }); err != nil {
			return nil, err
		}
		if len(customers) == 0 && check {
			return nil, billing.Invalid("customer_ids", "there are no customers to simulate")
		}
	}
	for i, id := range req.CustomerIDs {
		c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
		if err == pgx.ErrNoRows {
			return nil, billing.Invalid(fmt.Sprintf("customer_ids[%d]", i), "unknown customer %q", id)
		}
		if err != nil {
			return nil, err
		}
		customers = append(customers, c)
	}
	var out []billing.SimulationTarget
	for _, c := range customers {
		if check {
			if err := req.ValidateFor(c.Currency); err != nil {
				return nil, err
			}
		}
		loc, err := billing.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("customer %s timezone %q: %w", c.ID, c.Timezone, err)
		}
		for _, p := range billing.SimulationPeriods(first, n, loc, c.AnchorDay) {
			out = append(out, billing.SimulationTarget{CustomerID: c.ID, Period: p})
		}
	}
	return out, nil
}

// observedModelCosts finds, for each outcome type of the model mix, what tasks served by the
// model named cost on average over the whole range of the targets.
func observedModelCosts(ctx context.Context, tx pgx.Tx, req billing.SimulationRequest, targets []billing.SimulationTarget) (map[string]billing.ObservedModelCost, error) {
	var from, to time.Time
	for i, t := range targets {
		if i == 0 || t.Period.Start.Before(from) {
			from = t.Period.Start
		}
		if i == 0 || t.Period.End.After(to) {
			to = t.Period.End
		}
	}
	types := make([]string, 0, len(req.Changes.ModelMix))
	for ot := range req.Changes.ModelMix {
		types = append(types, ot)
	}
	rows, err := tx.Query(ctx, modelCostsSQL, types, from, to)
	if err != nil {
		return nil, fmt.Errorf("model costs: %w", err)
	}
	defer rows.Close()
	out := map[string]billing.ObservedModelCost{}
	for rows.Next() {
		var ot string
		var mc billing.ObservedModelCost
		if err := rows.Scan(&ot, &mc.Model, &mc.Tasks, &mc.CostUSD); err != nil {
			return nil, fmt.Errorf("model costs: %w", err)
		}
		if req.Changes.ModelMix[ot] == mc.Model {
			out[ot] = mc
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model costs: %w", err)
	}
	for ot, model := range req.Changes.ModelMix {
		if _, ok := out[ot]; !ok {
			return nil, billing.Invalid("changes.model_mix."+ot, "no task of %s served by %s between %s and %s to take a cost from",
				ot, model, from.Format(time.DateOnly), to.Format(time.DateOnly))
		}
	}
	return out, nil
}

const simulationColumns = `id, request, model_costs, status, periods_total, periods_done, error, created_at, updated_at`

func scanSimulation(row pgx.Row) (billing.Simulation, error) {
	var s billing.Simulation
	var req, costs []byte
	var status string
	if err := row.Scan(&s.ID, &req, &costs, &status, &s.PeriodsTotal, &s.PeriodsDone, &s.Error, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return s, err
	}
	s.Status = billing.SimulationStatus(status)
	if err := json.Unmarshal(req, &s.Request); err != nil {
		return s, fmt.Errorf("simulation %s request: %w", s.ID, err)
	}
	if err := json.Unmarshal(costs, &s.ModelCosts); err != nil {
		return s, fmt.Errorf("simulation %s model costs: %w", s.ID, err)
	}
	return s, nil
}

// Simulation returns a simulation with the results stored so far, by customer and period.
func (db *DB) Simulation(ctx context.Context, id string) (s billing.Simulation, err error) {
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		if s, err = scanSimulation(tx.QueryRow(ctx, `SELECT `+simulationColumns+` FROM simulations WHERE id = $1`, id)); err != nil {
			return interpretError(err, "simulation", id)
		}
		rows, err := tx.Query(ctx, `SELECT result FROM simulation_results WHERE simulation_id = $1 ORDER BY customer_id, period_start`, id)
		if err != nil {
			return err
		}
		s.Results, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.SimulationPeriodResult, error) {
			var raw []byte
			var res billing.SimulationPeriodResult
			if err := r.Scan(&raw); err != nil {
				return res, err
			}
			return res, json.Unmarshal(raw, &res)
		})
		return err
	})
	return s, err
}

// simulationCustomersSQL lists a simulation's customers after $1 in id order, at most $4 (NULL:
// all): those its request names ($2), or with none named every customer that existed when it was
// created ($3), so that the list a long simulation pages through stays the same from its first
// page to its last.
const simulationCustomersSQL = `SELECT ` + customerColumns + ` FROM customers
	WHERE id > $1 AND (CASE WHEN cardinality($2::text[]) > 0 THEN id = ANY($2) ELSE created_at <= $3 END)
	ORDER BY id LIMIT $4`

// BeginSimulation marks a simulation running and returns how many periods it rates.
func (db *DB) BeginSimulation(ctx context.Context, id string) (int, error) {
	var total int
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		s, err := scanSimulation(tx.QueryRow(ctx, `SELECT `+simulationColumns+` FROM simulations WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return interpretError(err, "simulation", id)
		}
		_, months, err := s.Request.Months()
		if err != nil {
			return err
		}
		var customers int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+simulationCustomersSQL+`) c`, "", nonNil(s.Request.CustomerIDs),
			s.CreatedAt, nil).Scan(&customers); err != nil {
			return err
		}
		total = customers * months
		_, err = tx.Exec(ctx, `UPDATE simulations SET status = 'running', periods_total = $2, updated_at = $3
			WHERE id = $1 AND status IN ('queued', 'running')`, id, total, db.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("begin simulation %s: %w", id, err)
	}
	return total, nil
}

// SimulationTargets returns the next page of a simulation's customers' periods: every period of
// the customers after the cursor after ("" for the first page), about limit periods and at least
// one customer's. Next is the cursor of the following page, "" after the last.
func (db *DB) SimulationTargets(ctx context.Context, id, after string, limit int) (billing.SimulationPage, error) {
	var page billing.SimulationPage
	s, err := scanSimulation(db.Pool.QueryRow(ctx, `SELECT `+simulationColumns+` FROM simulations WHERE id = $1`, id))
	if err != nil {
		return page, interpretError(err, "simulation", id)
	}
	first, months, err := s.Request.Months()
	if err != nil {
		return page, err
	}
	n := max(1, limit/months)
	rows, err := db.Pool.Query(ctx, simulationCustomersSQL, after, nonNil(s.Request.CustomerIDs), s.CreatedAt, n)
	if err != nil {
		return page, fmt.Errorf("simulation %s customers: %w", id, err)
	}
	customers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Customer, error) { return scanCustomer(r) })
	if err != nil {
		return page, fmt.Errorf("simulation %s customers: %w", id, err)
	}
	page.Targets = []billing.SimulationTarget{}
	for _, c := range customers {
		loc, err := billing.LoadLocation(c.Timezone)
		if err != nil {
			return page, fmt.Errorf("customer %s timezone %q: %w", c.ID, c.Timezone, err)
		}
		for _, p := range billing.SimulationPeriods(first, months, loc, c.AnchorDay) {
			page.Targets = append(page.Targets, billing.SimulationTarget{CustomerID: c.ID, Period: p})
		}
	}
	if len(customers) == n {
		page.Next = customers[n-1].ID
	}
	return page, nil
}

// Simulations lists simulations matching f, newest first, without their results.
func (db *DB) Simulations(ctx context.Context, f billing.SimulationFilter, p billing.Page) ([]billing.Simulation, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	// Ids start with the creation time in milliseconds, so id order is creation order. A request
	// that names no customers covers them all, f.CustomerID included.
	return listPage(ctx, db, p, `SELECT `+simulationColumns+` FROM simulations
		WHERE ($1 = '' OR id < $1) AND ($3 = '' OR status = $3)
			AND ($4 = '' OR request->'customer_ids' ? $4
				OR COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(request->'customer_ids') = 'array' THEN request->'customer_ids' END), 0) = 0)
		ORDER BY id DESC LIMIT $2`,
		scanSimulation, func(s billing.Simulation) string { return s.ID }, string(f.Status), f.CustomerID)
}

// FinishSimulation records how a simulation ended.
func (db *DB) FinishSimulation(ctx context.Context, id string, status billing.SimulationStatus, errMsg string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE simulations SET status = $2, error = $3, updated_at = $4 WHERE id = $1`,
		id, string(status), errMsg, db.Now())
	if err != nil {
		return fmt.Errorf("finish simulation %s: %w", id, err)
	}
	return nil
}

// SimulatePeriod rates one customer's period with the plan in force and with the simulation's
// changes, in one read-only snapshot, stores the comparison and counts the period done. Running it
// again for the same period replaces its result and counts it once.
func (db *DB) SimulatePeriod(ctx context.Context, id string, t billing.SimulationTarget) (billing.SimulationPeriodResult, error) {
	s, err := scanSimulation(db.Pool.QueryRow(ctx, `SELECT `+simulationColumns+` FROM simulations WHERE id = $1`, id))
	if err != nil {
		return billing.SimulationPeriodResult{}, interpretError(err, "simulation", id)
	}
	var res billing.SimulationPeriodResult
	err = db.readOnly(ctx, func(tx pgx.Tx) error {
		res, err = simulatePeriod(ctx, tx, s, t)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("simulation %s, customer %s, period %s: %w", id, t.CustomerID, t.Period, err)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return res, err
	}
	err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		// Periods are rated several at a time. Without this lock two of them counted the results
		// each in its own snapshot, before the other's commit, and the last to commit wrote a
		// count one short; holding the simulation's row makes the second count after the first.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM simulations WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO simulation_results (simulation_id, customer_id, period_start, period_end, result)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (simulation_id, customer_id, period_start) DO UPDATE SET result = EXCLUDED.result`,
			id, t.CustomerID, t.Period.Start, t.Period.End, raw); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE simulations SET updated_at = $2,
			periods_done = (SELECT count(*) FROM simulation_results WHERE simulation_id = $1) WHERE id = $1`, id, db.Now())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("simulation %s: store result: %w", id, err)
	}
	return res, nil
}

func simulatePeriod(ctx context.Context, tx pgx.Tx, s billing.Simulation, t billing.SimulationTarget) (billing.SimulationPeriodResult, error) {
	from, to := t.Period.Start, t.Period.End
	var cur string
	if err := tx.QueryRow(ctx, `SELECT currency FROM customers WHERE id = $1`, t.CustomerID).Scan(&cur); err != nil {
		return billing.SimulationPeriodResult{}, interpretError(err, "customer", t.CustomerID)
	}
	res := billing.SimulationPeriodResult{CustomerID: t.CustomerID, Currency: money.Currency(cur), PeriodStart: from, PeriodEnd: to}

	// Rating errors a person must fix (no subscription yet, no exchange rate, a plan in another
	// currency) are reported on their side; anything else fails the activity, to be retried.
	rate := func(o *billing.RatingOverride) (billing.SimulationSide, error) {
		r, info, err := ratePeriodWith(ctx, tx, t.CustomerID, from, to, o)
		switch billing.ErrorCode(err) {
		case "":
		case billing.EINVALID, billing.ENOTFOUND:
			return billing.SimulationSide{Error: err.Error()}, nil
		default:
			return billing.SimulationSide{}, err
		}
		return billing.SimulationSide{PlanID: info.PlanID, PlanVersion: info.PlanVersion, Revenue: r.Subtotal, Paid: r.Total}, nil
	}
	actual, err := rate(nil)
	if err != nil {
		return res, err
	}
	override := s.Request.Changes.RatingOverride()
	simulated, err := rate(&override)
	if err != nil {
		return res, err
	}

	rows, err := tx.Query(ctx, simulationTasksSQL, t.CustomerID, from, to)
	if err != nil {
		return res, fmt.Errorf("tasks: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.SimulationGroup, error) {
		var g billing.SimulationGroup
		err := r.Scan(&g.OutcomeType, &g.Tasks, &g.Succeeded, &g.Partial, &g.CostUSD, &g.UnpricedUsageEvents)
		return g, err
	})
	if err != nil {
		return res, fmt.Errorf("tasks: %w", err)
	}
	for _, g := range groups {
		res.Tasks += g.Tasks
		res.Unpriced += g.UnpricedUsageEvents
		res.Billable = res.Billable.Add(billing.OutcomeUnits(g.Succeeded, g.Partial))
	}

	bases, err := allBaselines(ctx, tx, t.CustomerID)
	if err != nil {
		return res, err
	}
	simBases := make(map[string]billing.LaborBaseline, len(bases))
	for k, b := range bases {
		simBases[k] = b
	}
	for k, b := range override.Baselines {
		simBases[k] = b
	}
	need := map[string]bool{cur: true}
	for _, m := range []map[string]billing.LaborBaseline{bases, simBases} {
		for _, b := range m {
			need[string(b.AnnualCost.Currency)] = true
		}
	}
	rates, err := usdRates(ctx, tx, keys(need), to)
	if err != nil {
		return res, err
	}
	if r, ok := rates[money.Currency(cur)]; ok && money.Currency(cur) != money.USD {
		res.Rate = &r
	}
	side := func(rated billing.SimulationSide, b map[string]billing.LaborBaseline, mix map[string]billing.ObservedModelCost) billing.SimulationSide {
		out := billing.NewSimulationSide(billing.SimulationInputs{Currency: money.Currency(cur), Revenue: rated.Revenue, Paid: rated.Paid,
			Groups: groups, Baselines: b, ModelMix: mix, Rates: rates})
		out.PlanID, out.PlanVersion, out.Error = rated.PlanID, rated.PlanVersion, rated.Error
		return out
	}
	res.Actual = side(actual, bases, nil)
	res.Simulated = side(simulated, simBases, s.ModelCosts)
	res.Delta = billing.Delta(res.Actual, res.Simulated)
	return res, nil
}

// allBaselines returns the labor baseline of every outcome type for a customer, its overrides winning.
func allBaselines(ctx context.Context, tx pgx.Tx, customerID string) (map[string]billing.LaborBaseline, error) {
	rows, err := tx.Query(ctx, baselinesSQL, customerID)
	if err != nil {
		return nil, fmt.Errorf("baselines: %w", err)
	}
	defer rows.Close()
	out := map[string]billing.LaborBaseline{}
	for rows.Next() {
		var key, c string
		var b billing.LaborBaseline
		var override bool
		if err := rows.Scan(&key, &b.HumanMinutes, &b.AnnualCost.Amount, &c, &b.ProductiveHours, &override); err != nil {
			return nil, fmt.Errorf("baselines: %w", err)
		}
		b.AnnualCost.Currency = money.Currency(c)
		out[key] = b
	}
	return out, rows.Err()
}
