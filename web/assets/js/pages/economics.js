import { h, clear, link, table, field, select, notice, spinner } from '../dom.js';
import { get, qs, routeMissing, all } from '../api.js';
import { chart } from '../charts.js';
import * as f from '../format.js';
import { firingsTable } from './alerts.js';

// Vendor economics (DESIGN.md §6): gross margin per customer over monthly periods, its breakdown
// by outcome type and model, cost per billable outcome, the share of cost spent on tasks that did
// not bill; and model economics with the cheapest model that clears the quality bar. Costs are USD
// at full precision from the API, rounded here for display only.

/** months returns the n calendar months ending with the current one: [{from, to, label}]. */
export function months(n) {
  const now = new Date();
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const s = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1));
    const e = new Date(Date.UTC(s.getUTCFullYear(), s.getUTCMonth() + 1, 1));
    out.push({ from: f.isoDay(s), to: f.isoDay(e), label: s.toLocaleString('en', { month: 'short', year: 'numeric', timeZone: 'UTC' }) });
  }
  return out;
}

function rangeForm(app, path, query, extra = []) {
  const m = months(6);
  const from = h('input', { type: 'date', name: 'from', value: query.get('from') || m[0].from, required: true });
  const to = h('input', { type: 'date', name: 'to', value: query.get('to') || m[m.length - 1].to, required: true });
  const form = h('form', { class: 'filters', 'aria-label': 'Date range' },
    field('From', from), field('To (exclusive)', to), ...extra.map((e) => e.el),
    h('button', { type: 'submit', class: 'btn' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = { from: from.value, to: to.value };
    for (const x of extra) params[x.name] = x.control.value;
    app.navigate(`${path}${qs(params)}`);
  });
  return { form, from: from.value, to: to.value };
}

export const kpi = (label, value, note, cls = '') => h('li', { class: `kpi ${cls}` },
  h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), note ? h('div', { class: 'kpi-note' }, note) : null);

const isNil = (v) => v === null || v === undefined || v === '';
const signClass = (v) => (isNil(v) ? '' : Number(f.amountOf(v)[0]) < 0 ? 'kpi-bad' : 'kpi-good');
const usd = (v) => (isNil(v) ? '—' : f.cost(v, 'USD'));
const share = (v) => (isNil(v) ? '—' : `${(Number(v) * 100).toFixed(1)}%`);
const percent = (v) => (isNil(v) ? '—' : `${Number(v).toFixed(1)}%`);
const round2 = (v) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 100) / 100);
const notes = (list) => (list || []).map((n) => notice('warn', n));

/** marginCell is a gross margin with its percentage of revenue under it. */
const marginCell = (x) => [f.money(x.gross_margin), h('div', { class: 'muted small' }, isNil(x.margin_percent) ? 'no revenue' : percent(x.margin_percent))];

function missing(view, title, what) {
  clear(view, h('h1', {}, title), notice('info', `This server does not serve ${what} yet.`));
}

async function customerNames(app) {
  const m = new Map();
  if (!app.has('admin')) return m;
  try {
    for (const c of await all('/v1/customers')) m.set(c.customer_id, c.name);
  } catch { /* names are a nicety; ids do */ }
  return m;
}

/** marginUSD is a customer's gross margin in USD: revenue at its exchange rate less cost. */
function marginUSD(c) {
  if (isNil(c.exchange_rate)) return null;
  return f.num(c.revenue) / Number(c.exchange_rate) - f.num(c.cost?.usd);
}

