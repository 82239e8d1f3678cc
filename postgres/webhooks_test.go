package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
)

func endpoint(t *testing.T, db *postgres.DB, events ...string) billing.WebhookEndpoint {
	t.Helper()
	e, err := db.CreateWebhookEndpoint(context.Background(), billing.WebhookEndpoint{URL: "https://hooks.example.com/" + strings.Join(events, "+"), Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// webhookEvents returns the types of the webhook events written, oldest first, with their
// deliveries' endpoints.
func webhookEvents(t *testing.T, db *postgres.DB) map[string][]string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT ev.type, COALESCE(d.endpoint_id, '') FROM webhook_events ev
		LEFT JOIN webhook_deliveries d ON d.event_id = ev.id ORDER BY ev.seq, d.endpoint_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var typ, ep string
		if err := rows.Scan(&typ, &ep); err != nil {
			t.Fatal(err)
		}
		out[typ] = append(out[typ], ep)
	}
	return out
}

func TestWebhookEndpointsShowTheSecretOnce(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	e := endpoint(t, db, "invoice.finalized")
	if !strings.HasPrefix(e.Secret, "whsec_") || len(e.Secret) != 6+64 || !strings.HasPrefix(e.ID, "we_") {
		t.Fatalf("created %+v", e)
	}
	list, _, err := db.WebhookEndpoints(ctx, billing.Page{})
	if err != nil || len(list) != 1 || list[0].Secret != "" || list[0].URL != e.URL || list[0].Events[0] != "invoice.finalized" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := db.CreateWebhookEndpoint(ctx, billing.WebhookEndpoint{URL: "gopher://x"}); billing.ErrorField(err) != "url" {
		t.Errorf("bad url: %v", err)
	}
	if _, err := db.DeleteWebhookEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteWebhookEndpoint(ctx, e.ID); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("second delete: %v", err)
	}
	if list, _, _ := db.WebhookEndpoints(ctx, billing.Page{}); len(list) != 0 {
		t.Errorf("deleted endpoint still listed: %+v", list)
	}
}

