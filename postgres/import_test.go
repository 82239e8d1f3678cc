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

// TestImportParallelWriters stores small chunks on three connections at once: since a task's
// lines all go to one connection in file order, the import stores the events and tasks that one
// IngestEvents batch of the whole file stores, and the owner of a task named by two customers in
// different chunks is the first line's, every time. Every event that must reach its workflow has
// its outbox row (usage events get one only in the statement that opens their task, so the
// single batch gives more of them).
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
	// Task q is named first by globex, then, chunks later, by acme; p0 belongs to acme.
	contested := []map[string]any{
		{"id": "q-0", "type": "task.started", "customer_id": "globex", "task_id": "q", "outcome_type": "support.ticket_resolved"},
		{"id": "q-1", "type": "task.usage", "customer_id": "acme", "task_id": "q", "cost": "0.1", "description": "search"},
		{"id": "p0-x", "type": "task.usage", "customer_id": "globex", "task_id": "p0", "cost": "0.1", "description": "search"},
	}
	for i, f := range contested {
		at := 3 + 20*i
		lines = append(lines[:at], append([]string{line(t, f)}, lines[at:]...)...)
	}
	for _, db := range []*postgres.DB{imp, ing} {
		db.Now = func() time.Time { return importClock }
	}
	res, err := imp.ImportEvents(ctx, strings.NewReader(strings.Join(lines, "\n")), billing.ImportOptions{ChunkSize: 7, Writers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 241 || res.Rejected != 2 {
		t.Fatalf("result %+v, want 241 accepted, 2 rejected", res)
	}
	var rejected []string
	for _, e := range res.Errors {
		rejected = append(rejected, fmt.Sprintf("%d %s %s %s", e.Line, e.ID, e.Err.Code, e.Err.Field))
	}
	if want := []string{"24 q-1 conflict task_id", "44 p0-x conflict task_id"}; !reflect.DeepEqual(rejected, want) {
		t.Errorf("rejected %q, want %q", rejected, want)
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

// TestStorePathsProbeIndexesWhateverTheStatisticsWhenPlanned stores a few events into a fresh
// database, so that the connections plan the ingest statement while the tables are nearly empty,
// then a few thousand, then those again, by import and by IngestEvents. The statement looks every
// event's key and task up by index; planned on empty tables, it scanned them whole instead, once
// per event, and kept that plan: re-importing 200,000 events took 5 minutes instead of 3 seconds.
// No table of events or tasks may be read sequentially.
func TestStorePathsProbeIndexesWhateverTheStatisticsWhenPlanned(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"import", "ingest"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			storePathProbesIndexes(t, path == "import")
		})
	}
}

func storePathProbesIndexes(t *testing.T, viaImport bool) {
	ctx := context.Background()
	db := ingestFixture(t)
	db.Now = func() time.Time { return importClock }
	// A backend's statistics reach pg_stat_user_tables when it ends, a moment after it leaves
	// pg_stat_activity: the pool is closed, and the counters read once every other backend of the
	// database has gone and two readings agree.
	type counts struct{ inserted, seqScans int }
	read := func() counts {
		t.Helper()
		db.Pool.Reset()
		var last counts
		for try := 0; try < 200; try++ {
			var c counts
			var others int
			err := db.Pool.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()),
				coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'event_keys'), 0),
				coalesce(sum(seq_scan) FILTER (WHERE relname ~ '^(event_keys|task_keys|events_|tasks)'), 0)
				FROM pg_stat_user_tables`).Scan(&others, &c.inserted, &c.seqScans)
			if err != nil {
				t.Fatal(err)
			}
			if others == 0 && try > 0 && c == last {
				return c
			}
			last = c
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the statistics of the import's connections did not settle")
		return last
	}
	file := func(prefix string, tasks int) string {
		var lines []string
		for k := range tasks {
			task := fmt.Sprintf("%s%d", prefix, k)
			for i, f := range []map[string]any{
				{"type": "task.started", "outcome_type": "support.ticket_resolved"},
				{"type": "task.usage", "model": "gpt-5-mini", "input_tokens": 100 + k, "output_tokens": 20},
				{"type": "task.outcome", "status": "succeeded"},
			} {
				f["id"], f["customer_id"], f["task_id"] = fmt.Sprintf("%s-%d", task, i), []string{"acme", "globex"}[k%2], task
				lines = append(lines, line(t, f))
			}
		}
		return strings.Join(lines, "\n")
	}
	before := read()
	// One pool throughout: its connections keep the plans made in the first step.
	for _, step := range []struct {
		file string
		want billing.ImportResult
	}{
		{file("w", 2), billing.ImportResult{Lines: 6, Accepted: 6}},
		{file("n", 1000), billing.ImportResult{Lines: 3000, Accepted: 3000}},
		{file("n", 1000), billing.ImportResult{Lines: 3000, Duplicate: 3000}},
	} {
		var res billing.ImportResult
		if viaImport {
			var err error
			if res, err = db.ImportEvents(ctx, strings.NewReader(step.file), billing.ImportOptions{ChunkSize: 1000, Writers: 2}); err != nil {
				t.Fatal(err)
			}
		} else {
			events := decodeLines(t, strings.Split(step.file, "\n"))
			for k := 0; k < len(events); k += 100 {
				rs, err := db.IngestEvents(ctx, events[k:min(k+100, len(events))])
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					res.Lines++
					switch r.Status {
					case billing.IngestAccepted:
						res.Accepted++
					case billing.IngestDuplicate:
						res.Duplicate++
					}
				}
			}
		}
		if res.Lines != step.want.Lines || res.Accepted != step.want.Accepted || res.Duplicate != step.want.Duplicate {
			t.Fatalf("import %+v, want %+v", res, step.want)
		}
	}
	after := read()
	if after.inserted != before.inserted+3006 {
		t.Fatalf("statistics show %d event keys inserted, want 3006", after.inserted-before.inserted)
	}
	if after.seqScans != before.seqScans {
		t.Errorf("storing read tables of events or tasks sequentially %d times", after.seqScans-before.seqScans)
	}
}
