// The dashboard's shell: who is signed in, the navigation their key allows, and a small router
// over the History API so that every page has a real URL (deep links load index.html from the
// server, then route here).

import { h, clear, link, notice, spinner } from './dom.js';
import { get, getKey, setKey, forgetKey, ApiError } from './api.js';
import { signInPage } from './pages/signin.js';
import { invoicesPage, invoicePage, creditNotesPage } from './pages/invoices.js';
import { economicsPage, customerMarginPage, modelsPage } from './pages/economics.js';
import { laborPage } from './pages/labor.js';
import { tasksPage } from './pages/tasks.js';
import { customersPage, outcomeTypesPage, modelPricesPage } from './pages/admin.js';
import { alertsPage } from './pages/alerts.js';
import { simulationsPage, simulationPage } from './pages/simulations.js';

const has = (me, ...scopes) => !!me && scopes.some((s) => (me.scopes || []).includes(s));
const isViewer = (me) => has(me, 'viewer') && !!me.customer_id;

// Each route: a path pattern, a title, who may open it, and the page. allow gets the key and the
// path's parameters; a false is the 403 page, before any data is asked for.
const routes = [
  { path: '/sign-in', title: 'Sign in', public: true, page: signInPage },
  { path: '/invoices', title: 'Invoices', allow: (me) => has(me, 'finance') || isViewer(me), page: invoicesPage },
  { path: '/invoices/:id', title: 'Invoice', allow: (me) => has(me, 'finance') || isViewer(me), page: invoicePage },
  { path: '/credit-notes', title: 'Credit notes', allow: (me) => has(me, 'finance'), page: creditNotesPage },
  { path: '/economics', title: 'Vendor economics', allow: (me) => has(me, 'finance'), page: economicsPage },
  { path: '/economics/customers/:id', title: 'Customer margin', allow: (me) => has(me, 'finance'), page: customerMarginPage },
  { path: '/models', title: 'Model economics', allow: (me) => has(me, 'finance'), page: modelsPage },
  { path: '/simulations', title: 'What-if simulations', allow: (me) => has(me, 'finance'), page: simulationsPage },
  { path: '/simulations/:id', title: 'Simulation', allow: (me) => has(me, 'finance'), page: simulationPage },
  { path: '/alerts', title: 'Alerts', allow: (me) => has(me, 'admin', 'finance'), page: alertsPage },
  { path: '/customers/:id/labor', title: 'Labor equivalent',
    allow: (me, p) => has(me, 'finance') || (isViewer(me) && me.customer_id === p.id), page: laborPage },
  { path: '/tasks', title: 'Tasks', allow: (me) => has(me, 'ingest', 'finance'), page: tasksPage },
  { path: '/tasks/:id', title: 'Task', allow: (me) => has(me, 'ingest', 'finance'), page: tasksPage },
  { path: '/customers', title: 'Customers', allow: (me) => has(me, 'admin'), page: customersPage },
  { path: '/outcome-types', title: 'Outcome types', allow: (me) => has(me, 'admin'), page: outcomeTypesPage },
  { path: '/model-prices', title: 'Model prices', allow: (me) => has(me, 'admin'), page: modelPricesPage },
];

function navItems(me) {
  if (isViewer(me)) {
    return [[`/customers/${encodeURIComponent(me.customer_id)}/labor`, 'Labor equivalent'], ['/invoices', 'Invoices']];
  }
  const items = [];
  if (has(me, 'finance')) items.push(['/invoices', 'Invoices'], ['/economics', 'Economics'], ['/models', 'Models'], ['/simulations', 'What-if']);
  if (has(me, 'admin', 'finance')) items.push(['/alerts', 'Alerts']);
  if (has(me, 'ingest', 'finance')) items.push(['/tasks', 'Tasks']);
  if (has(me, 'admin')) items.push(['/customers', 'Customers'], ['/outcome-types', 'Outcome types'], ['/model-prices', 'Model prices']);
  return items;
}

function home(me) {
  const first = navItems(me)[0];
  return first ? first[0] : '/sign-in';
}

function match(pathname) {
  for (const r of routes) {
    const names = [];
    const re = new RegExp(`^${r.path.replace(/:([a-z_]+)/g, (_, n) => { names.push(n); return '([^/]+)'; })}/?$`);
    const m = re.exec(pathname);
    if (m) {
      const params = {};
      names.forEach((n, i) => {
        try { params[n] = decodeURIComponent(m[i + 1]); } catch { params[n] = m[i + 1]; }
      });
      return { route: r, params };
    }
  }
  return null;
}

