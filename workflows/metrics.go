package workflows

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// Metrics recorded from workflow code go through workflow.GetMetricsHandler, which records
// nothing while a workflow replays its history: a task settled once is counted once, however
// often its workflow is replayed on another worker. Their durations come from the workflow's
// clock or from the task's own event times, never from time.Now, so replays see the same values.
// Activities record through activity.GetMetricsHandler. Both reach Prometheus through the
// handler NewMetricsHandler returns, set on the Temporal client.
const (
	// metricTaskLifecycle is the time from a task's start to the event that settled it (event
	// time), by the settled status.
	metricTaskLifecycle = "outcomebill_task_lifecycle"
	// metricInvoiceRunDuration is the time from an invoice run's start to its end (workflow
	// clock), by the status it ended in.
	metricInvoiceRunDuration = "outcomebill_invoice_run_duration"
	// metricWebhookAttempts counts webhook HTTP attempts by result.
	metricWebhookAttempts = "outcomebill_webhook_attempts"
	// metricWebhookDeliveries counts webhook deliveries that ended, by final status.
	metricWebhookDeliveries = "outcomebill_webhook_deliveries"
)

// Results of a webhook attempt (the result label of outcomebill_webhook_attempts_total).
const (
	webhookDelivered   = "delivered"   // a 2xx answer
	webhookRejected    = "rejected"    // any other answer
	webhookUnreachable = "unreachable" // no answer: refused, timed out, private address
)

var (
	hourSecs         = time.Hour.Seconds()
	daySecs          = 24 * hourSecs
	lifecycleBuckets = []float64{60, 300, 900, hourSecs, 6 * hourSecs, daySecs, 3 * daySecs, 7 * daySecs, 30 * daySecs}
	runBuckets       = []float64{.1, .5, 1, 5, 15, 60, 300, 900, hourSecs, daySecs, 7 * daySecs, 30 * daySecs}
	// sdkBuckets cover the SDK's latencies: a poll or an activity takes milliseconds to a minute,
	// a task workflow from start to close days.
	sdkBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, hourSecs, daySecs, 7 * daySecs}
)

// metricSpec fixes the labels (and buckets) of one of our own series, so that the tags the SDK
// puts on every metric (namespace, task queue, workflow type…) do not multiply them.
type metricSpec struct {
	help    string
	labels  []string
	buckets []float64
}

var ownMetrics = map[string]metricSpec{
	metricTaskLifecycle: {"Seconds from a task's start to the event that settled it (event time), by settled status; " +
		"recorded when the task workflow saves the settled state.", []string{"status"}, lifecycleBuckets},
	metricInvoiceRunDuration: {"Seconds from an invoice run's start to its end (workflow clock), by the status it ended in: " +
		"drafted, finalized or failed.", []string{"status"}, runBuckets},
	metricWebhookAttempts:   {"Webhook HTTP attempts by result: delivered (2xx), rejected (other status), unreachable (no answer).", []string{"result"}, nil},
	metricWebhookDeliveries: {"Webhook deliveries that ended, by final status: delivered or failed (attempts spent).", []string{"status"}, nil},
}

// sdkLabels are the SDK's tags that become labels: each has few values. Others (client_name, a
// constant) are dropped.
var sdkLabels = map[string]bool{
	"namespace": true, "task_queue": true, "worker_type": true, "poller_type": true,
	"workflow_type": true, "activity_type": true, "operation": true, "status_code": true,
	"failure_reason": true, "cause": true,
}

// NewMetricsHandler returns a Temporal metrics handler that records into reg: set it as
// client.Options.MetricsHandler, and the SDK's own series (temporal_workflow_completed_total,
// temporal_activity_execution_latency_seconds…) and outcomebill's workflow series appear on
// reg. Counters get the suffix _total and timers become histograms in seconds (_seconds). Calls
// with the same reg share one set of series.
func NewMetricsHandler(reg prometheus.Registerer) client.MetricsHandler {
	v, _ := bridges.LoadOrStore(reg, &promBridge{reg: reg, vecs: map[string]any{}, keys: map[string][]string{}})
	return promHandler{b: v.(*promBridge)}
}

var bridges sync.Map // prometheus.Registerer → *promBridge

// promBridge holds the vectors made so far, by Prometheus name. An SDK series takes its labels
// from the tags of the first call that names it; the SDK tags a series the same way every time.
type promBridge struct {
	reg  prometheus.Registerer
	mu   sync.RWMutex
	vecs map[string]any      // *prometheus.CounterVec, *GaugeVec or *HistogramVec; nil if unregistrable
	keys map[string][]string // label names of each vector
}

type promHandler struct {
	b    *promBridge
	tags map[string]string
}

func (h promHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return promHandler{b: h.b, tags: merged}
}

func (h promHandler) Counter(name string) client.MetricsCounter {
	v, values := h.b.vec(name+"_total", name, h.tags, func(opts prometheus.Opts, labels []string, _ []float64) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts(opts), labels)
	})
	cv, ok := v.(*prometheus.CounterVec)
	if !ok {
		return nopMetric{}
	}
	c, err := cv.GetMetricWithLabelValues(values...)
	if err != nil {
		return nopMetric{}
	}
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h promHandler) Gauge(name string) client.MetricsGauge {
	v, values := h.b.vec(name, name, h.tags, func(opts prometheus.Opts, labels []string, _ []float64) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts(opts), labels)
	})
	gv, ok := v.(*prometheus.GaugeVec)
	if !ok {
		return nopMetric{}
	}
	g, err := gv.GetMetricWithLabelValues(values...)
	if err != nil {
		return nopMetric{}
	}
	return gaugeFunc(g.Set)
}

