package api

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

// EventImporter stores a stream of events, one JSON object a line (bulk import for backfills).
type EventImporter interface {
	ImportEvents(ctx context.Context, r io.Reader, opt billing.ImportOptions) (billing.ImportResult, error)
}

// maxImportBody bounds one import request; larger backfills are split into several files, each
// idempotent.
const maxImportBody = 1 << 30

type importLineError struct {
	Line    int    `json:"line"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

type importResult struct {
	Lines     int               `json:"lines"`
	Accepted  int               `json:"accepted"`
	Duplicate int               `json:"duplicate"`
	Rejected  int               `json:"rejected"`
	Refused   bool              `json:"refused"`
	Errors    []importLineError `json:"errors"`
}

// postImport streams the body into the store — it is never held in memory whole — and answers
// once every line has been stored or rejected. ?all_or_nothing=true stores nothing if any line
// is rejected.
func (s *Server) postImport() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.Importer == nil {
			renderError(c, billing.Errorf(billing.ENOTFOUND, "bulk import is not enabled on this server"))
			return
		}
		switch mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt {
		case "application/x-ndjson", "application/jsonl", "application/json-lines":
		default:
			renderError(c, billing.Invalid("", "Content-Type must be application/x-ndjson: one event a line"))
			return
		}
		var opt billing.ImportOptions
		if v := c.Query("all_or_nothing"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				renderError(c, billing.Invalid("all_or_nothing", "must be true or false"))
				return
			}
			opt.AllOrNothing = b
		}
		// A gigabyte takes longer than the server's read timeout to arrive; the body limit and
		// the client's own timeout bound this request instead.
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Time{})
		res, err := s.cfg.Importer.ImportEvents(c.Request.Context(), c.Request.Body, opt)
		if err != nil {
			renderError(c, err)
			return
		}
		out := importResult{Lines: res.Lines, Accepted: res.Accepted, Duplicate: res.Duplicate, Rejected: res.Rejected,
			Refused: res.Refused, Errors: make([]importLineError, len(res.Errors))}
		for i, e := range res.Errors {
			out.Errors[i] = importLineError{Line: e.Line, ID: e.ID, Code: e.Err.Code, Field: e.Err.Field, Message: e.Err.Message}
		}
		s.metrics.events.WithLabelValues("import", billing.IngestAccepted).Add(float64(res.Accepted))
		s.metrics.events.WithLabelValues("import", billing.IngestDuplicate).Add(float64(res.Duplicate))
		s.metrics.events.WithLabelValues("import", billing.IngestRejected).Add(float64(res.Rejected))
		c.JSON(http.StatusOK, out)
	}
}
