package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
	"github.com/outcomebill/outcomebill/pricing"
)

var (
	invJan = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	invFeb = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	invNow = time.Date(2026, 2, 2, 9, 30, 0, 0, time.UTC)
)

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

// invoiceFixture is a database with customer acme (USD) on a plan of 49.00 a month plus 0.99 a
// resolved ticket, whose baseline is 12 min at 94,000 a year over 1,880 h: 10.00 a ticket.
func invoiceFixture(t *testing.T) *postgres.DB {
	t.Helper()
	db := pgtest.NewDB(t)
	db.Now = func() time.Time { return invNow }
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: id, Name: id + " Inc.", Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.PutOutcomeType(ctx, billing.OutcomeType{Key: "support.ticket_resolved", Name: "Resolved ticket",
		Baseline:      billing.LaborBaseline{HumanMinutes: dec("12"), AnnualCost: money.New(dec("94000"), "USD")},
		DisputeWindow: time.Hour, TaskTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := billing.Plan{ID: "support", Name: "Support", Pricing: pricing.PlanVersion{Currency: "USD",
		Terms: pricing.Terms{PlatformFee: decp("49")},
		Prices: []pricing.Charge{{OutcomeType: "support.ticket_resolved",
			Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: decp("0.99")}}}}}
	if _, _, err := db.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSubscription(ctx, billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: invJan.AddDate(-1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	return db
}

// invTask writes a task as its workflow would have saved it.
func invTask(t *testing.T, db *postgres.DB, id, customer, outcome, status string, at time.Time) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `WITH k AS (INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ($1, $2, $4) RETURNING *)
		INSERT INTO tasks (task_id, customer_id, opened_at, status, outcome_type, priority, status_at, outcome)
		SELECT task_id, customer_id, opened_at, $3, 'support.ticket_resolved', 'normal', $4, $5 FROM k`, id, customer, status, at, outcome)
	if err != nil {
		t.Fatal(err)
	}
}

func wantDec(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func checkSums(t *testing.T, inv billing.Invoice) {
	t.Helper()
	if err := inv.Check(); err != nil {
		t.Error(err)
	}
}

func TestBuildDraftRerunFinalizeVoid(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	invTask(t, db, "t2", "acme", "succeeded", "billable", invJan.Add(48*time.Hour))
	invTask(t, db, "t3", "acme", "partial", "billable", invJan.Add(72*time.Hour))
	invTask(t, db, "t-feb", "acme", "succeeded", "billable", invFeb)               // next period
	invTask(t, db, "t-open", "acme", "", "open", invJan.Add(time.Hour))            // not billable yet
	invTask(t, db, "g1", "globex", "succeeded", "billable", invJan.Add(time.Hour)) // another customer

	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	checkSums(t, inv)
	if inv.Status != billing.InvoiceDraft || inv.Number != "" || !inv.IssueDate.IsZero() || inv.PlanID != "support" || inv.PlanVersion != 1 {
		t.Errorf("draft = %+v", inv)
	}
	// 2.5 outcomes × 0.99 = 2.475 → 2.48; + 49.00 platform fee.
	wantDec(t, "total", inv.Total, "51.48")
	if len(inv.Lines) != 2 || inv.Lines[0].ExplanationText == "" || inv.Lines[0].Position != 1 {
		t.Fatalf("lines = %+v", inv.Lines)
	}
	// 2.5 outcomes × 12 min = 30 min = 0.5 h; × 50.00/h = 25.00; savings 25.00 − 51.48.
	v := inv.Value
	if v.Outcomes != 3 || v.Succeeded != 2 || v.Partial != 1 {
		t.Errorf("value outcomes = %+v", v)
	}
	wantDec(t, "hours", v.HumanHours, "0.5")
	if v.LaborCost == nil || !v.LaborCost.Equal(money.New(dec("25"), "USD")) || v.Savings == nil || !v.Savings.Amount.Equal(dec("-26.48")) {
		t.Errorf("labor cost %v savings %v", v.LaborCost, v.Savings)
	}
	// 0.5 h ÷ (1,880 h / 12) in one month.
	wantDec(t, "fte", v.FTE, "0")
	if inv.CustomerName != "acme Inc." || inv.Vendor.Name != billing.DefaultVendorName {
		t.Errorf("names: %q, %+v", inv.CustomerName, inv.Vendor)
	}

	// A late task: the re-run rebuilds the same draft with new lines.
	invTask(t, db, "t4", "acme", "succeeded", "billable", invJan.Add(96*time.Hour))
	again, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	checkSums(t, again)
	if again.ID != inv.ID {
		t.Errorf("re-run made invoice %s, want the draft %s rebuilt", again.ID, inv.ID)
	}
	wantDec(t, "quantity after re-run", again.Lines[0].Quantity, "3.5")
	wantDec(t, "total after re-run", again.Total, "52.47") // 3.465 → 3.47 + 49
	if n := count(t, db, `SELECT count(*) FROM invoice_tasks WHERE invoice_id = $1`, inv.ID); n != 4 {
		t.Errorf("%d billed tasks, want 4", n)
	}
	if n := count(t, db, `SELECT count(*) FROM invoice_lines WHERE invoice_id = $1`, inv.ID); n != 2 {
		t.Errorf("%d lines, want the 2 of the re-run only", n)
	}

	fin, err := db.FinalizeInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fin.Status != billing.InvoiceFinalized || fin.Number != "2026-000001" || !fin.IssueDate.Equal(time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)) ||
		!fin.FinalizedAt.Equal(invNow) {
		t.Errorf("finalized = %s %s %s %s", fin.Status, fin.Number, fin.IssueDate, fin.FinalizedAt)
	}
	if twice, err := db.FinalizeInvoice(ctx, inv.ID); err != nil || twice.Number != fin.Number {
		t.Errorf("finalize again: %v, number %q; want the same invoice", err, twice.Number)
	}
	// Late events after finalization never touch it: the run returns the finalized invoice.
	invTask(t, db, "t5", "acme", "succeeded", "billable", invJan.Add(100*time.Hour))
	after, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil || after.ID != fin.ID || after.Status != billing.InvoiceFinalized || !after.Total.Equal(fin.Total) {
		t.Errorf("run after finalization: %v, %s %s %s", err, after.ID, after.Status, after.Total)
	}

	if _, err := db.VoidInvoice(ctx, inv.ID, "  "); billing.ErrorCode(err) != billing.EINVALID || billing.ErrorField(err) != "reason" {
		t.Errorf("void without a reason: %v", err)
	}
	void, err := db.VoidInvoice(ctx, inv.ID, "billed the wrong entity")
	if err != nil {
		t.Fatal(err)
	}
	if void.Status != billing.InvoiceVoid || void.Number != "2026-000001" || void.VoidReason != "billed the wrong entity" || void.VoidedAt.IsZero() {
		t.Errorf("void = %s %q %q %s", void.Status, void.Number, void.VoidReason, void.VoidedAt)
	}
	if _, err := db.VoidInvoice(ctx, inv.ID, "billed the wrong entity"); err != nil {
		t.Errorf("void again with the same reason: %v", err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); billing.ErrorCode(err) != billing.ECONFLICT {
		t.Errorf("finalize a void invoice: %v, want conflict", err)
	}
	if got, err := db.BuildDraft(ctx, "acme", invJan, invFeb); err != nil || got.ID != inv.ID || got.Status != billing.InvoiceVoid {
		t.Errorf("run after void: %v %s %s; want the void invoice unchanged", err, got.ID, got.Status)
	}
	// The next finalization takes the next number: numbers are never reused.
	feb, err := db.BuildDraft(ctx, "acme", invFeb, invFeb.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if feb, err = db.FinalizeInvoice(ctx, feb.ID); err != nil || feb.Number != "2026-000002" {
		t.Errorf("february: %v %q", err, feb.Number)
	}
}

// rated rates n succeeded tickets at 0.99 with a 49.00 platform fee.
func rated(t *testing.T, n int64) pricing.Result {
	t.Helper()
	res, err := pricing.Rate(pricing.PlanVersion{Currency: "USD", Terms: pricing.Terms{PlatformFee: decp("49")},
		Prices: []pricing.Charge{{OutcomeType: "support.ticket_resolved", Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: decp("0.99")}}}},
		pricing.Usage{Counts: []pricing.OutcomeCount{{OutcomeType: "support.ticket_resolved", Succeeded: n}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestUpsertDraftRefusesBadInput(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	invTask(t, db, "g1", "globex", "succeeded", "billable", invJan)
	good := billing.DraftInput{CustomerID: "acme", PeriodStart: invJan, PeriodEnd: invFeb, Result: rated(t, 3)}
	badTotal := good
	badTotal.Result.Total = dec("1")
	badRound := good
	badRound.Result = rated(t, 3)
	badRound.Result.Lines[0].Amount = dec("2.975")
	tests := []struct {
		name      string
		mutate    func(in billing.DraftInput) billing.DraftInput
		code      string
		wantField string
	}{
		{"no customer", func(in billing.DraftInput) billing.DraftInput { in.CustomerID = ""; return in }, billing.EINVALID, "customer_id"},
		{"unknown customer", func(in billing.DraftInput) billing.DraftInput { in.CustomerID = "nobody"; return in }, billing.ENOTFOUND, ""},
		{"empty period", func(in billing.DraftInput) billing.DraftInput { in.PeriodEnd = in.PeriodStart; return in }, billing.EINVALID, "period_end"},
		{"total not the sum", func(billing.DraftInput) billing.DraftInput { return badTotal }, billing.EINTERNAL, ""},
		{"line not rounded", func(billing.DraftInput) billing.DraftInput { return badRound }, billing.EINTERNAL, ""},
		{"another customer's task", func(in billing.DraftInput) billing.DraftInput { in.TaskIDs = []string{"g1"}; return in }, billing.EINVALID, "task_ids"},
		{"unknown task", func(in billing.DraftInput) billing.DraftInput { in.TaskIDs = []string{"nope"}; return in }, billing.EINVALID, "task_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.UpsertDraft(ctx, tt.mutate(good))
			if billing.ErrorCode(err) != tt.code || billing.ErrorField(err) != tt.wantField {
				t.Errorf("err = %v, want %s %q", err, tt.code, tt.wantField)
			}
		})
	}
	if n := count(t, db, `SELECT count(*) FROM invoices`); n != 0 {
		t.Errorf("%d invoices written by refused inputs", n)
	}
	inv, err := db.UpsertDraft(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	checkSums(t, inv)
	wantDec(t, "total", inv.Total, "51.97")
}

// finalizeAll drafts and finalizes n invoices of acme, all at once, and returns their numbers.
func finalizeAll(t *testing.T, db *postgres.DB, n int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		from := invJan.AddDate(0, 0, i)
		inv, err := db.UpsertDraft(ctx, billing.DraftInput{CustomerID: "acme", PeriodStart: from, PeriodEnd: from.AddDate(0, 0, 1), Result: rated(t, int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = inv.ID
	}
	numbers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		wg.Go(func() {
			<-start
			inv, err := db.FinalizeInvoice(ctx, id)
			numbers[i], errs[i] = inv.Number, err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("finalize %s: %v", ids[i], err)
		}
	}
	slices.Sort(numbers)
	return numbers
}

func TestConcurrentFinalizationsAreGapless(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			db := invoiceFixture(t)
			got := finalizeAll(t, db, n)
			for i, num := range got {
				if want := fmt.Sprintf("2026-%06d", i+1); num != want {
					t.Fatalf("numbers %v: #%d is %s, want %s (no gap, no duplicate)", got, i, num, want)
				}
			}
		})
	}
}

func TestFinalizedInvoiceIsImmutableInSQL(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	// A draft whose total is not the sum of its lines cannot be finalized, even by hand.
	if _, err := db.Pool.Exec(ctx, `UPDATE invoices SET total = total + 1, subtotal = subtotal + 1 WHERE id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE invoices SET status = 'finalized', number = 'X-1', issue_date = '2026-02-02' WHERE id = $1`, inv.ID); err == nil {
		t.Error("finalizing a draft whose total is not the sum of its lines succeeded in SQL")
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err == nil {
		t.Error("FinalizeInvoice accepted a total that is not the sum of the lines")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE invoices SET total = total - 1, subtotal = subtotal - 1 WHERE id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	refused := []string{
		`UPDATE invoices SET total = 0, subtotal = 0 WHERE id = $1`,
		`UPDATE invoices SET number = '2026-999999' WHERE id = $1`,
		`UPDATE invoices SET customer_name = 'Someone else' WHERE id = $1`,
		`UPDATE invoices SET status = 'draft', number = NULL, issue_date = NULL WHERE id = $1`,
		`UPDATE invoices SET status = 'void', void_reason = 'x', voided_at = now(), total = 0, subtotal = 0 WHERE id = $1`,
		`DELETE FROM invoices WHERE id = $1`,
		`UPDATE invoice_lines SET amount = 0 WHERE invoice_id = $1`,
		`UPDATE invoice_lines SET description = 'changed' WHERE invoice_id = $1`,
		`DELETE FROM invoice_lines WHERE invoice_id = $1`,
		`INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity, amount, explanation, explanation_text)
			VALUES ($1, 99, 'charge', 'extra', 1, 0, '{}', '')`,
		`UPDATE invoice_tasks SET outcome = 'partial' WHERE invoice_id = $1`,
		`DELETE FROM invoice_tasks WHERE invoice_id = $1`,
	}
	for _, q := range refused {
		if _, err := db.Pool.Exec(ctx, q, inv.ID); err == nil {
			t.Errorf("on a finalized invoice, %s succeeded", q)
		}
	}
	// Voiding is the one change allowed, and then nothing more.
	if _, err := db.Pool.Exec(ctx, `UPDATE invoices SET status = 'void', void_reason = 'test', voided_at = now() WHERE id = $1`, inv.ID); err != nil {
		t.Fatalf("voiding in SQL: %v", err)
	}
	for _, q := range append(refused, `UPDATE invoices SET void_reason = 'other' WHERE id = $1`, `UPDATE invoices SET status = 'finalized', void_reason = NULL, voided_at = NULL WHERE id = $1`) {
		if _, err := db.Pool.Exec(ctx, q, inv.ID); err == nil {
			t.Errorf("on a void invoice, %s succeeded", q)
		}
	}
	got, err := db.Invoice(ctx, inv.ID)
	if err != nil || got.Number != "2026-000001" || len(got.Lines) != 2 {
		t.Errorf("after the attempts: %v %q %d lines", err, got.Number, len(got.Lines))
	}
	checkSums(t, got)
}

func TestCreditNotesForTasksDisputedAfterFinalization(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	for _, id := range []string{"t1", "t2", "t3"} {
		invTask(t, db, id, "acme", "succeeded", "billable", invJan.Add(time.Hour))
	}
	invTask(t, db, "t4", "acme", "partial", "billable", invJan.Add(time.Hour))
	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	// A dispute before finalization changes nothing pending: the draft is simply rebuilt.
	if p, err := db.PendingCredits(ctx, "acme"); err != nil || len(p) != 0 {
		t.Errorf("pending on a draft: %v %v", p, err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE tasks SET status = 'not_billable' WHERE task_id IN ('t2', 't4')`); err != nil {
		t.Fatal(err)
	}
	pending, err := db.PendingCredits(ctx, "acme")
	if err != nil || len(pending) != 2 || pending[0].TaskID != "t2" || pending[0].InvoiceNumber != "2026-000001" || pending[1].Outcome != billing.OutcomePartial {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	notes, err := db.CreateCreditNotes(ctx, "acme")
	if err != nil || len(notes) != 1 {
		t.Fatalf("credit notes = %+v, %v", notes, err)
	}
	cn := notes[0]
	// t2: one unit of 3.5 of a 3.47 line = 0.99142… → 0.99; t4: half a unit → 0.50.
	if cn.Number != "CN-2026-000001" || len(cn.Lines) != 2 {
		t.Fatalf("credit note = %+v", cn)
	}
	wantDec(t, "t2 credit", cn.Lines[0].Amount, "0.99")
	wantDec(t, "t4 credit", cn.Lines[1].Amount, "0.5")
	wantDec(t, "credit total", cn.Total, "1.49")
	if again, err := db.CreateCreditNotes(ctx, "acme"); err != nil || len(again) != 0 {
		t.Errorf("second run: %v %v; want nothing more to credit", again, err)
	}
	list, next, err := db.CreditNotes(ctx, "", billing.Page{})
	if err != nil || next != "" || len(list) != 1 || len(list[0].Lines) != 2 || list[0].Lines[0].InvoiceNumber != "2026-000001" {
		t.Errorf("list = %+v %q %v", list, next, err)
	}
	for _, q := range []string{`UPDATE credit_notes SET total = 0`, `DELETE FROM credit_note_lines`, `DELETE FROM credit_notes`} {
		if _, err := db.Pool.Exec(ctx, q); err == nil {
			t.Errorf("%s succeeded on an issued credit note", q)
		}
	}
	// The finalized invoice itself is untouched.
	got, err := db.Invoice(ctx, inv.ID)
	if err != nil || got.Status != billing.InvoiceFinalized {
		t.Errorf("invoice after credit: %v %s", err, got.Status)
	}
}

func TestInvoicesListFilters(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		from := invJan.AddDate(0, i, 0)
		inv, err := db.UpsertDraft(ctx, billing.DraftInput{CustomerID: "acme", PeriodStart: from, PeriodEnd: from.AddDate(0, 1, 0), Result: rated(t, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inv.ID)
	}
	if _, err := db.UpsertDraft(ctx, billing.DraftInput{CustomerID: "globex", PeriodStart: invJan, PeriodEnd: invFeb, Result: rated(t, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinalizeInvoice(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    billing.InvoiceFilter
		want int
	}{
		{"all", billing.InvoiceFilter{}, 6},
		{"customer", billing.InvoiceFilter{CustomerID: "acme"}, 5},
		{"finalized", billing.InvoiceFilter{Status: billing.InvoiceFinalized}, 1},
		{"drafts of acme", billing.InvoiceFilter{CustomerID: "acme", Status: billing.InvoiceDraft}, 4},
		{"periods from March", billing.InvoiceFilter{PeriodFrom: invJan.AddDate(0, 2, 0)}, 3},
		{"periods within Q1", billing.InvoiceFilter{PeriodFrom: invJan, PeriodTo: invJan.AddDate(0, 3, 0)}, 4},
	}
	for _, tt := range tests {
		var all []billing.Invoice
		p := billing.Page{Limit: 2}
		for {
			got, next, err := db.Invoices(ctx, tt.f, p)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			all = append(all, got...)
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if len(all) != tt.want {
			t.Errorf("%s: %d invoices, want %d", tt.name, len(all), tt.want)
		}
	}
	if _, _, err := db.Invoices(ctx, billing.InvoiceFilter{Status: "paid"}, billing.Page{}); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("status paid: %v", err)
	}
}

// Prepaid credit a draft applies is drawn from the grant when, and only when, it is finalized.
func TestFinalizeDrawsPrepaidCredit(t *testing.T) {
	t.Parallel()
	db := invoiceFixture(t)
	ctx := context.Background()
	if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: "grant_1",
		Amount: money.New(dec("30"), "USD"), PricePaid: money.New(dec("25"), "USD")}); err != nil {
		t.Fatal(err)
	}
	invTask(t, db, "t1", "acme", "succeeded", "billable", invJan.Add(time.Hour))
	remaining := func() string {
		var r decimal.Decimal
		if err := db.Pool.QueryRow(ctx, `SELECT remaining FROM credit_grants WHERE id = 'grant_1'`).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	inv, err := db.BuildDraft(ctx, "acme", invJan, invFeb)
	if err != nil {
		t.Fatal(err)
	}
	checkSums(t, inv)
	wantDec(t, "credits applied", inv.CreditsApplied, "30")
	wantDec(t, "total", inv.Total, "19.99") // 49.99 − 30
	if inv, err = db.BuildDraft(ctx, "acme", invJan, invFeb); err != nil || remaining() != "30" {
		t.Fatalf("rebuilt draft: %v; remaining %s, want the grant untouched until finalization", err, remaining())
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinalizeInvoice(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	if got := remaining(); got != "0" {
		t.Errorf("remaining after finalizing twice = %s, want 0 (drawn once)", got)
	}
}
