package invoicefmt

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// DejaVu Sans Condensed covers Latin, Greek and Cyrillic and the signs explanations use (× ÷ ≈
// ∞ –), which the PDF core fonts lack; fpdf embeds only the glyphs a document uses.
var (
	//go:embed fonts/DejaVuSansCondensed.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSansCondensed-Bold.ttf
	fontBold []byte
)

// Page geometry in millimetres (A4) and the table's columns.
const (
	margin   = 18.0
	pageW    = 210.0
	contentW = pageW - 2*margin
	colQty   = 22.0
	colUnit  = 26.0
	colAmt   = 28.0
	colDesc  = contentW - colQty - colUnit - colAmt
	lineH    = 4.6
	smallH   = 3.7
)

var (
	ink   = [3]int{33, 37, 41}
	muted = [3]int{108, 117, 125}
	rule  = [3]int{206, 212, 218}
	shade = [3]int{241, 243, 245}
	green = [3]int{235, 246, 238}
	red   = [3]int{176, 42, 55}
)

type pdfDoc struct {
	*fpdf.Fpdf
	inv billing.Invoice
	loc *time.Location
}

// PDF renders the invoice as an A4 PDF a finance team can send: vendor and customer, number,
// dates and period, each line with its explanation, subtotal, credits and total, and the value
// statement. A draft and a void invoice say so in a banner on the first page.
func PDF(inv billing.Invoice) ([]byte, error) {
	loc, err := time.LoadLocation(inv.Timezone)
	if err != nil || inv.Timezone == "" {
		loc = time.UTC
	}
	d := &pdfDoc{Fpdf: fpdf.New("P", "mm", "A4", ""), inv: inv, loc: loc}
	d.AddUTF8FontFromBytes("dejavu", "", fontRegular)
	d.AddUTF8FontFromBytes("dejavu", "B", fontBold)
	stamp := inv.UpdatedAt
	if !inv.FinalizedAt.IsZero() {
		stamp = inv.FinalizedAt
	}
	d.SetCreationDate(stamp.UTC())
	d.SetModificationDate(stamp.UTC())
	d.SetCatalogSort(true)
	d.SetTitle(title(inv), true)
	d.SetAuthor(inv.Vendor.Name, true)
	d.SetCreator("outcomebill", true)
	d.SetProducer("outcomebill", true)
	d.SetMargins(margin, margin, margin)
	d.SetAutoPageBreak(true, margin+6)
	d.AliasNbPages("{nb}")
	d.SetFooterFunc(d.footer)
	d.AddPage()
	d.header()
	d.banner()
	d.lines()
	d.totals()
	d.valueStatement()
	d.notes()
	if err := d.Error(); err != nil {
		return nil, fmt.Errorf("invoice %s pdf: %w", inv.ID, err)
	}
	var buf bytes.Buffer
	if err := d.Output(&buf); err != nil {
		return nil, fmt.Errorf("invoice %s pdf: %w", inv.ID, err)
	}
	return buf.Bytes(), nil
}

func title(inv billing.Invoice) string {
	switch {
	case inv.Number == "":
		return "Draft invoice"
	default:
		return "Invoice " + inv.Number
	}
}

func (d *pdfDoc) font(style string, size float64, c [3]int) {
	d.SetFont("dejavu", style, size)
	d.SetTextColor(c[0], c[1], c[2])
}

