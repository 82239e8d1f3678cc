package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

var acme = map[string]any{"customer_id": "acme", "name": "Acme Support Co", "currency": "USD", "timezone": "America/New_York"}

var ticket = map[string]any{"name": "Resolved ticket", "baseline": map[string]any{"human_minutes": "12",
	"annual_cost": map[string]any{"amount": "94000", "currency": "USD"}}}

func TestCustomerWalkthrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusOK {
		t.Errorf("create again (retry): %d %s, want 200 with the same customer", r.Status, r.Body)
	}
	r := h.do("GET", "/v1/customers", h.admin, nil)
	data, _ := r.json(t)["data"].([]any)
	if r.Status != 200 || len(data) != 1 || data[0].(map[string]any)["customer_id"] != "acme" {
		t.Errorf("list: %d %s", r.Status, r.Body)
	}
	r = h.do("PATCH", "/v1/customers/acme", h.admin, map[string]any{"name": "Acme Inc."})
	if r.Status != 200 || r.json(t)["name"] != "Acme Inc." {
		t.Errorf("patch: %d %s", r.Status, r.Body)
	}
	r = h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, ticket)
	base, _ := r.json(t)["baseline"].(map[string]any)
	if r.Status != http.StatusCreated || base["task_cost"].(map[string]any)["amount"] != "10" {
		t.Errorf("put outcome type: %d %s; want task cost 12 min × 94000/1880 h = 10", r.Status, r.Body)
	}
	r = h.do("PUT", "/v1/customers/acme/baselines/support.ticket_resolved", h.admin, map[string]any{"human_minutes": "15",
		"annual_cost": map[string]any{"amount": "75200", "currency": "USD"}})
	if r.Status != http.StatusCreated {
		t.Errorf("put baseline: %d %s", r.Status, r.Body)
	}
	if r := h.do("DELETE", "/v1/customers/acme/baselines/support.ticket_resolved", h.admin, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete baseline: %d %s", r.Status, r.Body)
	}
	r = h.do("PUT", "/v1/model-prices/in-house-7b", h.admin, map[string]any{"effective_from": "2026-01-01T00:00:00Z",
		"input_per_mtok": "0.10", "output_per_mtok": "0.30"})
	if r.Status != http.StatusCreated || r.json(t)["cached_input_per_mtok"] != "0.1" {
		t.Errorf("put model price: %d %s", r.Status, r.Body)
	}
	r = h.do("GET", "/v1/model-prices?model=in-house-7b", h.admin, nil)
	if data, _ := r.json(t)["data"].([]any); r.Status != 200 || len(data) != 1 {
		t.Errorf("list model prices: %d %s", r.Status, r.Body)
	}
	r = h.do("POST", "/v1/customers/acme/viewer-keys", h.admin, map[string]any{"name": "Acme ops manager"})
	if r.Status != http.StatusCreated || !strings.HasPrefix(fmt.Sprint(r.json(t)["key"]), "ob_") {
		t.Errorf("viewer key: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/metrics"} {
		if r := h.do("GET", path, "", nil); r.Status != 200 {
			t.Errorf("GET %s: %d", path, r.Status)
		}
	}
	if r := h.do("GET", "/metrics", "", nil); !strings.Contains(string(r.Body), `outcomebill_http_requests_total{method="POST",route="/v1/customers",status="201"}`) {
		t.Errorf("/metrics lacks the request counter by route pattern")
	}
}

