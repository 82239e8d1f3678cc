// The dashboard driven as a person would: sign in with a key, look at the pages each key may see,
// run, finalize, download and void an invoice, search a task, and check that a line manager's
// viewer key reaches nothing but their own company.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  URL_BASE, ADMIN_KEY, launch, api, routeExists, settle, demoTaskID, newPage, signIn, screenshot,
  assertFits, assertClean, canvasInk,
} from './helpers.mjs';

let browser;
let taskIDs = [];
const have = {};
const invoices = {}; // customer_id → an invoice id made in set-up
const INJECTION = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

// A month before this one, as the API's "period" (each customer's billing period starting in it).
function monthBack(back) {
  const n = new Date();
  return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth() - back, 1)).toISOString().slice(0, 7);
}

async function waitRun(run) {
  for (let i = 0; i < 120; i++) {
    if (['drafted', 'finalized', 'failed'].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 1000));
    run = (await api('GET', `/v1/invoice-runs/${encodeURIComponent(run.id)}`)).body;
  }
  throw new Error(`invoice run ${run.id} did not finish: ${run.status}`);
}

before(async () => {
  browser = await launch();
  taskIDs = await settle();
  have.invoices = await routeExists('GET', '/v1/invoices');
  have.runs = await routeExists('POST', '/v1/invoice-runs');
  have.margin = await routeExists('GET', '/v1/margin?from=2026-01-01&to=2026-02-01');
  have.labor = await routeExists('GET', '/v1/customers/acme/labor-equivalent?from=2026-01-01&to=2026-02-01');
  have.modelEconomics = await routeExists('GET', '/v1/model-economics?from=2026-01-01&to=2026-02-01');

  // A customer whose name is an injection attempt: it must show as text everywhere.
  const c = await api('POST', '/v1/customers', { body: { customer_id: 'xss-test', name: INJECTION, currency: 'USD', timezone: 'UTC' } });
  assert.ok([200, 201].includes(c.status), `create customer: ${c.status} ${c.text}`);

  if (!have.invoices) return;
  // The dev demo seeds plans, prepaid credit and invoices for its customers' last two closed
  // periods (the older finalized, the newer a draft) once their tasks settle. If this dev has no
  // subscriptions, the tests bill the demo customers themselves.
  const subs = await api('GET', '/v1/customers/acme/subscriptions');
  if ((subs.body?.data || []).length > 0) {
    await waitFor(async () => {
      const list = (await api('GET', '/v1/invoices?limit=200')).body?.data || [];
      for (const c of ['acme', 'globex', 'initech']) {
        const mine = list.filter((i) => i.customer_id === c);
        if (mine.length < 2) return false;
        invoices[c] = mine[0].id;
      }
      return true;
    }, 180000, 'the demo invoices');
    return;
  }
  for (const [cust, cur] of [['acme', 'USD'], ['globex', 'EUR'], ['initech', 'JPY']]) {
    // labor_share prices a share of the customer's labor baseline, which must be in its currency
    // or convertible: the demo's baselines are USD (Globex has its own in EUR) and there is no
    // JPY rate, so Initech's plan prices per outcome only.
    const plan = cur === 'JPY' ? 'flat-jpy' : `growth-${cur.toLowerCase()}`;
    const p = await api('POST', '/v1/plans', { body: { plan_id: plan, name: `Growth (${cur})`, currency: cur,
      terms: { platform_fee: cur === 'JPY' ? '5000' : '49' },
      prices: [
        { outcome_type: 'support.ticket_resolved', model: 'per_outcome', unit_amount: cur === 'JPY' ? '150' : '0.99' },
        cur === 'JPY'
          ? { outcome_type: 'finance.invoice_reconciled', model: 'per_outcome', unit_amount: '900' }
          : { outcome_type: 'finance.invoice_reconciled', model: 'labor_share', share: '0.3' },
        { outcome_type: 'code.pr_merged', model: 'per_outcome', unit_amount: cur === 'JPY' ? '3000' : '25' },
      ] } });
    assert.ok([200, 201].includes(p.status), `create plan: ${p.status} ${p.text}`);
    const sub = await api('POST', `/v1/customers/${cust}/subscriptions`, { body: { plan_id: plan, starts_at: '2020-01-01' } });
    assert.ok([200, 201].includes(sub.status), `subscribe: ${sub.status} ${sub.text}`);
    for (const back of [2, 1]) {
      const r = await api('POST', '/v1/invoice-runs', { body: { customer_id: cust, period: monthBack(back) } });
      assert.equal(r.status, 202, `invoice run: ${r.text}`);
      const run = await waitRun(r.body.data[0]);
      assert.notEqual(run.status, 'failed', `invoice run failed: ${run.error}`);
      invoices[cust] = run.invoice_id;
    }
  }
});

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`timed out waiting for ${what}`);
}

