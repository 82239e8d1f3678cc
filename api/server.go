package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/outcomebill/outcomebill/billing"
)

// Authenticator resolves an API key token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (billing.APIKey, error)
}

// CustomerStore keeps customers.
type CustomerStore interface {
	CreateCustomer(ctx context.Context, c billing.Customer) (billing.Customer, bool, error)
	Customer(ctx context.Context, id string) (billing.Customer, error)
	Customers(ctx context.Context, p billing.Page) ([]billing.Customer, string, error)
	UpdateCustomer(ctx context.Context, id string, p billing.CustomerPatch) (billing.Customer, error)
}

// OutcomeTypeStore keeps outcome types and customers' baseline overrides.
type OutcomeTypeStore interface {
	PutOutcomeType(ctx context.Context, o billing.OutcomeType) (billing.OutcomeType, bool, error)
	OutcomeTypes(ctx context.Context, p billing.Page) ([]billing.OutcomeType, string, error)
	PutBaselineOverride(ctx context.Context, o billing.BaselineOverride) (billing.BaselineOverride, bool, error)
	DeleteBaselineOverride(ctx context.Context, customerID, outcomeType string) error
}

// ModelPriceStore keeps effective-dated model prices.
type ModelPriceStore interface {
	ModelPrices(ctx context.Context, model string, p billing.Page) ([]billing.ModelPrice, string, error)
	AddModelPrice(ctx context.Context, p billing.ModelPrice) (billing.ModelPrice, bool, error)
}

// KeyStore keeps API keys.
type KeyStore interface {
	Authenticator
	CreateAPIKey(ctx context.Context, name string, scopes []string, customerID string) (billing.APIKey, string, error)
	CreateViewerKey(ctx context.Context, customerID, name string) (billing.APIKey, string, error)
	APIKeys(ctx context.Context, p billing.Page) ([]billing.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, id string) (billing.APIKey, error)
}

// EventStore stores batches of events with their outbox rows.
type EventStore interface {
	IngestEvents(ctx context.Context, batch []billing.IncomingEvent) ([]billing.IngestResult, error)
}

// TaskStore reads tasks.
type TaskStore interface {
	TaskView(ctx context.Context, taskID string) (billing.TaskView, error)
}

// Check is one dependency /readyz asks about.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Config is everything the API needs, wired by cmd.
type Config struct {
	Customers    CustomerStore
	OutcomeTypes OutcomeTypeStore
	ModelPrices  ModelPriceStore
	Keys         KeyStore
	Events       EventStore
	Plans        PlanStore
	Tasks        TaskStore
	Invoices     InvoiceStore
	// InvoiceRunner starts invoice runs; InvoiceRuns reads them.
	InvoiceRunner InvoiceRunStarter
	InvoiceRuns   InvoiceRunStore
	Economics     EconomicsStore
	Ready         []Check
	Metrics       *prometheus.Registry // nil: the default registry
	Log           *slog.Logger
	// IngestLimit limits POST /v1/events per API key (429 with Retry-After beyond it); the zero
	// value means no limit.
	IngestLimit RateLimit
	// Webhooks keeps webhook endpoints, deliveries and alerts. WebhookAllowPrivate lets endpoints
	// point at loopback and private addresses (OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE).
	Webhooks            WebhookStore
	WebhookAllowPrivate bool
	// SimulationRunner validates, stores and starts what-if simulations; Simulations reads them.
	SimulationRunner SimulationStarter
	Simulations      SimulationStore
	// Importer stores NDJSON files of events (POST /v1/events/import); nil disables the route.
	Importer EventImporter

	// TracerProvider traces requests (docs/OBSERVABILITY.md); nil, the default, adds no middleware.
	TracerProvider trace.TracerProvider
}

// Server holds the API's dependencies; its methods are the handlers.
type Server struct {
	cfg     Config
	metrics *metrics
}

// Body limits: a batch of 1,000 events with metadata fits in 8 MiB; nothing else needs 1 MiB.
const (
	maxEventsBody = 8 << 20
	maxBody       = 1 << 20
)

// route is one endpoint: the table below is what the router registers and what /openapi.json
// describes, so the document cannot drift from the routes.
type route struct {
	method, path string
	scopes       []string // empty: no authentication
	summary      string
	request      string // schema name of the JSON body, if any
	response     string // schema name of the 2xx body
	status       int    // the success status
	handler      func(*Server) gin.HandlerFunc
}

