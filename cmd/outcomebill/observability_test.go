package main

import (
	"bytes"
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
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
	"github.com/outcomebill/outcomebill/workflows"
)

var obsQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// obsAPI serves the API on db with its series in reg (nil: the default registry) and tracing from
// the process's wiring; it returns the server's URL and an admin+ingest key, with a customer and
// an outcome type whose dispute window is a second.
func obsAPI(t *testing.T, db *postgres.DB, reg *prometheus.Registry) (url, key string) {
	t.Helper()
	srv := httptest.NewServer(api.New(api.Config{Customers: db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db,
		Importer: db, Metrics: reg, Log: obsQuiet, TracerProvider: apiTracer()}))
	t.Cleanup(srv.Close)
	_, key, err := db.CreateAPIKey(context.Background(), "obs", []string{"admin", "ingest"}, "")
	if err != nil {
		t.Fatal(err)
	}
	obsSend(t, "POST", srv.URL+"/v1/customers", key, "application/json",
		`{"customer_id":"acme","name":"Acme","currency":"USD","timezone":"UTC"}`, http.StatusCreated)
	obsSend(t, "PUT", srv.URL+"/v1/outcome-types/support.ticket_resolved", key, "application/json",
		`{"baseline":{"human_minutes":"12","annual_cost":{"amount":"94000","currency":"USD"}},"dispute_window_seconds":1}`, http.StatusCreated)
	return srv.URL, key
}

func obsSend(t *testing.T, method, url, key, contentType, body string, want int, headers ...string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if want != 0 && res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, res.StatusCode, b, want)
	}
	return b
}

func obsEvent(id, typ, task string, at time.Time, extra string) string {
	e := `{"id":"` + id + `","type":"` + typ + `","customer_id":"acme","task_id":"` + task + `","occurred_at":"` + at.UTC().Format(time.RFC3339Nano) + `"`
	if extra != "" {
		e += "," + extra
	}
	return e + "}"
}

// scrape reads url's Prometheus text and returns the series of name whose labels include want.
func obsScrape(t *testing.T, url, name string, want map[string]string) []*dto.Metric {
	t.Helper()
	body := obsSend(t, "GET", url+"/metrics", "", "", "", http.StatusOK)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	var out []*dto.Metric
	for _, m := range families[name].GetMetric() {
		if obsHasLabels(m, want) {
			out = append(out, m)
		}
	}
	return out
}

func obsHasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// After real ingest (a batch and an import, on PostgreSQL), /metrics counts the events by
// source and result, and has the latency of both routes by route pattern and status.
func TestMetricsAfterIngest(t *testing.T) {
	db := pgtest.NewDB(t)
	reg := prometheus.NewRegistry()
	url, key := obsAPI(t, db, reg)
	now := time.Now()
	batch := `{"events":[` + obsEvent("m-1", "task.started", "mt-1", now, `"outcome_type":"support.ticket_resolved"`) + `,` +
		obsEvent("m-2", "task.usage", "mt-1", now, `"model":"gpt-4o","input_tokens":100,"output_tokens":10`) + `,` +
		`{"id":"m-bad","type":"task.started"}]}`
	obsSend(t, "POST", url+"/v1/events", key, "application/json", batch, http.StatusOK)
	obsSend(t, "POST", url+"/v1/events", key, "application/json", `{"events":[`+obsEvent("m-1", "task.started", "mt-1", now, `"outcome_type":"support.ticket_resolved"`)+`]}`, http.StatusOK)
	obsSend(t, "POST", url+"/v1/events/import", key, "application/x-ndjson", obsEvent("m-3", "task.started", "mt-2", now, `"outcome_type":"support.ticket_resolved"`)+"\n", http.StatusOK)

	for _, c := range []struct {
		source, result string
		want           float64
	}{{"api", "accepted", 2}, {"api", "duplicate", 1}, {"api", "rejected", 1}, {"import", "accepted", 1}} {
		s := obsScrape(t, url, "outcomebill_events_total", map[string]string{"source": c.source, "result": c.result})
		if len(s) != 1 || s[0].GetCounter().GetValue() != c.want {
			t.Errorf("outcomebill_events_total{source=%q,result=%q} = %v, want %v", c.source, c.result, s, c.want)
		}
	}
	events := obsScrape(t, url, "outcomebill_http_request_duration_seconds", map[string]string{"route": "/v1/events", "method": "POST", "status": "200"})
	if len(events) != 1 || events[0].GetHistogram().GetSampleCount() != 2 || events[0].GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("latency of POST /v1/events: %v, want 2 observations", events)
	}
	if s := obsScrape(t, url, "outcomebill_http_request_duration_seconds", map[string]string{"route": "/v1/events/import", "status": "200"}); len(s) != 1 {
		t.Errorf("no latency series for the import route: %v", s)
	}
	if s := obsScrape(t, url, "outcomebill_http_requests_total", map[string]string{"route": "/v1/customers", "method": "POST", "status": "201"}); len(s) != 1 || s[0].GetCounter().GetValue() != 1 {
		t.Errorf("requests of POST /v1/customers: %v", s)
	}
	// An id is never a label: the task's route is its pattern.
	obsSend(t, "GET", url+"/v1/tasks/mt-1", key, "", "", http.StatusOK)
	if s := obsScrape(t, url, "outcomebill_http_requests_total", map[string]string{"route": "/v1/tasks/:task_id"}); len(s) != 1 {
		t.Errorf("GET /v1/tasks/mt-1 is not counted under its route pattern: %v", s)
	}
}

