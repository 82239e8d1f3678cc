package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
)

// importClock is the store's clock in import tests: fixed, so that received_at and created_at
// are the same whether an event was imported or ingested.
var importClock = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

func line(t *testing.T, fields map[string]any) string {
	t.Helper()
	if _, ok := fields["occurred_at"]; !ok {
		fields["occurred_at"] = eventClock.Format(time.RFC3339)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// mixedImport is a file of valid, invalid, repeated and conflicting lines, and the lines
// (already stored before the import) that some of them repeat or contradict.
func mixedImport(t *testing.T) (before []string, file string) {
	ev := func(id, typ, customer, task string, f map[string]any) string {
		m := map[string]any{"id": id, "type": typ, "customer_id": customer, "task_id": task}
		for k, v := range f {
			m[k] = v
		}
		return line(t, m)
	}
	start := func(id, customer, task string) string {
		return ev(id, "task.started", customer, task, map[string]any{"outcome_type": "support.ticket_resolved"})
	}
	usage := func(id, customer, task string) string {
		return ev(id, "task.usage", customer, task, map[string]any{"model": "gpt-5-mini", "input_tokens": 1200, "output_tokens": 300})
	}
	outcome := func(id, customer, task, status string) string {
		return ev(id, "task.outcome", customer, task, map[string]any{"status": status})
	}
	before = []string{start("old-1", "acme", "old"), outcome("old-2", "acme", "old", "succeeded")}
	lines := []string{
		start("a-1", "acme", "a"), // 1
		usage("a-2", "acme", "a"), // 2: a fresh task's usage: outbox row
		ev("a-3", "task.usage", "acme", "a", map[string]any{"cost": "0.0042", "description": "web search"}), // 3
		outcome("a-4", "acme", "a", "succeeded"),                                                            // 4
		`{"id": "bad-json", `,                                                                               // 5: invalid JSON
		outcome("bad-status", "acme", "a", "won"),                                                           // 6: invalid status
		"",                                    // 7: blank, not an event
		start("a-1", "acme", "a"),             // 8: repeats line 1
		outcome("a-4", "acme", "a", "failed"), // 9: conflicts with line 4
		start("x-1", "nobody", "x"),           // 10: unknown customer
		ev("y-1", "task.started", "acme", "y", map[string]any{"outcome_type": "no.such_type"}), // 11: unknown outcome type
		usage("g-1", "globex", "a"),                  // 12: task of another customer
		outcome("old-2", "acme", "old", "succeeded"), // 13: already stored
		outcome("old-1", "acme", "old", "failed"),    // 14: conflicts with a stored event
		usage("old-3", "acme", "old"),                // 15: usage of a known task: no outbox row
		ev("u-1", "task.usage", "acme", "u", map[string]any{"model": "no-such-model", "input_tokens": 5, "output_tokens": 5}), // 16: unpriced
		start("b-1", "globex", "b"), // 17
		`{"id":"late","type":"task.cancelled","customer_id":"acme","task_id":"a","occurred_at":"2019-01-01T00:00:00Z"}`, // 18: too early
	}
	return before, strings.Join(lines, "\n") + "\n"
}

func decodeLines(t *testing.T, lines []string) []billing.IncomingEvent {
	t.Helper()
	var out []billing.IncomingEvent
	for _, l := range lines {
		if e, err := billing.DecodeEvent([]byte(l), importClock); err == nil {
			out = append(out, billing.IncomingEvent{Event: e, Body: []byte(l)})
		}
	}
	return out
}

// dump is what a database holds of events, tasks and outbox, in a comparable form.
func dump(t *testing.T, db *postgres.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT format('task %s %s %s %s', task_id, customer_id, status, created_at) FROM tasks ORDER BY task_id`,
		`SELECT format('event %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s', id, encode(fingerprint, 'hex'), type, customer_id,
			task_id, occurred_at, received_at, body, model, input_tokens, cached_input_tokens, cache_write_tokens,
			reasoning_tokens, output_tokens, cost_usd) FROM events ORDER BY id`,
		`SELECT format('outbox %s %s %s %s %s', event_id, task_id, customer_id, created_at, available_at) FROM outbox ORDER BY event_id`,
	} {
		rows, err := db.Pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestImportMixedFile(t *testing.T) {
	t.Parallel()
	for _, chunk := range []int{0, 4} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			before, file := mixedImport(t)
			imp, ing := ingestFixture(t), ingestFixture(t)
			for _, db := range []*postgres.DB{imp, ing} {
				db.Now = func() time.Time { return importClock }
				if _, err := db.IngestEvents(ctx, decodeLines(t, before)); err != nil {
					t.Fatal(err)
				}
			}
			// One writer: chunks stored in file order, as the IngestEvents batches below are.
			res, err := imp.ImportEvents(ctx, strings.NewReader(file), billing.ImportOptions{ChunkSize: chunk, Writers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Lines != 17 || res.Accepted != 7 || res.Duplicate != 2 || res.Rejected != 8 || res.Refused {
				t.Errorf("result %+v, want 17 lines: 7 accepted, 2 duplicate, 8 rejected", res)
			}
			var got []string
			for _, e := range res.Errors {
				got = append(got, fmt.Sprintf("%d %s %s %s", e.Line, e.ID, e.Err.Code, e.Err.Field))
			}
			want := []string{"5  invalid ", "6 bad-status invalid status", "9 a-4 conflict id", "10 x-1 invalid customer_id",
				"11 y-1 invalid outcome_type", "12 g-1 conflict task_id", "14 old-1 conflict id", "18 late invalid occurred_at"}
			if chunk == 0 && !reflect.DeepEqual(got, want) {
				t.Errorf("errors\n got %q\nwant %q", got, want)
			}

			// Exactly what IngestEvents stores for the same events, sent in the same chunks.
			lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
			if chunk == 0 {
				chunk = len(lines)
			}
			var nonBlank []string
			for _, l := range lines {
				if l != "" {
					nonBlank = append(nonBlank, l)
				}
			}
			for k := 0; k < len(nonBlank); k += chunk {
				batch := decodeLines(t, nonBlank[k:min(k+chunk, len(nonBlank))])
				if len(batch) == 0 {
					continue
				}
				if _, err := ing.IngestEvents(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			if a, b := dump(t, imp), dump(t, ing); !reflect.DeepEqual(a, b) {
				t.Errorf("import stored\n%s\nIngestEvents stored\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			if n := count(t, imp, `SELECT count(*) FROM outbox WHERE event_id = 'old-3'`); n != 0 {
				t.Errorf("usage of a known task has %d outbox rows, want none", n)
			}
			if n := count(t, imp, `SELECT count(*) FROM outbox WHERE event_id = 'a-2'`); n != 1 {
				t.Errorf("usage of a task the import opened has %d outbox rows, want 1", n)
			}

			// Importing the same file again stores nothing new.
			again, err := imp.ImportEvents(ctx, strings.NewReader(file), billing.ImportOptions{ChunkSize: chunk, Writers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if again.Accepted != 0 || again.Duplicate != 9 || again.Rejected != 8 {
				t.Errorf("re-import %+v, want 0 accepted, 9 duplicate, 8 rejected", again)
			}
			if a, b := dump(t, imp), dump(t, ing); !reflect.DeepEqual(a, b) {
				t.Errorf("re-import changed the database")
			}
		})
	}
}

func TestImportAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ingestFixture(t)
	db.Now = func() time.Time { return importClock }
	_, file := mixedImport(t)
	res, err := db.ImportEvents(ctx, strings.NewReader(file), billing.ImportOptions{AllOrNothing: true, ChunkSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refused || res.Accepted != 0 || res.Rejected == 0 || len(res.Errors) == 0 || res.Errors[0].Line != 5 {
		t.Errorf("result %+v, want refused with the errors from line 5 on", res)
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events stored by a refused import", n)
	}
	good := line(t, map[string]any{"id": "c-1", "type": "task.started", "customer_id": "acme", "task_id": "c",
		"outcome_type": "support.ticket_resolved"}) + "\n" + line(t, map[string]any{"id": "c-2", "type": "task.outcome",
		"customer_id": "acme", "task_id": "c", "status": "succeeded"})
	res, err = db.ImportEvents(ctx, strings.NewReader(good), billing.ImportOptions{AllOrNothing: true, ChunkSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Refused || res.Accepted != 2 || count(t, db, `SELECT count(*) FROM events`) != 2 {
		t.Errorf("result %+v, want 2 accepted and stored", res)
	}
}

func TestImportLongLine(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	file := strings.Repeat("x", 2<<20) + "\n" + line(t, map[string]any{"id": "c-1", "type": "task.started",
		"customer_id": "acme", "task_id": "c", "outcome_type": "support.ticket_resolved"})
	res, err := db.ImportEvents(context.Background(), strings.NewReader(file), billing.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Rejected != 1 || res.Errors[0].Line != 1 {
		t.Errorf("result %+v, want line 1 rejected and line 2 accepted", res)
	}
}

// TestImportParallelWriters stores small chunks on three connections at once: the events and
// tasks stored are those of one IngestEvents batch, and every event that must reach its workflow
// has its outbox row (a usage event may get one more than sequential ingest would give it, when
// its chunk claims the task before the chunk holding the task's start).
func TestImportParallelWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	imp, ing := ingestFixture(t), ingestFixture(t)
	var lines []string
	for k := range 60 {
		c, task := []string{"acme", "globex"}[k%2], fmt.Sprintf("p%d", k)
		for i, f := range []map[string]any{
			{"type": "task.started", "outcome_type": "support.ticket_resolved"},
			{"type": "task.usage", "model": "gpt-5-mini", "input_tokens": 100 + k, "output_tokens": 20},
			{"type": "task.usage", "cost": "0.5", "description": "search"},
			{"type": "task.outcome", "status": "succeeded"},
		} {
			f["id"], f["customer_id"], f["task_id"] = fmt.Sprintf("%s-%d", task, i), c, task
			lines = append(lines, line(t, f))
		}
	}
	for _, db := range []*postgres.DB{imp, ing} {
		db.Now = func() time.Time { return importClock }
	}
	res, err := imp.ImportEvents(ctx, strings.NewReader(strings.Join(lines, "\n")), billing.ImportOptions{ChunkSize: 7, Writers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 240 || res.Rejected != 0 {
		t.Fatalf("result %+v, want 240 accepted", res)
	}
	if _, err := ing.IngestEvents(ctx, decodeLines(t, lines)); err != nil {
		t.Fatal(err)
	}
	notOutbox := func(rows []string) []string {
		var out []string
		for _, r := range rows {
			if !strings.HasPrefix(r, "outbox ") {
				out = append(out, r)
			}
		}
		return out
	}
	if a, b := notOutbox(dump(t, imp)), notOutbox(dump(t, ing)); !reflect.DeepEqual(a, b) {
		t.Errorf("import stored\n%s\nIngestEvents stored\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if n := count(t, imp, `SELECT count(*) FROM events e WHERE e.type <> 'task.usage'
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id)`); n != 0 {
		t.Errorf("%d events that must reach their workflow have no outbox row", n)
	}
}
