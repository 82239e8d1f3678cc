package pricing

import (
	"errors"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCredits(t *testing.T) {
	end := day("2026-04-01")
	tests := []struct {
		name      string
		grants    []CreditGrant
		charged   int64 // outcomes at 1 USD
		wantDraws string
		wantTotal string
		wantExp   int
	}{
		{"no grants", nil, 10, "", "10", 0},
		{"a grant covers part", []CreditGrant{{ID: "g1", Currency: "USD", Remaining: d("4")}}, 10, "g1:4:0", "6", 0},
		{"a grant covers all and keeps the rest", []CreditGrant{{ID: "g1", Currency: "USD", Remaining: d("25")}}, 10, "g1:10:15", "0", 0},
		{"oldest expiry first, never-expiring last", []CreditGrant{
			{ID: "forever", Currency: "USD", Remaining: d("100")},
			{ID: "late", Currency: "USD", Remaining: d("5"), ExpiresAt: day("2026-12-01")},
			{ID: "soon", Currency: "USD", Remaining: d("3"), ExpiresAt: day("2026-05-01")},
		}, 10, "soon:3:0 late:5:0 forever:2:98", "0", 0},
		{"expired mid-period is not applied", []CreditGrant{
			{ID: "midperiod", Currency: "USD", Remaining: d("50"), ExpiresAt: day("2026-03-15")},
			{ID: "valid", Currency: "USD", Remaining: d("4"), ExpiresAt: day("2026-06-01")},
		}, 10, "valid:4:0", "6", 1},
		{"expiring exactly at period end has expired", []CreditGrant{{ID: "edge", Currency: "USD", Remaining: d("50"), ExpiresAt: end}}, 10, "", "10", 1},
		{"empty grants are skipped", []CreditGrant{{ID: "empty", Currency: "USD", Remaining: d("0")}}, 10, "", "10", 0},
		{"nothing owed draws nothing", []CreditGrant{{ID: "g1", Currency: "USD", Remaining: d("5")}}, 0, "", "0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Rate(perOutcomePlan(Terms{}), Usage{Period: Period{End: end, Credits: tt.grants},
				Counts: []OutcomeCount{counts("support.ticket_resolved", tt.charged, 0)}})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			got := ""
			for i, dr := range res.Draws {
				if i > 0 {
					got += " "
				}
				got += dr.GrantID + ":" + dr.Amount.String() + ":" + dr.RemainingAfter.String()
			}
			if got != tt.wantDraws {
				t.Errorf("draws = %q, want %q", got, tt.wantDraws)
			}
			wantAmount(t, "total", res.Total, tt.wantTotal)
			if len(res.ExpiredCredits) != tt.wantExp {
				t.Errorf("expired = %v, want %d", res.ExpiredCredits, tt.wantExp)
			}
			if hasLine(res, KindPrepaidCredits) != (got != "") {
				t.Errorf("credits line present = %v with draws %q", hasLine(res, KindPrepaidCredits), got)
			}
		})
	}
}

func TestCreditsRefused(t *testing.T) {
	tests := []struct {
		name      string
		period    Period
		wantField string
	}{
		{"duplicate grant", Period{Credits: []CreditGrant{{ID: "g", Currency: "USD", Remaining: d("1")}, {ID: "g", Currency: "USD", Remaining: d("1")}}}, "credits[1].id"},
		{"other currency", Period{Credits: []CreditGrant{{ID: "g", Currency: "EUR", Remaining: d("1")}}}, "credits[0].currency"},
		{"negative", Period{Credits: []CreditGrant{{ID: "g", Currency: "USD", Remaining: d("-1")}}}, "credits[0].remaining"},
		{"finer than a cent", Period{Credits: []CreditGrant{{ID: "g", Currency: "USD", Remaining: d("1.005")}}}, "credits[0].remaining"},
		{"expiry without a period end", Period{Credits: []CreditGrant{{ID: "g", Currency: "USD", Remaining: d("1"), ExpiresAt: day("2026-01-01")}}}, "period.end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rate(perOutcomePlan(Terms{}), Usage{Period: tt.period, Counts: []OutcomeCount{counts("support.ticket_resolved", 3, 0)}})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("err = %v, want a FieldError on %s", err, tt.wantField)
			}
		})
	}
}

// Credits cover the capped total, not the charges before the cap.
func TestCreditsAfterCap(t *testing.T) {
	res, err := Rate(perOutcomePlan(Terms{Cap: dp("100")}), Usage{
		Period: Period{Credits: []CreditGrant{{ID: "g", Currency: "USD", Remaining: d("500")}}},
		Counts: []OutcomeCount{counts("support.ticket_resolved", 300, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, res)
	wantAmount(t, "credits", res.CreditsApplied, "100")
	wantAmount(t, "total", res.Total, "0")
	wantAmount(t, "left", res.Draws[0].RemainingAfter, "400")
}
