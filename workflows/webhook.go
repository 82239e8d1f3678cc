package workflows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/webhook"
)

// WebhookDeliveryWorkflowName names the workflow that delivers one webhook.
const WebhookDeliveryWorkflowName = "WebhookDeliveryWorkflow"

// WebhookStore is what webhook delivery needs from the database. The events and their deliveries
// are written by the store itself, in the transactions of the changes they announce.
type WebhookStore interface {
	// ClaimWebhookDeliveries returns up to limit deliveries whose workflow is not started yet and
	// hides them from other claims for lease (FOR UPDATE SKIP LOCKED).
	ClaimWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]billing.WebhookDispatch, error)
	// MarkWebhookDispatched records that the deliveries' workflows were started.
	MarkWebhookDispatched(ctx context.Context, ids []string) error
	// WebhookMessage returns the URL, secret and body of a delivery.
	WebhookMessage(ctx context.Context, id string) (billing.WebhookMessage, error)
	// RecordWebhookAttempt logs an attempt; delivered marks the delivery delivered.
	RecordWebhookAttempt(ctx context.Context, id string, a billing.WebhookAttempt, delivered bool) error
	// FailWebhookDelivery marks a pending delivery failed.
	FailWebhookDelivery(ctx context.Context, id, reason string) error
}

// WebhookRetry is how a delivery retries: exponential backoff from InitialInterval, doubling up
// to MaximumInterval, for at most MaximumAttempts attempts in all.
type WebhookRetry struct {
	InitialInterval time.Duration `json:"initial_interval"`
	MaximumInterval time.Duration `json:"maximum_interval"`
	MaximumAttempts int32         `json:"maximum_attempts"`
}

// DefaultWebhookRetry makes 10 attempts over about an hour: after 30 s, 1, 2, 4 and 8 min, then
// every 10 min (55 min from the first attempt to the last).
var DefaultWebhookRetry = WebhookRetry{InitialInterval: 30 * time.Second, MaximumInterval: 10 * time.Minute, MaximumAttempts: 10}

func (r WebhookRetry) orDefault() WebhookRetry {
	if r.InitialInterval <= 0 {
		r.InitialInterval = DefaultWebhookRetry.InitialInterval
	}
	if r.MaximumInterval < r.InitialInterval {
		r.MaximumInterval = max(r.InitialInterval, DefaultWebhookRetry.MaximumInterval)
	}
	if r.MaximumAttempts <= 0 {
		r.MaximumAttempts = DefaultWebhookRetry.MaximumAttempts
	}
	return r
}

// WebhookDeliveryInput names the delivery a WebhookDeliveryWorkflow sends.
type WebhookDeliveryInput struct {
	DeliveryID string       `json:"delivery_id"`
	Retry      WebhookRetry `json:"retry"`
}

// WebhookWorkflowID is the workflow ID of a delivery's workflow: the delivery id (its business
// key), with ":<n>" for its n-th redelivery, so that each redelivery is a run of its own and a
// dispatch repeated after a crash finds the run it started.
func WebhookWorkflowID(d billing.WebhookDispatch) string {
	if d.Redeliveries == 0 {
		return d.DeliveryID
	}
	return d.DeliveryID + ":" + strconv.Itoa(d.Redeliveries)
}

// ErrTypeWebhookGone marks a delivery that cannot succeed (its endpoint was deleted).
const ErrTypeWebhookGone = "webhook.gone"

