// Display formatting. Amounts arrive as exact decimal strings; they are shown as given (digits
// grouped), never through floating point, so a displayed invoice amount is the invoiced one.

/** group puts thousands separators into a decimal string: "-1234567.50" → "-1,234,567.50". */
export function group(dec) {
  const s = String(dec ?? '');
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(s);
  if (!m) return s;
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (m[3] || '');
}

/** amountOf takes "12.30" or {amount, currency} and returns [amount, currency]. */
export function amountOf(v, currency) {
  if (v && typeof v === 'object') return [v.amount, v.currency || currency];
  return [v, currency];
}

/** money shows an exact amount with its currency: "USD 1,234.50". */
export function money(v, currency) {
  const [a, c] = amountOf(v, currency);
  if (a === undefined || a === null || a === '') return '—';
  return c ? `${c} ${group(a)}` : group(a);
}

/**
 * cost shows a cost kept at full precision (token cost) rounded for display only, to 4 places
 * below one unit and 2 above.
 */
export function cost(v, currency = 'USD') {
  const [a, c] = amountOf(v, currency);
  if (a === undefined || a === null || a === '') return '—';
  const n = Number(a);
  if (!Number.isFinite(n)) return String(a);
  const digits = Math.abs(n) < 1 ? 4 : 2;
  return `${c ? `${c} ` : ''}${group(n.toFixed(digits))}`;
}

/** num is a number for charts (display only). */
export function num(v) {
  const [a] = amountOf(v);
  const n = Number(a);
  return Number.isFinite(n) ? n : 0;
}

export function pct(v) {
  if (v === undefined || v === null || v === '') return '—';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  // Accept both fractions (0.42) and percentages ("42.0").
  const p = Math.abs(n) <= 1.5 && String(v).includes('.') && !String(v).endsWith('%') ? n * 100 : n;
  return `${p.toFixed(1)}%`;
}

export function int(v) {
  if (v === undefined || v === null || v === '') return '—';
  return group(String(v));
}

const dateFmt = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: 'UTC' });
const timeFmt = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: 'UTC' });

export function date(v) {
  if (!v) return '—';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : dateFmt.format(d);
}

export function datetime(v) {
  if (!v) return '—';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : `${timeFmt.format(d).replace(',', '')} UTC`;
}

/**
 * period shows a billing period [start, end) as the local dates it covers. Both ends are midnight
 * in the customer's billing timezone; 13 hours later is the same calendar date in UTC for every
 * zone from UTC−11 to UTC+13, so the dates come out right without knowing the zone.
 */
export function period(start, end) {
  if (!start || !end) return '—';
  const local = (t) => new Date(new Date(t).getTime() + 13 * 3600000);
  return `${date(local(start))} – ${date(new Date(local(end).getTime() - 86400000))}`;
}

/** isoDay is YYYY-MM-DD of a Date in UTC. */
export function isoDay(d) { return d.toISOString().slice(0, 10); }

/** monthsBack is the first day of the month n months before today, as YYYY-MM-DD. */
export function monthsBack(n) {
  const d = new Date();
  return isoDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1)));
}

/** dayToRFC3339 turns a date input's value into midnight UTC. */
export function dayToRFC3339(day) { return day ? `${day}T00:00:00Z` : ''; }

/**
 * unit shows a unit price: as given up to 4 decimal places, else rounded to 4 with "≈" (a labor
 * share's unit amount is a quotient, e.g. 4.52127659574468084); the exact figure goes in a title.
 */
export function unit(v, currency) {
  const [a, c] = amountOf(v, currency);
  const s = String(a ?? '');
  const m = /^-?\d+\.(\d+)$/.exec(s);
  if (!m || m[1].length <= 4) return money(a, c);
  return `≈ ${c ? `${c} ` : ''}${group(Number(s).toFixed(4))}`;
}
