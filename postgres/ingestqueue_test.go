package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/outcomebill/outcomebill/billing"
)

func TestIngestQueueTake(t *testing.T) {
	call := func(ids ...string) *ingestCall {
		c := &ingestCall{}
		for _, id := range ids {
			c.batch = append(c.batch, billing.IncomingEvent{Event: billing.Event{ID: id}})
		}
		return c
	}
	many := func(prefix string, n int) *ingestCall {
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf("%s%d", prefix, i))
		}
		return call(ids...)
	}
	for _, tc := range []struct {
		name    string
		pending []*ingestCall
		want    string // the ids of the calls taken, one group per call
		left    int
	}{
		{"nothing waiting", nil, "", 0},
		{"one call", []*ingestCall{call("a")}, "[a]", 0},
		{"calls with distinct ids go together", []*ingestCall{call("a"), call("b", "c"), call("d")}, "[a] [b c] [d]", 0},
		{"a repeat inside one call stays with it", []*ingestCall{call("a", "a"), call("b")}, "[a a] [b]", 0},
		{"a call sharing an id waits for the next statement, and so do those after it",
			[]*ingestCall{call("a"), call("b"), call("a"), call("c")}, "[a] [b]", 2},
		{"at most coalesceMax events", []*ingestCall{many("x", 99), many("y", 99), many("z", 99), many("w", 99), many("v", 99),
			many("u", 99), many("s", 99), many("r", 99), many("q", 99), many("p", 99), many("o", 99)}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &ingestQueue{pending: tc.pending, flushers: 1}
			taken := q.take()
			var groups []string
			events := 0
			for _, c := range taken {
				var ids []string
				for _, e := range c.batch {
					ids = append(ids, e.Event.ID)
				}
				events += len(ids)
				groups = append(groups, "["+strings.Join(ids, " ")+"]")
			}
			if tc.want != "" && strings.Join(groups, " ") != tc.want {
				t.Errorf("took %s, want %s", strings.Join(groups, " "), tc.want)
			}
			if events > coalesceMax {
				t.Errorf("took %d events, more than %d", events, coalesceMax)
			}
			if len(q.pending) != tc.left {
				t.Errorf("%d calls left waiting, want %d", len(q.pending), tc.left)
			}
			if wantFlushers := map[bool]int{true: 0, false: 1}[len(taken) == 0]; q.flushers != wantFlushers {
				t.Errorf("%d flushers after take, want %d", q.flushers, wantFlushers)
			}
		})
	}
}
