package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
	"github.com/outcomebill/outcomebill/pricing"
)

const planVersionColumns = `v.plan_id, v.version, v.name, v.body, v.fingerprint, v.created_at`

// scanPlanVersion scans planVersionColumns into a plan and its content's fingerprint.
func scanPlanVersion(row pgx.Row) (billing.Plan, []byte, error) {
	var p billing.Plan
	var body, fp []byte
	if err := row.Scan(&p.ID, &p.Version, &p.Name, &body, &fp, &p.CreatedAt); err != nil {
		return p, nil, err
	}
	if err := json.Unmarshal(body, &p.Pricing); err != nil {
		return p, nil, fmt.Errorf("plan %s version %d: %w", p.ID, p.Version, err)
	}
	p.Pricing.PlanID, p.Pricing.Version = p.ID, p.Version
	return p, fp, nil
}

// latestPlanVersion returns the newest version of plan id, locking the plan row when lock is set
// so that concurrent edits number their versions one after the other.
func latestPlanVersion(ctx context.Context, tx pgx.Tx, id string, lock bool) (billing.Plan, []byte, error) {
	q := `SELECT ` + planVersionColumns + ` FROM plan_versions v WHERE v.plan_id = $1 ORDER BY v.version DESC LIMIT 1`
	if lock {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM plans WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
			return billing.Plan{}, nil, interpretError(err, "plan", id)
		}
	}
	p, fp, err := scanPlanVersion(tx.QueryRow(ctx, q, id))
	return p, fp, interpretError(err, "plan", id)
}

// CreatePlan stores version 1 of a new plan. Sending the same content again returns the latest
// version with created=false; other content under an existing plan_id is a conflict (PutPlan
// makes new versions).
func (db *DB) CreatePlan(ctx context.Context, p billing.Plan) (out billing.Plan, created bool, err error) {
	p.Version = 1
	if err := p.Validate(); err != nil {
		return billing.Plan{}, false, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO plans (id, currency, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			p.ID, string(p.Pricing.Currency), db.Now())
		if err != nil {
			return interpretError(err, "plan", p.ID)
		}
		if tag.RowsAffected() == 1 {
			out, err = insertPlanVersion(ctx, tx, p, db.Now())
			created = true
			return err
		}
		latest, fp, err := latestPlanVersion(ctx, tx, p.ID, false)
		if err != nil {
			return err
		}
		if !bytes.Equal(fp, p.Fingerprint()) {
			return billing.Errorf(billing.ECONFLICT, "plan %q already exists with other content; PUT /v1/plans/%s makes a new version", p.ID, p.ID)
		}
		out = latest
		return nil
	})
	if err != nil {
		return billing.Plan{}, false, err
	}
	return db.withVersions(ctx, out, created)
}

// PutPlan stores p as the next version of its plan, creating the plan when it does not exist. When
// p's content equals the latest version's, nothing is stored and the latest is returned with
// created=false, so a retried edit makes one version, not two. A plan's currency never changes.
func (db *DB) PutPlan(ctx context.Context, p billing.Plan) (out billing.Plan, created bool, err error) {
	p.Version = 1
	if err := p.Validate(); err != nil {
		return billing.Plan{}, false, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var cur string
		err := tx.QueryRow(ctx, `
			INSERT INTO plans (id, currency, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id
			RETURNING currency`, p.ID, string(p.Pricing.Currency), db.Now()).Scan(&cur)
		if err != nil {
			return interpretError(err, "plan", p.ID)
		}
		if money.Currency(cur) != p.Pricing.Currency {
			return billing.Invalid("currency", "plan %q is priced in %s; a plan's currency cannot change (create a new plan)", p.ID, cur)
		}
		latest, fp, err := latestPlanVersion(ctx, tx, p.ID, true)
		switch {
		case billing.ErrorCode(err) == billing.ENOTFOUND:
			p.Version = 1
		case err != nil:
			return err
		case bytes.Equal(fp, p.Fingerprint()):
			out = latest
			return nil
		default:
			p.Version = latest.Version + 1
		}
		out, err = insertPlanVersion(ctx, tx, p, db.Now())
		created = true
		return err
	})
	if err != nil {
		return billing.Plan{}, false, err
	}
	return db.withVersions(ctx, out, created)
}

