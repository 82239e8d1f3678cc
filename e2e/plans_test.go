package e2e_test

import (
	"context"
	"net/http"
	"testing"
)

// newPlansHarness is the shared harness with an admin-only key, the scope plans need.
func newPlansHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.admin = h.key("admin")
	return h
}

func supportPlan(unitAmount string) map[string]any {
	return map[string]any{"plan_id": "support", "name": "Support outcomes", "currency": "USD",
		"terms": map[string]any{"platform_fee": "49.00", "urgent_multiplier": "1.5"},
		"prices": []any{
			map[string]any{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": unitAmount},
			map[string]any{"outcome_type": "finance.invoice_reconciled", "model": "labor_share", "share": "0.3", "floor": "5", "cap": "11"},
		}}
}

func TestPlansSubscriptionsAndCreditsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newPlansHarness(t)
	for _, c := range []map[string]any{
		{"customer_id": "acme", "name": "Acme", "currency": "USD", "timezone": "America/New_York"},
		{"customer_id": "euro", "name": "Euro GmbH", "currency": "EUR"},
	} {
		if r := h.do("POST", "/v1/customers", h.admin, c); r.Status != http.StatusCreated {
			t.Fatalf("customer: %d %s", r.Status, r.Body)
		}
	}

	// Plans: create, retry, edit, retry the edit, read old and new.
	steps := []struct {
		name, method, path string
		body               any
		status, version    int
	}{
		{"create", "POST", "/v1/plans", supportPlan("0.99"), 201, 1},
		{"create again", "POST", "/v1/plans", supportPlan("0.990"), 200, 1},
		{"put unchanged", "PUT", "/v1/plans/support", supportPlan("0.99"), 200, 1},
		{"put new price", "PUT", "/v1/plans/support", supportPlan("1.10"), 201, 2},
		{"put it again", "PUT", "/v1/plans/support", supportPlan("1.10"), 200, 2},
		{"get latest", "GET", "/v1/plans/support", nil, 200, 2},
		{"get version 1", "GET", "/v1/plans/support?version=1", nil, 200, 1},
	}
	for _, s := range steps {
		r := h.do(s.method, s.path, h.admin, s.body)
		if r.Status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, r.Status, r.Body, s.status)
		}
		if v := r.json(t)["version"]; v != float64(s.version) {
			t.Errorf("%s: version %v, want %d", s.name, v, s.version)
		}
	}
	r := h.do("GET", "/v1/plans/support?version=1", h.admin, nil)
	body := r.json(t)
	price := body["prices"].([]any)[0].(map[string]any)
	if price["unit_amount"] != "0.99" || len(body["versions"].([]any)) != 2 || body["terms"].(map[string]any)["platform_fee"] != "49" {
		t.Errorf("version 1: %s", r.Body)
	}
	if r := h.do("GET", "/v1/plans", h.admin, nil); r.Status != 200 || len(r.json(t)["data"].([]any)) != 1 {
		t.Errorf("list plans: %d %s", r.Status, r.Body)
	}

	// Subscriptions and credits.
	r = h.do("POST", "/v1/customers/acme/subscriptions", h.admin, map[string]any{"plan_id": "support", "starts_at": "2026-01-01"})
	if r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	sub := r.json(t)
	if sub["starts_at"] != "2026-01-01T05:00:00Z" || sub["plan_version"] != nil {
		t.Errorf("subscription %s: want midnight in New York, following the latest version", r.Body)
	}
	if r := h.do("POST", "/v1/customers/acme/subscriptions", h.admin, map[string]any{"plan_id": "support", "starts_at": "2026-01-01"}); r.Status != 200 ||
		r.json(t)["subscription_id"] != sub["subscription_id"] {
		t.Errorf("subscribe again: %d %s, want 200 with the same subscription", r.Status, r.Body)
	}
	pinned := map[string]any{"plan_id": "support", "plan_version": 1, "starts_at": "2026-03-01T00:00:00Z", "overrides": map[string]any{
		"terms":  map[string]any{"platform_fee": "0"},
		"prices": []any{map[string]any{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.80"}}}}
	if r := h.do("POST", "/v1/customers/acme/subscriptions", h.admin, pinned); r.Status != http.StatusCreated || r.json(t)["plan_version"] != float64(1) {
		t.Errorf("subscribe pinned with overrides: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/customers/acme/subscriptions", h.admin, nil); r.Status != 200 || len(r.json(t)["data"].([]any)) != 2 {
		t.Errorf("list subscriptions: %d %s", r.Status, r.Body)
	}
	grant := map[string]any{"grant_id": "g1", "amount": map[string]any{"amount": "100.00", "currency": "USD"},
		"price_paid": map[string]any{"amount": "90.00", "currency": "USD"}, "expires_at": "2026-12-31T00:00:00Z"}
	r = h.do("POST", "/v1/customers/acme/credits", h.admin, grant)
	if r.Status != http.StatusCreated || r.json(t)["remaining"].(map[string]any)["amount"] != "100.00" {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/customers/acme/credits", h.admin, grant); r.Status != 200 {
		t.Errorf("grant again: %d %s, want 200", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/customers/acme/credits", h.admin, nil); r.Status != 200 || len(r.json(t)["data"].([]any)) != 1 {
		t.Errorf("list grants: %d %s", r.Status, r.Body)
	}

	// Bad requests: a clear 4xx naming the field, and nothing changes.
	before := h.planSnapshot()
	badShare := supportPlan("0.99")
	badShare["prices"].([]any)[1].(map[string]any)["share"] = "30"
	badCurrency := supportPlan("0.99")
	badCurrency["currency"] = "XYZ"
	otherID := supportPlan("0.99")
	otherID["plan_id"] = "other"
	changed := map[string]any{"grant_id": "g1", "amount": map[string]any{"amount": "200.00", "currency": "USD"},
		"price_paid": map[string]any{"amount": "90.00", "currency": "USD"}}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"other content under an existing plan", "POST", "/v1/plans", supportPlan("2.00"), 409, "conflict", ""},
		{"share above one", "PUT", "/v1/plans/support", badShare, 400, "invalid", "prices[1].share"},
		{"unknown currency", "POST", "/v1/plans", badCurrency, 400, "invalid", "currency"},
		{"path and body disagree", "PUT", "/v1/plans/support", otherID, 400, "invalid", "plan_id"},
		{"unknown price field", "PUT", "/v1/plans/support", map[string]any{"currency": "USD", "prices": []any{map[string]any{"model": "per_unit", "meter": "x", "unit_amount": "1", "bogus": "1"}}}, 400, "invalid", "bogus"},
		{"amount as a JSON number", "POST", "/v1/plans", map[string]any{"plan_id": "n", "currency": "USD", "prices": []any{
			map[string]any{"outcome_type": "a.b", "model": "per_outcome", "unit_amount": 0.99}}}, 400, "invalid", "prices[0].unit_amount"},
		{"override as a JSON number", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "starts_at": "2026-05-01",
			"overrides": map[string]any{"terms": map[string]any{"platform_fee": 10}}}, 400, "invalid", "overrides.terms.platform_fee"},
		{"unknown override field", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "starts_at": "2026-05-01",
			"overrides": map[string]any{"discount": "10"}}, 400, "invalid", "discount"},
		{"plan id as a number", "POST", "/v1/plans", map[string]any{"plan_id": 7, "currency": "USD", "prices": []any{}}, 400, "invalid", "plan_id"},
		{"version 0", "GET", "/v1/plans/support?version=0", nil, 400, "invalid", "version"},
		{"unknown version", "GET", "/v1/plans/support?version=9", nil, 404, "not_found", ""},
		{"unknown plan", "GET", "/v1/plans/nope", nil, 404, "not_found", ""},
		{"currency mismatch", "POST", "/v1/customers/euro/subscriptions", map[string]any{"plan_id": "support", "starts_at": "2026-01-01"}, 400, "invalid", "plan_id"},
		{"bad start", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "starts_at": "January"}, 400, "invalid", "starts_at"},
		{"plan version 0", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "plan_version": 0, "starts_at": "2026-05-01"}, 400, "invalid", "plan_version"},
		{"bad override", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "starts_at": "2026-05-01", "overrides": map[string]any{
			"prices": []any{map[string]any{"outcome_type": "a.b", "model": "labor_share", "share": "30"}}}}, 400, "invalid", "overrides.prices[0].share"},
		{"another plan at the same start", "POST", "/v1/customers/acme/subscriptions", map[string]any{"plan_id": "support", "plan_version": 2, "starts_at": "2026-01-01"}, 409, "conflict", ""},
		{"subscribe unknown customer", "POST", "/v1/customers/nobody/subscriptions", map[string]any{"plan_id": "support", "starts_at": "2026-01-01"}, 404, "not_found", ""},
		{"list for unknown customer", "GET", "/v1/customers/nobody/credits", nil, 404, "not_found", ""},
		{"grant changed", "POST", "/v1/customers/acme/credits", changed, 409, "conflict", ""},
		{"grant in another currency", "POST", "/v1/customers/acme/credits", map[string]any{"amount": map[string]any{"amount": "10", "currency": "EUR"},
			"price_paid": map[string]any{"amount": "10", "currency": "EUR"}}, 400, "invalid", "amount.currency"},
		{"grant without price paid", "POST", "/v1/customers/acme/credits", map[string]any{"amount": map[string]any{"amount": "10", "currency": "USD"}}, 400, "invalid", "price_paid"},
		{"grant amount as a number", "POST", "/v1/customers/acme/credits", map[string]any{"amount": map[string]any{"amount": 10, "currency": "USD"},
			"price_paid": map[string]any{"amount": "10", "currency": "USD"}}, 400, "invalid", "amount.amount"},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, h.admin, tt.body)
		if r.Status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, r.Status, tt.status, r.Body)
			continue
		}
		if code, field := r.errorCode(t); code != tt.code || field != tt.field {
			t.Errorf("%s: error %s/%s, want %s/%s (%s)", tt.name, code, field, tt.code, tt.field, r.Body)
		}
	}
	if after := h.planSnapshot(); after != before {
		t.Errorf("bad requests changed the database:\nbefore %s\nafter  %s", before, after)
	}

	// Plans, subscriptions and credits are admin's.
	ingest := h.key("ingest")
	for _, ep := range []struct{ method, path string }{{"POST", "/v1/plans"}, {"GET", "/v1/plans/support"}, {"PUT", "/v1/plans/support"},
		{"POST", "/v1/customers/acme/subscriptions"}, {"GET", "/v1/customers/acme/credits"}} {
		if r := h.do(ep.method, ep.path, ingest, "{}"); r.Status != http.StatusForbidden {
			t.Errorf("%s %s with an ingest key: %d", ep.method, ep.path, r.Status)
		}
		if r := h.do(ep.method, ep.path, "", "{}"); r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d", ep.method, ep.path, r.Status)
		}
	}
}

func (h *harness) planSnapshot() string {
	h.t.Helper()
	var s string
	err := h.db.Pool.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM plans), (SELECT count(*) FROM plan_versions), (SELECT count(*) FROM subscriptions),
		(SELECT string_agg(id || ':' || amount || ':' || remaining, ',') FROM credit_grants))`).Scan(&s)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}