// WebhookDeliveryWorkflow sends one delivery: the SendWebhook activity makes one HTTP attempt
// and Temporal's activity retry policy spaces the attempts out (in.Retry). It returns the
// delivery's final status: delivered, or failed once the attempts are spent.
func WebhookDeliveryWorkflow(ctx workflow.Context, in WebhookDeliveryInput) (billing.DeliveryStatus, error) {
	r := in.Retry.orDefault()
	var a *WebhookActivities
	sendCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// An attempt is the request (webhookTimeout) and two small writes.
		StartToCloseTimeout: webhookTimeout + 20*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        r.InitialInterval,
			BackoffCoefficient:     2,
			MaximumInterval:        r.MaximumInterval,
			MaximumAttempts:        r.MaximumAttempts,
			NonRetryableErrorTypes: append([]string{ErrTypeWebhookGone}, nonRetryable...),
		},
	})
	err := workflow.ExecuteActivity(sendCtx, a.SendWebhook, in.DeliveryID).Get(ctx, nil)
	if err == nil {
		recordWebhookDelivery(ctx, billing.DeliveryDelivered)
		return billing.DeliveryDelivered, nil
	}
	reason := err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		reason = appErr.Message()
	}
	failCtx := workflow.WithActivityOptions(ctx, invoiceActivityOptions)
	if ferr := workflow.ExecuteActivity(failCtx, a.FailWebhookDelivery, in.DeliveryID, reason).Get(ctx, nil); ferr != nil {
		return billing.DeliveryPending, ferr
	}
	recordWebhookDelivery(ctx, billing.DeliveryFailed)
	return billing.DeliveryFailed, nil
}

// webhookTimeout bounds one request: a receiver should answer at once and do its work later.
const webhookTimeout = 10 * time.Second

// WebhookActivities send webhooks; register one value with the worker.
type WebhookActivities struct {
	Store WebhookStore
	// HTTP sends the requests; nil: NewWebhookClient(AllowPrivate).
	HTTP *http.Client
	// AllowPrivate lets the default client connect to loopback and private addresses
	// (OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	Now          func() time.Time // nil: time.Now
}

// NewWebhookClient returns the HTTP client deliveries use: no redirects followed (a redirect
// is an answer, not a 2xx), a timeout per request, and unless allowPrivate a dialer that refuses
// loopback, private and link-local addresses whatever name resolved to them.
func NewWebhookClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if billing.PrivateAddr(ap.Addr()) {
				return fmt.Errorf("webhook: %s is a private address (OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE is off)", ap.Addr())
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil
	return &http.Client{
		Transport:     tr,
		Timeout:       webhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SendWebhook makes one attempt of a delivery and logs it. A 2xx marks the delivery delivered;
// anything else is an error, which Temporal retries with backoff.
func (a *WebhookActivities) SendWebhook(ctx context.Context, deliveryID string) error {
	m, err := a.Store.WebhookMessage(ctx, deliveryID)
	if err != nil {
		return activityError(fmt.Errorf("webhook delivery %s: %w", deliveryID, err))
	}
	if m.EndpointDeleted {
		return temporal.NewNonRetryableApplicationError("the endpoint was deleted", ErrTypeWebhookGone, nil)
	}
	if m.Status == billing.DeliveryDelivered {
		return nil // this attempt's success was recorded, but the activity's completion was lost
	}
	client := a.HTTP
	if client == nil {
		client = NewWebhookClient(a.AllowPrivate)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	start := now()
	code, sendErr := a.post(ctx, client, m, start)
	recordWebhookAttempt(ctx, code, sendErr)
	attempt := billing.WebhookAttempt{StatusCode: code, Duration: now().Sub(start), At: start}
	delivered := sendErr == nil
	if sendErr != nil {
		attempt.Error = sendErr.Error()
	}
	if err := a.Store.RecordWebhookAttempt(ctx, deliveryID, attempt, delivered); err != nil {
		// Retried: the receiver may see this attempt again, under the same Webhook-Id.
		return fmt.Errorf("webhook delivery %s: record attempt: %w", deliveryID, err)
	}
	return sendErr
}

func (a *WebhookActivities) post(ctx context.Context, client *http.Client, m billing.WebhookMessage, at time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "outcomebill-webhooks/1")
	webhook.Sign(req.Header, m.Secret, m.DeliveryID, at, m.Body)
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("endpoint answered HTTP %d", res.StatusCode)
	}
	return res.StatusCode, nil
}

// FailWebhookDelivery records that a delivery's attempts are spent.
func (a *WebhookActivities) FailWebhookDelivery(ctx context.Context, deliveryID, reason string) error {
	return activityError(a.Store.FailWebhookDelivery(ctx, deliveryID, reason))
}

// RegisterWebhooks registers the webhook delivery workflow and its activities on r.
func RegisterWebhooks(r Registry, acts *WebhookActivities) {
	r.RegisterWorkflowWithOptions(WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: WebhookDeliveryWorkflowName})
	r.RegisterActivity(acts)
}