// header prints the vendor on the left, the invoice's title and facts on the right, then who is
// billed.
func (d *pdfDoc) header() {
	inv := d.inv
	top := d.GetY()
	// Vendor, left.
	d.font("B", 15, ink)
	d.MultiCell(contentW/2, 6.5, inv.Vendor.Name, "", "L", false)
	d.font("", 8.5, muted)
	for _, l := range strings.Split(inv.Vendor.Address, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.CellFormat(contentW/2, smallH+0.4, l, "", 2, "L", false, 0, "")
		}
	}
	if inv.Vendor.Email != "" {
		d.CellFormat(contentW/2, smallH+0.4, inv.Vendor.Email, "", 2, "L", false, 0, "")
	}
	if inv.Vendor.TaxID != "" {
		d.CellFormat(contentW/2, smallH+0.4, "Tax ID "+inv.Vendor.TaxID, "", 2, "L", false, 0, "")
	}
	leftEnd := d.GetY()

	// Title and facts, right.
	x := margin + contentW/2
	d.SetXY(x, top)
	d.font("B", 20, ink)
	heading := "INVOICE"
	if inv.Status == billing.InvoiceDraft {
		heading = "DRAFT INVOICE"
	}
	d.CellFormat(contentW/2, 8, heading, "", 2, "R", false, 0, "")
	d.SetY(d.GetY() + 2)
	number := inv.Number
	if number == "" {
		number = "assigned when finalized"
	}
	issue := "—"
	if !inv.IssueDate.IsZero() {
		issue = longDate(inv.IssueDate)
	}
	facts := [][2]string{
		{"Invoice number", number},
		{"Issue date", issue},
		{"Billing period", d.period()},
		{"Currency", string(inv.Currency)},
	}
	if inv.PlanID != "" {
		facts = append(facts, [2]string{"Plan", fmt.Sprintf("%s, version %d", inv.PlanID, inv.PlanVersion)})
	}
	for _, f := range facts {
		d.SetX(x)
		d.font("", 8.5, muted)
		d.CellFormat(28, lineH+0.4, f[0], "", 0, "L", false, 0, "")
		d.font("", 8.5, ink)
		d.CellFormat(contentW/2-28, lineH+0.4, f[1], "", 2, "R", false, 0, "")
	}
	rightEnd := d.GetY()

	d.SetY(max(leftEnd, rightEnd) + 7)
	d.font("B", 7.5, muted)
	d.CellFormat(contentW, smallH, "BILL TO", "", 2, "L", false, 0, "")
	d.SetY(d.GetY() + 0.8)
	d.font("B", 11, ink)
	d.MultiCell(contentW, 5.2, inv.CustomerName, "", "L", false)
	d.font("", 8.5, muted)
	d.CellFormat(contentW, lineH, "Customer ID "+inv.CustomerID, "", 2, "L", false, 0, "")
	d.SetY(d.GetY() + 6)
}

// period prints [start, end) as the inclusive days it covers in the customer's timezone.
func (d *pdfDoc) period() string {
	s, e := d.inv.PeriodStart.In(d.loc), d.inv.PeriodEnd.In(d.loc)
	if isMidnight(s) && isMidnight(e) {
		last := e.AddDate(0, 0, -1)
		if last.Equal(s) {
			return shortDate(s)
		}
		return shortDate(s) + " – " + shortDate(last)
	}
	return s.Format("2 Jan 2006 15:04") + " – " + e.Format("2 Jan 2006 15:04 MST")
}

func isMidnight(t time.Time) bool {
	h, m, s := t.Clock()
	return h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0
}

func shortDate(t time.Time) string { return t.Format("2 Jan 2006") }
func longDate(t time.Time) string  { return t.Format("2 January 2006") }

func (d *pdfDoc) banner() {
	inv := d.inv
	var msg string
	switch inv.Status {
	case billing.InvoiceDraft:
		msg = "DRAFT — not a valid invoice. Amounts may change until it is finalized and numbered."
	case billing.InvoiceVoid:
		msg = "VOID — this invoice was cancelled on " + longDate(inv.VoidedAt.In(d.loc)) + ": " + inv.VoidReason
	default:
		return
	}
	d.SetFillColor(252, 235, 236)
	d.SetDrawColor(red[0], red[1], red[2])
	d.font("B", 9, red)
	d.MultiCell(contentW, 6, msg, "1", "C", true)
	d.SetY(d.GetY() + 5)
}

func (d *pdfDoc) tableHeader() {
	d.SetFillColor(shade[0], shade[1], shade[2])
	d.font("B", 8, muted)
	d.CellFormat(colDesc, 7, "  DESCRIPTION", "", 0, "L", true, 0, "")
	d.CellFormat(colQty, 7, "QUANTITY", "", 0, "R", true, 0, "")
	d.CellFormat(colUnit, 7, "UNIT PRICE", "", 0, "R", true, 0, "")
	d.CellFormat(colAmt, 7, "AMOUNT  ", "", 1, "R", true, 0, "")
	d.SetY(d.GetY() + 1.5)
}

