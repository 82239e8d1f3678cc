package invoicefmt

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// CSVHeader is the first row of every CSV export.
var CSVHeader = []string{"invoice", "line", "kind", "description", "outcome_type", "meter", "quantity", "unit_amount", "amount", "currency", "explanation"}

// CSV renders the invoice as RFC 4180 CSV (CRLF line ends, quoted where needed): a header, one row
// a line, then summary rows (kind "summary": subtotal, credits applied, total) and value-statement
// rows (kind "value"). Every row has the same columns; amounts are plain decimals to the minor
// unit, with the currency in its own column, so that a spreadsheet reads them as numbers. The
// file starts with a UTF-8 byte-order mark so that spreadsheets read "×" and "≈" as they are.
func CSV(inv billing.Invoice) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	ref := inv.Number
	if ref == "" {
		ref = inv.ID
	}
	cur := string(inv.Currency)
	amt := func(d decimal.Decimal) string { return money.New(d, inv.Currency).Display() }
	rows := [][]string{CSVHeader}
	for _, l := range inv.Lines {
		unit := ""
		if l.UnitAmount != nil {
			unit = l.UnitAmount.String()
		}
		rows = append(rows, []string{ref, strconv.Itoa(l.Position), l.Kind, text(l.Description), l.OutcomeType, l.Meter,
			l.Quantity.String(), unit, amt(l.Amount), cur, text(l.ExplanationText)})
	}
	summary := func(kind, what, qty, amount, currency, note string) {
		rows = append(rows, []string{ref, "", kind, what, "", "", qty, "", amount, currency, text(note)})
	}
	summary("summary", "Subtotal", "", amt(inv.Subtotal), cur, "")
	summary("summary", "Credits applied", "", amt(inv.CreditsApplied.Neg()), cur, "prepaid credit drawn before cash")
	summary("summary", "Total", "", amt(inv.Total), cur, totalNote(inv))
	v := inv.Value
	summary("value", "Outcomes billed", strconv.FormatInt(v.Outcomes, 10), "", "",
		strconv.FormatInt(v.Succeeded, 10)+" succeeded, "+strconv.FormatInt(v.Partial, 10)+" partial")
	summary("value", "Hours a person would have needed", v.HumanHours.StringFixed(2), "", "",
		"human minutes per outcome ÷ 60, partial outcomes at "+billing.PartialWeight.String())
	if v.LaborCost != nil {
		summary("value", "Cost of those hours at the labor baseline", "", v.LaborCost.Display(), string(v.LaborCost.Currency), "burdened annual cost ÷ productive hours")
	}
	summary("value", "Invoice amount", "", amt(inv.Total), cur, "")
	if v.Savings != nil {
		summary("value", "Savings", "", v.Savings.Display(), string(v.Savings.Currency), "labor cost − invoice amount")
	}
	summary("value", "Full-time equivalents", v.FTE.StringFixed(2), "", "", "hours ÷ (productive hours ÷ 12) a month of the period")
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func totalNote(inv billing.Invoice) string {
	switch inv.Status {
	case billing.InvoiceDraft:
		return "draft: not yet final"
	case billing.InvoiceVoid:
		return "void: " + inv.VoidReason
	}
	return "issued " + inv.IssueDate.Format(time.DateOnly)
}

// text keeps a spreadsheet from running a cell as a formula: text that starts with = + - @ or a
// control character gets a leading apostrophe (OWASP's advice for CSV injection).
func text(s string) string {
	// encoding/csv reads a lone carriage return inside a quoted cell back as nothing, so line
	// breaks are written as plain newlines, which every spreadsheet shows alike.
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
