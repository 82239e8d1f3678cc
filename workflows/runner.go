package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/outcomebill/outcomebill/billing"
)

// RunQueue records invoice runs asked for through the API.
type RunQueue interface {
	QueueInvoiceRun(ctx context.Context, customerID string, p billing.Period) (billing.InvoiceRun, error)
}

// InvoiceRunner starts invoice runs on demand (POST /v1/invoice-runs). A run for a customer and
// period that is already under way is the same run: it is told to rebuild its draft instead.
type InvoiceRunner struct {
	Client            client.Client
	Store             RunQueue
	TaskQueue         string        // default TaskQueue
	AutoFinalizeAfter time.Duration // the review window of runs started here; 0: manual
}

// StartInvoiceRun records the run and starts (or nudges) its workflow. The record is written
// first, so the API can show the run even while Temporal is slow to answer.
func (r *InvoiceRunner) StartInvoiceRun(ctx context.Context, customerID string, p billing.Period) (billing.InvoiceRun, error) {
	run, err := r.Store.QueueInvoiceRun(ctx, customerID, p)
	if err != nil {
		return run, err
	}
	queue := r.TaskQueue
	if queue == "" {
		queue = TaskQueue
	}
	_, err = r.Client.SignalWithStartWorkflow(ctx, run.ID, RerunSignal, nil, client.StartWorkflowOptions{
		ID:                    run.ID,
		TaskQueue:             queue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, InvoiceRunWorkflowName, InvoiceRunInput{CustomerID: customerID, PeriodStart: p.Start, PeriodEnd: p.End,
		AutoFinalizeAfter: r.AutoFinalizeAfter})
	if err != nil {
		return run, fmt.Errorf("start invoice run %s: %w", run.ID, err)
	}
	return run, nil
}
