package billing

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// Webhook event types: what a vendor's endpoint may subscribe to (docs/WEBHOOKS.md).
const (
	WebhookTaskBillable      = "task.billable"
	WebhookTaskNotBillable   = "task.not_billable"
	WebhookInvoiceDrafted    = "invoice.drafted"
	WebhookInvoiceFinalized  = "invoice.finalized"
	WebhookInvoiceVoided     = "invoice.voided"
	WebhookCreditNoteCreated = "credit_note.created"
	WebhookCreditsLow        = "credits.low"
	WebhookSpendThreshold    = "spend.threshold_reached"
	WebhookMarginBelowFloor  = "margin.below_floor"
	WebhookCreditsExpiring   = "credits.expiring"
)

// WebhookEventTypes lists every event type, in the order the docs give them.
var WebhookEventTypes = []string{WebhookTaskBillable, WebhookTaskNotBillable, WebhookInvoiceDrafted, WebhookInvoiceFinalized,
	WebhookInvoiceVoided, WebhookCreditNoteCreated, WebhookCreditsLow, WebhookSpendThreshold, WebhookMarginBelowFloor,
	WebhookCreditsExpiring}

// WebhookEndpoint is a URL of the vendor's that receives signed event notifications.
type WebhookEndpoint struct {
	ID          string
	URL         string
	Events      []string // the types it receives; empty means all
	Description string
	// Secret signs every request to the endpoint. It is kept as given (signing needs it) and
	// shown only when the endpoint is created.
	Secret    string
	CreatedAt time.Time
}

// Subscribes reports whether the endpoint receives events of type typ.
func (e WebhookEndpoint) Subscribes(typ string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, typ)
}

// Check validates an endpoint as registered: its URL (CheckWebhookURL) and its event types, which it
// sorts and deduplicates.
func (e *WebhookEndpoint) Check(allowPrivate bool) error {
	if err := CheckWebhookURL(e.URL, allowPrivate); err != nil {
		return err
	}
	for _, t := range e.Events {
		if !slices.Contains(WebhookEventTypes, t) {
			return Invalid("events", "%q is not an event type; want some of %s", t, strings.Join(WebhookEventTypes, ", "))
		}
	}
	slices.Sort(e.Events)
	e.Events = slices.Compact(e.Events)
	if len(e.Description) > 500 {
		return Invalid("description", "must be at most 500 characters")
	}
	return nil
}

// CheckWebhookURL accepts an absolute http or https URL with a host and no credentials. Unless
// allowPrivate, a host that is a loopback, private, link-local or unspecified address (or
// "localhost") is refused: the worker would otherwise post into the network it runs in. Names
// that resolve to such addresses are refused again when the worker connects.
func CheckWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || len(raw) > 2000 {
		return Invalid("url", "must be an absolute http or https URL of at most 2,000 characters")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid("url", "must use http or https")
	}
	if u.Hostname() == "" {
		return Invalid("url", "must name a host")
	}
	if u.User != nil {
		return Invalid("url", "must not carry credentials; the signature authenticates requests")
	}
	if u.Fragment != "" {
		return Invalid("url", "must not have a #fragment")
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return Invalid("url", "must not point at this machine (set OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE=1 to allow it)")
	}
	if ip, err := netip.ParseAddr(host); err == nil && PrivateAddr(ip) {
		return Invalid("url", "must not point at a loopback, private or link-local address (set OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE=1 to allow it)")
	}
	return nil
}

// PrivateAddr reports whether ip is loopback, private (RFC 1918, RFC 4193), link-local, CGNAT
// shared (100.64.0.0/10), multicast or unspecified: addresses a webhook must not reach unless the
// deployment allows it.
func PrivateAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

// Delivery statuses: pending until an attempt gets a 2xx (delivered) or the attempts run out
// (failed). Redelivering makes a delivery pending again.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// WebhookDelivery is one event sent (or being sent) to one endpoint. Its ID is the Webhook-Id
// header, the same on every attempt: the receiver's idempotency key.
type WebhookDelivery struct {
	ID             string
	EventID        string
	EventType      string
	EndpointID     string
	Status         DeliveryStatus
	Attempts       int
	LastStatusCode int // 0: no HTTP answer yet (or the last attempt got none)
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeliveredAt    time.Time // zero until delivered
	Log            []WebhookAttempt
}

