package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// WebhookStore keeps webhook endpoints, their delivery logs and customers' alerts.
type WebhookStore interface {
	CreateWebhookEndpoint(ctx context.Context, e billing.WebhookEndpoint) (billing.WebhookEndpoint, error)
	WebhookEndpoints(ctx context.Context, p billing.Page) ([]billing.WebhookEndpoint, string, error)
	DeleteWebhookEndpoint(ctx context.Context, id string) (billing.WebhookEndpoint, error)
	WebhookDeliveries(ctx context.Context, endpointID string, p billing.Page) ([]billing.WebhookDelivery, string, error)
	WebhookDelivery(ctx context.Context, id string) (billing.WebhookDelivery, error)
	RedeliverWebhook(ctx context.Context, id string) (billing.WebhookDelivery, error)
	CreateAlert(ctx context.Context, a billing.Alert) (billing.Alert, error)
	Alerts(ctx context.Context, customerID string, p billing.Page) ([]billing.Alert, string, error)
	DeleteAlert(ctx context.Context, customerID, id string) error
	AlertFirings(ctx context.Context, f billing.AlertFiringFilter, p billing.Page) ([]billing.AlertFiring, string, error)
}

func webhookRoutes() []route {
	admin := []string{billing.ScopeAdmin}
	return []route{
		{"POST", "/v1/webhook-endpoints", admin, "Register a webhook endpoint (its signing secret is shown once)", "WebhookEndpointInput", "WebhookEndpointCreated", 201, (*Server).createWebhookEndpoint},
		{"GET", "/v1/webhook-endpoints", admin, "List webhook endpoints", "", "WebhookEndpointList", 200, (*Server).listWebhookEndpoints},
		{"DELETE", "/v1/webhook-endpoints/:id", admin, "Delete a webhook endpoint (its delivery log stays)", "", "WebhookEndpoint", 200, (*Server).deleteWebhookEndpoint},
		{"GET", "/v1/webhook-deliveries", admin, "List webhook deliveries, oldest first (?endpoint_id= for one endpoint)", "", "WebhookDeliveryList", 200, (*Server).listWebhookDeliveries},
		{"GET", "/v1/webhook-deliveries/:id", admin, "A webhook delivery with the log of its attempts", "", "WebhookDelivery", 200, (*Server).getWebhookDelivery},
		{"POST", "/v1/webhook-deliveries/:id/redeliver", admin, "Send a delivered or failed delivery again (same Webhook-Id)", "", "WebhookDelivery", 200, (*Server).redeliverWebhook},
		{"POST", "/v1/customers/:customer_id/alerts", admin, "Add a spend, prepaid-balance or margin-floor alert to a customer", "AlertInput", "Alert", 201, (*Server).createAlert},
		{"GET", "/v1/customers/:customer_id/alerts", admin, "List a customer's alerts", "", "AlertList", 200, (*Server).listAlerts},
		{"DELETE", "/v1/customers/:customer_id/alerts/:alert_id", admin, "Remove a customer's alert", "", "", 204, (*Server).deleteAlert},
		{"GET", "/v1/alert-firings", []string{billing.ScopeAdmin, billing.ScopeFinance}, "List the times alerts fired, newest first (filters: customer_id, kind)", "", "AlertFiringList", 200, (*Server).listAlertFirings},
	}
}

