package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/outcomebill/outcomebill/billing"
)

// simStore is an in-memory SimulationStore: the real one is tested on PostgreSQL.
type simStore struct {
	mu        sync.Mutex
	targets   []billing.SimulationTarget
	done      map[string]int // customer/period → times rated
	calls     int
	status    billing.SimulationStatus
	errMsg    string
	failOn    string // a customer whose periods fail with failErr
	failErr   error
	transient int // SimulatePeriod calls that fail with a retryable error first
}

func (s *simStore) CreateSimulation(context.Context, billing.SimulationRequest) (billing.Simulation, error) {
	return billing.Simulation{}, errors.New("not used")
}

func (s *simStore) SimulationTargets(_ context.Context, id string) ([]billing.SimulationTarget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = billing.SimulationRunning
	return s.targets, nil
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

func runSimulation(t *testing.T, store *simStore) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	RegisterSimulations(env, &SimulationActivities{Store: store})
	env.ExecuteWorkflow(SimulationWorkflowName, "sim_1")
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	return env.GetWorkflowError()
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
			err := runSimulation(t, tc.store)
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
