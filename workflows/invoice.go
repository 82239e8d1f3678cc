package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// Names of the invoice workflows and their signal.
const (
	InvoiceRunWorkflowName  = "InvoiceRunWorkflow"
	PeriodCloseWorkflowName = "PeriodCloseWorkflow"
	// RerunSignal asks a run waiting out its review window to rebuild its draft now.
	RerunSignal = "rerun"
)

// InvoiceStore is what the invoice workflows' activities need from the database.
type InvoiceStore interface {
	Customer(ctx context.Context, id string) (billing.Customer, error)
	// BuildDraft builds or rebuilds the draft of a customer's period and returns the invoice; a
	// period already finalized (or void) comes back unchanged. It is idempotent.
	BuildDraft(ctx context.Context, customerID string, from, to time.Time) (billing.Invoice, error)
	// FinalizeInvoice finalizes a draft (a finalized one comes back unchanged).
	FinalizeInvoice(ctx context.Context, id string) (billing.Invoice, error)
	// CreateCreditNotes issues credit notes for tasks that finalized invoices billed and that
	// stopped being billable since (late disputes); none when nothing is pending.
	CreateCreditNotes(ctx context.Context, customerID string) ([]billing.CreditNote, error)
	CountBillable(ctx context.Context, customerID string, p billing.Period) (int64, error)
	UpdateInvoiceRun(ctx context.Context, r billing.InvoiceRun) error
}

// InvoiceActivities are the invoice workflows' activities; register one value with the worker.
type InvoiceActivities struct {
	Store InvoiceStore
}