// WebhookAttempt is one HTTP request of a delivery.
type WebhookAttempt struct {
	Attempt    int
	StatusCode int    // 0 when no answer came
	Error      string // "" for a 2xx
	Duration   time.Duration
	At         time.Time
}

// WebhookMessage is what the worker needs to make one attempt of a delivery.
type WebhookMessage struct {
	DeliveryID      string
	URL             string
	Secret          string
	Body            []byte // {"id", "type", "created_at", "data"}: the same on every attempt
	Status          DeliveryStatus
	EndpointDeleted bool
}

// WebhookPayload is the JSON body of a webhook request.
type WebhookPayload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// TaskWebhookData is the data of task.billable and task.not_billable.
type TaskWebhookData struct {
	TaskID        string           `json:"task_id"`
	CustomerID    string           `json:"customer_id"`
	OutcomeType   string           `json:"outcome_type,omitempty"`
	Status        TaskStatus       `json:"status"`
	StatusAt      time.Time        `json:"status_at"`
	Outcome       OutcomeStatus    `json:"outcome,omitempty"`
	Quality       *decimal.Decimal `json:"quality,omitempty"`
	Priority      string           `json:"priority,omitempty"`
	Disputed      bool             `json:"disputed"`
	DisputeReason string           `json:"dispute_reason,omitempty"`
	Cancelled     bool             `json:"cancelled"`
	PreviousState TaskStatus       `json:"previous_status,omitempty"`
}

// NewTaskWebhookData describes a task that moved from prev to s.Status.
func NewTaskWebhookData(prev TaskStatus, s TaskState) TaskWebhookData {
	return TaskWebhookData{TaskID: s.TaskID, CustomerID: s.CustomerID, OutcomeType: s.OutcomeType, Status: s.Status,
		StatusAt: s.StatusAt.UTC(), Outcome: s.Outcome, Quality: s.Quality, Priority: s.Priority, Disputed: s.Disputed,
		DisputeReason: s.DisputeReason, Cancelled: s.Cancelled, PreviousState: prev}
}

// TaskWebhookType is the event a task's move from prev to next announces, "" for none: entering
// billable or not_billable.
func TaskWebhookType(prev, next TaskStatus) string {
	if prev == next {
		return ""
	}
	switch next {
	case TaskBillable:
		return WebhookTaskBillable
	case TaskNotBillable:
		return WebhookTaskNotBillable
	}
	return ""
}

// InvoiceWebhookData is the data of the invoice events: the invoice without its lines (fetch
// GET /v1/invoices/{id} for them).
type InvoiceWebhookData struct {
	InvoiceID      string        `json:"invoice_id"`
	CustomerID     string        `json:"customer_id"`
	Status         InvoiceStatus `json:"status"`
	Number         string        `json:"number,omitempty"`
	PeriodStart    time.Time     `json:"period_start"`
	PeriodEnd      time.Time     `json:"period_end"`
	Currency       string        `json:"currency"`
	Subtotal       string        `json:"subtotal"`
	CreditsApplied string        `json:"credits_applied"`
	Total          string        `json:"total"`
	VoidReason     string        `json:"void_reason,omitempty"`
}

// NewInvoiceWebhookData describes inv with amounts at its currency's precision.
func NewInvoiceWebhookData(inv Invoice) InvoiceWebhookData {
	f := func(d decimal.Decimal) string { return money.New(d, inv.Currency).Display() }
	return InvoiceWebhookData{InvoiceID: inv.ID, CustomerID: inv.CustomerID, Status: inv.Status, Number: inv.Number,
		PeriodStart: inv.PeriodStart.UTC(), PeriodEnd: inv.PeriodEnd.UTC(), Currency: string(inv.Currency),
		Subtotal: f(inv.Subtotal), CreditsApplied: f(inv.CreditsApplied), Total: f(inv.Total), VoidReason: inv.VoidReason}
}

// CreditNoteWebhookData is the data of credit_note.created.
type CreditNoteWebhookData struct {
	CreditNoteID string   `json:"credit_note_id"`
	Number       string   `json:"number"`
	CustomerID   string   `json:"customer_id"`
	Currency     string   `json:"currency"`
	Total        string   `json:"total"`
	InvoiceIDs   []string `json:"invoice_ids"`
	TaskIDs      []string `json:"task_ids"`
}

