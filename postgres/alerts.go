package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

// Alerts evaluated off the request path (issue 9). Spend and margin_floor alerts are evaluated
// twice over:
//   - whenever a period's draft is built (invoiceDraftedWebhook), on the draft's figures;
//   - while the period is open, as its tasks bill: SaveTaskState marks the customer in alert_checks
//     in the transaction that moves a task into or out of billable, and the worker's AlertWatcher
//     rates the marked periods as they stand (the draft a run would build now, without writing
//     it) and fires what their figures cross.
//
// Both end in fireAlert, whose alert_firings key (alert, period start) makes an alert fire once
// per period whichever path gets there first. The watcher also sends credits.expiring for prepaid
// grants whose expiry is near (NotifyExpiringCredits).

// evaluatePeriodAlerts evaluates the customer's spend and margin_floor alerts for a period whose
// charges before prepaid credit come to subtotal in cur — the period's revenue — and fires those
// whose condition holds, returning how many fired now. Customers without such alerts cost one
// indexed query.
func evaluatePeriodAlerts(ctx context.Context, tx pgx.Tx, customerID string, cur money.Currency, p billing.Period,
	subtotal decimal.Decimal, basis, invoiceID string, now time.Time) (fired int, err error) {
	alerts, err := alertsOf(ctx, tx, customerID, cur, billing.AlertSpend, billing.AlertMarginFloor)
	if err != nil || len(alerts) == 0 {
		return 0, err
	}
	var margin *billing.PeriodMargin
	for _, a := range alerts {
		switch a.Kind {
		case billing.AlertSpend:
			if !a.Fires(subtotal) {
				continue
			}
			data := billing.AlertWebhookData{AlertID: a.ID, CustomerID: a.CustomerID, Kind: a.Kind,
				Threshold: money.New(a.Threshold, a.Currency).Display(), Value: money.New(subtotal, cur).Display(),
				Currency: string(cur), PeriodStart: p.Start.UTC(), PeriodEnd: p.End.UTC(), Basis: basis, InvoiceID: invoiceID}
			ok, err := fireAlert(ctx, tx, a, p.Start, subtotal, data, now)
			if err != nil {
				return fired, err
			}
			if ok {
				fired++
			}
		case billing.AlertMarginFloor:
			if margin == nil {
				m, err := periodMargin(ctx, tx, customerID, cur, p, subtotal)
				if err != nil {
					return fired, err
				}
				margin = &m
			}
			_, _, percent, ok := margin.Figures()
			if !ok || !a.Fires(percent) {
				continue // no revenue yet (or no rate): nothing to hold against the floor
			}
			ok, err := fireAlert(ctx, tx, a, p.Start, percent, billing.NewMarginWebhookData(a, *margin, basis, invoiceID), now)
			if err != nil {
				return fired, err
			}
			if ok {
				fired++
			}
		}
	}
	return fired, nil
}

// periodMargin reads the cost of a customer's period — every task whose status_at falls in it,
// from the economics rollups corrected for the tasks not yet folded, as the margin view reads it —
// and the USD rate in force at its end.
func periodMargin(ctx context.Context, tx pgx.Tx, customerID string, cur money.Currency, p billing.Period, revenue decimal.Decimal) (billing.PeriodMargin, error) {
	m := billing.PeriodMargin{CustomerID: customerID, Period: p, Currency: cur, Revenue: revenue}
	ks, ids, from, to := spanArrays([]span{{0, customerID, p.Start, p.End}})
	rows, err := tx.Query(ctx, cellsByStatus, ks, ids, from, to, nil)
	if err != nil {
		return m, fmt.Errorf("cost of %s in %s: %w", customerID, p, err)
	}
	for rows.Next() {
		var k int
		var c billing.EconomicsCell
		var status string
		if err := rows.Scan(&k, &c.OutcomeType, &c.Model, &status, &c.Tasks, &c.Succeeded, &c.Partial, &c.Failed,
			&c.Escalated, &c.QualitySum, &c.QualityN, &c.CostUSD, &c.Unpriced); err != nil {
			rows.Close()
			return m, fmt.Errorf("cost of %s in %s: %w", customerID, p, err)
		}
		m.CostUSD, m.Unpriced = m.CostUSD.Add(c.CostUSD), m.Unpriced+c.Unpriced
	}
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("cost of %s in %s: %w", customerID, p, err)
	}
	if cur != money.USD {
		rates, err := usdRates(ctx, tx, []string{string(cur)}, p.End)
		if err != nil {
			return m, err
		}
		if r, ok := rates[cur]; ok {
			m.Rate = &r
		}
	}
	return m, nil
}