func insertPlanVersion(ctx context.Context, tx pgx.Tx, p billing.Plan, now time.Time) (billing.Plan, error) {
	p.Pricing.PlanID, p.Pricing.Version = p.ID, p.Version
	body, err := json.Marshal(p.Pricing)
	if err != nil {
		return billing.Plan{}, err
	}
	out, _, err := scanPlanVersion(tx.QueryRow(ctx, `
		INSERT INTO plan_versions AS v (plan_id, version, name, body, fingerprint, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+planVersionColumns,
		p.ID, p.Version, p.Name, body, p.Fingerprint(), now))
	return out, interpretError(err, "plan version", fmt.Sprintf("%s/%d", p.ID, p.Version))
}

func (db *DB) withVersions(ctx context.Context, p billing.Plan, created bool) (billing.Plan, bool, error) {
	vs, err := db.planVersions(ctx, p.ID)
	if err != nil {
		return billing.Plan{}, false, err
	}
	p.Versions = vs
	return p, created, nil
}

func (db *DB) planVersions(ctx context.Context, id string) ([]billing.PlanVersionRef, error) {
	rows, err := db.Pool.Query(ctx, `SELECT version, name, created_at FROM plan_versions WHERE plan_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, interpretError(err, "plan", id)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.PlanVersionRef, error) {
		var v billing.PlanVersionRef
		return v, r.Scan(&v.Version, &v.Name, &v.CreatedAt)
	})
	return vs, interpretError(err, "plan", id)
}

// Plan returns one version of a plan (0: the latest) with the list of all its versions.
func (db *DB) Plan(ctx context.Context, id string, version int) (billing.Plan, error) {
	var p billing.Plan
	var err error
	if version == 0 {
		p, _, err = scanPlanVersion(db.Pool.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v
			WHERE v.plan_id = $1 ORDER BY v.version DESC LIMIT 1`, id))
		err = interpretError(err, "plan", id)
	} else {
		p, _, err = scanPlanVersion(db.Pool.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v
			WHERE v.plan_id = $1 AND v.version = $2`, id, version))
		err = interpretError(err, "plan version", fmt.Sprintf("%s/%d", id, version))
	}
	if err != nil {
		return billing.Plan{}, err
	}
	p, _, err = db.withVersions(ctx, p, false)
	return p, err
}

// Plans lists the latest version of every plan, by plan id.
func (db *DB) Plans(ctx context.Context, pg billing.Page) ([]billing.Plan, string, error) {
	return listPage(ctx, db, pg, `SELECT DISTINCT ON (v.plan_id) `+planVersionColumns+` FROM plan_versions v
		WHERE v.plan_id > $1 ORDER BY v.plan_id, v.version DESC LIMIT $2`,
		func(r pgx.Row) (billing.Plan, error) { p, _, err := scanPlanVersion(r); return p, err },
		func(p billing.Plan) string { return p.ID })
}

