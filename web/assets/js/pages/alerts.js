import { h, clear, link, table, field, select, badge, notice, spinner } from '../dom.js';
import { all, qs, routeMissing } from '../api.js';
import * as f from '../format.js';

// Alerts that fired (GET /v1/alert-firings): spend reached, prepaid credit low, gross margin below
// its floor — each at most once per alert and billing period, with what crossed the threshold and
// the figures its webhook carried. Alerts themselves are set through the API (docs/WEBHOOKS.md).

export const kindLabels = {
  spend: 'Spend reached',
  prepaid_balance: 'Prepaid credit low',
  margin_floor: 'Margin below floor',
};

const basisLabels = {
  invoice_draft: 'at the draft invoice',
  period_to_date: 'as tasks billed',
  invoice_finalized: 'at finalization',
};

/** crossed says what crossed the threshold: "−17.70% < floor 30%" or "USD 51.48 ≥ 50.00". */
function crossed(x) {
  if (x.kind === 'margin_floor') return `${x.value}% < floor ${x.threshold}%`;
  const op = x.kind === 'prepaid_balance' ? '<' : '≥';
  return `${f.money(x.value, x.currency)} ${op} ${f.group(x.threshold)}`;
}

/** details are the figures behind a firing, from its webhook's data. */
function details(x) {
  const d = x.data || {};
  const basis = basisLabels[d.basis] || '';
  if (x.kind === 'margin_floor') {
    return [
      h('div', {}, `Revenue ${f.money(d.revenue, d.currency)} · cost ${f.money(d.cost, d.currency)} · margin ${f.money(d.margin, d.currency)}`),
      h('div', { class: 'muted small' }, [basis, d.unpriced_usage_events ? ` · ${d.unpriced_usage_events} usage event(s) not priced yet` : ''].join('')),
    ];
  }
  return h('div', { class: 'muted small' }, basis,
    d.invoice_id ? [' · ', link(`/invoices/${encodeURIComponent(d.invoice_id)}`, 'invoice')] : null);
}

/** firingsTable renders firings; withCustomer adds the customer column. */
export function firingsTable(rows, { withCustomer = true, empty = 'No alert has fired.' } = {}) {
  const cols = [
    { label: 'Fired', value: (x) => f.datetime(x.fired_at), class: 'nowrap' },
    withCustomer ? { label: 'Customer', value: (x) => h('code', {}, x.customer_id) } : null,
    { label: 'Alert', value: (x) => [badge(kindLabels[x.kind] || x.kind, x.kind === 'margin_floor' || x.kind === 'prepaid_balance' ? 'failed' : 'draft'),
      h('div', { class: 'muted small' }, h('code', {}, x.event))] },
    { label: 'Billing period', value: (x) => f.period(x.period_start, x.period_end), class: 'nowrap' },
    { label: 'What crossed', value: (x) => h('span', { class: 'strong' }, crossed(x)), class: 'nowrap' },
    { label: 'Details', value: details },
  ].filter(Boolean);
  return table('Alert firings', cols, rows, { empty, rowAttrs: (x) => ({ 'data-alert-firing': x.alert_id, 'data-kind': x.kind }) });
}

export async function alertsPage({ view, query, app }) {
  const filters = { customer_id: query.get('customer_id') || '', kind: query.get('kind') || '' };
  clear(view, h('h1', {}, 'Alerts'), spinner());
  let options = null;
  if (app.has('admin')) {
    try {
      options = (await all('/v1/customers')).map((c) => [c.customer_id, `${c.name} (${c.customer_id})`]);
    } catch { /* a free-text filter below */ }
  }
  const custCtl = options ? select('customer_id', [['', 'All customers'], ...options], filters.customer_id)
    : h('input', { type: 'text', name: 'customer_id', value: filters.customer_id, placeholder: 'customer_id', autocomplete: 'off' });
  const kindCtl = select('kind', [['', 'Any kind'], ...Object.entries(kindLabels)], filters.kind);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter alerts' },
    field('Customer', custCtl), field('Kind', kindCtl),
    h('button', { type: 'submit', class: 'btn' }, 'Apply filters'), link('/alerts', 'Clear', { class: 'btn btn-quiet' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    app.navigate(`/alerts${qs({ customer_id: custCtl.value.trim(), kind: kindCtl.value })}`);
  });
  let rows;
  try {
    rows = await all(`/v1/alert-firings${qs(filters)}`, 500);
  } catch (e) {
    if (routeMissing(e)) {
      clear(view, h('h1', {}, 'Alerts'), notice('info', 'This server does not list alert firings yet (GET /v1/alert-firings).'));
      return;
    }
    throw e;
  }
  clear(view,
    h('h1', {}, 'Alerts'),
    h('p', { class: 'lede' }, 'Thresholds on customers — spend reached, prepaid credit low, gross margin below a floor — fire at most once per billing period and send a webhook. ',
      'Spend and margin floors are watched as tasks bill and again when a period’s invoice is drafted; a margin floor waits until the period has revenue. ',
      'Set alerts with POST /v1/customers/{id}/alerts.'),
    form,
    firingsTable(rows, { empty: filters.customer_id || filters.kind ? 'No alert of these filters has fired.' : 'No alert has fired yet.' }));
}
