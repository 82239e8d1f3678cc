package invoicefmt_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/invoicefmt"
	"github.com/outcomebill/outcomebill/pricing"
)

// FuzzCSVCells puts arbitrary text in every free-text cell of an invoice (line descriptions,
// explanations, the void reason) and reads the export back with encoding/csv: the file has the
// same rows and columns, and every cell reads back as it was, except that text a spreadsheet
// would run as a formula (starting with = + - @ tab or CR) carries the documented leading
// apostrophe, and line ends are normalised (see lineEnds).
func FuzzCSVCells(f *testing.F) {
	for _, s := range []string{"Resolved tickets", `=HYPERLINK("http://evil","x")`, "+1", "-2", "@SUM(A1)", "\tx", "a,b", `say "hi"`,
		"two\nlines", "crlf\r\nline", "cr\ronly", "\r", "'", "", "\uFEFFbom", "<script>alert(1)</script>", "'; DROP TABLE invoices; --", "\x00", "\xff\xfe"} {
		f.Add(s, "0.99 × 12 outcomes", "customer disputed")
	}
	f.Fuzz(func(t *testing.T, desc, expl, reason string) {
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		inv := billing.Invoice{ID: "inv_1", CustomerID: "acme", Status: billing.InvoiceVoid, VoidReason: reason, Currency: "USD",
			PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0), Lines: []billing.InvoiceLine{
				{Position: 1, Line: pricing.Line{Kind: "charge", Description: desc, OutcomeType: "a.b", Quantity: d("3"), Amount: d("2.97")}, ExplanationText: expl},
				{Position: 2, Line: pricing.Line{Kind: "charge", Description: expl, Meter: "m", Quantity: d("0"), Amount: d("0")}, ExplanationText: desc},
			}, Subtotal: d("2.97"), Total: d("2.97")}
		out, err := invoicefmt.CSV(inv)
		if err != nil {
			t.Fatalf("CSV: %v", err)
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out, []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatalf("the export is not valid CSV: %v\n%q", err, out)
		}
		if len(rows) < 3 {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			if len(r) != len(invoicefmt.CSVHeader) {
				t.Fatalf("row %d has %d cells, want %d", i, len(r), len(invoicefmt.CSVHeader))
			}
		}
		cell := func(what, got, sent string) {
			t.Helper()
			want := lineEnds(sent)
			if got == want {
				return
			}
			if sent != "" && strings.ContainsRune("=+-@\t\r", rune(sent[0])) && got == "'"+want {
				return // the formula guard
			}
			t.Errorf("%s: sent %q, read back %q", what, sent, got)
		}
		cell("line 1 description", rows[1][3], desc)
		cell("line 1 explanation", rows[1][10], expl)
		cell("line 2 description", rows[2][3], expl)
		cell("line 2 explanation", rows[2][10], desc)
		for _, r := range rows {
			if r[3] == "Total" && r[2] == "summary" {
				cell("void reason", r[10], "void: "+reason)
			}
		}
	})
}

// lineEnds is what a cell reads back as: the export writes "\r\n" and a lone "\r" as "\n"
// (encoding/csv would otherwise drop a lone "\r", which this fuzz test found).
func lineEnds(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