export const app = {
  me: null,
  has: (...s) => has(app.me, ...s),
  isViewer: () => isViewer(app.me),
  navigate(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    render();
  },
  /** signIn checks key against /v1/me and keeps it for this tab only. */
  async signIn(key) {
    setKey(key);
    try {
      app.me = await get('/v1/me');
    } catch (e) {
      forgetKey();
      app.me = null;
      throw e;
    }
    renderChrome();
  },
  signOut() {
    forgetKey();
    app.me = null;
    renderChrome();
    app.navigate('/sign-in');
  },
  /** fail renders an API error as the page: 403 and 404 get their own pages, 401 signs out. */
  fail(view, err) {
    if (err instanceof ApiError && err.status === 401) {
      forgetKey();
      app.me = null;
      renderChrome();
      app.navigate('/sign-in?expired=1', { replace: true });
      return;
    }
    if (err instanceof ApiError && err.status === 403) return forbidden(view, err.message);
    if (err instanceof ApiError && err.status === 404) return notFound(view, err.message);
    clear(view, h('h1', {}, 'Something went wrong'), notice('error', err.message || String(err)));
    view.dataset.page = 'error';
  },
};

function forbidden(view, detail) {
  view.dataset.page = 'forbidden';
  document.title = '403 Not allowed · outcomebill';
  clear(view,
    h('section', { class: 'status-page' },
      h('p', { class: 'status-code', 'aria-hidden': 'true' }, '403'),
      h('h1', {}, 'Not allowed'),
      h('p', {}, 'The key you signed in with may not see this page.'),
      detail ? h('p', { class: 'muted' }, detail) : null,
      h('p', {}, link(home(app.me), 'Go to your start page'))));
}

function notFound(view, detail) {
  view.dataset.page = 'not-found';
  document.title = 'Not found · outcomebill';
  clear(view,
    h('section', { class: 'status-page' },
      h('p', { class: 'status-code', 'aria-hidden': 'true' }, '404'),
      h('h1', {}, 'Not found'),
      detail ? h('p', { class: 'muted' }, detail) : h('p', {}, 'There is no page at this address.'),
      h('p', {}, link(home(app.me), 'Go to your start page'))));
}

function renderChrome() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const me = app.me;
  clear(nav, me ? h('ul', {}, navItems(me).map(([href, text]) => h('li', {}, link(href, text, { class: 'nav-link' })))) : null);
  clear(who, me ? [
    h('span', { class: 'who-name', title: `key ${me.id} · scopes: ${(me.scopes || []).join(', ')}` }, me.name || me.id),
    h('span', { class: 'who-scopes', title: `scopes: ${(me.scopes || []).join(', ')}` },
      isViewer(me) ? `viewer · ${me.customer_id}` : (me.scopes || []).join(' · ')),
    h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => app.signOut() }, 'Sign out'),
  ] : null);
  markCurrent();
}

function markCurrent() {
  for (const a of document.querySelectorAll('#nav a')) {
    const href = a.getAttribute('href');
    const here = location.pathname === href || location.pathname.startsWith(`${href}/`);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

let renderSeq = 0;

async function render() {
  const main = document.getElementById('main');
  const seq = ++renderSeq;
  const view = h('div', { class: 'view' });
  clear(main, view);
  markCurrent();
  if (!app.me && getKey()) {
    view.append(spinner('Signing in…'));
    try {
      app.me = await get('/v1/me');
    } catch (e) {
      forgetKey();
    }
    if (seq !== renderSeq) return;
    renderChrome();
    clear(view);
  }
  const url = new URL(location.href);
  if (url.pathname === '/' || url.pathname === '') {
    app.navigate(app.me ? home(app.me) : '/sign-in', { replace: true });
    return;
  }
  const m = match(url.pathname);
  if (!m) return notFound(view);
  if (!m.route.public && !app.me) {
    app.navigate(`/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`, { replace: true });
    return;
  }
  document.title = `${m.route.title} · outcomebill`;
  if (!m.route.public && !m.route.allow(app.me, m.params)) return forbidden(view);
  view.dataset.page = m.route.path;
  try {
    await m.route.page({ view, params: m.params, query: url.searchParams, app, isCurrent: () => seq === renderSeq });
  } catch (e) {
    if (seq === renderSeq) app.fail(view, e);
  }
  if (seq === renderSeq && document.activeElement === document.body) main.focus({ preventScroll: true });
}

// In-app links: plain <a href data-link>; modified clicks (new tab) are left to the browser.
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  app.navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);

export { home, isViewer };
renderChrome();
render();
