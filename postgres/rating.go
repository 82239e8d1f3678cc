package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

// RatePeriod rates a customer's tasks that became billable in [from, to) with the subscription in
// force at the end of the period, and applies the customer's live credit grants. It reads one
// consistent snapshot and changes nothing: the invoice run stores the result and applies its
// draws (applyCreditDraws) in its own transaction.
//
// Outcomes are counted in SQL, grouped by outcome type, outcome and priority, so memory grows with
// the plan's lines, never with the number of tasks. That holds for labor_share too: a customer's
// labor baseline is per outcome type, so every task of a type has the same labor cost and the
// per-outcome floor and cap give the same price to each; the counts with their one baseline rate
// exactly as the tasks streamed one by one would.
func (db *DB) RatePeriod(ctx context.Context, customerID string, from, to time.Time) (res pricing.Result, info billing.RatingInfo, err error) {
	if !from.Before(to) {
		return res, info, billing.Invalid("to", "must be after from")
	}
	err = pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		res, info, err = ratePeriod(ctx, tx, customerID, from, to)
		return err
	})
	if err != nil {
		return pricing.Result{}, billing.RatingInfo{}, fmt.Errorf("rate customer %s from %s to %s: %w",
			customerID, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return res, info, nil
}

func ratePeriod(ctx context.Context, tx pgx.Tx, customerID string, from, to time.Time) (pricing.Result, billing.RatingInfo, error) {
	return ratePeriodWith(ctx, tx, customerID, from, to, nil)
}

// ratePeriodWith is ratePeriod with what o replaces (a what-if simulation); nil replaces nothing.
// A replacement plan stands in for the plan in force and its subscription's overrides; o's
// overrides then apply on top, and o's baselines win over the outcome types' and the customer's.
func ratePeriodWith(ctx context.Context, tx pgx.Tx, customerID string, from, to time.Time, o *billing.RatingOverride) (pricing.Result, billing.RatingInfo, error) {
	var info billing.RatingInfo
	var cur string
	if err := tx.QueryRow(ctx, `SELECT currency FROM customers WHERE id = $1`, customerID).Scan(&cur); err != nil {
		return pricing.Result{}, info, interpretError(err, "customer", customerID)
	}
	plan, sub, err := planInForce(ctx, tx, customerID, to)
	if err != nil {
		return pricing.Result{}, info, err
	}
	info.SubscriptionID, info.PlanID, info.PlanVersion = sub.ID, plan.ID, plan.Version
	v := sub.Overrides.Apply(plan.Pricing)
	v.PlanID, v.Version = plan.ID, plan.Version
	var replace map[string]billing.LaborBaseline
	if o != nil {
		if o.Plan != nil {
			v = *o.Plan
			info.PlanID, info.PlanVersion = v.PlanID, v.Version
			plan.ID, plan.Version = v.PlanID, v.Version
		}
		v = o.Overrides.Apply(v)
		replace = o.Baselines
	}
	if v.Currency != money.Currency(cur) {
		return pricing.Result{}, info, billing.Errorf(billing.EINVALID, "plan %s version %d is priced in %s but the customer is billed in %s",
			plan.ID, plan.Version, v.Currency, cur)
	}
	rater, err := pricing.NewRater(v)
	if err != nil {
		return pricing.Result{}, info, fmt.Errorf("plan %s version %d with subscription %s overrides: %w", plan.ID, plan.Version, sub.ID,
			billing.PricingError("", err))
	}
	laborTypes := map[string]bool{}
	needCost, needMeters, needTransactions := false, false, false
	for _, c := range v.Prices {
		switch {
		case c.Model == pricing.ModelLaborShare:
			laborTypes[c.OutcomeType] = true
		case c.Model == pricing.ModelCostPlus:
			needCost = true
		case c.Model == pricing.ModelPercentage:
			needTransactions = true
		case c.Meter != "":
			needMeters = true
		}
	}

	// The USD rate is needed to convert cost for cost_plus and USD baselines for labor_share.
	var rate *decimal.Decimal
	usdRate := func() (*decimal.Decimal, error) {
		if rate == nil {
			r, err := exchangeRate(ctx, tx, v.Currency, to)
			if err != nil {
				return nil, err
			}
			rate = r
			info.ExchangeRate = r
		}
		return rate, nil
	}

	baselines, err := laborBaselines(ctx, tx, customerID, laborTypes, v.Currency, usdRate, replace)
	if err != nil {
		return pricing.Result{}, info, err
	}
	if err := countOutcomes(ctx, tx, rater, customerID, from, to, baselines, &info); err != nil {
		return pricing.Result{}, info, err
	}
	if needCost {
		if v.Currency != money.USD {
			if _, err := usdRate(); err != nil {
				return pricing.Result{}, info, err
			}
		}
		if err := addCost(ctx, tx, rater, customerID, from, to, &info); err != nil {
			return pricing.Result{}, info, err
		}
	}
	if needMeters {
		if err := addMeters(ctx, tx, rater, customerID, from, to); err != nil {
			return pricing.Result{}, info, err
		}
	}
	if needTransactions {
		if err := addTransactions(ctx, tx, rater, customerID, from, to); err != nil {
			return pricing.Result{}, info, err
		}
	}
	credits, err := liveCredits(ctx, tx, customerID, v.Currency, from)
	if err != nil {
		return pricing.Result{}, info, err
	}
	res, err := rater.Finish(pricing.Period{End: to, ExchangeRate: rate, Credits: credits})
	if err != nil {
		return pricing.Result{}, info, billing.PricingError("", err)
	}
	for _, n := range res.Unpriced {
		info.UnpricedOutcomes += n
	}
	return res, info, nil
}

// planInForce returns the subscription in force at the end of the period (the last one starting
// before to) and the plan version it rates with: the pinned one, or for a subscription following
// the latest, the newest version created before the period ended — a plan edited after the
// period does not reprice it. A plan created only after the period rates it with version 1.
func planInForce(ctx context.Context, tx pgx.Tx, customerID string, to time.Time) (billing.Plan, billing.Subscription, error) {
	sub, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE customer_id = $1 AND starts_at < $2 ORDER BY starts_at DESC LIMIT 1`, customerID, to))
	if err == pgx.ErrNoRows {
		return billing.Plan{}, sub, billing.Errorf(billing.ENOTFOUND, "customer %q has no subscription starting before %s", customerID, to.Format(time.RFC3339))
	}
	if err != nil {
		return billing.Plan{}, sub, err
	}
	var plan billing.Plan
	if sub.PlanVersion != 0 {
		plan, _, err = scanPlanVersion(tx.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v
			WHERE v.plan_id = $1 AND v.version = $2`, sub.PlanID, sub.PlanVersion))
	} else {
		plan, _, err = scanPlanVersion(tx.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v
			WHERE v.plan_id = $1 ORDER BY v.created_at < $2 DESC, CASE WHEN v.created_at < $2 THEN -v.version ELSE v.version END
			LIMIT 1`, sub.PlanID, to))
	}
	return plan, sub, interpretError(err, "plan", sub.PlanID)
}

// exchangeRate returns the rate from USD to c in force at the end of the period.
func exchangeRate(ctx context.Context, tx pgx.Tx, c money.Currency, to time.Time) (*decimal.Decimal, error) {
	var r decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT rate FROM exchange_rates WHERE currency = $1 AND effective_from < $2
		ORDER BY effective_from DESC LIMIT 1`, string(c), to).Scan(&r)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("%w: %w", billing.Errorf(billing.EINVALID,
			"no USD→%s exchange rate in force before %s: costs are in USD and are never converted 1:1; add a rate", c, to.Format(time.RFC3339)),
			pricing.ErrNoExchangeRate)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange rate %s: %w", c, err)
	}
	return &r, nil
}

