package main

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
)

// newAlertWatcher returns the worker's alert loop (postgres.AlertWatcher): spend and margin_floor
// alerts evaluated as tasks bill, and credits.expiring notices at the days before expiry that
// OUTCOMEBILL_CREDITS_EXPIRING_DAYS lists. Periods that ended more than grace ago are left to
// their invoice runs.
func newAlertWatcher(db *postgres.DB, grace time.Duration, log *slog.Logger) *postgres.AlertWatcher {
	days, err := parseNoticeDays(os.Getenv("OUTCOMEBILL_CREDITS_EXPIRING_DAYS"))
	if err != nil {
		log.Warn("ignoring OUTCOMEBILL_CREDITS_EXPIRING_DAYS", "error", err, "using", billing.DefaultCreditExpiryNotice)
		days = []int{billing.DefaultCreditExpiryNotice}
	}
	return &postgres.AlertWatcher{DB: db, Grace: grace, ExpiryNotices: days, Logger: log}
}

// parseNoticeDays reads the days before expiry at which prepaid grants announce it: "" for the
// default (7), "off" (or "0") for none, or a comma-separated list such as "30,7,1".
func parseNoticeDays(v string) ([]int, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "":
		return []int{billing.DefaultCreditExpiryNotice}, nil
	case "off", "none", "0":
		return []int{}, nil
	}
	var out []int
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 366 {
			return nil, fmt.Errorf("%q is not a number of days from 1 to 366; want a list such as 30,7,1, or off", part)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
