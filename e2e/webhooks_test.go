package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/webhook"
)

// hookReceiver is a vendor's webhook endpoint: it answers 500 to its first failFirst requests and
// 200 afterwards, and keeps every request it got.
type hookReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	got       []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T, failFirst int) *hookReceiver {
	r := &hookReceiver{failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookRequest{req.Header.Clone(), body})
		n := len(r.got)
		r.mu.Unlock()
		if n <= r.failFirst {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.got...)
}

// waitDelivery polls a delivery until it has status and at least attempts attempts.
func waitDelivery(t *testing.T, h *harness, id, status string, attempts int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.do("GET", "/v1/webhook-deliveries/"+id, h.admin, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("delivery %s: %d %s", id, r.Status, r.Body)
		}
		d := r.json(t)
		if d["status"] == status && int(d["attempts"].(float64)) >= attempts {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is %s", id, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDeliveries polls the delivery log of an endpoint until it has n deliveries.
func waitDeliveries(t *testing.T, h *harness, endpointID string, n int) []any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.do("GET", "/v1/webhook-deliveries?endpoint_id="+endpointID, h.admin, nil)
		list, _ := r.json(t)["data"].([]any)
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s has %d deliveries, want %d: %s", endpointID, len(list), n, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A task that becomes billable reaches the vendor's endpoint: signed, retried with backoff through
// three failures under one Webhook-Id, marked delivered once, and sent again on redelivery.
func TestWebhookDeliveredThroughFailures(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	setupBilling(t, h, 0)
	runWorker(t, h, addr)
	rcv := newHookReceiver(t, 3)

	// Registration: admin only, http(s) only, the secret shown once.
	if r := h.do("POST", "/v1/webhook-endpoints", h.key("finance"), map[string]any{"url": rcv.URL}); r.Status != http.StatusForbidden {
		t.Errorf("finance key registered an endpoint: %d", r.Status)
	}
	if r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": "ftp://example.com/"}); r.Status != http.StatusBadRequest {
		t.Errorf("ftp endpoint: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": rcv.URL, "events": []string{"task.started"}}); r.Status != http.StatusBadRequest {
		t.Errorf("unknown event type: %d %s", r.Status, r.Body)
	}
	r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": rcv.URL, "events": []string{"task.billable"}, "description": "billing system"})
	if r.Status != http.StatusCreated {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	ep := r.json(t)
	secret, _ := ep["secret"].(string)
	epID := ep["id"].(string)
	if secret == "" {
		t.Fatalf("no secret in %s", r.Body)
	}
	if r := h.do("GET", "/v1/webhook-endpoints", h.admin, nil); r.Status != 200 || strings.Contains(string(r.Body), secret) {
		t.Errorf("the endpoint list shows the secret: %s", r.Body)
	}

	p := uniq()
	at := time.Now().Add(-time.Minute)
	batch := map[string]any{"events": []any{
		ev(p+"-s", "task.started", "T-"+p, at, map[string]any{"outcome_type": "support.ticket_resolved"}),
		ev(p+"-o", "task.outcome", "T-"+p, at.Add(time.Second), map[string]any{"status": "succeeded"}),
	}}
	if r := h.do("POST", "/v1/events", h.admin, batch); r.Status != 200 {
		t.Fatalf("events: %d %s", r.Status, r.Body)
	}
	list := waitDeliveries(t, h, epID, 1)
	id := list[0].(map[string]any)["id"].(string)
	d := waitDelivery(t, h, id, "delivered", 4)

	got := rcv.requests()
	if len(got) != 4 || int(d["attempts"].(float64)) != 4 || d["last_status_code"] != float64(200) {
		t.Fatalf("receiver saw %d requests; delivery %v", len(got), d)
	}
	log, _ := d["attempt_log"].([]any)
	if len(log) != 4 || log[0].(map[string]any)["status_code"] != float64(500) || log[3].(map[string]any)["status_code"] != float64(200) {
		t.Errorf("attempt log = %v", log)
	}
	var first time.Time
	for i, req := range got {
		if req.header.Get("Webhook-Id") != id {
			t.Errorf("request %d: Webhook-Id %q, want the delivery id %s", i+1, req.header.Get("Webhook-Id"), id)
		}
		if err := webhook.Verify(secret, req.header, req.body, time.Now(), 0); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		sec, _ := strconv.ParseInt(req.header.Get("Webhook-Timestamp"), 10, 64)
		if i == 0 {
			first = time.Unix(sec, 0)
		}
	}
	var body struct {
		ID, Type  string
		CreatedAt time.Time `json:"created_at"`
		Data      struct {
			TaskID     string `json:"task_id"`
			CustomerID string `json:"customer_id"`
			Status     string `json:"status"`
		}
	}
	if err := json.Unmarshal(got[3].body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "task.billable" || body.ID != d["event_id"] || body.Data.TaskID != "T-"+p || body.Data.Status != "billable" || body.CreatedAt.IsZero() {
		t.Errorf("body = %s", got[3].body)
	}

	// What a receiver refuses: another secret, a changed body, a stale timestamp.
	req := got[3]
	if err := webhook.Verify("whsec_forged", req.header, req.body, time.Now(), 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("forged secret: %v", err)
	}
	if err := webhook.Verify(secret, req.header, append([]byte(`{"x":1}`), req.body...), time.Now(), 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	forged := req.header.Clone()
	forged.Set("Webhook-Signature", webhook.Signature("whsec_forged", time.Now(), req.body))
	if err := webhook.Verify(secret, forged, req.body, time.Now(), 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("forged signature: %v", err)
	}
	if err := webhook.Verify(secret, got[0].header, got[0].body, first.Add(10*time.Minute), 5*time.Minute); !errors.Is(err, webhook.ErrStale) {
		t.Errorf("replayed 10 minutes later: %v", err)
	}

	// Redelivery: the same Webhook-Id and body once more; the delivery ends delivered again.
	if r := h.do("POST", "/v1/webhook-deliveries/"+id+"/redeliver", h.admin, nil); r.Status != 200 || r.json(t)["status"] != "pending" {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	waitDelivery(t, h, id, "delivered", 5)
	got = rcv.requests()
	if len(got) != 5 || got[4].header.Get("Webhook-Id") != id || string(got[4].body) != string(got[3].body) {
		t.Errorf("redelivery: %d requests, last Webhook-Id %q", len(got), got[len(got)-1].header.Get("Webhook-Id"))
	}
	if r := h.do("POST", "/v1/webhook-deliveries/whd_nope/redeliver", h.admin, nil); r.Status != http.StatusNotFound {
		t.Errorf("redeliver unknown: %d", r.Status)
	}

	if r := h.do("DELETE", "/v1/webhook-endpoints/"+epID, h.admin, nil); r.Status != 200 {
		t.Fatalf("delete endpoint: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/webhook-deliveries/"+id+"/redeliver", h.admin, nil); r.Status != http.StatusConflict {
		t.Errorf("redeliver to a deleted endpoint: %d %s", r.Status, r.Body)
	}
}

// A spend alert evaluated at every draft build fires once for the period, and its webhook arrives
// once.
func TestAlertFiresOncePerPeriod(t *testing.T) {
	t.Parallel()
	addr := servicetest.TemporalAddress(t)
	h := newHarness(t)
	runWorker(t, h, addr)
	invoiceSetup(t, h) // acme's March draft: 49.00 + 2.5 × 0.99 = 51.48
	rcv := newHookReceiver(t, 0)
	r := h.do("POST", "/v1/webhook-endpoints", h.admin, map[string]any{"url": rcv.URL, "events": []string{"spend.threshold_reached"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	secret, epID := r.json(t)["secret"].(string), r.json(t)["id"].(string)
	if r := h.do("POST", "/v1/customers/acme/alerts", h.admin, map[string]any{"kind": "margin_floor", "threshold": "120"}); r.Status != http.StatusBadRequest {
		t.Errorf("margin_floor alert above 100%%: %d %s", r.Status, r.Body)
	}
	r = h.do("POST", "/v1/customers/acme/alerts", h.admin, map[string]any{"kind": "spend", "threshold": "50"})
	if r.Status != http.StatusCreated {
		t.Fatalf("alert: %d %s", r.Status, r.Body)
	}
	alertID := r.json(t)["id"].(string)
	if th := r.json(t)["threshold"].(map[string]any); th["amount"] != "50.00" || th["currency"] != "USD" {
		t.Errorf("threshold = %v", th)
	}

	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 5 {
		if _, err := h.db.BuildDraft(context.Background(), "acme", from, from.AddDate(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	list := waitDeliveries(t, h, epID, 1)
	waitDelivery(t, h, list[0].(map[string]any)["id"].(string), "delivered", 1)
	time.Sleep(500 * time.Millisecond) // room for a second one to show up, if there were one
	got := rcv.requests()
	if list := waitDeliveries(t, h, epID, 1); len(list) != 1 || len(got) != 1 {
		t.Fatalf("%d deliveries, %d requests; want one of each", len(list), len(got))
	}
	if err := webhook.Verify(secret, got[0].header, got[0].body, time.Now(), 0); err != nil {
		t.Error(err)
	}
	var body struct {
		Type string
		Data map[string]any
	}
	if err := json.Unmarshal(got[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "spend.threshold_reached" || body.Data["alert_id"] != alertID || body.Data["value"] != "51.48" ||
		body.Data["threshold"] != "50.00" || body.Data["period_start"] != "2026-03-01T00:00:00Z" {
		t.Errorf("body = %s", got[0].body)
	}
	if r := h.do("GET", "/v1/customers/acme/alerts", h.admin, nil); r.Status != 200 || len(r.json(t)["data"].([]any)) != 1 {
		t.Errorf("alerts: %d %s", r.Status, r.Body)
	}
	if r := h.do("DELETE", "/v1/customers/acme/alerts/"+alertID, h.admin, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete alert: %d %s", r.Status, r.Body)
	}
}
