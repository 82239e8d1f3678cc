package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/invoicefmt"
	"github.com/outcomebill/outcomebill/money"
)

// InvoiceStore keeps invoices and credit notes.
type InvoiceStore interface {
	Invoice(ctx context.Context, id string) (billing.Invoice, error)
	Invoices(ctx context.Context, f billing.InvoiceFilter, p billing.Page) ([]billing.Invoice, string, error)
	FinalizeInvoice(ctx context.Context, id string) (billing.Invoice, error)
	VoidInvoice(ctx context.Context, id, reason string) (billing.Invoice, error)
	CreditNotes(ctx context.Context, customerID string, p billing.Page) ([]billing.CreditNote, string, error)
}

func invoiceRoutes() []route {
	finance := []string{billing.ScopeFinance}
	// Viewer keys pass the scope check here; the handlers then hold them to their own customer.
	reader := []string{billing.ScopeFinance, billing.ScopeViewer}
	return []route{
		{"GET", "/v1/invoices", reader, "List invoices (filters: customer_id, status, period_from, period_to); a viewer key lists its own customer's", "", "InvoiceList", 200, (*Server).listInvoices},
		{"GET", "/v1/invoices/:id", reader, "Get an invoice with its lines, explanations and value statement", "", "Invoice", 200, (*Server).getInvoice},
		{"POST", "/v1/invoices/:id/finalize", finance, "Finalize a draft: number it and make it immutable (idempotent)", "", "Invoice", 200, (*Server).finalizeInvoice},
		{"POST", "/v1/invoices/:id/void", finance, "Void a finalized invoice, keeping its number", "VoidInput", "Invoice", 200, (*Server).voidInvoice},
		{"GET", "/v1/invoices/:id/export", reader, "Export an invoice as ?format=csv, json or pdf", "", "", 200, (*Server).exportInvoice},
		{"GET", "/v1/credit-notes", finance, "List credit notes (filter: customer_id)", "", "CreditNoteList", 200, (*Server).listCreditNotes},
	}
}

// errOtherCustomer is what a viewer key gets for any invoice not of its customer, whether or not
// it exists, so that it learns nothing about other customers.
func errOtherCustomer() error {
	return billing.Errorf(billing.EFORBIDDEN, "this key reads only its own customer's invoices")
}

// readableInvoice loads the invoice named in the path, holding a viewer key to its customer.
func (s *Server) readableInvoice(c *gin.Context) (billing.Invoice, error) {
	inv, err := s.cfg.Invoices.Invoice(c.Request.Context(), c.Param("id"))
	if bound := boundCustomer(c); bound != "" {
		if billing.ErrorCode(err) == billing.ENOTFOUND || (err == nil && inv.CustomerID != bound) {
			return billing.Invoice{}, errOtherCustomer()
		}
	}
	return inv, err
}

type invoiceSummaryJSON struct {
	ID             string      `json:"id"`
	Number         string      `json:"number,omitempty"`
	Status         string      `json:"status"`
	CustomerID     string      `json:"customer_id"`
	CustomerName   string      `json:"customer_name"`
	PeriodStart    time.Time   `json:"period_start"`
	PeriodEnd      time.Time   `json:"period_end"`
	IssueDate      string      `json:"issue_date,omitempty"`
	Currency       string      `json:"currency"`
	Subtotal       money.Money `json:"subtotal"`
	CreditsApplied money.Money `json:"credits_applied"`
	Total          money.Money `json:"total"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at"`
}

func renderInvoiceSummary(inv billing.Invoice) invoiceSummaryJSON {
	m := func(d decimal.Decimal) money.Money { return money.New(d, inv.Currency) }
	out := invoiceSummaryJSON{ID: inv.ID, Number: inv.Number, Status: string(inv.Status), CustomerID: inv.CustomerID,
		CustomerName: inv.CustomerName, PeriodStart: inv.PeriodStart, PeriodEnd: inv.PeriodEnd, Currency: string(inv.Currency),
		Subtotal: m(inv.Subtotal), CreditsApplied: m(inv.CreditsApplied), Total: m(inv.Total), CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt}
	if !inv.IssueDate.IsZero() {
		out.IssueDate = inv.IssueDate.Format(time.DateOnly)
	}
	return out
}

