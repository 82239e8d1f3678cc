package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// The OpenAPI 3 document is built from the route table, so every route is in it and nothing else
// is; the schemas below describe the JSON shapes the handlers read and write.

func obj(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var (
	str     = map[string]any{"type": "string"}
	decStr  = map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?$`, "description": "exact decimal as a string"}
	intT    = map[string]any{"type": "integer"}
	dateT   = map[string]any{"type": "string", "format": "date-time"}
	strList = map[string]any{"type": "array", "items": str}
)

func listOf(name string) map[string]any {
	return obj([]string{"data"}, map[string]any{"data": map[string]any{"type": "array", "items": ref(name)}, "next_cursor": str})
}

func schemas() map[string]any {
	s := map[string]any{
		"Error": obj([]string{"error"}, map[string]any{"error": obj([]string{"code", "message"}, map[string]any{
			"code":    map[string]any{"type": "string", "enum": []string{"invalid", "not_found", "conflict", "unauthorized", "forbidden", "internal"}},
			"message": str, "field": str})}),
		"Status": map[string]any{"type": "object"},
		// Economics views (api/economics.go).
		"EconomicsTasks": obj(nil, map[string]any{"total": intT, "billable": intT, "not_billed": intT, "pending": intT}),
		"EconomicsCost": obj(nil, map[string]any{"usd": decStr, "converted": nullableRef("Money"), "billable_usd": decStr,
			"not_billed_usd": decStr, "pending_usd": decStr, "not_billed_share": nullableDec, "per_billable_outcome_usd": nullableDec,
			"unpriced_usage_events": intT, "billable_outcomes": decStr}),
		"MarginLine": obj(nil, map[string]any{"outcome_type": str, "model": str, "tasks": ref("EconomicsTasks"), "revenue": ref("Money"),
			"cost": ref("EconomicsCost"), "gross_margin": nullableRef("Money"), "margin_percent": nullableDec}),
		"Margin": obj(nil, map[string]any{"customer_id": str, "currency": str, "from": dateT, "to": dateT,
			"exchange_rate": map[string]any{"type": "object", "nullable": true, "properties": map[string]any{"from": str, "to": str, "rate": decStr}},
			"revenue": obj(nil, map[string]any{"amount": ref("Money"), "paid": ref("Money"), "credits_applied": ref("Money"), "invoices": intT,
				"invoices_ending_after_range": intT, "other_currencies": map[string]any{"type": "array", "items": ref("Money")}}),
			"tasks": ref("EconomicsTasks"), "cost": ref("EconomicsCost"), "gross_margin": nullableRef("Money"), "margin_percent": nullableDec,
			"by_outcome_type":     map[string]any{"type": "array", "items": ref("MarginLine")},
			"by_model":            map[string]any{"type": "array", "items": ref("MarginLine")},
			"unallocated_revenue": ref("Money"), "notes": strList}),
		"VendorMargin": obj(nil, map[string]any{"from": str, "to": str, "revenue_usd": decStr, "cost_usd": decStr, "gross_margin_usd": decStr,
			"margin_percent": nullableDec, "tasks": ref("EconomicsTasks"), "cost": ref("EconomicsCost"), "unconverted_customers": strList,
			"customers": map[string]any{"type": "array", "items": obj(nil, map[string]any{"customer_id": str, "currency": str, "from": dateT, "to": dateT,
				"exchange_rate": nullableDec, "revenue": ref("Money"), "invoices": intT, "tasks": intT, "cost": ref("EconomicsCost"),
				"gross_margin": nullableRef("Money"), "margin_percent": nullableDec})},
			"notes": strList}),
		"LaborPeriod": obj(nil, map[string]any{"from": dateT, "to": dateT, "succeeded": intT, "partial": intT, "outcomes": decStr, "hours": decStr,
			"labor_cost": nullableRef("Money"), "missing_rates": strList, "paid": ref("Money"), "invoices": intT, "savings": nullableRef("Money"),
			"by_outcome_type": map[string]any{"type": "array", "items": obj(nil, map[string]any{"outcome_type": str, "succeeded": intT,
				"partial": intT, "outcomes": decStr, "hours": decStr,
				"baseline": map[string]any{"type": "object", "nullable": true, "properties": map[string]any{"human_minutes": decStr,
					"hourly_rate": ref("Money"), "task_cost": ref("Money"), "source": map[string]any{"type": "string", "enum": []string{"outcome_type", "customer_override"}}}},
				"labor_cost": nullableRef("Money"), "labor_cost_converted": nullableRef("Money")})}}),
		"LaborEquivalent": map[string]any{"allOf": []any{ref("LaborPeriod"), map[string]any{"type": "object", "properties": map[string]any{
			"customer_id": str, "currency": str, "partial_credit": decStr,
			"trend": map[string]any{"type": "array", "items": ref("LaborPeriod"), "description": "the last 6 monthly billing periods, oldest first"}}}}},
		"ModelEconomics": obj(nil, map[string]any{"from": str, "to": str, "outcome_type": str, "min_success_rate": decStr, "min_quality": decStr,
			"partial_credit": decStr,
			"models": map[string]any{"type": "array", "items": obj(nil, map[string]any{"outcome_type": str, "model": str, "tasks": intT,
				"succeeded": intT, "partial": intT, "failed": intT, "escalated": intT, "billable_outcomes": decStr, "success_rate": nullableDec,
				"average_quality": nullableDec, "cost_usd": decStr, "average_cost_per_task_usd": nullableDec,
				"average_cost_per_billable_outcome_usd": nullableDec, "unpriced_usage_events": intT, "clears_bar": map[string]any{"type": "boolean"},
				"not_billed_share": nullableDec})},
			"recommendations": map[string]any{"type": "array", "items": obj(nil, map[string]any{"outcome_type": str,
				"model":                         map[string]any{"type": "string", "nullable": true, "description": "null when no model clears the bar"},
				"cost_per_billable_outcome_usd": nullableDec, "savings_usd": decStr})}}),
		"Money": obj([]string{"amount", "currency"}, map[string]any{"amount": decStr, "currency": str}),
		"Terms": obj(nil, map[string]any{"platform_fee": decStr, "minimum_commitment": decStr, "urgent_multiplier": decStr, "cap": decStr}),
		"Charge": obj([]string{"model"}, map[string]any{
			"outcome_type": str, "meter": str, "description": str,
			"model": map[string]any{"type": "string", "enum": []string{"per_outcome", "labor_share", "seat_equivalent", "per_unit",
				"graduated", "volume", "package", "percentage", "cost_plus"}},
			"unit_amount": decStr, "partial_credit": decStr, "share": decStr, "allow_share_above_one": map[string]any{"type": "boolean"},
			"floor": decStr, "cap": decStr, "outcomes_per_seat": decStr, "seat_price": decStr, "round_up_seats": map[string]any{"type": "boolean"},
			"tiers": map[string]any{"type": "array", "items": obj([]string{"up_to", "unit_amount", "flat_amount"}, map[string]any{
				"up_to": map[string]any{"type": "string", "nullable": true, "pattern": decStr["pattern"]}, "unit_amount": decStr, "flat_amount": decStr})},
			"package_size": decStr, "amount": decStr, "free_units": decStr, "rate": decStr, "fixed_fee": decStr, "min": decStr, "max": decStr,
			"markup": decStr}),
		"PlanInput": obj([]string{"currency", "prices"}, map[string]any{"plan_id": str, "name": str, "currency": str,
			"terms": ref("Terms"), "prices": map[string]any{"type": "array", "items": ref("Charge")}}),
		"Plan": obj(nil, map[string]any{"plan_id": str, "name": str, "version": intT, "currency": str, "terms": ref("Terms"),
			"prices": map[string]any{"type": "array", "items": ref("Charge")}, "created_at": dateT,
			"versions": map[string]any{"type": "array", "items": obj(nil, map[string]any{"version": intT, "name": str, "created_at": dateT})}}),
		"PlanList": listOf("Plan"),
		"Overrides": obj(nil, map[string]any{"terms": ref("Terms"), "prices": map[string]any{"type": "array", "items": ref("Charge"),
			"description": "replace the plan's charges on the same outcome_type or meter (cost_plus apart); others are added"}}),
		"SubscriptionInput": obj([]string{"plan_id", "starts_at"}, map[string]any{"plan_id": str,
			"plan_version": map[string]any{"type": "integer", "minimum": 1, "description": "pins a version; leave out to follow the latest"},
			"starts_at":    map[string]any{"type": "string", "description": "a date (midnight in the customer's billing timezone) or an RFC 3339 time"},
			"overrides":    ref("Overrides")}),
		"Subscription": obj(nil, map[string]any{"subscription_id": str, "customer_id": str, "plan_id": str,
			"plan_version": map[string]any{"type": "integer", "nullable": true, "description": "null: follows the latest version"},
			"starts_at":    dateT, "overrides": ref("Overrides"), "created_at": dateT}),
		"SubscriptionList": listOf("Subscription"),
		"CreditGrantInput": obj([]string{"amount", "price_paid"}, map[string]any{"grant_id": str, "amount": ref("Money"),
			"price_paid": ref("Money"), "expires_at": dateT}),
		"CreditGrant": obj(nil, map[string]any{"grant_id": str, "customer_id": str, "amount": ref("Money"), "price_paid": ref("Money"),
			"remaining": ref("Money"), "expires_at": map[string]any{"type": "string", "format": "date-time", "nullable": true}, "created_at": dateT}),
		"CreditGrantList": listOf("CreditGrant"),
		"Customer": obj([]string{"customer_id", "name", "currency"}, map[string]any{
			"customer_id": str, "name": str, "currency": str, "timezone": str, "billing_anchor_day": intT,
			"created_at": dateT, "updated_at": dateT}),
		"CustomerPatch": obj(nil, map[string]any{"name": str, "currency": str, "timezone": str, "billing_anchor_day": intT}),
		"CustomerList":  listOf("Customer"),
		"Baseline": obj([]string{"human_minutes", "annual_cost"}, map[string]any{
			"human_minutes": decStr, "annual_cost": ref("Money"), "productive_hours": decStr,
			"hourly_rate": ref("Money"), "task_cost": ref("Money")}),
		"BaselineOverride": obj(nil, map[string]any{"customer_id": str, "outcome_type": str, "baseline": ref("Baseline"), "updated_at": dateT}),
		"OutcomeType": obj([]string{"baseline"}, map[string]any{
			"outcome_type": str, "name": str, "description": str, "baseline": ref("Baseline"),
			"dispute_window_seconds": intT, "task_timeout_seconds": intT, "created_at": dateT, "updated_at": dateT}),
		"OutcomeTypeList": listOf("OutcomeType"),
		"ModelPrice": obj(nil, map[string]any{"model": str, "effective_from": dateT, "currency": str,
			"input_per_mtok": decStr, "cached_input_per_mtok": decStr, "cache_write_per_mtok": decStr, "output_per_mtok": decStr,
			"reasoning_per_mtok": decStr, "source": str, "as_of": str, "origin": map[string]any{"type": "string", "enum": []string{"catalog", "vendor"}}}),
		"ModelPriceInput": obj([]string{"effective_from", "input_per_mtok", "output_per_mtok"}, map[string]any{"effective_from": dateT,
			"input_per_mtok": decStr, "cached_input_per_mtok": decStr, "cache_write_per_mtok": decStr, "output_per_mtok": decStr,
			"reasoning_per_mtok": decStr, "source": str}),
		"ModelPriceList": listOf("ModelPrice"),
		"APIKey": obj(nil, map[string]any{"id": str, "name": str, "scopes": strList, "customer_id": str,
			"created_at": dateT, "revoked_at": dateT, "last_used_at": dateT}),
		"APIKeyCreated": obj(nil, map[string]any{"id": str, "name": str, "scopes": strList, "customer_id": str,
			"created_at": dateT, "key": map[string]any{"type": "string", "description": "the secret, shown once"}}),
		"APIKeyInput":    obj([]string{"name", "scopes"}, map[string]any{"name": str, "scopes": strList}),
		"ViewerKeyInput": obj(nil, map[string]any{"name": str}),
		"APIKeyList":     listOf("APIKey"),
		"Event": obj([]string{"id", "type", "customer_id", "task_id", "occurred_at"}, map[string]any{
			"id": str, "type": map[string]any{"type": "string", "enum": []string{"task.started", "task.usage", "task.outcome", "task.disputed", "task.cancelled"}},
			"customer_id": str, "task_id": str, "occurred_at": dateT,
			"outcome_type": str, "priority": map[string]any{"type": "string", "enum": []string{"normal", "urgent"}}, "metadata": map[string]any{"type": "object"},
			"model": str, "input_tokens": intT, "output_tokens": intT, "cached_input_tokens": intT, "cache_write_tokens": intT,
			"reasoning_tokens": intT, "cost": decStr, "description": str,
			"status":  map[string]any{"type": "string", "enum": []string{"succeeded", "partial", "failed", "escalated"}},
			"quality": map[string]any{"type": "number", "minimum": 0, "maximum": 1}, "evidence": str, "reason": str}),
		"Task": obj(nil, map[string]any{"task_id": str, "customer_id": str,
			"status":       map[string]any{"type": "string", "enum": []string{"open", "verifying", "billable", "not_billable", "expired"}},
			"outcome_type": str, "priority": str, "outcome": str, "quality": decStr, "started_at": dateT, "outcome_at": dateT,
			"billable_at": dateT, "status_at": dateT, "disputed": map[string]any{"type": "boolean"}, "dispute_reason": str,
			"cancelled": map[string]any{"type": "boolean"}, "cost_usd": decStr, "unpriced_events": intT,
			"cost_by_model": map[string]any{"type": "array", "items": obj(nil, map[string]any{"model": str, "input_tokens": intT,
				"output_tokens": intT, "cost_usd": decStr, "unpriced_events": intT})},
			"events": map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": str, "type": str, "occurred_at": dateT,
				"received_at": dateT, "cost_usd": decStr, "event": ref("Event")})}}),
		"InvoiceRunInput": obj(nil, map[string]any{"customer_id": str, "period_start": dateT, "period_end": dateT,
			"period": map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}$`, "description": "a month: each customer's period starting in it"}}),
		"InvoiceRun": obj(nil, map[string]any{"id": str, "customer_id": str, "period_start": dateT, "period_end": dateT,
			"status":      map[string]any{"type": "string", "enum": []string{"queued", "running", "drafted", "finalized", "failed"}},
			"tasks_total": intT, "tasks_rated": intT, "invoice_id": str, "credit_notes": strList, "error": str, "runs": intT, "updated_at": dateT}),
		"InvoiceRunList": listOf("InvoiceRun"),
		// What-if simulations (api/simulations.go).
		"SimulationInput": obj([]string{"from", "to", "changes"}, map[string]any{"customer_ids": map[string]any{"type": "array", "items": str,
			"description": "empty or left out: every customer"},
			"from": map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}$`, "description": "first month (YYYY-MM): the billing periods starting in it"},
			"to":   map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}$`, "description": "last month, included; at most 24 months after from"},
			"changes": obj(nil, map[string]any{
				"plan":   map[string]any{"type": "object", "description": "a whole other plan version: currency, terms, prices (as in PlanInput)"},
				"terms":  map[string]any{"type": "object", "description": "terms overriding those of the plan rated with"},
				"prices": map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "description": "charges replacing those of the same subject"},
				"labor_baselines": map[string]any{"type": "object", "additionalProperties": obj([]string{"human_minutes", "annual_cost"},
					map[string]any{"human_minutes": decStr, "annual_cost": ref("Money"), "productive_hours": decStr})},
				"model_mix": map[string]any{"type": "object", "additionalProperties": str,
					"description": "outcome type → model: re-cost its tasks at the model's observed average cost per task"}})}),
		"SimulationSide": obj(nil, map[string]any{"plan": map[string]any{"type": "object", "nullable": true, "properties": map[string]any{"plan_id": str, "version": intT}},
			"revenue": ref("Money"), "paid": ref("Money"), "cost_usd": decStr, "cost": nullableRef("Money"), "margin": nullableRef("Money"),
			"margin_percent": nullableDec, "labor_cost": nullableRef("Money"), "savings": nullableRef("Money"), "error": str}),
		"SimulationDelta": obj(nil, map[string]any{"revenue": ref("Money"), "cost_usd": decStr, "margin": nullableRef("Money"), "savings": nullableRef("Money")}),
		"Simulation": obj(nil, map[string]any{"id": str,
			"status":      map[string]any{"type": "string", "enum": []string{"queued", "running", "completed", "failed"}},
			"progress":    obj(nil, map[string]any{"periods_done": intT, "periods_total": intT}),
			"request":     ref("SimulationInput"),
			"model_costs": map[string]any{"type": "object", "additionalProperties": obj(nil, map[string]any{"model": str, "tasks": intT, "cost_usd": decStr, "per_task_cost_usd": decStr})},
			"error":       str,
			"results": map[string]any{"type": "array", "items": obj(nil, map[string]any{"customer_id": str, "currency": str, "period_start": dateT,
				"period_end": dateT, "tasks": intT, "billable_outcomes": decStr, "unpriced_usage_events": intT, "exchange_rate": nullableDec,
				"actual": ref("SimulationSide"), "simulated": ref("SimulationSide"), "delta": ref("SimulationDelta")})},
			"totals": map[string]any{"type": "array", "items": obj(nil, map[string]any{"currency": str, "periods": intT,
				"actual": ref("SimulationSide"), "simulated": ref("SimulationSide"), "delta": ref("SimulationDelta")})},
			"created_at": dateT, "updated_at": dateT}),
		"SimulationSummary": obj(nil, map[string]any{"id": str,
			"status":   map[string]any{"type": "string", "enum": []string{"queued", "running", "completed", "failed"}},
			"progress": obj(nil, map[string]any{"periods_done": intT, "periods_total": intT}),
			"request":  ref("SimulationInput"), "error": str, "created_at": dateT, "updated_at": dateT}),
		"SimulationList": listOf("SimulationSummary"),
		"InvoiceLine": obj(nil, map[string]any{"position": intT, "kind": str, "description": str, "outcome_type": str, "meter": str,
			"quantity": decStr, "unit_amount": ref("Money"), "amount": ref("Money"), "explanation": str,
			"explanation_detail": map[string]any{"type": "object", "description": "the figures behind the explanation: rule, tiers, baselines, seats…"}}),
		"ValueStatement": obj(nil, map[string]any{"outcomes": intT, "succeeded": intT, "partial": intT, "human_hours": decStr,
			"labor_cost": ref("Money"), "invoice_amount": ref("Money"), "savings": ref("Money"), "full_time_equivalents": decStr}),
		"Invoice": obj(nil, map[string]any{"id": str, "number": str,
			"status":       map[string]any{"type": "string", "enum": []string{"draft", "finalized", "void"}},
			"vendor":       obj(nil, map[string]any{"name": str, "address": str, "email": str, "tax_id": str}),
			"customer":     obj(nil, map[string]any{"customer_id": str, "name": str, "timezone": str}),
			"period_start": dateT, "period_end": dateT, "issue_date": map[string]any{"type": "string", "format": "date"}, "currency": str,
			"plan": obj(nil, map[string]any{"plan_id": str, "version": intT}), "lines": map[string]any{"type": "array", "items": ref("InvoiceLine")},
			"subtotal": ref("Money"), "credits_applied": ref("Money"), "total": ref("Money"),
			"credit_draws": map[string]any{"type": "array", "items": obj(nil, map[string]any{"grant_id": str, "amount": ref("Money"),
				"remaining_after": ref("Money"), "expires_at": dateT})},
			"notes": obj(nil, map[string]any{"unpriced_outcomes": map[string]any{"type": "object", "additionalProperties": intT},
				"unpriced_usage": intT, "expired_credits": strList}),
			"value_statement": ref("ValueStatement"), "void_reason": str, "created_at": dateT, "updated_at": dateT,
			"finalized_at": dateT, "voided_at": dateT}),
		"InvoiceSummary": obj(nil, map[string]any{"id": str, "number": str, "status": str, "customer_id": str, "customer_name": str,
			"period_start": dateT, "period_end": dateT, "issue_date": map[string]any{"type": "string", "format": "date"}, "currency": str,
			"subtotal": ref("Money"), "credits_applied": ref("Money"), "total": ref("Money"), "created_at": dateT, "updated_at": dateT}),
		"InvoiceList": listOf("InvoiceSummary"),
		"VoidInput":   obj([]string{"reason"}, map[string]any{"reason": str}),
		"CreditNote": obj(nil, map[string]any{"id": str, "number": str, "customer_id": str, "currency": str,
			"issue_date": map[string]any{"type": "string", "format": "date"}, "total": ref("Money"), "created_at": dateT,
			"lines": map[string]any{"type": "array", "items": obj(nil, map[string]any{"position": intT, "invoice_id": str,
				"invoice_number": str, "task_id": str, "description": str, "amount": ref("Money"), "explanation": str})}}),
		"CreditNoteList": listOf("CreditNote"),
		"EventBatch":     obj([]string{"events"}, map[string]any{"events": map[string]any{"type": "array", "minItems": 1, "maxItems": MaxBatch, "items": ref("Event")}}),
		// One line of an import's NDJSON body.
		"ImportLine": ref("Event"),
		"ImportResult": obj([]string{"lines", "accepted", "duplicate", "rejected", "refused", "errors"}, map[string]any{
			"lines": intT, "accepted": intT, "duplicate": intT, "rejected": intT, "refused": map[string]any{"type": "boolean"},
			"errors": map[string]any{"type": "array", "items": obj([]string{"line", "code", "message"}, map[string]any{
				"line": intT, "id": str, "code": str, "field": str, "message": str})}}),
		"EventResults": obj([]string{"results"}, map[string]any{"results": map[string]any{"type": "array", "items": obj([]string{"id", "status"}, map[string]any{
			"id": str, "status": map[string]any{"type": "string", "enum": []string{"accepted", "duplicate", "rejected"}},
			"error": map[string]any{"type": "object"}})}}),
	}
	for name, schema := range webhookSchemas() {
		s[name] = schema
	}
	return s
}

