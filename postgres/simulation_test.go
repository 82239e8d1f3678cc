package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// simUsage writes a usage event of a task served by model.
func simUsage(t *testing.T, db *postgres.DB, id, customer, task, model, costUSD string, at time.Time) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body, model, cost_usd)
		VALUES ($1, '\x00', 'task.usage', $2, $3, $4, $4, '{}', $5, $6)`, id, customer, task, at, model, dec(costUSD))
	if err != nil {
		t.Fatal(err)
	}
}

// allTargets begins a simulation and pages through its periods, limit at a time.
func allTargets(t *testing.T, db *postgres.DB, id string, limit int) []billing.SimulationTarget {
	t.Helper()
	ctx := context.Background()
	if _, err := db.BeginSimulation(ctx, id); err != nil {
		t.Fatal(err)
	}
	var out []billing.SimulationTarget
	after := ""
	for range 1000 {
		page, err := db.SimulationTargets(ctx, id, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Targets...)
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
	t.Fatal("the pages do not end")
	return nil
}

func simRequest(t *testing.T, body string) billing.SimulationRequest {
	t.Helper()
	var r billing.SimulationRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSimulation seeds two months of tasks and checks actual against simulated revenue, cost,
// margin and savings worked out by hand — and that nothing was invoiced.
func TestSimulation(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	// 12 min at 94,000 / 1,880 h = 50/h → 10.00 a task.
	mustOutcomeType(t, db, "support.ticket_resolved", "12", "94000")
	if _, _, err := db.CreatePlan(ctx, plan(t, "support", `{"currency": "USD", "terms": {"platform_fee": "49.00"}, "prices": [
		{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: jan1}); err != nil {
		t.Fatal(err)
	}
	n := 0
	task := func(outcome, status, model, cost string, at time.Time) {
		n++
		id := fmt.Sprintf("t%d", n)
		seedTask(t, db, id, "acme", "support.ticket_resolved", outcome, "normal", status, at)
		simUsage(t, db, id+"-u", "acme", id, model, cost, at.Add(-time.Minute))
	}
	// January: 10 succeeded and 2 partial billable, 1 failed; model-a at 0.05 a task.
	for i := range 10 {
		task("succeeded", "billable", "model-a", "0.05", jan1.Add(time.Duration(i+1)*time.Hour))
	}
	task("partial", "billable", "model-a", "0.05", jan1.Add(20*time.Hour))
	task("partial", "billable", "model-a", "0.05", jan1.Add(21*time.Hour))
	task("failed", "not_billable", "model-a", "0.05", jan1.Add(22*time.Hour))
	// February: 4 succeeded on model-b at 0.01 a task.
	for i := range 4 {
		task("succeeded", "billable", "model-b", "0.01", feb1.Add(time.Duration(i+1)*time.Hour))
	}

	req := simRequest(t, `{"customer_ids": ["acme"], "from": "2026-01", "to": "2026-02", "changes": {
		"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "1.50"}],
		"labor_baselines": {"support.ticket_resolved": {"human_minutes": "30", "annual_cost": {"amount": "94000", "currency": "USD"}}},
		"model_mix": {"support.ticket_resolved": "model-b"}}}`)
	sim, err := db.CreateSimulation(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if sim.PeriodsTotal != 2 || sim.Status != billing.SimulationQueued {
		t.Fatalf("created %+v", sim)
	}
	// model-b served 4 support tasks for 0.04 in the range: 0.01 a task.
	if mc := sim.ModelCosts["support.ticket_resolved"]; mc.Tasks != 4 || !mc.PerTask().Equal(dec("0.01")) {
		t.Fatalf("model cost %+v", mc)
	}
	targets := allTargets(t, db, sim.ID, 1)
	if len(targets) != 2 || !targets[0].Period.Start.Equal(jan1) || !targets[1].Period.Start.Equal(feb1) {
		t.Fatalf("targets %+v", targets)
	}
	for _, tg := range targets {
		if _, err := db.SimulatePeriod(ctx, sim.ID, tg); err != nil {
			t.Fatal(err)
		}
	}
	// Again: the same result, counted once.
	if _, err := db.SimulatePeriod(ctx, sim.ID, targets[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSimulation(ctx, sim.ID, billing.SimulationCompleted, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.Simulation(ctx, sim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != billing.SimulationCompleted || got.PeriodsDone != 2 || len(got.Results) != 2 {
		t.Fatalf("simulation %s done %d/%d, %d results", got.Status, got.PeriodsDone, got.PeriodsTotal, len(got.Results))
	}
	str := func(d interface{ String() string }) string { return d.String() }
	type side struct{ revenue, cost, margin, labor, savings string }
	check := func(name string, s billing.SimulationSide, w side) {
		t.Helper()
		if s.Error != "" {
			t.Fatalf("%s: %s", name, s.Error)
		}
		g := side{str(s.Revenue), str(s.CostUSD), str(*s.Margin), str(*s.LaborCost), str(*s.Savings)}
		for _, p := range [][2]string{{g.revenue, w.revenue}, {g.cost, w.cost}, {g.margin, w.margin}, {g.labor, w.labor}, {g.savings, w.savings}} {
			if !dec(p[0]).Equal(dec(p[1])) {
				t.Errorf("%s: got %+v, want %+v", name, g, w)
				return
			}
		}
	}
	jan, feb := got.Results[0], got.Results[1]
	if jan.Tasks != 13 || !jan.Billable.Equal(dec("11")) {
		t.Errorf("january: %d tasks, %s billable", jan.Tasks, jan.Billable)
	}
	// Actual: 11 units × 0.99 + 49 = 59.89; cost 13 × 0.05 = 0.65; labor 11 × 10 = 110.
	check("january actual", jan.Actual, side{"59.89", "0.65", "59.24", "110", "50.11"})
	// Simulated: 11 × 1.50 + 49 = 65.50; 13 tasks at model-b's 0.01 = 0.13; 30 min → 25.00 a task.
	check("january simulated", jan.Simulated, side{"65.50", "0.13", "65.37", "275", "209.50"})
	check("february actual", feb.Actual, side{"52.96", "0.04", "52.92", "40", "-12.96"})
	check("february simulated", feb.Simulated, side{"55.00", "0.04", "54.96", "100", "45"})
	if !jan.Delta.Revenue.Equal(dec("5.61")) || !jan.Delta.Savings.Equal(dec("159.39")) {
		t.Errorf("january delta %+v", jan.Delta)
	}
	if jan.Actual.PlanID != "support" || jan.Actual.PlanVersion != 1 {
		t.Errorf("actual plan %s v%d", jan.Actual.PlanID, jan.Actual.PlanVersion)
	}
	totals := billing.SimulationTotals(got.Results)
	if len(totals) != 1 || !totals[0].Actual.Revenue.Equal(dec("112.85")) || !totals[0].Simulated.Revenue.Equal(dec("120.50")) ||
		!totals[0].Simulated.CostUSD.Equal(dec("0.17")) {
		t.Errorf("totals %+v", totals)
	}
	// A simulation never invoices.
	var invoices int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM invoices`).Scan(&invoices); err != nil {
		t.Fatal(err)
	}
	if invoices != 0 {
		t.Errorf("%d invoices written", invoices)
	}
}

// TestSimulationWholePlanAndMissingSubscription rates with a whole other plan; a period before the
// subscription reports the error on its sides instead of failing.
func TestSimulationWholePlanAndMissingSubscription(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	mustOutcomeType(t, db, "support.ticket_resolved", "12", "94000")
	if _, _, err := db.CreatePlan(ctx, plan(t, "support", `{"currency": "USD", "terms": {}, "prices": [
		{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: feb1}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seedTask(t, db, fmt.Sprintf("t%d", i), "acme", "support.ticket_resolved", "succeeded", "normal", "billable", feb1.Add(time.Hour))
	}
	// labor_share 0.3 of 10.00 = 3.00 a task.
	sim, err := db.CreateSimulation(ctx, simRequest(t, `{"from": "2026-01", "to": "2026-02", "changes": {"plan": {"currency": "USD", "terms": {},
		"prices": [{"outcome_type": "support.ticket_resolved", "model": "labor_share", "share": "0.3"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	targets := allTargets(t, db, sim.ID, 1)
	var results []billing.SimulationPeriodResult
	for _, tg := range targets {
		r, err := db.SimulatePeriod(ctx, sim.ID, tg)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	if len(results) != 2 || results[0].Actual.Error == "" || results[0].Simulated.Error == "" {
		t.Fatalf("january should report the missing subscription: %+v", results)
	}
	if !results[1].Actual.Revenue.Equal(dec("2.97")) || !results[1].Simulated.Revenue.Equal(dec("9.00")) {
		t.Errorf("february revenue %s → %s, want 2.97 → 9.00", results[1].Actual.Revenue, results[1].Simulated.Revenue)
	}
}

// TestSimulationRejects checks that bad requests name the field and store nothing.
func TestSimulationRejects(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	perOutcome := `[{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "1"}]`
	for _, tc := range []struct{ name, body, field string }{
		{"bad month", `{"from": "2026-13", "to": "2026-02", "changes": {"prices": ` + perOutcome + `}}`, "from"},
		{"to before from", `{"from": "2026-03", "to": "2026-02", "changes": {"prices": ` + perOutcome + `}}`, "to"},
		{"too long", `{"from": "2024-01", "to": "2026-01", "changes": {"prices": ` + perOutcome + `}}`, "to"},
		{"no change", `{"from": "2026-01", "to": "2026-01", "changes": {}}`, "changes"},
		{"unknown customer", `{"customer_ids": ["acme", "nobody"], "from": "2026-01", "to": "2026-01", "changes": {"prices": ` + perOutcome + `}}`, "customer_ids[1]"},
		{"invalid plan", `{"from": "2026-01", "to": "2026-01", "changes": {"plan": {"currency": "USD", "terms": {},
			"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome"}]}}}`, "changes.plan.prices[0].unit_amount"},
		{"plan currency", `{"from": "2026-01", "to": "2026-01", "changes": {"plan": {"currency": "EUR", "terms": {}, "prices": ` + perOutcome + `}}}`, "changes.plan.currency"},
		{"invalid price", `{"from": "2026-01", "to": "2026-01", "changes": {"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "-1"}]}}`, "changes.prices[0].unit_amount"},
		{"unseen model", `{"from": "2026-01", "to": "2026-01", "changes": {"model_mix": {"support.ticket_resolved": "gpt-9"}}}`, "changes.model_mix.support.ticket_resolved"},
	} {
		_, err := db.CreateSimulation(ctx, simRequest(t, tc.body))
		if billing.ErrorCode(err) != billing.EINVALID || billing.ErrorField(err) != tc.field {
			t.Errorf("%s: got %v (field %q), want invalid %s", tc.name, err, billing.ErrorField(err), tc.field)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM simulations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d simulations stored", n)
	}
}

// TestSimulationPagesAndList pages a simulation of every customer: each customer's periods come
// whole, in id order, and a customer created after the simulation is not in it (the pages of a
// long simulation list the same customers from first to last). The list filters by status and
// customer, newest first.
func TestSimulationPagesAndList(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		mustCustomer(t, db, id, "USD", "UTC")
	}
	prices := `"changes": {"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "1"}]}`
	all, err := db.CreateSimulation(ctx, simRequest(t, `{"from": "2026-01", "to": "2026-03", `+prices+`}`))
	if err != nil {
		t.Fatal(err)
	}
	// A later customer: not part of the simulation made before it.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO customers (id, name, currency, timezone, billing_anchor_day, created_at, updated_at)
		VALUES ('c0', 'late', 'USD', 'UTC', 1, now() + interval '1 hour', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 6, 7, 100} {
		targets := allTargets(t, db, all.ID, limit)
		var got []string
		for _, tg := range targets {
			got = append(got, tg.CustomerID+"/"+tg.Period.Start.Format("01"))
		}
		want := "c1/01 c1/02 c1/03 c2/01 c2/02 c2/03 c3/01 c3/02 c3/03 c4/01 c4/02 c4/03 c5/01 c5/02 c5/03"
		if g := fmt.Sprint(got); g != "["+want+"]" {
			t.Errorf("limit %d: %s", limit, g)
		}
	}
	if total, err := db.BeginSimulation(ctx, all.ID); err != nil || total != 15 {
		t.Errorf("total %d, %v; want 15", total, err)
	}
	one, err := db.CreateSimulation(ctx, simRequest(t, `{"customer_ids": ["c4", "c2"], "from": "2026-01", "to": "2026-01", `+prices+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if targets := allTargets(t, db, one.ID, 1); len(targets) != 2 || targets[0].CustomerID != "c2" || targets[1].CustomerID != "c4" {
		t.Errorf("named customers: %+v", targets)
	}
	if err := db.FinishSimulation(ctx, one.ID, billing.SimulationCompleted, ""); err != nil {
		t.Fatal(err)
	}

	list := func(f billing.SimulationFilter, p billing.Page) ([]string, string) {
		t.Helper()
		sims, next, err := db.Simulations(ctx, f, p)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range sims {
			ids = append(ids, s.ID)
		}
		return ids, next
	}
	for _, tc := range []struct {
		name string
		f    billing.SimulationFilter
		want []string
	}{
		{"all, newest first", billing.SimulationFilter{}, []string{one.ID, all.ID}},
		{"completed", billing.SimulationFilter{Status: billing.SimulationCompleted}, []string{one.ID}},
		{"running", billing.SimulationFilter{Status: billing.SimulationRunning}, []string{all.ID}},
		{"queued", billing.SimulationFilter{Status: billing.SimulationQueued}, nil},
		// c2 is named by one and covered by all; c1 only by the simulation of every customer.
		{"customer named", billing.SimulationFilter{CustomerID: "c2"}, []string{one.ID, all.ID}},
		{"customer covered", billing.SimulationFilter{CustomerID: "c1"}, []string{all.ID}},
	} {
		if got, _ := list(tc.f, billing.Page{}); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	first, next := list(billing.SimulationFilter{}, billing.Page{Limit: 1})
	second, last := list(billing.SimulationFilter{}, billing.Page{Limit: 1, Cursor: next})
	if fmt.Sprint(first, second) != fmt.Sprint([]string{one.ID}, []string{all.ID}) || next == "" || last != "" {
		t.Errorf("pages %v %v, cursors %q %q", first, second, next, last)
	}
	if _, _, err := db.Simulations(ctx, billing.SimulationFilter{Status: "done"}, billing.Page{}); billing.ErrorField(err) != "status" {
		t.Errorf("bad status: %v", err)
	}
}
