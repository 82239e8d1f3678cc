import { h, clear, link, table, field, spinner } from '../dom.js';
import { all, qs } from '../api.js';
import * as f from '../format.js';

// Admin reference lists: read-only views of what the API's admin routes hold.

export async function customersPage({ view, app }) {
  clear(view, h('h1', {}, 'Customers'), spinner());
  const rows = await all('/v1/customers');
  const cols = [
    { label: 'Name', value: (c) => h('span', { class: 'strong' }, c.name) },
    { label: 'Customer ID', value: (c) => h('code', {}, c.customer_id) },
    { label: 'Currency', value: (c) => c.currency },
    { label: 'Timezone', value: (c) => c.timezone || '—', class: 'nowrap' },
    { label: 'Anchor day', value: (c) => String(c.billing_anchor_day || '—'), class: 'num' },
    { label: 'Created', value: (c) => f.date(c.created_at), class: 'nowrap' },
  ];
  if (app.has('finance')) {
    cols.push({ label: 'Views', value: (c) => h('span', { class: 'links' },
      link(`/invoices${qs({ customer_id: c.customer_id })}`, 'Invoices'),
      link(`/economics/customers/${encodeURIComponent(c.customer_id)}`, 'Margin'),
      link(`/customers/${encodeURIComponent(c.customer_id)}/labor`, 'Labor equivalent')) });
  }
  clear(view, h('h1', {}, 'Customers'),
    h('p', { class: 'lede' }, `${rows.length} customer${rows.length === 1 ? '' : 's'}. Create and change them through the API (POST/PATCH /v1/customers).`),
    table('Customers', cols, rows, { empty: 'No customers yet.', rowAttrs: (c) => ({ 'data-customer': c.customer_id }) }));
}

function duration(seconds) {
  if (seconds === undefined || seconds === null) return '—';
  const s = Number(seconds);
  if (s === 0) return 'none';
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  return `${s} s`;
}

export async function outcomeTypesPage({ view }) {
  clear(view, h('h1', {}, 'Outcome types'), spinner());
  const rows = await all('/v1/outcome-types');
  clear(view, h('h1', {}, 'Outcome types'),
    h('p', { class: 'lede' }, 'Each kind of agent work with its labor baseline: what a person needs for one such task and what that person costs.'),
    table('Outcome types', [
      { label: 'Outcome type', value: (o) => [h('code', {}, o.outcome_type), h('div', { class: 'muted' }, o.name || '')] },
      { label: 'Human minutes', value: (o) => f.group(o.baseline?.human_minutes), class: 'num' },
      { label: 'Burdened annual cost', value: (o) => [f.money(o.baseline?.annual_cost),
        h('div', { class: 'muted small' }, `over ${f.group(o.baseline?.productive_hours)} productive h`)], class: 'num' },
      { label: 'Hourly rate', value: (o) => f.money(o.baseline?.hourly_rate), class: 'num' },
      { label: 'Labor cost / task', value: (o) => f.money(o.baseline?.task_cost), class: 'num' },
      { label: 'Dispute window', value: (o) => duration(o.dispute_window_seconds), class: 'num' },
      { label: 'Task timeout', value: (o) => duration(o.task_timeout_seconds), class: 'num' },
    ], rows, { empty: 'No outcome types yet.' }));
}

export async function modelPricesPage({ view, query, app }) {
  const model = query.get('model') || '';
  const input = h('input', { type: 'search', name: 'model', value: model, placeholder: 'e.g. gpt-4.1-mini' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter model prices' },
    field('Model', input), h('button', { type: 'submit', class: 'btn' }, 'Filter'));
  form.addEventListener('submit', (e) => { e.preventDefault(); app.navigate(`/model-prices${qs({ model: input.value.trim() })}`); });
  clear(view, h('h1', {}, 'Model prices'), form, spinner());
  const rows = await all(`/v1/model-prices${qs({ model })}`, 2000);
  const per = (v) => (v === null || v === undefined ? '—' : f.group(v));
  clear(view, h('h1', {}, 'Model prices'),
    h('p', { class: 'lede' }, 'USD per million tokens, effective-dated: a task is costed with the row in force when its usage occurred. Catalog rows are public list prices; vendor rows are your own.'),
    form,
    table('Model prices', [
      { label: 'Model', value: (p) => h('code', {}, p.model), class: 'nowrap' },
      { label: 'From', value: (p) => f.date(p.effective_from), class: 'nowrap' },
      { label: 'Input', value: (p) => per(p.input_per_mtok), class: 'num' },
      { label: 'Cached input', value: (p) => per(p.cached_input_per_mtok), class: 'num' },
      { label: 'Cache write', value: (p) => per(p.cache_write_per_mtok), class: 'num' },
      { label: 'Output', value: (p) => per(p.output_per_mtok), class: 'num' },
      { label: 'Reasoning', value: (p) => per(p.reasoning_per_mtok), class: 'num' },
      { label: 'Origin', value: (p) => h('span', { class: `badge badge-${p.origin === 'vendor' ? 'finalized' : 'draft'}` }, p.origin || '—') },
      { label: 'Source', value: (p) => [p.source || '—', p.as_of ? h('span', { class: 'muted' }, ` (${p.as_of})`) : null], class: 'wrap-any' },
    ], rows, { empty: model ? 'No price rows for this model.' : 'No model prices.' }));
}
