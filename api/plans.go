package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// PlanStore keeps versioned plans, customers' subscriptions to them and prepaid credit grants.
type PlanStore interface {
	CreatePlan(ctx context.Context, p billing.Plan) (billing.Plan, bool, error)
	PutPlan(ctx context.Context, p billing.Plan) (billing.Plan, bool, error)
	Plan(ctx context.Context, id string, version int) (billing.Plan, error)
	Plans(ctx context.Context, p billing.Page) ([]billing.Plan, string, error)
	CreateSubscription(ctx context.Context, s billing.Subscription) (billing.Subscription, bool, error)
	Subscriptions(ctx context.Context, customerID string, p billing.Page) ([]billing.Subscription, string, error)
	CreateCreditGrant(ctx context.Context, g billing.CreditGrant) (billing.CreditGrant, bool, error)
	CreditGrants(ctx context.Context, customerID string, p billing.Page) ([]billing.CreditGrant, string, error)
}

func planRoutes() []route {
	admin := []string{billing.ScopeAdmin}
	return []route{
		{"POST", "/v1/plans", admin, "Create a plan at version 1 (idempotent per plan_id and content)", "PlanInput", "Plan", 201, (*Server).createPlan},
		{"GET", "/v1/plans", admin, "List plans, each at its latest version", "", "PlanList", 200, (*Server).listPlans},
		{"GET", "/v1/plans/:plan_id", admin, "Get a plan's latest version (or ?version=N) with the list of its versions", "", "Plan", 200, (*Server).getPlan},
		{"PUT", "/v1/plans/:plan_id", admin, "Store a new version of a plan; unchanged content makes none", "PlanInput", "Plan", 201, (*Server).putPlan},
		{"POST", "/v1/customers/:customer_id/subscriptions", admin, "Put a customer on a plan from a date on", "SubscriptionInput", "Subscription", 201, (*Server).createSubscription},
		{"GET", "/v1/customers/:customer_id/subscriptions", admin, "List a customer's subscriptions by start", "", "SubscriptionList", 200, (*Server).listSubscriptions},
		{"POST", "/v1/customers/:customer_id/credits", admin, "Grant prepaid credit (idempotent per grant_id)", "CreditGrantInput", "CreditGrant", 201, (*Server).createCreditGrant},
		{"GET", "/v1/customers/:customer_id/credits", admin, "List a customer's credit grants with what remains of each", "", "CreditGrantList", 200, (*Server).listCreditGrants},
	}
}

// planInput is the body of POST /v1/plans and PUT /v1/plans/{plan_id}: the pricing.PlanVersion
// JSON with a name.
type planInput struct {
	PlanID   string           `json:"plan_id"`
	Name     string           `json:"name"`
	Currency money.Currency   `json:"currency"`
	Terms    pricing.Terms    `json:"terms"`
	Prices   []pricing.Charge `json:"prices"`
}

// UnmarshalJSON refuses amounts given as JSON numbers, then decodes as strictly as decodeJSON.
func (in *planInput) UnmarshalJSON(b []byte) error {
	type plain planInput
	return strictDecode(b, (*plain)(in), "terms", "prices")
}

