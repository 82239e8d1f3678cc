package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// ingestFixture is a database with one customer and one outcome type.
func ingestFixture(t *testing.T) *postgres.DB {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: "acme", Name: "Acme", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateCustomer(ctx, billing.Customer{ID: "globex", Name: "Globex", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PutOutcomeType(ctx, ticketType()); err != nil {
		t.Fatal(err)
	}
	return db
}

var eventClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func incoming(t testing.TB, fields map[string]any) billing.IncomingEvent {
	t.Helper()
	return incomingAt(t, eventClock, fields)
}

// incomingAt is incoming for an event that occurred at at (unless fields say otherwise).
func incomingAt(t testing.TB, at time.Time, fields map[string]any) billing.IncomingEvent {
	t.Helper()
	if _, ok := fields["occurred_at"]; !ok {
		fields["occurred_at"] = at.Format(time.RFC3339)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	e, err := billing.DecodeEvent(raw, time.Now())
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return billing.IncomingEvent{Event: e, Body: raw}
}

func statuses(rs []billing.IngestResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Status
		if r.Err != nil {
			out[i] += ":" + r.Err.Code + ":" + r.Err.Field
		}
	}
	return out
}

func count(t *testing.T, db *postgres.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIngestResults(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	start := incoming(t, map[string]any{"id": "e1", "type": "task.started", "customer_id": "acme", "task_id": "t1", "outcome_type": "support.ticket_resolved"})
	usage := incoming(t, map[string]any{"id": "e2", "type": "task.usage", "customer_id": "acme", "task_id": "t1", "model": "gpt-4.1-mini",
		"input_tokens": 1_000_000, "output_tokens": 1_000_000})
	unpriced := incoming(t, map[string]any{"id": "e3", "type": "task.usage", "customer_id": "acme", "task_id": "t1", "model": "in-house-7b",
		"input_tokens": 1000, "output_tokens": 10})
	got, err := db.IngestEvents(ctx, []billing.IncomingEvent{start, usage, unpriced})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(statuses(got)); s != "[accepted accepted accepted]" {
		t.Fatalf("first send: %s", s)
	}
	// gpt-4.1-mini lists at 0.40 input and 1.60 output per million tokens.
	if n := count(t, db, `SELECT count(*) FROM events WHERE id = 'e2' AND cost_usd = 2`); n != 1 {
		t.Errorf("1M input + 1M output tokens of gpt-4.1-mini are not costed at 0.40 + 1.60 = 2 USD")
	}
	if n := count(t, db, `SELECT count(*) FROM events WHERE id = 'e3' AND cost_usd IS NULL`); n != 1 {
		t.Errorf("usage of an unknown model is not kept unpriced")
	}

	conflict := incoming(t, map[string]any{"id": "e1", "type": "task.started", "customer_id": "acme", "task_id": "t1", "outcome_type": "support.ticket_resolved", "priority": "urgent"})
	otherOwner := incoming(t, map[string]any{"id": "e4", "type": "task.cancelled", "customer_id": "globex", "task_id": "t1"})
	unknownCustomer := incoming(t, map[string]any{"id": "e5", "type": "task.cancelled", "customer_id": "nobody", "task_id": "t2"})
	unknownType := incoming(t, map[string]any{"id": "e6", "type": "task.started", "customer_id": "acme", "task_id": "t3", "outcome_type": "x.unknown"})
	inBatchTwice := incoming(t, map[string]any{"id": "e7", "type": "task.cancelled", "customer_id": "acme", "task_id": "t4"})
	inBatchOther := incoming(t, map[string]any{"id": "e7", "type": "task.disputed", "customer_id": "acme", "task_id": "t4", "reason": "x"})
	got, err = db.IngestEvents(ctx, []billing.IncomingEvent{start, usage, conflict, otherOwner, unknownCustomer, unknownType, inBatchTwice, inBatchTwice, inBatchOther})
	if err != nil {
		t.Fatal(err)
	}
	want := "[duplicate duplicate rejected:conflict:id rejected:conflict:task_id rejected:invalid:customer_id rejected:invalid:outcome_type accepted duplicate rejected:conflict:id]"
	if s := fmt.Sprint(statuses(got)); s != want {
		t.Errorf("second send:\n got %s\nwant %s", s, want)
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 4 {
		t.Errorf("%d events stored, want 4 (e1, e2, e3, e7)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 4 {
		t.Errorf("%d outbox rows, want 4: one per stored event of a batch that opened its task", n)
	}
	// Usage of a task that already exists needs no signal: the workflow's state does not depend
	// on it, and its cost is summed in SQL.
	more := incoming(t, map[string]any{"id": "e8", "type": "task.usage", "customer_id": "acme", "task_id": "t1", "model": "gpt-4.1-mini",
		"input_tokens": 10, "output_tokens": 1})
	if _, err := db.IngestEvents(ctx, []billing.IncomingEvent{more}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 4 {
		t.Errorf("%d outbox rows after usage of a known task, want still 4", n)
	}
	if n := count(t, db, `SELECT count(*) FROM tasks WHERE task_id IN ('t2', 't3')`); n != 0 {
		t.Errorf("rejected events created %d tasks", n)
	}
}

func TestUnpricedUsageIsCostedWhenAPriceArrives(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	ev := incoming(t, map[string]any{"id": "u1", "type": "task.usage", "customer_id": "acme", "task_id": "t1", "model": "in-house-7b",
		"input_tokens": 2_000_000, "output_tokens": 0})
	if _, err := db.IngestEvents(ctx, []billing.IncomingEvent{ev}); err != nil {
		t.Fatal(err)
	}
	p := billing.ModelPrice{Model: "in-house-7b", EffectiveFrom: eventClock.Add(-24 * time.Hour), Input: dec("0.25"), Output: dec("1")}
	if _, _, err := db.AddModelPrice(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM events WHERE id = 'u1' AND cost_usd = 0.5`); n != 1 {
		t.Errorf("the unpriced usage was not costed at 2M × 0.25/M = 0.50 when its price arrived")
	}
}

// Twenty clients send the same 500 events at once: each is stored exactly once, every client gets
// a result for every event, and no transaction deadlocks.
func TestConcurrentDuplicateStorm(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	var batch []billing.IncomingEvent
	for i := 0; i < 500; i++ {
		batch = append(batch, incoming(t, map[string]any{"id": fmt.Sprintf("ev-%03d", i), "type": "task.usage", "customer_id": "acme",
			"task_id": fmt.Sprintf("task-%02d", i%37), "model": "gpt-4.1-mini", "input_tokens": 100, "output_tokens": 10}))
	}
	var wg sync.WaitGroup
	accepted := make([]int, 20)
	errs := make([]error, 20)
	for c := 0; c < 20; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// Each client sends the batch in its own order, the worst case for lock ordering.
			mine := append([]billing.IncomingEvent(nil), batch...)
			for i := range mine {
				j := (i*7 + c*13) % len(mine)
				mine[i], mine[j] = mine[j], mine[i]
			}
			rs, err := db.IngestEvents(ctx, mine)
			errs[c] = err
			for _, r := range rs {
				switch r.Status {
				case billing.IngestAccepted:
					accepted[c]++
				case billing.IngestDuplicate:
				default:
					errs[c] = fmt.Errorf("event %s: %s", r.ID, r.Status)
				}
			}
		}(c)
	}
	wg.Wait()
	total := 0
	for c := range accepted {
		if errs[c] != nil {
			t.Errorf("client %d: %v", c, errs[c])
		}
		total += accepted[c]
	}
	if total != 500 {
		t.Errorf("%d acceptances over all clients, want 500 (each event accepted once)", total)
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 500 {
		t.Errorf("%d events stored, want 500", n)
	}
	// Every usage event opened its task in the transaction that stored it, so each has a row.
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 500 {
		t.Errorf("%d outbox rows, want 500", n)
	}
}

func TestOutboxClaimAndRelease(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	var batch []billing.IncomingEvent
	for i := 0; i < 5; i++ {
		batch = append(batch, incoming(t, map[string]any{"id": fmt.Sprintf("o-%d", i), "type": "task.cancelled", "customer_id": "acme",
			"task_id": fmt.Sprintf("t-%d", i)}))
	}
	if _, err := db.IngestEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	first, err := db.ClaimOutbox(ctx, 3, time.Minute)
	if err != nil || len(first) != 3 || first[0].Event.ID != "o-0" || first[0].Attempts != 1 {
		t.Fatalf("claim: %+v, %v", first, err)
	}
	second, err := db.ClaimOutbox(ctx, 10, time.Minute)
	if err != nil || len(second) != 2 {
		t.Fatalf("a second claim got %d rows, want the 2 unclaimed ones: %v", len(second), err)
	}
	if err := db.MarkDelivered(ctx, []int64{first[0].ID, first[1].ID}); err != nil {
		t.Fatal(err)
	}
	if err := db.Release(ctx, []int64{first[2].ID}, time.Now().Add(-time.Second), "temporal down"); err != nil {
		t.Fatal(err)
	}
	again, err := db.ClaimOutbox(ctx, 10, time.Minute)
	if err != nil || len(again) != 1 || again[0].ID != first[2].ID || again[0].Attempts != 2 {
		t.Errorf("after release: %+v, %v; want the released row on its second attempt", again, err)
	}
	if lag, err := db.OutboxLag(ctx); err != nil || lag < 0 {
		t.Errorf("lag = %v, %v", lag, err)
	}
}

// A batch that runs while another transaction creates one of its tasks, or stores one of its
// event ids, cannot see that transaction's rows in its snapshot once it has waited for it: its
// events are judged again, and get the verdicts a later batch would.
func TestIngestRacingAnotherWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup string // run by the other writer, committed while the batch waits for it; it stores an event as ingest does, key first
		event map[string]any
		want  string
		rows  int // events e9 stored in the end
	}{
		{"task created for another customer", `INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ('t9', 'globex', now());
			INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t9', 'globex', now())`,
			map[string]any{"id": "e9", "type": "task.cancelled", "customer_id": "acme", "task_id": "t9"},
			"[rejected:conflict:task_id]", 0},
		{"task created for the same customer", `INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now());
			INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now())`,
			map[string]any{"id": "e9", "type": "task.cancelled", "customer_id": "acme", "task_id": "t9"},
			"[accepted]", 1},
		{"event id stored with the same body", `INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now());
			INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now());
			INSERT INTO event_keys (id, fingerprint, occurred_at) VALUES ('e9', $1, now());
			INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
			VALUES ('e9', $1, 'task.cancelled', 'acme', 't9', now(), now(), '{}')`,
			map[string]any{"id": "e9", "type": "task.cancelled", "customer_id": "acme", "task_id": "t9"},
			"[duplicate]", 1},
		{"event id stored with another body", `INSERT INTO task_keys (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now());
			INSERT INTO tasks (task_id, customer_id, opened_at) VALUES ('t9', 'acme', now());
			INSERT INTO event_keys (id, fingerprint, occurred_at) VALUES ('e9', '\x00', now());
			INSERT INTO events (id, fingerprint, type, customer_id, task_id, occurred_at, received_at, body)
			VALUES ('e9', '\x00', 'task.cancelled', 'acme', 't9', now(), now(), '{}')`,
			map[string]any{"id": "e9", "type": "task.cancelled", "customer_id": "acme", "task_id": "t9"},
			"[rejected:conflict:id]", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := ingestFixture(t)
			ev := incoming(t, tc.event)
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			var args []any
			if strings.Contains(tc.setup, "$1") {
				args = append(args, ev.Event.Fingerprint[:])
			}
			for _, stmt := range strings.Split(tc.setup, ";") {
				if _, err := tx.Exec(ctx, stmt, args[:min(len(args), strings.Count(stmt, "$1"))]...); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				rs  []billing.IngestResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{ev})
				done <- result{rs, err}
			}()
			// The batch waits on the other writer's uncommitted row before that one commits.
			waitForBlockedIngest(t, db, "the other writer")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			if s := fmt.Sprint(statuses(r.rs)); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
			if n := count(t, db, `SELECT count(*) FROM events WHERE id = 'e9'`); n != tc.rows {
				t.Errorf("%d events e9 stored, want %d", n, tc.rows)
			}
		})
	}
}

// Many clients sending small batches at once are stored together (ingestQueue), and each still
// gets the results it would get alone: every id accepted once, a resend a duplicate, another
// body under a taken id a conflict, a task of another customer refused.
func TestIngestSmallBatchesFromManyClients(t *testing.T) {
	t.Parallel()
	db := ingestFixture(t)
	ctx := context.Background()
	const clients, ids = 40, 60
	type sent struct {
		ev  billing.IncomingEvent
		res billing.IngestResult
	}
	out := make([][]sent, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ids {
				// Every client sends every id; clients 0–9 send a body of their own for ids
				// divisible by 5 (a conflict unless theirs came first), and client 1 names task
				// "shared" for globex while the others name it for acme.
				fields := map[string]any{"id": fmt.Sprintf("ev-%02d", k), "type": "task.usage", "customer_id": "acme",
					"task_id": fmt.Sprintf("task-%d", k%7), "model": "gpt-4.1-mini", "input_tokens": 100, "output_tokens": 10}
				if k%5 == 0 && c < 10 {
					fields["input_tokens"] = 100 + c
				}
				if k == 59 {
					fields["task_id"] = "shared"
					if c == 1 {
						fields["customer_id"] = "globex"
					}
				}
				ev := incoming(t, fields)
				rs, err := db.IngestEvents(ctx, []billing.IncomingEvent{ev})
				if err != nil {
					t.Error(err)
					return
				}
				out[c] = append(out[c], sent{ev, rs[0]})
			}
		}()
	}
	wg.Wait()
	// What is stored decides every verdict: the stored body's sender got accepted, senders of the
	// same body a duplicate, senders of another body a conflict on id, and the customer that did
	// not get to open task "shared" a conflict on task_id.
	stored := map[string][]byte{}
	rows, err := db.Pool.Query(ctx, `SELECT id, fingerprint FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var fp []byte
		if err := rows.Scan(&id, &fp); err != nil {
			t.Fatal(err)
		}
		stored[id] = fp
	}
	if len(stored) != ids {
		t.Fatalf("%d events stored, want %d", len(stored), ids)
	}
	var owner string // whichever customer's event reached task "shared" first
	if err := db.Pool.QueryRow(ctx, `SELECT customer_id FROM tasks WHERE task_id = 'shared'`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	accepted := map[string]int{}
	for c := range clients {
		for _, s := range out[c] {
			e, r := s.ev.Event, s.res
			same := string(stored[e.ID]) == string(e.Fingerprint[:])
			var want string
			switch {
			case e.TaskID == "shared" && e.CustomerID != owner:
				want = "rejected:conflict:task_id"
			case !same:
				want = "rejected:conflict:id"
			case r.Status == billing.IngestAccepted:
				want = "accepted"
				accepted[e.ID]++
			default:
				want = "duplicate"
			}
			if got := statuses([]billing.IngestResult{r})[0]; got != want {
				t.Errorf("client %d, %s: %s, want %s", c, e.ID, got, want)
			}
		}
	}
	for id := range stored {
		if accepted[id] != 1 {
			t.Errorf("%s accepted %d times, want once", id, accepted[id])
		}
	}
}

// waitForBlockedIngest returns once an ingest statement of db waits for a lock, which holder (a
// description) holds.
func waitForBlockedIngest(t *testing.T, db *postgres.DB, holder string) {
	t.Helper()
	waitForLockWait(t, db, "%WITH incoming AS%", holder)
}
