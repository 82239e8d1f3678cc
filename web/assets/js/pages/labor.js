import { h, clear, link, table, field, notice, spinner, badge } from '../dom.js';
import { get, all, qs, routeMissing } from '../api.js';
import { chart } from '../charts.js';
import { invCustomerName } from './invoices.js';
import * as f from '../format.js';

// The line manager's view (DESIGN.md §6): what the agents delivered for their company, the hours
// a person would have needed, what those hours cost against what the company paid, the trend over
// billing periods, and the company's invoices. A viewer key reaches this page for its own customer
// only; the router shows 403 for any other, and the API refuses too.

export async function laborPage({ view, params, query, app }) {
  const id = params.id;
  const base = `/customers/${encodeURIComponent(id)}/labor`;
  const now = new Date();
  const dFrom = f.isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1)));
  const dTo = f.isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
  const fromCtl = h('input', { type: 'date', name: 'from', value: query.get('from') || dFrom, required: true });
  const toCtl = h('input', { type: 'date', name: 'to', value: query.get('to') || dTo, required: true });
  const form = h('form', { class: 'filters', 'aria-label': 'Date range' },
    field('From', fromCtl), field('To (exclusive)', toCtl), h('button', { type: 'submit', class: 'btn' }, 'Show'));
  form.addEventListener('submit', (e) => { e.preventDefault(); app.navigate(`${base}${qs({ from: fromCtl.value, to: toCtl.value })}`); });
  clear(view, h('h1', {}, 'Labor equivalent'), form, spinner());

  let le;
  try {
    le = await get(`/v1/customers/${encodeURIComponent(id)}/labor-equivalent${qs({ from: fromCtl.value, to: toCtl.value })}`);
  } catch (e) {
    if (routeMissing(e)) {
      clear(view, h('h1', {}, 'Labor equivalent'), notice('info', 'This server does not serve the labor-equivalent view yet.'));
      return;
    }
    throw e;
  }
  let invoices = [];
  try {
    invoices = await all(`/v1/invoices${qs({ customer_id: id })}`, 200);
  } catch { /* invoices are shown when the server has them */ }
  const cur = le.currency;
  const name = invoices.length ? invCustomerName(invoices[0]) : le.customer_name || id;
  const trend = le.trend || [];
  const labels = trend.map((p) => periodLabel(p.from, p.to));
  const moneyOrDash = (v) => (v === null || v === undefined ? '—' : f.money(v, cur));
  const num = (v) => (v === null || v === undefined ? null : f.num(v));

  clear(view,
    h('h1', {}, 'Labor equivalent: ', h('span', { class: 'customer-name' }, name)),
    h('p', { class: 'lede' }, 'What the agents delivered, and what the same work would have cost in people at your own labor baselines (minutes per task, burdened cost of the person).'),
    form,
    h('ul', { class: 'kpis', 'aria-label': 'Totals for the range' },
      kpiLi('Outcomes delivered', f.group(le.outcomes ?? '0'), `${f.int(le.succeeded ?? 0)} succeeded, ${f.int(le.partial ?? 0)} partial (½ each)`),
      kpiLi('Hours saved', f.group(le.hours ?? '0'), 'hours a person would have needed'),
      kpiLi('Cost of those hours', moneyOrDash(le.labor_cost), 'at the baseline rates'),
      kpiLi('You paid', moneyOrDash(le.paid), `${f.int(le.invoices ?? 0)} invoice(s)`),
      kpiLi('Savings', moneyOrDash(le.savings), null, le.savings && f.num(le.savings) >= 0 ? 'kpi-good' : le.savings ? 'kpi-bad' : '')),
    (le.missing_rates || []).length ? notice('warn', `No exchange rate for ${(le.missing_rates || []).join(', ')}: the cost of those hours is not converted into ${cur}.`) : null,
    trend.length ? h('div', { class: 'charts-2' },
      chart(`Cost of the hours vs what you paid, by billing period (${cur})`, {
        type: 'bar', labels, xLabel: 'Billing period', yLabel: cur,
        datasets: [
          { label: 'Cost of the hours', data: trend.map((p) => num(p.labor_cost)) },
          { label: 'Paid', data: trend.map((p) => num(p.paid)) },
        ],
        format: (v) => f.cost(v, cur),
      }),
      chart('Outcomes and hours saved, by billing period', {
        type: 'line', labels, xLabel: 'Billing period',
        datasets: [
          { label: 'Outcomes', data: trend.map((p) => f.num(p.outcomes)) },
          { label: 'Hours saved', data: trend.map((p) => f.num(p.hours)) },
        ],
      })) : null,
    h('h2', {}, 'By kind of work'),
    table('Labor equivalent by outcome type', [
      { label: 'Outcome type', value: (l) => (l.outcome_type ? h('code', {}, l.outcome_type) : h('span', { class: 'muted' }, 'unknown')) },
      { label: 'Outcomes', value: (l) => `${f.group(l.outcomes)}`, class: 'num' },
      { label: 'Minutes per task', value: (l) => f.group(l.baseline?.human_minutes), class: 'num' },
      { label: 'Hourly rate', value: (l) => (l.baseline ? f.money(l.baseline.hourly_rate) : '—'), class: 'num' },
      { label: 'Hours', value: (l) => f.group(l.hours), class: 'num' },
      { label: 'Cost of those hours', value: (l) => moneyOrDash(l.labor_cost_converted || l.labor_cost), class: 'num' },
      { label: 'Baseline', value: (l) => (!l.baseline ? 'none' : l.baseline.source === 'customer_override' ? 'your own figures' : 'standard') },
    ], le.by_outcome_type || [], { empty: 'No billable outcomes in this range.' }),
    h('h2', {}, app.isViewer() ? 'Your invoices' : 'Invoices'),
    table('Invoices', [
      { label: 'Invoice', value: (inv) => link(`/invoices/${encodeURIComponent(inv.id)}`, inv.number || 'Draft') },
      { label: 'Period', value: (inv) => f.period(inv.period_start, inv.period_end), class: 'nowrap' },
      { label: 'Status', value: (inv) => badge(inv.status) },
      { label: 'Total', value: (inv) => f.money(inv.total, inv.currency), class: 'num' },
    ], invoices, { empty: 'No invoices yet.' }));
}

// periodLabel names a billing period by its local dates. from is midnight in the customer's zone;
// shifting it by 13 h lands on the same calendar date in UTC for every zone from UTC−11 to UTC+13.
function periodLabel(from, to) {
  const local = (t) => new Date(new Date(t).getTime() + 13 * 3600000);
  const s = local(from);
  const e = new Date(local(to).getTime() - 86400000);
  const opts = { month: 'short', timeZone: 'UTC' };
  if (s.getUTCDate() === 1) return s.toLocaleString('en', { ...opts, year: 'numeric' });
  return `${s.getUTCDate()} ${s.toLocaleString('en', opts)}–${e.getUTCDate()} ${e.toLocaleString('en', opts)}`;
}

function kpiLi(label, value, note, cls = '') {
  return h('li', { class: `kpi ${cls}` }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value),
    note ? h('div', { class: 'kpi-note' }, note) : null);
}
