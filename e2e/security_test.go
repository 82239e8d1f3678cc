package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server's handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// failingEvents is an event store whose database is gone, so that the API logs an internal error.
type failingEvents struct{}

func (failingEvents) IngestEvents(context.Context, []billing.IncomingEvent) ([]billing.IngestResult, error) {
	return nil, errors.New("ingest: connection refused")
}

// API keys never reach the log: not from the Authorization header (valid, revoked, wrong secret),
// not from a query string, not from a body field that happens to hold one, and not when a
// request fails with an internal error, which is logged. Not parallel: it swaps the default
// slog logger, which the API's error path writes to, and parallel tests wait until it is done.
func TestKeysNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(prev) })

	db := pgtest.NewDB(t)
	cfg := api.Config{Customers: db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db, Invoices: db, Plans: db,
		Economics: db, InvoiceRunner: &lateRunner{}, InvoiceRuns: db, Ready: []api.Check{{Name: "postgres", Ping: db.Ping}}, Log: logger}
	srv := httptest.NewServer(api.New(cfg))
	t.Cleanup(srv.Close)
	broken := cfg
	broken.Events = failingEvents{}
	brokenSrv := httptest.NewServer(api.New(broken))
	t.Cleanup(brokenSrv.Close)

	h := &harness{t: t, db: db, url: srv.URL, runner: &lateRunner{}}
	h.admin = h.key("admin", "finance", "ingest")
	k, revoked, err := db.CreateAPIKey(context.Background(), "old", []string{"admin"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeAPIKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	wrongSecret := h.admin[:len(h.admin)-52] + strings.Repeat("z", 52)
	secrets := map[string]string{"admin": h.admin, "revoked": revoked, "wrong secret": wrongSecret}

	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if r := h.do("POST", "/v1/customers", h.admin, map[string]any{"customer_id": "acme", "name": h.admin, "currency": "USD"}); r.Status != 201 {
		t.Fatalf("customer: %d %s", r.Status, r.Body)
	}
	h.do("GET", "/v1/customers?api_key="+h.admin, h.admin, nil)
	h.do("GET", "/v1/customers/acme", revoked, nil)
	h.do("GET", "/v1/customers/acme", wrongSecret, nil)
	h.doRaw("GET", "/v1/customers", "", "", "")
	event := map[string]any{"events": []any{map[string]any{"id": "e1", "type": "task.usage", "customer_id": "acme", "task_id": "t1",
		"occurred_at": at, "cost": "0.01", "description": "key " + h.admin}}}
	h.do("POST", "/v1/events", h.admin, event)
	h.do("POST", "/v1/events", h.admin, map[string]any{"events": []any{map[string]any{"id": h.admin}}})
	hb := &harness{t: t, db: db, url: brokenSrv.URL, admin: h.admin}
	if r := hb.do("POST", "/v1/events", h.admin, event); r.Status != 500 || strings.Contains(string(r.Body), "connection refused") {
		t.Errorf("internal error: %d %s, want 500 with a generic message", r.Status, r.Body)
	}

	out := logs.String()
	if !strings.Contains(out, "request failed") || strings.Count(out, "msg=http") < 8 {
		t.Fatalf("the log did not capture the requests:\n%s", out)
	}
	for name, token := range secrets {
		secret := token[len(token)-52:]
		if strings.Contains(out, token) || strings.Contains(out, secret) {
			t.Errorf("the %s key's token or secret is in the log", name)
		}
	}
	t.Logf("figures: %d log lines captured over 9 requests carrying keys; 0 contain a token or secret", strings.Count(out, "\n"))
}
