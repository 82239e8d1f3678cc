package billing

import (
	"strings"
	"testing"
	"time"
)

var decodeNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestDecodeEventAccepts(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, e Event)
	}{
		{"started", `{"id":"e1","type":"task.started","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","outcome_type":"support.ticket_resolved","priority":"urgent","metadata":{"ticket":"#42","transaction_amount":"1250.00"}}`,
			func(t *testing.T, e Event) {
				if e.Priority != PriorityUrgent || e.OutcomeType != "support.ticket_resolved" || len(e.Metadata) == 0 {
					t.Errorf("%+v", e)
				}
			}},
		{"priority defaults to normal", `{"id":"e1","type":"task.started","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","outcome_type":"a.b"}`,
			func(t *testing.T, e Event) {
				if e.Priority != PriorityNormal {
					t.Errorf("priority %q", e.Priority)
				}
			}},
		{"usage tokens", `{"id":"e2","type":"task.usage","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00+02:00","model":"gpt-4.1-mini","input_tokens":1000,"output_tokens":20,"cached_input_tokens":5,"cache_write_tokens":6,"reasoning_tokens":7}`,
			func(t *testing.T, e Event) {
				if e.Tokens != (TokenUsage{Input: 1000, Output: 20, CachedInput: 5, CacheWrite: 6, Reasoning: 7}) || e.OccurredAt.Location() != time.UTC || e.OccurredAt.Hour() != 8 {
					t.Errorf("%+v", e)
				}
			}},
		{"usage cost", `{"id":"e3","type":"task.usage","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","cost":"0.0042","description":"web search"}`,
			func(t *testing.T, e Event) {
				if e.Cost == nil || e.Cost.String() != "0.0042" || e.Model != "" {
					t.Errorf("%+v", e)
				}
			}},
		{"outcome", `{"id":"e4","type":"task.outcome","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","status":"partial","quality":0.75,"evidence":"https://x/1"}`,
			func(t *testing.T, e Event) {
				if e.Status != OutcomePartial || e.Quality == nil || e.Quality.String() != "0.75" {
					t.Errorf("%+v", e)
				}
			}},
		{"disputed", `{"id":"e5","type":"task.disputed","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","reason":"reopened"}`,
			func(t *testing.T, e Event) {
				if e.Reason != "reopened" {
					t.Errorf("%+v", e)
				}
			}},
		{"cancelled, a little ahead of the clock", `{"id":"e6","type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T12:10:00Z"}`,
			func(t *testing.T, e Event) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEvent([]byte(tt.raw), decodeNow)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	base := `"id":"e1","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z"`
	tests := []struct {
		name, raw, field string
	}{
		{"not an object", `[1]`, ""},
		{"trailing data", `{` + base + `,"type":"task.cancelled"} {}`, ""},
		{"unknown field", `{` + base + `,"type":"task.cancelled","colour":"red"}`, "colour"},
		{"unknown type", `{` + base + `,"type":"task.finished"}`, "type"},
		{"missing id", `{"type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z"}`, "id"},
		{"html in id", `{"id":"<b>","type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z"}`, "id"},
		{"sql in customer", `{"id":"e1","type":"task.cancelled","customer_id":"x'; DROP TABLE events;--","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z"}`, "customer_id"},
		{"time without zone", `{"id":"e1","type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01 10:00:00"}`, "occurred_at"},
		{"far future", `{"id":"e1","type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-02T10:00:00Z"}`, "occurred_at"},
		{"far past", `{"id":"e1","type":"task.cancelled","customer_id":"acme","task_id":"t1","occurred_at":"1999-06-01T10:00:00Z"}`, "occurred_at"},
		{"field of another type", `{` + base + `,"type":"task.cancelled","status":"failed"}`, "status"},
		{"bad outcome type", `{` + base + `,"type":"task.started","outcome_type":"Support Tickets"}`, "outcome_type"},
		{"bad priority", `{` + base + `,"type":"task.started","outcome_type":"a.b","priority":"asap"}`, "priority"},
		{"metadata not an object", `{` + base + `,"type":"task.started","outcome_type":"a.b","metadata":[1]}`, "metadata"},
		{"transaction amount as number", `{` + base + `,"type":"task.started","outcome_type":"a.b","metadata":{"transaction_amount":12.5}}`, "metadata.transaction_amount"},
		{"negative tokens", `{` + base + `,"type":"task.usage","model":"m","input_tokens":-1,"output_tokens":0}`, "input_tokens"},
		{"absurd tokens", `{` + base + `,"type":"task.usage","model":"m","input_tokens":100000000000,"output_tokens":0}`, "input_tokens"},
		{"tokens as string", `{` + base + `,"type":"task.usage","model":"m","input_tokens":"10","output_tokens":0}`, "input_tokens"},
		{"fractional tokens", `{` + base + `,"type":"task.usage","model":"m","input_tokens":1.5,"output_tokens":0}`, "input_tokens"},
		{"no output tokens", `{` + base + `,"type":"task.usage","model":"m","input_tokens":1}`, "output_tokens"},
		{"no model", `{` + base + `,"type":"task.usage","input_tokens":1,"output_tokens":1}`, "model"},
		{"cost and tokens", `{` + base + `,"type":"task.usage","model":"m","input_tokens":1,"output_tokens":1,"cost":"1"}`, "cost"},
		{"cost as number", `{` + base + `,"type":"task.usage","cost":1.5,"description":"x"}`, "cost"},
		{"cost in exponent form", `{` + base + `,"type":"task.usage","cost":"1e3","description":"x"}`, "cost"},
		{"negative cost", `{` + base + `,"type":"task.usage","cost":"-1","description":"x"}`, "cost"},
		{"cost without description", `{` + base + `,"type":"task.usage","cost":"1"}`, "description"},
		{"bad status", `{` + base + `,"type":"task.outcome","status":"done"}`, "status"},
		{"quality as a string", `{` + base + `,"type":"task.outcome","status":"succeeded","quality":"0.9"}`, "quality"},
		{"quality above 1", `{` + base + `,"type":"task.outcome","status":"succeeded","quality":1.5}`, "quality"},
		{"dispute without reason", `{` + base + `,"type":"task.disputed"}`, "reason"},
		{"huge reason", `{` + base + `,"type":"task.disputed","reason":"` + strings.Repeat("x", 3000) + `"}`, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.raw), decodeNow)
			if ErrorCode(err) != EINVALID || ErrorField(err) != tt.field {
				t.Errorf("err = %v (field %q), want invalid %q", err, ErrorField(err), tt.field)
			}
		})
	}
}

