package workflows

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/outcomebill/outcomebill/billing"
)

// series finds the series named name whose labels include want, in what reg gathers.
func series(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no series %s%v among those gathered", name, want)
	return nil
}

func labelNames(m *dto.Metric) map[string]bool {
	names := map[string]bool{}
	for _, l := range m.GetLabel() {
		names[l.GetName()] = true
	}
	return names
}

// The SDK's counters, gauges and timers become _total counters, gauges and _seconds histograms
// labelled with its bounded tags; outcomebill's own series keep only their declared labels.
func TestMetricsHandlerBridgesTheSDKToPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	root := NewMetricsHandler(reg).WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go",
		"worker_type": "none", "workflow_type": "none", "activity_type": "none", "task_queue": "none"})
	wf := root.WithTags(map[string]string{"workflow_type": TaskWorkflowName, "task_queue": TaskQueue})
	wf.Counter("temporal_workflow_completed").Inc(2)
	wf.Timer("temporal_workflow_endtoend_latency").Record(90 * time.Second)
	root.WithTags(map[string]string{"poller_type": "activity_task"}).Gauge("temporal_num_pollers").Update(2)
	wf.WithTags(map[string]string{"status": "billable"}).Timer(metricTaskLifecycle).Record(3 * time.Hour)

	c := series(t, reg, "temporal_workflow_completed_total", map[string]string{"workflow_type": TaskWorkflowName, "task_queue": TaskQueue})
	if c.GetCounter().GetValue() != 2 {
		t.Errorf("completed = %v, want 2", c.GetCounter().GetValue())
	}
	if names := labelNames(c); names["client_name"] || !names["namespace"] || !names["activity_type"] {
		t.Errorf("labels %v: want the SDK's bounded tags without client_name", names)
	}
	e2e := series(t, reg, "temporal_workflow_endtoend_latency_seconds", map[string]string{"workflow_type": TaskWorkflowName})
	if e2e.GetHistogram().GetSampleCount() != 1 || e2e.GetHistogram().GetSampleSum() != 90 {
		t.Errorf("end-to-end latency histogram = %v", e2e.GetHistogram())
	}
	if g := series(t, reg, "temporal_num_pollers", map[string]string{"poller_type": "activity_task"}); g.GetGauge().GetValue() != 2 {
		t.Errorf("pollers = %v", g.GetGauge().GetValue())
	}
	lc := series(t, reg, "outcomebill_task_lifecycle_seconds", map[string]string{"status": "billable"})
	if names := labelNames(lc); len(names) != 1 {
		t.Errorf("task lifecycle labels %v, want status only", names)
	}
	if lc.GetHistogram().GetSampleSum() != (3 * time.Hour).Seconds() {
		t.Errorf("lifecycle sum %v", lc.GetHistogram().GetSampleSum())
	}

	// A second handler on the same registry (a second client in the process) shares the series.
	NewMetricsHandler(reg).WithTags(map[string]string{"namespace": "default", "worker_type": "none", "workflow_type": TaskWorkflowName,
		"activity_type": "none", "task_queue": TaskQueue}).Counter("temporal_workflow_completed").Inc(1)
	if v := series(t, reg, "temporal_workflow_completed_total", map[string]string{"workflow_type": TaskWorkflowName}).GetCounter().GetValue(); v != 3 {
		t.Errorf("completed after a second handler = %v, want 3", v)
	}
}

