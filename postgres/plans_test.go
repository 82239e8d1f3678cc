package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
	"github.com/outcomebill/outcomebill/pricing"
)

// plan builds a plan from the JSON the API accepts for its pricing part.
func plan(t testing.TB, id, pricingJSON string) billing.Plan {
	t.Helper()
	var v pricing.PlanVersion
	if err := json.Unmarshal([]byte(pricingJSON), &v); err != nil {
		t.Fatalf("plan %s: %v", id, err)
	}
	return billing.Plan{ID: id, Name: "Plan " + id, Pricing: v}
}

const basicPlan = `{"currency": "USD", "terms": {"platform_fee": "49.00"},
	"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.99"}]}`

func TestPlanVersioning(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	v1 := plan(t, "support", basicPlan)
	// The same content written differently: decimals are compared by value.
	v1Again := plan(t, "support", `{"currency": "usd", "terms": {"platform_fee": "49"},
		"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "0.990"}]}`)
	v2 := plan(t, "support", `{"currency": "USD", "terms": {"platform_fee": "49.00"},
		"prices": [{"outcome_type": "support.ticket_resolved", "model": "per_outcome", "unit_amount": "1.10"}]}`)
	renamed := v2
	renamed.Name = "Support, renamed"
	inEUR := plan(t, "support", `{"currency": "EUR", "prices": []}`)
	steps := []struct {
		name        string
		put         bool // PutPlan instead of CreatePlan
		p           billing.Plan
		code        string
		created     bool
		version     int
		allVersions int
	}{
		{"create", false, v1, "", true, 1, 1},
		{"create again, same content", false, v1Again, "", false, 1, 1},
		{"create again, other content", false, v2, billing.ECONFLICT, false, 0, 0},
		{"put the latest content", true, v1Again, "", false, 1, 1},
		{"put new content", true, v2, "", true, 2, 2},
		{"put it again", true, v2, "", false, 2, 2},
		{"a new name is new content", true, renamed, "", true, 3, 3},
		{"back to an older content makes a new version", true, v1, "", true, 4, 4},
		{"currency cannot change", true, inEUR, billing.EINVALID, false, 0, 0},
	}
	for _, s := range steps {
		var got billing.Plan
		var created bool
		var err error
		if s.put {
			got, created, err = db.PutPlan(ctx, s.p)
		} else {
			got, created, err = db.CreatePlan(ctx, s.p)
		}
		if s.code != "" {
			if billing.ErrorCode(err) != s.code {
				t.Errorf("%s: err = %v, want %s", s.name, err, s.code)
			}
			continue
		}
		if err != nil || created != s.created || got.Version != s.version || len(got.Versions) != s.allVersions {
			t.Errorf("%s: version %d created=%v versions=%d err=%v; want version %d created=%v versions=%d",
				s.name, got.Version, created, len(got.Versions), err, s.version, s.created, s.allVersions)
		}
		if err == nil && (got.Pricing.PlanID != "support" || got.Pricing.Version != got.Version) {
			t.Errorf("%s: pricing names %s/%d", s.name, got.Pricing.PlanID, got.Pricing.Version)
		}
	}
	old, err := db.Plan(ctx, "support", 2)
	if err != nil || !old.Pricing.Prices[0].UnitAmount.Equal(dec("1.10")) || old.Name != "Plan support" {
		t.Errorf("version 2 = %+v, %v", old, err)
	}
	latest, err := db.Plan(ctx, "support", 0)
	if err != nil || latest.Version != 4 || !latest.Pricing.Prices[0].UnitAmount.Equal(dec("0.99")) || len(latest.Versions) != 4 {
		t.Errorf("latest = %+v, %v", latest, err)
	}
	if _, err := db.Plan(ctx, "support", 9); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("version 9: %v, want not_found", err)
	}
	if _, err := db.Plan(ctx, "nope", 0); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("unknown plan: %v, want not_found", err)
	}
	// PUT of an unknown plan creates it at version 1.
	if got, created, err := db.PutPlan(ctx, plan(t, "other", basicPlan)); err != nil || !created || got.Version != 1 {
		t.Errorf("put new plan: version %d created=%v %v", got.Version, created, err)
	}
	list, _, err := db.Plans(ctx, billing.Page{})
	if err != nil || len(list) != 2 || list[0].ID != "other" || list[1].ID != "support" || list[1].Version != 4 {
		t.Errorf("plans = %+v, %v; want other v1 and support v4", list, err)
	}
}

func TestPlanValidationChangesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, _, err := db.CreatePlan(ctx, plan(t, "kept", basicPlan)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, pricing, field string
	}{
		{"bad plan id", "a b", basicPlan, "plan_id"},
		{"unknown currency", "p", `{"currency": "XYZ", "prices": []}`, "currency"},
		{"unknown model", "p", `{"currency": "USD", "prices": [{"outcome_type": "a.b", "model": "per_smile"}]}`, "prices[0].model"},
		{"share as a percentage", "p", `{"currency": "USD", "prices": [{"outcome_type": "a.b", "model": "labor_share", "share": "30"}]}`, "prices[0].share"},
		{"tiers not increasing", "p", `{"currency": "USD", "prices": [{"meter": "tokens", "model": "graduated",
			"tiers": [{"up_to": "10", "unit_amount": "1", "flat_amount": "0"}, {"up_to": "5", "unit_amount": "1", "flat_amount": "0"},
			{"up_to": null, "unit_amount": "1", "flat_amount": "0"}]}]}`, "prices[0].tiers[1].up_to"},
		{"fee finer than cents", "p", `{"currency": "USD", "terms": {"platform_fee": "1.001"}, "prices": []}`, "terms.platform_fee"},
		{"field of another model", "p", `{"currency": "USD", "prices": [{"outcome_type": "a.b", "model": "per_outcome", "unit_amount": "1", "share": "0.3"}]}`, "prices[0].share"},
		{"invalid content under an existing id", "kept", `{"currency": "USD", "terms": {"urgent_multiplier": "0.5"}, "prices": []}`, "terms.urgent_multiplier"},
	}
	for _, tt := range tests {
		for _, put := range []bool{false, true} {
			var err error
			if put {
				_, _, err = db.PutPlan(ctx, plan(t, tt.id, tt.pricing))
			} else {
				_, _, err = db.CreatePlan(ctx, plan(t, tt.id, tt.pricing))
			}
			if billing.ErrorCode(err) != billing.EINVALID || billing.ErrorField(err) != tt.field {
				t.Errorf("%s (put=%v): err = %v (field %q), want invalid %s", tt.name, put, err, billing.ErrorField(err), tt.field)
			}
		}
	}
	var plans, versions int
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM plans), (SELECT count(*) FROM plan_versions)`).Scan(&plans, &versions); err != nil {
		t.Fatal(err)
	}
	if plans != 1 || versions != 1 {
		t.Errorf("after invalid plans: %d plans, %d versions; want the one kept plan", plans, versions)
	}
}

func mustCustomer(t *testing.T, db *postgres.DB, id string, cur money.Currency, zone string) {
	t.Helper()
	if _, _, err := db.CreateCustomer(context.Background(), billing.Customer{ID: id, Name: id, Currency: cur, Timezone: zone}); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "Europe/Berlin")
	mustCustomer(t, db, "euro", "EUR", "UTC")
	for _, p := range []billing.Plan{plan(t, "support", basicPlan), plan(t, "support-eur", `{"currency": "EUR", "prices": []}`)} {
		if _, _, err := db.CreatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: jan, DateOnly: true}
	got, created, err := db.CreateSubscription(ctx, first)
	if err != nil || !created {
		t.Fatalf("subscribe: %v created=%v", err, created)
	}
	// A date is midnight in the customer's billing timezone.
	if want := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC); !got.StartsAt.Equal(want) || got.PlanVersion != 0 {
		t.Errorf("starts_at = %s version %d, want %s following the latest", got.StartsAt, got.PlanVersion, want)
	}
	again, created, err := db.CreateSubscription(ctx, first)
	if err != nil || created || again.ID != got.ID {
		t.Errorf("resend: %v created=%v id %s, want the stored %s", err, created, again.ID, got.ID)
	}
	var fee = dec("10.00")
	overrides := billing.Overrides{Terms: &pricing.Terms{PlatformFee: &fee}, Prices: []pricing.Charge{{OutcomeType: "support.ticket_resolved",
		Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: new(dec("0.80"))}}}}
	share := dec("30")
	tests := []struct {
		name string
		s    billing.Subscription
		code string
		// field is checked for invalid errors
		field string
	}{
		{"same start, other version", billing.Subscription{CustomerID: "acme", PlanID: "support", PlanVersion: 1, StartsAt: jan, DateOnly: true}, billing.ECONFLICT, ""},
		{"same start, overrides", billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: jan, DateOnly: true, Overrides: overrides}, billing.ECONFLICT, ""},
		{"currency mismatch", billing.Subscription{CustomerID: "euro", PlanID: "support", StartsAt: jan}, billing.EINVALID, "plan_id"},
		{"unknown plan", billing.Subscription{CustomerID: "acme", PlanID: "nope", StartsAt: jan}, billing.ENOTFOUND, ""},
		{"unknown version", billing.Subscription{CustomerID: "acme", PlanID: "support", PlanVersion: 7, StartsAt: jan}, billing.ENOTFOUND, ""},
		{"negative version", billing.Subscription{CustomerID: "acme", PlanID: "support", PlanVersion: -1, StartsAt: jan}, billing.EINVALID, "plan_version"},
		{"unknown customer", billing.Subscription{CustomerID: "nobody", PlanID: "support", StartsAt: jan}, billing.ENOTFOUND, ""},
		{"no start", billing.Subscription{CustomerID: "acme", PlanID: "support"}, billing.EINVALID, "starts_at"},
		{"bad override", billing.Subscription{CustomerID: "acme", PlanID: "support", StartsAt: jan.AddDate(0, 5, 0), Overrides: billing.Overrides{
			Prices: []pricing.Charge{{OutcomeType: "a.b", Price: pricing.Price{Model: pricing.ModelLaborShare, Share: &share}}}}},
			billing.EINVALID, "overrides.prices[0].share"},
	}
	for _, tt := range tests {
		_, _, err := db.CreateSubscription(ctx, tt.s)
		if billing.ErrorCode(err) != tt.code || (tt.field != "" && billing.ErrorField(err) != tt.field) {
			t.Errorf("%s: err = %v (field %q), want %s %s", tt.name, err, billing.ErrorField(err), tt.code, tt.field)
		}
	}
	march := billing.Subscription{CustomerID: "acme", PlanID: "support", PlanVersion: 1, StartsAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Overrides: overrides}
	if _, created, err := db.CreateSubscription(ctx, march); err != nil || !created {
		t.Fatalf("subscribe from March: %v", err)
	}
	if _, created, err := db.CreateSubscription(ctx, march); err != nil || created {
		t.Errorf("resend with overrides: %v created=%v, want the stored one", err, created)
	}
	list, next, err := db.Subscriptions(ctx, "acme", billing.Page{Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != got.ID || next == "" {
		t.Fatalf("first page: %+v %q %v", list, next, err)
	}
	list, next, err = db.Subscriptions(ctx, "acme", billing.Page{Limit: 1, Cursor: next})
	if err != nil || len(list) != 1 || list[0].PlanVersion != 1 || list[0].Overrides.Terms == nil || !list[0].Overrides.Terms.PlatformFee.Equal(fee) {
		t.Errorf("second page: %+v %q %v", list, next, err)
	}
	if _, _, err := db.Subscriptions(ctx, "nobody", billing.Page{}); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("unknown customer: %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM subscriptions`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d subscriptions stored, want 2 (%v)", n, err)
	}
}

