// Package invoicefmt renders invoices for people and spreadsheets: the JSON document the API
// serves and exports, CSV (RFC 4180) and PDF. Every function takes an invoice and returns bytes;
// nothing here reads a clock, a file or a database, so a finalized invoice renders the same
// forever.
//
// It imports the standard library, shopspring/decimal, go-pdf/fpdf, money, pricing and billing;
// never pgx, Gin, Temporal or net/http.
package invoicefmt

import (
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// Document is an invoice as JSON: what GET /v1/invoices/{id} answers and the JSON export holds.
// Amounts are {"amount": "12.50", "currency": "USD"}; quantities are decimal strings.
type Document struct {
	ID          string         `json:"id"`
	Number      string         `json:"number,omitempty"`
	Status      string         `json:"status"`
	Vendor      billing.Vendor `json:"vendor"`
	Customer    Customer       `json:"customer"`
	PeriodStart time.Time      `json:"period_start"`
	PeriodEnd   time.Time      `json:"period_end"`
	IssueDate   string         `json:"issue_date,omitempty"` // YYYY-MM-DD
	Currency    string         `json:"currency"`
	Plan        *Plan          `json:"plan,omitempty"`
	Lines       []Line         `json:"lines"`
	Subtotal    money.Money    `json:"subtotal"`
	// CreditsApplied is what prepaid credit covered, as a positive amount.
	CreditsApplied money.Money           `json:"credits_applied"`
	Total          money.Money           `json:"total"`
	CreditDraws    []Draw                `json:"credit_draws,omitempty"`
	Notes          *billing.InvoiceNotes `json:"notes,omitempty"`
	ValueStatement ValueStatement        `json:"value_statement"`
	VoidReason     string                `json:"void_reason,omitempty"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
	FinalizedAt    *time.Time            `json:"finalized_at,omitempty"`
	VoidedAt       *time.Time            `json:"voided_at,omitempty"`
}

// Customer is who is billed.
type Customer struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Timezone   string `json:"timezone,omitempty"`
}

// Plan names the plan version the invoice was rated with.
type Plan struct {
	PlanID  string `json:"plan_id"`
	Version int    `json:"version"`
}

// Line is one invoice line: its amount, the sentence that explains it and the figures behind it.
type Line struct {
	Position          int                 `json:"position"`
	Kind              string              `json:"kind"`
	Description       string              `json:"description"`
	OutcomeType       string              `json:"outcome_type,omitempty"`
	Meter             string              `json:"meter,omitempty"`
	Quantity          decimal.Decimal     `json:"quantity"`
	UnitAmount        *money.Money        `json:"unit_amount,omitempty"`
	Amount            money.Money         `json:"amount"`
	Explanation       string              `json:"explanation"`
	ExplanationDetail pricing.Explanation `json:"explanation_detail"`
}

// Draw is what the invoice drew from one prepaid credit grant.
type Draw struct {
	GrantID        string      `json:"grant_id"`
	Amount         money.Money `json:"amount"`
	RemainingAfter money.Money `json:"remaining_after"`
	ExpiresAt      *time.Time  `json:"expires_at,omitempty"`
}

// ValueStatement is what the billed outcomes would have cost had people done them.
type ValueStatement struct {
	Outcomes           int64           `json:"outcomes"`
	Succeeded          int64           `json:"succeeded"`
	Partial            int64           `json:"partial"`
	HumanHours         decimal.Decimal `json:"human_hours"`
	LaborCost          *money.Money    `json:"labor_cost,omitempty"`
	InvoiceAmount      money.Money     `json:"invoice_amount"`
	Savings            *money.Money    `json:"savings,omitempty"`
	FullTimeEquivalent decimal.Decimal `json:"full_time_equivalents"`
}

// NewDocument maps an invoice to its JSON document.
func NewDocument(inv billing.Invoice) Document {
	m := func(d decimal.Decimal) money.Money { return money.New(d, inv.Currency) }
	d := Document{ID: inv.ID, Number: inv.Number, Status: string(inv.Status), Vendor: inv.Vendor,
		Customer:    Customer{CustomerID: inv.CustomerID, Name: inv.CustomerName, Timezone: inv.Timezone},
		PeriodStart: inv.PeriodStart.UTC(), PeriodEnd: inv.PeriodEnd.UTC(), Currency: string(inv.Currency),
		Lines: make([]Line, 0, len(inv.Lines)), Subtotal: m(inv.Subtotal), CreditsApplied: m(inv.CreditsApplied), Total: m(inv.Total),
		VoidReason: inv.VoidReason, CreatedAt: inv.CreatedAt.UTC(), UpdatedAt: inv.UpdatedAt.UTC(),
		ValueStatement: ValueStatement{Outcomes: inv.Value.Outcomes, Succeeded: inv.Value.Succeeded, Partial: inv.Value.Partial,
			HumanHours: inv.Value.HumanHours, LaborCost: inv.Value.LaborCost, InvoiceAmount: m(inv.Total), Savings: inv.Value.Savings,
			FullTimeEquivalent: inv.Value.FTE}}
	if !inv.IssueDate.IsZero() {
		d.IssueDate = inv.IssueDate.Format(time.DateOnly)
	}
	if inv.PlanID != "" {
		d.Plan = &Plan{PlanID: inv.PlanID, Version: inv.PlanVersion}
	}
	for _, l := range inv.Lines {
		line := Line{Position: l.Position, Kind: l.Kind, Description: l.Description, OutcomeType: l.OutcomeType, Meter: l.Meter,
			Quantity: l.Quantity, Amount: m(l.Amount), Explanation: l.ExplanationText, ExplanationDetail: l.Explanation}
		if l.UnitAmount != nil {
			u := m(*l.UnitAmount)
			line.UnitAmount = &u
		}
		d.Lines = append(d.Lines, line)
	}
	for _, dr := range inv.Draws {
		out := Draw{GrantID: dr.GrantID, Amount: m(dr.Amount), RemainingAfter: m(dr.RemainingAfter)}
		if !dr.ExpiresAt.IsZero() {
			e := dr.ExpiresAt.UTC()
			out.ExpiresAt = &e
		}
		d.CreditDraws = append(d.CreditDraws, out)
	}
	if n := inv.Notes; len(n.UnpricedOutcomes) > 0 || n.UnpricedUsage > 0 || len(n.ExpiredCredits) > 0 {
		d.Notes = &n
	}
	if !inv.FinalizedAt.IsZero() {
		f := inv.FinalizedAt.UTC()
		d.FinalizedAt = &f
	}
	if !inv.VoidedAt.IsZero() {
		v := inv.VoidedAt.UTC()
		d.VoidedAt = &v
	}
	return d
}

// JSON renders the invoice as an indented JSON document ending in a newline.
func JSON(inv billing.Invoice) ([]byte, error) {
	b, err := json.MarshalIndent(NewDocument(inv), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// FileName is the export's file name without extension: the number of a finalized invoice, else
// "draft-" and its id.
func FileName(inv billing.Invoice) string {
	if inv.Number != "" {
		return "invoice-" + inv.Number
	}
	return "invoice-draft-" + inv.ID
}
