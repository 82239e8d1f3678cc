package invoicefmt_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/invoicefmt"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the current output")

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func dp(s string) *decimal.Decimal {
	v := d(s)
	return &v
}

func baseline(cur money.Currency, minutes, annual string) *pricing.Baseline {
	return &pricing.Baseline{HumanMinutes: d(minutes), AnnualCost: money.New(d(annual), cur), Source: pricing.SourceOutcomeType}
}

var vendor = billing.Vendor{Name: "Helpdesk Agents GmbH", Address: "Torstraße 1\n10119 Berlin\nGermany", Email: "billing@helpdesk-agents.example", TaxID: "DE123456789"}

// invoice rates usage under plan and dresses the result as a stored invoice would be.
func invoice(t *testing.T, id string, plan pricing.PlanVersion, u pricing.Usage, zone string, from time.Time, value []billing.ValueBasis) billing.Invoice {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 1, 0)
	u.Period.End = end
	res, err := pricing.Rate(plan, u)
	if err != nil {
		t.Fatal(err)
	}
	created := end.Add(26 * time.Hour).UTC()
	inv := billing.Invoice{ID: id, CustomerID: "acme", CustomerName: "Acme Support Co", Timezone: zone, Vendor: vendor,
		PeriodStart: start.UTC(), PeriodEnd: end.UTC(), Status: billing.InvoiceDraft, Currency: plan.Currency,
		PlanID: plan.PlanID, PlanVersion: plan.Version, Lines: billing.LinesFromResult(res), Subtotal: res.Subtotal,
		CreditsApplied: res.CreditsApplied, Total: res.Total, Draws: res.Draws,
		Notes:     billing.InvoiceNotes{UnpricedOutcomes: res.Unpriced, ExpiredCredits: res.ExpiredCredits},
		CreatedAt: created, UpdatedAt: created}
	inv.Value = billing.NewValueStatement(money.New(res.Total, res.Currency), billing.PeriodMonths(inv.PeriodStart, inv.PeriodEnd, loc), value)
	if err := inv.Check(); err != nil {
		t.Fatal(err)
	}
	return inv
}

func finalize(inv billing.Invoice, number string) billing.Invoice {
	inv.Status, inv.Number = billing.InvoiceFinalized, number
	inv.FinalizedAt = inv.CreatedAt.Add(3 * time.Hour)
	inv.IssueDate = time.Date(inv.FinalizedAt.Year(), inv.FinalizedAt.Month(), inv.FinalizedAt.Day(), 0, 0, 0, 0, time.UTC)
	return inv
}

func labor(cur money.Currency, outcome billing.OutcomeStatus, n int64, minutes, annual string) billing.ValueBasis {
	return billing.ValueBasis{Outcome: outcome, Count: n, Baseline: billing.LaborBaseline{HumanMinutes: d(minutes),
		AnnualCost: money.New(d(annual), cur), ProductiveHours: billing.DefaultProductiveHours}}
}

