package e2e_test

// The bad input catalogue: every way a client can get a request wrong, over HTTP against a real
// database. Each is a 4xx (or a rejected event in a 200 batch) with a code and, where there is
// one, the field; none changes anything, which a hash of every table before and after shows.
// Injection strings in free-text fields are the other half: accepted, stored as text and shown
// back verbatim as JSON data.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// tableHashes returns a digest of every table's rows (api_keys by count only: authentication
// updates last_used_at).
func tableHashes(t *testing.T, h *harness) map[string]string {
	t.Helper()
	ctx := context.Background()
	// A partitioned table (events, tasks) is hashed whole, through its parent, and its partitions not on
	// their own.
	rows, err := h.db.Pool.Query(ctx, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
		AND relkind IN ('r', 'p') AND NOT relispartition`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tbl := range tables {
		q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM %q x`, tbl)
		if tbl == "api_keys" {
			q = `SELECT count(*)::text FROM api_keys`
		}
		var s string
		if err := h.db.Pool.QueryRow(ctx, q).Scan(&s); err != nil {
			t.Fatalf("hash %s: %v", tbl, err)
		}
		out[tbl] = s
	}
	return out
}

// Injection strings tried in every field that takes text.
var injections = []string{
	`'; DROP TABLE customers; --`,
	`Robert'); DELETE FROM events WHERE ('1'='1`,
	`<script>alert(document.cookie)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`{{7*7}} ${7*7} %s %n`,
	`=HYPERLINK("http://evil.example","click")`,
	"\u202eevil\u202c", // right-to-left override
}

func TestBadInputCatalogue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setupBilling(t, h, 0)
	ingest := h.key("ingest")
	now := time.Now().UTC()
	at := now.Add(-time.Hour).Format(time.RFC3339)
	start := func(extra map[string]any) map[string]any {
		e := map[string]any{"id": "e-" + uniq(), "type": "task.started", "customer_id": "acme", "task_id": "t-" + uniq(),
			"occurred_at": at, "outcome_type": "support.ticket_resolved"}
		for k, v := range extra {
			if v == nil {
				delete(e, k)
			} else {
				e[k] = v
			}
		}
		return e
	}
	usage := func(extra map[string]any) map[string]any {
		base := map[string]any{"type": "task.usage", "outcome_type": nil, "model": "gpt-4.1-mini", "input_tokens": 10, "output_tokens": 1}
		for k, v := range extra {
			base[k] = v
		}
		return start(base)
	}
	outcome := func(extra map[string]any) map[string]any {
		base := map[string]any{"type": "task.outcome", "outcome_type": nil, "status": "succeeded"}
		for k, v := range extra {
			base[k] = v
		}
		return start(base)
	}
	before := tableHashes(t, h)

	// Whole requests refused.
	manyEvents := make([]any, 1001)
	for i := range manyEvents {
		manyEvents[i] = start(nil)
	}
	hugeEvent := start(map[string]any{"metadata": map[string]any{"x": strings.Repeat("a", 8400)}})
	var huge []any
	for i := 0; i < 1000; i++ {
		huge = append(huge, hugeEvent)
	}
	hugeBody, _ := json.Marshal(map[string]any{"events": huge})
	if len(hugeBody) <= 8<<20 {
		t.Fatalf("huge body is only %d bytes", len(hugeBody))
	}
	requests := []struct {
		name, method, path, contentType, body string
		status                                int
		code, field                           string
	}{
		{"1,001 events", "POST", "/v1/events", "application/json", mustJSON(map[string]any{"events": manyEvents}), 400, "invalid", "events"},
		{"body over 8 MiB", "POST", "/v1/events", "application/json", string(hugeBody), 413, "invalid", ""},
		{"no events", "POST", "/v1/events", "application/json", `{"events":[]}`, 400, "invalid", "events"},
		{"events missing", "POST", "/v1/events", "application/json", `{}`, 400, "invalid", "events"},
		{"events not a list", "POST", "/v1/events", "application/json", `{"events":{"id":"x"}}`, 400, "invalid", "events"},
		{"text/plain", "POST", "/v1/events", "text/plain", `{"events":[]}`, 400, "invalid", ""},
		{"form encoded", "POST", "/v1/events", "application/x-www-form-urlencoded", `events=1`, 400, "invalid", ""},
		{"no content type", "POST", "/v1/events", "", ``, 400, "invalid", ""},
		{"invalid JSON", "POST", "/v1/events", "application/json", `{"events":[`, 400, "invalid", ""},
		{"not JSON at all", "POST", "/v1/events", "application/json", `<events/>`, 400, "invalid", ""},
		{"trailing data", "POST", "/v1/events", "application/json", `{"events":[]} {}`, 400, "invalid", ""},
		{"unknown top-level field", "POST", "/v1/events", "application/json", `{"events":[],"batch_id":"x"}`, 400, "invalid", "batch_id"},
		{"customer: invalid currency", "POST", "/v1/customers", "application/json", `{"customer_id":"b","name":"B","currency":"usd1"}`, 400, "invalid", "currency"},
		{"customer: fund currency", "POST", "/v1/customers", "application/json", `{"customer_id":"b","name":"B","currency":"XAU"}`, 400, "invalid", "currency"},
		{"customer: unknown zone", "POST", "/v1/customers", "application/json", `{"customer_id":"b","name":"B","currency":"USD","timezone":"Mars/Olympus"}`, 400, "invalid", "timezone"},
		{"customer: SQL in id", "POST", "/v1/customers", "application/json", `{"customer_id":"b'; DROP TABLE customers;--","name":"B","currency":"USD"}`, 400, "invalid", "customer_id"},
		{"customer: control characters in name", "POST", "/v1/customers", "application/json", `{"customer_id":"b","name":"B\u0007\u001b[2J","currency":"USD"}`, 400, "invalid", "name"},
		{"customer: wrong type", "POST", "/v1/customers", "application/json", `{"customer_id":"b","name":["B"],"currency":"USD"}`, 400, "invalid", "name"},
		{"plan: invalid currency", "POST", "/v1/plans", "application/json", `{"plan_id":"p","currency":"ABC","prices":[]}`, 400, "invalid", "currency"},
		{"plan: amount as a JSON number", "POST", "/v1/plans", "application/json", `{"plan_id":"p","currency":"USD","prices":[{"outcome_type":"a.b","model":"per_outcome","unit_amount":0.99}]}`, 400, "invalid", "prices[0].unit_amount"},
		{"plan: absurd exponent", "POST", "/v1/plans", "application/json", `{"plan_id":"p","currency":"USD","prices":[{"outcome_type":"a.b","model":"per_outcome","unit_amount":"1e999999999"}]}`, 400, "invalid", ""}, // known gap: no field (see below)
		{"model price: not RFC 3339", "PUT", "/v1/model-prices/m1", "application/json", `{"effective_from":"01/02/2026","input_per_mtok":"1","output_per_mtok":"1"}`, 400, "invalid", ""},                              // known gap
		{"invoice run: not RFC 3339", "POST", "/v1/invoice-runs", "application/json", `{"customer_id":"acme","period_start":"2026-01-01","period_end":"2026-02-01"}`, 400, "invalid", ""},                              // known gap
		{"task: SQL in path", "GET", "/v1/tasks/x'%20OR%20'1'='1", "", "", 404, "not_found", ""},
	}
	// Known gap: a value whose own JSON decoding fails (a time not in RFC 3339, a decimal with an
	// exponent beyond the decimal library's limit) outside the events endpoint is refused as
	// invalid, but without the field, because encoding/json does not say which field an
	// UnmarshalJSON error came from. The three cases above pin today's answer.
	for _, r := range requests {
		got := h.doRaw(r.method, r.path, h.admin, r.contentType, r.body)
		if got.Status != r.status {
			t.Errorf("%s: status %d, want %d (%.300s)", r.name, got.Status, r.status, got.Body)
			continue
		}
		if code, field := got.errorCode(t); code != r.code || field != r.field {
			t.Errorf("%s: error %s/%q, want %s/%q (%s)", r.name, code, field, r.code, r.field, got.Body)
		}
	}

	// Events refused one by one inside a 200 batch: status rejected, code and field.
	events := []struct {
		name  string
		event any
		code  string
		field string
	}{
		{"unknown field", start(map[string]any{"colour": "red"}), "invalid", "colour"},
		{"field of another type", start(map[string]any{"reason": "x"}), "invalid", "reason"},
		{"id as a number", start(map[string]any{"id": 7}), "invalid", "id"},
		{"id missing", start(map[string]any{"id": nil}), "invalid", "id"},
		{"SQL in id", start(map[string]any{"id": "x'; DROP TABLE events; --"}), "invalid", "id"},
		{"HTML in task_id", start(map[string]any{"task_id": "<script>alert(1)</script>"}), "invalid", "task_id"},
		{"SQL in customer_id", start(map[string]any{"customer_id": "acme' OR '1'='1"}), "invalid", "customer_id"},
		{"unknown customer", start(map[string]any{"customer_id": "nobody"}), "invalid", "customer_id"},
		{"unknown outcome type", start(map[string]any{"outcome_type": "support.unknown"}), "invalid", "outcome_type"},
		{"malformed outcome type", start(map[string]any{"outcome_type": "Support Ticket"}), "invalid", "outcome_type"},
		{"unknown event type", start(map[string]any{"type": "task.finished"}), "invalid", "type"},
		{"bad priority", start(map[string]any{"priority": "asap"}), "invalid", "priority"},
		{"metadata not an object", start(map[string]any{"metadata": []int{1}}), "invalid", "metadata"},
		{"metadata over 8 KiB", start(map[string]any{"metadata": map[string]any{"x": strings.Repeat("a", 9000)}}), "invalid", "metadata"},
		{"transaction amount as number", start(map[string]any{"metadata": map[string]any{"transaction_amount": 12.5}}), "invalid", "metadata.transaction_amount"},
		{"negative transaction amount", start(map[string]any{"metadata": map[string]any{"transaction_amount": "-1"}}), "invalid", "metadata.transaction_amount"},
		{"occurred_at missing", start(map[string]any{"occurred_at": nil}), "invalid", "occurred_at"},
		{"occurred_at as unix number", start(map[string]any{"occurred_at": now.Unix()}), "invalid", "occurred_at"},
		{"occurred_at as unix string", start(map[string]any{"occurred_at": fmt.Sprint(now.Unix())}), "invalid", "occurred_at"},
		{"occurred_at without zone", start(map[string]any{"occurred_at": "2026-11-20T10:00:00"}), "invalid", "occurred_at"},
		{"occurred_at with a space", start(map[string]any{"occurred_at": "2026-11-20 10:00:00Z"}), "invalid", "occurred_at"},
		{"occurred_at as a date", start(map[string]any{"occurred_at": "2026-11-20"}), "invalid", "occurred_at"},
		{"occurred_at in RFC 1123", start(map[string]any{"occurred_at": now.Format(time.RFC1123)}), "invalid", "occurred_at"},
		{"occurred_at 31 February", start(map[string]any{"occurred_at": "2026-02-31T10:00:00Z"}), "invalid", "occurred_at"},
		{"negative tokens", usage(map[string]any{"input_tokens": -1}), "invalid", "input_tokens"},
		{"absurd tokens", usage(map[string]any{"output_tokens": 100_000_001}), "invalid", "output_tokens"},
		{"tokens beyond int64", usage(map[string]any{"input_tokens": json.Number("100000000000000000000000")}), "invalid", "input_tokens"},
		{"fractional tokens", usage(map[string]any{"reasoning_tokens": 1.5}), "invalid", "reasoning_tokens"},
		{"tokens as string", usage(map[string]any{"input_tokens": "10"}), "invalid", "input_tokens"},
		{"tokens missing", usage(map[string]any{"output_tokens": nil}), "invalid", "output_tokens"},
		{"SQL in model", usage(map[string]any{"model": "gpt'; DROP TABLE model_prices; --"}), "invalid", "model"},
		{"cost and tokens", usage(map[string]any{"cost": "0.1"}), "invalid", "cost"},
		{"negative cost", usage(map[string]any{"model": nil, "input_tokens": nil, "output_tokens": nil, "cost": "-0.01", "description": "gpu"}), "invalid", "cost"},
		{"cost with exponent", usage(map[string]any{"model": nil, "input_tokens": nil, "output_tokens": nil, "cost": "1e3", "description": "gpu"}), "invalid", "cost"},
		{"absurd cost", usage(map[string]any{"model": nil, "input_tokens": nil, "output_tokens": nil, "cost": "1000000.01", "description": "gpu"}), "invalid", "cost"},
		{"cost as number", usage(map[string]any{"model": nil, "input_tokens": nil, "output_tokens": nil, "cost": 0.5, "description": "gpu"}), "invalid", "cost"},
		{"description over 2,000 bytes", usage(map[string]any{"description": strings.Repeat("x", 2001)}), "invalid", "description"},
		{"bad status", outcome(map[string]any{"status": "won"}), "invalid", "status"},
		{"quality above 1", outcome(map[string]any{"quality": 1.5}), "invalid", "quality"},
		{"negative quality", outcome(map[string]any{"quality": -0.1}), "invalid", "quality"},
		{"quality as a string", outcome(map[string]any{"quality": "0.9"}), "invalid", "quality"},
		{"NUL in evidence", outcome(map[string]any{"evidence": "a\x00b"}), "invalid", "evidence"},
		{"dispute without reason", start(map[string]any{"type": "task.disputed", "outcome_type": nil}), "invalid", "reason"},
	}
	for _, e := range events {
		got := h.do("POST", "/v1/events", ingest, map[string]any{"events": []any{e.event}})
		if got.Status != 200 {
			t.Errorf("%s: status %d (%s)", e.name, got.Status, got.Body)
			continue
		}
		res := got.json(t)["results"].([]any)[0].(map[string]any)
		errObj, _ := res["error"].(map[string]any)
		if res["status"] != "rejected" || errObj["code"] != e.code || errObj["field"] != e.field || errObj["message"] == "" {
			t.Errorf("%s: %v, want rejected %s/%s with a message", e.name, res, e.code, e.field)
		}
	}
	// A batch mixing good and bad events: the bad one is rejected alone, in input order.
	good, bad := start(nil), start(map[string]any{"customer_id": "nobody"})
	mixed := h.do("POST", "/v1/events", ingest, map[string]any{"events": []any{good, bad}})
	res := mixed.json(t)["results"].([]any)
	if res[0].(map[string]any)["status"] != "accepted" || res[1].(map[string]any)["status"] != "rejected" {
		t.Errorf("mixed batch: %s", mixed.Body)
	}
	// The accepted event of the mixed batch writes its event and its id's key, task and its key,
	// outbox row and the marker that the economics views must refresh; nothing else may change.
	after := tableHashes(t, h)
	var changed []string
	for tbl, s := range after {
		if before[tbl] != s && tbl != "events" && tbl != "event_keys" && tbl != "tasks" && tbl != "task_keys" && tbl != "outbox" && tbl != "economics_dirty" {
			changed = append(changed, tbl)
		}
	}
	var events2, outbox, tasks int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox), (SELECT count(*) FROM tasks)`).
		Scan(&events2, &outbox, &tasks); err != nil {
		t.Fatal(err)
	}
	if len(changed) > 0 || events2 != 1 || outbox != 1 || tasks != 1 {
		t.Errorf("bad input changed tables %v; events %d outbox %d tasks %d, want only the mixed batch's good event", changed, events2, outbox, tasks)
	}
	t.Logf("figures: bad input catalogue; %d refused requests, %d refused events (+1 in a mixed batch), %d tables unchanged",
		len(requests), len(events), len(after))
}

// Injection strings in every free-text field are data: accepted, stored as text, shown back
// verbatim as JSON, and the tables they name are still there.
func TestInjectionStringsAreData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setupBilling(t, h, 0)
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for i, s := range injections {
		id := fmt.Sprintf("inj-%d", i)
		r := h.do("POST", "/v1/customers", h.admin, map[string]any{"customer_id": id, "name": s, "currency": "USD"})
		if r.Status != http.StatusCreated || r.json(t)["name"] != s {
			t.Errorf("customer name %q: %d %s", s, r.Status, r.Body)
		}
		if r := h.do("GET", "/v1/customers/"+id, h.admin, nil); r.json(t)["name"] != s {
			t.Errorf("customer name %q read back as %s", s, r.Body)
		}
		if r := h.do("PUT", "/v1/outcome-types/inj.t"+fmt.Sprint(i), h.admin, map[string]any{"name": s, "baseline": ticket["baseline"]}); r.Status != http.StatusCreated || r.json(t)["name"] != s {
			t.Errorf("outcome type name %q: %d %s", s, r.Status, r.Body)
		}
		if r := h.do("POST", "/v1/api-keys", h.admin, map[string]any{"name": s, "scopes": []string{"ingest"}}); r.Status != http.StatusCreated || r.json(t)["name"] != s {
			t.Errorf("key name %q: %d %s", s, r.Status, r.Body)
		}
		task := "inj-task-" + fmt.Sprint(i)
		batch := []any{
			map[string]any{"id": task + "-s", "type": "task.started", "customer_id": "acme", "task_id": task, "occurred_at": at,
				"outcome_type": "support.ticket_resolved", "metadata": map[string]any{"note": s}},
			map[string]any{"id": task + "-u", "type": "task.usage", "customer_id": "acme", "task_id": task, "occurred_at": at,
				"cost": "0.01", "description": s},
			map[string]any{"id": task + "-o", "type": "task.outcome", "customer_id": "acme", "task_id": task, "occurred_at": at,
				"status": "succeeded", "evidence": s},
			map[string]any{"id": task + "-d", "type": "task.disputed", "customer_id": "acme", "task_id": task, "occurred_at": at, "reason": s},
		}
		r = h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch})
		for _, res := range r.json(t)["results"].([]any) {
			if res.(map[string]any)["status"] != "accepted" {
				t.Errorf("events with %q: %s", s, r.Body)
			}
		}
		r = h.do("GET", "/v1/tasks/"+task, h.admin, nil)
		shown := map[string]string{}
		for _, e := range r.json(t)["events"].([]any) {
			body := e.(map[string]any)["event"].(map[string]any)
			for _, f := range []string{"description", "evidence", "reason"} {
				if v, ok := body[f].(string); ok {
					shown[f] = v
				}
			}
			if m, ok := body["metadata"].(map[string]any); ok {
				shown["metadata.note"], _ = m["note"].(string)
			}
		}
		for _, f := range []string{"description", "evidence", "reason", "metadata.note"} {
			if shown[f] != s {
				t.Errorf("%s %q shown back as %q", f, s, shown[f])
			}
		}
		if strings.Contains(string(r.Body), "<script>") {
			t.Errorf("raw <script> in a JSON response: HTML-significant characters should be escaped")
		}
	}
	var customers, events int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM events)`).Scan(&customers, &events); err != nil {
		t.Fatal(err)
	}
	if customers != len(injections)+1 || events != 4*len(injections) {
		t.Errorf("%d customers, %d events after the injections, want %d and %d", customers, events, len(injections)+1, 4*len(injections))
	}
	t.Logf("figures: %d injection strings × 8 free-text fields (customer, outcome type and key names; metadata, description, evidence, reason) stored and shown back verbatim",
		len(injections))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
