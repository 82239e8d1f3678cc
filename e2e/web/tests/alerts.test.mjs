// Alerts in the dashboard: a margin floor on a customer fires as a task bills, and the firing
// shows on the alerts page — with the figures that crossed the floor — and on the customer's
// margin page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { URL_BASE, ADMIN_KEY, launch, api, settle, newPage, signIn, screenshot, assertFits, assertClean } from './helpers.mjs';

let browser;
let alertID;

before(async () => {
  browser = await launch();
  await settle();
});

after(async () => {
  if (alertID) await api('DELETE', `/v1/customers/acme/alerts/${alertID}`);
  await browser?.close();
});

test('a margin floor fires as a task bills and shows on the alerts and margin pages', async (t) => {
  // A floor of 100%: any period with revenue and some cost is below it.
  const a = await api('POST', '/v1/customers/acme/alerts', { body: { kind: 'margin_floor', threshold: '100' } });
  assert.equal(a.status, 201, a.text);
  alertID = a.body.id;
  assert.equal(a.body.threshold_percent, '100');
  // A task of an outcome type with no dispute window, with 5 USD of tool cost, bills at once.
  const ot = await api('PUT', '/v1/outcome-types/test.alert_probe', { body: { name: 'Alert probe',
    baseline: { human_minutes: '5', annual_cost: { amount: '60000', currency: 'USD' } }, dispute_window_seconds: 0 } });
  assert.ok([200, 201].includes(ot.status), ot.text);
  const task = `alert-probe-${Date.now()}`;
  const at = new Date(Date.now() - 60000).toISOString();
  const ev = (id, type, extra) => ({ id: `${task}-${id}`, type, customer_id: 'acme', task_id: task, occurred_at: at, ...extra });
  const sent = await api('POST', '/v1/events', { body: { events: [
    ev('s', 'task.started', { outcome_type: 'test.alert_probe' }),
    ev('u', 'task.usage', { cost: '5.00', description: 'tool calls' }),
    ev('o', 'task.outcome', { status: 'succeeded' })] } });
  assert.equal(sent.status, 200, sent.text);

  let firing;
  const deadline = Date.now() + 90000;
  while (!firing && Date.now() < deadline) {
    const list = (await api('GET', '/v1/alert-firings?customer_id=acme&kind=margin_floor')).body?.data || [];
    firing = list.find((f) => f.alert_id === alertID);
    if (!firing) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(firing, 'the margin floor fired within 90 s of the task billing');
  assert.equal(firing.event, 'margin.below_floor');
  // The worker's evaluator fires it as the task bills: settle() waited for the demo's own invoice
  // runs, whose drafts would otherwise evaluate the new alert first (basis invoice_draft).
  assert.equal(firing.data.basis, 'period_to_date');

  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/alerts');
  await page.getByRole('heading', { name: 'Alerts' }).waitFor();
  const row = page.locator(`tr[data-alert-firing="${alertID}"]`);
  await row.waitFor();
  const text = await row.textContent();
  assert.match(text, /Margin below floor/);
  assert.match(text, new RegExp(`${firing.value.replace('.', '\\.')}% < floor 100%`));
  assert.match(text, /Revenue USD [\d,]+\.\d\d · cost USD/);
  await page.getByLabel('Kind').selectOption('spend');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/kind=spend/);
  await page.locator('main tbody tr').first().waitFor();
  assert.equal(await page.locator(`tr[data-alert-firing="${alertID}"]`).count(), 0);
  await page.goto(`${URL_BASE}/alerts?customer_id=acme&kind=margin_floor`);
  await row.waitFor();
  await assertFits(t, page, assert);
  await screenshot(page, 'alerts');

  await page.goto(`${URL_BASE}/economics/customers/acme`);
  const section = page.locator('section[data-section="alerts"]');
  await section.waitFor();
  await section.locator(`tr[data-alert-firing="${alertID}"]`).waitFor();
  await assertFits(t, page, assert);
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});
