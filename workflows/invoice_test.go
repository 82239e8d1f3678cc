package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/outcomebill/outcomebill/billing"
)

// invoiceEnv is a test environment with the invoice workflows registered. Their activities are
// stubbed here: the store behind them is tested on PostgreSQL, and end to end in e2e.
func invoiceEnv(t *testing.T, start time.Time) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	RegisterInvoices(env, &InvoiceActivities{})
	return env
}

var march = billing.Period{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}

func runInput(review time.Duration) InvoiceRunInput {
	return InvoiceRunInput{CustomerID: "acme", PeriodStart: march.Start, PeriodEnd: march.End, AutoFinalizeAfter: review}
}

func TestInvoiceRunWithoutReviewWindowStopsAtTheDraft(t *testing.T) {
	env := invoiceEnv(t, march.End.Add(25*time.Hour))
	var a *InvoiceActivities
	var statuses []billing.InvoiceRunStatus
	env.OnActivity(a.CountBillable, mock.Anything, "acme", march).Return(int64(42), nil)
	env.OnActivity(a.UpdateInvoiceRun, mock.Anything, mock.Anything).Return(func(_ context.Context, r billing.InvoiceRun) error {
		statuses = append(statuses, r.Status)
		return nil
	})
	env.OnActivity(a.CreateCreditNotes, mock.Anything, "acme").Return([]string{"CN-2026-000001"}, nil)
	env.OnActivity(a.BuildDraft, mock.Anything, runInput(0)).Return(InvoiceRunResult{InvoiceID: "inv_1", Status: billing.InvoiceDraft, Total: "12.30"}, nil).Once()
	env.ExecuteWorkflow(InvoiceRunWorkflowName, runInput(0))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res InvoiceRunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.InvoiceID != "inv_1" || res.Status != billing.InvoiceDraft || len(res.CreditNotes) != 1 {
		t.Errorf("result = %+v", res)
	}
	if got := statuses; len(got) != 2 || got[0] != billing.RunRunning || got[1] != billing.RunDrafted {
		t.Errorf("run recorded as %v, want running then drafted", got)
	}
	env.AssertExpectations(t)
}

func TestInvoiceRunFinalizesAfterTheReviewWindowAndRebuildsOnRerun(t *testing.T) {
	start := march.End.Add(25 * time.Hour)
	env := invoiceEnv(t, start)
	var a *InvoiceActivities
	env.OnActivity(a.CountBillable, mock.Anything, mock.Anything, mock.Anything).Return(int64(3), nil)
	env.OnActivity(a.UpdateInvoiceRun, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.CreateCreditNotes, mock.Anything, mock.Anything).Return([]string(nil), nil)
	builds := 0
	env.OnActivity(a.BuildDraft, mock.Anything, mock.Anything).Return(func(_ context.Context, _ InvoiceRunInput) (InvoiceRunResult, error) {
		builds++
		return InvoiceRunResult{InvoiceID: "inv_1", Status: billing.InvoiceDraft}, nil
	})
	var finalizedAt time.Time
	env.OnActivity(a.FinalizeInvoice, mock.Anything, "inv_1").Return(func(_ context.Context, _ string) (InvoiceRunResult, error) {
		finalizedAt = env.Now()
		return InvoiceRunResult{InvoiceID: "inv_1", Status: billing.InvoiceFinalized, Number: "2026-000001"}, nil
	})
	// Late events 10 hours into a 48-hour review: the draft is rebuilt and reviewed afresh.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(RerunSignal, nil) }, 10*time.Hour)
	env.ExecuteWorkflow(InvoiceRunWorkflowName, runInput(48*time.Hour))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res InvoiceRunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != billing.InvoiceFinalized || res.Number != "2026-000001" {
		t.Errorf("result = %+v, want finalized", res)
	}
	if builds != 2 {
		t.Errorf("%d drafts built, want 2 (the first, and the rebuild on rerun)", builds)
	}
	if want := start.Add(58 * time.Hour); !finalizedAt.Equal(want) {
		t.Errorf("finalized at %s, want %s (48 h after the rebuild)", finalizedAt, want)
	}
}

func TestPeriodCloseWaitsForTheGraceThenRunsThePeriod(t *testing.T) {
	// The schedule fires at the start of April in Berlin: March (Berlin) closed.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fire := time.Date(2026, 4, 1, 0, 0, 0, 0, berlin)
	env := invoiceEnv(t, fire)
	var a *InvoiceActivities
	env.OnActivity(a.Customer, mock.Anything, "acme").Return(billing.Customer{ID: "acme", Timezone: "Europe/Berlin", AnchorDay: 1}, nil)
	wantPeriod := billing.Period{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, berlin).UTC(), End: fire.UTC()}
	var ranAt time.Time
	var ranWith InvoiceRunInput
	env.OnWorkflow(InvoiceRunWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in InvoiceRunInput) (InvoiceRunResult, error) {
		ranAt, ranWith = env.Now(), in
		return InvoiceRunResult{InvoiceID: "inv_9", Status: billing.InvoiceDraft}, nil
	})
	env.ExecuteWorkflow(PeriodCloseWorkflowName, PeriodCloseInput{CustomerID: "acme", Grace: 24 * time.Hour})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := env.GetWorkflowResult(&id); err != nil {
		t.Fatal(err)
	}
	if id != billing.InvoiceRunID("acme", wantPeriod) {
		t.Errorf("child id %q, want the run's business key %q", id, billing.InvoiceRunID("acme", wantPeriod))
	}
	if !ranWith.PeriodStart.Equal(wantPeriod.Start) || !ranWith.PeriodEnd.Equal(wantPeriod.End) {
		t.Errorf("ran %s – %s, want March in Berlin %s", ranWith.PeriodStart, ranWith.PeriodEnd, wantPeriod)
	}
	if want := fire.Add(24 * time.Hour); !ranAt.Equal(want) {
		t.Errorf("ran at %s, want after the grace, %s", ranAt, want)
	}
}
