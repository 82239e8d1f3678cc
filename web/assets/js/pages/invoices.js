import { h, clear, link, table, field, select, dl, badge, notice, spinner } from '../dom.js';
import { get, post, all, qs, download, routeMissing } from '../api.js';
import { confirmDialog } from '../dialog.js';
import * as f from '../format.js';

// Finance: the invoice list with filters, an invoice with its lines and their explanations,
// invoice runs with their progress, finalize, void and exports. A viewer key sees the same list
// and invoice pages for its own customer only, without the actions.

export const invCustomerID = (inv) => inv.customer_id || inv.customer?.customer_id || '';
export const invCustomerName = (inv) => inv.customer_name || inv.customer?.name || invCustomerID(inv);
const invTitle = (inv) => (inv.number ? `Invoice ${inv.number}` : `Draft invoice`);

/** customerOptions lists customers for a filter when the key may list them (admin). */
async function customerOptions(app) {
  if (!app.has('admin')) return null;
  try {
    return (await all('/v1/customers')).map((c) => [c.customer_id, `${c.name} (${c.customer_id})`]);
  } catch {
    return null;
  }
}

function customerControl(name, options, value) {
  if (options) return select(name, [['', 'All customers'], ...options], value);
  return h('input', { type: 'text', name, value, placeholder: 'customer_id', autocomplete: 'off' });
}

export async function invoicesPage({ view, query, app }) {
  const viewer = app.isViewer();
  const filters = {
    customer_id: viewer ? app.me.customer_id : query.get('customer_id') || '',
    status: query.get('status') || '',
    from: query.get('from') || '',
    to: query.get('to') || '',
  };
  clear(view, h('h1', {}, 'Invoices'), spinner());
  const options = await customerOptions(app);

  const custCtl = customerControl('customer_id', options, filters.customer_id);
  const statusCtl = select('status', [['', 'Any status'], ['draft', 'Draft'], ['finalized', 'Finalized'], ['void', 'Void']], filters.status);
  const fromCtl = h('input', { type: 'date', name: 'from', value: filters.from });
  const toCtl = h('input', { type: 'date', name: 'to', value: filters.to });
  const filterForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter invoices' },
    viewer ? null : field('Customer', custCtl),
    field('Status', statusCtl),
    field('Period from', fromCtl),
    field('Period to', toCtl),
    h('button', { type: 'submit', class: 'btn' }, 'Apply filters'),
    link('/invoices', 'Clear', { class: 'btn btn-quiet' }));
  filterForm.addEventListener('submit', (e) => {
    e.preventDefault();
    app.navigate(`/invoices${qs({ customer_id: viewer ? '' : custCtl.value.trim(), status: statusCtl.value, from: fromCtl.value, to: toCtl.value })}`);
  });

  const listBox = h('div', {}, spinner());
  const runBox = app.has('finance') ? runPanel(app, options, filters.customer_id) : null;
  clear(view,
    h('div', { class: 'page-head' }, h('h1', {}, viewer ? 'Your invoices' : 'Invoices'),
      app.has('finance') ? link('/credit-notes', 'Credit notes', { class: 'btn btn-quiet' }) : null),
    runBox, filterForm, listBox);

  let rows;
  try {
    rows = await all(`/v1/invoices${qs({ customer_id: filters.customer_id, status: filters.status,
      period_from: f.dayToRFC3339(filters.from), period_to: f.dayToRFC3339(filters.to) })}`);
  } catch (e) {
    if (routeMissing(e)) {
      clear(listBox, notice('info', 'This server does not serve invoices yet (GET /v1/invoices).'));
      return;
    }
    throw e;
  }
  // The period filter is applied here too, so that it holds whatever the server does with it.
  const fromT = filters.from ? Date.parse(`${filters.from}T00:00:00Z`) : -Infinity;
  const toT = filters.to ? Date.parse(`${filters.to}T00:00:00Z`) + 86400000 : Infinity;
  rows = rows.filter((inv) => Date.parse(inv.period_start) >= fromT && Date.parse(inv.period_end) <= toT);
  clear(listBox, table('Invoices', [
    { label: 'Invoice', value: (inv) => link(`/invoices/${encodeURIComponent(inv.id)}`, inv.number || 'Draft', { class: 'strong' }) },
    { label: 'Customer', value: (inv) => invCustomerName(inv) },
    { label: 'Period', value: (inv) => f.period(inv.period_start, inv.period_end), class: 'nowrap' },
    { label: 'Status', value: (inv) => badge(inv.status) },
    { label: 'Issued', value: (inv) => (inv.issue_date ? f.date(inv.issue_date) : '—'), class: 'nowrap' },
    { label: 'Total', value: (inv) => f.money(inv.total, inv.currency), class: 'num' },
  ], rows, { empty: 'No invoices match these filters.', rowAttrs: (inv) => ({ 'data-invoice': inv.id, 'data-status': inv.status }) }));
}