// SourceSimulation marks a labor baseline a what-if simulation put in place.
const SourceSimulation pricing.BaselineSource = "simulation"

// laborBaselines resolves the labor baseline of each outcome type a labor_share charge prices: the
// customer's override wins over the outcome type's figures, and replace (a simulation's) over
// both. A baseline in USD is converted into a plan in another currency with the period's rate;
// any other currency mismatch is an error.
func laborBaselines(ctx context.Context, tx pgx.Tx, customerID string, types map[string]bool, c money.Currency,
	usdRate func() (*decimal.Decimal, error), replace map[string]billing.LaborBaseline) (map[string]*pricing.Baseline, error) {
	out := make(map[string]*pricing.Baseline, len(types))
	if len(types) == 0 {
		return out, nil
	}
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	rows, err := tx.Query(ctx, `
		SELECT o.key, COALESCE(b.human_minutes, o.human_minutes), COALESCE(b.annual_cost, o.annual_cost),
			COALESCE(b.annual_cost_currency, o.annual_cost_currency), COALESCE(b.productive_hours, o.productive_hours),
			b.customer_id IS NOT NULL
		FROM outcome_types o LEFT JOIN baseline_overrides b ON b.outcome_type = o.key AND b.customer_id = $1
		WHERE o.key = ANY($2)`, customerID, keys)
	if err != nil {
		return nil, fmt.Errorf("labor baselines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, bc string
		var override bool
		b := &pricing.Baseline{Source: pricing.SourceOutcomeType}
		if err := rows.Scan(&key, &b.HumanMinutes, &b.AnnualCost.Amount, &bc, &b.ProductiveHours, &override); err != nil {
			return nil, fmt.Errorf("labor baselines: %w", err)
		}
		if override {
			b.Source = pricing.SourceCustomerOverride
		}
		b.AnnualCost.Currency = money.Currency(bc)
		out[key] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("labor baselines: %w", err)
	}
	for key, lb := range replace {
		if types[key] {
			out[key] = &pricing.Baseline{HumanMinutes: lb.HumanMinutes, AnnualCost: lb.AnnualCost, ProductiveHours: lb.ProductiveHours,
				Source: SourceSimulation}
		}
	}
	for key, b := range out {
		switch {
		case b.AnnualCost.Currency == c:
		case b.AnnualCost.Currency == money.USD:
			r, err := usdRate()
			if err != nil {
				return nil, fmt.Errorf("labor baseline of %s is in USD: %w", key, err)
			}
			b.AnnualCost = money.New(b.AnnualCost.Amount.Mul(*r), c)
		default:
			return nil, billing.Errorf(billing.EINVALID, "the labor baseline of %s is in %s but the plan in %s; only USD figures are converted",
				key, b.AnnualCost.Currency, c)
		}
	}
	return out, nil
}

// countOutcomes counts the period's billable tasks per outcome type, outcome and priority in SQL
// and hands each outcome type's counts to the rater.
func countOutcomes(ctx context.Context, tx pgx.Tx, r *pricing.Rater, customerID string, from, to time.Time,
	baselines map[string]*pricing.Baseline, info *billing.RatingInfo) error {
	rows, err := tx.Query(ctx, `
		SELECT COALESCE(outcome_type, ''),
			count(*) FILTER (WHERE outcome = 'succeeded' AND priority <> 'urgent'),
			count(*) FILTER (WHERE outcome = 'partial' AND priority <> 'urgent'),
			count(*) FILTER (WHERE outcome = 'succeeded' AND priority = 'urgent'),
			count(*) FILTER (WHERE outcome = 'partial' AND priority = 'urgent'),
			count(*) FILTER (WHERE outcome IS DISTINCT FROM 'succeeded' AND outcome IS DISTINCT FROM 'partial')
		FROM tasks
		WHERE customer_id = $1 AND status = 'billable' AND status_at >= $2 AND status_at < $3
		GROUP BY 1`, customerID, from, to)
	if err != nil {
		return fmt.Errorf("count outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c pricing.OutcomeCount
		var odd int64
		if err := rows.Scan(&c.OutcomeType, &c.Succeeded, &c.Partial, &c.UrgentSucceeded, &c.UrgentPartial, &odd); err != nil {
			return fmt.Errorf("count outcomes: %w", err)
		}
		if odd > 0 {
			return fmt.Errorf("count outcomes: %d billable tasks of %q have an outcome other than succeeded or partial", odd, c.OutcomeType)
		}
		c.Baseline = baselines[c.OutcomeType]
		info.Tasks += c.Succeeded + c.Partial + c.UrgentSucceeded + c.UrgentPartial
		if err := r.AddCount(c); err != nil {
			return fmt.Errorf("outcome type %q: %w", c.OutcomeType, billing.PricingError("", err))
		}
	}
	return rows.Err()
}

// addCost adds the token and other cost of the period's billable tasks, per outcome type, for
// cost_plus charges, and counts the usage events that have no cost yet.
func addCost(ctx context.Context, tx pgx.Tx, r *pricing.Rater, customerID string, from, to time.Time, info *billing.RatingInfo) error {
	rows, err := tx.Query(ctx, `
		SELECT COALESCE(t.outcome_type, ''), COALESCE(sum(e.cost_usd), 0), count(*) FILTER (WHERE e.cost_usd IS NULL)
		FROM tasks t JOIN events e ON e.task_id = t.task_id AND e.type = 'task.usage'
		WHERE t.customer_id = $1 AND t.status = 'billable' AND t.status_at >= $2 AND t.status_at < $3
		GROUP BY 1`, customerID, from, to)
	if err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var outcomeType string
		var usd decimal.Decimal
		var unpriced int64
		if err := rows.Scan(&outcomeType, &usd, &unpriced); err != nil {
			return fmt.Errorf("cost: %w", err)
		}
		info.UnpricedUsage += unpriced
		if err := r.AddCost(outcomeType, usd); err != nil {
			return billing.PricingError("", err)
		}
	}
	return rows.Err()
}

// addMeters measures billing.Meters over the usage events that occurred in [from, to), for all of
// the customer's tasks. The index events_customer_time keeps this to the period's rows.
func addMeters(ctx context.Context, tx pgx.Tx, r *pricing.Rater, customerID string, from, to time.Time) error {
	var in, cin, cw, re, out, n int64
	var cost decimal.Decimal
	err := tx.QueryRow(ctx, `
		SELECT COALESCE(sum(input_tokens), 0), COALESCE(sum(cached_input_tokens), 0), COALESCE(sum(cache_write_tokens), 0),
			COALESCE(sum(reasoning_tokens), 0), COALESCE(sum(output_tokens), 0), COALESCE(sum(cost_usd), 0), count(*)
		FROM events WHERE customer_id = $1 AND type = 'task.usage' AND occurred_at >= $2 AND occurred_at < $3`,
		customerID, from, to).Scan(&in, &cin, &cw, &re, &out, &cost, &n)
	if err != nil {
		return fmt.Errorf("meters: %w", err)
	}
	for name, q := range map[string]decimal.Decimal{
		"tokens":              decimal.NewFromInt(in + cin + cw + re + out),
		"tokens.input":        decimal.NewFromInt(in),
		"tokens.cached_input": decimal.NewFromInt(cin),
		"tokens.cache_write":  decimal.NewFromInt(cw),
		"tokens.reasoning":    decimal.NewFromInt(re),
		"tokens.output":       decimal.NewFromInt(out),
		"cost_usd":            cost,
		"usage_events":        decimal.NewFromInt(n),
	} {
		if err := r.AddMeter(name, q); err != nil {
			return billing.PricingError("", err)
		}
	}
	return nil
}

// addTransactions feeds percentage charges the transaction amounts the period's billable tasks
// carry in task.started's metadata.transaction_amount.
func addTransactions(ctx context.Context, tx pgx.Tx, r *pricing.Rater, customerID string, from, to time.Time) error {
	rows, err := tx.Query(ctx, `
		SELECT e.body->'metadata'->>'transaction_amount'
		FROM tasks t JOIN events e ON e.task_id = t.task_id AND e.type = 'task.started'
		WHERE t.customer_id = $1 AND t.status = 'billable' AND t.status_at >= $2 AND t.status_at < $3
			AND e.body->'metadata' ? 'transaction_amount'
		ORDER BY t.task_id`, customerID, from, to)
	if err != nil {
		return fmt.Errorf("transactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw *string
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
		if raw == nil {
			continue
		}
		amount, err := money.ParseDecimal(*raw) // the event decoder let only decimal strings in
		if err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
		if err := r.AddTransaction("transaction_amount", amount); err != nil {
			return billing.PricingError("", err)
		}
	}
	return rows.Err()
}

// liveCredits returns the customer's grants in the plan's currency with something left that had
// not expired when the period began; the rater reports those expiring within it as expired.
func liveCredits(ctx context.Context, tx pgx.Tx, customerID string, c money.Currency, from time.Time) ([]pricing.CreditGrant, error) {
	rows, err := tx.Query(ctx, `SELECT id, remaining, expires_at FROM credit_grants
		WHERE customer_id = $1 AND currency = $2 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $3)
		ORDER BY id`, customerID, string(c), from)
	if err != nil {
		return nil, fmt.Errorf("credits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pricing.CreditGrant, error) {
		g := pricing.CreditGrant{Currency: c}
		var exp *time.Time
		err := r.Scan(&g.ID, &g.Remaining, &exp)
		if exp != nil {
			g.ExpiresAt = exp.UTC()
		}
		return g, err
	})
}
