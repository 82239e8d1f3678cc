package e2e_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/webhook"
)

// hookBodies decodes the requests a receiver got.
func hookBodies(t *testing.T, rcv *hookReceiver, secret string) []struct {
	Type string
	Data map[string]any
} {
	t.Helper()
	var out []struct {
		Type string
		Data map[string]any
	}
	for _, r := range rcv.requests() {
		if err := webhook.Verify(secret, r.header, r.body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		var b struct {
			Type string
			Data map[string]any
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// waitRequests waits until a receiver got n requests, then a moment more for any it should not.
func waitRequests(t *testing.T, rcv *hookReceiver, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(rcv.requests()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook requests, want %d", len(rcv.requests()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // room for one too many, if there were one
}

// A margin floor is watched as tasks bill, without an invoice run: bad alerts are refused with
// their field, a task that costs more than it earns pushes the open period's margin below the
// floor and margin.below_floor arrives, signed, once — however many more such tasks bill in the
// period — and the firing is listed for finance.
func TestMarginFloorAlertAsTasksBill(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	rcv := newHookReceiver(t, 0)
	r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": rcv.URL, "events": []string{"margin.below_floor"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	secret := r.json(t)["secret"].(string)

	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"floor above 100%", map[string]any{"kind": "margin_floor", "threshold": "150"}, "threshold"},
		{"negative floor", map[string]any{"kind": "margin_floor", "threshold": "-5"}, "threshold"},
		{"not a number", map[string]any{"kind": "margin_floor", "threshold": "lots"}, "threshold"},
		{"unknown kind", map[string]any{"kind": "margin", "threshold": "20"}, "kind"},
	} {
		r := h.do("POST", "/v1/customers/acme/alerts", h.admin, tc.body)
		if code, field := r.errorCode(t); r.Status != http.StatusBadRequest || code != "invalid" || field != tc.field {
			t.Errorf("%s: %d %s %s, want 400 invalid %s", tc.name, r.Status, code, field, tc.field)
		}
	}
	if r := h.do("GET", "/v1/customers/acme/alerts", h.admin, nil); len(r.json(t)["data"].([]any)) != 0 {
		t.Fatalf("refused alerts were stored: %s", r.Body)
	}
	r = h.do("POST", "/v1/customers/acme/alerts", h.admin, map[string]any{"kind": "margin_floor", "threshold": "30"})
	if r.Status != http.StatusCreated {
		t.Fatalf("alert: %d %s", r.Status, r.Body)
	}
	alert := r.json(t)
	if alert["threshold_percent"] != "30" || alert["threshold"] != nil {
		t.Errorf("a margin floor is a percentage: %s", r.Body)
	}

	// Cheap tasks: 49.00 + 0.99 a task against fractions of a cent of tokens, far above 30%.
	at := time.Now().Add(-time.Hour)
	billTasks(t, h, uniq(), 1, at)
	time.Sleep(500 * time.Millisecond)
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("%d webhooks while the margin was above the floor", n)
	}
	// Two tasks whose tools cost 60 USD each: the first takes the margin below the floor.
	for _, cost := range []string{"60", "60"} {
		task := "dear-" + uniq()
		batch := []any{
			ev(task+"-s", "task.started", task, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
			ev(task+"-u", "task.usage", task, at.Add(time.Minute), map[string]any{"cost": cost, "description": "GPU minutes"}),
			ev(task+"-o", "task.outcome", task, at.Add(2*time.Minute), map[string]any{"status": "succeeded"}),
		}
		if r := h.do("POST", "/v1/events", h.admin, map[string]any{"events": batch}); r.Status != 200 {
			t.Fatalf("events: %d %s", r.Status, r.Body)
		}
		waitTasks(t, h.db, map[string]string{task: "billable"}, 30*time.Second)
	}
	waitRequests(t, rcv, 1)
	got := hookBodies(t, rcv, secret)
	if len(got) != 1 {
		t.Fatalf("%d margin.below_floor webhooks, want 1", len(got))
	}
	d := got[0].Data
	if got[0].Type != "margin.below_floor" || d["alert_id"] != alert["id"] || d["floor_percent"] != "30" || d["basis"] != "period_to_date" ||
		d["customer_id"] != "acme" || d["currency"] != "USD" {
		t.Errorf("webhook %+v", got[0])
	}
	// Revenue is 49.00 and 0.99 per billed task (two or three by the time it was rated); the
	// margin is negative either way.
	if p, err := json.Number(d["margin_percent"].(string)).Float64(); err != nil || p >= 0 {
		t.Errorf("margin_percent %v", d["margin_percent"])
	}

	finance := h.key("finance")
	r = h.do("GET", "/v1/alert-firings?customer_id=acme&kind=margin_floor", finance, nil)
	if r.Status != 200 {
		t.Fatalf("alert firings: %d %s", r.Status, r.Body)
	}
	firings := r.json(t)["data"].([]any)
	if len(firings) != 1 {
		t.Fatalf("firings %s", r.Body)
	}
	f := firings[0].(map[string]any)
	if f["event"] != "margin.below_floor" || f["value"] != d["margin_percent"] || f["threshold"] != "30" || f["period_end"] == nil {
		t.Errorf("firing %v", f)
	}
	if r := h.do("GET", "/v1/alert-firings", h.key("ingest"), nil); r.Status != http.StatusForbidden {
		t.Errorf("ingest key read alert firings: %d", r.Status)
	}
	if r := h.do("GET", "/v1/alert-firings?kind=loud", finance, nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad kind: %d %s", r.Status, r.Body)
	}
}

// Prepaid grants with credit left announce their expiry a week before (the default), once each,
// without anything billing; a grant further off stays quiet.
func TestCreditsExpiringWebhook(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	rcv := newHookReceiver(t, 0)
	r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": rcv.URL, "events": []string{"credits.expiring"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	secret := r.json(t)["secret"].(string)
	now := time.Now().UTC().Truncate(time.Second)
	for id, in := range map[string]time.Duration{"soon": 3 * 24 * time.Hour, "sooner": 30 * time.Hour, "later": 30 * 24 * time.Hour} {
		r := h.do("POST", "/v1/customers/acme/credits", h.admin, map[string]any{"grant_id": id,
			"amount": map[string]any{"amount": "500", "currency": "USD"}, "price_paid": map[string]any{"amount": "400", "currency": "USD"},
			"expires_at": now.Add(in).Format(time.RFC3339)})
		if r.Status != http.StatusCreated {
			t.Fatalf("grant %s: %d %s", id, r.Status, r.Body)
		}
	}
	runWorker(t, h, addr)
	waitRequests(t, rcv, 2)
	got := hookBodies(t, rcv, secret)
	if len(got) != 2 {
		t.Fatalf("%d credits.expiring webhooks, want 2", len(got))
	}
	seen := map[string]bool{}
	for _, b := range got {
		id, _ := b.Data["grant_id"].(string)
		seen[id] = true
		if b.Type != "credits.expiring" || b.Data["customer_id"] != "acme" || b.Data["remaining"] != "500.00" || b.Data["notice_days"] != 7.0 {
			t.Errorf("webhook %+v", b)
		}
	}
	if !seen["soon"] || !seen["sooner"] {
		t.Errorf("notified %v, want soon and sooner", seen)
	}
}