// workedInvoices is one invoice per family of price models: outcome prices, seats, usage
// tiers and packages, and pass-through cost with plan terms and prepaid credit.
func workedInvoices(t *testing.T) map[string]billing.Invoice {
	ticket := "support.ticket_resolved"
	outcomes := invoice(t, "inv_outcomes", pricing.PlanVersion{PlanID: "support-pro", Version: 3, Currency: "USD",
		Terms: pricing.Terms{PlatformFee: dp("49"), UrgentMultiplier: dp("1.5")},
		Prices: []pricing.Charge{
			{OutcomeType: ticket, Price: pricing.Price{Model: pricing.ModelPerOutcome, UnitAmount: dp("0.99")}},
			{OutcomeType: "finance.invoice_reconciled", Price: pricing.Price{Model: pricing.ModelLaborShare, Share: dp("0.3"), Floor: dp("2"), Cap: dp("15")}},
		}},
		pricing.Usage{Counts: []pricing.OutcomeCount{
			{OutcomeType: ticket, Succeeded: 1180, Partial: 45, UrgentSucceeded: 20},
			{OutcomeType: "finance.invoice_reconciled", Succeeded: 300, Partial: 10, Baseline: baseline("USD", "20", "75200")},
			{OutcomeType: "code.pr_merged", Succeeded: 7},
		}}, "America/New_York", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		[]billing.ValueBasis{labor("USD", billing.OutcomeSucceeded, 1200, "12", "94000"), labor("USD", billing.OutcomePartial, 45, "12", "94000"),
			labor("USD", billing.OutcomeSucceeded, 300, "20", "75200"), labor("USD", billing.OutcomePartial, 10, "20", "75200")})

	seats := invoice(t, "inv_seats", pricing.PlanVersion{PlanID: "seats", Version: 1, Currency: "EUR",
		Prices: []pricing.Charge{{OutcomeType: ticket, Description: "Support agent seats",
			Price: pricing.Price{Model: pricing.ModelSeatEquivalent, OutcomesPerSeat: dp("600"), SeatPrice: dp("30"), RoundUpSeats: true}}}},
		pricing.Usage{Counts: []pricing.OutcomeCount{{OutcomeType: ticket, Succeeded: 1250}}}, "Europe/Berlin", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		[]billing.ValueBasis{labor("EUR", billing.OutcomeSucceeded, 1250, "12", "68000")})

	usage := invoice(t, "inv_usage", pricing.PlanVersion{PlanID: "platform", Version: 7, Currency: "USD",
		Prices: []pricing.Charge{
			{Meter: "tokens", Price: pricing.Price{Model: pricing.ModelGraduated, Tiers: []pricing.Tier{
				{UpTo: dp("1000000"), UnitAmount: d("0.000002"), FlatAmount: d("10")},
				{UpTo: dp("10000000"), UnitAmount: d("0.0000015")},
				{UnitAmount: d("0.000001")}}}},
			{OutcomeType: "code.pr_merged", Price: pricing.Price{Model: pricing.ModelVolume, Tiers: []pricing.Tier{
				{UpTo: dp("100"), UnitAmount: d("15")}, {UpTo: dp("500"), UnitAmount: d("12")}, {UnitAmount: d("10")}}}},
			{Meter: "pages", Price: pricing.Price{Model: pricing.ModelPackage, PackageSize: dp("1000"), Amount: dp("12"), FreeUnits: dp("500")}},
			{Meter: "gpu_minutes", Price: pricing.Price{Model: pricing.ModelPerUnit, UnitAmount: dp("0.0125")}},
			{Meter: "payments", Price: pricing.Price{Model: pricing.ModelPercentage, Rate: dp("0.013"), FixedFee: dp("0.3"), Min: dp("0.5"), Max: dp("25")}},
		}},
		pricing.Usage{Counts: []pricing.OutcomeCount{{OutcomeType: "code.pr_merged", Succeeded: 120, Partial: 4}},
			Meters:       map[string]decimal.Decimal{"tokens": d("12500000"), "pages": d("2700"), "gpu_minutes": d("1234.5")},
			Transactions: map[string][]decimal.Decimal{"payments": {d("10"), d("120"), d("999.99"), d("5000")}}},
		"UTC", time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		[]billing.ValueBasis{labor("USD", billing.OutcomeSucceeded, 120, "240", "150000"), labor("USD", billing.OutcomePartial, 4, "240", "150000")})
	usage = finalize(usage, "2026-000041")
	usage.Status, usage.VoidReason = billing.InvoiceVoid, "Billed pages twice; replaced by invoice 2026-000042"
	usage.VoidedAt = usage.FinalizedAt.Add(48 * time.Hour)

	costPlus := invoice(t, "inv_cost_plus", pricing.PlanVersion{PlanID: "wholesale", Version: 2, Currency: "EUR",
		Terms:  pricing.Terms{MinimumCommitment: dp("500")},
		Prices: []pricing.Charge{{Description: "Model tokens at cost plus 25%", Price: pricing.Price{Model: pricing.ModelCostPlus, Markup: dp("0.25")}}}},
		pricing.Usage{Period: pricing.Period{ExchangeRate: dp("0.92"), Credits: []pricing.CreditGrant{
			{ID: "grant_2025", Currency: "EUR", Remaining: d("40"), ExpiresAt: time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)},
			{ID: "grant_q2", Currency: "EUR", Remaining: d("200"), ExpiresAt: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		}}, CostUSD: map[string]decimal.Decimal{ticket: d("312.456789"), "": d("25")}},
		"Europe/Paris", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), nil)
	costPlus = finalize(costPlus, "2026-000107")
	return map[string]billing.Invoice{"outcomes": finalize(outcomes, "2026-000042"), "seats": seats, "usage": usage, "cost_plus": costPlus}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./invoicefmt -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; rerun with -update if the change is meant:\n%s", path, got)
	}
}

