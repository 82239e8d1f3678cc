package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// Webhooks work like the event outbox: a change that announces itself (a task becoming billable, an
// invoice finalized, an alert firing) writes its webhook_events row and one webhook_deliveries row
// per subscribed endpoint in its own transaction, through emitWebhook. A rolled-back change leaves
// nothing to send, and a committed one is never lost. The dispatcher (package workflows) then
// starts one Temporal workflow per delivery.

// CreateWebhookEndpoint registers an endpoint with a new signing secret and returns it with the
// secret, which no other call returns. The URL is checked without the private-address rule, which
// is the API's to apply (it knows the deployment's setting).
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e billing.WebhookEndpoint) (billing.WebhookEndpoint, error) {
	if err := e.Check(true); err != nil {
		return e, err
	}
	id, err := newID("we_")
	if err != nil {
		return e, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return e, err
	}
	e.ID, e.Secret, e.CreatedAt = id, "whsec_"+hex.EncodeToString(b[:]), db.Now().UTC()
	if e.Events == nil {
		e.Events = []string{}
	}
	_, err = db.Pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, events, description, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, e.URL, e.Events, e.Description, e.Secret, e.CreatedAt)
	if err != nil {
		return e, interpretError(err, "webhook endpoint", e.ID)
	}
	return e, nil
}

const webhookEndpointColumns = `id, url, events, description, created_at`

func scanWebhookEndpoint(row pgx.Row) (billing.WebhookEndpoint, error) {
	var e billing.WebhookEndpoint
	err := row.Scan(&e.ID, &e.URL, &e.Events, &e.Description, &e.CreatedAt)
	e.CreatedAt = e.CreatedAt.UTC()
	return e, err
}

// WebhookEndpoints lists the live endpoints, oldest first, without their secrets.
func (db *DB) WebhookEndpoints(ctx context.Context, p billing.Page) ([]billing.WebhookEndpoint, string, error) {
	return listPage(ctx, db, p, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints
		WHERE id > $1 AND deleted_at IS NULL ORDER BY id LIMIT $2`,
		scanWebhookEndpoint, func(e billing.WebhookEndpoint) string { return e.ID })
}

// DeleteWebhookEndpoint stops an endpoint from receiving anything new; deliveries still pending
// to it fail at their next attempt. Its delivery log stays readable.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string) (billing.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(db.Pool.QueryRow(ctx, `UPDATE webhook_endpoints SET deleted_at = $2
		WHERE id = $1 AND deleted_at IS NULL RETURNING `+webhookEndpointColumns, id, db.Now()))
	return e, interpretError(err, "webhook endpoint", id)
}

const webhookDeliveryColumns = `d.id, d.event_id, ev.type, d.endpoint_id, d.status, d.attempts, COALESCE(d.last_status_code, 0),
	d.last_error, d.created_at, d.updated_at, d.delivered_at`

func scanWebhookDelivery(row pgx.Row) (billing.WebhookDelivery, error) {
	var d billing.WebhookDelivery
	var status string
	var delivered *time.Time
	err := row.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &status, &d.Attempts, &d.LastStatusCode,
		&d.LastError, &d.CreatedAt, &d.UpdatedAt, &delivered)
	d.Status, d.CreatedAt, d.UpdatedAt = billing.DeliveryStatus(status), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if delivered != nil {
		d.DeliveredAt = delivered.UTC()
	}
	return d, err
}

// WebhookDeliveries lists deliveries, oldest first, of one endpoint or (endpointID "") of all.
func (db *DB) WebhookDeliveries(ctx context.Context, endpointID string, p billing.Page) ([]billing.WebhookDelivery, string, error) {
	return listPage(ctx, db, p, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.id > $1 AND ($3 = '' OR d.endpoint_id = $3) ORDER BY d.id LIMIT $2`,
		scanWebhookDelivery, func(d billing.WebhookDelivery) string { return d.ID }, endpointID)
}

