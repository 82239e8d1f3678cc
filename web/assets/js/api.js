// The one way the dashboard talks to the API. The key lives in sessionStorage (gone when the tab
// closes), is sent only as "Authorization: Bearer", and is never put in a URL or logged. There are
// no cookies, so a page on another site cannot make the browser send the key: the dashboard's
// writes (finalize, void, runs) are safe from CSRF by construction.

const KEY = 'outcomebill.key';

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function forgetKey() { sessionStorage.removeItem(KEY); }

/** ApiError is a non-2xx answer: status plus the API's {code, message, field}. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }
}

async function send(method, path, body, accept = 'application/json') {
  const headers = { Accept: accept };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
  } catch (e) {
    throw new ApiError(0, 'network', 'The API could not be reached. Is outcomebill running?');
  }
  if (!res.ok) {
    let err = {};
    try { err = (await res.json()).error || {}; } catch { /* not JSON: keep the status */ }
    throw new ApiError(res.status, err.code, err.message || res.statusText, err.field);
  }
  return res;
}

/** api sends a JSON request and returns the decoded answer (null for 204). */
export async function api(method, path, body) {
  const res = await send(method, path, body);
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);

/** qs builds a query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** all follows next_cursor through a list endpoint, up to max items. */
export async function all(path, max = 1000) {
  const out = [];
  let cursor = '';
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...(page.data || []));
    cursor = page.next_cursor || '';
  } while (cursor && out.length < max);
  return out;
}

/**
 * download fetches path with the key in the header and saves the answer as filename: the browser
 * never navigates to an API URL, so the key never appears in one.
 */
export async function download(path, filename) {
  const res = await send('GET', path, undefined, '*/*');
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return blob;
}

/** routeMissing says whether err means the API has no such route yet (not an unknown record). */
export function routeMissing(err) {
  return err instanceof ApiError && err.status === 404 && /^no route /.test(err.message);
}
