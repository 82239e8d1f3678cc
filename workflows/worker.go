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

// Register registers the workflows and the activities of acts on r.
func Register(r Registry, acts *Activities) {
	r.RegisterWorkflowWithOptions(TaskWorkflow, workflow.RegisterOptions{Name: TaskWorkflowName})
	r.RegisterActivity(acts)
}

// NewWorker returns a worker on TaskQueue with everything registered; the caller starts it
// (Run or Start) and runs the Relay next to it.
func NewWorker(c client.Client, store TaskStore, opts worker.Options) worker.Worker {
	w := worker.New(c, TaskQueue, opts)
	Register(w, &Activities{Store: store})
	return w
}