// WebhookDelivery returns one delivery with the log of its attempts.
func (db *DB) WebhookDelivery(ctx context.Context, id string) (billing.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(db.Pool.QueryRow(ctx, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1`, id))
	if err != nil {
		return d, interpretError(err, "webhook delivery", id)
	}
	rows, err := db.Pool.Query(ctx, `SELECT attempt, COALESCE(status_code, 0), error, duration_ms, attempted_at
		FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return d, fmt.Errorf("webhook delivery %s attempts: %w", id, err)
	}
	d.Log, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.WebhookAttempt, error) {
		var a billing.WebhookAttempt
		var ms int64
		err := r.Scan(&a.Attempt, &a.StatusCode, &a.Error, &ms, &a.At)
		a.Duration, a.At = time.Duration(ms)*time.Millisecond, a.At.UTC()
		return a, err
	})
	if err != nil {
		return d, fmt.Errorf("webhook delivery %s attempts: %w", id, err)
	}
	return d, nil
}

// RedeliverWebhook sends a delivered or failed delivery again, with the same Webhook-Id and body:
// it becomes pending and the dispatcher starts a new workflow for it. A delivery still being
// attempted, or to a deleted endpoint, is a conflict.
func (db *DB) RedeliverWebhook(ctx context.Context, id string) (d billing.WebhookDelivery, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		var deleted bool
		err := tx.QueryRow(ctx, `SELECT d.status, e.deleted_at IS NOT NULL FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1 FOR UPDATE OF d`, id).Scan(&status, &deleted)
		if err != nil {
			return interpretError(err, "webhook delivery", id)
		}
		switch {
		case deleted:
			return billing.Errorf(billing.ECONFLICT, "webhook delivery %s: its endpoint was deleted", id)
		case billing.DeliveryStatus(status) == billing.DeliveryPending:
			return billing.Errorf(billing.ECONFLICT, "webhook delivery %s is still being attempted", id)
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', dispatched_at = NULL, available_at = now(),
			redeliveries = redeliveries + 1, updated_at = $2 WHERE id = $1`, id, db.Now())
		return err
	})
	if err != nil {
		return d, err
	}
	return db.WebhookDelivery(ctx, id)
}

// ClaimWebhookDeliveries hands up to limit deliveries whose workflow has not been started to one
// dispatcher and hides them from others for lease.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]billing.WebhookDispatch, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM webhook_deliveries WHERE dispatched_at IS NULL AND available_at <= now()
			ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
		)
		UPDATE webhook_deliveries d SET available_at = now() + $2::interval FROM due WHERE d.id = due.id
		RETURNING d.id, d.redeliveries`, limit, lease)
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.WebhookDispatch, error) {
		var w billing.WebhookDispatch
		err := r.Scan(&w.DeliveryID, &w.Redeliveries)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return out, nil
}

// MarkWebhookDispatched records that the deliveries' workflows were started.
func (db *DB) MarkWebhookDispatched(ctx context.Context, ids []string) error {
	if _, err := db.Pool.Exec(ctx, `UPDATE webhook_deliveries SET dispatched_at = now() WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("mark webhook deliveries dispatched: %w", err)
	}
	return nil
}

// WebhookMessage returns what one attempt of a delivery sends, and where.
func (db *DB) WebhookMessage(ctx context.Context, id string) (billing.WebhookMessage, error) {
	m := billing.WebhookMessage{DeliveryID: id}
	var p billing.WebhookPayload
	var data json.RawMessage
	var status string
	err := db.Pool.QueryRow(ctx, `SELECT e.url, e.secret, e.deleted_at IS NOT NULL, d.status, ev.id, ev.type, ev.created_at, ev.data
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.id = $1`, id).Scan(&m.URL, &m.Secret, &m.EndpointDeleted, &status, &p.ID, &p.Type, &p.CreatedAt, &data)
	if err != nil {
		return m, interpretError(err, "webhook delivery", id)
	}
	m.Status, p.CreatedAt, p.Data = billing.DeliveryStatus(status), p.CreatedAt.UTC(), data
	if m.Body, err = json.Marshal(p); err != nil {
		return m, fmt.Errorf("webhook delivery %s: %w", id, err)
	}
	return m, nil
}

// RecordWebhookAttempt logs one attempt of a delivery (its number is the delivery's count of
// attempts so far plus one, across redeliveries) and, when delivered, marks the delivery so.
func (db *DB) RecordWebhookAttempt(ctx context.Context, id string, a billing.WebhookAttempt, delivered bool) error {
	var code *int
	if a.StatusCode != 0 {
		code = &a.StatusCode
	}
	if len(a.Error) > 1000 {
		a.Error = a.Error[:1000]
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = $2, last_error = $3,
				updated_at = $4, status = CASE WHEN $5 THEN 'delivered' ELSE status END,
				delivered_at = CASE WHEN $5 THEN $4 ELSE delivered_at END
			WHERE id = $1 RETURNING attempts`, id, code, a.Error, a.At, delivered).Scan(&n)
		if err != nil {
			return interpretError(err, "webhook delivery", id)
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, attempted_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, n, code, a.Error, a.Duration.Milliseconds(), a.At)
		if err != nil {
			return fmt.Errorf("webhook delivery %s: log attempt: %w", id, err)
		}
		return nil
	})
}