// withTracing turns the process's tracing on for the test, into an in-memory exporter.
func withTracing(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tracerProvider = newTracerProvider(context.Background(), sdktrace.WithSyncer(exp))
	t.Cleanup(func() {
		_ = tracerProvider.Shutdown(context.Background())
		tracerProvider = nil
	})
	return exp
}

// With tracing off (the default) nothing is instrumented.
func TestTracingOffByDefault(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"},
	} {
		if on, err := tracingWanted(func(k string) string { return env[k] }); on || err != nil {
			t.Errorf("%v: tracing wanted %v, %v", env, on, err)
		}
	}
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
		{"OTEL_TRACES_EXPORTER": "otlp"},
	} {
		if on, err := tracingWanted(func(k string) string { return env[k] }); !on || err != nil {
			t.Errorf("%v: tracing wanted %v, %v", env, on, err)
		}
	}
	if tracerProvider != nil || apiTracer() != nil || dbOptions().QueryTracer != nil || workerTracer() != nil {
		t.Error("tracing is wired in while off")
	}
	if o := temporalOptions(client.Options{}, obsQuiet); len(o.Interceptors) != 0 || o.MetricsHandler == nil {
		t.Errorf("Temporal options while tracing is off: %d interceptors, metrics handler %v", len(o.Interceptors), o.MetricsHandler)
	}
}