/**
 * runPanel runs invoices for a month: one customer's billing period that starts in it (at the
 * customer's anchor day, midnight in its billing timezone), or every customer's.
 */
function runPanel(app, options, customerID) {
  const custCtl = customerControl('run_customer', options?.length ? options : null, customerID);
  if (custCtl.tagName === 'SELECT') custCtl.firstChild.textContent = 'Every customer';
  else custCtl.placeholder = 'customer_id (empty: every customer)';
  const now = new Date();
  const last = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const month = h('input', { type: 'month', name: 'period', required: true, value: last.toISOString().slice(0, 7) });
  const progress = h('div', { class: 'run-progress', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', 'aria-label': 'Run invoices' },
    field('Customer', custCtl), field('Billing period starting in', month),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Run invoice'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!/^\d{4}-\d{2}$/.test(month.value)) {
      clear(progress, notice('error', 'Choose a month.'));
      return;
    }
    await startRun(app, progress, { customer_id: custCtl.value.trim() || undefined, period: month.value });
  });
  return h('details', { class: 'card run-card' },
    h('summary', {}, h('span', { class: 'strong' }, 'Run or re-run invoices'),
      h('span', { class: 'muted' }, ' — rates a billing period into a draft; running it again rebuilds the same draft, never a second invoice')),
    form, progress);
}

// Run statuses (billing.InvoiceRunStatus): queued → running → drafted (or finalized), or failed.
const doneStates = new Set(['drafted', 'finalized', 'failed']);

/**
 * startRun posts invoice runs (202: recorded, their workflows started) and follows each through
 * GET /v1/invoice-runs/{id} until its draft is written or it fails.
 */
export async function startRun(app, box, body) {
  clear(box, h('p', { class: 'loading', role: 'status' }, 'Starting the invoice run…'));
  let runs;
  try {
    const res = await post('/v1/invoice-runs', body);
    runs = res.data || [res];
  } catch (e) {
    clear(box, notice('error', routeMissing(e) ? 'This server cannot run invoices yet (POST /v1/invoice-runs is not there).' : e.message));
    return [];
  }
  for (let i = 0; i < 600; i++) {
    clear(box, runs.map(showRun));
    if (runs.every((r) => doneStates.has(r.status) || !r.id)) break;
    await new Promise((r) => setTimeout(r, 1000));
    if (!box.isConnected) break;
    try {
      runs = await Promise.all(runs.map((r) => (doneStates.has(r.status) ? r : get(`/v1/invoice-runs/${encodeURIComponent(r.id)}`))));
    } catch (e) {
      box.append(notice('error', `Could not read the runs' progress: ${e.message}`));
      break;
    }
  }
  return runs;
}

function showRun(run) {
  const status = run.status || 'queued';
  const failed = status === 'failed';
  const done = doneStates.has(status);
  const total = Number(run.tasks_total || 0);
  const rated = Number(run.tasks_rated || 0);
  return h('div', { class: `notice notice-${failed ? 'error' : done ? 'success' : 'info'}`, role: 'status', 'data-run-status': status },
    h('p', {}, h('span', { class: 'strong' }, 'Invoice run '), badge(status), ' ',
      `${run.customer_id || ''}, ${f.period(run.period_start, run.period_end)}`, run.runs > 1 ? ` (run ${run.runs} times)` : '',
      run.invoice_id ? ' — ' : '', run.invoice_id ? link(`/invoices/${encodeURIComponent(run.invoice_id)}`, 'open the invoice', { 'data-run-invoice': run.invoice_id }) : null),
    total > 0 && !done ? h('p', {}, h('progress', { class: 'progress', max: total, value: rated, 'aria-label': 'Tasks rated' }), ` ${f.int(rated)} of ${f.int(total)} billable tasks rated`) : null,
    !done ? h('p', { class: 'muted' }, 'Rating the period; this page follows the run.') : null,
    run.error ? h('p', {}, run.error) : null,
    (run.credit_notes || []).length ? h('p', {}, `Credit notes issued: ${run.credit_notes.join(', ')} `, link('/credit-notes', 'see credit notes')) : null);
}