// strictDecode decodes b into dst refusing unknown fields (a type with its own UnmarshalJSON does
// not inherit that from decodeJSON) and refusing JSON numbers anywhere under the given top-level
// keys: there every number is an amount, and amounts are decimal strings (DESIGN.md §8) that must
// not have passed through a float in the client.
func strictDecode(b []byte, dst any, decimalKeys ...string) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) == nil {
		for _, k := range decimalKeys {
			raw, ok := top[k]
			if !ok {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v any
			if dec.Decode(&v) != nil {
				break // the typed decode below reports it
			}
			if path := findNumber(v, k); path != "" {
				return billing.Invalid(path, "must be a decimal string such as \"0.99\", not a JSON number")
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// findNumber returns the path of the first JSON number in v, or "".
func findNumber(v any, path string) string {
	switch x := v.(type) {
	case json.Number:
		return path
	case []any:
		for i, e := range x {
			if p := findNumber(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p := findNumber(x[k], path+"."+k); p != "" {
				return p
			}
		}
	}
	return ""
}

func (in planInput) plan() billing.Plan {
	return billing.Plan{ID: in.PlanID, Name: in.Name, Pricing: pricing.PlanVersion{Currency: in.Currency, Terms: in.Terms, Prices: in.Prices}}
}

type planVersionJSON struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type planJSON struct {
	PlanID    string            `json:"plan_id"`
	Name      string            `json:"name"`
	Version   int               `json:"version"`
	Currency  money.Currency    `json:"currency"`
	Terms     pricing.Terms     `json:"terms"`
	Prices    []pricing.Charge  `json:"prices"`
	CreatedAt time.Time         `json:"created_at"`
	Versions  []planVersionJSON `json:"versions,omitempty"`
}

func renderPlan(p billing.Plan) planJSON {
	out := planJSON{PlanID: p.ID, Name: p.Name, Version: p.Version, Currency: p.Pricing.Currency, Terms: p.Pricing.Terms,
		Prices: p.Pricing.Prices, CreatedAt: p.CreatedAt}
	if out.Prices == nil {
		out.Prices = []pricing.Charge{}
	}
	for _, v := range p.Versions {
		out.Versions = append(out.Versions, planVersionJSON{Version: v.Version, Name: v.Name, CreatedAt: v.CreatedAt})
	}
	return out
}

func (s *Server) createPlan() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in planInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		out, created, err := s.cfg.Plans.CreatePlan(c.Request.Context(), in.plan())
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderPlan(out))
	}
}

func (s *Server) putPlan() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in planInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		id := c.Param("plan_id")
		if in.PlanID != "" && in.PlanID != id {
			renderError(c, billing.Invalid("plan_id", "the body names %q but the path %q", in.PlanID, id))
			return
		}
		in.PlanID = id
		out, created, err := s.cfg.Plans.PutPlan(c.Request.Context(), in.plan())
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderPlan(out))
	}
}

func (s *Server) getPlan() gin.HandlerFunc {
	return func(c *gin.Context) {
		version := 0
		if v := c.Query("version"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				renderError(c, billing.Invalid("version", "must be a version number, 1 or more"))
				return
			}
			version = n
		}
		out, err := s.cfg.Plans.Plan(c.Request.Context(), c.Param("plan_id"), version)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderPlan(out))
	}
}

func (s *Server) listPlans() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Plans.Plans(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderPlan))
	}
}

// subscriptionInput is the body of POST /v1/customers/{customer_id}/subscriptions. Leaving out
// plan_version follows the plan's latest version; starts_at is a date (midnight in the customer's
// billing timezone) or an RFC 3339 time.
type subscriptionInput struct {
	PlanID      string            `json:"plan_id"`
	PlanVersion *int              `json:"plan_version"`
	StartsAt    string            `json:"starts_at"`
	Overrides   billing.Overrides `json:"overrides"`
}

type subscriptionJSON struct {
	SubscriptionID string            `json:"subscription_id"`
	CustomerID     string            `json:"customer_id"`
	PlanID         string            `json:"plan_id"`
	PlanVersion    *int              `json:"plan_version"` // null: follows the latest version
	StartsAt       time.Time         `json:"starts_at"`
	Overrides      billing.Overrides `json:"overrides"`
	CreatedAt      time.Time         `json:"created_at"`
}

func renderSubscription(s billing.Subscription) subscriptionJSON {
	out := subscriptionJSON{SubscriptionID: s.ID, CustomerID: s.CustomerID, PlanID: s.PlanID, StartsAt: s.StartsAt,
		Overrides: s.Overrides, CreatedAt: s.CreatedAt}
	if s.PlanVersion != 0 {
		v := s.PlanVersion
		out.PlanVersion = &v
	}
	return out
}

// UnmarshalJSON refuses amounts in the overrides given as JSON numbers.
func (in *subscriptionInput) UnmarshalJSON(b []byte) error {
	type plain subscriptionInput
	return strictDecode(b, (*plain)(in), "overrides")
}

