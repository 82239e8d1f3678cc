package pricing

import (
	"encoding/json"
	"errors"
	"testing"
)

// streaming one task at a time and handing over aggregated counts must give the same invoice.
func TestRaterStreamEqualsCounts(t *testing.T) {
	plan := workedPlan()
	b := baseline("USD", "15", "94000", SourceCustomerOverride)
	r, err := NewRater(plan)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		o := Outcome{OutcomeType: "support.ticket_resolved", Status: StatusSucceeded, Urgent: i%10 == 0, Baseline: b}
		if i%7 == 0 {
			o.Status = StatusPartial
		}
		if err := r.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	streamed, err := r.Finish(Period{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.Finish(Period{})
	var tl tally
	for i := 0; i < 1000; i++ {
		if i%7 == 0 {
			tl.Partial++
			if i%10 == 0 {
				tl.UrgentPartial++
			}
		} else {
			tl.Succeeded++
			if i%10 == 0 {
				tl.UrgentSucceeded++
			}
		}
	}
	batch, err := Rate(plan, Usage{Counts: []OutcomeCount{{OutcomeType: "support.ticket_resolved",
		Succeeded: tl.Succeeded - tl.UrgentSucceeded, Partial: tl.Partial - tl.UrgentPartial,
		UrgentSucceeded: tl.UrgentSucceeded, UrgentPartial: tl.UrgentPartial, Baseline: b}}})
	if err != nil {
		t.Fatal(err)
	}
	js := func(r Result) string { b, _ := json.Marshal(r); return string(b) }
	if js(streamed) != js(batch) {
		t.Errorf("streamed and counted differ:\n%s\n%s", js(streamed), js(batch))
	}
	if js(streamed) != js(again) {
		t.Error("finishing twice gave different results")
	}
	checkInvariants(t, streamed)
}

func TestRaterRefusals(t *testing.T) {
	r, err := NewRater(perOutcomePlan(Terms{}))
	if err != nil {
		t.Fatal(err)
	}
	var fe *FieldError
	if err := r.Add(Outcome{TaskID: "t1", OutcomeType: "support.ticket_resolved", Status: "failed"}); !errors.As(err, &fe) || fe.Field != "status" {
		t.Errorf("failed outcome: err = %v", err)
	}
	if err := r.AddCount(OutcomeCount{OutcomeType: "support.ticket_resolved", Succeeded: -1}); err == nil {
		t.Error("negative count accepted")
	}
	if err := r.AddMeter("m", d("-1")); err == nil {
		t.Error("negative meter accepted")
	}
	if err := r.AddTransaction("m", d("-1")); err == nil {
		t.Error("negative transaction accepted")
	}
	if err := r.AddCost("", d("-1")); err == nil {
		t.Error("negative cost accepted")
	}
	if _, err := r.Finish(Period{ExchangeRate: dp("0")}); err == nil {
		t.Error("zero exchange rate accepted")
	}
	if _, err := NewRater(PlanVersion{Currency: "XYZ"}); err == nil {
		t.Error("invalid plan accepted")
	}
}

func TestRaterCountsUnpricedOutcomes(t *testing.T) {
	res, err := Rate(perOutcomePlan(Terms{}), Usage{Tasks: []Outcome{
		{OutcomeType: "support.ticket_resolved", Status: StatusSucceeded},
		{OutcomeType: "sales.lead_qualified", Status: StatusSucceeded},
		{OutcomeType: "sales.lead_qualified", Status: StatusPartial},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unpriced["sales.lead_qualified"] != 2 {
		t.Errorf("unpriced = %v", res.Unpriced)
	}
	wantAmount(t, "total", res.Total, "1")
}
