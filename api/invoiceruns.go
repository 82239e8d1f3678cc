package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

// InvoiceRunStarter starts (or re-runs) a customer's invoice run for a period.
type InvoiceRunStarter interface {
	StartInvoiceRun(ctx context.Context, customerID string, p billing.Period) (billing.InvoiceRun, error)
}

// InvoiceRunStore reads runs, and the customers whose periods a run by month needs.
type InvoiceRunStore interface {
	InvoiceRun(ctx context.Context, id string) (billing.InvoiceRun, error)
	Customer(ctx context.Context, id string) (billing.Customer, error)
	Customers(ctx context.Context, p billing.Page) ([]billing.Customer, string, error)
}

func invoiceRunRoutes() []route {
	finance := []string{billing.ScopeFinance}
	return []route{
		{"POST", "/v1/invoice-runs", finance, "Run (or re-run) invoices: one customer and period, or every customer for a month", "InvoiceRunInput", "InvoiceRunList", 202, (*Server).postInvoiceRuns},
		{"GET", "/v1/invoice-runs/:id", finance, "An invoice run's progress", "", "InvoiceRun", 200, (*Server).getInvoiceRun},
	}
}

type invoiceRunInput struct {
	CustomerID  string     `json:"customer_id"`
	PeriodStart *time.Time `json:"period_start"`
	PeriodEnd   *time.Time `json:"period_end"`
	// Period is a month, 2026-10: each customer's billing period that starts in it (its anchor
	// day, midnight in its zone).
	Period string `json:"period"`
}

type invoiceRunJSON struct {
	ID          string    `json:"id"`
	CustomerID  string    `json:"customer_id"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Status      string    `json:"status"`
	TasksTotal  int64     `json:"tasks_total"`
	TasksRated  int64     `json:"tasks_rated"`
	InvoiceID   string    `json:"invoice_id,omitempty"`
	CreditNotes []string  `json:"credit_notes"`
	Error       string    `json:"error,omitempty"`
	Runs        int       `json:"runs"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func renderInvoiceRun(r billing.InvoiceRun) invoiceRunJSON {
	notes := r.CreditNotes
	if notes == nil {
		notes = []string{}
	}
	return invoiceRunJSON{ID: r.ID, CustomerID: r.CustomerID, PeriodStart: r.Period.Start, PeriodEnd: r.Period.End, Status: string(r.Status),
		TasksTotal: r.TasksTotal, TasksRated: r.TasksRated, InvoiceID: r.InvoiceID, CreditNotes: notes, Error: r.Error, Runs: r.Runs,
		UpdatedAt: r.UpdatedAt}
}

// postInvoiceRuns answers 202: the runs are recorded and their workflows started; the drafts
// follow, and GET /v1/invoice-runs/{id} shows how far each got.
func (s *Server) postInvoiceRuns() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in invoiceRunInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		ctx := c.Request.Context()
		targets, err := s.runTargets(ctx, in)
		if err != nil {
			renderError(c, err)
			return
		}
		out := make([]invoiceRunJSON, 0, len(targets))
		for _, t := range targets {
			run, err := s.cfg.InvoiceRunner.StartInvoiceRun(ctx, t.customerID, t.period)
			if err != nil {
				renderError(c, err)
				return
			}
			out = append(out, renderInvoiceRun(run))
		}
		c.JSON(http.StatusAccepted, gin.H{"data": out})
	}
}

type runTarget struct {
	customerID string
	period     billing.Period
}

// runTargets turns the request into (customer, period) pairs, validating before anything starts.
func (s *Server) runTargets(ctx context.Context, in invoiceRunInput) ([]runTarget, error) {
	if in.Period == "" {
		if in.CustomerID == "" {
			return nil, billing.Invalid("customer_id", "is required with period_start and period_end (or send period: \"2026-10\")")
		}
		if in.PeriodStart == nil || in.PeriodEnd == nil {
			return nil, billing.Invalid("period_start", "period_start and period_end (RFC 3339) are required, or a period such as \"2026-10\"")
		}
		if !in.PeriodStart.Before(*in.PeriodEnd) {
			return nil, billing.Invalid("period_end", "must be after period_start")
		}
		if in.PeriodEnd.Sub(*in.PeriodStart) > 366*24*time.Hour {
			return nil, billing.Invalid("period_end", "a run covers at most a year")
		}
		if _, err := s.cfg.InvoiceRuns.Customer(ctx, in.CustomerID); err != nil {
			return nil, err
		}
		return []runTarget{{in.CustomerID, billing.Period{Start: in.PeriodStart.UTC(), End: in.PeriodEnd.UTC()}}}, nil
	}
	if in.PeriodStart != nil || in.PeriodEnd != nil {
		return nil, billing.Invalid("period", "send either period or period_start and period_end, not both")
	}
	month, err := time.Parse("2006-01", in.Period)
	if err != nil {
		return nil, billing.Invalid("period", "must be a month such as 2026-10")
	}
	var customers []billing.Customer
	if in.CustomerID != "" {
		c, err := s.cfg.InvoiceRuns.Customer(ctx, in.CustomerID)
		if err != nil {
			return nil, err
		}
		customers = []billing.Customer{c}
	} else {
		page := billing.Page{Limit: billing.MaxPageLimit}
		for {
			list, next, err := s.cfg.InvoiceRuns.Customers(ctx, page)
			if err != nil {
				return nil, err
			}
			customers = append(customers, list...)
			if next == "" {
				break
			}
			page.Cursor = next
		}
	}
	out := make([]runTarget, 0, len(customers))
	for _, cu := range customers {
		loc, err := billing.LoadLocation(cu.Timezone)
		if err != nil {
			return nil, err
		}
		start := time.Date(month.Year(), month.Month(), cu.AnchorDay, 0, 0, 0, 0, loc)
		out = append(out, runTarget{cu.ID, billing.PeriodContaining(start, loc, cu.AnchorDay)})
	}
	return out, nil
}

func (s *Server) getInvoiceRun() gin.HandlerFunc {
	return func(c *gin.Context) {
		run, err := s.cfg.InvoiceRuns.InvoiceRun(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderInvoiceRun(run))
	}
}