func newID(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// customerForUpdate reads a customer's currency and zone, holding a share lock so that neither
// changes under the calling transaction.
func customerForShare(ctx context.Context, tx pgx.Tx, id string) (money.Currency, *time.Location, error) {
	var cur, zone string
	err := tx.QueryRow(ctx, `SELECT currency, timezone FROM customers WHERE id = $1 FOR SHARE`, id).Scan(&cur, &zone)
	if err != nil {
		return "", nil, interpretError(err, "customer", id)
	}
	loc, err := billing.LoadLocation(zone)
	if err != nil {
		return "", nil, fmt.Errorf("customer %s timezone %q: %w", id, zone, err)
	}
	return money.Currency(cur), loc, nil
}

const subscriptionColumns = `id, customer_id, plan_id, COALESCE(plan_version, 0), starts_at, overrides, created_at`

func scanSubscription(row pgx.Row) (billing.Subscription, error) {
	var s billing.Subscription
	var raw []byte
	if err := row.Scan(&s.ID, &s.CustomerID, &s.PlanID, &s.PlanVersion, &s.StartsAt, &raw, &s.CreatedAt); err != nil {
		return s, err
	}
	s.StartsAt = s.StartsAt.UTC()
	if err := json.Unmarshal(raw, &s.Overrides); err != nil {
		return s, fmt.Errorf("subscription %s overrides: %w", s.ID, err)
	}
	return s, nil
}

// CreateSubscription puts a customer on a plan from s.StartsAt on; the subscription in force
// before that date stays in force until it. The plan (the pinned version, or the latest when
// none is pinned) must be in the customer's currency and the overrides must make a valid plan.
// The same subscription sent again returns the stored one with created=false; another one
// starting at the same instant is a conflict.
func (db *DB) CreateSubscription(ctx context.Context, s billing.Subscription) (out billing.Subscription, created bool, err error) {
	if err := billing.ValidatePlanRef(s.PlanID, s.PlanVersion); err != nil {
		return out, false, err
	}
	if s.StartsAt.IsZero() {
		return out, false, billing.Invalid("starts_at", "is required: a date (2026-02-01) or an RFC 3339 time")
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		cur, loc, err := customerForShare(ctx, tx, s.CustomerID)
		if err != nil {
			return err
		}
		s.InZone(loc)
		var plan billing.Plan
		if s.PlanVersion == 0 {
			plan, _, err = latestPlanVersion(ctx, tx, s.PlanID, false)
		} else {
			plan, _, err = scanPlanVersion(tx.QueryRow(ctx, `SELECT `+planVersionColumns+` FROM plan_versions v
				WHERE v.plan_id = $1 AND v.version = $2`, s.PlanID, s.PlanVersion))
			err = interpretError(err, "plan version", fmt.Sprintf("%s/%d", s.PlanID, s.PlanVersion))
		}
		if err != nil {
			return err
		}
		if plan.Pricing.Currency != cur {
			return billing.Invalid("plan_id", "plan %q is priced in %s but customer %q is billed in %s", s.PlanID, plan.Pricing.Currency, s.CustomerID, cur)
		}
		if err := s.Overrides.Validate(plan.Pricing); err != nil {
			return err
		}
		overrides, err := json.Marshal(s.Overrides)
		if err != nil {
			return err
		}
		id, err := newID("sub_")
		if err != nil {
			return err
		}
		out, err = scanSubscription(tx.QueryRow(ctx, `
			INSERT INTO subscriptions (id, customer_id, plan_id, plan_version, starts_at, overrides, created_at)
			VALUES ($1, $2, $3, NULLIF($4, 0), $5, $6, $7)
			ON CONFLICT (customer_id, starts_at) DO NOTHING
			RETURNING `+subscriptionColumns, id, s.CustomerID, s.PlanID, s.PlanVersion, s.StartsAt, overrides, db.Now()))
		if err == nil {
			created = true
			return nil
		}
		if err != pgx.ErrNoRows {
			return interpretError(err, "subscription", s.CustomerID)
		}
		out, err = scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
			WHERE customer_id = $1 AND starts_at = $2`, s.CustomerID, s.StartsAt))
		if err != nil {
			return interpretError(err, "subscription", s.CustomerID)
		}
		if out.PlanID != s.PlanID || out.PlanVersion != s.PlanVersion || !bytes.Equal(out.Overrides.Fingerprint(), s.Overrides.Fingerprint()) {
			return billing.Errorf(billing.ECONFLICT, "customer %q already has another subscription starting at %s", s.CustomerID, s.StartsAt.Format(time.RFC3339))
		}
		return nil
	})
	return out, created, err
}

// Subscriptions lists a customer's subscriptions by start, oldest first.
func (db *DB) Subscriptions(ctx context.Context, customerID string, pg billing.Page) ([]billing.Subscription, string, error) {
	if err := db.customerExists(ctx, customerID); err != nil {
		return nil, "", err
	}
	return listPage(ctx, db, pg, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE customer_id = $3 AND starts_at > COALESCE(NULLIF($1, '')::timestamptz, '-infinity')
		ORDER BY starts_at LIMIT $2`, scanSubscription,
		func(s billing.Subscription) string { return s.StartsAt.Format(time.RFC3339Nano) }, customerID)
}

func (db *DB) customerExists(ctx context.Context, id string) error {
	var one int
	return interpretError(db.Pool.QueryRow(ctx, `SELECT 1 FROM customers WHERE id = $1`, id).Scan(&one), "customer", id)
}

const creditGrantColumns = `customer_id, id, amount, currency, price_paid, price_paid_currency, remaining, expires_at, created_at`

func scanCreditGrant(row pgx.Row) (billing.CreditGrant, error) {
	var g billing.CreditGrant
	var cur, paidCur string
	var exp *time.Time
	err := row.Scan(&g.CustomerID, &g.ID, &g.Amount.Amount, &cur, &g.PricePaid.Amount, &paidCur, &g.Remaining, &exp, &g.CreatedAt)
	g.Amount.Currency, g.PricePaid.Currency = money.Currency(cur), money.Currency(paidCur)
	if exp != nil {
		g.ExpiresAt = exp.UTC()
	}
	return g, err
}

// CreateCreditGrant stores a prepaid grant with its whole amount remaining. The amount must be in
// the customer's currency. A grant sent again under the same grant_id with the same fields
// returns the stored one (with what remains of it) and created=false; other fields are a conflict.
func (db *DB) CreateCreditGrant(ctx context.Context, g billing.CreditGrant) (out billing.CreditGrant, created bool, err error) {
	if err := g.Validate(); err != nil {
		return out, false, err
	}
	if g.ID == "" {
		if g.ID, err = newID("cg_"); err != nil {
			return out, false, err
		}
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		cur, _, err := customerForShare(ctx, tx, g.CustomerID)
		if err != nil {
			return err
		}
		if g.Amount.Currency != cur {
			return billing.Invalid("amount.currency", "is %s but customer %q is billed in %s", g.Amount.Currency, g.CustomerID, cur)
		}
		out, err = scanCreditGrant(tx.QueryRow(ctx, `
			INSERT INTO credit_grants (customer_id, id, amount, currency, price_paid, price_paid_currency, remaining, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $3, $7, $8)
			ON CONFLICT (customer_id, id) DO NOTHING
			RETURNING `+creditGrantColumns, g.CustomerID, g.ID, g.Amount.Amount, string(g.Amount.Currency),
			g.PricePaid.Amount, string(g.PricePaid.Currency), nullTime(g.ExpiresAt), db.Now()))
		if err == nil {
			created = true
			return nil
		}
		if err != pgx.ErrNoRows {
			return interpretError(err, "credit grant", g.ID)
		}
		out, err = scanCreditGrant(tx.QueryRow(ctx, `SELECT `+creditGrantColumns+` FROM credit_grants WHERE customer_id = $1 AND id = $2`,
			g.CustomerID, g.ID))
		if err != nil {
			return interpretError(err, "credit grant", g.ID)
		}
		if !out.Amount.Equal(g.Amount) || !out.PricePaid.Equal(g.PricePaid) || !out.ExpiresAt.Equal(g.ExpiresAt.UTC()) {
			return billing.Errorf(billing.ECONFLICT, "credit grant %q already exists with other fields", g.ID)
		}
		return nil
	})
	return out, created, err
}

