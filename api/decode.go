package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// decodeJSON reads exactly one JSON object into dst, refusing another content type, unknown
// fields, wrong types and trailing data, each as an invalid error naming what is wrong.
func decodeJSON(c *gin.Context, dst any) error {
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/json" {
		return billing.Invalid("", "Content-Type must be application/json")
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return billing.Invalid("", "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var be *billing.Error
	switch {
	case errors.As(err, &be): // from a type's own UnmarshalJSON
		return be
	case errors.As(err, &te):
		return billing.Invalid(te.Field, "has the wrong type: want %s", te.Type.String())
	case errors.As(err, &se):
		return billing.Invalid("", "invalid JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return billing.Invalid("", "the body is empty or cut short; want a JSON object")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return billing.Invalid(strings.Trim(f, `"`), "is not a known field")
	}
	return billing.Invalid("", "invalid JSON: %s", err.Error())
}

// decimalField parses a decimal string field, or returns an invalid error naming it.
func decimalField(field, s string) (decimal.Decimal, error) {
	d, err := money.ParseDecimal(s)
	if err != nil {
		return decimal.Decimal{}, billing.Invalid(field, "must be a decimal string such as \"12.50\"")
	}
	return d, nil
}

// page reads ?cursor= and ?limit= of a list request.
func page(c *gin.Context) (billing.Page, error) {
	p := billing.Page{Cursor: c.Query("cursor")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > billing.MaxPageLimit {
			return p, billing.Invalid("limit", "must be a whole number from 1 to %d", billing.MaxPageLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// list is the shape of every paginated response.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func newList[T, S any](items []S, next string, render func(S) T) list[T] {
	out := list[T]{Data: make([]T, 0, len(items)), NextCursor: next}
	for _, it := range items {
		out.Data = append(out.Data, render(it))
	}
	return out
}

// createdStatus is 201 for a new resource and 200 when an idempotent retry found it already there.
func createdStatus(created bool) int {
	if created {
		return 201
	}
	return 200
}