after(async () => {
  await browser?.close();
});

test('the dashboard is served at / with its security headers', async () => {
  const res = await fetch(`${URL_BASE}/`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') || '';
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await res.text(), /<div id="app"/);
  // A deep link loads the same page; the API keeps its JSON 404s.
  assert.equal((await fetch(`${URL_BASE}/invoices/whatever`)).status, 200);
  const miss = await fetch(`${URL_BASE}/v1/nothing`);
  assert.equal(miss.status, 404);
  assert.equal((await miss.json()).error.code, 'not_found');
});

test('a wrong key is refused and the key is kept out of URLs, cookies and localStorage', async () => {
  const page = await newPage(browser);
  await page.goto(`${URL_BASE}/invoices`);
  await page.waitForURL(/\/sign-in\?next=%2Finvoices/);
  await page.getByLabel('API key').fill('ob_notakey_really');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That key was not accepted').waitFor();
  await screenshot(page, 'sign-in');

  await page.getByLabel('API key').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/invoices$/); // back to where the user was going
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate((k) => sessionStorage.getItem('outcomebill.key') === k, ADMIN_KEY), true);
  // Every vendor page is in the navigation of a key with admin, finance and ingest.
  const nav = await page.locator('#nav a').allTextContents();
  assert.deepEqual(nav, ['Invoices', 'Economics', 'Models', 'What-if', 'Alerts', 'Tasks', 'Customers', 'Outcome types', 'Model prices']);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/sign-in/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('finance: invoices, run, finalize with confirmation, download the PDF, void with a reason', async (t) => {
  if (!have.invoices || !have.runs) return t.skip('GET /v1/invoices or POST /v1/invoice-runs is not on this server yet');
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/invoices');
  await page.waitForSelector('tr[data-invoice]');
  // Filters: status=draft shows drafts only, and the URL keeps the filter.
  await page.getByLabel('Status').selectOption('draft');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/status=draft/);
  await page.waitForSelector('tr[data-invoice]');
  const statuses = await page.locator('tr[data-invoice]').evaluateAll((rows) => rows.map((r) => r.dataset.status));
  assert.ok(statuses.length >= 3 && statuses.every((s) => s === 'draft'), `statuses ${statuses}`);
  await page.goto(`${URL_BASE}/invoices`);
  await page.waitForSelector('tr[data-invoice]');
  await assertFits(t, page, assert);
  await screenshot(page, 'invoices');

  // Re-run Globex's billing period that started last month from the page and follow its progress
  // to the draft (Acme's invoices are left for the line manager's test).
  await page.locator('.run-card summary').click();
  await page.locator('select[name="run_customer"]').selectOption('globex');
  await page.getByRole('button', { name: 'Run invoice' }).click();
  await page.waitForSelector('[data-run-status="drafted"], [data-run-status="finalized"]', { timeout: 60000 });
  await page.locator('[data-run-invoice]').click();
  await page.waitForURL(/\/invoices\/[^/]+$/);
  const id = decodeURIComponent(page.url().split('/').pop());
  await page.getByRole('heading', { name: /Draft invoice/ }).waitFor();
  const lines = await page.locator('table.lines tbody tr').count();
  assert.ok(lines >= 2, `invoice has ${lines} lines`);
  assert.ok(await page.locator('.explanation').first().textContent(), 'lines carry explanations');
  await assertFits(t, page, assert);
  // Re-run from the draft itself: the same invoice is rebuilt, not a second one.
  await page.getByRole('button', { name: 'Re-run' }).click();
  await page.waitForURL(/\?rebuilt=1$/, { timeout: 60000 });
  assert.equal(decodeURIComponent(new URL(page.url()).pathname.split('/').pop()), id);
  await page.getByText('Re-run done').waitFor();
  await screenshot(page, 'invoice-draft');

  // Finalize: a confirmation dialog first; cancelling changes nothing.
  await page.getByRole('button', { name: 'Finalize…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading', { name: 'Finalize this invoice?' }).waitFor();
  await screenshot(page, 'invoice-finalize-dialog');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await api('GET', `/v1/invoices/${encodeURIComponent(id)}`)).body.status, 'draft');
  await page.getByRole('button', { name: 'Finalize…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Finalize invoice' }).click();
  await page.getByRole('heading', { name: /^Invoice \d{4}-\d{6}/ }).waitFor();
  assert.equal((await api('GET', `/v1/invoices/${encodeURIComponent(id)}`)).body.status, 'finalized');
  await screenshot(page, 'invoice-finalized');

  // PDF download: fetched with the Authorization header, saved from a Blob.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download PDF' }).click()]);
  assert.match(download.suggestedFilename(), /^invoice-\d{4}-\d{6}\.pdf$/);
  const pdf = readFileSync(await download.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.match(readFileSync(await csv.path()).toString(), /,/);

  // Void needs a reason.
  await page.getByRole('button', { name: 'Void…' }).click();
  const vd = page.getByRole('dialog');
  await vd.getByRole('button', { name: 'Void invoice' }).click();
  await vd.getByText('Reason is required.').waitFor();
  await vd.getByLabel('Reason').fill('Issued to the wrong entity (test)');
  await vd.getByRole('button', { name: 'Void invoice' }).click();
  await page.getByText('Issued to the wrong entity (test)').waitFor();
  assert.equal((await api('GET', `/v1/invoices/${encodeURIComponent(id)}`)).body.status, 'void');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('credit notes page lists credit notes', async (t) => {
  if (!have.invoices) return t.skip('GET /v1/credit-notes is not on this server yet');
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/credit-notes');
  await page.getByRole('heading', { name: 'Credit notes' }).waitFor();
  await page.waitForSelector('table');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('viewer: sees only their company; another customer by direct URL is a 403 page', async (t) => {
  const created = await api('POST', '/v1/customers/acme/viewer-keys', { body: { name: 'Acme line manager' } });
  assert.equal(created.status, 201, created.text);
  const key = created.body.key;
  const page = await newPage(browser);
  await signIn(page, key);
  await page.waitForURL(/\/customers\/acme\/labor/);
  assert.deepEqual(await page.locator('#nav a').allTextContents(), ['Labor equivalent', 'Invoices']);
  assert.match(await page.locator('#who').textContent(), /viewer · acme/);
  if (have.labor) {
    await page.locator('.kpis').waitFor();
    await page.locator('figure.chart canvas').first().waitFor();
    await page.waitForTimeout(300);
    assert.ok(await canvasInk(page, 'figure.chart canvas') > 500, 'the trend chart is drawn');
    await assertFits(t, page, assert);
    await screenshot(page, 'line-manager-labor-equivalent');
  }

  if (have.invoices) {
    await page.getByRole('link', { name: 'Invoices' }).click();
    await page.getByRole('heading', { name: 'Your invoices' }).waitFor();
    await page.waitForSelector('tr[data-invoice]');
    const customers = await page.locator('tr[data-invoice] td:nth-child(2)').allTextContents();
    assert.ok(customers.length > 0 && customers.every((c) => c === 'Acme Support Co'), `customers ${customers}`);
    assert.equal(await page.locator('select[name="customer_id"], input[name="customer_id"]').count(), 0, 'no customer filter for a viewer');
    await screenshot(page, 'line-manager-invoices');
    // Their own invoice opens, without finance actions.
    await page.locator('tr[data-invoice] a').first().click();
    await page.getByRole('button', { name: 'Download PDF' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Finalize|Void/ }).count(), 0);
    // Another customer's invoice by URL: 403 page.
    await page.goto(`${URL_BASE}/invoices/${encodeURIComponent(invoices.globex)}`);
    await page.locator('[data-page="forbidden"]').waitFor();
  }

  for (const path of ['/customers/globex/labor', '/economics', '/customers', '/tasks', '/economics/customers/globex']) {
    await page.goto(URL_BASE + path);
    await page.locator('[data-page="forbidden"]').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Not allowed' }).count(), 1, path);
    assert.doesNotMatch(await page.locator('main').textContent(), /Globex/, `${path} names another customer`);
  }
  await screenshot(page, 'line-manager-403');
  // The API agrees: nothing of another customer.
  assert.equal((await api('GET', '/v1/customers/globex/labor-equivalent?from=2026-01-01&to=2026-02-01', { key })).status, have.labor ? 403 : 404);
  assertClean(page, assert, [key, ADMIN_KEY]);
  await page.context().close();
});

test('vendor economics: the margin chart renders with data', async (t) => {
  if (!have.margin) return t.skip('GET /v1/margin is not on this server yet');
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/economics');
  await page.waitForSelector('tr[data-customer]');
  await page.locator('figure.chart canvas').first().waitFor();
  await page.waitForTimeout(300);
  const charts = await page.locator('figure.chart canvas').count();
  assert.ok(charts >= 2, `${charts} charts`);
  assert.ok(await canvasInk(page, 'figure.chart canvas') > 500, 'the margin chart is drawn');
  const rows = await page.locator('tr[data-customer]').count();
  assert.ok(rows >= 3, `${rows} customers in the margin table`);
  await assertFits(t, page, assert);
  await screenshot(page, 'economics');

  await page.locator('tr[data-customer="acme"] a').click();
  await page.getByRole('heading', { name: /Margin: / }).waitFor();
  await page.getByRole('heading', { name: 'By outcome type' }).waitFor();
  await page.waitForTimeout(300);
  assert.ok(await canvasInk(page, 'figure.chart canvas') > 500, 'the customer margin chart is drawn');
  await assertFits(t, page, assert);
  await screenshot(page, 'economics-customer');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('model economics: recommended model per outcome type', async (t) => {
  if (!have.modelEconomics) return t.skip('GET /v1/model-economics is not on this server yet');
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/models');
  await page.waitForSelector('section[data-outcome-type]');
  assert.ok(await page.locator('section[data-outcome-type]').count() >= 3);
  await page.waitForTimeout(300);
  await assertFits(t, page, assert);
  await screenshot(page, 'model-economics');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('task search shows the lifecycle and cost', async (t) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/tasks');
  const id = taskIDs[0];
  await page.getByLabel('Task ID').fill(id);
  await page.getByRole('button', { name: 'Find task' }).click();
  await page.waitForURL(new RegExp(`/tasks/${id}$`));
  await page.getByRole('heading', { name: 'Lifecycle' }).waitFor();
  const task = (await api('GET', `/v1/tasks/${id}`)).body;
  assert.equal(await page.locator('.timeline li').count(), task.events.length);
  assert.ok(task.events.length >= 3);
  assert.equal(await page.locator('h2#task-title code').textContent(), id);
  assert.ok(await page.getByText(task.cost_usd, { exact: true }).count() >= 1, 'full-precision cost shown');
  await assertFits(t, page, assert);
  await screenshot(page, 'task');
  await page.getByLabel('Task ID').fill('no-such-task');
  await page.getByRole('button', { name: 'Find task' }).click();
  await page.getByText('No task with id “no-such-task”.').waitFor();
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});

test('admin lists; a <script> customer name renders as text', async (t) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN_KEY, '/customers');
  const row = page.locator('tr[data-customer="xss-test"]');
  await row.waitFor();
  assert.equal(await row.locator('td').first().textContent(), INJECTION);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator('main img, main script').count(), 0);
  await assertFits(t, page, assert);
  await screenshot(page, 'customers');
  await page.getByRole('link', { name: 'Outcome types' }).click();
  await page.getByRole('heading', { name: 'Outcome types' }).waitFor();
  await page.waitForSelector('tbody tr');
  await assertFits(t, page, assert);
  await screenshot(page, 'outcome-types');
  await page.getByRole('link', { name: 'Model prices' }).click();
  await page.getByRole('heading', { name: 'Model prices' }).waitFor();
  await page.waitForSelector('tbody tr');
  await assertFits(t, page, assert);
  await screenshot(page, 'model-prices');
  assertClean(page, assert, [ADMIN_KEY]);
  await page.context().close();
});