// lines prints one row per line, its explanation in small type beneath, starting a new page
// (with the column headings again) rather than splitting a line from its explanation.
func (d *pdfDoc) lines() {
	d.tableHeader()
	explW := colDesc + colQty + colUnit - 6
	for _, l := range d.inv.Lines {
		d.font("", 7.5, muted)
		expl := d.SplitText(l.ExplanationText, explW)
		d.font("B", 9, ink)
		desc := d.SplitText(l.Description, colDesc-4)
		need := float64(len(desc))*lineH + float64(len(expl))*smallH + 5
		_, pageH := d.GetPageSize()
		_, _, _, bottom := d.GetMargins()
		if d.GetY()+need > pageH-bottom-6 {
			d.AddPage()
			d.tableHeader()
		}
		y := d.GetY()
		d.SetX(margin + 2)
		d.MultiCell(colDesc-4, lineH, l.Description, "", "L", false)
		afterDesc := d.GetY()
		d.SetXY(margin+colDesc, y)
		d.font("", 9, ink)
		d.CellFormat(colQty, lineH, groupDecimal(l.Quantity.String()), "", 0, "R", false, 0, "")
		unit := ""
		if l.UnitAmount != nil {
			unit = d.unitPrice(*l.UnitAmount)
		}
		d.CellFormat(colUnit, lineH, unit, "", 0, "R", false, 0, "")
		d.font("B", 9, ink)
		d.CellFormat(colAmt-2, lineH, d.amount(l.Amount), "", 0, "R", false, 0, "")
		d.SetXY(margin+2, afterDesc+0.6)
		d.font("", 7.5, muted)
		d.MultiCell(explW, smallH, l.ExplanationText, "", "L", false)
		d.SetY(d.GetY() + 2)
		d.SetDrawColor(rule[0], rule[1], rule[2])
		d.Line(margin, d.GetY(), margin+contentW, d.GetY())
		d.SetY(d.GetY() + 2.5)
	}
}

// unitPrice prints a price with the digits it was set with (0.000002 a token is not 0.00), up to
// six decimals; a price computed to more digits than that (a share of a labor cost) is shown
// rounded, marked "≈" — the JSON and CSV keep every digit.
func (d *pdfDoc) unitPrice(u decimal.Decimal) string {
	r := u.Round(6)
	minor := d.inv.Currency.MinorUnits()
	s := r.String() // every significant digit up to six decimals
	if r.Equal(r.Round(minor)) {
		s = r.StringFixed(minor)
	}
	s = groupDecimal(s)
	if !r.Equal(u) {
		return "≈" + s
	}
	return s
}

// amount prints an amount to the minor unit with thousands separated.
func (d *pdfDoc) amount(a decimal.Decimal) string {
	return groupDecimal(money.New(a, d.inv.Currency).Display())
}

