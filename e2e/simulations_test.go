package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/internal/servicetest"
)

// A what-if simulation through the API on a real Temporal server: bad requests are refused with
// the field and store nothing; a good one runs as a workflow, reports its progress and compares
// the plan in force with other prices, terms and labor baselines — without writing an invoice.
func TestSimulationThroughTheAPI(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	now := time.Now().UTC()
	billTasks(t, h, uniq(), 3, now.Add(-2*time.Hour)) // support plan: 0.99 an outcome, 49.00 a period

	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// The month the tasks were billed in and the one before: two periods whatever the date.
	to := now.In(ny).Format("2006-01")
	from := time.Date(now.In(ny).Year(), now.In(ny).Month(), 1, 0, 0, 0, 0, ny).AddDate(0, -1, 0).Format("2006-01")
	changes := map[string]any{
		"terms":           map[string]any{"platform_fee": "0.00"},
		"prices":          []any{map[string]any{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "2.00"}},
		"labor_baselines": map[string]any{"support.ticket_resolved": map[string]any{"human_minutes": "24", "annual_cost": map[string]any{"amount": "94000", "currency": "USD"}}},
	}

	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"bad month", map[string]any{"from": "2026-13", "to": to, "changes": changes}, "from"},
		{"to before from", map[string]any{"from": to, "to": from, "changes": changes}, "to"},
		{"more than 24 months", map[string]any{"from": "2020-01", "to": to, "changes": changes}, "to"},
		{"unknown customer", map[string]any{"customer_ids": []string{"nobody"}, "from": from, "to": to, "changes": changes}, "customer_ids[0]"},
		{"invalid plan", map[string]any{"from": from, "to": to, "changes": map[string]any{"plan": map[string]any{"currency": "USD", "terms": map[string]any{},
			"prices": []any{map[string]any{"outcome_type": "support.ticket_resolved", "model": "volume"}}}}}, "changes.plan.prices[0].tiers"},
		{"amount as a number", map[string]any{"from": from, "to": to, "changes": map[string]any{"terms": map[string]any{"platform_fee": 1}}}, "changes.terms.platform_fee"},
	} {
		r := h.do("POST", "/v1/simulations", h.admin, tc.body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
			continue
		}
		if code, field := r.errorCode(t); code != "invalid" || field != tc.field {
			t.Errorf("%s: %s %s, want invalid %s (%s)", tc.name, code, field, tc.field, r.Body)
		}
	}
	var stored int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM simulations`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Fatalf("%d simulations stored by bad requests", stored)
	}
	if r := h.do("POST", "/v1/simulations", h.key("admin"), map[string]any{"from": from, "to": to, "changes": changes}); r.Status != http.StatusForbidden {
		t.Errorf("admin key: %d, want 403", r.Status)
	}

	r := h.do("POST", "/v1/simulations", h.admin, map[string]any{"customer_ids": []string{"acme"}, "from": from, "to": to, "changes": changes})
	if r.Status != http.StatusAccepted {
		t.Fatalf("simulation: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	var sim map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.do("GET", "/v1/simulations/"+id, h.admin, nil)
		if r.Status != 200 {
			t.Fatalf("get: %d %s", r.Status, r.Body)
		}
		sim = r.json(t)
		if sim["status"] == "completed" || sim["status"] == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("simulation did not finish: %s", r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sim["status"] != "completed" {
		t.Fatalf("simulation %v", sim)
	}
	progress := sim["progress"].(map[string]any)
	if progress["periods_done"] != 2.0 || progress["periods_total"] != 2.0 || len(sim["results"].([]any)) != 2 {
		t.Fatalf("progress %v, %d results", progress, len(sim["results"].([]any)))
	}
	totals := sim["totals"].([]any)
	if len(totals) != 1 {
		t.Fatalf("totals %v", totals)
	}
	tot := totals[0].(map[string]any)
	actual, simulated := tot["actual"].(map[string]any), tot["simulated"].(map[string]any)
	amount := func(side map[string]any, k string) string { return side[k].(map[string]any)["amount"].(string) }
	// Actual: two periods' 49.00 fees and 3 × 0.99. Simulated: no fee, 3 × 2.00.
	// Labor: 3 × 12 min at 50/h = 30.00 actual, 3 × 24 min = 60.00 simulated; savings = labor − paid.
	for _, c := range []struct{ what, got, want string }{
		{"actual revenue", amount(actual, "revenue"), "100.97"},
		{"simulated revenue", amount(simulated, "revenue"), "6.00"},
		{"actual labor", amount(actual, "labor_cost"), "30.00"},
		{"simulated labor", amount(simulated, "labor_cost"), "60.00"},
		{"actual savings", amount(actual, "savings"), "-70.97"},
		{"simulated savings", amount(simulated, "savings"), "54.00"},
		{"revenue delta", tot["delta"].(map[string]any)["revenue"].(map[string]any)["amount"].(string), "-94.97"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	if actual["cost_usd"] != simulated["cost_usd"] || actual["cost_usd"] == "0" {
		t.Errorf("cost: actual %v, simulated %v: the same tokens, priced", actual["cost_usd"], simulated["cost_usd"])
	}
	var invoices int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM invoices`).Scan(&invoices); err != nil {
		t.Fatal(err)
	}
	if invoices != 0 {
		t.Errorf("a simulation wrote %d invoices", invoices)
	}
	// The list: newest first, filtered by status and customer, without results.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 1}, {"?status=completed", 1}, {"?status=running", 0}, {"?customer_id=acme", 1}, {"?customer_id=globex", 0},
	} {
		r := h.do("GET", "/v1/simulations"+tc.query, h.admin, nil)
		if r.Status != 200 {
			t.Fatalf("list %s: %d %s", tc.query, r.Status, r.Body)
		}
		list := r.json(t)["data"].([]any)
		if len(list) != tc.want {
			t.Errorf("list %s: %d simulations, want %d", tc.query, len(list), tc.want)
			continue
		}
		if tc.want == 1 {
			item := list[0].(map[string]any)
			if item["id"] != id || item["status"] != "completed" || item["results"] != nil || item["progress"].(map[string]any)["periods_done"] != 2.0 {
				t.Errorf("list %s: %v", tc.query, item)
			}
		}
	}
	if r := h.do("GET", "/v1/simulations?status=done", h.admin, nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad status filter: %d %s", r.Status, r.Body)
	} else if _, field := r.errorCode(t); field != "status" {
		t.Errorf("bad status filter names %q", field)
	}
	if r := h.do("GET", "/v1/simulations", h.key("admin"), nil); r.Status != http.StatusForbidden {
		t.Errorf("admin key listed simulations: %d", r.Status)
	}
	if r := h.do("GET", "/v1/simulations/sim_nope", h.admin, nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown simulation: %d", r.Status)
	}
}