func webhookSchemas() map[string]any {
	events := map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": billing.WebhookEventTypes},
		"description": "the event types to receive; empty or absent: all"}
	endpoint := map[string]any{"id": str, "url": str, "events": events, "description": str, "created_at": dateT}
	created := map[string]any{"secret": map[string]any{"type": "string", "description": "the signing secret, shown once"}}
	for k, v := range endpoint {
		created[k] = v
	}
	attempt := obj(nil, map[string]any{"attempt": intT, "status_code": intT, "error": str, "duration_ms": intT, "attempted_at": dateT})
	return map[string]any{
		"WebhookEndpointInput":   obj([]string{"url"}, map[string]any{"url": str, "events": events, "description": str}),
		"WebhookEndpoint":        obj(nil, endpoint),
		"WebhookEndpointCreated": obj(nil, created),
		"WebhookEndpointList":    listOf("WebhookEndpoint"),
		"WebhookDelivery": obj(nil, map[string]any{"id": map[string]any{"type": "string", "description": "the Webhook-Id header"},
			"event_id": str, "event_type": str, "endpoint_id": str,
			"status":   map[string]any{"type": "string", "enum": []string{"pending", "delivered", "failed"}},
			"attempts": intT, "last_status_code": intT, "last_error": str, "created_at": dateT, "updated_at": dateT, "delivered_at": dateT,
			"attempt_log": map[string]any{"type": "array", "items": attempt, "description": "GET of one delivery only"}}),
		"WebhookDeliveryList": listOf("WebhookDelivery"),
		"AlertInput": obj([]string{"kind", "threshold"}, map[string]any{
			"kind": map[string]any{"type": "string", "enum": []string{"spend", "prepaid_balance", "margin_floor"}},
			"threshold": map[string]any{"type": "string", "pattern": decStr["pattern"],
				"description": "spend and prepaid_balance: an amount in the customer's billing currency; margin_floor: the gross margin floor as a percentage of revenue, 0 to 100 (20 is 20%)"}}),
		"Alert": obj(nil, map[string]any{"id": str, "customer_id": str, "kind": str,
			"threshold":         map[string]any{"allOf": []any{ref("Money")}, "nullable": true, "description": "null for margin_floor"},
			"threshold_percent": map[string]any{"type": "string", "nullable": true, "description": "margin_floor only: the floor in percent"},
			"created_at":        dateT}),
		"AlertFiring": obj(nil, map[string]any{"alert_id": str, "customer_id": str,
			"kind":      map[string]any{"type": "string", "enum": []string{"spend", "prepaid_balance", "margin_floor"}},
			"event":     map[string]any{"type": "string", "description": "the webhook event type it sent"},
			"threshold": map[string]any{"type": "string", "description": "an amount in currency, or for margin_floor a percentage"},
			"value":     map[string]any{"type": "string", "description": "what crossed the threshold: spend, balance, or margin percent"},
			"currency":  str, "period_start": dateT, "period_end": dateT, "fired_at": dateT,
			"data": map[string]any{"type": "object", "description": "the data of the webhook event it sent (docs/WEBHOOKS.md)"}}),
		"AlertFiringList": listOf("AlertFiring"),
		"AlertList":       listOf("Alert"),
	}
}

type webhookEndpointJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// Secret is present only in the answer that creates the endpoint.
	Secret string `json:"secret,omitempty"`
}

func renderWebhookEndpoint(e billing.WebhookEndpoint) webhookEndpointJSON {
	events := e.Events
	if events == nil {
		events = []string{}
	}
	return webhookEndpointJSON{ID: e.ID, URL: e.URL, Events: events, Description: e.Description, CreatedAt: e.CreatedAt}
}

type webhookEndpointInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func (s *Server) createWebhookEndpoint() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in webhookEndpointInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		e := billing.WebhookEndpoint{URL: in.URL, Events: in.Events, Description: in.Description}
		if err := e.Check(s.cfg.WebhookAllowPrivate); err != nil {
			renderError(c, err)
			return
		}
		out, err := s.cfg.Webhooks.CreateWebhookEndpoint(c.Request.Context(), e)
		if err != nil {
			renderError(c, err)
			return
		}
		body := renderWebhookEndpoint(out)
		body.Secret = out.Secret
		c.JSON(http.StatusCreated, body)
	}
}

func (s *Server) listWebhookEndpoints() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Webhooks.WebhookEndpoints(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderWebhookEndpoint))
	}
}

func (s *Server) deleteWebhookEndpoint() gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := s.cfg.Webhooks.DeleteWebhookEndpoint(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderWebhookEndpoint(e))
	}
}

type webhookAttemptJSON struct {
	Attempt     int       `json:"attempt"`
	StatusCode  int       `json:"status_code,omitempty"`
	Error       string    `json:"error,omitempty"`
	DurationMS  int64     `json:"duration_ms"`
	AttemptedAt time.Time `json:"attempted_at"`
}

