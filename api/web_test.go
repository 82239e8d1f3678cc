package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outcomebill/outcomebill/billing"
)

// fakeKeys knows one viewer key and one admin key; nothing else is called by these tests.
type fakeKeys struct{ KeyStore }

func (fakeKeys) Authenticate(_ context.Context, token string) (billing.APIKey, error) {
	switch token {
	case "viewer-token":
		return billing.APIKey{ID: "k1", Name: "Acme line manager", Scopes: []string{billing.ScopeViewer}, CustomerID: "acme"}, nil
	case "admin-token":
		return billing.APIKey{ID: "k2", Name: "ops", Scopes: []string{billing.ScopeAdmin, billing.ScopeFinance}}, nil
	}
	return billing.APIKey{}, billing.Errorf(billing.EUNAUTHORIZED, "unknown key")
}

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(Config{Keys: fakeKeys{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestDashboardServed(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		path, wantType, wantBody string
		wantStatus               int
	}{
		{"/", "text/html", `<div id="app"`, 200},
		{"/invoices/inv_1", "text/html", `<div id="app"`, 200}, // a deep link loads the app
		{"/customers/acme/labor", "text/html", `<div id="app"`, 200},
		{"/assets/app.css", "text/css", "", 200},
		{"/assets/js/main.js", "text/javascript", "import", 200},
		{"/assets/vendor/chart.umd.min.js", "text/javascript", "Chart.js v4", 200},
		{"/assets/nope.js", "text/plain", "not found", 404},
		{"/favicon.ico", "text/plain", "not found", 404},
	}
	for _, tt := range tests {
		res, body := get(t, srv.URL+tt.path, nil)
		if res.StatusCode != tt.wantStatus {
			t.Errorf("GET %s: status %d, want %d", tt.path, res.StatusCode, tt.wantStatus)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.wantType)
		}
		if !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s: body does not contain %q", tt.path, tt.wantBody)
		}
		want := map[string]string{
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
		}
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, k, got, v)
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
	}
}

// The page itself must carry no inline script or style: the CSP would block them.
func TestDashboardIndexHasNoInlineCode(t *testing.T) {
	srv := newTestServer(t)
	_, body := get(t, srv.URL+"/", nil)
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("index.html contains %q, which the Content-Security-Policy forbids", bad)
		}
	}
	if !strings.Contains(body, `<script type="module" src="/assets/js/main.js">`) {
		t.Errorf("index.html does not load the app module")
	}
}

func TestDashboardRevalidates(t *testing.T) {
	srv := newTestServer(t)
	res, _ := get(t, srv.URL+"/assets/app.css", nil)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	res, _ = get(t, srv.URL+"/assets/app.css", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", res.StatusCode)
	}
}

// The API keeps its JSON 404 and its own (non-dashboard) answers.
func TestDashboardLeavesAPIAlone(t *testing.T) {
	srv := newTestServer(t)
	res, body := get(t, srv.URL+"/v1/nothing-here", nil)
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("GET /v1/nothing-here: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("API responses should not carry the dashboard's CSP")
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/invoices", nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotFound {
		t.Errorf("POST /invoices: %d, want 404", r2.StatusCode)
	}
}

func TestMe(t *testing.T) {
	srv := newTestServer(t)
	res, body := get(t, srv.URL+"/v1/me", nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/me without a key: %d", res.StatusCode)
	}
	for token, want := range map[string]apiKeyJSON{
		"viewer-token": {ID: "k1", Name: "Acme line manager", Scopes: []string{"viewer"}, CustomerID: "acme"},
		"admin-token":  {ID: "k2", Name: "ops", Scopes: []string{"admin", "finance"}},
	} {
		res, body = get(t, srv.URL+"/v1/me", map[string]string{"Authorization": "Bearer " + token})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/me: %d %s", res.StatusCode, body)
		}
		var got apiKeyJSON
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Name != want.Name || strings.Join(got.Scopes, ",") != strings.Join(want.Scopes, ",") ||
			got.CustomerID != want.CustomerID || got.Key != "" {
			t.Errorf("GET /v1/me with %s: %+v, want %+v", token, got, want)
		}
	}
}