export async function economicsPage({ view, query, app }) {
  const { form, from, to } = rangeForm(app, '/economics', query);
  clear(view, h('h1', {}, 'Vendor economics'), form, spinner());
  let vm;
  try {
    vm = await get(`/v1/margin${qs({ from, to })}`);
  } catch (e) {
    if (routeMissing(e)) return missing(view, 'Vendor economics', 'margins (GET /v1/margin)');
    throw e;
  }
  const periods = months(6);
  const [monthly, names] = await Promise.all([
    Promise.all(periods.map((p) => get(`/v1/margin${qs({ from: p.from, to: p.to })}`).catch(() => null))),
    customerNames(app),
  ]);
  const name = (id) => names.get(id) || id;
  const labels = periods.map((p) => p.label);
  const ids = [...new Set(monthly.flatMap((m) => (m?.customers || []).map((c) => c.customer_id)))];
  const cell = (m, id) => (m?.customers || []).find((x) => x.customer_id === id);
  // Customers with neither cost nor revenue in any month stay out of the charts.
  const active = ids.filter((id) => monthly.some((m) => cell(m, id) && (f.num(cell(m, id).cost?.usd) || f.num(cell(m, id).revenue))));
  const withRate = active.filter((id) => monthly.some((m) => cell(m, id) && !isNil(cell(m, id).exchange_rate)));
  const noRate = active.filter((id) => !withRate.includes(id));

  const marginChart = chart('Gross margin per customer, by month (USD)', {
    type: 'bar', labels, xLabel: 'Month', yLabel: 'USD', format: usd,
    datasets: withRate.map((id) => ({ label: name(id), data: monthly.map((m) => (cell(m, id) ? round2(marginUSD(cell(m, id))) : null)) })),
  });
  const costChart = chart('Cost per customer, by month (USD)', {
    type: 'bar', labels, xLabel: 'Month', yLabel: 'USD', stacked: true, format: usd,
    datasets: active.map((id) => ({ label: name(id), data: monthly.map((m) => (cell(m, id) ? round2(f.num(cell(m, id).cost?.usd)) : null)) })),
  });
  const c = vm.cost || {};
  clear(view,
    h('h1', {}, 'Vendor economics'),
    h('p', { class: 'lede' }, 'What the agents’ work earned against what it cost in tokens and tools. Revenue is what invoices charged before prepaid credits; cost counts every task, billable or not.'),
    form,
    h('ul', { class: 'kpis', 'aria-label': 'Totals for the range' },
      kpi('Revenue', usd(vm.revenue_usd), 'in USD, customers with a rate'),
      kpi('Cost', usd(vm.cost_usd), `${f.int(vm.tasks?.total)} tasks`),
      kpi('Gross margin', usd(vm.gross_margin_usd), null, signClass(vm.gross_margin_usd)),
      kpi('Margin', percent(vm.margin_percent), isNil(vm.margin_percent) ? 'no revenue yet' : null),
      kpi('Cost per billable outcome', usd(c.per_billable_outcome_usd), `${f.group(c.billable_outcomes)} billable outcomes`),
      kpi('Cost on tasks not billed', share(c.not_billed_share), usd(c.not_billed_usd))),
    notes(vm.notes),
    h('div', { class: 'charts-2' }, marginChart, costChart),
    noRate.length ? h('p', { class: 'muted' }, `Not in the margin chart for want of a USD exchange rate: ${noRate.map(name).join(', ')}.`) : null,
    h('h2', {}, 'Customers'),
    table('Margin per customer', [
      { label: 'Customer', value: (x) => link(`/economics/customers/${encodeURIComponent(x.customer_id)}${qs({ from, to })}`, name(x.customer_id), { class: 'strong' }) },
      { label: 'Revenue', value: (x) => f.money(x.revenue), class: 'num' },
      { label: 'Cost', value: (x) => (x.cost?.converted ? f.money(x.cost.converted) : usd(x.cost?.usd)), class: 'num' },
      { label: 'Gross margin', value: (x) => (x.gross_margin ? marginCell(x) : 'no rate'), class: 'num' },
      { label: 'Tasks', value: (x) => f.int(x.tasks), class: 'num' },
      { label: 'Cost / outcome', value: (x) => usd(x.cost?.per_billable_outcome_usd), class: 'num' },
      { label: 'Cost not billed', value: (x) => share(x.cost?.not_billed_share), class: 'num' },
    ], vm.customers || [], { empty: 'No customer had tasks or invoices in this range.', rowAttrs: (x) => ({ 'data-customer': x.customer_id }) }));
}

function breakdown(title, lines, keyOf, keyLabel, emptyKey) {
  return table(title, [
    { label: keyLabel, value: (l) => (keyOf(l) ? h('code', {}, keyOf(l)) : h('span', { class: 'muted' }, emptyKey)) },
    { label: 'Tasks', value: (l) => f.int(l.tasks?.total), class: 'num' },
    { label: 'Billable outcomes', value: (l) => f.group(l.cost?.billable_outcomes), class: 'num' },
    { label: 'Revenue', value: (l) => f.money(l.revenue), class: 'num' },
    { label: 'Cost', value: (l) => (l.cost?.converted ? f.money(l.cost.converted) : usd(l.cost?.usd)), class: 'num' },
    { label: 'Gross margin', value: (l) => (l.gross_margin ? marginCell(l) : '—'), class: 'num' },
    { label: 'Cost / outcome', value: (l) => usd(l.cost?.per_billable_outcome_usd), class: 'num' },
    { label: 'Cost not billed', value: (l) => share(l.cost?.not_billed_share), class: 'num' },
  ], lines || [], { empty: 'Nothing in this range.' });
}

