package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// simStore is an in-memory SimulationStore: the real one is tested on PostgreSQL.
type simStore struct {
	mu        sync.Mutex
	targets   []billing.SimulationTarget // by customer, each customer's periods together
	done      map[string]int             // customer/period → times rated
	calls     int
	begun     int
	finished  int
	pages     int
	status    billing.SimulationStatus
	errMsg    string
	failOn    string // a customer whose periods fail with failErr
	failErr   error
	transient int // SimulatePeriod calls that fail with a retryable error first
}

func (s *simStore) CreateSimulation(context.Context, billing.SimulationRequest) (billing.Simulation, error) {
	return billing.Simulation{}, errors.New("not used")
}

func (s *simStore) BeginSimulation(_ context.Context, id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = billing.SimulationRunning
	s.begun++
	return len(s.targets), nil
}

// SimulationTargets pages as the store does: whole customers after the cursor, about limit
// periods' worth and at least one customer's.
func (s *simStore) SimulationTargets(_ context.Context, id, after string, limit int) (billing.SimulationPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages++
	var customers []string
	for _, t := range s.targets {
		if t.CustomerID > after && !slices.Contains(customers, t.CustomerID) {
			customers = append(customers, t.CustomerID)
		}
	}
	n := 1
	if len(customers) > 0 {
		perCustomer := 0
		for _, t := range s.targets {
			if t.CustomerID == customers[0] {
				perCustomer++
			}
		}
		n = max(1, limit/perCustomer)
	}
	page := billing.SimulationPage{Targets: []billing.SimulationTarget{}}
	if len(customers) > n {
		customers = customers[:n]
		page.Next = customers[n-1]
	} else if len(customers) == n {
		page.Next = customers[n-1] // the next page comes back empty, as the store's does
	}
	for _, t := range s.targets {
		if slices.Contains(customers, t.CustomerID) {
			page.Targets = append(page.Targets, t)
		}
	}
	return page, nil
}

func (s *simStore) SimulatePeriod(_ context.Context, id string, t billing.SimulationTarget) (billing.SimulationPeriodResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.transient > 0 {
		s.transient--
		return billing.SimulationPeriodResult{}, errors.New("connection reset")
	}
	if t.CustomerID == s.failOn {
		return billing.SimulationPeriodResult{}, s.failErr
	}
	s.done[t.CustomerID+t.Period.Start.Format(time.DateOnly)]++
	return billing.SimulationPeriodResult{CustomerID: t.CustomerID}, nil
}

func (s *simStore) FinishSimulation(_ context.Context, id string, status billing.SimulationStatus, errMsg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.errMsg = status, errMsg
	s.finished++
	return nil
}

func simTargets(customers ...string) []billing.SimulationTarget {
	var out []billing.SimulationTarget
	for _, c := range customers {
		for m := range 6 {
			start := time.Date(2026, time.Month(1+m), 1, 0, 0, 0, 0, time.UTC)
			out = append(out, billing.SimulationTarget{CustomerID: c, Period: billing.Period{Start: start, End: start.AddDate(0, 1, 0)}})
		}
	}
	return out
}

// runSimulation runs the workflow as Temporal would: each continue-as-new starts the next run
// with the input it carries, on the workflow clock where the last run stopped. It returns the
// number of runs and the last one's error.
func runSimulation(t *testing.T, store *simStore, in SimulationInput) (runs int, err error) {
	t.Helper()
	start := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for run := 1; ; run++ {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetStartTime(start)
		RegisterSimulations(env, &SimulationActivities{Store: store})
		env.ExecuteWorkflow(SimulationWorkflowName, in)
		if !env.IsWorkflowCompleted() {
			t.Fatal("workflow did not complete")
		}
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			return run, err
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
			t.Fatal(err)
		}
		if run > 100 {
			t.Fatal("more than 100 runs")
		}
		start = env.Now()
	}
}

func TestSimulationWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		store    *simStore
		wantErr  bool
		status   billing.SimulationStatus
		rated    int
		maxCalls int
	}{
		{name: "rates every period once", store: &simStore{targets: simTargets("acme", "globex")},
			status: billing.SimulationCompleted, rated: 12, maxCalls: 12},
		{name: "retries a lost connection", store: &simStore{targets: simTargets("acme"), transient: 2},
			status: billing.SimulationCompleted, rated: 6, maxCalls: 8},
		{name: "no periods", store: &simStore{}, status: billing.SimulationCompleted},
		{name: "a business error fails it without retrying", wantErr: true, status: billing.SimulationFailed,
			store: &simStore{targets: simTargets("acme", "globex"), failOn: "acme", failErr: billing.Invalid("", "bad plan")}, maxCalls: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.store.done = map[string]int{}
			_, err := runSimulation(t, tc.store, SimulationInput{ID: "sim_1"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.store.status != tc.status {
				t.Errorf("status %s, want %s (%s)", tc.store.status, tc.status, tc.store.errMsg)
			}
			if tc.wantErr && tc.store.errMsg == "" {
				t.Error("the failure was not recorded")
			}
			if !tc.wantErr && len(tc.store.done) != tc.rated {
				t.Errorf("%d periods rated, want %d", len(tc.store.done), tc.rated)
			}
			for k, n := range tc.store.done {
				if n != 1 {
					t.Errorf("%s rated %d times", k, n)
				}
			}
			if tc.store.calls > tc.maxCalls {
				t.Errorf("%d calls, want at most %d", tc.store.calls, tc.maxCalls)
			}
		})
	}
}

// A simulation of many customers × periods continues as new every few pages, so that no run's
// history grows with the size of the simulation, and still rates every period exactly once,
// begins and finishes once, and ends completed. The threshold is made small to force it.
func TestSimulationContinuesAsNew(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		customers               int
		pageSize, periodsPerRun int
		minRuns                 int
	}{
		// 40 customers × 6 periods; a page is 2 customers (12 periods), a run ends after 24.
		{name: "small threshold", customers: 40, pageSize: 12, periodsPerRun: 24, minRuns: 10},
		// A page smaller than one customer's periods still takes one whole customer.
		{name: "page below a customer", customers: 7, pageSize: 1, periodsPerRun: 6, minRuns: 7},
		// A threshold no run reaches: one run, as before.
		{name: "one run", customers: 5, pageSize: 12, periodsPerRun: 1000, minRuns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var customers []string
			for i := range tc.customers {
				customers = append(customers, fmt.Sprintf("c%03d", i))
			}
			store := &simStore{targets: simTargets(customers...), done: map[string]int{}}
			runs, err := runSimulation(t, store, SimulationInput{ID: "sim_big", PageSize: tc.pageSize, PeriodsPerRun: tc.periodsPerRun})
			if err != nil {
				t.Fatal(err)
			}
			if runs < tc.minRuns {
				t.Errorf("%d runs, want at least %d", runs, tc.minRuns)
			}
			if tc.minRuns == 1 && runs != 1 {
				t.Errorf("%d runs, want 1", runs)
			}
			if len(store.done) != len(store.targets) {
				t.Errorf("%d periods rated, want %d", len(store.done), len(store.targets))
			}
			for k, n := range store.done {
				if n != 1 {
					t.Errorf("%s rated %d times", k, n)
				}
			}
			if store.status != billing.SimulationCompleted || store.begun != 1 || store.finished != 1 {
				t.Errorf("status %s, begun %d times, finished %d times", store.status, store.begun, store.finished)
			}
		})
	}
}
