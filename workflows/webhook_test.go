package workflows

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/webhook"
)

// hookStore is a WebhookStore in memory for one delivery.
type hookStore struct {
	mu       sync.Mutex
	msg      billing.WebhookMessage
	attempts []billing.WebhookAttempt
	failed   string
}

func (s *hookStore) ClaimWebhookDeliveries(context.Context, int, time.Duration) ([]billing.WebhookDispatch, error) {
	return nil, nil
}
func (s *hookStore) MarkWebhookDispatched(context.Context, []string) error { return nil }
func (s *hookStore) WebhookMessage(_ context.Context, id string) (billing.WebhookMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.msg.DeliveryID {
		return billing.WebhookMessage{}, billing.NotFound("webhook delivery", id)
	}
	return s.msg, nil
}
func (s *hookStore) RecordWebhookAttempt(_ context.Context, _ string, a billing.WebhookAttempt, delivered bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, a)
	if delivered {
		s.msg.Status = billing.DeliveryDelivered
	}
	return nil
}
func (s *hookStore) FailWebhookDelivery(_ context.Context, _ string, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msg.Status, s.failed = billing.DeliveryFailed, reason
	return nil
}

// receiver answers each request with the next status of a script (its last one from then on) and
// keeps the requests.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   [][]byte
}

func (r *receiver) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	r.requests, r.bodies = append(r.requests, req), append(r.bodies, body)
	code := r.statuses[min(len(r.requests), len(r.statuses))-1]
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
}

var hookStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func hookEnv(t *testing.T, statuses ...int) (*testsuite.TestWorkflowEnvironment, *hookStore, *receiver) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(hookStart)
	store := &hookStore{msg: billing.WebhookMessage{DeliveryID: "whd_1", URL: "https://hooks.example.com/in", Secret: "whsec_x",
		Body: []byte(`{"id":"evt_1","type":"invoice.finalized","created_at":"2026-03-01T12:00:00Z","data":{}}`), Status: billing.DeliveryPending}}
	rcv := &receiver{statuses: statuses}
	RegisterWebhooks(env, &WebhookActivities{Store: store, HTTP: &http.Client{Transport: rcv}})
	return env, store, rcv
}

// A receiver that fails three times and then answers 2xx gets four requests with the same
// Webhook-Id, each signed, spaced by the doubling backoff; the delivery ends delivered.
func TestWebhookDeliveryRetriesWithBackoff(t *testing.T) {
	env, store, rcv := hookEnv(t, 500, 503, 500, 204)
	retry := WebhookRetry{InitialInterval: 10 * time.Second, MaximumInterval: time.Hour, MaximumAttempts: 10}
	env.ExecuteWorkflow(WebhookDeliveryWorkflow, WebhookDeliveryInput{DeliveryID: "whd_1", Retry: retry})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var status billing.DeliveryStatus
	if err := env.GetWorkflowResult(&status); err != nil || status != billing.DeliveryDelivered {
		t.Fatalf("status = %q, %v", status, err)
	}
	if len(rcv.requests) != 4 || len(store.attempts) != 4 {
		t.Fatalf("requests %d, attempts logged %d; want 4", len(rcv.requests), len(store.attempts))
	}
	for i, req := range rcv.requests {
		if req.Header.Get(webhook.HeaderID) != "whd_1" {
			t.Errorf("attempt %d: Webhook-Id %q", i+1, req.Header.Get(webhook.HeaderID))
		}
		ts := time.Unix(mustAtoi(t, req.Header.Get(webhook.HeaderTimestamp)), 0)
		if err := webhook.Verify("whsec_x", req.Header, rcv.bodies[i], ts, time.Second); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	for i, want := range []int{500, 503, 500, 204} {
		if store.attempts[i].StatusCode != want || (want == 204) != (store.attempts[i].Error == "") {
			t.Errorf("attempt %d logged as %+v", i+1, store.attempts[i])
		}
	}
	// Backoff 10 s, 20 s, 40 s on the workflow clock.
	if waited := env.Now().Sub(hookStart); waited < 70*time.Second || waited > 80*time.Second {
		t.Errorf("the retries took %s of workflow time, want 70 s (10 + 20 + 40)", waited)
	}
}

// Attempts stop at MaximumAttempts, the interval capped at MaximumInterval, and the delivery is
// marked failed with the last error.
func TestWebhookDeliveryGivesUpAfterMaximumAttempts(t *testing.T) {
	env, store, rcv := hookEnv(t, 500)
	retry := WebhookRetry{InitialInterval: time.Second, MaximumInterval: 3 * time.Second, MaximumAttempts: 5}
	env.ExecuteWorkflow(WebhookDeliveryWorkflow, WebhookDeliveryInput{DeliveryID: "whd_1", Retry: retry})
	var status billing.DeliveryStatus
	if err := env.GetWorkflowResult(&status); err != nil || status != billing.DeliveryFailed {
		t.Fatalf("status = %q, %v", status, err)
	}
	if len(rcv.requests) != 5 || store.msg.Status != billing.DeliveryFailed || !strings.Contains(store.failed, "500") {
		t.Errorf("requests %d, delivery %q (%q)", len(rcv.requests), store.msg.Status, store.failed)
	}
	// 1 + 2 + 3 + 3 s.
	if waited := env.Now().Sub(hookStart); waited < 9*time.Second || waited > 15*time.Second {
		t.Errorf("the retries took %s of workflow time, want 9 s", waited)
	}
}

// A delivery to a deleted endpoint fails at once, without a request.
func TestWebhookDeliveryToDeletedEndpoint(t *testing.T) {
	env, store, rcv := hookEnv(t, 204)
	store.msg.EndpointDeleted = true
	env.ExecuteWorkflow(WebhookDeliveryWorkflow, WebhookDeliveryInput{DeliveryID: "whd_1"})
	var status billing.DeliveryStatus
	if err := env.GetWorkflowResult(&status); err != nil || status != billing.DeliveryFailed || len(rcv.requests) != 0 {
		t.Fatalf("status %q, %v, %d requests", status, err, len(rcv.requests))
	}
}

func TestDefaultWebhookRetrySpansAboutAnHour(t *testing.T) {
	r, total, wait := DefaultWebhookRetry, time.Duration(0), DefaultWebhookRetry.InitialInterval
	for range r.MaximumAttempts - 1 {
		total += wait
		wait = min(2*wait, r.MaximumInterval)
	}
	if total < 45*time.Minute || total > 75*time.Minute {
		t.Errorf("default retries span %s, want about an hour", total)
	}
	if WebhookWorkflowID(billing.WebhookDispatch{DeliveryID: "whd_1"}) != "whd_1" ||
		WebhookWorkflowID(billing.WebhookDispatch{DeliveryID: "whd_1", Redeliveries: 2}) != "whd_1:2" {
		t.Error("workflow ids")
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
