package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

// tracerProvider is the process's tracing (docs/OBSERVABILITY.md). It stays nil, the default,
// unless the standard OTEL_* variables ask for traces: then nothing is instrumented at all, so
// tracing that is off costs nothing. main sets it through startTracing.
var tracerProvider *sdktrace.TracerProvider

// tracingWanted reads the standard variables: OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
// turn tracing off, OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint turn it on.
func tracingWanted(getenv func(string) string) (bool, error) {
	if off, _ := strconv.ParseBool(getenv("OTEL_SDK_DISABLED")); off {
		return false, nil
	}
	switch e := getenv("OTEL_TRACES_EXPORTER"); e {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", e)
	}
}

// startTracing turns tracing on when the environment asks for it and returns what flushes and
// stops it. A setting it cannot honour is reported and leaves tracing off: traces are not worth
// refusing to start for. It logs through slog.Default() when it logs, which the command sets up
// by then.
func startTracing(ctx context.Context) (stop func()) {
	want, err := tracingWanted(os.Getenv)
	if err != nil {
		slog.Warn("tracing off", "err", err)
	}
	if !want {
		return func() {}
	}
	exp, err := otlpExporter(ctx, os.Getenv)
	if err != nil {
		slog.Warn("tracing off", "err", err)
		return func() {}
	}
	tracerProvider = newTracerProvider(ctx, sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tracerProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { slog.Warn("tracing", "err", err) }))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracerProvider.Shutdown(sctx); err != nil {
			slog.Warn("tracing: flush on exit", "err", err)
		}
	}
}

// otlpExporter picks the OTLP transport by OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL; the exporters
// read the endpoint, headers, TLS and timeout variables themselves.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: use grpc or http/protobuf", proto)
}

// newTracerProvider builds the provider; tests pass an in-memory exporter.
func newTracerProvider(ctx context.Context, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the default name, which says which
	// command this process runs (outcomebill-serve, outcomebill-worker, outcomebill-dev).
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(serviceName(os.Args))),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		res = resource.Default()
	}
	opts = append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(skipBackgroundRoots{})))
	}
	return sdktrace.NewTracerProvider(opts...)
}

func serviceName(args []string) string {
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			return "outcomebill-" + a
		}
	}
	return "outcomebill"
}

// skipBackgroundRoots samples every trace except those that would begin with a client span — a
// query or a Temporal call made outside any request, workflow or relay pass. The worker's loops
// (outbox relay, economics folder, webhook dispatcher, invoice scheduler) poll several times a
// second, and a trace per idle poll would bury the ones worth reading. OTEL_TRACES_SAMPLER
// replaces this sampler.
type skipBackgroundRoots struct{}

func (skipBackgroundRoots) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if p.Kind == trace.SpanKindClient {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return sdktrace.AlwaysSample().ShouldSample(p)
}

func (skipBackgroundRoots) Description() string { return "SkipBackgroundRoots" }

// apiTracer is what api.Config.TracerProvider gets: nil (no middleware) while tracing is off.
func apiTracer() trace.TracerProvider {
	if tracerProvider == nil {
		return nil
	}
	return tracerProvider
}

// dbOptions traces every query, batch, COPY, prepare, connect and pool acquire while tracing is
// on, each span named by its kind and SQL verb ("query SELECT", "prepare INSERT"). The SQL text
// is recorded, never the parameters: those hold customers' data.
func dbOptions() postgres.Options {
	if tracerProvider == nil {
		return postgres.Options{}
	}
	return postgres.Options{QueryTracer: otelpgx.NewTracer(otelpgx.WithTracerProvider(tracerProvider), otelpgx.WithQuerySpanNamePrefix())}
}

// temporalOptions adds outcomebill's Temporal instrumentation to o: the SDK's metrics (and the
// workflows' own) into the default Prometheus registry, always; and while tracing is on, the
// tracing interceptor, which carries the trace through client calls into workflows and
// activities (for workers built from the client too).
func temporalOptions(o client.Options, log *slog.Logger) client.Options {
	o.MetricsHandler = workflows.NewMetricsHandler(prometheus.DefaultRegisterer)
	if tracerProvider == nil {
		return o
	}
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tracerProvider.Tracer("go.temporal.io/sdk")})
	if err != nil {
		log.Warn("tracing: no Temporal interceptor", "err", err)
		return o
	}
	o.Interceptors = append([]interceptor.ClientInterceptor{ti}, o.Interceptors...)
	return o
}

// workerTracer traces the passes of the outbox relay and the webhook dispatcher that found work;
// nil (no spans) while tracing is off.
func workerTracer() trace.Tracer {
	if tracerProvider == nil {
		return nil
	}
	return tracerProvider.Tracer("github.com/outcomebill/outcomebill/workflows")
}

// economicsBacklog is the number of economics changes the folder has not folded yet, capped at
// maxEconomicsBacklog.
var economicsBacklog = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "outcomebill_economics_backlog",
	Help: "Economics changes (economics_dirty rows) not folded yet, counted up to 1,000,000.",
})

const maxEconomicsBacklog = 1_000_000

// sampleEconomicsBacklog sets economicsBacklog every interval until ctx ends.
func sampleEconomicsBacklog(ctx context.Context, db *postgres.DB, reg prometheus.Registerer, interval time.Duration, log *slog.Logger) error {
	if err := reg.Register(economicsBacklog); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, interval)
		n, err := db.EconomicsBacklog(qctx, maxEconomicsBacklog)
		cancel()
		if err == nil {
			economicsBacklog.Set(float64(n))
		} else if ctx.Err() == nil {
			log.Warn("economics backlog", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
