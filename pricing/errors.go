package pricing

import (
	"errors"
	"fmt"
)

// FieldError is a problem with one field of a plan or of the usage handed to the rater. Field is
// the JSON path of the offending field ("prices[2].tiers[1].up_to") so that billing can turn it
// into an invalid error the API reports with the field named.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNoExchangeRate is returned when a cost_plus charge must convert USD cost into a plan
// currency other than USD and no rate was given. DESIGN.md §1: a missing rate is an error the
// invoice run reports, never a silent 1:1.
var ErrNoExchangeRate = errors.New("no exchange rate from USD")
