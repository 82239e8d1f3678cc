package pricing

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// workedPlan charges a resolved ticket twice over — per outcome and as a share of labor — so
// that one rating exercises the urgent surcharge on both kinds of price.
func workedPlan() PlanVersion {
	return PlanVersion{PlanID: "plan_support", Version: 3, Currency: "USD",
		Terms: Terms{PlatformFee: dp("49"), UrgentMultiplier: dp("1.5")},
		Prices: []Charge{
			{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("0.99")}},
			{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelLaborShare, Share: dp("0.2"), Floor: dp("1"), Cap: dp("4")}},
		}}
}

// goldenExamples are the worked examples whose explanations are kept in testdata: one per price
// model and one for the plan-level terms.
func goldenExamples() []struct {
	name string
	plan PlanVersion
	u    Usage
} {
	one := func(cur string, c Charge) PlanVersion {
		return PlanVersion{Currency: moneyCurrency(cur), Prices: []Charge{c}}
	}
	return []struct {
		name string
		plan PlanVersion
		u    Usage
	}{
		{"per_outcome", one("USD", Charge{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("0.99")}}),
			Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", 1200, 45)}}},
		{"labor_share", one("EUR", Charge{OutcomeType: "finance.invoice_reconciled", Price: Price{Model: ModelLaborShare, Share: dp("0.3"), Floor: dp("2"), Cap: dp("15")}}),
			Usage{Counts: []OutcomeCount{
				{OutcomeType: "finance.invoice_reconciled", Succeeded: 300, Partial: 10, Baseline: baseline("EUR", "20", "72000", SourceOutcomeType)},
				{OutcomeType: "finance.invoice_reconciled", Succeeded: 40, Baseline: baseline("EUR", "240", "96000", SourceCustomerOverride)},
				{OutcomeType: "finance.invoice_reconciled", Succeeded: 5, Baseline: baseline("EUR", "2", "72000", SourceOutcomeType)},
			}}},
		{"seat_equivalent", one("USD", Charge{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelSeatEquivalent, OutcomesPerSeat: dp("600"), SeatPrice: dp("30"), RoundUpSeats: true}}),
			Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", 1250, 0)}}},
		{"per_unit", one("USD", Charge{Meter: "gpu_minutes", Price: Price{Model: ModelPerUnit, UnitAmount: dp("0.0125")}}),
			Usage{Meters: map[string]decimalT{"gpu_minutes": d("1234.5")}}},
		{"graduated", one("USD", Charge{Meter: "tokens", Price: Price{Model: ModelGraduated, Tiers: tiers("1000000", "0.000002", "10", "10000000", "0.0000015", "0", "-", "0.000001", "0")}}),
			Usage{Meters: map[string]decimalT{"tokens": d("12500000")}}},
		{"volume", one("JPY", Charge{OutcomeType: "code.pr_merged", Price: Price{Model: ModelVolume, Tiers: tiers("100", "1500", "0", "500", "1200", "0", "-", "1000", "0")}}),
			Usage{Counts: []OutcomeCount{counts("code.pr_merged", 100, 1)}}},
		{"package", one("USD", Charge{Meter: "pages", Price: Price{Model: ModelPackage, PackageSize: dp("1000"), Amount: dp("12"), FreeUnits: dp("500")}}),
			Usage{Meters: map[string]decimalT{"pages": d("2700")}}},
		{"percentage", one("USD", Charge{Meter: "payments", Price: Price{Model: ModelPercentage, Rate: dp("0.013"), FixedFee: dp("0.3"), Min: dp("0.5"), Max: dp("25")}}),
			Usage{Transactions: map[string][]decimalT{"payments": {d("10"), d("120"), d("999.99"), d("5000")}}}},
		{"cost_plus", one("BHD", Charge{Price: Price{Model: ModelCostPlus, Markup: dp("0.25")}}),
			Usage{Period: Period{ExchangeRate: dp("0.376")}, CostUSD: map[string]decimalT{"support.ticket_resolved": d("123.456789"), "": d("10")}}},
		{"terms", PlanVersion{Currency: "USD", Terms: Terms{PlatformFee: dp("49"), MinimumCommitment: dp("100"), UrgentMultiplier: dp("1.5")},
			Prices: []Charge{{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("0.99")}}}},
			Usage{Period: Period{End: day("2026-04-01"), Credits: []CreditGrant{
				{ID: "grant_old", Currency: "USD", Remaining: d("30"), ExpiresAt: day("2026-03-15")},
				{ID: "grant_q2", Currency: "USD", Remaining: d("60"), ExpiresAt: day("2026-06-30")},
				{ID: "grant_open", Currency: "USD", Remaining: d("500")},
			}}, Counts: []OutcomeCount{{OutcomeType: "support.ticket_resolved", Succeeded: 40, UrgentSucceeded: 10}}}},
		{"spend_cap", PlanVersion{Currency: "USD", Terms: Terms{Cap: dp("1000")}, Prices: []Charge{{OutcomeType: "support.ticket_resolved", Price: Price{Model: ModelPerOutcome, UnitAmount: dp("0.99")}}}},
			Usage{Counts: []OutcomeCount{counts("support.ticket_resolved", 1500, 0)}}},
		{"worked_plan", workedPlan(), Usage{Tasks: []Outcome{
			{OutcomeType: "support.ticket_resolved", Status: StatusSucceeded, Baseline: baseline("USD", "12", "75200", SourceOutcomeType)},
			{OutcomeType: "support.ticket_resolved", Status: StatusSucceeded, Urgent: true, Baseline: baseline("USD", "12", "75200", SourceOutcomeType)},
			{OutcomeType: "support.ticket_resolved", Status: StatusPartial, Baseline: baseline("USD", "90", "75200", SourceOutcomeType)},
		}}},
	}
}

func TestGoldenExplanations(t *testing.T) {
	for _, ex := range goldenExamples() {
		t.Run(ex.name, func(t *testing.T) {
			res, err := Rate(ex.plan, ex.u)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			var buf bytes.Buffer
			for _, l := range res.Lines {
				fmt.Fprintf(&buf, "%s | %s %s\n  %s\n", l.Description, l.Amount.StringFixed(res.Currency.MinorUnits()), res.Currency, l.Explanation)
			}
			fmt.Fprintf(&buf, "total %s %s\n\n", res.Total.StringFixed(res.Currency.MinorUnits()), res.Currency)
			for _, l := range res.Lines {
				b, err := json.MarshalIndent(l.Explanation, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
			path := filepath.Join("testdata", ex.name+".golden")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenExplanations -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from the output; rerun with -update if the change is meant:\n%s", path, buf.String())
			}
		})
	}
}
