// What-if simulations in the dashboard: start one from the form for each kind of change, follow
// its progress to the end, read actual against simulated figures side by side per customer and
// period, and find it in the list by its status. A bad request shows the API's message and field
// and starts nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { URL_BASE, ADMIN_KEY, launch, api, settle, newPage, signIn, screenshot, assertFits, assertClean } from './helpers.mjs';

let browser;

// YYYY-MM of the month n months before this one.
function monthBack(n) {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1)).toISOString().slice(0, 7);
}

before(async () => {
  browser = await launch();
  await settle();
  // The dev demo subscribes its customers to plans; a dev without them gets one here.
  const subs = await api('GET', '/v1/customers/acme/subscriptions');
  if ((subs.body?.data || []).length === 0) {
    const plan = await api('POST', '/v1/plans', { body: { plan_id: 'sim-test-usd', name: 'Sim test (USD)', currency: 'USD',
      terms: { platform_fee: '49.00' }, prices: [{ outcome_type: 'support.ticket_resolved', model: 'per_outcome', unit_amount: '0.99' }] } });
    assert.ok([200, 201].includes(plan.status), `plan: ${plan.status} ${plan.text}`);
    const sub = await api('POST', '/v1/customers/acme/subscriptions', { body: { plan_id: 'sim-test-usd', starts_at: '2020-01-01' } });
    assert.ok([200, 201].includes(sub.status), `subscription: ${sub.status} ${sub.text}`);
  }
});

after(async () => {
  await browser?.close();
});

/** openForm opens the list page with the new-simulation form showing. */
async function openForm(page) {
  await page.goto(`${URL_BASE}/simulations?new=1`);
  await page.getByRole('heading', { name: 'What-if simulations' }).waitFor();
  await page.getByRole('form', { name: 'New simulation' }).waitFor();
  await page.locator('select[name="customer_ids"]').selectOption(['acme']);
  await page.getByLabel('From month').fill(monthBack(2));
  await page.getByLabel('To month (included)').fill(monthBack(1));
}

/** runAndWait submits the form and follows the simulation's page until it completes. */
async function runAndWait(page) {
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.waitForURL(/\/simulations\/sim_[0-9a-f]+$/);
  const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  await page.locator('h1 .badge', { hasText: /completed|failed/i }).waitFor({ timeout: 60000 });
  const sim = (await api('GET', `/v1/simulations/${id}`)).body;
  assert.equal(sim.status, 'completed', `simulation ${id}: ${sim.error}`);
  return { id, sim };
}