// queueAlertCheck queues on b, for the caller's transaction (SaveTaskState's), a mark asking the
// alert evaluator to look at the customer's period containing at — when the customer has a spend
// or margin_floor alert; others write nothing. Marks of one customer gather in one row until it is
// evaluated. That row is the price of evaluating as tasks bill: concurrent saves of one such
// customer's tasks take its lock in turn, for the moment between the mark and their commit.
func queueAlertCheck(b *pgx.Batch, customerID string, at time.Time) {
	b.Queue(`
		INSERT INTO alert_checks (customer_id, billed_from, billed_to, marked_at, available_at)
		SELECT $1, $2, $2, now(), now()
		WHERE EXISTS (SELECT 1 FROM alerts WHERE customer_id = $1 AND kind IN ('spend', 'margin_floor') AND deleted_at IS NULL)
		ON CONFLICT (customer_id) DO UPDATE SET billed_from = least(alert_checks.billed_from, EXCLUDED.billed_from),
			billed_to = greatest(alert_checks.billed_to, EXCLUDED.billed_to), marks = alert_checks.marks + 1`,
		customerID, at)
}

// ClaimAlertChecks hands up to limit customers whose marks have settled (the first is at least
// settle old: a burst of billings is evaluated once) to one evaluator and hides them from others
// for lease.
func (db *DB) ClaimAlertChecks(ctx context.Context, limit int, settle, lease time.Duration) ([]billing.AlertCheck, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH due AS (
			SELECT customer_id FROM alert_checks WHERE available_at <= now() - $2::interval
			ORDER BY available_at LIMIT $1 FOR UPDATE SKIP LOCKED
		)
		UPDATE alert_checks c SET available_at = now() + $3::interval FROM due WHERE c.customer_id = due.customer_id
		RETURNING c.customer_id, c.billed_from, c.billed_to, c.marks`, limit, settle, lease)
	if err != nil {
		return nil, fmt.Errorf("claim alert checks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.AlertCheck, error) {
		var c billing.AlertCheck
		err := r.Scan(&c.CustomerID, &c.From, &c.To, &c.Marks)
		c.From, c.To = c.From.UTC(), c.To.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim alert checks: %w", err)
	}
	return out, nil
}

// EvaluateAlertCheck evaluates a claimed customer's spend and margin_floor alerts for the
// billing periods its marks touched that are still open — ending after now minus grace; older
// ones are their invoice runs' to evaluate, so a backfill of last year's tasks raises no alerts
// for last year — and then releases the claim: the row goes when no mark came in meanwhile, else it
// is due again once its marks settle. Rating errors a person must fix (no subscription yet, no exchange
// rate) leave nothing to evaluate and are not errors here.
func (db *DB) EvaluateAlertCheck(ctx context.Context, c billing.AlertCheck, grace time.Duration) (fired int, err error) {
	now := db.Now()
	cust, err := db.Customer(ctx, c.CustomerID)
	if err != nil {
		return 0, err
	}
	loc, err := billing.LoadLocation(cust.Timezone)
	if err != nil {
		return 0, fmt.Errorf("customer %s timezone %q: %w", cust.ID, cust.Timezone, err)
	}
	// The periods the marks touched, newest first, that end after now − grace: a handful at most.
	var periods []billing.Period
	for p := billing.PeriodContaining(c.To, loc, cust.AnchorDay); p.End.After(c.From) && p.End.After(now.Add(-grace)) && len(periods) < 3; p = p.Previous(loc) {
		periods = append(periods, p)
	}
	for _, p := range periods {
		n, err := db.evaluateOpenPeriod(ctx, cust, p, now)
		if err != nil {
			return fired, fmt.Errorf("alerts of %s for %s: %w", cust.ID, p, err)
		}
		fired += n
	}
	_, err = db.Pool.Exec(ctx, `
		WITH gone AS (DELETE FROM alert_checks WHERE customer_id = $1 AND marks = $2 RETURNING 1)
		UPDATE alert_checks SET available_at = now() WHERE customer_id = $1 AND NOT EXISTS (SELECT 1 FROM gone)`,
		c.CustomerID, c.Marks)
	if err != nil {
		return fired, fmt.Errorf("release alert check of %s: %w", c.CustomerID, err)
	}
	return fired, nil
}

// evaluateOpenPeriod rates a customer's period as it stands in one read-only snapshot and fires
// the alerts its figures cross in a second, short transaction (re-reading the alerts, so that one
// deleted meanwhile stays quiet). It returns how many fired.
func (db *DB) evaluateOpenPeriod(ctx context.Context, c billing.Customer, p billing.Period, now time.Time) (int, error) {
	// Once every alert has fired for the period there is nothing left to find: a customer billing
	// all month long costs one rating per settle interval only until its alerts have fired.
	var open int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM alerts a
		WHERE a.customer_id = $1 AND a.kind IN ('spend', 'margin_floor') AND a.deleted_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM alert_firings f WHERE f.alert_id = a.id AND f.period_start = $2)`,
		c.ID, p.Start).Scan(&open); err != nil {
		return 0, err
	}
	if open == 0 {
		return 0, nil
	}
	var subtotal decimal.Decimal
	err := db.readOnly(ctx, func(tx pgx.Tx) error {
		res, _, err := ratePeriod(ctx, tx, c.ID, p.Start, p.End)
		if err != nil {
			return err
		}
		subtotal = res.Subtotal
		return nil
	})
	switch billing.ErrorCode(err) {
	case "":
	case billing.EINVALID, billing.ENOTFOUND:
		return 0, nil
	default:
		return 0, err
	}
	var fired int
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		fired, err = evaluatePeriodAlerts(ctx, tx, c.ID, c.Currency, p, subtotal, billing.BasisPeriodToDate, "", now)
		return err
	})
	return fired, err
}

