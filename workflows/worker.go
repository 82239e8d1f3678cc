package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TaskQueue is the one task queue of outcomebill's workflows and activities.
const TaskQueue = "outcomebill"

// Registry is what both a worker.Worker and the test environment can register on.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivity(a any)
}

// Register registers the task workflow and the activities of acts on r.
func Register(r Registry, acts *Activities) {
	r.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: TaskWorkflowName})
	r.RegisterActivity(acts)
}

// RegisterInvoices registers the invoice workflows and their activities on r.
func RegisterInvoices(r Registry, acts *InvoiceActivities) {
	r.RegisterWorkflowWithOptions(InvoiceRunWorkflow, workflow.RegisterOptions{Name: InvoiceRunWorkflowName})
	r.RegisterWorkflowWithOptions(PeriodCloseWorkflow, workflow.RegisterOptions{Name: PeriodCloseWorkflowName})
	r.RegisterActivity(acts)
}

// Store is everything the worker's activities need.
type Store interface {
	TaskStore
	InvoiceStore
	WebhookStore
}

// WorkerConfig holds the worker's settings beyond its store.
type WorkerConfig struct {
	// WebhookAllowPrivate lets webhook deliveries connect to loopback and private addresses
	// (OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE); off, such connections are refused.
	WebhookAllowPrivate bool
}

// NewWorker returns a worker on queue (TaskQueue when empty) with every workflow and activity
// registered; the caller starts it and runs the Relay and the Scheduler next to it.
func NewWorker(c client.Client, queue string, store Store, opts worker.Options) worker.Worker {
	return NewWorkerWithConfig(c, queue, store, opts, WorkerConfig{})
}

// NewWorkerWithConfig is NewWorker with settings.
func NewWorkerWithConfig(c client.Client, queue string, store Store, opts worker.Options, cfg WorkerConfig) worker.Worker {
	if queue == "" {
		queue = TaskQueue
	}
	w := worker.New(c, queue, opts)
	Register(w, &Activities{Store: store})
	RegisterInvoices(w, &InvoiceActivities{Store: store})
	RegisterWebhooks(w, &WebhookActivities{Store: store, AllowPrivate: cfg.WebhookAllowPrivate})
	// Simulations need more of the store; test stores without it run every other workflow.
	if ss, ok := store.(SimulationStore); ok {
		RegisterSimulations(w, &SimulationActivities{Store: ss})
	}
	return w
}