// groupDecimal puts thousands separators into a plain decimal: 1234567.5 → 1,234,567.5.
func groupDecimal(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "−", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

func (d *pdfDoc) totals() {
	inv := d.inv
	rows := [][2]string{{"Subtotal", d.amount(inv.Subtotal)}}
	if !inv.CreditsApplied.IsZero() {
		rows = append(rows, [2]string{"Prepaid credits applied", d.amount(inv.CreditsApplied.Neg())})
	}
	need := float64(len(rows))*6 + 14
	d.ensure(need)
	labelW, valW := 52.0, 34.0
	x := margin + contentW - labelW - valW
	d.SetY(d.GetY() + 1)
	for _, r := range rows {
		d.SetX(x)
		d.font("", 9, muted)
		d.CellFormat(labelW, 6, r[0], "", 0, "L", false, 0, "")
		d.font("", 9, ink)
		d.CellFormat(valW-2, 6, r[1], "", 1, "R", false, 0, "")
	}
	d.SetDrawColor(ink[0], ink[1], ink[2])
	d.Line(x, d.GetY()+1, margin+contentW, d.GetY()+1)
	d.SetY(d.GetY() + 2.5)
	d.SetX(x)
	label := "Total due"
	if inv.Status == billing.InvoiceVoid {
		label = "Total (void)"
	}
	d.font("B", 11, ink)
	d.CellFormat(labelW-12, 8, label, "", 0, "L", false, 0, "")
	d.CellFormat(valW+12-2, 8, d.amount(inv.Total)+" "+string(inv.Currency), "", 1, "R", false, 0, "")
	d.SetY(d.GetY() + 8)
}

// ensure starts a new page unless h millimetres fit on this one.
func (d *pdfDoc) ensure(h float64) {
	_, pageH := d.GetPageSize()
	_, _, _, bottom := d.GetMargins()
	if d.GetY()+h > pageH-bottom-6 {
		d.AddPage()
	}
}

func (d *pdfDoc) valueStatement() {
	v := d.inv.Value
	if v.Outcomes == 0 {
		return // nothing was billed per outcome: there is no work to weigh against people
	}
	rows := [][2]string{
		{"Outcomes delivered and billed", fmt.Sprintf("%d (%d succeeded, %d partial)", v.Outcomes, v.Succeeded, v.Partial)},
		{"Hours a person would have needed", groupDecimal(v.HumanHours.StringFixed(2)) + " h"},
	}
	if v.LaborCost != nil {
		rows = append(rows, [2]string{"What those hours cost at the labor baseline", groupDecimal(v.LaborCost.Display()) + " " + string(v.LaborCost.Currency)})
	}
	rows = append(rows, [2]string{"This invoice", d.amount(d.inv.Total) + " " + string(d.inv.Currency)})
	if v.Savings != nil {
		rows = append(rows, [2]string{"Savings", groupDecimal(v.Savings.Display()) + " " + string(v.Savings.Currency)})
	}
	rows = append(rows, [2]string{"Full-time equivalents over the period", v.FTE.StringFixed(2)})
	h := 9 + float64(len(rows))*5.4 + 13
	d.ensure(h)
	top := d.GetY()
	d.SetFillColor(green[0], green[1], green[2])
	d.Rect(margin, top, contentW, h, "F")
	d.SetXY(margin+5, top+4)
	d.font("B", 10, ink)
	d.CellFormat(contentW-10, 5.5, "Value statement: what this work would have taken people", "", 2, "L", false, 0, "")
	d.SetY(d.GetY() + 1.5)
	for _, r := range rows {
		d.SetX(margin + 5)
		d.font("", 8.5, muted)
		d.CellFormat(95, 5.4, r[0], "", 0, "L", false, 0, "")
		d.font("B", 8.5, ink)
		d.CellFormat(contentW-10-95, 5.4, r[1], "", 1, "R", false, 0, "")
	}
	d.SetXY(margin+5, d.GetY()+1)
	d.font("", 7, muted)
	d.MultiCell(contentW-10, 3.4, "Hours are human minutes per outcome ÷ 60, a partial outcome counting "+
		billing.PartialWeight.String()+"; the labor baseline is the burdened annual cost of a person ÷ productive hours a year; "+
		"full-time equivalents are hours ÷ (productive hours a year ÷ 12) for each month of the period.", "", "L", false)
	d.SetY(top + h + 6)
}

func (d *pdfDoc) notes() {
	n := d.inv.Notes
	var out []string
	for _, k := range slices.Sorted(maps.Keys(n.UnpricedOutcomes)) {
		out = append(out, fmt.Sprintf("%d outcomes of %s are not priced by the plan and are not billed.", n.UnpricedOutcomes[k], k))
	}
	if n.UnpricedUsage > 0 {
		out = append(out, fmt.Sprintf("%d usage events had no model price when this invoice was built.", n.UnpricedUsage))
	}
	if len(n.ExpiredCredits) > 0 {
		out = append(out, "Expired prepaid credit not applied: "+strings.Join(n.ExpiredCredits, ", ")+".")
	}
	if len(out) == 0 {
		return
	}
	d.ensure(6 + float64(len(out))*smallH*2)
	d.font("B", 8, muted)
	d.CellFormat(contentW, 5, "Notes", "", 2, "L", false, 0, "")
	d.font("", 7.5, muted)
	for _, s := range out {
		d.MultiCell(contentW, smallH, s, "", "L", false)
	}
}

func (d *pdfDoc) footer() {
	d.SetY(-margin + 2)
	d.font("", 7.5, muted)
	ref := "Draft " + d.inv.ID
	if d.inv.Number != "" {
		ref = "Invoice " + d.inv.Number
	}
	d.CellFormat(contentW, 4, fmt.Sprintf("%s  ·  %s  ·  Page %d of {nb}", d.inv.Vendor.Name, ref, d.PageNo()), "", 0, "C", false, 0, "")
}
