package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestCustomerCreateIsIdempotentAndConflictsOnChange(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	c := billing.Customer{ID: "acme", Name: "Acme Corp", Currency: "usd", Timezone: "Europe/Berlin", AnchorDay: 1}
	got, created, err := db.CreateCustomer(ctx, c)
	if err != nil || !created {
		t.Fatalf("create: %v, created=%v", err, created)
	}
	if got.Currency != "USD" {
		t.Errorf("currency = %q, want it upper-cased to USD", got.Currency)
	}
	again, created, err := db.CreateCustomer(ctx, c)
	if err != nil || created || again.CreatedAt != got.CreatedAt {
		t.Errorf("create again: %v, created=%v; want the stored customer back", err, created)
	}
	c.Name = "Other"
	if _, _, err := db.CreateCustomer(ctx, c); billing.ErrorCode(err) != billing.ECONFLICT {
		t.Errorf("create with other fields: %v, want conflict", err)
	}
}

func TestCustomerValidationChangesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		c     billing.Customer
		field string
	}{
		{"no id", billing.Customer{Name: "x", Currency: "USD"}, "customer_id"},
		{"bad id", billing.Customer{ID: "a b", Name: "x", Currency: "USD"}, "customer_id"},
		{"no name", billing.Customer{ID: "a", Currency: "USD"}, "name"},
		{"bad currency", billing.Customer{ID: "a", Name: "x", Currency: "XYZ"}, "currency"},
		{"bad zone", billing.Customer{ID: "a", Name: "x", Currency: "USD", Timezone: "Mars/Olympus"}, "timezone"},
		{"anchor 29", billing.Customer{ID: "a", Name: "x", Currency: "USD", AnchorDay: 29}, "billing_anchor_day"},
	}
	for _, tt := range tests {
		_, _, err := db.CreateCustomer(ctx, tt.c)
		if billing.ErrorCode(err) != billing.EINVALID || billing.ErrorField(err) != tt.field {
			t.Errorf("%s: err = %v, want invalid %s", tt.name, err, tt.field)
		}
	}
	list, _, err := db.Customers(ctx, billing.Page{})
	if err != nil || len(list) != 0 {
		t.Errorf("after bad input: %d customers, %v; want none", len(list), err)
	}
}

func TestCustomersPaginate(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: id, Name: id, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		list, next, err := db.Customers(ctx, billing.Page{Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			seen = append(seen, c.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 || seen[0] != "c1" || seen[4] != "c5" {
		t.Errorf("paged through %v, want c1..c5", seen)
	}
	if _, _, err := db.Customers(ctx, billing.Page{Cursor: "!!"}); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("bad cursor: %v, want invalid", err)
	}
}

func TestUpdateCustomer(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: "acme", Name: "Acme", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	name, day := "Acme GmbH", 15
	got, err := db.UpdateCustomer(ctx, "acme", billing.CustomerPatch{Name: &name, AnchorDay: &day})
	if err != nil || got.Name != name || got.AnchorDay != 15 {
		t.Fatalf("update = %+v, %v", got, err)
	}
	bad := 40
	if _, err := db.UpdateCustomer(ctx, "acme", billing.CustomerPatch{AnchorDay: &bad}); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("anchor 40: %v, want invalid", err)
	}
	if c, _ := db.Customer(ctx, "acme"); c.AnchorDay != 15 {
		t.Errorf("a refused update changed the anchor day to %d", c.AnchorDay)
	}
	if _, err := db.UpdateCustomer(ctx, "nobody", billing.CustomerPatch{Name: &name}); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("update unknown: %v, want not_found", err)
	}
}

func ticketType() billing.OutcomeType {
	return billing.OutcomeType{Key: "support.ticket_resolved", Name: "Resolved ticket",
		Baseline:      billing.LaborBaseline{HumanMinutes: dec("12"), AnnualCost: money.New(dec("94000"), "USD")},
		DisputeWindow: 72 * time.Hour, TaskTimeout: 7 * 24 * time.Hour}
}

