package billing

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// This file holds what the alerts of issue 9 decide without a database: when a period's margin
// is below a floor, what a margin alert says, and which expiry notice a prepaid grant is due.

// Bases of an alert evaluation: what the figures of a spend or margin_floor alert come from.
const (
	// BasisInvoiceDraft: the period's draft invoice as just built (invoice runs).
	BasisInvoiceDraft = "invoice_draft"
	// BasisPeriodToDate: the period rated as it stands, after tasks billed or stopped billing in it
	// (the alert evaluator); the figures a draft built now would show.
	BasisPeriodToDate = "period_to_date"
	// BasisInvoiceFinalized: the prepaid balance left after an invoice's finalization.
	BasisInvoiceFinalized = "invoice_finalized"
)

// PeriodMargin is a customer's gross margin for one billing period as a margin_floor alert sees
// it, on the conventions of the margin view (DESIGN.md §6): revenue is what the period's lines come
// to before prepaid credits; cost is the token and other cost of every task of the period,
// billable or not, converted from USD at the rate in force at the period's end.
type PeriodMargin struct {
	CustomerID string
	Period     Period
	Currency   money.Currency
	Revenue    decimal.Decimal
	CostUSD    decimal.Decimal // full precision
	Unpriced   int64           // usage events with no model price yet: their cost is not in CostUSD
	// Rate is the USD rate of Currency (how many units one USD buys); nil when there is none.
	// Ignored for USD.
	Rate *decimal.Decimal
}

// Figures returns the period's cost in its currency, its gross margin and the margin as a
// percentage of revenue, rounded to 2 places as the margin view shows it. ok is false when the
// margin has no meaning yet, and a floor is then not evaluated: before the period has revenue
// (nothing rated, or a period of credits only — a percentage of zero revenue is undefined, and a
// customer with only cost so far would otherwise alert on every first task of a period), or when
// no exchange rate converts the cost.
func (m PeriodMargin) Figures() (cost, margin, percent decimal.Decimal, ok bool) {
	if !m.Revenue.IsPositive() {
		return cost, margin, percent, false
	}
	rate := decimal.NewFromInt(1)
	if m.Currency != money.USD {
		if m.Rate == nil {
			return cost, margin, percent, false
		}
		rate = *m.Rate
	}
	cost = m.CostUSD.Mul(rate)
	margin = m.Revenue.Sub(cost)
	return cost, margin, *ratio(margin.Mul(hundred), m.Revenue, percentPlaces), true
}

// MarginWebhookData is the data of margin.below_floor: the period's figures and the floor they
// fell below. Amounts are at the currency's precision except cost_usd, which is kept in full.
type MarginWebhookData struct {
	AlertID             string    `json:"alert_id"`
	CustomerID          string    `json:"customer_id"`
	Kind                AlertKind `json:"kind"`
	PeriodStart         time.Time `json:"period_start"`
	PeriodEnd           time.Time `json:"period_end"`
	Currency            string    `json:"currency"`
	Revenue             string    `json:"revenue"`
	Cost                string    `json:"cost"`
	CostUSD             string    `json:"cost_usd"`
	ExchangeRate        string    `json:"exchange_rate,omitempty"` // USD → currency; absent for USD
	Margin              string    `json:"margin"`
	MarginPercent       string    `json:"margin_percent"`
	FloorPercent        string    `json:"floor_percent"`
	UnpricedUsageEvents int64     `json:"unpriced_usage_events"`
	Basis               string    `json:"basis"`
	InvoiceID           string    `json:"invoice_id,omitempty"`
}

// NewMarginWebhookData describes m for the margin_floor alert a. Call it only when m.Figures is ok.
func NewMarginWebhookData(a Alert, m PeriodMargin, basis, invoiceID string) MarginWebhookData {
	cost, margin, percent, _ := m.Figures()
	d := MarginWebhookData{AlertID: a.ID, CustomerID: m.CustomerID, Kind: a.Kind, PeriodStart: m.Period.Start.UTC(),
		PeriodEnd: m.Period.End.UTC(), Currency: string(m.Currency), Revenue: shown(m.Revenue, m.Currency),
		Cost: shown(cost, m.Currency), CostUSD: m.CostUSD.String(), Margin: shown(margin, m.Currency),
		MarginPercent: percent.StringFixed(percentPlaces), FloorPercent: a.Threshold.String(), UnpricedUsageEvents: m.Unpriced,
		Basis: basis, InvoiceID: invoiceID}
	if m.Currency != money.USD && m.Rate != nil {
		d.ExchangeRate = m.Rate.String()
	}
	return d
}