// Each workflow records its outcome through the workflow metrics handler: the task its settled
// status and lifecycle in event time, the invoice run its final status and duration on the
// workflow clock, the webhook delivery each attempt's result and its final status.
func TestWorkflowsRecordTheirMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	suite := func() *testsuite.WorkflowTestSuite {
		var ts testsuite.WorkflowTestSuite
		ts.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
		ts.SetMetricsHandler(NewMetricsHandler(reg))
		return &ts
	}

	t.Run("task", func(t *testing.T) {
		store := newMemStore()
		env := suite().NewTestWorkflowEnvironment()
		env.SetStartTime(t0)
		Register(env, &Activities{Store: store})
		w := &wfTest{t: t, env: env, store: store, start: t0}
		w.at(h, outcome("o1", h, billing.OutcomeSucceeded))
		st := w.run(started("s1", 0))
		checkStatus(t, st, billing.TaskBillable, t0.Add(h+window))
		lc := series(t, reg, "outcomebill_task_lifecycle_seconds", map[string]string{"status": "billable"})
		// From task.started to the end of the dispute window, in event time.
		if hg := lc.GetHistogram(); hg.GetSampleCount() != 1 || hg.GetSampleSum() != (h+window).Seconds() {
			t.Errorf("lifecycle histogram: count %d sum %v, want 1 and %v", hg.GetSampleCount(), hg.GetSampleSum(), (h + window).Seconds())
		}
	})

	t.Run("invoice run", func(t *testing.T) {
		env := suite().NewTestWorkflowEnvironment()
		env.SetStartTime(march.End.Add(25 * time.Hour))
		RegisterInvoices(env, &InvoiceActivities{})
		var a *InvoiceActivities
		env.OnActivity(a.CountBillable, mock.Anything, mock.Anything, mock.Anything).Return(int64(1), nil)
		env.OnActivity(a.UpdateInvoiceRun, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.CreateCreditNotes, mock.Anything, mock.Anything).Return([]string(nil), nil)
		env.OnActivity(a.BuildDraft, mock.Anything, mock.Anything).Return(InvoiceRunResult{InvoiceID: "inv_1", Status: billing.InvoiceDraft}, nil)
		env.OnActivity(a.FinalizeInvoice, mock.Anything, "inv_1").Return(InvoiceRunResult{InvoiceID: "inv_1", Status: billing.InvoiceFinalized}, nil)
		env.ExecuteWorkflow(InvoiceRunWorkflowName, runInput(48*time.Hour))
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		run := series(t, reg, "outcomebill_invoice_run_duration_seconds", map[string]string{"status": "finalized"})
		// The review window is the run's whole duration on the workflow clock.
		if hg := run.GetHistogram(); hg.GetSampleCount() != 1 || hg.GetSampleSum() != (48*time.Hour).Seconds() {
			t.Errorf("run histogram: count %d sum %v", hg.GetSampleCount(), hg.GetSampleSum())
		}
	})

	t.Run("webhook", func(t *testing.T) {
		env := suite().NewTestWorkflowEnvironment()
		env.SetStartTime(hookStart)
		store := &hookStore{msg: billing.WebhookMessage{DeliveryID: "whd_1", URL: "https://hooks.example.com/in", Secret: "whsec_x",
			Body: []byte(`{}`), Status: billing.DeliveryPending}}
		RegisterWebhooks(env, &WebhookActivities{Store: store, HTTP: &http.Client{Transport: &receiver{statuses: []int{500, 204}}}})
		env.ExecuteWorkflow(WebhookDeliveryWorkflow, WebhookDeliveryInput{DeliveryID: "whd_1",
			Retry: WebhookRetry{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 3}})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		for result, want := range map[string]float64{webhookRejected: 1, webhookDelivered: 1} {
			if v := series(t, reg, "outcomebill_webhook_attempts_total", map[string]string{"result": result}).GetCounter().GetValue(); v != want {
				t.Errorf("attempts %s = %v, want %v", result, v, want)
			}
		}
		if v := series(t, reg, "outcomebill_webhook_deliveries_total", map[string]string{"status": "delivered"}).GetCounter().GetValue(); v != 1 {
			t.Errorf("deliveries delivered = %v, want 1", v)
		}
	})
}

// The relay counts the events it delivered and the signals that failed.
func TestRelayCountsDeliveriesAndErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewRelayMetrics(reg)
	store := newMemStore()
	store.ingest(taskEvent("A", "a1", billing.EventStarted), taskEvent("A", "a2", billing.EventUsage), taskEvent("B", "b1", billing.EventStarted))
	ft := &fakeTemporal{down: func(id string) bool { return id == TaskWorkflowID("B") }}
	r := &Relay{Temporal: ft, Store: store, Logger: quietLogger(), Lag: m.Lag, Delivered: m.Delivered, Errors: m.Errors}
	if _, _, err := r.Deliver(context.Background()); err == nil {
		t.Fatal("want the error of B's signal")
	}
	if v := series(t, reg, "outcomebill_outbox_delivered_total", nil).GetCounter().GetValue(); v != 2 {
		t.Errorf("delivered = %v, want 2 (A's events)", v)
	}
	if v := series(t, reg, "outcomebill_outbox_errors_total", map[string]string{"stage": "signal"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("signal errors = %v, want 1", v)
	}
}
