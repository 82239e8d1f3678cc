package billing

import (
	"testing"
	"time"
)

func TestPeriodContaining(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	tests := []struct {
		name       string
		at         string
		loc        *time.Location
		anchor     int
		start, end string
	}{
		{"utc month", "2026-03-15T10:00:00Z", time.UTC, 1, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"exactly at the start", "2026-03-01T00:00:00Z", time.UTC, 1, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"just before the start", "2026-02-28T23:59:59Z", time.UTC, 1, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"anchor 15, before it", "2026-03-10T00:00:00Z", time.UTC, 15, "2026-02-15T00:00:00Z", "2026-03-15T00:00:00Z"},
		{"anchor across the year", "2026-01-05T00:00:00Z", time.UTC, 15, "2025-12-15T00:00:00Z", "2026-01-15T00:00:00Z"},
		// 23:30 UTC on Feb 28 is already March 1 in Berlin.
		{"customer's zone decides", "2026-02-28T23:30:00Z", berlin, 1, "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"},
		{"tokyo", "2026-05-14T16:00:00Z", tokyo, 15, "2026-05-14T15:00:00Z", "2026-06-14T15:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, tt.at)
			p := PeriodContaining(at, tt.loc, tt.anchor)
			if got := p.Start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := p.End.Format(time.RFC3339); got != tt.end {
				t.Errorf("end = %s, want %s", got, tt.end)
			}
			if !p.Contains(at) {
				t.Errorf("%s does not contain %s", p, tt.at)
			}
		})
	}
}

func TestLastClosedPeriodWaitsForTheGrace(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	// The March period closes at April 1 00:00; with 24 h grace it is billed from April 2 on.
	if p := LastClosedPeriod(at("2026-04-01T12:00:00Z"), time.UTC, 1, DefaultGracePeriod); p.Start != at("2026-02-01T00:00:00Z") {
		t.Errorf("inside the grace: %s, want February", p)
	}
	if p := LastClosedPeriod(at("2026-04-02T00:00:00Z"), time.UTC, 1, DefaultGracePeriod); p.Start != at("2026-03-01T00:00:00Z") {
		t.Errorf("after the grace: %s, want March", p)
	}
}