export async function customerMarginPage({ view, params, query, app }) {
  const id = params.id;
  const base = `/economics/customers/${encodeURIComponent(id)}`;
  const { form, from, to } = rangeForm(app, base, query);
  clear(view, h('h1', {}, 'Customer margin'), form, spinner());
  let m;
  try {
    m = await get(`/v1/customers/${encodeURIComponent(id)}/margin${qs({ from, to })}`);
  } catch (e) {
    if (routeMissing(e)) return missing(view, 'Customer margin', 'customer margins');
    throw e;
  }
  const periods = months(6);
  const [monthly, names, firings] = await Promise.all([
    Promise.all(periods.map((p) => get(`/v1/customers/${encodeURIComponent(id)}/margin${qs({ from: p.from, to: p.to })}`).catch(() => null))),
    customerNames(app),
    // The customer's alerts that fired lately (null: this server does not list them).
    get(`/v1/alert-firings${qs({ customer_id: id, limit: 10 })}`).then((r) => r.data || []).catch(() => null),
  ]);
  const cur = m.currency;
  const c = m.cost || {};
  const hasRate = !!m.exchange_rate;
  const unit = hasRate ? cur : 'USD';
  const costOf = (x) => (hasRate ? f.num(x.cost?.converted) : f.num(x.cost?.usd));
  const trend = chart(`Revenue, cost and gross margin by month (${unit})`, {
    type: 'bar', labels: periods.map((p) => p.label), xLabel: 'Month', yLabel: unit,
    format: (v) => f.cost(v, unit),
    datasets: [
      ...(hasRate ? [{ label: 'Revenue', data: monthly.map((x) => (x ? f.num(x.revenue?.amount) : null)) }] : []),
      { label: hasRate ? 'Cost' : 'Cost (USD)', data: monthly.map((x) => (x ? round2(costOf(x)) : null)) },
      { label: 'Cost of tasks not billed', data: monthly.map((x) => (x ? round2(hasRate ? costOf(x) * Number(x.cost?.not_billed_share || 0) : f.num(x.cost?.not_billed_usd)) : null)) },
      ...(hasRate ? [{ label: 'Gross margin', type: 'line', data: monthly.map((x) => (x?.gross_margin ? f.num(x.gross_margin) : null)) }] : []),
    ],
  });
  clear(view,
    h('p', { class: 'crumbs' }, link(`/economics${qs({ from, to })}`, '← Vendor economics')),
    h('h1', {}, 'Margin: ', names.get(id) || id),
    form,
    h('ul', { class: 'kpis', 'aria-label': 'Totals for the range' },
      kpi('Revenue', f.money(m.revenue?.amount), `${f.int(m.revenue?.invoices ?? 0)} invoice(s)`),
      kpi('Cost', c.converted ? f.money(c.converted) : usd(c.usd), hasRate && cur !== 'USD' ? `${usd(c.usd)} at ${m.exchange_rate.rate} ${cur}/USD` : `${f.int(m.tasks?.total)} tasks`),
      kpi('Gross margin', m.gross_margin ? f.money(m.gross_margin) : 'no rate', null, signClass(m.gross_margin)),
      kpi('Margin', percent(m.margin_percent)),
      kpi('Cost per billable outcome', usd(c.per_billable_outcome_usd), `${f.group(c.billable_outcomes)} billable outcomes`),
      kpi('Cost on tasks not billed', share(c.not_billed_share), usd(c.not_billed_usd))),
    notes(m.notes),
    trend,
    h('h2', {}, 'By outcome type'),
    breakdown('Margin by outcome type', m.by_outcome_type, (l) => l.outcome_type, 'Outcome type', 'no outcome type'),
    h('h2', {}, 'By model'),
    breakdown('Margin by model', m.by_model, (l) => l.model, 'Model', 'no token usage'),
    firings ? h('section', { 'aria-labelledby': 'alerts-title', 'data-section': 'alerts' },
      h('h2', { id: 'alerts-title' }, 'Alerts fired'),
      firingsTable(firings, { withCustomer: false, empty: 'No alert of this customer has fired.' }),
      h('p', { class: 'small' }, link(`/alerts${qs({ customer_id: id })}`, 'All alerts of this customer'))) : null,
    f.num(m.unallocated_revenue) ? h('p', { class: 'muted' },
      `${f.money(m.unallocated_revenue)} of revenue (platform fees, commitments, metered lines) belongs to no outcome type and is not allocated to models.`) : null,
    h('p', {}, link(`/customers/${encodeURIComponent(id)}/labor${qs({ from, to })}`, 'Labor-equivalent view of this customer'), ' · ',
      link(`/invoices${qs({ customer_id: id })}`, 'Invoices')));
}