// NewCreditNoteWebhookData describes a credit note.
func NewCreditNoteWebhookData(cn CreditNote) CreditNoteWebhookData {
	d := CreditNoteWebhookData{CreditNoteID: cn.ID, Number: cn.Number, CustomerID: cn.CustomerID, Currency: string(cn.Currency),
		Total: money.New(cn.Total, cn.Currency).Display(), InvoiceIDs: []string{}, TaskIDs: []string{}}
	for _, l := range cn.Lines {
		if !slices.Contains(d.InvoiceIDs, l.InvoiceID) {
			d.InvoiceIDs = append(d.InvoiceIDs, l.InvoiceID)
		}
		d.TaskIDs = append(d.TaskIDs, l.TaskID)
	}
	return d
}

// AlertKind is what an alert watches.
type AlertKind string

// Alert kinds.
const (
	// AlertSpend fires when what the customer's period comes to before prepaid credit (a draft's
	// subtotal, or the period rated so far as its tasks bill) reaches the threshold.
	AlertSpend AlertKind = "spend"
	// AlertPrepaidBalance fires when the customer's unexpired prepaid credit left after an
	// invoice's finalization falls below the threshold.
	AlertPrepaidBalance AlertKind = "prepaid_balance"
	// AlertMarginFloor fires when the customer's gross margin for a period, as a percentage of the
	// period's revenue, falls below the threshold (a percentage: 20 is 20%). See PeriodMargin.
	AlertMarginFloor AlertKind = "margin_floor"
)

// AlertKinds lists the kinds an alert may have.
var AlertKinds = []AlertKind{AlertSpend, AlertPrepaidBalance, AlertMarginFloor}

// Alert is a threshold on one customer: an amount in the customer's billing currency, or for a
// margin floor a percentage. It fires at most once per billing period.
type Alert struct {
	ID         string
	CustomerID string
	Kind       AlertKind
	Threshold  decimal.Decimal
	Currency   money.Currency
	CreatedAt  time.Time
}

// Check validates an alert as created.
func (a Alert) Check() error {
	switch a.Kind {
	case AlertSpend, AlertPrepaidBalance:
	case AlertMarginFloor:
		if a.Threshold.GreaterThan(hundred) {
			return Invalid("threshold", "a margin floor is a percentage of revenue from 0 to 100, such as 20 for 20%%")
		}
	default:
		return Invalid("kind", "must be spend, prepaid_balance or margin_floor")
	}
	if a.Threshold.IsNegative() {
		return Invalid("threshold", "must not be negative")
	}
	return nil
}

// IsPercent reports whether the alert's threshold is a percentage rather than an amount.
func (a Alert) IsPercent() bool { return a.Kind.IsPercent() }

// IsPercent reports whether alerts of kind k have a percentage for a threshold.
func (k AlertKind) IsPercent() bool { return k == AlertMarginFloor }

// WebhookType is the event an alert of this kind sends when it fires.
func (k AlertKind) WebhookType() string {
	switch k {
	case AlertPrepaidBalance:
		return WebhookCreditsLow
	case AlertMarginFloor:
		return WebhookMarginBelowFloor
	}
	return WebhookSpendThreshold
}

// Fires reports whether an alert's condition holds for value: spend at or above the threshold,
// a prepaid balance or a margin percentage below it.
func (a Alert) Fires(value decimal.Decimal) bool {
	if a.Kind == AlertPrepaidBalance || a.Kind == AlertMarginFloor {
		return value.LessThan(a.Threshold)
	}
	return value.GreaterThanOrEqual(a.Threshold)
}

// AlertWebhookData is the data of credits.low and spend.threshold_reached.
type AlertWebhookData struct {
	AlertID     string    `json:"alert_id"`
	CustomerID  string    `json:"customer_id"`
	Kind        AlertKind `json:"kind"`
	Threshold   string    `json:"threshold"`
	Value       string    `json:"value"`
	Currency    string    `json:"currency"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// Basis says what Value was taken from (BasisInvoiceDraft, BasisPeriodToDate,
	// BasisInvoiceFinalized); InvoiceID names the invoice when there is one.
	Basis     string `json:"basis,omitempty"`
	InvoiceID string `json:"invoice_id,omitempty"`
}

// WebhookDispatch is a delivery the dispatcher is to hand to Temporal: Redeliveries counts the
// times it was redelivered by hand, so that each redelivery gets a workflow of its own.
type WebhookDispatch struct {
	DeliveryID   string
	Redeliveries int
}
