package postgres

import (
	"context"
	"time"
)

// runPasses calls pass until ctx ends: again at once while a pass says more work is waiting,
// after idle when it does not, and, while passes fail (the database is down), after idle doubled
// for each failure in a row — at most maxDoublings times, and at most a minute. failed hears of
// each failure and the wait before the next try. The background loops of the worker (the
// economics folder, the alert watcher) share it.
func runPasses(ctx context.Context, idle time.Duration, maxDoublings int,
	pass func(context.Context) (more bool, err error), failed func(err error, retryIn time.Duration)) error {
	failures := 0
	for {
		more, err := pass(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := idle
		switch {
		case err != nil:
			failures++
			wait = min(idle<<min(failures, maxDoublings), time.Minute)
			failed(err, wait)
		case more:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
}
