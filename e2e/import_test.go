package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestImportOverHTTP streams an NDJSON body of 20,000 lines through POST /v1/events/import
// (chunked: the client never knows its length, the server never holds it whole), then sends it
// again: the second import accepts nothing.
func TestImportOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.do("POST", "/v1/customers", h.admin, acme); r.Status != http.StatusCreated {
		t.Fatalf("create customer: %d %s", r.Status, r.Body)
	}
	if r := h.do("PUT", "/v1/outcome-types/support.ticket_resolved", h.admin, ticket); r.Status != http.StatusCreated {
		t.Fatalf("put outcome type: %d %s", r.Status, r.Body)
	}
	ingest := h.key("ingest")
	const tasks = 5000 // four events each
	at := time.Now().Add(-48 * time.Hour).UTC()
	write := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for k := range tasks {
			task := fmt.Sprintf("imp-%d", k)
			base := map[string]any{"customer_id": "acme", "task_id": task, "occurred_at": at.Add(time.Duration(k) * time.Second).Format(time.RFC3339)}
			for i, f := range []map[string]any{
				{"type": "task.started", "outcome_type": "support.ticket_resolved"},
				{"type": "task.usage", "model": "gpt-5-mini", "input_tokens": 1000, "output_tokens": 200},
				{"type": "task.usage", "cost": "0.01", "description": "search"},
				{"type": "task.outcome", "status": "succeeded"},
			} {
				e := map[string]any{"id": fmt.Sprintf("%s-%d", task, i)}
				for k, v := range base {
					e[k] = v
				}
				for k, v := range f {
					e[k] = v
				}
				if k == 10 && i == 3 {
					e["status"] = "won" // line 44: invalid
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	send := func(query string) (int, map[string]any) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(write(pw)) }()
		req, err := http.NewRequest("POST", h.url+"/v1/events/import"+query, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+ingest)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, out
	}

	status, out := send("?all_or_nothing=true")
	if status != 200 || out["refused"] != true || out["accepted"] != 0.0 || importCount(t, h, "SELECT count(*) FROM events") != 0 {
		t.Fatalf("all or nothing: %d %v, want refused with nothing stored", status, out)
	}
	status, out = send("")
	if status != 200 || out["lines"] != 20000.0 || out["accepted"] != 19999.0 || out["duplicate"] != 0.0 || out["rejected"] != 1.0 {
		t.Fatalf("import: %d %v", status, out)
	}
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["line"] != 44.0 || errs[0].(map[string]any)["field"] != "status" {
		t.Errorf("errors %v, want line 44, field status", errs)
	}
	if n := importCount(t, h, "SELECT count(*) FROM events"); n != 19999 {
		t.Errorf("%d events stored, want 19999", n)
	}
	// Outbox rows as ingest writes them: every event but the usage of tasks opened earlier.
	if n := importCount(t, h, "SELECT count(*) FROM outbox"); n != 19999 {
		t.Errorf("%d outbox rows, want 19999 (tasks opened by their first line)", n)
	}
	status, out = send("")
	if status != 200 || out["accepted"] != 0.0 || out["duplicate"] != 19999.0 || out["rejected"] != 1.0 {
		t.Errorf("re-import: %d %v, want all duplicates", status, out)
	}
	if r := h.doRaw("POST", "/v1/events/import", ingest, "application/json", "{}"); r.Status != http.StatusBadRequest {
		t.Errorf("JSON body: %d %s, want 400", r.Status, r.Body)
	}
	if r := h.doRaw("POST", "/v1/events/import", h.key("finance"), "application/x-ndjson", "{}\n"); r.Status != http.StatusForbidden {
		t.Errorf("finance key: %d %s, want 403", r.Status, r.Body)
	}
}

func importCount(t *testing.T, h *harness, query string) int {
	t.Helper()
	var n int
	if err := h.db.Pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
