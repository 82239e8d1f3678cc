package billing

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// EventType names what an event says about a task (DESIGN.md §2).
type EventType string

const (
	EventStarted   EventType = "task.started"
	EventUsage     EventType = "task.usage"
	EventOutcome   EventType = "task.outcome"
	EventDisputed  EventType = "task.disputed"
	EventCancelled EventType = "task.cancelled"
)

// OutcomeStatus is what the agent achieved.
type OutcomeStatus string

const (
	OutcomeSucceeded OutcomeStatus = "succeeded"
	OutcomePartial   OutcomeStatus = "partial"
	OutcomeFailed    OutcomeStatus = "failed"
	OutcomeEscalated OutcomeStatus = "escalated"
)

// Priority of a task; urgent outcomes may carry a surcharge.
const (
	PriorityNormal = "normal"
	PriorityUrgent = "urgent"
)

// Event is one validated fact about a task. Which fields are set depends on Type.
type Event struct {
	ID         string
	Type       EventType
	CustomerID string
	TaskID     string
	OccurredAt time.Time

	// task.started
	OutcomeType string
	Priority    string
	Metadata    json.RawMessage

	// task.usage: either tokens of a model, or a non-token cost in USD with a description.
	Model       string
	Tokens      TokenUsage
	Cost        *decimal.Decimal
	Description string

	// task.outcome
	Status   OutcomeStatus
	Quality  *decimal.Decimal
	Evidence string

	// task.disputed
	Reason string

	// Fingerprint identifies the event's body: equal fingerprints mean the same event was sent
	// again, different ones under the same id are a conflict.
	Fingerprint [32]byte
}