// Every authenticated endpoint refuses a missing, malformed, unknown or revoked key with 401,
// and a key without the endpoint's scope with 403 — before looking at the request at all.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusCreated {
		t.Fatal(r.Status)
	}
	k, revoked, err := h.db.CreateAPIKey(ctx, "old", []string{"admin", "ingest", "finance"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, viewer, err := h.db.CreateViewerKey(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{
		"none": "", "garbage": "not-a-key", "unknown": "ob_aaaaaaaaaa_" + strings.Repeat("a", 52), "revoked": revoked,
		"ingest": h.key("ingest"), "admin": h.key("admin"), "finance": h.key("finance"), "viewer": viewer,
	}
	endpoints := []struct {
		method, path, scope string
	}{
		{"POST", "/v1/events", "ingest"},
		{"GET", "/v1/tasks/t1", "ingest"},
		{"GET", "/v1/tasks/t1", "finance"},
		{"POST", "/v1/customers", "admin"},
		{"GET", "/v1/customers", "admin"},
		{"GET", "/v1/customers/acme", "admin"},
		{"PATCH", "/v1/customers/acme", "admin"},
		{"PUT", "/v1/outcome-types/x.y", "admin"},
		{"GET", "/v1/outcome-types", "admin"},
		{"PUT", "/v1/customers/acme/baselines/x.y", "admin"},
		{"DELETE", "/v1/customers/acme/baselines/x.y", "admin"},
		{"GET", "/v1/model-prices", "admin"},
		{"PUT", "/v1/model-prices/m", "admin"},
		{"POST", "/v1/api-keys", "admin"},
		{"GET", "/v1/api-keys", "admin"},
		{"DELETE", "/v1/api-keys/xyz", "admin"},
		{"POST", "/v1/customers/acme/viewer-keys", "admin"},
	}
	for _, ep := range endpoints {
		for name, key := range keys {
			var want int
			switch name {
			case "none", "garbage", "unknown", "revoked":
				want = http.StatusUnauthorized
			case ep.scope:
				continue // allowed: covered by the walkthrough and bad-input tests
			case "ingest", "finance":
				if ep.path == "/v1/tasks/t1" {
					continue // either scope reads tasks
				}
				want = http.StatusForbidden
			default:
				want = http.StatusForbidden
			}
			r := h.do(ep.method, ep.path, key, "{}")
			if r.Status != want {
				t.Errorf("%s %s with %s key: %d, want %d (%s)", ep.method, ep.path, name, r.Status, want, r.Body)
				continue
			}
			if code, _ := r.errorCode(t); code != map[int]string{401: "unauthorized", 403: "forbidden"}[want] {
				t.Errorf("%s %s with %s key: code %q", ep.method, ep.path, name, code)
			}
			if strings.Contains(string(r.Body), "Acme") {
				t.Errorf("%s %s with %s key leaks customer data: %s", ep.method, ep.path, name, r.Body)
			}
		}
	}
}

// Bad input on every endpoint gets a 4xx with a machine-readable code (and the field where there
// is one) and changes nothing.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusCreated {
		t.Fatal(r.Status)
	}
	if r := h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, ticket); r.Status != http.StatusCreated {
		t.Fatal(r.Status)
	}
	before := h.snapshot()
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"not JSON", "POST", "/v1/customers", "{", 400, "invalid", ""},
		{"empty body", "POST", "/v1/customers", "", 400, "invalid", ""},
		{"trailing data", "POST", "/v1/customers", `{"customer_id":"b","name":"B","currency":"USD"} {}`, 400, "invalid", ""},
		{"unknown field", "POST", "/v1/customers", map[string]any{"customer_id": "b", "name": "B", "currency": "USD", "vip": true}, 400, "invalid", "vip"},
		{"wrong type", "POST", "/v1/customers", map[string]any{"customer_id": 7, "name": "B", "currency": "USD"}, 400, "invalid", "customer_id"},
		{"bad currency", "POST", "/v1/customers", map[string]any{"customer_id": "b", "name": "B", "currency": "XXX"}, 400, "invalid", "currency"},
		{"html in id", "POST", "/v1/customers", map[string]any{"customer_id": "<script>", "name": "B", "currency": "USD"}, 400, "invalid", "customer_id"},
		{"changed fields on create", "POST", "/v1/customers", map[string]any{"customer_id": "acme", "name": "Other", "currency": "USD"}, 409, "conflict", ""},
		{"patch unknown", "PATCH", "/v1/customers/nobody", map[string]any{"name": "x"}, 404, "not_found", ""},
		{"patch bad anchor", "PATCH", "/v1/customers/acme", map[string]any{"billing_anchor_day": 31}, 400, "invalid", "billing_anchor_day"},
		{"get unknown", "GET", "/v1/customers/nobody", nil, 404, "not_found", ""},
		{"bad limit", "GET", "/v1/customers?limit=100000", nil, 400, "invalid", "limit"},
		{"bad cursor", "GET", "/v1/customers?cursor=%25%25", nil, 400, "invalid", "cursor"},
		{"outcome type key", "PUT", "/v1/outcome-types/Bad Key", ticket, 400, "invalid", "outcome_type"},
		{"minutes as number", "PUT", "/v1/outcome-types/a.b", map[string]any{"baseline": map[string]any{"human_minutes": 12}}, 400, "invalid", "baseline.human_minutes"},
		{"negative minutes", "PUT", "/v1/outcome-types/a.b", map[string]any{"baseline": map[string]any{"human_minutes": "-1",
			"annual_cost": map[string]any{"amount": "1", "currency": "USD"}}}, 400, "invalid", "baseline.human_minutes"},
		{"negative window", "PUT", "/v1/outcome-types/a.b", map[string]any{"dispute_window_seconds": -1, "baseline": map[string]any{"human_minutes": "1",
			"annual_cost": map[string]any{"amount": "1", "currency": "USD"}}}, 400, "invalid", "dispute_window_seconds"},
		{"baseline for unknown customer", "PUT", "/v1/customers/nobody/baselines/support.ticket_resolved", map[string]any{"human_minutes": "1",
			"annual_cost": map[string]any{"amount": "1", "currency": "USD"}}, 404, "not_found", ""},
		{"delete absent baseline", "DELETE", "/v1/customers/acme/baselines/support.ticket_resolved", nil, 404, "not_found", ""},
		{"price without date", "PUT", "/v1/model-prices/m1", map[string]any{"input_per_mtok": "1", "output_per_mtok": "1"}, 400, "invalid", "effective_from"},
		{"negative price", "PUT", "/v1/model-prices/m1", map[string]any{"effective_from": "2026-01-01T00:00:00Z", "input_per_mtok": "-1", "output_per_mtok": "1"}, 400, "invalid", "input"},
		{"float price", "PUT", "/v1/model-prices/m1", map[string]any{"effective_from": "2026-01-01T00:00:00Z", "input_per_mtok": "1e3", "output_per_mtok": "1"}, 400, "invalid", "input_per_mtok"},
		{"key without scopes", "POST", "/v1/api-keys", map[string]any{"name": "x"}, 400, "invalid", "scopes"},
		{"key with root scope", "POST", "/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"root"}}, 400, "invalid", "scopes"},
		{"revoke unknown key", "DELETE", "/v1/api-keys/nope", nil, 404, "not_found", ""},
		{"viewer for unknown customer", "POST", "/v1/customers/nobody/viewer-keys", map[string]any{}, 404, "not_found", ""},
		{"empty batch", "POST", "/v1/events", map[string]any{"events": []any{}}, 400, "invalid", "events"},
		{"batch not a list", "POST", "/v1/events", map[string]any{"events": "x"}, 400, "invalid", "events"},
		{"unknown route", "GET", "/v1/nothing", nil, 404, "not_found", ""},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, h.admin, tt.body)
		if r.Status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, r.Status, tt.status, r.Body)
			continue
		}
		code, field := r.errorCode(t)
		if code != tt.code || field != tt.field {
			t.Errorf("%s: error %s/%s, want %s/%s (%s)", tt.name, code, field, tt.code, tt.field, r.Body)
		}
	}
	// A body in the wrong content type is refused as well.
	r := h.doRaw("POST", "/v1/customers", h.admin, "text/plain", `{"customer_id":"b","name":"B","currency":"USD"}`)
	if r.Status != 400 {
		t.Errorf("text/plain body: %d", r.Status)
	}
	// An oversized body is refused before it is read in full.
	big := `{"customer_id":"b","name":"` + strings.Repeat("x", 2<<20) + `","currency":"USD"}`
	if r := h.doRaw("POST", "/v1/customers", h.admin, "application/json", big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: %d, want 413", r.Status)
	}
	if after := h.snapshot(); after != before {
		t.Errorf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot summarises every table a bad request could touch.
func (h *harness) snapshot() string {
	h.t.Helper()
	var s string
	err := h.db.Pool.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM customers), (SELECT string_agg(name || billing_anchor_day, ',') FROM customers),
		(SELECT count(*) FROM outcome_types), (SELECT count(*) FROM baseline_overrides),
		(SELECT count(*) FROM model_prices), (SELECT count(*) FROM api_keys), (SELECT count(*) FROM events))`).Scan(&s)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}