func usd(s string) money.Money { return money.New(dec(s), "USD") }

func grantRemaining(t *testing.T, db *postgres.DB, id string) string {
	t.Helper()
	var r string
	if err := db.Pool.QueryRow(context.Background(), `SELECT remaining::text FROM credit_grants WHERE id = $1`, id).Scan(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCreditGrants(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	mustCustomer(t, db, "acme", "USD", "UTC")
	exp := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	g := billing.CreditGrant{CustomerID: "acme", ID: "g1", Amount: usd("100.00"), PricePaid: usd("90.00"), ExpiresAt: exp}
	got, created, err := db.CreateCreditGrant(ctx, g)
	if err != nil || !created || !got.Remaining.Equal(dec("100")) || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("grant: %+v created=%v %v", got, created, err)
	}
	if _, created, err := db.CreateCreditGrant(ctx, g); err != nil || created {
		t.Errorf("resend: created=%v %v", created, err)
	}
	other := g
	other.Amount = usd("200")
	tests := []struct {
		name  string
		g     billing.CreditGrant
		code  string
		field string
	}{
		{"same id, other amount", other, billing.ECONFLICT, ""},
		{"other currency", billing.CreditGrant{CustomerID: "acme", Amount: money.New(dec("5"), "EUR"), PricePaid: usd("5")}, billing.EINVALID, "amount.currency"},
		{"zero", billing.CreditGrant{CustomerID: "acme", Amount: usd("0"), PricePaid: usd("0")}, billing.EINVALID, "amount.amount"},
		{"sub-cent", billing.CreditGrant{CustomerID: "acme", Amount: usd("1.001"), PricePaid: usd("1")}, billing.EINVALID, "amount.amount"},
		{"negative price", billing.CreditGrant{CustomerID: "acme", Amount: usd("1"), PricePaid: usd("-1")}, billing.EINVALID, "price_paid.amount"},
		{"bad id", billing.CreditGrant{CustomerID: "acme", ID: "a b", Amount: usd("1"), PricePaid: usd("1")}, billing.EINVALID, "grant_id"},
		{"unknown customer", billing.CreditGrant{CustomerID: "nobody", Amount: usd("1"), PricePaid: usd("1")}, billing.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		_, _, err := db.CreateCreditGrant(ctx, tt.g)
		if billing.ErrorCode(err) != tt.code || (tt.field != "" && billing.ErrorField(err) != tt.field) {
			t.Errorf("%s: err = %v, want %s %s", tt.name, err, tt.code, tt.field)
		}
	}
	if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: "g2", Amount: usd("10"), PricePaid: usd("10")}); err != nil {
		t.Fatal(err)
	}

	draw := func(grant, amount string) pricing.Draw { return pricing.Draw{GrantID: grant, Amount: dec(amount)} }
	steps := []struct {
		name      string
		invoice   string
		draws     []pricing.Draw
		code      string
		remaining [2]string // g1, g2 after the step
	}{
		{"draw", "inv-1", []pricing.Draw{draw("g1", "60")}, "", [2]string{"40.00", "10"}},
		{"the same invoice again changes nothing", "inv-1", []pricing.Draw{draw("g1", "60")}, "", [2]string{"40.00", "10"}},
		{"the same invoice, another amount", "inv-1", []pricing.Draw{draw("g1", "50")}, billing.ECONFLICT, [2]string{"40.00", "10"}},
		{"more than is left, after a draw that fits: all or nothing", "inv-2", []pricing.Draw{draw("g2", "5"), draw("g1", "40.01")}, billing.ECONFLICT, [2]string{"40.00", "10"}},
		{"unknown grant", "inv-2", []pricing.Draw{draw("g9", "1")}, billing.ENOTFOUND, [2]string{"40.00", "10"}},
		{"no invoice", "", []pricing.Draw{draw("g1", "1")}, billing.EINVALID, [2]string{"40.00", "10"}},
		{"to exactly zero", "inv-2", []pricing.Draw{draw("g2", "5"), draw("g1", "40")}, "", [2]string{"0.00", "5"}},
		{"nothing left", "inv-3", []pricing.Draw{draw("g1", "0.01")}, billing.ECONFLICT, [2]string{"0.00", "5"}},
	}
	for _, s := range steps {
		err := db.ApplyCreditDraws(ctx, "acme", s.invoice, s.draws)
		if billing.ErrorCode(err) != s.code {
			t.Errorf("%s: err = %v, want %q", s.name, err, s.code)
		}
		if r1, r2 := grantRemaining(t, db, "g1"), grantRemaining(t, db, "g2"); !dec(r1).Equal(dec(s.remaining[0])) || !dec(r2).Equal(dec(s.remaining[1])) {
			t.Errorf("%s: remaining g1 %s g2 %s, want %v", s.name, r1, r2, s.remaining)
		}
	}

	// Concurrent invoices racing for one grant: the balance is never overdrawn.
	if _, _, err := db.CreateCreditGrant(ctx, billing.CreditGrant{CustomerID: "acme", ID: "race", Amount: usd("100"), PricePaid: usd("100")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.ApplyCreditDraws(ctx, "acme", "race-"+string(rune('a'+i)), []pricing.Draw{draw("race", "30")}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if billing.ErrorCode(err) != billing.ECONFLICT {
				t.Errorf("racing draw: %v", err)
			}
		}()
	}
	wg.Wait()
	if r := grantRemaining(t, db, "race"); ok != 3 || !dec(r).Equal(dec("10")) {
		t.Errorf("10 racing draws of 30 from 100: %d succeeded, %s left; want 3 and 10", ok, r)
	}
	list, _, err := db.CreditGrants(ctx, "acme", billing.Page{})
	if err != nil || len(list) != 3 || list[0].ID != "g1" || !list[0].Remaining.IsZero() {
		t.Errorf("grants = %+v, %v", list, err)
	}
}
