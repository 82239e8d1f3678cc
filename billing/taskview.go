package billing

import (
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"
)

// TaskView is what GET /v1/tasks/{task_id} shows: the task's state as its workflow last wrote it,
// every event it received, and what it cost, model by model.
type TaskView struct {
	TaskID     string
	CustomerID string
	// State is nil until the task's workflow has written it for the first time.
	State     *TaskState
	Status    TaskStatus
	Events    []StoredEvent
	Cost      []ModelCost
	TotalCost decimal.Decimal // USD, full precision: token and other cost, billable or not
	// Unpriced counts usage events of models with no price covering their time yet.
	Unpriced int
}

// StoredEvent is an event as the vendor sent it, with what the store added.
type StoredEvent struct {
	ID         string
	Type       EventType
	OccurredAt time.Time
	ReceivedAt time.Time
	Body       json.RawMessage
	CostUSD    *decimal.Decimal // usage events only; nil while unpriced
}

// ModelCost is one model's share of a task's cost; Model is "" for non-token cost.
type ModelCost struct {
	Model        string
	InputTokens  int64
	OutputTokens int64
	CostUSD      decimal.Decimal
	Unpriced     int
}