// A task's move into billable or not_billable writes its event with the state, once, and only
// for endpoints subscribed to it; a stale save writes nothing.
func TestSaveTaskStateWritesTaskEvents(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	all := endpoint(t, db)
	onlyInvoices := endpoint(t, db, "invoice.finalized")
	invTask(t, db, "t1", "acme", "", "open", invJan)
	st := billing.TaskState{TaskID: "t1", CustomerID: "acme", OutcomeType: "support.ticket_resolved", Priority: "normal",
		Status: billing.TaskVerifying, StatusAt: invJan, Outcome: billing.OutcomeSucceeded, Version: 1}
	save := func(s billing.TaskState) {
		t.Helper()
		if err := db.SaveTaskState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	save(st)
	if got := webhookEvents(t, db); len(got) != 0 {
		t.Fatalf("verifying announced: %v", got)
	}
	st.Status, st.StatusAt, st.Version = billing.TaskBillable, invJan.Add(time.Hour), 2
	save(st)
	save(st) // a retried save: the version is stored already
	st.Version = 3
	save(st) // the same status again
	stale := st
	stale.Status, stale.Version = billing.TaskNotBillable, 1
	save(stale) // older than what is stored: ignored
	got := webhookEvents(t, db)
	if len(got) != 1 || len(got["task.billable"]) != 1 || got["task.billable"][0] != all.ID {
		t.Fatalf("events = %v, want one task.billable to %s (not %s)", got, all.ID, onlyInvoices.ID)
	}
	// A late dispute.
	st.Status, st.Disputed, st.DisputeReason, st.Version = billing.TaskNotBillable, true, "wrong answer", 4
	save(st)
	var data billing.TaskWebhookData
	var raw []byte
	if err := db.Pool.QueryRow(ctx, `SELECT data FROM webhook_events WHERE type = 'task.not_billable'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if data.TaskID != "t1" || data.PreviousState != billing.TaskBillable || !data.Disputed || data.DisputeReason != "wrong answer" {
		t.Errorf("task.not_billable data = %+v", data)
	}
}

// Events are written in the transaction of the change: a finalization that rolls back — here at
// its very commit, after the event rows were written — leaves no event, no delivery and no
// invoice number behind.
func TestRolledBackFinalizeWritesNoEvent(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	endpoint(t, db, "invoice.finalized")
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	// A deferred constraint trigger fails the commit of any transaction that wrote an event.
	if _, err := db.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
		CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON webhook_events
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err == nil || !strings.Contains(err.Error(), "commit refused") {
		t.Fatalf("finalize = %v, want the commit refused", err)
	}
	if got := webhookEvents(t, db); len(got) != 0 {
		t.Fatalf("a rolled-back finalize left events: %v", got)
	}
	if again, err := db.Invoice(ctx, inv.ID); err != nil || again.Status != billing.InvoiceDraft {
		t.Fatalf("invoice after the failed finalize: %+v, %v", again.Status, err)
	}
	if _, err := db.Pool.Exec(ctx, `DROP TRIGGER refuse_commit ON webhook_events`); err != nil {
		t.Fatal(err)
	}
	fin, err := db.FinalizeInvoice(ctx, inv.ID)
	if err != nil || fin.Number != "2026-000001" {
		t.Fatalf("finalize = %s, %v; the rolled-back one must have given its number back", fin.Number, err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil { // already final: no second event
		t.Fatal(err)
	}
	if got := webhookEvents(t, db); len(got) != 1 || len(got["invoice.finalized"]) != 1 {
		t.Errorf("events = %v, want one invoice.finalized", got)
	}
	if _, err := db.VoidInvoice(ctx, inv.ID, "issued in error"); err != nil {
		t.Fatal(err)
	}
	if got := webhookEvents(t, db); len(got) != 1 {
		t.Errorf("invoice.voided reached an endpoint that did not subscribe to it: %v", got)
	}
}

// A deployment without endpoints stores no events at all; invoice.drafted fires for a new draft
// and for a rebuild that changed its total, not for one that changed nothing.
func TestDraftEvents(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	if _, err := db.BuildDraft(ctx, "acme", invJan, invFeb); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events stored with no endpoint (%v)", n, err)
	}
	endpoint(t, db, "invoice.drafted", "invoice.voided")
	build := func() {
		t.Helper()
		if _, err := db.BuildDraft(ctx, "acme", invJan, invFeb); err != nil {
			t.Fatal(err)
		}
	}
	build() // first announcement
	build() // unchanged
	invTask(t, db, "t2", "acme", "succeeded", "billable", invJan.Add(2*time.Hour))
	build() // total changed
	build()
	if got := webhookEvents(t, db); len(got["invoice.drafted"]) != 2 {
		t.Errorf("invoice.drafted events = %d, want 2", len(got["invoice.drafted"]))
	}
}

// An alert fires once per billing period however often its condition is evaluated, and again in
// the next period.
func TestAlertsFireOncePerPeriod(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	endpoint(t, db, "spend.threshold_reached", "credits.low")
	spend, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertSpend, Threshold: dec("50")})
	if err != nil || spend.Currency != "USD" {
		t.Fatalf("alert %+v, %v", spend, err)
	}
	if _, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "nobody", Kind: billing.AlertSpend, Threshold: dec("1")}); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("alert on an unknown customer: %v", err)
	}
	if _, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertMarginFloor, Threshold: dec("120")}); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("margin_floor above 100%%: %v", err)
	}
	build := func(from, to time.Time) billing.Invoice {
		t.Helper()
		inv, err := db.BuildDraft(ctx, "acme", from, to)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	build(invJan, invFeb) // 49.00: below
	for i := range 5 {
		invTask(t, db, "t"+string(rune('a'+i)), "acme", "succeeded", "billable", invJan.Add(time.Duration(i+1)*time.Hour))
		build(invJan, invFeb) // 49.99, 50.98, …: at or above from the second on
	}
	if got := webhookEvents(t, db); len(got["spend.threshold_reached"]) != 1 {
		t.Fatalf("spend alerts sent = %d, want 1 (%v)", len(got["spend.threshold_reached"]), got)
	}
	var data billing.AlertWebhookData
	var raw []byte
	if err := db.Pool.QueryRow(ctx, `SELECT data FROM webhook_events WHERE type = 'spend.threshold_reached'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil || data.Value != "50.98" || data.Threshold != "50.00" || !data.PeriodStart.Equal(invJan) {
		t.Errorf("alert data = %+v (%v)", data, err)
	}
	invTask(t, db, "feb1", "acme", "succeeded", "billable", invFeb.Add(time.Hour))
	invTask(t, db, "feb2", "acme", "succeeded", "billable", invFeb.Add(time.Hour))
	build(invFeb, invFeb.AddDate(0, 1, 0))
	build(invFeb, invFeb.AddDate(0, 1, 0))
	if got := webhookEvents(t, db); len(got["spend.threshold_reached"]) != 2 {
		t.Errorf("spend alerts after February = %d, want 2", len(got["spend.threshold_reached"]))
	}

	// Prepaid balance: 30 left of a grant, below a threshold of 40, checked at finalization.
	if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: "g1", Amount: money.New(dec("30"), "USD"),
		PricePaid: money.New(dec("25"), "USD")}); err != nil {
		t.Fatal(err)
	}
	low, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertPrepaidBalance, Threshold: dec("40")})
	if err != nil {
		t.Fatal(err)
	}
	inv := build(invJan, invFeb)
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	if got := webhookEvents(t, db); len(got["credits.low"]) != 1 {
		t.Errorf("credits.low sent = %d, want 1", len(got["credits.low"]))
	}
	alerts, _, err := db.Alerts(ctx, "acme", billing.Page{})
	if err != nil || len(alerts) != 2 {
		t.Fatalf("alerts = %+v, %v", alerts, err)
	}
	if err := db.DeleteAlert(ctx, "acme", low.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAlert(ctx, "globex", spend.ID); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("deleting another customer's alert: %v", err)
	}
}

