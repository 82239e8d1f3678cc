package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// The document must describe exactly the routes the router serves, method by method.
func TestOpenAPIMatchesRouter(t *testing.T) {
	engine := New(Config{}).(*gin.Engine)
	var served []string
	for _, r := range engine.Routes() {
		served = append(served, r.Method+" "+openAPIPath(r.Path))
	}
	doc := OpenAPI()
	// Round-trip through JSON: what clients read is the encoded document.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, ops := range decoded.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	if strings.Join(served, "\n") != strings.Join(documented, "\n") {
		t.Errorf("router and OpenAPI differ:\nserved:\n%s\n\ndocumented:\n%s", strings.Join(served, "\n"), strings.Join(documented, "\n"))
	}
	if decoded.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q", decoded.OpenAPI)
	}
	// Every schema a route names exists.
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, rt := range routes() {
		for _, name := range []string{rt.request, rt.response} {
			if _, ok := schemas[name]; name != "" && !ok {
				t.Errorf("%s %s names schema %q, which is not defined", rt.method, rt.path, name)
			}
		}
	}
	// The contract paths of DESIGN.md §8 built so far are all there.
	for _, want := range []string{"POST /v1/events", "GET /v1/tasks/{task_id}", "POST /v1/customers", "GET /v1/customers", "GET /v1/customers/{customer_id}",
		"PATCH /v1/customers/{customer_id}", "PUT /v1/outcome-types/{outcome_type}", "GET /v1/outcome-types",
		"PUT /v1/customers/{customer_id}/baselines/{outcome_type}", "DELETE /v1/customers/{customer_id}/baselines/{outcome_type}",
		"GET /v1/model-prices", "PUT /v1/model-prices/{model}", "POST /v1/api-keys", "GET /v1/api-keys", "DELETE /v1/api-keys/{id}",
		"POST /v1/customers/{customer_id}/viewer-keys", "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json"} {
		if _, ok := decoded.Paths[strings.SplitN(want, " ", 2)[1]][strings.ToLower(strings.SplitN(want, " ", 2)[0])]; !ok {
			t.Errorf("%s is not documented", want)
		}
	}
}

// Every documented query parameter belongs to a route that exists, and the list and filter
// routes document theirs.
func TestOpenAPIQueryParameters(t *testing.T) {
	known := map[string]bool{}
	for _, rt := range routes() {
		known[rt.method+" "+rt.path] = true
	}
	for key := range queryParams {
		if !known[key] {
			t.Errorf("query parameters of %q, which is not a route", key)
		}
	}
	doc := OpenAPI()
	params := func(method, path string) map[string]map[string]any {
		op, _ := doc["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
		out := map[string]map[string]any{}
		list, _ := op["parameters"].([]any)
		for _, p := range list {
			m := p.(map[string]any)
			if m["in"] == "query" {
				out[m["name"].(string)] = m
			}
		}
		return out
	}
	for _, tc := range []struct {
		method, path string
		want         []string
	}{
		{"get", "/v1/simulations", []string{"cursor", "limit", "status", "customer_id"}},
		{"get", "/v1/alert-firings", []string{"cursor", "limit", "customer_id", "kind"}},
		{"get", "/v1/invoices", []string{"cursor", "limit", "customer_id", "status", "period_from", "period_to"}},
		{"get", "/v1/customers/{customer_id}/margin", []string{"from", "to"}},
		{"post", "/v1/events/import", []string{"all_or_nothing"}},
	} {
		got := params(tc.method, tc.path)
		for _, name := range tc.want {
			if got[name] == nil {
				t.Errorf("%s %s does not document ?%s=", tc.method, tc.path, name)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s %s documents %d query parameters, want %d", tc.method, tc.path, len(got), len(tc.want))
		}
	}
	if s := params("get", "/v1/simulations")["status"]["schema"].(map[string]any)["enum"]; len(s.([]string)) != 4 {
		t.Errorf("simulation status enum = %v", s)
	}
	if r := params("get", "/v1/margin")["from"]["required"]; r != true {
		t.Errorf("from of /v1/margin is not required: %v", r)
	}
}

func TestStatusCodeMapping(t *testing.T) {
	tests := map[string]int{"invalid": 400, "not_found": 404, "conflict": 409, "unauthorized": 401, "forbidden": 403, "internal": 500, "": 500}
	for code, want := range tests {
		if got := statusCode(code); got != want {
			t.Errorf("statusCode(%q) = %d, want %d", code, got, want)
		}
	}
}