// The same event with its keys in another order and other spacing is the same event; any change
// of a value is another.
func TestFingerprintIgnoresKeyOrderOnly(t *testing.T) {
	a := `{"id":"e1","type":"task.outcome","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","status":"succeeded"}`
	b := `{ "status": "succeeded", "task_id": "t1", "occurred_at": "2026-06-01T10:00:00Z", "customer_id": "acme", "type": "task.outcome", "id": "e1" }`
	c := `{"id":"e1","type":"task.outcome","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","status":"failed"}`
	ea, _ := DecodeEvent([]byte(a), decodeNow)
	eb, _ := DecodeEvent([]byte(b), decodeNow)
	ec, _ := DecodeEvent([]byte(c), decodeNow)
	if ea.Fingerprint != eb.Fingerprint {
		t.Error("reordered keys changed the fingerprint")
	}
	if ea.Fingerprint == ec.Fingerprint {
		t.Error("a changed status kept the fingerprint")
	}
}

// FuzzDecodeEvent: any input is either refused with an invalid error naming what is wrong, or
// accepted as an event that passes its own checks again, with the same fingerprint.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"id":"e1","type":"task.started","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","outcome_type":"a.b"}`,
		`{"id":"e2","type":"task.usage","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","model":"m","input_tokens":1,"output_tokens":2}`,
		`{"id":"e3","type":"task.usage","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","cost":"0.5","description":"gpu"}`,
		`{"id":"e4","type":"task.outcome","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","status":"partial","quality":0.5}`,
		`{"id":"e5","type":"task.disputed","customer_id":"acme","task_id":"t1","occurred_at":"2026-06-01T10:00:00Z","reason":"no"}`,
		`{}`, `null`, `[]`, `{"id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := DecodeEvent(raw, decodeNow)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("refused with %v, want an invalid error", err)
			}
			return
		}
		again, err := DecodeEvent(raw, decodeNow)
		if err != nil || again.Fingerprint != e.Fingerprint {
			t.Fatalf("accepted once, then %v", err)
		}
		if !ValidID(e.ID) || !ValidID(e.CustomerID) || !ValidID(e.TaskID) || e.OccurredAt.After(decodeNow.Add(MaxClockSkew)) {
			t.Fatalf("accepted an event that breaks its rules: %+v", e)
		}
	})
}
