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
	// BeginSimulation marks the simulation running and returns how many periods it rates.
	BeginSimulation(ctx context.Context, id string) (int, error)
	// SimulationTargets returns the page of periods after the cursor after (all the periods of
	// about limit/months customers), in an order that stays the same for the simulation's life.
	SimulationTargets(ctx context.Context, id, after string, limit int) (billing.SimulationPage, error)
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

// Defaults of SimulationInput's paging: a page is about 200 periods (its targets ride in the
// history as one activity result of some 30 KB), and a run rates about 1,000 periods — some 3,000
// activity events and the workflow tasks between them — before it continues as new, well inside
// Temporal's history limits (50,000 events, 50 MB) and its suggestion to continue (about 10,000).
const (
	DefaultSimulationPageSize      = 200
	DefaultSimulationPeriodsPerRun = 1000
	// simulationMaxHistory makes a run continue as new, whatever PeriodsPerRun says, when the server
	// does not suggest it first.
	simulationMaxHistory = 8000
)

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

// SimulationInput starts a run of SimulationWorkflow. A new simulation sets ID alone; After and
// Begun carry a simulation's place from one run to the next (continue-as-new).
type SimulationInput struct {
	ID string `json:"id"`
	// After is the cursor of the next page of periods: the last customer rated by earlier runs.
	After string `json:"after,omitempty"`
	// Begun says an earlier run marked the simulation running already.
	Begun bool `json:"begun,omitempty"`
	// PageSize and PeriodsPerRun override DefaultSimulationPageSize and
	// DefaultSimulationPeriodsPerRun (tests make them small).
	PageSize      int `json:"page_size,omitempty"`
	PeriodsPerRun int `json:"periods_per_run,omitempty"`
}

// SimulationWorkflow rates every period of a simulation (its workflow ID is the simulation's id):
// it pages through the periods, rating a few at a time, each activity storing its result and the
// progress, and records the simulation completed, or failed with the first error. A simulation of
// many customers × periods keeps each run's history bounded: after PeriodsPerRun periods (or when
// Temporal suggests it) the run continues as new from the next page, carrying nothing but the
// cursor — the results are in the database, not in the history.
func SimulationWorkflow(ctx workflow.Context, in SimulationInput) error {
	ctx = workflow.WithActivityOptions(ctx, simulationActivityOptions)
	var a *SimulationActivities
	pageSize, perRun := in.PageSize, in.PeriodsPerRun
	if pageSize <= 0 {
		pageSize = DefaultSimulationPageSize
	}
	if perRun <= 0 {
		perRun = DefaultSimulationPeriodsPerRun
	}
	finish := func(status billing.SimulationStatus, cause error) error {
		msg := ""
		if cause != nil {
			msg = cause.Error()
		}
		if err := workflow.ExecuteActivity(ctx, a.FinishSimulation, in.ID, status, msg).Get(ctx, nil); err != nil {
			return err
		}
		return cause
	}
	if !in.Begun {
		if err := workflow.ExecuteActivity(ctx, a.BeginSimulation, in.ID).Get(ctx, nil); err != nil {
			return finish(billing.SimulationFailed, err)
		}
	}
	rated := 0
	after := in.After
	for {
		var page billing.SimulationPage
		if err := workflow.ExecuteActivity(ctx, a.SimulationTargets, in.ID, after, pageSize).Get(ctx, &page); err != nil {
			return finish(billing.SimulationFailed, err)
		}
		if err := ratePeriods(ctx, a, in.ID, page.Targets); err != nil {
			return finish(billing.SimulationFailed, err)
		}
		rated += len(page.Targets)
		if page.Next == "" {
			return finish(billing.SimulationCompleted, nil)
		}
		after = page.Next
		info := workflow.GetInfo(ctx)
		if rated >= perRun || info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > simulationMaxHistory {
			return workflow.NewContinueAsNewError(ctx, SimulationWorkflowName, SimulationInput{ID: in.ID, After: after, Begun: true,
				PageSize: in.PageSize, PeriodsPerRun: in.PeriodsPerRun})
		}
	}
}

// ratePeriods rates targets, SimulationParallelism at a time, and returns the first error after
// the activities already started have ended (none is left running across continue-as-new).
func ratePeriods(ctx workflow.Context, a *SimulationActivities, id string, targets []billing.SimulationTarget) error {
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
	return first
}

// BeginSimulation marks the simulation running.
func (a *SimulationActivities) BeginSimulation(ctx context.Context, id string) error {
	_, err := a.Store.BeginSimulation(ctx, id)
	return activityError(err)
}

// SimulationTargets returns a page of the simulation's periods.
func (a *SimulationActivities) SimulationTargets(ctx context.Context, id, after string, limit int) (billing.SimulationPage, error) {
	p, err := a.Store.SimulationTargets(ctx, id, after, limit)
	return p, activityError(err)
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
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE}, SimulationWorkflowName, SimulationInput{ID: sim.ID})
	if err != nil {
		err = fmt.Errorf("start simulation %s: %w", sim.ID, err)
		if ferr := r.Store.FinishSimulation(ctx, sim.ID, billing.SimulationFailed, err.Error()); ferr != nil {
			return sim, fmt.Errorf("%w (and recording it failed: %v)", err, ferr)
		}
		return sim, err
	}
	return sim, nil
}
