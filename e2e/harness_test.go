package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
	"github.com/outcomebill/outcomebill/workflows"
)

// harness is an API server on its own migrated database.
type harness struct {
	t     *testing.T
	db    *postgres.DB
	url   string
	admin string // a key with every vendor scope
	// runner starts invoice runs once runWorker has connected the harness to Temporal.
	runner *lateRunner
	// sims starts simulations once runWorker has connected the harness to Temporal.
	sims *lateSimulations
}

// lateSimulations is lateRunner for simulations.
type lateSimulations struct{ r *workflows.SimulationRunner }

func (l *lateSimulations) StartSimulation(ctx context.Context, req billing.SimulationRequest) (billing.Simulation, error) {
	if l.r == nil {
		return billing.Simulation{}, fmt.Errorf("this test did not start a worker")
	}
	return l.r.StartSimulation(ctx, req)
}

// lateRunner lets the API be built before a test decides whether it needs Temporal.
type lateRunner struct{ r *workflows.InvoiceRunner }

func (l *lateRunner) StartInvoiceRun(ctx context.Context, customerID string, p billing.Period) (billing.InvoiceRun, error) {
	if l.r == nil {
		return billing.InvoiceRun{}, fmt.Errorf("this test did not start a worker")
	}
	return l.r.StartInvoiceRun(ctx, customerID, p)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db := pgtest.NewDB(t)
	runner, sims := &lateRunner{}, &lateSimulations{}
	srv := httptest.NewServer(api.New(api.Config{
		SimulationRunner: sims, Simulations: db,
		Customers: db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db, Invoices: db, Plans: db, Economics: db,
		Importer: db, InvoiceRunner: runner, InvoiceRuns: db,
		Webhooks: db, WebhookAllowPrivate: true, // receivers are httptest servers on loopback
		Ready: []api.Check{{Name: "postgres", Ping: db.Ping}},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, db: db, url: srv.URL, runner: runner, sims: sims}
	h.admin = h.key("admin", "finance", "ingest")
	return h
}

// key creates a key with scopes and returns its token.
func (h *harness) key(scopes ...string) string {
	h.t.Helper()
	_, token, err := h.db.CreateAPIKey(context.Background(), "test", scopes, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return token
}

type response struct {
	Status int
	Body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return v
}

// errorCode returns error.code and error.field of an error body.
func (r response) errorCode(t *testing.T) (code, field string) {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("status %d body %s has no error object", r.Status, r.Body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// do sends a request; body may be nil, a string (sent as is) or a value (sent as JSON).
func (h *harness) do(method, path, key string, body any) response {
	h.t.Helper()
	var raw string
	switch b := body.(type) {
	case nil:
		return h.doRaw(method, path, key, "", "")
	case string:
		raw = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		raw = string(enc)
	}
	return h.doRaw(method, path, key, "application/json", raw)
}

// doRaw sends body with the given content type ("" sends no body) and key ("" sends none).
func (h *harness) doRaw(method, path, key, contentType, body string) response {
	h.t.Helper()
	var rd io.Reader
	if contentType != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Body: b}
}