test('a price change: progress, then actual and simulated side by side per customer and period', async (t) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/simulations');
  assert.ok(await page.locator('#nav a', { hasText: 'What-if' }).count() === 1, 'What-if is in the navigation');
  await openForm(page);
  await page.getByLabel('What to change').selectOption('prices');
  await page.locator('[data-change="prices"]').getByLabel('Outcome type').fill('support.ticket_resolved');
  await page.getByLabel('Price per outcome').fill('2.50');
  await page.getByLabel('Platform fee').fill('0.00');
  // Only the chosen kind of change shows.
  assert.deepEqual(await page.locator('fieldset[data-change]').evaluateAll((els) => els.filter((e) => e.offsetParent !== null)
    .map((e) => e.dataset.change)), ['prices']);
  await assertFits(t, page, assert);
  await screenshot(page, 'simulation-form');
  const { id, sim } = await runAndWait(page);

  // Two periods of acme, each a row with an actual and a simulated figure for every metric.
  const rows = page.locator('tr[data-result]');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2);
  assert.equal(sim.results.length, 2);
  const heads = await page.locator('table.side-by-side thead th').allTextContents();
  for (const h of ['Revenue', 'Cost', 'Gross margin', 'Savings']) assert.ok(heads.includes(h), `header ${h} in ${heads}`);
  assert.equal(heads.filter((h) => h === 'Actual').length, 4);
  assert.equal(heads.filter((h) => h === 'Simulated').length, 4);
  // The figures are the API's, exact: revenue actual and simulated of the first period.
  const group = (s) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cells = await rows.first().locator('td').allTextContents();
  const r0 = sim.results[0];
  assert.equal(cells[2], group(r0.actual.revenue.amount));
  assert.ok(cells[3].startsWith(group(r0.simulated.revenue.amount)), `simulated revenue cell ${cells[3]}`);
  // No platform fee and 2.50 a resolved ticket: the simulated revenue differs, by the delta shown.
  const diff = Math.round((Number(r0.simulated.revenue.amount) - Number(r0.actual.revenue.amount)) * 100) / 100;
  assert.equal(Number(r0.delta.revenue.amount), diff);
  assert.match(cells[3], new RegExp(`[+−]${group(Math.abs(diff).toFixed(2)).replace('.', '\\.')}$`));
  // Totals per currency above the table.
  await page.locator('[data-totals="USD"]').waitFor();
  assert.equal(await page.locator('[data-sim-running]').count(), 0, 'no progress notice once completed');
  await assertFits(t, page, assert);
  await screenshot(page, 'simulation');

  // The list: this simulation, completed; the status filter keeps it and the URL says so.
  await page.getByRole('link', { name: '← Simulations' }).click();
  const row = page.locator(`tr[data-simulation="${id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-status'), 'completed');
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/status=failed/);
  await page.getByText(/No simulation with this status|./).first().waitFor();
  assert.equal(await page.locator(`tr[data-simulation="${id}"]`).count(), 0);
  await page.getByLabel('Status').selectOption('completed');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/status=completed/);
  await page.locator(`tr[data-simulation="${id}"]`).waitFor();
  await assertFits(t, page, assert);
  await screenshot(page, 'simulations');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('a plan change, a labor baseline and a model mix each run to completion', async () => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/simulations');

  // A whole other plan, started from an existing one and edited.
  await openForm(page);
  await page.getByLabel('What to change').selectOption('plan');
  const plans = (await api('GET', '/v1/plans')).body.data.filter((p) => p.currency === 'USD');
  await page.getByLabel('Start from').selectOption(plans[0].plan_id);
  const text = JSON.parse(await page.getByLabel(/Plan \(JSON/).inputValue());
  assert.deepEqual(text.prices, plans[0].prices, 'the plan chosen fills the editor');
  text.terms = { ...text.terms, platform_fee: '99.00' };
  await page.getByLabel(/Plan \(JSON/).fill(JSON.stringify(text));
  let { sim } = await runAndWait(page);
  assert.equal(Number(sim.request.changes.plan.terms.platform_fee), 99);
  for (const r of sim.results) {
    if (!r.simulated.error) assert.ok(Number(r.simulated.revenue.amount) >= 99, `revenue with a 99.00 fee: ${r.simulated.revenue.amount}`);
  }

  // Another labor baseline: the savings change, the revenue of per-outcome prices does not.
  await openForm(page);
  await page.getByLabel('What to change').selectOption('labor_baseline');
  const lb = page.locator('[data-change="labor_baseline"]');
  await lb.getByLabel('Outcome type').fill('support.ticket_resolved');
  await lb.getByLabel('Human minutes').fill('30');
  await lb.getByLabel('Burdened annual cost').fill('120000');
  ({ sim } = await runAndWait(page));
  assert.deepEqual(Object.keys(sim.request.changes.labor_baselines), ['support.ticket_resolved']);
  assert.ok(sim.results.some((r) => r.simulated.savings && r.actual.savings && r.simulated.savings.amount !== r.actual.savings.amount),
    'the savings differ');

  // A model mix with a model the period saw on that outcome type.
  const from = `${monthBack(2)}-01`;
  const to = `${monthBack(0)}-01`;
  const me = (await api('GET', `/v1/model-economics?from=${from}&to=${to}&outcome_type=support.ticket_resolved`)).body;
  const model = (me.models || []).find((m) => m.model && m.tasks > 0)?.model;
  assert.ok(model, 'the demo served support tickets with some model');
  await openForm(page);
  await page.getByLabel('What to change').selectOption('model_mix');
  const mm = page.locator('[data-change="model_mix"]');
  await mm.getByLabel('Outcome type').fill('support.ticket_resolved');
  await mm.getByLabel('Served by model').fill(model);
  ({ sim } = await runAndWait(page));
  assert.equal(sim.model_costs['support.ticket_resolved'].model, model);
  await page.getByText(`Observed cost of ${model} on support.ticket_resolved`).waitFor();
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('a bad request shows the field and starts nothing; a key without finance gets the 403 page', async () => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/simulations');
  const before = (await api('GET', '/v1/simulations?limit=200')).body.data.length;
  await openForm(page);
  await page.getByLabel('From month').fill(monthBack(1));
  await page.getByLabel('To month (included)').fill(monthBack(2)); // before from
  await page.locator('[data-change="prices"]').getByLabel('Outcome type').fill('support.ticket_resolved');
  await page.getByLabel('Price per outcome').fill('1.00');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('.form-message .notice-error', { hasText: '(to)' }).waitFor();
  assert.match(new URL(page.url()).pathname, /^\/simulations$/);
  assert.equal((await api('GET', '/v1/simulations?limit=200')).body.data.length, before);
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();

  const admin = await api('POST', '/v1/api-keys', { body: { name: 'admin only (sim test)', scopes: ['admin'] } });
  assert.equal(admin.status, 201, admin.text);
  const p2 = await newPage(browser);
  await signIn(p2, admin.body.key, '/customers');
  assert.equal(await p2.locator('#nav a', { hasText: 'What-if' }).count(), 0);
  await p2.goto(`${URL_BASE}/simulations`);
  await p2.locator('[data-page="forbidden"]').waitFor();
  assertClean(p2, assert, [admin.body.key, ADMIN_KEY]);
  await p2.context().close();
});
