// Shared set-up for the dashboard's browser tests: the API under test (from scripts/test-web),
// Debian's chromium through playwright-core, and small helpers.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const URL_BASE = process.env.OB_URL;
export const ADMIN_KEY = process.env.OB_ADMIN_KEY;
if (!URL_BASE || !ADMIN_KEY) {
  throw new Error('OB_URL and OB_ADMIN_KEY must be set: run these tests through scripts/test-web');
}
const SHOTS = process.env.OB_SCREENSHOTS === '1' ? process.env.OB_SCREENSHOT_DIR : '';

export const VIEWPORT = { width: 1280, height: 800 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
}

/** api calls the API directly (set-up and checks), returning {status, body}. */
export async function api(method, path, { key = ADMIN_KEY, body } = {}) {
  const res = await fetch(URL_BASE + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json, text, headers: res.headers };
}

/** routeExists tells whether the server has a route (a 404 "no route" means it has none yet). */
export async function routeExists(method, path) {
  const r = await api(method, path, method === 'GET' ? {} : { body: {} });
  return !(r.status === 404 && /^no route /.test(r.body?.error?.message || ''));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** demoTaskID names a demo task: n-th task of the day `daysAgo` days before today (UTC). */
export function demoTaskID(daysAgo, n) {
  const d = new Date(Date.now() - daysAgo * 86400000);
  return `demo-${d.toISOString().slice(0, 10).replace(/-/g, '')}-${n}`;
}

/**
 * settle waits until the demo's older tasks have left open/verifying (their workflows have run
 * and their dispute windows, at most 7 days, are over) and the demo's invoices are made: each
 * customer's last two closed periods, the older finalized. A test that changes what an invoice
 * run would evaluate (an alert, a price) then cannot race the demo's own runs.
 */
export async function settle(timeoutMs = 300000) {
  const ids = [];
  for (let d = 10; d <= 40; d += 3) for (let n = 0; n < 4; n++) ids.push(demoTaskID(d, n));
  const deadline = Date.now() + timeoutMs;
  let pending = ids;
  while (Date.now() < deadline) {
    const states = await Promise.all(pending.map(async (id) => [id, (await api('GET', `/v1/tasks/${id}`)).body?.status]));
    pending = states.filter(([, s]) => !s || s === 'open' || s === 'verifying').map(([id]) => id);
    if (pending.length === 0) break;
    await sleep(2000);
  }
  if (pending.length > 0) throw new Error(`demo tasks did not settle: ${pending.join(', ')}`);
  for (;;) {
    const invoices = (await api('GET', '/v1/invoices?limit=100')).body?.data || [];
    if (invoices.filter((i) => i.status === 'finalized').length >= 3 && invoices.length >= 6) return ids;
    if (Date.now() > deadline) throw new Error(`the demo's invoices were not made: ${invoices.length} so far`);
    await sleep(1000);
  }
}

/**
 * newPage opens a 1280×800 page that records what must never happen: page errors, CSP
 * violations, and a request URL carrying a key.
 */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.urls = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => page.urls.push(r.url()));
  page.on('dialog', (d) => { page.problems.push(`a JavaScript dialog opened: ${d.message()}`); d.dismiss(); });
  return page;
}

/** signIn signs in through the form and waits for the start page. */
export async function signIn(page, key, path = '/') {
  await page.goto(URL_BASE + path);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#who .who-name');
}

/** screenshot saves docs/screenshots/<name>.png when scripts/test-web asks for screenshots. */
export async function screenshot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => document.activeElement && document.activeElement.blur && document.activeElement.blur());
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/**
 * assertFits: at 1280×800 the page has no sideways scrollbar and no table needs one either (a
 * table scrolls inside its box on narrower screens, but at this width every column must show).
 */
export async function assertFits(t, page, assert) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= VIEWPORT.width, `${page.url()} is ${w}px wide, more than ${VIEWPORT.width}`);
  const cut = await page.$$eval('main .table-wrap', (els) => els
    .filter((e) => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map((e) => `${e.querySelector('caption')?.textContent}: ${e.scrollWidth} > ${e.clientWidth}`));
  assert.deepEqual(cut, [], `tables wider than their box on ${page.url()}`);
}

/** assertClean checks that nothing went wrong on the page and no key reached a URL. */
export function assertClean(page, assert, keys) {
  assert.deepEqual(page.problems, [], 'page errors or CSP violations');
  for (const u of page.urls) for (const k of keys) assert.ok(!u.includes(k), `a request URL carries a key: ${u.replace(k, '<key>')}`);
}

/** canvasInk counts the non-transparent pixels of the first canvas matched by selector. */
export async function canvasInk(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  });
}