export async function invoicePage({ view, params, query, app }) {
  clear(view, h('h1', {}, 'Invoice'), spinner());
  let inv;
  try {
    inv = await get(`/v1/invoices/${encodeURIComponent(params.id)}`);
  } catch (e) {
    if (routeMissing(e)) {
      clear(view, h('h1', {}, 'Invoice'), notice('info', 'This server does not serve invoices yet.'));
      return;
    }
    throw e;
  }
  const cur = inv.currency;
  const finance = app.has('finance');
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Invoice actions' });
  const actionMsg = h('div', { class: 'form-message', 'aria-live': 'polite' });
  const reload = () => app.navigate(location.pathname, { replace: true }); // drops ?rebuilt

  if (finance && inv.status === 'draft') {
    actions.append(
      h('button', { type: 'button', class: 'btn btn-primary', onclick: async () => {
        const done = await confirmDialog({
          title: 'Finalize this invoice?',
          body: [h('p', {}, `Finalizing gives it the next invoice number and makes it immutable: its lines and total (${f.money(inv.total, cur)}) can never change. A mistake afterwards needs a void and a new invoice.`)],
          confirmLabel: 'Finalize invoice',
          action: () => post(`/v1/invoices/${encodeURIComponent(inv.id)}/finalize`),
        });
        if (done) reload();
      } }, 'Finalize…'),
      h('button', { type: 'button', class: 'btn', onclick: async () => {
        const runs = await startRun(app, actionMsg, { customer_id: invCustomerID(inv), period_start: inv.period_start, period_end: inv.period_end });
        if (runs.length && runs.every((r) => r.status === 'drafted')) app.navigate(`${location.pathname}?rebuilt=1`, { replace: true });
      } }, 'Re-run'));
  }
  if (finance && inv.status === 'finalized') {
    actions.append(h('button', { type: 'button', class: 'btn btn-danger', onclick: async () => {
      const done = await confirmDialog({
        title: `Void invoice ${inv.number}?`,
        body: [h('p', {}, 'A void invoice keeps its number (numbers are never reused) and shows the reason. This cannot be undone.')],
        fields: [{ name: 'reason', label: 'Reason', type: 'textarea', required: true }],
        confirmLabel: 'Void invoice', danger: true,
        action: (v) => post(`/v1/invoices/${encodeURIComponent(inv.id)}/void`, { reason: v.reason }),
      });
      if (done) reload();
    } }, 'Void…'));
  }
  const base = `invoice-${(inv.number || inv.id).replace(/[^A-Za-z0-9._-]/g, '_')}`;
  for (const [fmt, label] of [['pdf', 'PDF'], ['csv', 'CSV'], ['json', 'JSON']]) {
    actions.append(h('button', { type: 'button', class: 'btn', 'data-export': fmt, onclick: async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      clear(actionMsg);
      try {
        await download(`/v1/invoices/${encodeURIComponent(inv.id)}/export?format=${fmt}`, `${base}.${fmt}`);
        clear(actionMsg, notice('success', `Downloaded ${base}.${fmt}.`));
      } catch (err) {
        clear(actionMsg, notice('error', routeMissing(err) ? 'This server cannot export invoices yet.' : `Export failed: ${err.message}`));
      } finally {
        b.disabled = false;
      }
    } }, `Download ${label}`));
  }

  const lines = inv.lines || [];
  const value = inv.value_statement || inv.value || null;
  const notes = inv.notes || {};
  const unpricedOutcomes = Object.entries(notes.unpriced_outcomes || {});
  clear(view,
    h('p', { class: 'crumbs' }, link(app.isViewer() ? '/invoices' : `/invoices${qs({ customer_id: invCustomerID(inv) })}`, '← Invoices')),
    h('div', { class: 'page-head' },
      h('h1', {}, invTitle(inv), ' ', badge(inv.status)),
      actions),
    actionMsg,
    query.get('rebuilt') ? notice('success', `Re-run done: the draft was rebuilt from the period's tasks at ${f.datetime(inv.updated_at)}.`) : null,
    inv.status === 'void' ? notice('warn', h('span', { class: 'strong' }, 'Void: '), inv.void_reason || 'no reason recorded') : null,
    h('div', { class: 'grid-2' },
      h('section', { class: 'card', 'aria-label': 'Invoice details' }, dl([
        ['Customer', [invCustomerName(inv), ' ', h('code', { class: 'muted' }, invCustomerID(inv))]],
        ['Period', f.period(inv.period_start, inv.period_end)],
        ['Number', inv.number || 'assigned at finalization'],
        ['Issue date', inv.issue_date ? f.date(inv.issue_date) : '—'],
        ['Plan', inv.plan ? `${inv.plan.plan_id} v${inv.plan.version}` : inv.plan_id ? `${inv.plan_id} v${inv.plan_version}` : '—'],
        ['Currency', cur],
        inv.status === 'draft' ? ['Last built', f.datetime(inv.updated_at)] : ['Finalized', f.datetime(inv.finalized_at)],
        inv.status === 'void' ? ['Voided', f.datetime(inv.voided_at)] : null,
      ])),
      h('section', { class: 'card totals', 'aria-label': 'Totals' }, dl([
        ['Subtotal', f.money(inv.subtotal, cur)],
        ['Prepaid credits applied', f.money(inv.credits_applied, cur)],
        ['Total', h('span', { class: 'total', 'data-total': true }, f.money(inv.total, cur))],
      ]))),
    unpricedOutcomes.length || notes.unpriced_usage ? notice('warn',
      h('span', { class: 'strong' }, 'Not everything could be priced. '),
      unpricedOutcomes.map(([t, n]) => `${n} outcome${n === 1 ? '' : 's'} of ${t} have no price in the plan. `),
      notes.unpriced_usage ? `${notes.unpriced_usage} usage event(s) have no model price yet.` : '') : null,
    h('section', { 'aria-labelledby': 'lines-title' },
      h('h2', { id: 'lines-title' }, 'Lines'),
      table('Invoice lines with their explanations', [
        { label: '#', value: (l) => String(l.position ?? ''), class: 'num narrow' },
        { label: 'Description and explanation', value: (l) => [
          h('div', { class: 'strong' }, l.description),
          h('div', { class: 'explanation' }, typeof l.explanation === 'string' ? l.explanation : l.explanation_text || ''),
        ] },
        { label: 'Quantity', value: (l) => f.group(l.quantity), class: 'num' },
        { label: 'Unit amount', value: (l) => (l.unit_amount ? h('span', { title: f.money(l.unit_amount, cur) }, f.unit(l.unit_amount, cur)) : '—'), class: 'num' },
        { label: 'Amount', value: (l) => f.money(l.amount, cur), class: 'num' },
      ], lines, { empty: 'This invoice has no lines.', class: 'lines' })),
    value ? h('section', { 'aria-labelledby': 'value-title' },
      h('h2', { id: 'value-title' }, 'What this work would have cost in people'),
      dl([
        ['Outcomes billed', `${f.int(value.outcomes)} (${f.int(value.succeeded)} succeeded, ${f.int(value.partial)} partial)`],
        ['Hours a person would have needed', f.group(value.human_hours)],
        ['Cost of those hours', value.labor_cost ? f.money(value.labor_cost) : '—'],
        ['This invoice', f.money(value.invoice_amount || value.amount || inv.total, cur)],
        ['Savings', value.savings ? f.money(value.savings) : '—'],
        ['Full-time equivalents', f.group(value.full_time_equivalents ?? value.fte)],
      ], 'facts facts-wide')) : null);
}