// InvoiceRunInput names a customer's period to bill.
type InvoiceRunInput struct {
	CustomerID  string    `json:"customer_id"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// AutoFinalizeAfter is the review window: a draft still a draft this long after it was
	// built is finalized. Zero leaves finalization to a person.
	AutoFinalizeAfter time.Duration `json:"auto_finalize_after"`
}

func (in InvoiceRunInput) period() billing.Period {
	return billing.Period{Start: in.PeriodStart, End: in.PeriodEnd}
}

// InvoiceRunResult is what a run produced.
type InvoiceRunResult struct {
	InvoiceID   string                `json:"invoice_id"`
	Status      billing.InvoiceStatus `json:"status"`
	Number      string                `json:"number,omitempty"`
	Total       string                `json:"total"`
	Currency    string                `json:"currency"`
	CreditNotes []string              `json:"credit_notes,omitempty"`
}

// Activity options: rating a large period takes seconds, so activities get generous timeouts;
// database outages are retried, business errors are not.
var invoiceActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	// A worker killed mid-build stops heartbeating: the build is retried elsewhere after a
	// minute rather than after the full ten.
	HeartbeatTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        20,
		NonRetryableErrorTypes: nonRetryable,
	},
}

// InvoiceRunWorkflow bills one customer's period: it issues credit notes for late disputes,
// builds the draft through the pricing engine, records its progress for the API and, with a
// review window, finalizes the draft when the window passes — rebuilding it first whenever a
// rerun signal says late events arrived. Its workflow ID is billing.InvoiceRunID, so a second
// run of the same customer and period is the same run and the same invoice.
func InvoiceRunWorkflow(ctx workflow.Context, in InvoiceRunInput) (InvoiceRunResult, error) {
	ctx = workflow.WithActivityOptions(ctx, invoiceActivityOptions)
	var a *InvoiceActivities
	run := billing.InvoiceRun{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, CustomerID: in.CustomerID, Period: in.period()}
	record := func(status billing.InvoiceRunStatus) error {
		run.Status = status
		return workflow.ExecuteActivity(ctx, a.UpdateInvoiceRun, run).Get(ctx, nil)
	}
	fail := func(err error) (InvoiceRunResult, error) {
		run.Error = err.Error()
		if rerr := record(billing.RunFailed); rerr != nil {
			workflow.GetLogger(ctx).Error("recording a failed run failed", "error", rerr)
		}
		recordInvoiceRun(ctx, billing.RunFailed)
		return InvoiceRunResult{}, err
	}
	if err := workflow.ExecuteActivity(ctx, a.CountBillable, in.CustomerID, in.period()).Get(ctx, &run.TasksTotal); err != nil {
		return fail(err)
	}
	if err := record(billing.RunRunning); err != nil {
		return InvoiceRunResult{}, err
	}
	if err := workflow.ExecuteActivity(ctx, a.CreateCreditNotes, in.CustomerID).Get(ctx, &run.CreditNotes); err != nil {
		return fail(err)
	}
	// A run started by SignalWithStart carries a rerun signal already, and one may arrive while a
	// draft is being built: each asks for a draft at least as new as the signal, so pending
	// signals are taken before a build and the draft rebuilt if more came during it.
	rerun := workflow.GetSignalChannel(ctx, RerunSignal)
	drain := func() bool {
		got := false
		for rerun.ReceiveAsync(nil) {
			got = true
		}
		return got
	}
	drain()
	var res InvoiceRunResult
	build := func() error {
		if err := workflow.ExecuteActivity(ctx, a.BuildDraft, in).Get(ctx, &res); err != nil {
			return err
		}
		run.InvoiceID, run.TasksRated = res.InvoiceID, run.TasksTotal
		return record(billing.RunDrafted)
	}
	for first := true; first || drain(); first = false {
		if err := build(); err != nil {
			return fail(err)
		}
	}
	res.CreditNotes = run.CreditNotes
	if in.AutoFinalizeAfter <= 0 || res.Status != billing.InvoiceDraft {
		recordInvoiceRun(ctx, billing.RunDrafted)
		return res, nil
	}
	for {
		timerCtx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(timerCtx, in.AutoFinalizeAfter)
		rebuild := false
		workflow.NewSelector(ctx).
			AddFuture(timer, func(workflow.Future) {}).
			AddReceive(rerun, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
				rebuild = true
			}).
			Select(ctx)
		cancel()
		if !rebuild {
			break
		}
		// Late events: rebuild, and give the new draft a full review window.
		if err := build(); err != nil {
			return fail(err)
		}
		if res.Status != billing.InvoiceDraft {
			recordInvoiceRun(ctx, billing.RunDrafted)
			return res, nil
		}
	}
	if err := workflow.ExecuteActivity(ctx, a.FinalizeInvoice, res.InvoiceID).Get(ctx, &res); err != nil {
		return fail(err)
	}
	res.CreditNotes = run.CreditNotes
	if err := record(billing.RunFinalized); err != nil {
		return res, err
	}
	recordInvoiceRun(ctx, billing.RunFinalized)
	return res, nil
}

// PeriodCloseInput is what a customer's invoice schedule starts PeriodCloseWorkflow with.
type PeriodCloseInput struct {
	CustomerID        string        `json:"customer_id"`
	Grace             time.Duration `json:"grace"`
	AutoFinalizeAfter time.Duration `json:"auto_finalize_after"`
	TaskQueue         string        `json:"task_queue,omitempty"`
}

// PeriodCloseWorkflow runs when a customer's billing period ends (its schedule fires at the
// anchor day's midnight in the customer's zone): it waits out the grace period for late events,
// then starts the period's InvoiceRunWorkflow as a child under the run's business key, so that a
// run started by hand for the same period is the same run.
func PeriodCloseWorkflow(ctx workflow.Context, in PeriodCloseInput) (string, error) {
	var a *InvoiceActivities
	actx := workflow.WithActivityOptions(ctx, invoiceActivityOptions)
	var c billing.Customer
	if err := workflow.ExecuteActivity(actx, a.Customer, in.CustomerID).Get(ctx, &c); err != nil {
		return "", err
	}
	loc, err := billing.LoadLocation(c.Timezone)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "billing.invalid", err)
	}
	// The schedule fires at the start of the new period; the period that just closed is the
	// one before the period containing that instant. A fire delayed by an outage still finds it.
	p := billing.PeriodContaining(workflow.Now(ctx), loc, c.AnchorDay).Previous(loc)
	grace := in.Grace
	if grace <= 0 {
		grace = billing.DefaultGracePeriod
	}
	if wait := p.End.Add(grace).Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
	id := billing.InvoiceRunID(in.CustomerID, p)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		TaskQueue:             in.TaskQueue,
		ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	})
	err = workflow.ExecuteChildWorkflow(cctx, InvoiceRunWorkflowName, InvoiceRunInput{CustomerID: in.CustomerID,
		PeriodStart: p.Start, PeriodEnd: p.End, AutoFinalizeAfter: in.AutoFinalizeAfter}).Get(ctx, nil)
	var started *temporal.ChildWorkflowExecutionAlreadyStartedError
	if errors.As(err, &started) {
		return id, nil // someone ran it by hand just now: that run bills the period
	}
	return id, err
}

// Customer reads a customer.
func (a *InvoiceActivities) Customer(ctx context.Context, id string) (billing.Customer, error) {
	c, err := a.Store.Customer(ctx, id)
	return c, activityError(err)
}

// CountBillable counts the tasks the run will rate.
func (a *InvoiceActivities) CountBillable(ctx context.Context, customerID string, p billing.Period) (int64, error) {
	n, err := a.Store.CountBillable(ctx, customerID, p)
	return n, activityError(err)
}

// UpdateInvoiceRun records a run's progress.
func (a *InvoiceActivities) UpdateInvoiceRun(ctx context.Context, r billing.InvoiceRun) error {
	return activityError(a.Store.UpdateInvoiceRun(ctx, r))
}

// CreateCreditNotes issues the credit notes due and returns their numbers.
func (a *InvoiceActivities) CreateCreditNotes(ctx context.Context, customerID string) ([]string, error) {
	notes, err := a.Store.CreateCreditNotes(ctx, customerID)
	if err != nil {
		return nil, activityError(fmt.Errorf("credit notes of %s: %w", customerID, err))
	}
	var numbers []string
	for _, n := range notes {
		numbers = append(numbers, n.Number)
	}
	return numbers, nil
}

// BuildDraft builds the period's draft.
func (a *InvoiceActivities) BuildDraft(ctx context.Context, in InvoiceRunInput) (InvoiceRunResult, error) {
	defer heartbeat(ctx)()
	inv, err := a.Store.BuildDraft(ctx, in.CustomerID, in.PeriodStart, in.PeriodEnd)
	if err != nil {
		return InvoiceRunResult{}, activityError(fmt.Errorf("draft of %s for %s: %w", in.CustomerID, in.period(), err))
	}
	return invoiceResult(inv), nil
}

// FinalizeInvoice finalizes a draft after its review window.
func (a *InvoiceActivities) FinalizeInvoice(ctx context.Context, id string) (InvoiceRunResult, error) {
	inv, err := a.Store.FinalizeInvoice(ctx, id)
	if err != nil {
		return InvoiceRunResult{}, activityError(fmt.Errorf("finalize %s: %w", id, err))
	}
	return invoiceResult(inv), nil
}

func invoiceResult(inv billing.Invoice) InvoiceRunResult {
	return InvoiceRunResult{InvoiceID: inv.ID, Status: inv.Status, Number: inv.Number, Total: inv.Total.String(),
		Currency: string(inv.Currency)}
}

// heartbeat reports the activity alive every 10 seconds until the returned stop is called, so
// that a long store call (rating a large period is one transaction) is not mistaken for a dead
// worker, and a dead worker's activity is retried soon.
func heartbeat(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