func TestOutcomeTypesAndBaselineOverrides(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	ot, created, err := db.PutOutcomeType(ctx, ticketType())
	if err != nil || !created {
		t.Fatalf("put: %v created=%v", err, created)
	}
	if !ot.Baseline.ProductiveHours.Equal(dec("1880")) || ot.DisputeWindow != 72*time.Hour {
		t.Errorf("defaults not applied: %+v", ot)
	}
	upd := ticketType()
	upd.DisputeWindow = 0
	ot, created, err = db.PutOutcomeType(ctx, upd)
	if err != nil || created || ot.DisputeWindow != 0 {
		t.Errorf("replace: window %v created=%v err=%v; want 0, false, nil", ot.DisputeWindow, created, err)
	}
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: "acme", Name: "Acme", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	o := billing.BaselineOverride{CustomerID: "acme", OutcomeType: "support.ticket_resolved",
		Baseline: billing.LaborBaseline{HumanMinutes: dec("20"), AnnualCost: money.New(dec("120000"), "USD")}}
	if _, created, err := db.PutBaselineOverride(ctx, o); err != nil || !created {
		t.Fatalf("override: %v created=%v", err, created)
	}
	o.CustomerID = "nobody"
	if _, _, err := db.PutBaselineOverride(ctx, o); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("override for unknown customer: %v, want not_found", err)
	}
	if err := db.DeleteBaselineOverride(ctx, "acme", "support.ticket_resolved"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := db.DeleteBaselineOverride(ctx, "acme", "support.ticket_resolved"); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("delete again: %v, want not_found", err)
	}
}

func TestModelPrices(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	catalog, _, err := db.ModelPrices(ctx, "gpt-4.1-mini", billing.Page{})
	if err != nil || len(catalog) != 1 || catalog[0].Origin != billing.PriceOriginCatalog {
		t.Fatalf("catalog row for gpt-4.1-mini: %+v, %v", catalog, err)
	}
	if err := db.SeedModelCatalog(ctx); err != nil {
		t.Fatalf("seeding twice: %v", err)
	}
	p := billing.ModelPrice{Model: "gpt-4.1-mini", EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Input: dec("0.35"), CachedInput: dec("0.08"), CacheWrite: dec("0.35"), Output: dec("1.4")}
	if _, created, err := db.AddModelPrice(ctx, p); err != nil || !created {
		t.Fatalf("add: %v created=%v", err, created)
	}
	if _, created, err := db.AddModelPrice(ctx, p); err != nil || created {
		t.Errorf("same row again: %v created=%v; want a no-op", err, created)
	}
	p.Output = dec("1.5")
	if _, _, err := db.AddModelPrice(ctx, p); billing.ErrorCode(err) != billing.ECONFLICT {
		t.Errorf("other prices at the same time: %v, want conflict", err)
	}
	p.Input = dec("-1")
	if _, _, err := db.AddModelPrice(ctx, p); billing.ErrorCode(err) != billing.EINVALID {
		t.Errorf("negative price: %v, want invalid", err)
	}
	all, next, err := db.ModelPrices(ctx, "", billing.Page{Limit: 10})
	if err != nil || len(all) != 10 || next == "" {
		t.Fatalf("first page: %d rows, next %q, %v", len(all), next, err)
	}
	rest, next, err := db.ModelPrices(ctx, "", billing.Page{Cursor: next, Limit: 200})
	if err != nil || next != "" {
		t.Fatalf("second page: next %q, %v", next, err)
	}
	var count int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM model_prices`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range append(all, rest...) {
		key := p.Model + p.Origin + p.EffectiveFrom.String()
		if seen[key] {
			t.Errorf("row %s on two pages", key)
		}
		seen[key] = true
	}
	if len(seen) != count {
		t.Errorf("pages hold %d rows, the table %d", len(seen), count)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	k, token, err := db.CreateAPIKey(ctx, "ops", []string{"admin", "finance"}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Authenticate(ctx, token)
	if err != nil || got.ID != k.ID || !got.Has("admin") {
		t.Fatalf("authenticate: %+v, %v", got, err)
	}
	var hash []byte
	if err := db.Pool.QueryRow(ctx, `SELECT secret_hash FROM api_keys WHERE id = $1`, k.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if len(hash) != 32 || string(hash) == token {
		t.Errorf("stored hash is %d bytes; want a 32-byte digest, never the token", len(hash))
	}
	for _, bad := range []string{"", "nonsense", token[:len(token)-1] + "x"} {
		if _, err := db.Authenticate(ctx, bad); billing.ErrorCode(err) != billing.EUNAUTHORIZED {
			t.Errorf("authenticate(%q): %v, want unauthorized", bad, err)
		}
	}
	if _, err := db.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, token); billing.ErrorCode(err) != billing.EUNAUTHORIZED {
		t.Errorf("revoked key: %v, want unauthorized", err)
	}
	if _, _, err := db.CreateViewerKey(ctx, "nobody", ""); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("viewer key for unknown customer: %v, want not_found", err)
	}
}