// CreditGrants lists a customer's grants by id, each with what remains of it.
func (db *DB) CreditGrants(ctx context.Context, customerID string, pg billing.Page) ([]billing.CreditGrant, string, error) {
	if err := db.customerExists(ctx, customerID); err != nil {
		return nil, "", err
	}
	return listPage(ctx, db, pg, `SELECT `+creditGrantColumns+` FROM credit_grants WHERE customer_id = $3 AND id > $1 ORDER BY id LIMIT $2`,
		scanCreditGrant, func(g billing.CreditGrant) string { return g.ID }, customerID)
}

// ApplyCreditDraws records what an invoice (named by invoiceRef) drew from a customer's grants and
// lowers their balances, all in one transaction: either every draw is applied or none is.
// Applying the same draws for the same invoice again changes nothing, so a retried invoice run is
// safe; a different amount for a grant the invoice already drew from is a conflict.
func (db *DB) ApplyCreditDraws(ctx context.Context, customerID, invoiceRef string, draws []pricing.Draw) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return applyCreditDraws(ctx, tx, customerID, invoiceRef, draws, db.Now()) })
}

// applyCreditDraws is ApplyCreditDraws inside the caller's transaction, for the invoice run that
// writes its invoice in the same one.
func applyCreditDraws(ctx context.Context, tx pgx.Tx, customerID, invoiceRef string, draws []pricing.Draw, now time.Time) error {
	if invoiceRef == "" {
		return billing.Invalid("invoice_ref", "is required")
	}
	for i, d := range draws {
		if !d.Amount.IsPositive() {
			return billing.Invalid(fmt.Sprintf("draws[%d].amount", i), "must be greater than 0")
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO credit_draws (customer_id, grant_id, invoice_ref, amount, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, grant_id, invoice_ref) DO NOTHING`,
			customerID, d.GrantID, invoiceRef, d.Amount, now)
		if err != nil {
			return interpretError(err, "credit grant", d.GrantID)
		}
		if tag.RowsAffected() == 0 {
			var prev decimal.Decimal
			if err := tx.QueryRow(ctx, `SELECT amount FROM credit_draws WHERE customer_id = $1 AND grant_id = $2 AND invoice_ref = $3`,
				customerID, d.GrantID, invoiceRef).Scan(&prev); err != nil {
				return interpretError(err, "credit draw", d.GrantID)
			}
			if !prev.Equal(d.Amount) {
				return billing.Errorf(billing.ECONFLICT, "invoice %s already drew %s from credit grant %q, not %s", invoiceRef, prev, d.GrantID, d.Amount)
			}
			continue // already applied by an earlier run of the same invoice
		}
		tag, err = tx.Exec(ctx, `UPDATE credit_grants SET remaining = remaining - $3
			WHERE customer_id = $1 AND id = $2 AND remaining >= $3`, customerID, d.GrantID, d.Amount)
		if err != nil {
			return interpretError(err, "credit grant", d.GrantID)
		}
		if tag.RowsAffected() == 0 {
			return billing.Errorf(billing.ECONFLICT, "credit grant %q has less than %s left; rate the period again", d.GrantID, d.Amount)
		}
	}
	return nil
}

// AddExchangeRate stores how many units of a currency one USD buys from r.EffectiveFrom on. The
// same rate sent again returns the stored row with created=false; another rate for the same
// currency and instant is a conflict (add a row with a later effective_from instead).
func (db *DB) AddExchangeRate(ctx context.Context, r billing.ExchangeRate) (out billing.ExchangeRate, created bool, err error) {
	if err := r.Validate(); err != nil {
		return out, false, err
	}
	scan := func(row pgx.Row) error {
		var cur string
		err := row.Scan(&cur, &out.EffectiveFrom, &out.Rate, &out.CreatedAt)
		out.Currency, out.EffectiveFrom = money.Currency(cur), out.EffectiveFrom.UTC()
		return err
	}
	err = scan(db.Pool.QueryRow(ctx, `INSERT INTO exchange_rates (currency, effective_from, rate, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (currency, effective_from) DO NOTHING RETURNING currency, effective_from, rate, created_at`,
		string(r.Currency), r.EffectiveFrom, r.Rate, db.Now()))
	if err == nil {
		return out, true, nil
	}
	if err != pgx.ErrNoRows {
		return out, false, interpretError(err, "exchange rate", string(r.Currency))
	}
	if err := scan(db.Pool.QueryRow(ctx, `SELECT currency, effective_from, rate, created_at FROM exchange_rates
		WHERE currency = $1 AND effective_from = $2`, string(r.Currency), r.EffectiveFrom)); err != nil {
		return out, false, interpretError(err, "exchange rate", string(r.Currency))
	}
	if !out.Rate.Equal(r.Rate) {
		return out, false, billing.Errorf(billing.ECONFLICT, "a %s rate from %s already exists (%s)", r.Currency, r.EffectiveFrom.Format(time.RFC3339), out.Rate)
	}
	return out, false, nil
}
