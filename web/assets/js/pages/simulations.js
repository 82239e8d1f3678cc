import { h, clear, link, field, select, dl, badge, notice, spinner, table } from '../dom.js';
import { get, post, all, qs, routeMissing, ApiError } from '../api.js';
import * as f from '../format.js';

// What-if repricing (POST /v1/simulations): rate customers' past billing periods with another
// plan, price, labor baseline or model mix, beside what the plan in force gives — never writing an
// invoice. The list shows every simulation with its progress; a simulation's page follows it to
// the end and shows actual against simulated revenue, cost, margin and the customer's savings, per
// customer and period.

const doneStates = new Set(['completed', 'failed']);
const isNil = (v) => v === null || v === undefined || v === '';

/** monthBack is YYYY-MM of the month n months before this one. */
function monthBack(n) {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1)).toISOString().slice(0, 7);
}

/** changeSummary says in a few words what a request changes. */
export function changeSummary(c = {}) {
  const parts = [];
  if (c.plan) parts.push(`whole plan (${c.plan.currency}, ${(c.plan.prices || []).length} price${(c.plan.prices || []).length === 1 ? '' : 's'})`);
  if (c.terms) parts.push(`terms: ${Object.entries(c.terms).filter(([, v]) => !isNil(v)).map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ')}`);
  for (const p of c.prices || []) parts.push(`${p.outcome_type || p.meter || 'cost'}: ${p.model}${p.unit_amount ? ` ${p.unit_amount}` : ''}`);
  for (const [ot, b] of Object.entries(c.labor_baselines || {})) parts.push(`${ot}: ${b.human_minutes} min at ${f.money(b.annual_cost)}/yr`);
  for (const [ot, m] of Object.entries(c.model_mix || {})) parts.push(`${ot} → ${m}`);
  return parts.join('; ') || '—';
}

function progressOf(s) {
  const p = s.progress || {};
  return { done: Number(p.periods_done || 0), total: Number(p.periods_total || 0) };
}

function progressCell(s) {
  const { done, total } = progressOf(s);
  if (s.status === 'completed') return `${f.int(done)} period${done === 1 ? '' : 's'}`;
  return [h('progress', { class: 'progress', max: Math.max(total, 1), value: done, 'aria-label': 'Periods rated' }),
    h('div', { class: 'muted small' }, `${f.int(done)} of ${f.int(total)} periods`)];
}

export async function simulationsPage({ view, query, app }) {
  const status = query.get('status') || '';
  clear(view, h('h1', {}, 'What-if simulations'), spinner());
  let rows;
  try {
    rows = await all(`/v1/simulations${qs({ status })}`, 200);
  } catch (e) {
    if (routeMissing(e)) {
      clear(view, h('h1', {}, 'What-if simulations'), notice('info', 'This server does not run simulations yet (GET /v1/simulations).'));
      return;
    }
    throw e;
  }
  const statusCtl = select('status', [['', 'Any status'], ['queued', 'Queued'], ['running', 'Running'], ['completed', 'Completed'], ['failed', 'Failed']], status);
  const filter = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter simulations' },
    field('Status', statusCtl), h('button', { type: 'submit', class: 'btn' }, 'Apply filters'));
  filter.addEventListener('submit', (e) => { e.preventDefault(); app.navigate(`/simulations${qs({ status: statusCtl.value })}`); });
  const form = await newSimulationForm(app);
  clear(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'What-if simulations')),
    h('p', { class: 'lede' }, 'Rate real history again with other prices: each customer’s billing periods, with the plan in force and with your changes, side by side. Nothing is invoiced.'),
    h('details', { class: 'card run-card', open: rows.length === 0 || query.get('new') === '1' },
      h('summary', {}, h('span', { class: 'strong' }, 'New simulation'), h('span', { class: 'muted' }, ' — a plan change, a labor baseline or a model mix')),
      form),
    filter,
    table('Simulations', [
      { label: 'Simulation', value: (s) => [link(`/simulations/${encodeURIComponent(s.id)}`, f.datetime(s.created_at), { class: 'strong' }),
        h('div', { class: 'muted small' }, h('code', {}, s.id))] },
      { label: 'Status', value: (s) => badge(s.status) },
      { label: 'Months', value: (s) => `${s.request?.from} – ${s.request?.to}`, class: 'nowrap' },
      { label: 'Customers', value: (s) => ((s.request?.customer_ids || []).length ? s.request.customer_ids.join(', ') : 'all') },
      { label: 'Changes', value: (s) => h('span', { class: 'small' }, changeSummary(s.request?.changes)) },
      { label: 'Progress', value: progressCell },
    ], rows, { empty: status ? 'No simulation with this status.' : 'No simulation yet.', rowAttrs: (s) => ({ 'data-simulation': s.id, 'data-status': s.status }) }));
}