// FailWebhookDelivery gives a pending delivery up after its last attempt.
func (db *DB) FailWebhookDelivery(ctx context.Context, id, reason string) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	_, err := db.Pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', updated_at = $2,
			last_error = CASE WHEN $3 = '' THEN last_error ELSE $3 END
		WHERE id = $1 AND status = 'pending'`, id, db.Now(), reason)
	if err != nil {
		return fmt.Errorf("fail webhook delivery %s: %w", id, err)
	}
	return nil
}

// emitWebhook writes an event of type typ about subject with its deliveries, in the caller's
// transaction, when at least one live endpoint subscribes to typ; otherwise it writes nothing.
// Delivery ids join the event's and the endpoint's, so they sort by time like the event ids.
func emitWebhook(ctx context.Context, tx pgx.Tx, typ, customerID, subject string, data any, now time.Time) error {
	b := &pgx.Batch{}
	if err := queueWebhook(b, typ, customerID, subject, data, now); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("webhook event %s for %s: %w", typ, subject, err)
	}
	return nil
}

// queueWebhook is emitWebhook as a statement queued on b, for callers that send it in one round
// trip with others.
func queueWebhook(b *pgx.Batch, typ, customerID, subject string, data any, now time.Time) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	id, err := documentID("evt_", now)
	if err != nil {
		return err
	}
	b.Queue(`
		WITH ev AS (
			INSERT INTO webhook_events (id, type, customer_id, subject, data, created_at)
			SELECT $1, $2::text, $3, $4, $5, $6
			WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE deleted_at IS NULL AND (events = '{}' OR $2::text = ANY (events)))
			RETURNING id, type
		)
		INSERT INTO webhook_deliveries (id, event_id, endpoint_id, created_at, updated_at, available_at)
		SELECT 'whd_' || substr(ev.id, 5) || substr(e.id, 4), ev.id, e.id, $6, $6, now()
		FROM ev JOIN webhook_endpoints e ON e.deleted_at IS NULL AND (e.events = '{}' OR ev.type = ANY (e.events))`,
		id, typ, customerID, subject, raw, now.UTC())
	return nil
}

// taskWebhook announces a task that became billable or not billable (SaveTaskState) and, in the
// same round trip, marks its customer for the alert evaluator (markAlertCheck): a move into or
// out of billable changes the period's revenue and margin.
func taskWebhook(ctx context.Context, tx pgx.Tx, prev billing.TaskStatus, s billing.TaskState, now time.Time) error {
	typ := billing.TaskWebhookType(prev, s.Status)
	if typ == "" {
		return nil
	}
	b := &pgx.Batch{}
	if err := queueWebhook(b, typ, s.CustomerID, s.TaskID, billing.NewTaskWebhookData(prev, s), now); err != nil {
		return err
	}
	at := s.StatusAt
	if at.IsZero() {
		at = now
	}
	queueAlertCheck(b, s.CustomerID, at)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("task %s: webhook and alert check: %w", s.TaskID, err)
	}
	return nil
}

// invoiceDraftedWebhook announces a draft that is new or whose total changed since it was last
// announced (a rebuild that changes nothing stays quiet), and evaluates the customer's spend and
// margin_floor alerts against it.
func invoiceDraftedWebhook(ctx context.Context, tx pgx.Tx, inv billing.Invoice, now time.Time) error {
	if inv.Status != billing.InvoiceDraft {
		return nil
	}
	data := billing.NewInvoiceWebhookData(inv)
	var last string
	err := tx.QueryRow(ctx, `SELECT data->>'total' FROM webhook_events WHERE subject = $1 AND type = $2
		ORDER BY seq DESC LIMIT 1`, inv.ID, billing.WebhookInvoiceDrafted).Scan(&last)
	if err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("invoice %s: last drafted event: %w", inv.ID, err)
	}
	if err == pgx.ErrNoRows || last != data.Total {
		if err := emitWebhook(ctx, tx, billing.WebhookInvoiceDrafted, inv.CustomerID, inv.ID, data, now); err != nil {
			return err
		}
	}
	period := billing.Period{Start: inv.PeriodStart, End: inv.PeriodEnd}
	// Spend is what the period's charges come to before prepaid credit pays for part of them: a
	// customer drawing down credits is spending too. The same subtotal is the period's revenue.
	_, err = evaluatePeriodAlerts(ctx, tx, inv.CustomerID, inv.Currency, period, inv.Subtotal, billing.BasisInvoiceDraft, inv.ID, now)
	return err
}

// invoiceFinalizedWebhook announces a finalized invoice and, its credit draws applied, evaluates
// the customer's prepaid-balance alerts against the unexpired credit left in its currency.
func invoiceFinalizedWebhook(ctx context.Context, tx pgx.Tx, inv billing.Invoice, now time.Time) error {
	if err := emitWebhook(ctx, tx, billing.WebhookInvoiceFinalized, inv.CustomerID, inv.ID, billing.NewInvoiceWebhookData(inv), now); err != nil {
		return err
	}
	var balance decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT COALESCE(sum(remaining), 0) FROM credit_grants
		WHERE customer_id = $1 AND currency = $2 AND (expires_at IS NULL OR expires_at > $3)`,
		inv.CustomerID, string(inv.Currency), now).Scan(&balance)
	if err != nil {
		return fmt.Errorf("invoice %s: prepaid balance: %w", inv.ID, err)
	}
	alerts, err := alertsOf(ctx, tx, inv.CustomerID, inv.Currency, billing.AlertPrepaidBalance)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		if !a.Fires(balance) {
			continue
		}
		data := billing.AlertWebhookData{AlertID: a.ID, CustomerID: a.CustomerID, Kind: a.Kind,
			Threshold: money.New(a.Threshold, a.Currency).Display(), Value: money.New(balance, a.Currency).Display(),
			Currency: string(a.Currency), PeriodStart: inv.PeriodStart.UTC(), PeriodEnd: inv.PeriodEnd.UTC(),
			Basis: billing.BasisInvoiceFinalized, InvoiceID: inv.ID}
		if _, err := fireAlert(ctx, tx, a, inv.PeriodStart, balance, data, now); err != nil {
			return err
		}
	}
	return nil
}

