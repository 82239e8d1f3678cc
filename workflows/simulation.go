package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// SimulationWorkflowName names the what-if workflow.
const SimulationWorkflowName = "SimulationWorkflow"

// SimulationStore is what the simulation workflow's activities need from the database.
type SimulationStore interface {
	CreateSimulation(ctx context.Context, req billing.SimulationRequest) (billing.Simulation, error)
	// SimulationTargets marks the simulation running and lists the periods it rates.
	SimulationTargets(ctx context.Context, id string) ([]billing.SimulationTarget, error)
	// SimulatePeriod rates one period both ways, read-only, and stores the comparison; it is
	// idempotent per simulation, customer and period.
	SimulatePeriod(ctx context.Context, id string, t billing.SimulationTarget) (billing.SimulationPeriodResult, error)
	FinishSimulation(ctx context.Context, id string, status billing.SimulationStatus, errMsg string) error
}

// SimulationActivities are the simulation workflow's activities; register one value with the worker.
type SimulationActivities struct {
	Store SimulationStore
}

// SimulationParallelism is how many periods a simulation rates at once: enough to finish a
// two-year, many-customer request in reasonable time without crowding out invoice runs.
const SimulationParallelism = 4

var simulationActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	HeartbeatTimeout:    time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: nonRetryable,
	},
}

// SimulationWorkflow rates every period of a simulation (its workflow ID is the simulation's id),
// a few at a time, each activity storing its result and the progress; it then records the
// simulation completed, or failed with the first error.
func SimulationWorkflow(ctx workflow.Context, id string) error {
	ctx = workflow.WithActivityOptions(ctx, simulationActivityOptions)
	var a *SimulationActivities
	finish := func(status billing.SimulationStatus, cause error) error {
		msg := ""
		if cause != nil {
			msg = cause.Error()
		}
		if err := workflow.ExecuteActivity(ctx, a.FinishSimulation, id, status, msg).Get(ctx, nil); err != nil {
			return err
		}
		return cause
	}
	var targets []billing.SimulationTarget
	if err := workflow.ExecuteActivity(ctx, a.SimulationTargets, id).Get(ctx, &targets); err != nil {
		return finish(billing.SimulationFailed, err)
	}
	var first error
	pending := []workflow.Future{}
	wait := func() {
		if err := pending[0].Get(ctx, nil); err != nil && first == nil {
			first = err
		}
		pending = pending[1:]
	}
	for _, t := range targets {
		if first != nil {
			break
		}
		if len(pending) == SimulationParallelism {
			wait()
		}
		pending = append(pending, workflow.ExecuteActivity(ctx, a.SimulatePeriod, id, t))
	}
	for len(pending) > 0 {
		wait()
	}
	if first != nil {
		return finish(billing.SimulationFailed, first)
	}
	return finish(billing.SimulationCompleted, nil)
}

// SimulationTargets lists the simulation's periods.
func (a *SimulationActivities) SimulationTargets(ctx context.Context, id string) ([]billing.SimulationTarget, error) {
	t, err := a.Store.SimulationTargets(ctx, id)
	return t, activityError(err)
}

// SimulatePeriod rates and stores one period; the result stays in the database, not in the history.
func (a *SimulationActivities) SimulatePeriod(ctx context.Context, id string, t billing.SimulationTarget) error {
	defer heartbeat(ctx)()
	_, err := a.Store.SimulatePeriod(ctx, id, t)
	return activityError(err)
}

// FinishSimulation records how the simulation ended.
func (a *SimulationActivities) FinishSimulation(ctx context.Context, id string, status billing.SimulationStatus, errMsg string) error {
	return activityError(a.Store.FinishSimulation(ctx, id, status, errMsg))
}

// RegisterSimulations registers the simulation workflow and its activities on r.
func RegisterSimulations(r Registry, acts *SimulationActivities) {
	r.RegisterWorkflowWithOptions(SimulationWorkflow, workflow.RegisterOptions{Name: SimulationWorkflowName})
	r.RegisterActivity(acts)
}

// SimulationRunner validates and stores a simulation, then starts its workflow
// (POST /v1/simulations). Every request, however small, goes through the workflow: one path.
type SimulationRunner struct {
	Client    client.Client
	Store     SimulationStore
	TaskQueue string // default TaskQueue
}

// StartSimulation stores the request and starts its workflow; a request that is not valid
// stores and starts nothing.
func (r *SimulationRunner) StartSimulation(ctx context.Context, req billing.SimulationRequest) (billing.Simulation, error) {
	sim, err := r.Store.CreateSimulation(ctx, req)
	if err != nil {
		return sim, err
	}
	queue := r.TaskQueue
	if queue == "" {
		queue = TaskQueue
	}
	_, err = r.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: sim.ID, TaskQueue: queue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE}, SimulationWorkflowName, sim.ID)
	if err != nil {
		err = fmt.Errorf("start simulation %s: %w", sim.ID, err)
		if ferr := r.Store.FinishSimulation(ctx, sim.ID, billing.SimulationFailed, err.Error()); ferr != nil {
			return sim, fmt.Errorf("%w (and recording it failed: %v)", err, ferr)
		}
		return sim, err
	}
	return sim, nil
}
