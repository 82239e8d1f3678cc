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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outcomebill/outcomebill/billing"
)

func TestLimiterBucket(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimit{PerSecond: 2, Burst: 3})
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok %v wait %s, want refused with 500ms (2/s)", ok, wait)
	}
	if ok, _ := l.take("b"); !ok {
		t.Fatal("another key's bucket is shared with a's")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("after 500ms at 2/s one token should be back")
	}
	if ok, _ := l.take("a"); ok {
		t.Fatal("only one token came back in 500ms")
	}
	now = now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("after an hour the bucket holds only %d of its burst of 3", i)
		}
	}
	if ok, _ := l.take("a"); ok {
		t.Fatal("an idle hour refilled the bucket beyond its burst")
	}
}

func TestLimiterSweepKeepsMemoryBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimit{PerSecond: 1000, Burst: 1})
	l.now = func() time.Time { return now }
	for i := 0; i < 3*maxBuckets; i++ {
		l.take(string(rune(i)))
		now = now.Add(time.Millisecond) // every older bucket is full again
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets kept, want at most %d", n, maxBuckets)
	}
}

// acceptAll stores nothing and accepts every event.
type acceptAll struct{}

func (acceptAll) IngestEvents(_ context.Context, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	out := make([]billing.IngestResult, len(batch))
	for i, in := range batch {
		out[i] = billing.IngestResult{ID: in.Event.ID, Status: billing.IngestAccepted}
	}
	return out, nil
}

type ingestKeys struct{ KeyStore }

func (ingestKeys) Authenticate(_ context.Context, token string) (billing.APIKey, error) {
	if id, ok := strings.CutPrefix(token, "ingest-"); ok {
		return billing.APIKey{ID: id, Scopes: []string{billing.ScopeIngest}}, nil
	}
	return billing.APIKey{}, billing.Errorf(billing.EUNAUTHORIZED, "unknown key")
}

// Over HTTP: a key past its burst gets 429 with Retry-After and the error body; another key and
// other routes are unaffected; without a configured limit nothing is limited.
func TestIngestRateLimit(t *testing.T) {
	serve := func(l RateLimit) *httptest.Server {
		srv := httptest.NewServer(New(Config{Keys: ingestKeys{}, Events: acceptAll{}, IngestLimit: l,
			Metrics: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		return srv
	}
	send := func(srv *httptest.Server, key string) (*http.Response, string) {
		t.Helper()
		body := `{"events":[{"id":"e1","type":"task.cancelled","customer_id":"c","task_id":"t","occurred_at":"2026-01-01T00:00:00Z"}]}`
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	srv := serve(RateLimit{PerSecond: 0.5, Burst: 3})
	for i := 0; i < 3; i++ {
		if res, body := send(srv, "ingest-a"); res.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, res.StatusCode, body)
		}
	}
	res, body := send(srv, "ingest-a")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: %d %s, want 429", res.StatusCode, body)
	}
	if ra := res.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (one token at 0.5/s)", ra)
	}
	var e struct {
		Error errorBody `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != billing.EINVALID || !strings.Contains(e.Error.Message, "rate limit") {
		t.Errorf("429 body %s: want {\"error\":{\"code\":\"invalid\",\"message\":\"rate limit …\"}}", body)
	}
	if res, body := send(srv, "ingest-b"); res.StatusCode != 200 {
		t.Errorf("another key was limited with a's bucket: %d %s", res.StatusCode, body)
	}
	// The limit is checked after authentication: no key is a 401, not a 429.
	if res, _ := send(srv, "nope"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown key: %d, want 401", res.StatusCode)
	}

	unlimited := serve(RateLimit{})
	for i := 0; i < 50; i++ {
		if res, body := send(unlimited, "ingest-a"); res.StatusCode != 200 {
			t.Fatalf("without a limit, request %d: %d %s", i+1, res.StatusCode, body)
		}
	}
}
