package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

type taskEventJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	CostUSD    *string         `json:"cost_usd,omitempty"`
	Event      json.RawMessage `json:"event"`
}

type modelCostJSON struct {
	Model        string `json:"model"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostUSD      string `json:"cost_usd"`
	Unpriced     int    `json:"unpriced_events"`
}

type taskJSON struct {
	TaskID      string          `json:"task_id"`
	CustomerID  string          `json:"customer_id"`
	Status      string          `json:"status"`
	OutcomeType string          `json:"outcome_type,omitempty"`
	Priority    string          `json:"priority,omitempty"`
	Outcome     string          `json:"outcome,omitempty"`
	Quality     *string         `json:"quality,omitempty"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	OutcomeAt   *time.Time      `json:"outcome_at,omitempty"`
	BillableAt  *time.Time      `json:"billable_at,omitempty"`
	StatusAt    *time.Time      `json:"status_at,omitempty"`
	Disputed    bool            `json:"disputed"`
	Reason      string          `json:"dispute_reason,omitempty"`
	Cancelled   bool            `json:"cancelled"`
	CostUSD     string          `json:"cost_usd"`
	Unpriced    int             `json:"unpriced_events"`
	CostByModel []modelCostJSON `json:"cost_by_model"`
	Events      []taskEventJSON `json:"events"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// renderTask shows cost at full precision: it is cost of goods, not an amount anyone is invoiced,
// and DESIGN.md §4 keeps it unrounded.
func renderTask(v billing.TaskView) taskJSON {
	out := taskJSON{TaskID: v.TaskID, CustomerID: v.CustomerID, Status: string(v.Status), CostUSD: v.TotalCost.String(),
		Unpriced: v.Unpriced, CostByModel: []modelCostJSON{}, Events: []taskEventJSON{}}
	if s := v.State; s != nil {
		out.OutcomeType, out.Priority, out.Outcome = s.OutcomeType, s.Priority, string(s.Outcome)
		if s.Quality != nil {
			q := s.Quality.String()
			out.Quality = &q
		}
		out.StartedAt, out.OutcomeAt, out.BillableAt, out.StatusAt = timePtr(s.StartedAt), timePtr(s.OutcomeAt), timePtr(s.BillableAt), timePtr(s.StatusAt)
		out.Disputed, out.Reason, out.Cancelled = s.Disputed, s.DisputeReason, s.Cancelled
	}
	for _, m := range v.Cost {
		name := m.Model
		if name == "" {
			name = "other"
		}
		out.CostByModel = append(out.CostByModel, modelCostJSON{Model: name, InputTokens: m.InputTokens, OutputTokens: m.OutputTokens,
			CostUSD: m.CostUSD.String(), Unpriced: m.Unpriced})
	}
	for _, e := range v.Events {
		te := taskEventJSON{ID: e.ID, Type: string(e.Type), OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt, Event: e.Body}
		if e.CostUSD != nil {
			c := e.CostUSD.String()
			te.CostUSD = &c
		}
		out.Events = append(out.Events, te)
	}
	return out
}

func (s *Server) getTask() gin.HandlerFunc {
	return func(c *gin.Context) {
		v, err := s.cfg.Tasks.TaskView(c.Request.Context(), c.Param("task_id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderTask(v))
	}
}
