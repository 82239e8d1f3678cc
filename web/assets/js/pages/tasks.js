import { h, clear, table, field, dl, badge, notice, spinner } from '../dom.js';
import { get } from '../api.js';
import * as f from '../format.js';

// Task search: one task by id, its lifecycle (the events in the order they happened) and what it
// cost by model.
export async function tasksPage({ view, params, app }) {
  const id = params.id || '';
  const input = h('input', { type: 'search', name: 'task_id', value: id, required: true, placeholder: 'e.g. T-1', autocomplete: 'off' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find a task' },
    field('Task ID', input), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Find task'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (v) app.navigate(`/tasks/${encodeURIComponent(v)}`);
  });
  const result = h('div', { class: 'task-result' });
  clear(view, h('h1', {}, 'Tasks'),
    h('p', { class: 'lede' }, 'Find one unit of agent work by its task_id: its state, the events that made it, and what it cost.'),
    form, result);
  if (!id) {
    input.focus();
    return;
  }
  result.append(spinner());
  let t;
  try {
    t = await get(`/v1/tasks/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e.status === 404) {
      clear(result, notice('warn', `No task with id “${id}”.`));
      return;
    }
    throw e;
  }
  const events = [...(t.events || [])].sort((a, b) => new Date(a.occurred_at) - new Date(b.occurred_at));
  clear(result,
    h('section', { class: 'card', 'aria-labelledby': 'task-title' },
      h('div', { class: 'card-head' },
        h('h2', { id: 'task-title' }, 'Task ', h('code', {}, t.task_id)), badge(t.status)),
      dl([
        ['Customer', t.customer_id],
        ['Outcome type', t.outcome_type || '—'],
        ['Priority', t.priority || 'normal'],
        ['Outcome', t.outcome || '—'],
        ['Quality', t.quality ?? '—'],
        ['Started', f.datetime(t.started_at)],
        ['Outcome at', f.datetime(t.outcome_at)],
        ['Billable at', f.datetime(t.billable_at)],
        ['Disputed', t.disputed ? `yes: ${t.dispute_reason || 'no reason given'}` : 'no'],
        ['Cancelled', t.cancelled ? 'yes' : 'no'],
        ['Cost (USD, full precision)', h('span', { class: 'num', title: t.cost_usd }, t.cost_usd)],
        ['Unpriced usage events', String(t.unpriced_events ?? 0)],
      ])),
    h('section', { 'aria-labelledby': 'lifecycle-title' },
      h('h2', { id: 'lifecycle-title' }, 'Lifecycle'),
      h('ol', { class: 'timeline' }, events.map((e) => h('li', {},
        h('span', { class: 'timeline-when' }, f.datetime(e.occurred_at)),
        h('span', { class: 'timeline-what' }, h('code', {}, e.type), describe(e)),
        e.cost_usd ? h('span', { class: 'timeline-cost' }, f.cost(e.cost_usd)) : null))),
      h('p', { class: 'muted' }, lifecycleNote(t))),
    h('section', { 'aria-labelledby': 'cost-title' },
      h('h2', { id: 'cost-title' }, 'Cost by model'),
      table('Cost by model', [
        { label: 'Model', value: (m) => h('code', {}, m.model) },
        { label: 'Input tokens', value: (m) => f.int(m.input_tokens), class: 'num' },
        { label: 'Output tokens', value: (m) => f.int(m.output_tokens), class: 'num' },
        { label: 'Cost (USD)', value: (m) => h('span', { title: m.cost_usd }, f.cost(m.cost_usd, '')), class: 'num' },
        { label: 'Unpriced events', value: (m) => String(m.unpriced_events ?? 0), class: 'num' },
      ], t.cost_by_model || [], { empty: 'No usage recorded.' })));
}

function describe(e) {
  const b = e.event || {};
  switch (e.type) {
    case 'task.started': return ` ${b.outcome_type || ''}${b.priority === 'urgent' ? ' (urgent)' : ''}`;
    case 'task.usage': return b.model ? ` ${b.model}: ${f.int(b.input_tokens)} in / ${f.int(b.output_tokens)} out` : ` ${b.description || 'other cost'}`;
    case 'task.outcome': return ` ${b.status || ''}${b.quality !== undefined ? `, quality ${b.quality}` : ''}`;
    case 'task.disputed': return ` ${b.reason || ''}`;
    default: return '';
  }
}

function lifecycleNote(t) {
  switch (t.status) {
    case 'open': return 'Open: waiting for an outcome.';
    case 'verifying': return 'Verifying: in its dispute window; billable when the window passes without a dispute.';
    case 'billable': return 'Billable: the dispute window passed; it is billed in the period it became billable.';
    case 'not_billable': return 'Not billable: its token cost still counts as cost.';
    case 'expired': return 'Expired: no outcome arrived before the task timeout.';
    default: return '';
  }
}