func (in subscriptionInput) subscription(customerID string) (billing.Subscription, error) {
	s := billing.Subscription{CustomerID: customerID, PlanID: in.PlanID, Overrides: in.Overrides}
	if in.PlanVersion != nil {
		if *in.PlanVersion < 1 {
			return s, billing.Invalid("plan_version", "must be 1 or more; leave it out to follow the latest version")
		}
		s.PlanVersion = *in.PlanVersion
	}
	if in.StartsAt == "" {
		return s, billing.Invalid("starts_at", "is required: a date such as 2026-02-01 or an RFC 3339 time")
	}
	if d, err := time.Parse(time.DateOnly, in.StartsAt); err == nil {
		s.StartsAt, s.DateOnly = d, true
		return s, nil
	}
	t, err := time.Parse(time.RFC3339, in.StartsAt)
	if err != nil {
		return s, billing.Invalid("starts_at", "must be a date such as 2026-02-01 or an RFC 3339 time such as 2026-02-01T00:00:00Z")
	}
	s.StartsAt = t
	return s, nil
}

func (s *Server) createSubscription() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in subscriptionInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		sub, err := in.subscription(c.Param("customer_id"))
		if err != nil {
			renderError(c, err)
			return
		}
		out, created, err := s.cfg.Plans.CreateSubscription(c.Request.Context(), sub)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderSubscription(out))
	}
}

func (s *Server) listSubscriptions() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Plans.Subscriptions(c.Request.Context(), c.Param("customer_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderSubscription))
	}
}

// moneyInput reads {"amount": "...", "currency": "..."} so that each part's error names its field.
type moneyInput struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

func (m *moneyInput) parse(field string) (money.Money, error) {
	if m == nil {
		return money.Money{}, billing.Invalid(field, "is required: {\"amount\": \"1000.00\", \"currency\": \"USD\"}")
	}
	cur, err := money.ParseCurrency(m.Currency)
	if err != nil {
		return money.Money{}, billing.Invalid(field+".currency", "%s", err.Error())
	}
	amount, err := decimalField(field+".amount", m.Amount)
	if err != nil {
		return money.Money{}, err
	}
	return money.New(amount, cur), nil
}

// creditGrantInput is the body of POST /v1/customers/{customer_id}/credits.
type creditGrantInput struct {
	GrantID   string      `json:"grant_id"`
	Amount    *moneyInput `json:"amount"`
	PricePaid *moneyInput `json:"price_paid"`
	ExpiresAt *time.Time  `json:"expires_at"`
}

type creditGrantJSON struct {
	GrantID    string      `json:"grant_id"`
	CustomerID string      `json:"customer_id"`
	Amount     money.Money `json:"amount"`
	PricePaid  money.Money `json:"price_paid"`
	Remaining  money.Money `json:"remaining"`
	ExpiresAt  *time.Time  `json:"expires_at"`
	CreatedAt  time.Time   `json:"created_at"`
}

func renderCreditGrant(g billing.CreditGrant) creditGrantJSON {
	out := creditGrantJSON{GrantID: g.ID, CustomerID: g.CustomerID, Amount: g.Amount, PricePaid: g.PricePaid,
		Remaining: money.New(g.Remaining, g.Amount.Currency), CreatedAt: g.CreatedAt}
	if !g.ExpiresAt.IsZero() {
		e := g.ExpiresAt
		out.ExpiresAt = &e
	}
	return out
}

func (s *Server) createCreditGrant() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in creditGrantInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		g := billing.CreditGrant{CustomerID: c.Param("customer_id"), ID: in.GrantID}
		var err error
		if g.Amount, err = in.Amount.parse("amount"); err != nil {
			renderError(c, err)
			return
		}
		if g.PricePaid, err = in.PricePaid.parse("price_paid"); err != nil {
			renderError(c, err)
			return
		}
		if in.ExpiresAt != nil {
			g.ExpiresAt = in.ExpiresAt.UTC()
		}
		out, created, err := s.cfg.Plans.CreateCreditGrant(c.Request.Context(), g)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderCreditGrant(out))
	}
}

func (s *Server) listCreditGrants() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Plans.CreditGrants(c.Request.Context(), c.Param("customer_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderCreditGrant))
	}
}