export async function creditNotesPage({ view, query, app }) {
  clear(view, h('h1', {}, 'Credit notes'), spinner());
  let rows;
  try {
    rows = await all(`/v1/credit-notes${qs({ customer_id: query.get('customer_id') || '' })}`);
  } catch (e) {
    if (routeMissing(e)) {
      clear(view, h('h1', {}, 'Credit notes'), notice('info', 'This server does not serve credit notes yet.'));
      return;
    }
    throw e;
  }
  clear(view, h('p', { class: 'crumbs' }, link('/invoices', '← Invoices')), h('h1', {}, 'Credit notes'),
    h('p', { class: 'lede' }, 'A dispute that arrives after an invoice was finalized is credited on a credit note, never by editing the invoice.'),
    table('Credit notes', [
      { label: 'Number', value: (n) => h('span', { class: 'strong' }, n.number) },
      { label: 'Customer', value: (n) => n.customer_name || n.customer_id },
      { label: 'Issued', value: (n) => f.date(n.issue_date), class: 'nowrap' },
      { label: 'Lines', value: (n) => h('ul', { class: 'plain' }, (n.lines || []).map((l) => h('li', {},
        l.description, ' ', l.invoice_id ? link(`/invoices/${encodeURIComponent(l.invoice_id)}`, `(${l.invoice_number || 'invoice'})`) : null,
        h('div', { class: 'explanation' }, l.explanation || '')))) },
      { label: 'Total', value: (n) => f.money(n.total, n.currency), class: 'num' },
    ], rows, { empty: 'No credit notes.' }));
}