// A request makes a server span named by its route pattern, continuing the caller's trace, and
// each query the handler makes is a client span beneath it.
func TestTracingRequestToQuery(t *testing.T) {
	exp := withTracing(t)
	_, dbURL := pgtest.NewDBURL(t)
	db, err := postgres.OpenWithOptions(context.Background(), dbURL, dbOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	url, key := obsAPI(t, db, prometheus.NewRegistry())
	obsSend(t, "GET", url+"/healthz", "", "", "", http.StatusOK)
	exp.Reset()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	obsSend(t, "GET", url+"/v1/customers/acme", key, "", "", http.StatusOK,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01", "X-Request-ID", "req-obs-1")
	spans := exp.GetSpans()
	var server *tracetest.SpanStub
	for i, s := range spans {
		if s.SpanKind == trace.SpanKindServer {
			server = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	if server.Name != "GET /v1/customers/:customer_id" || server.SpanContext.TraceID().String() != traceID {
		t.Errorf("server span %q in trace %s; want the route pattern, in the caller's trace", server.Name, server.SpanContext.TraceID())
	}
	attrs := map[string]string{}
	for _, a := range server.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["http.route"] != "/v1/customers/:customer_id" || attrs["outcomebill.request_id"] != "req-obs-1" {
		t.Errorf("server span attributes %v", attrs)
	}
	queries := 0
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient && s.Parent.SpanID() == server.SpanContext.SpanID() {
			queries++
			for _, a := range s.Attributes {
				if a.Key == "db.system.name" && a.Value.AsString() != "postgresql" {
					t.Errorf("query span %q: db.system.name %s", s.Name, a.Value.AsString())
				}
			}
		}
	}
	if queries == 0 {
		t.Errorf("no query span under the request's span; spans: %v", spanNames(spans))
	}
	for _, s := range spans {
		if strings.Contains(s.Name, "healthz") {
			t.Errorf("a probe was traced: %s", s.Name)
		}
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name+"("+s.SpanKind.String()+")")
	}
	return out
}

// End to end on PostgreSQL and a real Temporal server, wired as the worker wires itself: a
// relay pass is a trace that follows the signal into the task workflow, its activities and
// their queries; and the worker's registry has the relay's, the SDK's and the workflow's series.
func TestRelayToActivitiesTracesAndMetrics(t *testing.T) {
	addr := servicetest.TemporalAddress(t)
	exp := withTracing(t)
	_, dbURL := pgtest.NewDBURL(t)
	db, err := postgres.OpenWithOptions(context.Background(), dbURL, dbOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	url, key := obsAPI(t, db, prometheus.NewRegistry())

	c, err := client.NewLazyClient(temporalOptions(client.Options{HostPort: addr, Logger: newTemporalLogger(obsQuiet)}, obsQuiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "obs-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
	w := workflows.NewWorker(c, queue, db, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rm := workflows.NewRelayMetrics(prometheus.DefaultRegisterer)
	relay := &workflows.Relay{Temporal: c, Store: db, TaskQueue: queue, Logger: obsQuiet, PollInterval: 20 * time.Millisecond,
		Lag: rm.Lag, Delivered: rm.Delivered, Errors: rm.Errors, Tracer: workerTracer()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	obsSend(t, "POST", url+"/v1/events", key, "application/json", `{"events":[`+
		obsEvent("r-1", "task.started", "rt-1", now, `"outcome_type":"support.ticket_resolved"`)+`,`+
		obsEvent("r-2", "task.outcome", "rt-1", now, `"status":"succeeded"`)+`]}`, http.StatusOK)

	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := db.TaskView(context.Background(), "rt-1")
		if err == nil && v.Status == "billable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not billable in time: %+v %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	// path names the chain of span names from s up to its root.
	path := func(s tracetest.SpanStub) []string {
		var p []string
		for {
			p = append(p, s.Name)
			parent, ok := byID[s.Parent.SpanID()]
			if !ok {
				return p
			}
			s = parent
		}
	}
	var chain []string
	for _, s := range spans {
		p := path(s)
		query := s.SpanKind == trace.SpanKindClient && s.Name != "pool.acquire" && s.Name != "connect"
		if query && strings.HasPrefix(p[len(p)-1], "outbox.deliver") && obsHasPrefix(p, "RunActivity:") {
			chain = p
			break
		}
	}
	if chain == nil {
		t.Fatalf("no query span under a relay pass, a workflow and an activity; spans: %v", spanNames(spans))
	}
	for _, want := range []string{"RunActivity:", "RunWorkflow:TaskWorkflow", "SignalWithStartWorkflow:TaskWorkflow", "outbox.signal", "outbox.deliver"} {
		if !obsHasPrefix(chain, want) {
			t.Errorf("trace %v lacks %s", chain, want)
		}
	}
	t.Logf("a query's trace, leaf to root: %s", strings.Join(chain, " ← "))

	// The task is billable once its state is saved; the workflow completes, and the SDK counts
	// it, a workflow task later: wait for the series rather than look once.
	want := []string{"outcomebill_task_lifecycle_seconds", "outcomebill_outbox_delivered_total", "temporal_workflow_completed_total",
		"temporal_request_total"}
	var found map[string]bool
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		families, err := prometheus.DefaultGatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found = map[string]bool{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch {
				case f.GetName() == "outcomebill_task_lifecycle_seconds" && obsHasLabels(m, map[string]string{"status": "billable"}) && m.GetHistogram().GetSampleCount() >= 1,
					f.GetName() == "outcomebill_outbox_delivered_total" && m.GetCounter().GetValue() >= 2,
					f.GetName() == "temporal_workflow_completed_total" && obsHasLabels(m, map[string]string{"workflow_type": "TaskWorkflow", "task_queue": queue}),
					f.GetName() == "temporal_activity_execution_latency_seconds",
					f.GetName() == "temporal_request_total":
					found[f.GetName()] = true
				}
			}
		}
		complete := true
		for _, name := range want {
			complete = complete && found[name]
		}
		if complete || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range want {
		if !found[name] {
			t.Errorf("the worker's registry lacks %s", name)
		}
	}
	b, _ := json.Marshal(found)
	t.Logf("series found: %s", b)
}

func obsHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