func TestGoldenCSV(t *testing.T) {
	for name, inv := range workedInvoices(t) {
		t.Run(name, func(t *testing.T) {
			b, err := invoicefmt.CSV(inv)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".csv", b)
			// It reads back as RFC 4180 with one row a line plus header and summary rows, all of one width.
			if !bytes.HasPrefix(b, []byte("\uFEFF")) || !bytes.Contains(b, []byte("\r\n")) {
				t.Error("want a UTF-8 BOM and CRLF line ends")
			}
			rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if rows[0][0] != "invoice" || len(rows[0]) != len(invoicefmt.CSVHeader) {
				t.Errorf("header = %v", rows[0])
			}
			sum := decimal.Zero
			var total decimal.Decimal
			for _, r := range rows[1:] {
				switch {
				case r[2] == "summary" && r[3] == "Total":
					total = d(r[8])
				case r[2] != "summary" && r[2] != "value":
					sum = sum.Add(d(r[8]))
				}
			}
			if !sum.Equal(total) || !total.Equal(inv.Total) {
				t.Errorf("lines sum to %s, total row %s, invoice %s", sum, total, inv.Total)
			}
		})
	}
}

func TestGoldenJSON(t *testing.T) {
	for name, inv := range workedInvoices(t) {
		t.Run(name, func(t *testing.T) {
			b, err := invoicefmt.JSON(inv)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", b)
			var back invoicefmt.Document
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Total.Amount.Equal(inv.Total) || len(back.Lines) != len(inv.Lines) {
				t.Errorf("round trip: total %s, %d lines", back.Total.Amount, len(back.Lines))
			}
		})
	}
}

// pdfText extracts a PDF's text with poppler's pdftotext, keeping the layout.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("OUTCOMEBILL_REQUIRE_SERVICES") == "1" {
			t.Fatal("pdftotext is missing: apt-get install -y poppler-utils")
		}
		t.Skip("pdftotext is missing (apt-get install -y poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	// Trailing spaces depend on the poppler version, not on the invoice.
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func TestGoldenPDFText(t *testing.T) {
	for name, inv := range workedInvoices(t) {
		t.Run(name, func(t *testing.T) {
			b, err := invoicefmt.PDF(inv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("%PDF-")) {
				t.Fatalf("not a PDF: %q", b[:min(len(b), 16)])
			}
			again, err := invoicefmt.PDF(inv)
			if err != nil || !bytes.Equal(b, again) {
				t.Errorf("rendering twice gave different bytes (%v)", err)
			}
			if dir := os.Getenv("INVOICEFMT_PDF_DIR"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, name+".pdf"), b, 0o644)
			}
			text := pdfText(t, b)
			golden(t, name+".pdf.txt", []byte(text))
			for _, want := range []string{inv.CustomerName, vendor.Name, money.New(inv.Total, inv.Currency).Display()} {
				if !strings.Contains(strings.ReplaceAll(text, ",", ""), want) {
					t.Errorf("the PDF's text lacks %q", want)
				}
			}
		})
	}
}

func TestCSVKeepsFormulasOut(t *testing.T) {
	inv := workedInvoices(t)["seats"]
	inv.Lines[0].Description = "=HYPERLINK(\"http://evil\")"
	b, err := invoicefmt.CSV(inv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"'=HYPERLINK(""http://evil"")"`)) {
		t.Errorf("formula not neutralised:\n%s", b)
	}
}