func routes() []route {
	admin, ingest := []string{billing.ScopeAdmin}, []string{billing.ScopeIngest}
	base := []route{
		{"GET", "/healthz", nil, "The process is up", "", "Status", 200, (*Server).healthz},
		{"GET", "/readyz", nil, "PostgreSQL and Temporal are reachable", "", "Status", 200, (*Server).readyz},
		{"GET", "/openapi.json", nil, "This document", "", "", 200, (*Server).openAPI},
		{"GET", "/metrics", nil, "Prometheus metrics", "", "", 200, (*Server).metricsHandler},

		{"POST", "/v1/events", ingest, "Send a batch of 1–1,000 events", "EventBatch", "EventResults", 200, (*Server).postEvents},
		{"POST", "/v1/events/import", ingest, "Import events for a backfill: NDJSON, one event a line, streamed (up to 1 GiB)", "ImportLine", "ImportResult", 200, (*Server).postImport},
		{"GET", "/v1/tasks/:task_id", []string{billing.ScopeIngest, billing.ScopeFinance}, "A task's state, events and cost by model", "", "Task", 200, (*Server).getTask},

		{"POST", "/v1/customers", admin, "Create a customer (idempotent per customer_id)", "Customer", "Customer", 201, (*Server).createCustomer},
		{"GET", "/v1/customers", admin, "List customers", "", "CustomerList", 200, (*Server).listCustomers},
		{"GET", "/v1/customers/:customer_id", admin, "Get a customer", "", "Customer", 200, (*Server).getCustomer},
		{"PATCH", "/v1/customers/:customer_id", admin, "Change a customer", "CustomerPatch", "Customer", 200, (*Server).patchCustomer},

		{"PUT", "/v1/outcome-types/:outcome_type", admin, "Create or replace an outcome type", "OutcomeType", "OutcomeType", 200, (*Server).putOutcomeType},
		{"GET", "/v1/outcome-types", admin, "List outcome types", "", "OutcomeTypeList", 200, (*Server).listOutcomeTypes},
		{"PUT", "/v1/customers/:customer_id/baselines/:outcome_type", admin, "Set a customer's own labor baseline for an outcome type", "Baseline", "BaselineOverride", 200, (*Server).putBaseline},
		{"DELETE", "/v1/customers/:customer_id/baselines/:outcome_type", admin, "Remove a customer's baseline override", "", "", 204, (*Server).deleteBaseline},

		{"GET", "/v1/model-prices", admin, "List model prices (catalog and vendor rows)", "", "ModelPriceList", 200, (*Server).listModelPrices},
		{"PUT", "/v1/model-prices/:model", admin, "Add a vendor price row for a model from effective_from on", "ModelPriceInput", "ModelPrice", 200, (*Server).putModelPrice},

		{"POST", "/v1/api-keys", admin, "Create an API key (the key is shown once)", "APIKeyInput", "APIKeyCreated", 201, (*Server).createAPIKey},
		{"GET", "/v1/api-keys", admin, "List API keys", "", "APIKeyList", 200, (*Server).listAPIKeys},
		{"DELETE", "/v1/api-keys/:id", admin, "Revoke an API key", "", "APIKey", 200, (*Server).revokeAPIKey},
		{"POST", "/v1/customers/:customer_id/viewer-keys", admin, "Create a customer viewer key", "ViewerKeyInput", "APIKeyCreated", 201, (*Server).createViewerKey},
	}
	return append(append(append(append(append(append(append(base, planRoutes()...), invoiceRunRoutes()...), meRoutes()...), invoiceRoutes()...), economicsRoutes()...), webhookRoutes()...), simulationRoutes()...)
}

// Handler returns the API's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var reg prometheus.Registerer = prometheus.DefaultRegisterer
	if cfg.Metrics != nil {
		reg = cfg.Metrics
	}
	s := &Server{cfg: cfg, metrics: newMetrics(reg)}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	if cfg.TracerProvider != nil {
		r.Use(tracing(cfg.TracerProvider)...)
	}
	r.Use(requestID(), accessLog(cfg.Log), s.metrics.middleware(), recovery())
	r.NoRoute(s.noRoute()) // the dashboard for page loads outside /v1/ (web.go), else 404
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, gin.H{"error": errorBody{Code: billing.EINVALID, Message: "method not allowed on this path"}})
	})
	for _, rt := range routes() {
		limit := int64(maxBody)
		switch rt.path {
		case "/v1/events":
			limit = maxEventsBody
		case "/v1/events/import":
			limit = maxImportBody // read as a stream, never buffered
		}
		chain := []gin.HandlerFunc{limitBody(limit)}
		if len(rt.scopes) > 0 {
			chain = append(chain, authenticate(cfg.Keys), requireScope(rt.scopes...))
		}
		if rt.method == "POST" && rt.path == "/v1/events" && cfg.IngestLimit.PerSecond > 0 {
			chain = append(chain, newLimiter(cfg.IngestLimit).middleware())
		}
		chain = append(chain, rt.handler(s))
		r.Handle(rt.method, rt.path, chain...)
	}
	return r
}

func (s *Server) healthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

func (s *Server) readyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		checks := gin.H{}
		ok := true
		for _, ch := range s.cfg.Ready {
			if err := ch.Ping(c.Request.Context()); err != nil {
				checks[ch.Name], ok = "unreachable", false
				s.cfg.Log.Warn("readiness check failed", "check", ch.Name, "error", err)
				continue
			}
			checks[ch.Name] = "ok"
		}
		status, word := http.StatusOK, "ok"
		if !ok {
			status, word = http.StatusServiceUnavailable, "unavailable"
		}
		c.JSON(status, gin.H{"status": word, "checks": checks})
	}
}

func (s *Server) metricsHandler() gin.HandlerFunc {
	var h http.Handler = promhttp.Handler()
	if s.cfg.Metrics != nil {
		h = promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})
	}
	return gin.WrapH(h)
}