// OpenAPI returns the document served at /openapi.json.
func OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range routes() {
		p := openAPIPath(rt.path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		op := map[string]any{"summary": rt.summary, "responses": responses(rt)}
		if len(rt.scopes) > 0 {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			op["description"] = "Scope: " + strings.Join(rt.scopes, " or ") + "."
		}
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": str})
			}
		}
		if rt.method == "GET" && strings.HasSuffix(rt.response, "List") {
			params = append(params,
				map[string]any{"name": "cursor", "in": "query", "schema": str},
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 200}})
		}
		params = append(params, queryParamsOf(rt)...)
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.request != "" {
			ct := "application/json"
			if rt.path == "/v1/events/import" {
				ct = "application/x-ndjson" // one ImportLine a line
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": ref(rt.request)}}}
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "outcomebill", "version": "1",
			"description": "Billing for AI agents paid per outcome. Amounts are decimal strings with a currency."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas(),
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func responses(rt route) map[string]any {
	ok := map[string]any{"description": "success"}
	if rt.response != "" {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.response)}}
	}
	errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	out := map[string]any{strconv.Itoa(rt.status): ok}
	if len(rt.scopes) > 0 {
		out["401"], out["403"] = errResp, errResp
	}
	if rt.request != "" || strings.Contains(rt.path, ":") {
		out["400"], out["404"] = errResp, errResp
	}
	if rt.method == "POST" || rt.method == "PUT" {
		out["409"] = errResp
	}
	if rt.status == 201 {
		out["200"] = map[string]any{"description": "already existed with the same fields (idempotent retry)", "content": ok["content"]}
	}
	return out
}

// openAPIPath turns Gin's /v1/customers/:customer_id into /v1/customers/{customer_id}.
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

func (s *Server) openAPI() gin.HandlerFunc {
	doc := OpenAPI()
	return func(c *gin.Context) { c.JSON(http.StatusOK, doc) }
}