func (h promHandler) Timer(name string) client.MetricsTimer {
	v, values := h.b.vec(name+"_seconds", name, h.tags, func(opts prometheus.Opts, labels []string, buckets []float64) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: opts.Name, Help: opts.Help, Buckets: buckets}, labels)
	})
	hv, ok := v.(*prometheus.HistogramVec)
	if !ok {
		return nopMetric{}
	}
	o, err := hv.GetMetricWithLabelValues(values...)
	if err != nil {
		return nopMetric{}
	}
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// vec returns the vector named promName, made and registered on first use, and the label values
// tags give it. It returns nil when the vector cannot be registered (a name taken by a series
// of another shape): a metric is not worth failing a workflow for.
func (b *promBridge) vec(promName, name string, tags map[string]string,
	newVec func(prometheus.Opts, []string, []float64) prometheus.Collector) (any, []string) {
	b.mu.RLock()
	v, ok := b.vecs[promName]
	keys := b.keys[promName]
	b.mu.RUnlock()
	if !ok {
		v, keys = b.add(promName, name, tags, newVec)
	}
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = tags[k]
		if values[i] == "" {
			values[i] = "none" // the SDK's own word for a tag that does not apply
		}
	}
	return v, values
}

// add makes, registers and keeps the vector named promName, unless another call just did.
func (b *promBridge) add(promName, name string, tags map[string]string,
	newVec func(prometheus.Opts, []string, []float64) prometheus.Collector) (any, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.vecs[promName]; ok {
		return v, b.keys[promName]
	}
	spec, own := ownMetrics[name]
	if !own {
		spec = metricSpec{help: "Temporal Go SDK metric " + name + ".", buckets: sdkBuckets}
		for k := range tags {
			if sdkLabels[k] {
				spec.labels = append(spec.labels, k)
			}
		}
		sort.Strings(spec.labels)
	}
	if spec.buckets == nil {
		spec.buckets = sdkBuckets
	}
	c := newVec(prometheus.Opts{Name: sanitize(promName), Help: spec.help}, spec.labels, spec.buckets)
	if err := b.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			b.vecs[promName], b.keys[promName] = nil, nil
			return nil, nil
		}
		c = are.ExistingCollector
	}
	b.vecs[promName], b.keys[promName] = c, spec.labels
	return c, spec.labels
}

// sanitize keeps a name within Prometheus's alphabet; the SDK's names already are.
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type nopMetric struct{}

func (nopMetric) Inc(int64)            {}
func (nopMetric) Update(float64)       {}
func (nopMetric) Record(time.Duration) {}

// recordTaskSettled records a task that this run moved into a settled status.
func recordTaskSettled(ctx workflow.Context, st billing.TaskState) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"status": string(st.Status)}).
		Timer(metricTaskLifecycle).Record(max(st.StatusAt.Sub(st.StartedAt), 0))
}

// recordInvoiceRun records how an invoice run ended and how long it took on the workflow clock.
func recordInvoiceRun(ctx workflow.Context, status billing.InvoiceRunStatus) {
	d := workflow.Now(ctx).Sub(workflow.GetInfo(ctx).WorkflowStartTime)
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"status": string(status)}).
		Timer(metricInvoiceRunDuration).Record(max(d, 0))
}

// recordWebhookDelivery records a delivery that ended.
func recordWebhookDelivery(ctx workflow.Context, status billing.DeliveryStatus) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"status": string(status)}).
		Counter(metricWebhookDeliveries).Inc(1)
}

// recordWebhookAttempt records one HTTP attempt from the SendWebhook activity.
func recordWebhookAttempt(ctx context.Context, code int, err error) {
	if !activity.IsActivity(ctx) {
		return
	}
	result := webhookDelivered
	switch {
	case err != nil && code == 0:
		result = webhookUnreachable
	case err != nil:
		result = webhookRejected
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"result": result}).Counter(metricWebhookAttempts).Inc(1)
}

// RelayMetrics are the outbox relay's series.
type RelayMetrics struct {
	Lag       prometheus.Gauge
	Delivered prometheus.Counter
	Errors    *prometheus.CounterVec // by stage: claim, signal, mark
}

// NewRelayMetrics makes the relay's series and registers them on reg (or takes those already
// registered there: a process may build several relays).
func NewRelayMetrics(reg prometheus.Registerer) RelayMetrics {
	return RelayMetrics{
		Lag: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outcomebill_outbox_lag_seconds",
			Help: "Seconds the oldest undelivered outbox event has waited.",
		})),
		Delivered: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outcomebill_outbox_delivered_total",
			Help: "Outbox events delivered to their task workflows.",
		})),
		Errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outcomebill_outbox_errors_total",
			Help: "Outbox relay failures by stage: claim (reading the outbox), signal (one task's signal-with-start), mark (recording delivery).",
		}, []string{"stage"})),
	}
}

// register registers c on reg, or returns the collector of that name already there.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic("workflows metrics: " + err.Error())
	}
	return c
}