// invoiceVoidedWebhook announces a voided invoice.
func invoiceVoidedWebhook(ctx context.Context, tx pgx.Tx, inv billing.Invoice, now time.Time) error {
	return emitWebhook(ctx, tx, billing.WebhookInvoiceVoided, inv.CustomerID, inv.ID, billing.NewInvoiceWebhookData(inv), now)
}

// creditNoteWebhook announces a credit note.
func creditNoteWebhook(ctx context.Context, tx pgx.Tx, cn billing.CreditNote, now time.Time) error {
	return emitWebhook(ctx, tx, billing.WebhookCreditNoteCreated, cn.CustomerID, cn.ID, billing.NewCreditNoteWebhookData(cn), now)
}

// alertsOf returns a customer's live alerts of the kinds given, oldest first: those in currency cur
// (a margin floor, a percentage, in any).
func alertsOf(ctx context.Context, tx pgx.Tx, customerID string, cur money.Currency, kinds ...billing.AlertKind) ([]billing.Alert, error) {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	rows, err := tx.Query(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE customer_id = $1 AND kind = ANY($2) AND (currency = $3 OR kind = 'margin_floor') AND deleted_at IS NULL ORDER BY id`,
		customerID, names, string(cur))
	if err != nil {
		return nil, fmt.Errorf("alerts of %s: %w", customerID, err)
	}
	alerts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("alerts of %s: %w", customerID, err)
	}
	return alerts, nil
}

// fireAlert records that a fired for the billing period starting at periodStart, with value and
// the webhook's data, and emits the webhook — unless it fired for that period already: the
// alert_firings primary key turns every later evaluation in the period into a no-op, however
// often and from wherever (draft builds, the alert evaluator, concurrent runs) it comes. It
// reports whether the alert fired now.
func fireAlert(ctx context.Context, tx pgx.Tx, a billing.Alert, periodStart time.Time, value decimal.Decimal, data any, now time.Time) (bool, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO alert_firings (alert_id, period_start, value, fired_at, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, a.ID, periodStart, value, now, raw)
	if err != nil {
		return false, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil // fired already this period
	}
	return true, emitWebhook(ctx, tx, a.Kind.WebhookType(), a.CustomerID, a.ID, data, now)
}

const alertColumns = `id, customer_id, kind, threshold, currency, created_at`

func scanAlert(row pgx.Row) (billing.Alert, error) {
	var a billing.Alert
	var kind, cur string
	err := row.Scan(&a.ID, &a.CustomerID, &kind, &a.Threshold, &cur, &a.CreatedAt)
	a.Kind, a.Currency, a.CreatedAt = billing.AlertKind(kind), money.Currency(cur), a.CreatedAt.UTC()
	return a, err
}

// CreateAlert adds a threshold to a customer, in the customer's billing currency.
func (db *DB) CreateAlert(ctx context.Context, a billing.Alert) (billing.Alert, error) {
	if err := a.Check(); err != nil {
		return a, err
	}
	id, err := newID("alert_")
	if err != nil {
		return a, err
	}
	a.ID, a.CreatedAt = id, db.Now().UTC()
	a, err = scanAlert(db.Pool.QueryRow(ctx, `INSERT INTO alerts (id, customer_id, kind, threshold, currency, created_at)
		SELECT $1, c.id, $3, $4, c.currency, $5 FROM customers c WHERE c.id = $2
		RETURNING `+alertColumns, a.ID, a.CustomerID, string(a.Kind), a.Threshold, a.CreatedAt))
	return a, interpretError(err, "customer", a.CustomerID)
}

// Alerts lists a customer's alerts, oldest first.
func (db *DB) Alerts(ctx context.Context, customerID string, p billing.Page) ([]billing.Alert, string, error) {
	if err := db.customerExists(ctx, customerID); err != nil {
		return nil, "", err
	}
	return listPage(ctx, db, p, `SELECT `+alertColumns+` FROM alerts
		WHERE id > $1 AND customer_id = $3 AND deleted_at IS NULL ORDER BY id LIMIT $2`,
		scanAlert, func(a billing.Alert) string { return a.ID }, customerID)
}

// DeleteAlert removes a customer's alert; it fires no more.
func (db *DB) DeleteAlert(ctx context.Context, customerID, id string) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE alerts SET deleted_at = $3 WHERE id = $1 AND customer_id = $2 AND deleted_at IS NULL`,
		id, customerID, db.Now())
	if err != nil {
		return fmt.Errorf("delete alert %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return billing.NotFound("alert", id)
	}
	return nil
}
