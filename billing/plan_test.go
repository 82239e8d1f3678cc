package billing

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/pricing"
)

func pricingOf(t *testing.T, s string) pricing.PlanVersion {
	t.Helper()
	var v pricing.PlanVersion
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlanValidateAndFingerprint(t *testing.T) {
	p := Plan{ID: "support", Pricing: pricingOf(t, `{"currency": "usd", "prices": [{"outcome_type": "a.b", "model": "per_outcome", "unit_amount": "0.990"}]}`)}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Name != "support" || p.Pricing.Currency != "USD" {
		t.Errorf("normalised to name %q currency %q", p.Name, p.Pricing.Currency)
	}
	same := Plan{ID: "other", Name: "support", Version: 7, Pricing: pricingOf(t, `{"currency": "USD", "prices": [{"outcome_type": "a.b", "model": "per_outcome", "unit_amount": "0.99"}]}`)}
	if err := same.Validate(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Fingerprint(), same.Fingerprint()) {
		t.Error("the same content under another id and version has another fingerprint")
	}
	empty, none := Plan{ID: "x", Pricing: pricing.PlanVersion{Currency: "USD"}}, Plan{ID: "x", Pricing: pricing.PlanVersion{Currency: "USD", Prices: []pricing.Charge{}}}
	if !bytes.Equal(empty.Fingerprint(), none.Fingerprint()) {
		t.Error("no prices and an empty price list differ")
	}
	tests := []struct {
		name  string
		p     Plan
		field string
	}{
		{"no id", Plan{Pricing: pricing.PlanVersion{Currency: "USD"}}, "plan_id"},
		{"bad currency", Plan{ID: "x", Pricing: pricing.PlanVersion{Currency: "XYZ"}}, "currency"},
		{"bad price", Plan{ID: "x", Pricing: pricingOf(t, `{"currency": "USD", "prices": [{"outcome_type": "a.b", "model": "per_outcome"}]}`)}, "prices[0].unit_amount"},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); ErrorCode(err) != EINVALID || ErrorField(err) != tt.field {
			t.Errorf("%s: %v, want invalid %s", tt.name, err, tt.field)
		}
	}
}

func TestOverridesApply(t *testing.T) {
	plan := pricingOf(t, `{"currency": "USD", "terms": {"platform_fee": "49", "urgent_multiplier": "1.5"}, "prices": [
		{"outcome_type": "a.b", "model": "per_outcome", "unit_amount": "1"},
		{"outcome_type": "a.b", "model": "cost_plus", "markup": "0.1"},
		{"outcome_type": "c.d", "model": "per_outcome", "unit_amount": "2"}]}`)
	var o Overrides
	if err := json.Unmarshal([]byte(`{"terms": {"platform_fee": "10"}, "prices": [
		{"outcome_type": "a.b", "model": "labor_share", "share": "0.3"},
		{"meter": "tokens", "model": "per_unit", "unit_amount": "0.001"}]}`), &o); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(plan); err != nil {
		t.Fatal(err)
	}
	got := o.Apply(plan)
	var models []string
	for _, c := range got.Prices {
		models = append(models, c.OutcomeType+c.Meter+":"+string(c.Model))
	}
	want := "a.b:cost_plus c.d:per_outcome a.b:labor_share tokens:per_unit"
	if s := strings.Join(models, " "); s != want {
		t.Errorf("prices = %s, want %s (the a.b price replaced, its cost_plus kept, tokens added)", s, want)
	}
	if !got.Terms.PlatformFee.Equal(mustDec("10")) || !got.Terms.UrgentMultiplier.Equal(mustDec("1.5")) {
		t.Errorf("terms = %+v, want the fee overridden and the multiplier kept", got.Terms)
	}
	if len(plan.Prices) != 3 || !plan.Terms.PlatformFee.Equal(mustDec("49")) {
		t.Error("Apply changed the plan it was given")
	}
	bad := Overrides{Terms: &pricing.Terms{Cap: new(mustDec("1"))}}
	if err := bad.Validate(plan); ErrorField(err) != "overrides.terms.cap" {
		t.Errorf("cap below the fee: %v, want overrides.terms.cap", err)
	}
}

func TestSubscriptionInZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := Subscription{StartsAt: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), DateOnly: true}
	s.InZone(berlin)
	if want := time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC); !s.StartsAt.Equal(want) || s.DateOnly || s.StartsAt.Location() != time.UTC {
		t.Errorf("date in Berlin = %s, want %s UTC", s.StartsAt, want)
	}
	exact := Subscription{StartsAt: time.Date(2026, 7, 1, 9, 30, 0, 0, berlin)}
	exact.InZone(time.UTC)
	if want := time.Date(2026, 7, 1, 7, 30, 0, 0, time.UTC); !exact.StartsAt.Equal(want) {
		t.Errorf("an exact time moved: %s", exact.StartsAt)
	}
}

func mustDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
