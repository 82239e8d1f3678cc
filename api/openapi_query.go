package api

// The query parameters of the routes, beside the route table (the table's rows are positional, so
// a column more would touch every row): OpenAPI adds them to the operations, and a test holds
// every entry to a route that exists. cursor and limit are added to every list by OpenAPI itself.

// queryParam is one ?name= of a route.
type queryParam struct {
	name        string
	schema      map[string]any
	description string
	required    bool
}

func enumOf(values ...string) map[string]any { return map[string]any{"type": "string", "enum": values} }

var (
	dateOrTime = map[string]any{"type": "string",
		"description": "a date (YYYY-MM-DD, midnight in the customer's billing timezone) or an RFC 3339 time"}
	rangeParams = []queryParam{
		{"from", dateOrTime, "start of the range, included", true},
		{"to", dateOrTime, "end of the range, excluded; at most 3 years after from", true},
	}
	customerFilter = queryParam{"customer_id", str, "only this customer's", false}
)

// queryParams maps "METHOD /path" (the route table's path) to its query parameters.
var queryParams = map[string][]queryParam{
	"POST /v1/events/import": {{"all_or_nothing", map[string]any{"type": "boolean"},
		"refuse the whole file if any line is rejected", false}},
	"GET /v1/model-prices": {{"model", str, "only this model's rows", false}},
	"GET /v1/plans/:plan_id": {{"version", map[string]any{"type": "integer", "minimum": 1},
		"this version instead of the latest", false}},
	"GET /v1/invoices": {customerFilter,
		{"status", enumOf("draft", "finalized", "void"), "", false},
		{"period_from", dateOrTime, "periods starting at or after this (a date is midnight UTC)", false},
		{"period_to", dateOrTime, "periods ending at or before this (a date is midnight UTC)", false}},
	"GET /v1/invoices/:id/export":                     {{"format", enumOf("csv", "json", "pdf"), "default pdf", false}},
	"GET /v1/credit-notes":                            {customerFilter},
	"GET /v1/customers/:customer_id/margin":           rangeParams,
	"GET /v1/margin":                                  rangeParams,
	"GET /v1/customers/:customer_id/labor-equivalent": rangeParams,
	"GET /v1/model-economics": append(append([]queryParam{}, rangeParams...),
		queryParam{"outcome_type", str, "only this outcome type", false},
		queryParam{"min_success_rate", decStr, "the bar a model must clear: success rate from 0 to 1 (default 0.9)", false},
		queryParam{"min_quality", decStr, "the bar a model must clear: average quality from 0 to 1 (default 0.8)", false}),
	"GET /v1/webhook-deliveries": {{"endpoint_id", str, "only this endpoint's deliveries", false}},
	"GET /v1/alert-firings": {customerFilter,
		{"kind", enumOf("spend", "prepaid_balance", "margin_floor"), "only alerts of this kind", false}},
	"GET /v1/simulations": {
		{"status", enumOf("queued", "running", "completed", "failed"), "", false},
		{"customer_id", str, "simulations that name this customer or cover every customer", false}},
}

// queryParamsOf returns the OpenAPI parameters of a route's query.
func queryParamsOf(rt route) []any {
	var out []any
	for _, q := range queryParams[rt.method+" "+rt.path] {
		p := map[string]any{"name": q.name, "in": "query", "schema": q.schema}
		if q.description != "" {
			p["description"] = q.description
		}
		if q.required {
			p["required"] = true
		}
		out = append(out, p)
	}
	return out
}