// wireEvent is the JSON form of an event. Numbers that are money come as strings; token counts
// come as JSON integers.
type wireEvent struct {
	ID                string          `json:"id"`
	Type              string          `json:"type"`
	CustomerID        string          `json:"customer_id"`
	TaskID            string          `json:"task_id"`
	OccurredAt        string          `json:"occurred_at"`
	OutcomeType       string          `json:"outcome_type,omitempty"`
	Priority          string          `json:"priority,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
	Model             string          `json:"model,omitempty"`
	InputTokens       *int64          `json:"input_tokens,omitempty"`
	OutputTokens      *int64          `json:"output_tokens,omitempty"`
	CachedInputTokens *int64          `json:"cached_input_tokens,omitempty"`
	CacheWriteTokens  *int64          `json:"cache_write_tokens,omitempty"`
	ReasoningTokens   *int64          `json:"reasoning_tokens,omitempty"`
	Cost              *string         `json:"cost,omitempty"`
	Description       string          `json:"description,omitempty"`
	Status            string          `json:"status,omitempty"`
	Quality           json.RawMessage `json:"quality,omitempty"`
	Evidence          string          `json:"evidence,omitempty"`
	Reason            string          `json:"reason,omitempty"`
}

// Limits on what one event may carry. They keep one request from storing megabytes of free text
// and keep absurd token counts (a client bug, or an attack on the cost figures) out.
const (
	MaxTokensPerEvent = 100_000_000
	maxFreeText       = 2000
	maxMetadataBytes  = 8 << 10
	// How far ahead of the server's clock occurred_at may be: clocks drift, but an event from next
	// week is a client bug that would otherwise land in a future billing period.
	MaxClockSkew = 15 * time.Minute
)

// Earliest occurred_at accepted: nothing before it can be billed by a product that started then.
var earliestEvent = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// DecodeEvent parses and validates one event. now is the server's clock, used to refuse events
// from the future. The error is an *Error naming the field at fault.
func DecodeEvent(raw []byte, now time.Time) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var w wireEvent
	if err := dec.Decode(&w); err != nil {
		return Event{}, jsonFieldError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, Invalid("", "unexpected data after the event object")
	}
	e := Event{ID: w.ID, Type: EventType(w.Type), CustomerID: w.CustomerID, TaskID: w.TaskID}
	if err := checkID("id", w.ID); err != nil {
		return Event{}, err
	}
	if err := checkID("customer_id", w.CustomerID); err != nil {
		return Event{}, err
	}
	if err := checkID("task_id", w.TaskID); err != nil {
		return Event{}, err
	}
	if w.OccurredAt == "" {
		return Event{}, Invalid("occurred_at", "is required (RFC 3339)")
	}
	at, err := time.Parse(time.RFC3339Nano, w.OccurredAt)
	if err != nil {
		return Event{}, Invalid("occurred_at", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	if at.Before(earliestEvent) {
		return Event{}, Invalid("occurred_at", "must not be before %s", earliestEvent.Format(time.DateOnly))
	}
	if at.After(now.Add(MaxClockSkew)) {
		return Event{}, Invalid("occurred_at", "is in the future (more than %s ahead of the server clock)", MaxClockSkew)
	}
	e.OccurredAt = at.UTC()

	allowed := map[EventType][]string{
		EventStarted:   {"outcome_type", "priority", "metadata"},
		EventUsage:     {"model", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "cost", "description"},
		EventOutcome:   {"status", "quality", "evidence"},
		EventDisputed:  {"reason"},
		EventCancelled: {},
	}
	fields, ok := allowed[e.Type]
	if !ok {
		return Event{}, Invalid("type", "must be one of task.started, task.usage, task.outcome, task.disputed, task.cancelled")
	}
	if f := foreignField(w, fields); f != "" {
		return Event{}, Invalid(f, "is not a field of %s events", e.Type)
	}
	switch e.Type {
	case EventStarted:
		err = e.decodeStarted(w)
	case EventUsage:
		err = e.decodeUsage(w)
	case EventOutcome:
		err = e.decodeOutcome(w)
	case EventDisputed:
		e.Reason = w.Reason
		err = checkText("reason", w.Reason, true)
	}
	if err != nil {
		return Event{}, err
	}
	e.Fingerprint, err = fingerprint(raw)
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

func (e *Event) decodeStarted(w wireEvent) error {
	if !ValidOutcomeTypeKey(w.OutcomeType) {
		return Invalid("outcome_type", "must be a dotted lower-case key such as support.ticket_resolved")
	}
	e.OutcomeType = w.OutcomeType
	switch w.Priority {
	case "", PriorityNormal:
		e.Priority = PriorityNormal
	case PriorityUrgent:
		e.Priority = PriorityUrgent
	default:
		return Invalid("priority", "must be normal or urgent")
	}
	if len(w.Metadata) > 0 {
		if len(w.Metadata) > maxMetadataBytes {
			return Invalid("metadata", "must be at most %d bytes", maxMetadataBytes)
		}
		if t := bytes.TrimSpace(w.Metadata); len(t) == 0 || t[0] != '{' {
			return Invalid("metadata", "must be a JSON object")
		}
		// transaction_amount is the one metadata key outcomebill reads (percentage charges take
		// their share of it), so it is checked here rather than found wrong at invoice time.
		var known struct {
			TransactionAmount *json.RawMessage `json:"transaction_amount"`
		}
		if err := json.Unmarshal(w.Metadata, &known); err != nil {
			return Invalid("metadata", "must be a JSON object")
		}
		if known.TransactionAmount != nil {
			var amount string
			if json.Unmarshal(*known.TransactionAmount, &amount) != nil {
				return Invalid("metadata.transaction_amount", "must be a decimal string such as \"1250.00\"")
			}
			if d, err := money.ParseDecimal(amount); err != nil || d.IsNegative() {
				return Invalid("metadata.transaction_amount", "must be a non-negative decimal string such as \"1250.00\"")
			}
		}
		e.Metadata = w.Metadata
	}
	return nil
}

func (e *Event) decodeUsage(w wireEvent) error {
	tokens := w.InputTokens != nil || w.OutputTokens != nil || w.CachedInputTokens != nil ||
		w.CacheWriteTokens != nil || w.ReasoningTokens != nil
	switch {
	case w.Cost != nil && (tokens || w.Model != ""):
		return Invalid("cost", "a usage event carries either model tokens or a cost, not both")
	case w.Cost != nil:
		c, err := money.ParseDecimal(*w.Cost)
		if err != nil {
			return Invalid("cost", "must be a decimal string in USD such as \"0.0042\"")
		}
		if c.IsNegative() || c.GreaterThan(decimal.NewFromInt(1_000_000)) {
			return Invalid("cost", "must be between 0 and 1000000 USD")
		}
		e.Cost = &c
		e.Description = w.Description
		return checkText("description", w.Description, true)
	}
	if !ValidModelName(w.Model) {
		return Invalid("model", "is required: a model name such as gpt-4.1-mini, or send cost instead")
	}
	if w.InputTokens == nil {
		return Invalid("input_tokens", "is required")
	}
	if w.OutputTokens == nil {
		return Invalid("output_tokens", "is required")
	}
	if w.Description != "" {
		if err := checkText("description", w.Description, false); err != nil {
			return err
		}
		e.Description = w.Description
	}
	e.Model = w.Model
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{
		{"input_tokens", w.InputTokens, &e.Tokens.Input},
		{"output_tokens", w.OutputTokens, &e.Tokens.Output},
		{"cached_input_tokens", w.CachedInputTokens, &e.Tokens.CachedInput},
		{"cache_write_tokens", w.CacheWriteTokens, &e.Tokens.CacheWrite},
		{"reasoning_tokens", w.ReasoningTokens, &e.Tokens.Reasoning},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > MaxTokensPerEvent {
			return Invalid(f.name, "must be an integer between 0 and %d", MaxTokensPerEvent)
		}
		*f.dst = *f.v
	}
	return nil
}

func (e *Event) decodeOutcome(w wireEvent) error {
	switch s := OutcomeStatus(w.Status); s {
	case OutcomeSucceeded, OutcomePartial, OutcomeFailed, OutcomeEscalated:
		e.Status = s
	default:
		return Invalid("status", "must be one of succeeded, partial, failed, escalated")
	}
	if len(w.Quality) > 0 {
		// A JSON number only: accepting "0.9" as well would make the same event two bodies.
		q, err := money.ParseDecimal(string(w.Quality))
		if err != nil || q.IsNegative() || q.GreaterThan(decimal.NewFromInt(1)) {
			return Invalid("quality", "must be a number between 0 and 1")
		}
		e.Quality = &q
	}
	e.Evidence = w.Evidence
	return checkText("evidence", w.Evidence, false)
}

// foreignField returns the first set field of w that events of its type do not carry.
func foreignField(w wireEvent, allowed []string) string {
	set := map[string]bool{
		"outcome_type": w.OutcomeType != "", "priority": w.Priority != "", "metadata": len(w.Metadata) > 0,
		"model": w.Model != "", "input_tokens": w.InputTokens != nil, "output_tokens": w.OutputTokens != nil,
		"cached_input_tokens": w.CachedInputTokens != nil, "cache_write_tokens": w.CacheWriteTokens != nil,
		"reasoning_tokens": w.ReasoningTokens != nil, "cost": w.Cost != nil, "description": w.Description != "",
		"status": w.Status != "", "quality": len(w.Quality) > 0, "evidence": w.Evidence != "", "reason": w.Reason != "",
	}
	for _, a := range allowed {
		delete(set, a)
	}
	for _, name := range []string{"outcome_type", "priority", "metadata", "model", "input_tokens", "output_tokens",
		"cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "cost", "description", "status", "quality",
		"evidence", "reason"} {
		if set[name] {
			return name
		}
	}
	return ""
}

func checkText(field, s string, required bool) error {
	if s == "" {
		if required {
			return Invalid(field, "is required")
		}
		return nil
	}
	if len(s) > maxFreeText {
		return Invalid(field, "must be at most %d bytes", maxFreeText)
	}
	if strings.ContainsRune(s, 0) {
		return Invalid(field, "must not contain NUL characters")
	}
	return nil
}

// jsonFieldError turns a decoding error into an invalid error naming the field where the JSON
// package says which one it was.
func jsonFieldError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return Invalid(te.Field, "has the wrong type: want %s", te.Type.String())
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return Invalid(strings.Trim(f, `"`), "is not a known field")
	}
	return Invalid("", "is not a valid JSON object: %s", msg)
}

// fingerprint hashes the event's canonical form (canonicalJSON): the JSON re-encoded with sorted
// keys and no insignificant white space, so that a client resending the same event with its keys
// in another order is still recognised as a duplicate.
func fingerprint(raw []byte) ([32]byte, error) {
	canon, err := canonicalJSON(raw)
	if err != nil {
		return [32]byte{}, Invalid("", "is not valid JSON")
	}
	return sha256.Sum256(canon), nil
}

// Ingest outcomes of one event (DESIGN.md §2).
const (
	IngestAccepted  = "accepted"
	IngestDuplicate = "duplicate"
	IngestRejected  = "rejected"
)

// IngestResult is what happened to one event of a batch.
type IngestResult struct {
	ID     string
	Status string
	Err    *Error // set when Status is rejected
}

// IncomingEvent is one validated event of a batch with its body as sent, which is stored as is.
type IncomingEvent struct {
	Event Event
	Body  []byte
}
