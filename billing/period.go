package billing

import (
	"fmt"
	"time"
)

// Period is a half-open billing period [Start, End): a task that became billable at End belongs
// to the next period.
type Period struct {
	Start time.Time
	End   time.Time
}

// Contains reports whether t falls in the period.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// Key names the period in workflow IDs and logs: 20260101-20260201 in the customer's zone.
func (p Period) Key(loc *time.Location) string {
	return p.Start.In(loc).Format("20060102") + "-" + p.End.In(loc).Format("20060102")
}

func (p Period) String() string {
	return fmt.Sprintf("[%s, %s)", p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
}

// DefaultGracePeriod is how long after a period ends late events may still land in it before the
// draft is built (DESIGN.md §5).
const DefaultGracePeriod = 24 * time.Hour

// PeriodContaining returns the monthly billing period that contains t for a customer billed in
// loc from anchorDay (1–28) of each month, midnight local time. Periods follow the wall clock, so
// a period that spans a daylight-saving change is an hour shorter or longer, as the customer sees it.
func PeriodContaining(t time.Time, loc *time.Location, anchorDay int) Period {
	local := t.In(loc)
	start := time.Date(local.Year(), local.Month(), anchorDay, 0, 0, 0, 0, loc)
	if local.Before(start) {
		start = start.AddDate(0, -1, 0)
	}
	return Period{Start: start.UTC(), End: start.AddDate(0, 1, 0).UTC()}
}

// Previous returns the period before p for the same customer.
func (p Period) Previous(loc *time.Location) Period {
	start := p.Start.In(loc)
	return Period{Start: start.AddDate(0, -1, 0).UTC(), End: p.Start}
}

// LastClosedPeriod returns the latest period whose end plus grace is at or before now: the one an
// invoice run at now should bill.
func LastClosedPeriod(now time.Time, loc *time.Location, anchorDay int, grace time.Duration) Period {
	return PeriodContaining(now.Add(-grace), loc, anchorDay).Previous(loc)
}

// CustomerPeriod is PeriodContaining for a customer.
func (c Customer) PeriodContaining(t time.Time) (Period, error) {
	loc, err := LoadLocation(c.Timezone)
	if err != nil {
		return Period{}, err
	}
	return PeriodContaining(t, loc, c.AnchorDay), nil
}
