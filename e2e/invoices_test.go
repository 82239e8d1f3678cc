package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// invoiceSetup gives acme and globex a month of resolved tickets on a plan of 49.00 a month plus
// 0.99 a ticket, builds both drafts and returns their ids.
func invoiceSetup(t *testing.T, h *harness) (acmeInv, globexInv string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []map[string]any{acme, {"customer_id": "globex", "name": "Globex", "currency": "USD"}} {
		if r := h.do("POST", "/v1/customers", h.admin, c); r.Status != http.StatusCreated {
			t.Fatalf("customer: %d %s", r.Status, r.Body)
		}
	}
	if r := h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, ticket); r.Status != http.StatusCreated {
		t.Fatalf("outcome type: %d %s", r.Status, r.Body)
	}
	fee, unit := decimal.RequireFromString("49"), decimal.RequireFromString("0.99")
	if _, _, err := h.db.CreatePlan(ctx, billing.Plan{ID: "support", Pricing: pricing.PlanVersion{Currency: "USD",
		Terms:  pricing.Terms{PlatformFee: &fee},
		Prices: []pricing.Charge{{OutcomeType: "support.ticket_resolved", Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: &unit}}}}}); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	for _, cust := range []string{"acme", "globex"} {
		if _, _, err := h.db.CreateSubscription(ctx, billing.Subscription{CustomerID: cust, PlanID: "support", StartsAt: from.AddDate(0, -1, 0)}); err != nil {
			t.Fatal(err)
		}
		for i, outcome := range []string{"succeeded", "succeeded", "partial"} {
			if _, err := h.db.Pool.Exec(ctx, `WITH k AS (INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ($1, $2, $3) RETURNING *)
				INSERT INTO tasks (task_id, customer_id, opened_at, status, outcome_type, priority, status_at, outcome)
				SELECT task_id, customer_id, opened_at, 'billable', 'support.ticket_resolved', 'normal', $3, $4 FROM k`,
				cust+"-t"+string(rune('1'+i)), cust, from.Add(time.Duration(i+1)*time.Hour), outcome); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := h.db.BuildDraft(ctx, "acme", from, to)
	if err != nil {
		t.Fatal(err)
	}
	g, err := h.db.BuildDraft(ctx, "globex", from, to)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, g.ID
}

func TestInvoiceDraftFinalizeExport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, _ := invoiceSetup(t, h)
	fin := h.key("finance")

	r := h.do("GET", "/v1/invoices?customer_id=acme&status=draft", fin, nil)
	data, _ := r.json(t)["data"].([]any)
	if r.Status != 200 || len(data) != 1 || data[0].(map[string]any)["id"] != id {
		t.Fatalf("list drafts: %d %s", r.Status, r.Body)
	}
	r = h.do("GET", "/v1/invoices/"+id, fin, nil)
	doc := r.json(t)
	lines, _ := doc["lines"].([]any)
	if r.Status != 200 || doc["status"] != "draft" || len(lines) != 2 || doc["total"].(map[string]any)["amount"] != "51.48" {
		t.Fatalf("get draft: %d %s", r.Status, r.Body)
	}
	if vs := doc["value_statement"].(map[string]any); vs["outcomes"] != float64(3) || vs["human_hours"] != "0.5" {
		t.Errorf("value statement: %v", vs)
	}

	r = h.do("POST", "/v1/invoices/"+id+"/finalize", fin, nil)
	doc = r.json(t)
	number, _ := doc["number"].(string)
	if r.Status != 200 || doc["status"] != "finalized" || !regexp.MustCompile(`^\d{4}-\d{6}$`).MatchString(number) || doc["issue_date"] == nil {
		t.Fatalf("finalize: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/invoices/"+id+"/finalize", fin, nil); r.Status != 200 || r.json(t)["number"] != number {
		t.Errorf("finalize again: %d %s; want the same invoice", r.Status, r.Body)
	}

	for _, tt := range []struct{ format, contentType, prefix string }{
		{"csv", "text/csv; charset=utf-8", "\uFEFFinvoice,line,kind"},
		{"json", "application/json; charset=utf-8", "{"},
		{"pdf", "application/pdf", "%PDF-"},
	} {
		res, body := h.raw("GET", "/v1/invoices/"+id+"/export?format="+tt.format, fin)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != tt.contentType || !bytes.HasPrefix(body, []byte(tt.prefix)) {
			t.Errorf("export %s: %d %q %q", tt.format, res.StatusCode, res.Header.Get("Content-Type"), body[:min(len(body), 40)])
		}
		if want := `attachment; filename="invoice-` + number + "." + tt.format + `"`; res.Header.Get("Content-Disposition") != want {
			t.Errorf("export %s: Content-Disposition %q, want %q", tt.format, res.Header.Get("Content-Disposition"), want)
		}
		if tt.format == "csv" {
			rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
			if err != nil || len(rows) < 4 || rows[1][0] != number {
				t.Errorf("csv: %v %v", err, rows)
			}
		}
	}
	if r := h.do("GET", "/v1/invoices/"+id+"/export?format=xml", fin, nil); r.Status != 400 {
		t.Errorf("format xml: %d", r.Status)
	}

	if r := h.do("POST", "/v1/invoices/"+id+"/void", fin, map[string]any{"reason": ""}); r.Status != 400 {
		t.Errorf("void without reason: %d %s", r.Status, r.Body)
	}
	r = h.do("POST", "/v1/invoices/"+id+"/void", fin, map[string]any{"reason": "wrong billing entity"})
	if doc := r.json(t); r.Status != 200 || doc["status"] != "void" || doc["number"] != number || doc["void_reason"] != "wrong billing entity" {
		t.Errorf("void: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/v1/invoices/"+id+"/finalize", fin, nil); r.Status != http.StatusConflict {
		t.Errorf("finalize a void invoice: %d", r.Status)
	}
	if r := h.do("GET", "/v1/credit-notes", fin, nil); r.Status != 200 {
		t.Errorf("credit notes: %d %s", r.Status, r.Body)
	}
}

// A viewer key reads its own customer's invoices and nothing else: another customer's invoice
// and an invoice that does not exist look alike (403), and it can change nothing.
func TestInvoiceAccessMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mine, theirs := invoiceSetup(t, h)
	ctx := context.Background()
	_, viewer, err := h.db.CreateViewerKey(ctx, "acme", "acme ops")
	if err != nil {
		t.Fatal(err)
	}
	fin, ingest := h.key("finance"), h.key("ingest")
	tests := []struct {
		method, path, key string
		body              any
		want              int
	}{
		{"GET", "/v1/invoices", "", nil, 401},
		{"GET", "/v1/invoices", ingest, nil, 403},
		{"GET", "/v1/invoices/" + mine, ingest, nil, 403},
		{"GET", "/v1/invoices", fin, nil, 200},
		{"GET", "/v1/invoices/" + theirs, fin, nil, 200},
		{"GET", "/v1/invoices/inv_nope", fin, nil, 404},

		{"GET", "/v1/invoices", viewer, nil, 200},
		{"GET", "/v1/invoices?customer_id=acme", viewer, nil, 200},
		{"GET", "/v1/invoices?customer_id=globex", viewer, nil, 403},
		{"GET", "/v1/invoices/" + mine, viewer, nil, 200},
		{"GET", "/v1/invoices/" + mine + "/export?format=pdf", viewer, nil, 200},
		{"GET", "/v1/invoices/" + theirs, viewer, nil, 403},
		{"GET", "/v1/invoices/inv_nope", viewer, nil, 403},
		{"GET", "/v1/invoices/" + theirs + "/export?format=csv", viewer, nil, 403},
		{"POST", "/v1/invoices/" + mine + "/finalize", viewer, nil, 403},
		{"POST", "/v1/invoices/" + mine + "/void", viewer, map[string]any{"reason": "x"}, 403},
		{"GET", "/v1/credit-notes", viewer, nil, 403},
		{"POST", "/v1/invoices/" + mine + "/finalize", ingest, nil, 403},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, tt.key, tt.body)
		if r.Status != tt.want {
			t.Errorf("%s %s (%s): %d %s, want %d", tt.method, tt.path, keyName(tt.key, viewer, fin, ingest), r.Status, r.Body, tt.want)
		}
		if tt.want == 403 && tt.key == viewer && strings.Contains(string(r.Body), "globex") {
			t.Errorf("%s %s: the answer names another customer: %s", tt.method, tt.path, r.Body)
		}
	}
	// The viewer's list holds its own customer's invoices only.
	r := h.do("GET", "/v1/invoices", viewer, nil)
	data, _ := r.json(t)["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["customer_id"] != "acme" {
		t.Errorf("viewer list: %s", r.Body)
	}
	// The other customer's invoice is still a draft: the viewer changed nothing.
	inv, err := h.db.Invoice(ctx, theirs)
	if err != nil || inv.Status != billing.InvoiceDraft || !inv.Total.Equal(decimal.RequireFromString("51.48")) ||
		!inv.Value.Amount.Equal(money.New(inv.Total, "USD")) {
		t.Errorf("globex invoice: %v %s %s", err, inv.Status, inv.Total)
	}
}

func keyName(k, viewer, fin, ingest string) string {
	switch k {
	case "":
		return "no key"
	case viewer:
		return "acme viewer"
	case fin:
		return "finance"
	case ingest:
		return "ingest"
	}
	return "admin"
}

// raw sends a GET and returns the response with its body, for headers.
func (h *harness) raw(method, path, key string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		h.t.Fatal(err)
	}
	return res, buf.Bytes()
}