// The delivery life cycle as the dispatcher and the delivery workflow drive it.
func TestWebhookDeliveryLog(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	e := endpoint(t, db, "invoice.drafted")
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimWebhookDeliveries(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].Redeliveries != 0 {
		t.Fatalf("claimed %+v, %v", claimed, err)
	}
	id := claimed[0].DeliveryID
	if again, _ := db.ClaimWebhookDeliveries(ctx, 10, time.Minute); len(again) != 0 {
		t.Errorf("a leased delivery was claimed twice: %+v", again)
	}
	if err := db.MarkWebhookDispatched(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	m, err := db.WebhookMessage(ctx, id)
	if err != nil || m.URL != e.URL || m.Secret != e.Secret || m.Status != billing.DeliveryPending {
		t.Fatalf("message %+v, %v", m, err)
	}
	var body struct {
		ID, Type  string
		CreatedAt time.Time `json:"created_at"`
		Data      billing.InvoiceWebhookData
	}
	if err := json.Unmarshal(m.Body, &body); err != nil || body.Type != "invoice.drafted" || !strings.HasPrefix(body.ID, "evt_") ||
		body.Data.InvoiceID != inv.ID || body.Data.Total != "49.99" || body.Data.Currency != "USD" {
		t.Fatalf("body %s: %+v (%v)", m.Body, body, err)
	}
	if _, err := db.RedeliverWebhook(ctx, id); billing.ErrorCode(err) != billing.ECONFLICT {
		t.Errorf("redelivering a pending delivery: %v", err)
	}
	at := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	if err := db.RecordWebhookAttempt(ctx, id, billing.WebhookAttempt{StatusCode: 503, Error: "503 Service Unavailable", Duration: 12 * time.Millisecond, At: at}, false); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordWebhookAttempt(ctx, id, billing.WebhookAttempt{StatusCode: 204, Duration: 3 * time.Millisecond, At: at.Add(time.Second)}, true); err != nil {
		t.Fatal(err)
	}
	d, err := db.WebhookDelivery(ctx, id)
	if err != nil || d.Status != billing.DeliveryDelivered || d.Attempts != 2 || d.LastStatusCode != 204 || d.EventType != "invoice.drafted" ||
		len(d.Log) != 2 || d.Log[0].StatusCode != 503 || d.Log[1].Attempt != 2 || !d.DeliveredAt.Equal(at.Add(time.Second)) {
		t.Fatalf("delivery %+v, %v", d, err)
	}
	// Redelivery: pending again, claimable again, with its own workflow generation.
	if d, err = db.RedeliverWebhook(ctx, id); err != nil || d.Status != billing.DeliveryPending {
		t.Fatalf("redeliver: %+v, %v", d, err)
	}
	claimed, err = db.ClaimWebhookDeliveries(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].DeliveryID != id || claimed[0].Redeliveries != 1 {
		t.Fatalf("claimed after redeliver %+v, %v", claimed, err)
	}
	if err := db.FailWebhookDelivery(ctx, id, "gave up"); err != nil {
		t.Fatal(err)
	}
	list, _, err := db.WebhookDeliveries(ctx, e.ID, billing.Page{})
	if err != nil || len(list) != 1 || list[0].Status != billing.DeliveryFailed || list[0].LastError != "gave up" {
		t.Fatalf("list %+v, %v", list, err)
	}
	if _, err := db.DeleteWebhookEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RedeliverWebhook(ctx, id); billing.ErrorCode(err) != billing.ECONFLICT {
		t.Errorf("redelivering to a deleted endpoint: %v", err)
	}
	if m, _ := db.WebhookMessage(ctx, id); !m.EndpointDeleted {
		t.Error("message does not say the endpoint was deleted")
	}
}
