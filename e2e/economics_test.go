package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
)

// econSetup makes two customers with one billed task each, through the API's ingest and the
// store's SaveTaskState as the task workflow would call it, and returns the harness.
func econSetup(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	for _, c := range []map[string]any{
		{"customer_id": "acme", "name": "Acme Support Co", "currency": "USD", "timezone": "America/New_York"},
		{"customer_id": "bravo", "name": "Bravo Logistics", "currency": "USD", "timezone": "Europe/Paris"},
	} {
		if r := h.do("POST", "/v1/customers", h.admin, c); r.Status != http.StatusCreated {
			t.Fatalf("customer: %d %s", r.Status, r.Body)
		}
	}
	if r := h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, map[string]any{"name": "Resolved ticket",
		"dispute_window_seconds": 0, "baseline": map[string]any{"human_minutes": "12",
			"annual_cost": map[string]any{"amount": "94000", "currency": "USD"}}}); r.Status != http.StatusCreated {
		t.Fatalf("outcome type: %d %s", r.Status, r.Body)
	}
	var events []map[string]any
	for _, c := range []struct{ customer, cost string }{{"acme", "0.40"}, {"bravo", "0.25"}} {
		task := "task-" + c.customer
		events = append(events,
			map[string]any{"id": task + "-s", "type": "task.started", "customer_id": c.customer, "task_id": task,
				"occurred_at": "2026-03-05T15:00:00Z", "outcome_type": "support.ticket_resolved"},
			map[string]any{"id": task + "-u", "type": "task.usage", "customer_id": c.customer, "task_id": task,
				"occurred_at": "2026-03-05T15:01:00Z", "cost": c.cost, "description": "tool calls"},
			map[string]any{"id": task + "-o", "type": "task.outcome", "customer_id": c.customer, "task_id": task,
				"occurred_at": "2026-03-05T15:02:00Z", "status": "succeeded", "quality": 0.9})
	}
	if r := h.do("POST", "/v1/events", h.key("ingest"), map[string]any{"events": events}); r.Status != http.StatusOK ||
		strings.Contains(string(r.Body), "rejected") {
		t.Fatalf("events: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	for _, task := range []string{"task-acme", "task-bravo"} {
		evs, _, err := h.db.LoadTask(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		st := billing.FoldTask(task, evs, billing.TaskSettings{TaskTimeout: time.Hour}, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC))
		st.Version = 1
		if st.Status != billing.TaskBillable {
			t.Fatalf("%s folds to %s", task, st.Status)
		}
		if err := h.db.SaveTaskState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

const march = "from=2026-03-01&to=2026-04-01"

func TestEconomicsViews(t *testing.T) {
	t.Parallel()
	h := econSetup(t)
	finance := h.key("finance")
	r := h.do("GET", "/v1/customers/acme/margin?"+march, finance, nil)
	if r.Status != 200 {
		t.Fatalf("margin: %d %s", r.Status, r.Body)
	}
	m := r.json(t)
	cost := m["cost"].(map[string]any)
	tasks := m["tasks"].(map[string]any)
	if cost["usd"] != "0.4" || tasks["billable"] != 1.0 || cost["per_billable_outcome_usd"] != "0.4" || m["margin_percent"] != nil {
		t.Errorf("margin: %s", r.Body)
	}
	if gm := m["gross_margin"].(map[string]any); gm["amount"] != "-0.40" || gm["currency"] != "USD" {
		t.Errorf("gross margin %v, want -0.40 USD (no invoice yet)", gm)
	}
	r = h.do("GET", "/v1/margin?"+march, finance, nil)
	if v := r.json(t); r.Status != 200 || v["cost_usd"] != "0.65" || len(v["customers"].([]any)) != 2 {
		t.Errorf("vendor margin: %d %s", r.Status, r.Body)
	}
	// 1 outcome × 12 minutes at 94,000 / 1,880 h = 10 USD of a person's time.
	r = h.do("GET", "/v1/customers/acme/labor-equivalent?"+march, finance, nil)
	le := r.json(t)
	if r.Status != 200 || le["outcomes"] != "1" || le["hours"] != "0.20" || le["labor_cost"].(map[string]any)["amount"] != "10.00" ||
		le["savings"].(map[string]any)["amount"] != "10.00" || len(le["trend"].([]any)) != 6 || le["partial_credit"] != "0.5" {
		t.Errorf("labor equivalent: %d %s", r.Status, r.Body)
	}
	r = h.do("GET", "/v1/model-economics?"+march+"&outcome_type=support.ticket_resolved", finance, nil)
	me := r.json(t)
	recs, _ := me["recommendations"].([]any)
	// Both tasks used no model (non-token cost only), so no model can be recommended.
	if r.Status != 200 || len(recs) != 1 || recs[0].(map[string]any)["model"] != nil || me["min_success_rate"] != "0.9" {
		t.Errorf("model economics: %d %s", r.Status, r.Body)
	}
}

func TestEconomicsBadInput(t *testing.T) {
	t.Parallel()
	h := econSetup(t)
	finance := h.key("finance")
	tests := []struct {
		path, field string
		status      int
	}{
		{"/v1/customers/acme/margin?to=2026-04-01", "from", 400},
		{"/v1/customers/acme/margin?from=2026-03-01", "to", 400},
		{"/v1/customers/acme/margin?from=yesterday&to=2026-04-01", "from", 400},
		{"/v1/customers/acme/margin?from=2026-04-01&to=2026-03-01", "to", 400},
		{"/v1/customers/acme/margin?from=2026-03-01&to=2026-03-01", "to", 400},
		{"/v1/customers/acme/margin?from=2020-01-01&to=2026-01-01", "to", 400},
		{"/v1/margin?from=2026-03-01&to=2026-13-01", "to", 400},
		{"/v1/customers/acme/labor-equivalent?from=2026-03-01T00:00:00&to=2026-04-01", "from", 400},
		{"/v1/model-economics?" + march + "&min_success_rate=1.5", "min_success_rate", 400},
		{"/v1/model-economics?" + march + "&min_quality=high", "min_quality", 400},
		{"/v1/model-economics?" + march + "&outcome_type=Not A Key", "outcome_type", 400},
		{"/v1/customers/nobody/margin?" + march, "", 404},
		{"/v1/customers/nobody/labor-equivalent?" + march, "", 404},
	}
	for _, tt := range tests {
		r := h.do("GET", strings.ReplaceAll(tt.path, " ", "%20"), finance, nil)
		if r.Status != tt.status {
			t.Errorf("%s: %d, want %d (%s)", tt.path, r.Status, tt.status, r.Body)
			continue
		}
		if _, field := r.errorCode(t); field != tt.field {
			t.Errorf("%s: field %q, want %q", tt.path, field, tt.field)
		}
	}
}

// Every economics endpoint with every kind of key: finance reads all; a viewer key reads its own
// customer's labor equivalent and nothing else, and is refused another customer's — existing or
// not — with the same answer, naming no customer.
func TestEconomicsAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := econSetup(t)
	ctx := context.Background()
	k, revoked, err := h.db.CreateAPIKey(ctx, "old", []string{"admin", "ingest", "finance"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, viewerA, err := h.db.CreateViewerKey(ctx, "acme", "acme manager")
	if err != nil {
		t.Fatal(err)
	}
	_, viewerB, err := h.db.CreateViewerKey(ctx, "bravo", "bravo manager")
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct{ name, key string }{
		{"ingest", h.key("ingest")}, {"admin", h.key("admin")}, {"finance", h.key("finance")},
		{"viewer A", viewerA}, {"viewer B", viewerB}, {"revoked", revoked}, {"none", ""},
	}
	type endpoint struct {
		path string
		// want by key name; missing names get 401 (revoked, none) or 403.
		want map[string]int
	}
	endpoints := []endpoint{
		{"/v1/customers/acme/margin?" + march, map[string]int{"finance": 200}},
		{"/v1/customers/bravo/margin?" + march, map[string]int{"finance": 200}},
		{"/v1/customers/nobody/margin?" + march, map[string]int{"finance": 404}},
		{"/v1/margin?" + march, map[string]int{"finance": 200}},
		{"/v1/customers/acme/labor-equivalent?" + march, map[string]int{"finance": 200, "viewer A": 200}},
		{"/v1/customers/bravo/labor-equivalent?" + march, map[string]int{"finance": 200, "viewer B": 200}},
		{"/v1/customers/nobody/labor-equivalent?" + march, map[string]int{"finance": 404}},
		// Bad dates: a viewer is refused another customer before its input is looked at.
		{"/v1/customers/acme/labor-equivalent?from=x&to=y", map[string]int{"finance": 400, "viewer A": 400}},
		{"/v1/model-economics?" + march, map[string]int{"finance": 200}},
	}
	// What each viewer must never see: the other customer's id or name.
	foreign := map[string][]string{"viewer A": {"bravo", "Bravo", "nobody"}, "viewer B": {"acme", "Acme", "nobody"}}
	refusals := map[string]map[string]bool{} // viewer → distinct 403 bodies
	for _, ep := range endpoints {
		for _, k := range keys {
			want, ok := ep.want[k.name]
			if !ok {
				want = http.StatusForbidden
				if k.name == "revoked" || k.name == "none" {
					want = http.StatusUnauthorized
				}
			}
			r := h.do("GET", ep.path, k.key, nil)
			if r.Status != want {
				t.Errorf("GET %s with %s key: %d, want %d (%s)", ep.path, k.name, r.Status, want, r.Body)
				continue
			}
			if want >= 400 {
				if code, _ := r.errorCode(t); code != map[int]string{400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found"}[want] {
					t.Errorf("GET %s with %s key: code %q", ep.path, k.name, code)
				}
			}
			for _, word := range foreign[k.name] {
				if strings.Contains(string(r.Body), word) {
					t.Errorf("GET %s with %s key names another customer (%q): %s", ep.path, k.name, word, r.Body)
				}
			}
			if want == http.StatusUnauthorized || (want == http.StatusForbidden && !strings.HasPrefix(k.name, "viewer")) {
				for _, word := range []string{"acme", "Acme", "bravo", "Bravo"} {
					if strings.Contains(string(r.Body), word) {
						t.Errorf("GET %s with %s key leaks customer data: %s", ep.path, k.name, r.Body)
					}
				}
			}
			if want == http.StatusForbidden && strings.HasPrefix(k.name, "viewer") && strings.Contains(ep.path, "labor-equivalent") {
				if refusals[k.name] == nil {
					refusals[k.name] = map[string]bool{}
				}
				refusals[k.name][string(r.Body)] = true
			}
		}
	}
	// An existing and a missing customer are refused alike.
	for name, bodies := range refusals {
		if len(bodies) != 1 {
			t.Errorf("%s got %d different refusals for other customers' labor equivalent: %v", name, len(bodies), bodies)
		}
	}
	// The viewer sees its own figures.
	r := h.do("GET", "/v1/customers/acme/labor-equivalent?"+march, viewerA, nil)
	if v := r.json(t); v["customer_id"] != "acme" || v["outcomes"] != "1" {
		t.Errorf("viewer A's own view: %s", r.Body)
	}
}
