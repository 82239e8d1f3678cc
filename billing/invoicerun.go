package billing

import "time"

// InvoiceRunStatus is where an invoice run stands.
type InvoiceRunStatus string

const (
	RunQueued    InvoiceRunStatus = "queued"    // asked for; its workflow has not started work yet
	RunRunning   InvoiceRunStatus = "running"   // rating the period
	RunDrafted   InvoiceRunStatus = "drafted"   // the draft is written (or the period was already finalized)
	RunFinalized InvoiceRunStatus = "finalized" // finalized automatically after the review window
	RunFailed    InvoiceRunStatus = "failed"    // stopped on an error a retry will not fix
)

// InvoiceRun is one customer's invoice run for one period. Running it again for the same
// customer and period is the same run: it rebuilds the draft, never makes a second invoice.
type InvoiceRun struct {
	ID          string // the run's workflow ID
	CustomerID  string
	Period      Period
	Status      InvoiceRunStatus
	TasksTotal  int64 // billable tasks in the period
	TasksRated  int64
	InvoiceID   string
	CreditNotes []string // credit notes issued by the run for disputes after finalization
	Error       string
	Runs        int // how many times it was started
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// InvoiceRunID is the business key of a run, used as its workflow ID.
func InvoiceRunID(customerID string, p Period) string {
	return "invoice-run:" + customerID + ":" + p.Start.UTC().Format("20060102T150405Z") + ":" + p.End.UTC().Format("20060102T150405Z")
}