/** newSimulationForm builds the form that starts a simulation; it navigates to the new one. */
async function newSimulationForm(app) {
  // Suggestions: customers and outcome types for admin keys, the models seen lately for finance.
  const [customers, types, seen] = await Promise.all([
    app.has('admin') ? all('/v1/customers').catch(() => []) : [],
    app.has('admin') ? all('/v1/outcome-types').catch(() => []) : [],
    get(`/v1/model-economics${qs({ from: `${monthBack(3)}-01`, to: `${monthBack(-1)}-01` })}`).catch(() => ({ models: [] })),
  ]);
  const otNames = [...new Set([...types.map((o) => o.outcome_type), ...(seen.models || []).map((m) => m.outcome_type).filter(Boolean)])].sort();
  const models = [...new Set((seen.models || []).map((m) => m.model).filter(Boolean))].sort();
  const otList = h('datalist', { id: 'sim-outcome-types' }, otNames.map((o) => h('option', { value: o })));
  const modelList = h('datalist', { id: 'sim-models' }, models.map((m) => h('option', { value: m })));
  const otInput = (name) => h('input', { type: 'text', name, list: 'sim-outcome-types', required: true, placeholder: 'support.ticket_resolved', autocomplete: 'off' });

  const custCtl = customers.length
    ? h('select', { name: 'customer_ids', multiple: true, size: Math.min(5, customers.length) },
      customers.map((c) => h('option', { value: c.customer_id }, `${c.name} (${c.customer_id})`)))
    : h('input', { type: 'text', name: 'customer_ids', placeholder: 'acme, globex (empty: every customer)', autocomplete: 'off' });
  const fromCtl = h('input', { type: 'month', name: 'from', required: true, value: monthBack(3) });
  const toCtl = h('input', { type: 'month', name: 'to', required: true, value: monthBack(1) });
  const changeCtl = select('change', [['prices', 'Price of an outcome type'], ['plan', 'Plan change (a whole other plan)'],
    ['labor_baseline', 'Labor baseline'], ['model_mix', 'Model mix']], 'prices');

  // One fieldset per kind of change; only the chosen one is shown and read.
  const priceOT = otInput('price_outcome_type');
  const unitAmount = h('input', { type: 'text', name: 'unit_amount', inputmode: 'decimal', required: true, placeholder: '1.50' });
  const platformFee = h('input', { type: 'text', name: 'platform_fee', inputmode: 'decimal', placeholder: 'unchanged' });
  const planText = h('textarea', { name: 'plan', rows: 7, spellcheck: 'false' });
  planText.value = JSON.stringify({ currency: 'USD', terms: { platform_fee: '0.00' },
    prices: [{ outcome_type: 'support.ticket_resolved', model: 'labor_share', share: '0.3' }] }, null, 2);
  let planPick = null;
  if (app.has('admin')) {
    const plans = await all('/v1/plans').catch(() => []);
    if (plans.length) {
      planPick = select('plan_from', [['', 'Start from a plan…'], ...plans.map((p) => [p.plan_id, `${p.name || p.plan_id} (v${p.version}, ${p.currency})`])], '');
      planPick.addEventListener('change', () => {
        const p = plans.find((x) => x.plan_id === planPick.value);
        if (p) planText.value = JSON.stringify({ currency: p.currency, terms: p.terms || {}, prices: p.prices || [] }, null, 2);
      });
    }
  }
  const baseOT = otInput('baseline_outcome_type');
  const minutes = h('input', { type: 'text', name: 'human_minutes', inputmode: 'decimal', required: true, placeholder: '12' });
  const annual = h('input', { type: 'text', name: 'annual_cost', inputmode: 'decimal', required: true, placeholder: '94000' });
  const annualCur = h('input', { type: 'text', name: 'annual_cost_currency', required: true, value: 'USD', maxlength: 3, size: 4 });
  const hours = h('input', { type: 'text', name: 'productive_hours', inputmode: 'decimal', placeholder: '1880' });
  const mixOT = otInput('mix_outcome_type');
  const mixModel = h('input', { type: 'text', name: 'model', list: 'sim-models', required: true, placeholder: 'gpt-4.1-mini', autocomplete: 'off' });

  const sets = {
    prices: h('fieldset', { class: 'filters', 'data-change': 'prices' }, h('legend', { class: 'visually-hidden' }, 'Price of an outcome type'),
      field('Outcome type', priceOT), field('Price per outcome', unitAmount, 'per_outcome, in each customer’s currency'),
      field('Platform fee', platformFee, 'per period; empty keeps the plan’s')),
    plan: h('fieldset', { 'data-change': 'plan' }, h('legend', { class: 'visually-hidden' }, 'Plan change'),
      planPick ? field('Start from', planPick) : null,
      field('Plan (JSON: currency, terms, prices)', planText, 'Rated instead of each customer’s plan in force; its currency must be theirs.')),
    labor_baseline: h('fieldset', { class: 'filters', 'data-change': 'labor_baseline' }, h('legend', { class: 'visually-hidden' }, 'Labor baseline'),
      field('Outcome type', baseOT), field('Human minutes', minutes), field('Burdened annual cost', annual), field('Currency', annualCur),
      field('Productive hours', hours, 'a year; empty: 1,880')),
    model_mix: h('fieldset', { class: 'filters', 'data-change': 'model_mix' }, h('legend', { class: 'visually-hidden' }, 'Model mix'),
      field('Outcome type', mixOT), field('Served by model', mixModel, 'its tasks re-costed at this model’s observed average cost per task')),
  };
  const show = () => {
    for (const [k, el] of Object.entries(sets)) {
      el.hidden = k !== changeCtl.value;
      el.disabled = k !== changeCtl.value; // hidden controls are neither required nor sent
    }
  };
  changeCtl.addEventListener('change', show);
  show();

  const msg = h('div', { class: 'form-message', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Run simulation');
  const form = h('form', { 'aria-label': 'New simulation' },
    otList, modelList,
    h('div', { class: 'filters' }, field('Customers', custCtl, customers.length ? 'none chosen: every customer' : null),
      field('From month', fromCtl), field('To month (included)', toCtl), field('What to change', changeCtl)),
    Object.values(sets), msg, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(msg);
    let changes;
    const trimmed = (el) => el.value.trim();
    switch (changeCtl.value) {
      case 'prices':
        changes = { prices: [{ outcome_type: trimmed(priceOT), model: 'per_outcome', unit_amount: trimmed(unitAmount) }] };
        if (trimmed(platformFee)) changes.terms = { platform_fee: trimmed(platformFee) };
        break;
      case 'plan':
        try {
          changes = { plan: JSON.parse(planText.value) };
        } catch (err) {
          clear(msg, notice('error', `The plan is not valid JSON: ${err.message}`));
          return;
        }
        break;
      case 'labor_baseline':
        changes = { labor_baselines: { [trimmed(baseOT)]: { human_minutes: trimmed(minutes),
          annual_cost: { amount: trimmed(annual), currency: trimmed(annualCur).toUpperCase() },
          ...(trimmed(hours) ? { productive_hours: trimmed(hours) } : {}) } } };
        break;
      default:
        changes = { model_mix: { [trimmed(mixOT)]: trimmed(mixModel) } };
    }
    const ids = custCtl.tagName === 'SELECT' ? [...custCtl.selectedOptions].map((o) => o.value)
      : custCtl.value.split(',').map((s) => s.trim()).filter(Boolean);
    submit.disabled = true;
    try {
      const sim = await post('/v1/simulations', { customer_ids: ids, from: fromCtl.value, to: toCtl.value, changes });
      app.navigate(`/simulations/${encodeURIComponent(sim.id)}`);
    } catch (err) {
      const where = err instanceof ApiError && err.field ? ` (${err.field})` : '';
      clear(msg, notice('error', `${err.message}${where}`));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function simulationPage({ view, params, isCurrent }) {
  const id = params.id;
  clear(view, h('h1', {}, 'Simulation'), spinner());
  let sim = await get(`/v1/simulations/${encodeURIComponent(id)}`);
  for (;;) {
    renderSimulation(view, sim);
    if (doneStates.has(sim.status)) return;
    await new Promise((r) => setTimeout(r, 1000));
    if (!isCurrent() || !view.isConnected) return;
    sim = await get(`/v1/simulations/${encodeURIComponent(id)}`);
  }
}

function renderSimulation(view, sim) {
  const req = sim.request || {};
  const { done, total } = progressOf(sim);
  const running = !doneStates.has(sim.status);
  clear(view,
    h('p', { class: 'crumbs' }, link('/simulations', '← Simulations')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Simulation ', badge(sim.status)), h('code', { class: 'muted' }, sim.id)),
    h('section', { class: 'card', 'aria-label': 'What was simulated' }, dl([
      ['Months', `${req.from} – ${req.to}`],
      ['Customers', (req.customer_ids || []).length ? req.customer_ids.join(', ') : 'every customer'],
      ['Changes', changeSummary(req.changes)],
      ['Started', f.datetime(sim.created_at)],
      ['Progress', running ? [h('progress', { class: 'progress', max: Math.max(total, 1), value: done, 'aria-label': 'Periods rated' }),
        ` ${f.int(done)} of ${f.int(total)} periods rated`] : `${f.int(done)} of ${f.int(total)} periods rated`],
      ...Object.entries(sim.model_costs || {}).map(([ot, mc]) => [`Observed cost of ${mc.model} on ${ot}`,
        `USD ${mc.per_task_cost_usd} a task (${f.int(mc.tasks)} tasks)`]),
    ])),
    running ? h('p', { class: 'loading', role: 'status', 'data-sim-running': true }, 'Rating the periods; this page follows the simulation.') : null,
    sim.status === 'failed' ? notice('error', h('span', { class: 'strong' }, 'The simulation failed: '), sim.error || 'no reason recorded') : null,
    (sim.totals || []).map((t) => h('ul', { class: 'kpis', 'aria-label': `Totals in ${t.currency}`, 'data-totals': t.currency },
      kpiPair('Revenue', t.actual.revenue, t.simulated.revenue, t.delta.revenue),
      kpiPair('Cost', t.actual.cost, t.simulated.cost, null),
      kpiPair('Gross margin', t.actual.margin, t.simulated.margin, t.delta.margin),
      kpiPair('Customer savings', t.actual.savings, t.simulated.savings, t.delta.savings))),
    h('h2', {}, 'Actual and simulated, per customer and period'),
    sideBySide(sim.results || []),
    h('p', { class: 'muted small' }, 'Revenue is what the lines come to before prepaid credit; cost is every task’s token and other cost, billable or not, converted at the rate in force at the period’s end; savings are what the outcomes would have cost in people at the labor baselines, less what the customer paid. The difference under a simulated figure is simulated − actual.'));
}

function kpiPair(label, actual, simulated, delta) {
  const sign = delta ? (f.num(delta) < 0 ? 'kpi-bad' : 'kpi-good') : '';
  return h('li', { class: `kpi ${sign}` },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, simulated ? f.money(simulated) : '—'),
    h('div', { class: 'kpi-note' }, `actual ${actual ? f.money(actual) : '—'}`, delta ? ` · ${signed(delta)}` : ''));
}

/** signed shows a difference with its sign: "+5.61", "−94.97". */
function signed(m) {
  const [a] = f.amountOf(m);
  if (isNil(a)) return '—';
  const s = String(a);
  return s.startsWith('-') ? `−${f.group(s.slice(1))}` : `+${f.group(s)}`;
}

const amount = (m) => (m ? f.group(f.amountOf(m)[0]) : '—');

/**
 * sideBySide is the results table: for revenue, cost, margin and savings an actual and a simulated
 * column (the difference under the simulated figure), one row per customer and period.
 */
function sideBySide(results) {
  const metrics = [
    ['Revenue', (s) => s.revenue, (d) => d.revenue],
    ['Cost', (s) => s.cost, null],
    ['Gross margin', (s) => s.margin, (d) => d.margin],
    ['Savings', (s) => s.savings, (d) => d.savings],
  ];
  const head = [
    h('tr', {}, h('th', { scope: 'col', rowspan: 2 }, 'Customer'), h('th', { scope: 'col', rowspan: 2 }, 'Billing period'),
      metrics.map(([label]) => h('th', { scope: 'colgroup', colspan: 2, class: 'num' }, label))),
    h('tr', {}, metrics.map(() => [h('th', { scope: 'col', class: 'num' }, 'Actual'), h('th', { scope: 'col', class: 'num' }, 'Simulated')])),
  ];
  const rows = results.length ? results.map((r) => {
    const errors = [r.actual?.error && `actual: ${r.actual.error}`, r.simulated?.error && `simulated: ${r.simulated.error}`].filter(Boolean);
    return h('tr', { 'data-result': `${r.customer_id}/${r.period_start}` },
      h('td', {}, h('code', {}, r.customer_id), h('div', { class: 'muted small' }, `${r.currency} · ${f.int(r.tasks)} tasks`),
        errors.map((e) => h('div', { class: 'small', role: 'note' }, e))),
      h('td', { class: 'nowrap' }, f.period(r.period_start, r.period_end)),
      metrics.map(([, pick, delta]) => [
        h('td', { class: 'num' }, amount(pick(r.actual || {}))),
        h('td', { class: 'num' }, h('span', { class: 'strong' }, amount(pick(r.simulated || {}))),
          delta && delta(r.delta || {}) ? h('div', { class: 'muted small' }, signed(delta(r.delta))) : null),
      ]));
  }) : [h('tr', {}, h('td', { colspan: 2 + metrics.length * 2, class: 'empty' }, 'No period rated yet.'))];
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'side-by-side' },
      h('caption', { class: 'visually-hidden' }, 'Actual and simulated figures per customer and billing period'),
      h('thead', {}, head), h('tbody', {}, rows)));
}
