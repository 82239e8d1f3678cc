package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

// MaxBatch is the most events one request may carry (DESIGN.md §8).
const MaxBatch = 1000

type eventBatch struct {
	Events []json.RawMessage `json:"events"`
}

type eventResult struct {
	ID     string     `json:"id"`
	Status string     `json:"status"`
	Error  *errorBody `json:"error,omitempty"`
}

// postEvents validates each event on its own — a bad one is rejected with its code and field
// while the others go through — and stores the valid ones in one transaction before answering.
func (s *Server) postEvents() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in eventBatch
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		if len(in.Events) == 0 || len(in.Events) > MaxBatch {
			renderError(c, billing.Invalid("events", "must hold 1 to %d events", MaxBatch))
			return
		}
		now := time.Now()
		results := make([]eventResult, len(in.Events))
		var valid []billing.IncomingEvent
		var at []int
		for i, raw := range in.Events {
			e, err := billing.DecodeEvent(raw, now)
			if err != nil {
				results[i] = eventResult{ID: peekID(raw), Status: billing.IngestRejected,
					Error: &errorBody{Code: billing.ErrorCode(err), Message: billing.ErrorMessage(err), Field: billing.ErrorField(err)}}
				continue
			}
			valid = append(valid, billing.IncomingEvent{Event: e, Body: raw})
			at = append(at, i)
		}
		if len(valid) > 0 {
			stored, err := s.cfg.Events.IngestEvents(c.Request.Context(), valid)
			if err != nil {
				renderError(c, err)
				return
			}
			for k, r := range stored {
				res := eventResult{ID: r.ID, Status: r.Status}
				if r.Err != nil {
					res.Error = &errorBody{Code: r.Err.Code, Message: r.Err.Message, Field: r.Err.Field}
				}
				results[at[k]] = res
			}
		}
		for _, r := range results {
			s.metrics.events.WithLabelValues("api", r.Status).Inc()
		}
		c.JSON(http.StatusOK, gin.H{"results": results})
	}
}

// peekID finds the id of an event that failed validation, so its result can still name it.
func peekID(raw json.RawMessage) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	id, _ := v.ID.(string)
	if !billing.ValidID(id) {
		return ""
	}
	return id
}