// shown is an amount rounded to its currency's minor unit, for a notification: the figures at
// full precision are what the margin view and the invoice hold.
func shown(d decimal.Decimal, c money.Currency) string {
	return money.New(money.Round(d, c), c).Display()
}

// DefaultCreditExpiryNotice is how many days before a grant expires it announces it
// (credits.expiring), unless the deployment says otherwise.
const DefaultCreditExpiryNotice = 7

// CreditExpiryNotice returns the notice a grant expiring at expiresAt is due at now: the smallest
// of thresholds (days before expiry, each 24 hours) that the time left has reached and that the
// grant has not had (had), nor one smaller. A grant that reached several thresholds at once — it
// was granted late, or the worker was down — gets one notice, the nearest, not a burst; the
// larger ones are passed over. ok is false when nothing is due: the grant is not near its expiry,
// has expired already, or had its notice.
func CreditExpiryNotice(thresholds []int, expiresAt, now time.Time, had []int) (days int, ok bool) {
	if expiresAt.IsZero() || !now.Before(expiresAt) {
		return 0, false
	}
	left := expiresAt.Sub(now)
	for _, d := range thresholds {
		if d > 0 && left <= time.Duration(d)*24*time.Hour && (!ok || d < days) {
			days, ok = d, true
		}
	}
	if !ok {
		return 0, false
	}
	if slices.ContainsFunc(had, func(h int) bool { return h <= days }) {
		return 0, false
	}
	return days, true
}

// CreditExpiringWebhookData is the data of credits.expiring: a prepaid grant with credit left
// that expires within NoticeDays days.
type CreditExpiringWebhookData struct {
	GrantID    string    `json:"grant_id"`
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	Amount     string    `json:"amount"`
	Remaining  string    `json:"remaining"`
	ExpiresAt  time.Time `json:"expires_at"`
	NoticeDays int       `json:"notice_days"`
}

// NewCreditExpiringWebhookData describes a grant due its notice of days.
func NewCreditExpiringWebhookData(g CreditGrant, days int) CreditExpiringWebhookData {
	return CreditExpiringWebhookData{GrantID: g.ID, CustomerID: g.CustomerID, Currency: string(g.Amount.Currency),
		Amount: shown(g.Amount.Amount, g.Amount.Currency), Remaining: shown(g.Remaining, g.Amount.Currency), ExpiresAt: g.ExpiresAt.UTC(),
		NoticeDays: days}
}

// AlertCheck is a customer whose tasks moved into or out of billable since its spend and
// margin_floor alerts were last evaluated, claimed by an evaluator: the moves' status_at span
// [From, To] and how many there were (Marks), so that the evaluator can tell whether more came
// while it worked.
type AlertCheck struct {
	CustomerID string
	From, To   time.Time
	Marks      int64
}

// AlertFiring is one time an alert fired: for a billing period (once per alert and period), with
// the value that crossed the threshold — an amount, or for a margin floor a percentage — and the
// data of the webhook event it sent.
type AlertFiring struct {
	Seq         int64
	AlertID     string
	CustomerID  string
	Kind        AlertKind
	Threshold   decimal.Decimal
	Currency    money.Currency
	PeriodStart time.Time
	Value       decimal.Decimal
	FiredAt     time.Time
	Data        json.RawMessage // {} for firings recorded before the data was kept
}

// AlertFiringFilter narrows a list of firings; zero fields do not filter.
type AlertFiringFilter struct {
	CustomerID string
	Kind       AlertKind
}

// Validate checks the filter's kind.
func (f AlertFiringFilter) Validate() error {
	if f.Kind != "" && !slices.Contains(AlertKinds, f.Kind) {
		return Invalid("kind", "must be spend, prepaid_balance or margin_floor")
	}
	return nil
}