type webhookDeliveryJSON struct {
	ID             string               `json:"id"`
	EventID        string               `json:"event_id"`
	EventType      string               `json:"event_type"`
	EndpointID     string               `json:"endpoint_id"`
	Status         string               `json:"status"`
	Attempts       int                  `json:"attempts"`
	LastStatusCode int                  `json:"last_status_code,omitempty"`
	LastError      string               `json:"last_error,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
	DeliveredAt    time.Time            `json:"delivered_at,omitzero"`
	Log            []webhookAttemptJSON `json:"attempt_log,omitempty"`
}

func renderWebhookDelivery(d billing.WebhookDelivery) webhookDeliveryJSON {
	out := webhookDeliveryJSON{ID: d.ID, EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID, Status: string(d.Status),
		Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		DeliveredAt: d.DeliveredAt}
	for _, a := range d.Log {
		out.Log = append(out.Log, webhookAttemptJSON{Attempt: a.Attempt, StatusCode: a.StatusCode, Error: a.Error,
			DurationMS: a.Duration.Milliseconds(), AttemptedAt: a.At})
	}
	return out
}

func (s *Server) listWebhookDeliveries() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Webhooks.WebhookDeliveries(c.Request.Context(), c.Query("endpoint_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderWebhookDelivery))
	}
}

func (s *Server) getWebhookDelivery() gin.HandlerFunc {
	return func(c *gin.Context) {
		d, err := s.cfg.Webhooks.WebhookDelivery(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderWebhookDelivery(d))
	}
}

func (s *Server) redeliverWebhook() gin.HandlerFunc {
	return func(c *gin.Context) {
		d, err := s.cfg.Webhooks.RedeliverWebhook(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderWebhookDelivery(d))
	}
}

type alertJSON struct {
	ID         string       `json:"id"`
	CustomerID string       `json:"customer_id"`
	Kind       string       `json:"kind"`
	Threshold  *money.Money `json:"threshold"`
	// ThresholdPercent is a margin floor's threshold, a percentage rather than an amount.
	ThresholdPercent *string   `json:"threshold_percent"`
	CreatedAt        time.Time `json:"created_at"`
}

func renderAlert(a billing.Alert) alertJSON {
	out := alertJSON{ID: a.ID, CustomerID: a.CustomerID, Kind: string(a.Kind), CreatedAt: a.CreatedAt}
	if a.IsPercent() {
		p := a.Threshold.String()
		out.ThresholdPercent = &p
	} else {
		m := money.New(a.Threshold, a.Currency)
		out.Threshold = &m
	}
	return out
}

type alertFiringJSON struct {
	AlertID     string          `json:"alert_id"`
	CustomerID  string          `json:"customer_id"`
	Kind        string          `json:"kind"`
	Event       string          `json:"event"`
	Threshold   string          `json:"threshold"`
	Value       string          `json:"value"`
	Currency    string          `json:"currency"`
	PeriodStart time.Time       `json:"period_start"`
	PeriodEnd   *time.Time      `json:"period_end,omitempty"`
	FiredAt     time.Time       `json:"fired_at"`
	Data        json.RawMessage `json:"data"`
}

func renderAlertFiring(f billing.AlertFiring) alertFiringJSON {
	out := alertFiringJSON{AlertID: f.AlertID, CustomerID: f.CustomerID, Kind: string(f.Kind), Event: f.Kind.WebhookType(),
		Threshold: f.Threshold.String(), Value: f.Value.String(), Currency: string(f.Currency), PeriodStart: f.PeriodStart,
		FiredAt: f.FiredAt, Data: f.Data}
	if f.Kind.IsPercent() {
		out.Value = f.Value.StringFixed(2) // as margin_percent shows it
	} else {
		out.Threshold = money.New(f.Threshold, f.Currency).Display()
		out.Value = money.New(money.Round(f.Value, f.Currency), f.Currency).Display()
	}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage(`{}`)
	}
	// The period's end is in the event's data (firings keep only its start).
	var d struct {
		PeriodEnd time.Time `json:"period_end"`
	}
	if json.Unmarshal(f.Data, &d) == nil && !d.PeriodEnd.IsZero() {
		out.PeriodEnd = &d.PeriodEnd
	}
	return out
}

func (s *Server) listAlertFirings() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		f := billing.AlertFiringFilter{CustomerID: c.Query("customer_id"), Kind: billing.AlertKind(c.Query("kind"))}
		items, next, err := s.cfg.Webhooks.AlertFirings(c.Request.Context(), f, p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderAlertFiring))
	}
}

type alertInput struct {
	Kind      string `json:"kind"`
	Threshold string `json:"threshold"`
}

func (s *Server) createAlert() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in alertInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		threshold, err := decimalField("threshold", in.Threshold)
		if err != nil {
			renderError(c, err)
			return
		}
		a, err := s.cfg.Webhooks.CreateAlert(c.Request.Context(), billing.Alert{CustomerID: c.Param("customer_id"),
			Kind: billing.AlertKind(in.Kind), Threshold: threshold})
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusCreated, renderAlert(a))
	}
}

func (s *Server) listAlerts() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Webhooks.Alerts(c.Request.Context(), c.Param("customer_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderAlert))
	}
}

func (s *Server) deleteAlert() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.cfg.Webhooks.DeleteAlert(c.Request.Context(), c.Param("customer_id"), c.Param("alert_id")); err != nil {
			renderError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
