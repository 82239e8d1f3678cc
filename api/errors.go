package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

// statusCode is the one place error codes become HTTP statuses.
func statusCode(code string) int {
	switch code {
	case billing.EINVALID:
		return http.StatusBadRequest
	case billing.ENOTFOUND:
		return http.StatusNotFound
	case billing.ECONFLICT:
		return http.StatusConflict
	case billing.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case billing.EFORBIDDEN:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// renderError writes err as {"error": {...}} with its status. Internal errors are logged here —
// once — with the request id, and the client gets a generic message.
func renderError(c *gin.Context, err error) {
	status := 0
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		status = http.StatusRequestEntityTooLarge
		err = billing.Invalid("", "request body is larger than %d bytes", maxErr.Limit)
	}
	code := billing.ErrorCode(err)
	if code == billing.EINTERNAL {
		slog.ErrorContext(c.Request.Context(), "request failed", "request_id", c.GetString(requestIDKey), "error", err)
	}
	if status == 0 {
		status = statusCode(code)
	}
	c.AbortWithStatusJSON(status, gin.H{"error": errorBody{Code: code, Message: billing.ErrorMessage(err), Field: billing.ErrorField(err)}})
}
