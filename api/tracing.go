package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing starts a server span per request, named by the route pattern (never the concrete path)
// and continuing the caller's trace when it sent a W3C traceparent header; handlers pass the
// request's context on, so the store's query spans become its children. Probes and scrapes are
// left out: they would bury the traces worth reading.
func tracing(tp trace.TracerProvider) []gin.HandlerFunc {
	return []gin.HandlerFunc{
		otelgin.Middleware("outcomebill", otelgin.WithTracerProvider(tp), otelgin.WithPropagators(propagator),
			otelgin.WithFilter(func(r *http.Request) bool {
				switch r.URL.Path {
				case "/healthz", "/readyz", "/metrics":
					return false
				}
				return true
			})),
		// The request ID ties a trace to the access log line and to what a user quotes.
		func(c *gin.Context) {
			c.Next()
			if id := c.GetString(requestIDKey); id != "" {
				trace.SpanFromContext(c.Request.Context()).SetAttributes(attribute.String("outcomebill.request_id", id))
			}
		},
	}
}

// propagator reads W3C trace context and baggage whatever the process's global propagator is.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
