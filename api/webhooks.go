package api

import (
	"context"
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
		{"POST", "/v1/customers/:customer_id/alerts", admin, "Add a spend or prepaid-balance alert to a customer", "AlertInput", "Alert", 201, (*Server).createAlert},
		{"GET", "/v1/customers/:customer_id/alerts", admin, "List a customer's alerts", "", "AlertList", 200, (*Server).listAlerts},
		{"DELETE", "/v1/customers/:customer_id/alerts/:alert_id", admin, "Remove a customer's alert", "", "", 204, (*Server).deleteAlert},
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
			"kind":      map[string]any{"type": "string", "enum": []string{"spend", "prepaid_balance"}, "description": "margin_floor is not evaluated yet"},
			"threshold": decStr}),
		"Alert":     obj(nil, map[string]any{"id": str, "customer_id": str, "kind": str, "threshold": ref("Money"), "created_at": dateT}),
		"AlertList": listOf("Alert"),
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
	ID         string      `json:"id"`
	CustomerID string      `json:"customer_id"`
	Kind       string      `json:"kind"`
	Threshold  money.Money `json:"threshold"`
	CreatedAt  time.Time   `json:"created_at"`
}

func renderAlert(a billing.Alert) alertJSON {
	return alertJSON{ID: a.ID, CustomerID: a.CustomerID, Kind: string(a.Kind), Threshold: money.New(a.Threshold, a.Currency), CreatedAt: a.CreatedAt}
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
