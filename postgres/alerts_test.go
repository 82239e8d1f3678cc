package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
)

// webhookData returns the data of the webhook events of typ, oldest first.
func webhookData(t *testing.T, db *postgres.DB, typ string) []map[string]any {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT data FROM webhook_events WHERE type = $1 ORDER BY seq`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		var m map[string]any
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// wantFields checks fields of a webhook's data.
func wantFields(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v (data %v)", what, k, got[k], v, got)
		}
	}
}

// A margin_floor alert is evaluated at every draft build: quiet while the margin is above the
// floor, fired once when it falls below, with the period's figures, and quiet on every rebuild of
// the period after that. Its firings are listed with the others.
func TestMarginFloorAtDraftBuild(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	endpoint(t, db, "margin.below_floor")
	floor, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertMarginFloor, Threshold: dec("25")})
	if err != nil || floor.Currency != "USD" || !floor.IsPercent() {
		t.Fatalf("alert %+v, %v", floor, err)
	}
	build := func() billing.Invoice {
		t.Helper()
		inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	// 49.00 of platform fee, no cost: 100%.
	build()
	// A ticket that cost 30.00: revenue 49.99, margin 19.99, 39.99%: above the floor still.
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	simUsage(t, db, "u1", "acme", "t1", "model-a", "30", invJan.Add(time.Hour))
	build()
	if got := webhookData(t, db, "margin.below_floor"); len(got) != 0 {
		t.Fatalf("fired above the floor: %v", got)
	}
	// A failed task's cost counts too (it was spent): 30 + 8.123456 → margin 11.866544, 23.74%.
	invTask(t, db, "t2", "acme", "failed", "not_billable", invJan.Add(2*time.Hour))
	simUsage(t, db, "u2", "acme", "t2", "model-a", "8.123456", invJan.Add(2*time.Hour))
	inv := build()
	build()
	build()
	got := webhookData(t, db, "margin.below_floor")
	if len(got) != 1 {
		t.Fatalf("margin.below_floor sent %d times, want 1", len(got))
	}
	wantFields(t, "margin.below_floor", got[0], map[string]any{"alert_id": floor.ID, "customer_id": "acme", "kind": "margin_floor",
		"currency": "USD", "revenue": "49.99", "cost": "38.12", "cost_usd": "38.123456", "margin": "11.87", "margin_percent": "23.74",
		"floor_percent": "25", "basis": "invoice_draft", "invoice_id": inv.ID, "period_start": "2026-01-01T00:00:00Z",
		"period_end": "2026-02-01T00:00:00Z", "unpriced_usage_events": float64(0)})

	firings, next, err := db.AlertFirings(ctx, billing.AlertFiringFilter{CustomerID: "acme"}, billing.Page{})
	if err != nil || len(firings) != 1 || next != "" {
		t.Fatalf("firings %+v, %q, %v", firings, next, err)
	}
	f := firings[0]
	if f.AlertID != floor.ID || f.Kind != billing.AlertMarginFloor || !f.Value.Equal(dec("23.74")) || !f.PeriodStart.Equal(invJan) ||
		!f.Threshold.Equal(dec("25")) || !f.FiredAt.Equal(invNow) {
		t.Errorf("firing %+v", f)
	}
	var data map[string]any
	if err := json.Unmarshal(f.Data, &data); err != nil || data["margin_percent"] != "23.74" {
		t.Errorf("firing data %s (%v)", f.Data, err)
	}
}

// Spend and margin_floor alerts are evaluated as tasks bill: the move into billable marks the
// customer (only a customer with such an alert), the evaluator rates the open period as it
// stands and fires what crosses, once per period; a mark that arrives while a customer is being
// evaluated keeps it due; periods long closed are left to their invoice runs.
func TestAlertsEvaluatedAsTasksBill(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t) // now: 2026-02-02 09:30, in the period [Feb 1, Mar 1)
	ctx := context.Background()
	endpoint(t, db) // every event type
	floor, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertMarginFloor, Threshold: dec("50")})
	if err != nil {
		t.Fatal(err)
	}
	spend, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertSpend, Threshold: dec("50.50")})
	if err != nil {
		t.Fatal(err)
	}
	// bill moves a task into billable as the task workflow does.
	bill := func(id, customer string, at time.Time) {
		t.Helper()
		invTask(t, db, id, customer, "succeeded", "verifying", at.Add(-time.Hour))
		st := billing.TaskState{TaskID: id, CustomerID: customer, OutcomeType: "support.ticket_resolved", Priority: "normal",
			Status: billing.TaskBillable, StatusAt: at, Outcome: billing.OutcomeSucceeded, BillableAt: at, Version: 1}
		if err := db.SaveTaskState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	checks := func() map[string]int64 {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `SELECT customer_id, marks FROM alert_checks`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			out[id] = n
		}
		return out
	}
	claim := func() []billing.AlertCheck {
		t.Helper()
		c, err := db.ClaimAlertChecks(ctx, 10, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	bill("f1", "acme", invFeb.Add(time.Hour))
	simUsage(t, db, "u1", "acme", "f1", "model-a", "30", invFeb.Add(time.Hour))
	bill("g1", "globex", invFeb.Add(time.Hour)) // no alerts: no mark
	if got := checks(); len(got) != 1 || got["acme"] != 1 {
		t.Fatalf("alert checks %v, want acme once", got)
	}
	c := claim()
	if len(c) != 1 || c[0].CustomerID != "acme" || !c[0].From.Equal(invFeb.Add(time.Hour)) || c[0].Marks != 1 {
		t.Fatalf("claimed %+v", c)
	}
	if again := claim(); len(again) != 0 {
		t.Fatalf("a leased check was claimed twice: %+v", again)
	}
	// February so far: 49 + 0.99 = 49.99 of revenue, 30 of cost: 39.99% < 50. Spend 49.99 < 50.50.
	if n, err := db.EvaluateAlertCheck(ctx, c[0], 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("evaluated: %d fired, %v", n, err)
	}
	if got := checks(); len(got) != 0 {
		t.Errorf("checks left after evaluation: %v", got)
	}
	got := webhookData(t, db, "margin.below_floor")
	if len(got) != 1 {
		t.Fatalf("margin.below_floor sent %d times", len(got))
	}
	wantFields(t, "margin.below_floor", got[0], map[string]any{"alert_id": floor.ID, "revenue": "49.99", "margin_percent": "39.99",
		"basis": "period_to_date", "period_start": "2026-02-01T00:00:00Z"})
	if _, ok := got[0]["invoice_id"]; ok {
		t.Errorf("a period-to-date evaluation names an invoice: %v", got[0])
	}

	// Another task bills; a third while the customer is being evaluated: the check stays due.
	bill("f2", "acme", invFeb.Add(2*time.Hour))
	c = claim()
	bill("f3", "acme", invFeb.Add(3*time.Hour))
	// 49 + 2 × 0.99 = 50.98 as of the claim's snapshot or 51.97 after f3: spend fires either way;
	// the margin alert fired for February already.
	if n, err := db.EvaluateAlertCheck(ctx, c[0], 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("second evaluation: %d fired, %v", n, err)
	}
	if got := checks(); got["acme"] != 2 {
		t.Errorf("a mark made during the evaluation was dropped: %v", got)
	}
	if c = claim(); len(c) != 1 {
		t.Fatalf("the check is not due again: %+v", c)
	}
	if n, err := db.EvaluateAlertCheck(ctx, c[0], 24*time.Hour); err != nil || n != 0 {
		t.Errorf("third evaluation: %d fired, %v", n, err)
	}
	if got := webhookData(t, db, "spend.threshold_reached"); len(got) != 1 || got[0]["alert_id"] != spend.ID || got[0]["basis"] != "period_to_date" {
		t.Errorf("spend.threshold_reached: %v", got)
	}
	if got := webhookData(t, db, "margin.below_floor"); len(got) != 1 {
		t.Errorf("margin.below_floor sent %d times", len(got))
	}

	// A task of December (closed long ago) billing late: no alert for December from here.
	bill("d1", "acme", time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC))
	simUsage(t, db, "u2", "acme", "d1", "model-a", "500", time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC))
	c = claim()
	if n, err := db.EvaluateAlertCheck(ctx, c[0], 24*time.Hour); err != nil || n != 0 {
		t.Errorf("closed period: %d fired, %v", n, err)
	}
	// Its invoice run does evaluate it.
	if _, err := db.BuildDraft(ctx, "acme", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), invJan); err != nil {
		t.Fatal(err)
	}
	if got := webhookData(t, db, "margin.below_floor"); len(got) != 2 || got[1]["period_start"] != "2025-12-01T00:00:00Z" {
		t.Errorf("December at its draft: %v", got)
	}

	// A deleted alert marks nothing.
	for _, a := range []billing.Alert{floor, spend} {
		if err := db.DeleteAlert(ctx, "acme", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	bill("f4", "acme", invFeb.Add(4*time.Hour))
	if got := checks(); len(got) != 0 {
		t.Errorf("marked without alerts: %v", got)
	}
}

// Prepaid grants with credit left announce their expiry once per notice threshold — the nearest
// one reached, not a burst of all of them — and grants spent, expired or without an expiry never.
func TestCreditsExpiring(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	endpoint(t, db, "credits.expiring")
	now := invNow
	db.Now = func() time.Time { return now }
	grant := func(id string, expires time.Time) {
		t.Helper()
		if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: id, Amount: money.New(dec("100"), "USD"),
			PricePaid: money.New(dec("80"), "USD"), ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	grant("far", now.Add(20*day))   // 30-day notice now, 7-day notice in 13 days
	grant("near", now.Add(5*day))   // the 7-day notice only
	grant("later", now.Add(60*day)) // nothing yet
	grant("spent", now.Add(3*day))  // nothing: no credit left
	grant("forever", time.Time{})   // nothing: never expires
	if _, err := db.Pool.Exec(ctx, `UPDATE credit_grants SET remaining = 0 WHERE id = 'spent'`); err != nil {
		t.Fatal(err)
	}
	notify := func(want int) {
		t.Helper()
		n, err := db.NotifyExpiringCredits(ctx, []int{30, 7}, 100)
		if err != nil || n != want {
			t.Fatalf("sent %d, %v; want %d", n, err, want)
		}
	}
	notify(2)
	notify(0)
	got := webhookData(t, db, "credits.expiring")
	if len(got) != 2 {
		t.Fatalf("credits.expiring: %v", got)
	}
	byGrant := map[string]map[string]any{}
	for _, d := range got {
		byGrant[d["grant_id"].(string)] = d
	}
	wantFields(t, "far", byGrant["far"], map[string]any{"customer_id": "acme", "currency": "USD", "amount": "100.00",
		"remaining": "100.00", "notice_days": float64(30), "expires_at": now.Add(20 * day).Format(time.RFC3339)})
	wantFields(t, "near", byGrant["near"], map[string]any{"notice_days": float64(7)})

	now = now.Add(14 * day) // far: 6 days left; near: expired
	notify(1)
	notify(0)
	if got := webhookData(t, db, "credits.expiring"); len(got) != 3 || got[2]["grant_id"] != "far" || got[2]["notice_days"] != float64(7) {
		t.Errorf("after two weeks: %v", got)
	}
	if n, err := db.NotifyExpiringCredits(ctx, nil, 100); err != nil || n != 0 {
		t.Errorf("no thresholds: %d, %v", n, err)
	}
}

// The firings list filters by customer and kind, newest first, a page at a time.
func TestAlertFiringsList(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	spend, err := db.CreateAlert(ctx, billing.Alert{CustomerID: "acme", Kind: billing.AlertSpend, Threshold: dec("1")})
	if err != nil {
		t.Fatal(err)
	}
	for m := range 3 {
		from := invJan.AddDate(0, m, 0)
		if _, err := db.BuildDraft(ctx, "acme", from, from.AddDate(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var starts []string
	cursor := ""
	for range 5 {
		page, next, err := db.AlertFirings(ctx, billing.AlertFiringFilter{Kind: billing.AlertSpend}, billing.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			if f.AlertID != spend.ID || f.CustomerID != "acme" {
				t.Errorf("firing %+v", f)
			}
			starts = append(starts, f.PeriodStart.Format("2006-01"))
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if got := len(starts); got != 3 || starts[0] != "2026-03" || starts[2] != "2026-01" {
		t.Errorf("firings newest first: %v", starts)
	}
	for _, tc := range []struct {
		f    billing.AlertFiringFilter
		want int
	}{
		{billing.AlertFiringFilter{CustomerID: "globex"}, 0},
		{billing.AlertFiringFilter{Kind: billing.AlertMarginFloor}, 0},
		{billing.AlertFiringFilter{CustomerID: "acme", Kind: billing.AlertSpend}, 3},
	} {
		if list, _, err := db.AlertFirings(ctx, tc.f, billing.Page{}); err != nil || len(list) != tc.want {
			t.Errorf("%+v: %d firings, %v; want %d", tc.f, len(list), err, tc.want)
		}
	}
	if _, _, err := db.AlertFirings(ctx, billing.AlertFiringFilter{Kind: "nope"}, billing.Page{}); billing.ErrorField(err) != "kind" {
		t.Errorf("bad kind: %v", err)
	}
	if _, _, err := db.AlertFirings(ctx, billing.AlertFiringFilter{}, billing.Page{Cursor: "bm90LWEtbnVtYmVy"}); billing.ErrorField(err) != "cursor" {
		t.Errorf("bad cursor: %v", err)
	}
}