export async function modelsPage({ view, query, app }) {
  let types = [];
  if (app.has('admin')) {
    try {
      types = (await all('/v1/outcome-types')).map((o) => [o.outcome_type, o.name ? `${o.name} (${o.outcome_type})` : o.outcome_type]);
    } catch { /* free text below */ }
  }
  const ot = query.get('outcome_type') || '';
  const control = types.length ? select('outcome_type', [['', 'All outcome types'], ...types], ot)
    : h('input', { type: 'text', name: 'outcome_type', value: ot, placeholder: 'all' });
  const { form, from, to } = rangeForm(app, '/models', query, [{ name: 'outcome_type', control, el: field('Outcome type', control) }]);
  clear(view, h('h1', {}, 'Model economics'), form, spinner());
  let me;
  try {
    me = await get(`/v1/model-economics${qs({ outcome_type: ot, from, to })}`);
  } catch (e) {
    if (routeMissing(e)) return missing(view, 'Model economics', 'model economics (GET /v1/model-economics)');
    throw e;
  }
  const byType = new Map();
  for (const m of me.models || []) {
    const t = m.outcome_type || '';
    if (!byType.has(t)) byType.set(t, []);
    byType.get(t).push(m);
  }
  const recs = me.recommendations || [];
  const sections = [...byType.entries()].map(([t, ms], i) => {
    const rec = recs.find((r) => (r.outcome_type || '') === t) || {};
    const priced = ms.filter((m) => m.model && !isNil(m.average_cost_per_billable_outcome_usd));
    return h('section', { class: 'card', 'aria-labelledby': `ot-${i}`, 'data-outcome-type': t },
      h('div', { class: 'card-head' }, h('h2', { id: `ot-${i}` }, t ? h('code', {}, t) : 'Tasks of no outcome type'),
        rec.model ? h('span', { class: 'badge badge-recommended' }, `Recommended: ${rec.model}`) : h('span', { class: 'badge' }, 'No model clears the bar')),
      rec.model ? h('p', {}, 'Cheapest model that clears the bar: ', h('strong', {}, rec.model), ` at ${usd(rec.cost_per_billable_outcome_usd)} per billable outcome. `,
        'Had the dearer models’ billable outcomes cost that much, the range would have cost ', h('strong', {}, usd(rec.savings_usd)), ' less.') : null,
      h('div', { class: 'split' },
        table(`Models on ${t || 'no outcome type'}`, [
          { label: 'Model', value: (m) => (m.model ? h('code', {}, m.model) : h('span', { class: 'muted' }, 'no token usage')) },
          { label: 'Tasks', value: (m) => f.int(m.tasks), class: 'num' },
          { label: 'Success', value: (m) => share(m.success_rate), class: 'num' },
          { label: 'Quality', value: (m) => (isNil(m.average_quality) ? '—' : Number(m.average_quality).toFixed(2)), class: 'num' },
          { label: 'Cost / outcome', value: (m) => usd(m.average_cost_per_billable_outcome_usd), class: 'num' },
          { label: 'Clears bar', value: (m) => (m.clears_bar ? 'yes' : 'no') },
        ], ms, { rowAttrs: (m) => ({ class: rec.model && m.model === rec.model ? 'recommended' : '' }) }),
        priced.length ? chart(`Cost per billable outcome on ${t || 'no outcome type'} (USD)`, {
          type: 'bar', labels: priced.map((m) => m.model), xLabel: 'Model', yLabel: 'USD', format: usd, height: 220,
          note: 'Green: the recommended model · blue: clears the bar · grey: does not.',
          datasets: [{ label: 'USD per billable outcome',
            data: priced.map((m) => f.num(m.average_cost_per_billable_outcome_usd)),
            backgroundColor: priced.map((m) => (m.model === rec.model ? '#3a9d6e' : m.clears_bar ? '#2f6fb0' : '#b8c2cf')) }],
        }) : null));
  });
  clear(view,
    h('h1', {}, 'Model economics'),
    h('p', { class: 'lede' }, 'Per outcome type and model: success rate, quality, and what one billable outcome really cost — every task’s cost, billable or not, per billable outcome. ',
      `The recommended model is the cheapest that clears the quality bar: success rate ≥ ${share(me.min_success_rate)}, average quality ≥ ${me.min_quality ?? '—'}.`),
    form,
    sections.length ? sections : notice('info', 'No tasks in this range.'));
}
