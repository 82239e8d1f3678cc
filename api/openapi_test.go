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

func TestStatusCodeMapping(t *testing.T) {
	tests := map[string]int{"invalid": 400, "not_found": 404, "conflict": 409, "unauthorized": 401, "forbidden": 403, "internal": 500, "": 500}
	for code, want := range tests {
		if got := statusCode(code); got != want {
			t.Errorf("statusCode(%q) = %d, want %d", code, got, want)
		}
	}
}
