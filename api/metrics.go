package api

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus series (docs/OBSERVABILITY.md). Routes are labelled by their
// pattern (/v1/customers/:customer_id), never by the concrete path, so that ids cannot blow up
// the number of series; no label ever holds a key, a customer or a task.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outcomebill_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		// The buckets past 5 s are for POST /v1/events/import, whose request lasts as long as
		// its upload.
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "outcomebill_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 30, 120, 600},
		}, []string{"route", "method", "status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outcomebill_events_total", Help: "Events received by source (api: POST /v1/events, import: POST /v1/events/import) and result: accepted, duplicate, rejected.",
		}, []string{"source", "result"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.events = register(reg, m.events)
	return m
}

// register registers c, or returns the collector already registered under its name: several APIs
// in one process (tests) share one set of series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("api metrics: %v", err))
	}
	return c
}

func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method, status := metricMethod(c.Request.Method), strconv.Itoa(c.Writer.Status())
		m.requests.WithLabelValues(route, method, status).Inc()
		m.duration.WithLabelValues(route, method, status).Observe(time.Since(start).Seconds())
	}
}

// metricMethod bounds the method label: a client may send any token as a method.
func metricMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}