// WorkflowStarter is the one Temporal call the dispatcher makes; client.Client satisfies it.
type WorkflowStarter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// WebhookDispatcher starts a WebhookDeliveryWorkflow for every new (or redelivered) delivery. Like
// the Relay it is a loop in the worker process, not a workflow: its job is to reach Temporal,
// and while Temporal is down deliveries wait in the database.
type WebhookDispatcher struct {
	Temporal  WorkflowStarter
	Store     WebhookStore
	Logger    *slog.Logger // nil: slog.Default()
	TaskQueue string       // default TaskQueue
	Retry     WebhookRetry // the deliveries' retry policy; zero: DefaultWebhookRetry
	// Tracer traces each pass that found deliveries, so that the delivery workflows it starts
	// are traced under it; nil: no spans.
	Tracer trace.Tracer

	BatchSize    int           // default 100
	PollInterval time.Duration // default 200 ms
	Lease        time.Duration // default 30 s
}

func (d *WebhookDispatcher) defaults() {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.TaskQueue == "" {
		d.TaskQueue = TaskQueue
	}
	if d.BatchSize <= 0 {
		d.BatchSize = 100
	}
	if d.PollInterval <= 0 {
		d.PollInterval = 200 * time.Millisecond
	}
	if d.Lease <= 0 {
		d.Lease = 30 * time.Second
	}
	if d.Tracer == nil {
		d.Tracer = noop.Tracer{}
	}
}

// Run dispatches until ctx is cancelled, then returns nil; failures back off up to 30 s.
func (d *WebhookDispatcher) Run(ctx context.Context) error {
	d.defaults()
	failures := 0
	for {
		n, err := d.Dispatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := d.PollInterval
		switch {
		case err != nil:
			d.Logger.Warn("webhook dispatcher: dispatch failed", "err", err)
			failures++
			wait = min(d.PollInterval<<min(failures, 8), 30*time.Second)
			wait -= time.Duration(rand.Int64N(int64(wait)/5 + 1))
		case n >= d.BatchSize:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Dispatch makes one pass: it claims deliveries, starts their workflows and marks the started
// ones. A delivery whose start failed comes back when its lease runs out. Starting is idempotent:
// a workflow ID that ran already is not run again (REJECT_DUPLICATE), so a dispatch repeated after
// a crash sends nothing twice.
func (d *WebhookDispatcher) Dispatch(ctx context.Context) (int, error) {
	d.defaults()
	claimed, err := d.Store.ClaimWebhookDeliveries(ctx, d.BatchSize, d.Lease)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	ctx, span := d.Tracer.Start(ctx, "webhook.dispatch", trace.WithAttributes(attribute.Int("webhook.deliveries", len(claimed))))
	defer span.End()
	var started []string
	var errs []error
	for _, w := range claimed {
		sctx, cancel := context.WithTimeout(ctx, signalTimeout)
		id := WebhookWorkflowID(w)
		_, err := d.Temporal.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
			ID:                    id,
			TaskQueue:             d.TaskQueue,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		}, WebhookDeliveryWorkflowName, WebhookDeliveryInput{DeliveryID: w.DeliveryID, Retry: d.Retry})
		cancel()
		if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			errs = append(errs, fmt.Errorf("start %s: %w", id, err))
			continue
		}
		started = append(started, w.DeliveryID)
	}
	if len(started) > 0 {
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := d.Store.MarkWebhookDispatched(mctx, started); err != nil {
			errs = append(errs, err)
		}
	}
	return len(claimed), errors.Join(errs...)
}