// NotifyExpiringCredits sends credits.expiring for up to limit prepaid grants with credit left
// whose expiry is within one of thresholds (days before expiry) and that have not had that notice
// (billing.CreditExpiryNotice decides which). Each grant's notice is recorded and its webhook
// written in one transaction, under a lock that other workers skip, so a notice goes out once.
func (db *DB) NotifyExpiringCredits(ctx context.Context, thresholds []int, limit int) (sent int, err error) {
	thresholds = slices.DeleteFunc(slices.Clone(thresholds), func(d int) bool { return d <= 0 })
	if len(thresholds) == 0 {
		return 0, nil
	}
	now := db.Now()
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		// The filter is CreditExpiryNotice's rule in SQL, so that grants already notified do not
		// fill every batch; the rule is applied again to each row read.
		rows, err := tx.Query(ctx, `
			SELECT g.customer_id, g.id, g.currency, g.amount, g.remaining, g.expires_at,
				ARRAY(SELECT n.days FROM credit_expiry_notices n WHERE n.customer_id = g.customer_id AND n.grant_id = g.id)
			FROM credit_grants g
			CROSS JOIN LATERAL (SELECT min(t.d) AS d FROM unnest($2::int[]) AS t(d) WHERE g.expires_at <= $1::timestamptz + t.d * interval '24 hours') s
			WHERE g.remaining > 0 AND g.expires_at > $1::timestamptz AND g.expires_at <= $1::timestamptz + $3::int * interval '24 hours' AND s.d IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM credit_expiry_notices n WHERE n.customer_id = g.customer_id AND n.grant_id = g.id AND n.days <= s.d)
			ORDER BY g.expires_at, g.customer_id, g.id LIMIT $4
			FOR UPDATE OF g SKIP LOCKED`, now, thresholds, slices.Max(thresholds), limit)
		if err != nil {
			return err
		}
		type due struct {
			g    billing.CreditGrant
			had  []int32
			days int
		}
		var list []due
		for rows.Next() {
			var d due
			var cur string
			if err := rows.Scan(&d.g.CustomerID, &d.g.ID, &cur, &d.g.Amount.Amount, &d.g.Remaining, &d.g.ExpiresAt, &d.had); err != nil {
				rows.Close()
				return err
			}
			d.g.Amount.Currency = money.Currency(cur)
			list = append(list, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range list {
			had := make([]int, len(d.had))
			for i, h := range d.had {
				had[i] = int(h)
			}
			days, ok := billing.CreditExpiryNotice(thresholds, d.g.ExpiresAt, now, had)
			if !ok {
				continue
			}
			tag, err := tx.Exec(ctx, `INSERT INTO credit_expiry_notices (customer_id, grant_id, days, expires_at, remaining, notified_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, d.g.CustomerID, d.g.ID, days, d.g.ExpiresAt, d.g.Remaining, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			data := billing.NewCreditExpiringWebhookData(d.g, days)
			if err := emitWebhook(ctx, tx, billing.WebhookCreditsExpiring, d.g.CustomerID, d.g.ID, data, now); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("notify expiring credits: %w", err)
	}
	return sent, nil
}

// AlertFirings lists alert firings matching f, newest first, with the alert each belongs to.
func (db *DB) AlertFirings(ctx context.Context, f billing.AlertFiringFilter, p billing.Page) ([]billing.AlertFiring, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	// The cursor is the seq of the last firing shown; the query compares numbers, so it is checked
	// to be one here rather than failing the cast in PostgreSQL.
	if key, err := cursorKey(p); err != nil {
		return nil, "", err
	} else if key != "" {
		if _, err := strconv.ParseInt(key, 10, 64); err != nil {
			return nil, "", billing.Invalid("cursor", "is not a cursor this API returned")
		}
	}
	return listPage(ctx, db, p, `SELECT f.seq, f.alert_id, a.customer_id, a.kind, a.threshold, a.currency, f.period_start,
			f.value, f.fired_at, f.data
		FROM alert_firings f JOIN alerts a ON a.id = f.alert_id
		WHERE f.seq < COALESCE(NULLIF($1, '')::bigint, 9223372036854775807) AND ($3 = '' OR a.customer_id = $3) AND ($4 = '' OR a.kind = $4)
		ORDER BY f.seq DESC LIMIT $2`,
		func(row pgx.Row) (billing.AlertFiring, error) {
			var a billing.AlertFiring
			var kind, cur string
			err := row.Scan(&a.Seq, &a.AlertID, &a.CustomerID, &kind, &a.Threshold, &cur, &a.PeriodStart, &a.Value, &a.FiredAt, &a.Data)
			a.Kind, a.Currency, a.PeriodStart, a.FiredAt = billing.AlertKind(kind), money.Currency(cur), a.PeriodStart.UTC(), a.FiredAt.UTC()
			return a, err
		},
		func(a billing.AlertFiring) string { return strconv.FormatInt(a.Seq, 10) }, f.CustomerID, string(f.Kind))
}

// AlertWatcher is the worker's loop for alerts that are not evaluated inside a request: it
// evaluates the spend and margin_floor alerts of customers whose tasks billed (alert_checks) and
// sends credits.expiring notices. Several may run, in one process or many: claims are leased and
// notices taken under row locks others skip.
type AlertWatcher struct {
	DB *DB
	// Settle is how long a customer's first mark waits before it is evaluated, so that a burst of
	// tasks billing is rated once; default 10 s.
	Settle time.Duration
	// Lease hides a claimed customer from other watchers; default 2 minutes.
	Lease time.Duration
	// Grace: periods that ended longer ago than this are left to their invoice runs; default
	// billing.DefaultGracePeriod.
	Grace time.Duration
	// Interval is the pause between passes that found nothing to do; default 5 s.
	Interval time.Duration
	// ExpiryNotices are the days before expiry at which prepaid grants announce it (nil:
	// billing.DefaultCreditExpiryNotice; empty: none); ExpiryEvery how often grants are looked at
	// (default 1 minute).
	ExpiryNotices []int
	ExpiryEvery   time.Duration
	Logger        *slog.Logger

	lastExpiry time.Time
}

// AlertCheckBatch is how many customers one pass of the watcher claims.
const AlertCheckBatch = 20

func (w *AlertWatcher) defaults() {
	if w.Settle <= 0 {
		w.Settle = 10 * time.Second
	}
	if w.Lease <= 0 {
		w.Lease = 2 * time.Minute
	}
	if w.Grace <= 0 {
		w.Grace = billing.DefaultGracePeriod
	}
	if w.Interval <= 0 {
		w.Interval = 5 * time.Second
	}
	if w.ExpiryNotices == nil {
		w.ExpiryNotices = []int{billing.DefaultCreditExpiryNotice}
	}
	if w.ExpiryEvery <= 0 {
		w.ExpiryEvery = time.Minute
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
}

// Pass evaluates one batch of marked customers and, when ExpiryEvery has passed, sends the
// expiry notices due. It returns how many customers it evaluated; a customer that fails is
// logged and left to its lease, to be tried again.
func (w *AlertWatcher) Pass(ctx context.Context) (int, error) {
	w.defaults()
	var errs []error
	if time.Since(w.lastExpiry) >= w.ExpiryEvery {
		for {
			n, err := w.DB.NotifyExpiringCredits(ctx, w.ExpiryNotices, 100)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if n < 100 {
				w.lastExpiry = time.Now()
				break
			}
		}
	}
	checks, err := w.DB.ClaimAlertChecks(ctx, AlertCheckBatch, w.Settle, w.Lease)
	if err != nil {
		return 0, errors.Join(append(errs, err)...)
	}
	for _, c := range checks {
		if _, err := w.DB.EvaluateAlertCheck(ctx, c, w.Grace); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			w.Logger.Warn("alerts: evaluating a customer failed; retried after its lease", "customer_id", c.CustomerID, "error", err)
		}
	}
	return len(checks), errors.Join(errs...)
}

// Run makes passes until ctx ends: again at once after a full batch, after Interval otherwise,
// backing off up to a minute while passes fail (the database is down).
func (w *AlertWatcher) Run(ctx context.Context) error {
	w.defaults()
	return runPasses(ctx, w.Interval, 6, func(ctx context.Context) (bool, error) {
		n, err := w.Pass(ctx)
		return n >= AlertCheckBatch, err
	}, func(err error, wait time.Duration) {
		w.Logger.Warn("alerts: pass failed", "error", err, "retry_in", wait)
	})
}