// timeQuery reads an RFC 3339 time or a YYYY-MM-DD date (midnight UTC) from the query.
func timeQuery(c *gin.Context, field string) (time.Time, error) {
	v := c.Query(field)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, billing.Invalid(field, "must be an RFC 3339 time or a YYYY-MM-DD date")
}

func (s *Server) listInvoices() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		f := billing.InvoiceFilter{CustomerID: c.Query("customer_id"), Status: billing.InvoiceStatus(c.Query("status"))}
		if bound := boundCustomer(c); bound != "" {
			if f.CustomerID != "" && f.CustomerID != bound {
				renderError(c, errOtherCustomer())
				return
			}
			f.CustomerID = bound
		}
		if f.PeriodFrom, err = timeQuery(c, "period_from"); err != nil {
			renderError(c, err)
			return
		}
		if f.PeriodTo, err = timeQuery(c, "period_to"); err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Invoices.Invoices(c.Request.Context(), f, p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderInvoiceSummary))
	}
}

func (s *Server) getInvoice() gin.HandlerFunc {
	return func(c *gin.Context) {
		inv, err := s.readableInvoice(c)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, invoicefmt.NewDocument(inv))
	}
}

func (s *Server) finalizeInvoice() gin.HandlerFunc {
	return func(c *gin.Context) {
		inv, err := s.cfg.Invoices.FinalizeInvoice(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, invoicefmt.NewDocument(inv))
	}
}

type voidInput struct {
	Reason string `json:"reason"`
}

func (s *Server) voidInvoice() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in voidInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		inv, err := s.cfg.Invoices.VoidInvoice(c.Request.Context(), c.Param("id"), in.Reason)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, invoicefmt.NewDocument(inv))
	}
}

// exportFormats are the export formats with their content types.
var exportFormats = map[string]struct {
	contentType string
	render      func(billing.Invoice) ([]byte, error)
}{
	"csv":  {"text/csv; charset=utf-8", invoicefmt.CSV},
	"json": {"application/json; charset=utf-8", invoicefmt.JSON},
	"pdf":  {"application/pdf", invoicefmt.PDF},
}

func (s *Server) exportInvoice() gin.HandlerFunc {
	return func(c *gin.Context) {
		format := c.DefaultQuery("format", "pdf")
		f, ok := exportFormats[format]
		if !ok {
			renderError(c, billing.Invalid("format", "must be csv, json or pdf"))
			return
		}
		inv, err := s.readableInvoice(c)
		if err != nil {
			renderError(c, err)
			return
		}
		b, err := f.render(inv)
		if err != nil {
			renderError(c, err)
			return
		}
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, invoicefmt.FileName(inv), format))
		c.Header("Cache-Control", "private, no-store")
		c.Data(http.StatusOK, f.contentType, b)
	}
}

type creditNoteLineJSON struct {
	Position      int         `json:"position"`
	InvoiceID     string      `json:"invoice_id"`
	InvoiceNumber string      `json:"invoice_number"`
	TaskID        string      `json:"task_id"`
	Description   string      `json:"description"`
	Amount        money.Money `json:"amount"`
	Explanation   string      `json:"explanation"`
}

type creditNoteJSON struct {
	ID         string               `json:"id"`
	Number     string               `json:"number"`
	CustomerID string               `json:"customer_id"`
	Currency   string               `json:"currency"`
	IssueDate  string               `json:"issue_date"`
	Total      money.Money          `json:"total"`
	Lines      []creditNoteLineJSON `json:"lines"`
	CreatedAt  time.Time            `json:"created_at"`
}

func renderCreditNote(n billing.CreditNote) creditNoteJSON {
	out := creditNoteJSON{ID: n.ID, Number: n.Number, CustomerID: n.CustomerID, Currency: string(n.Currency),
		IssueDate: n.IssueDate.Format(time.DateOnly), Total: money.New(n.Total, n.Currency), Lines: make([]creditNoteLineJSON, 0, len(n.Lines)),
		CreatedAt: n.CreatedAt}
	for _, l := range n.Lines {
		out.Lines = append(out.Lines, creditNoteLineJSON{Position: l.Position, InvoiceID: l.InvoiceID, InvoiceNumber: l.InvoiceNumber,
			TaskID: l.TaskID, Description: l.Description, Amount: money.New(l.Amount, n.Currency), Explanation: l.Explanation})
	}
	return out
}

func (s *Server) listCreditNotes() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Invoices.CreditNotes(c.Request.Context(), c.Query("customer_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderCreditNote))
	}
}
