// Building the page without innerHTML: every server string becomes a text node, so a customer
// named "<script>…" is shown as those characters and never parsed as markup.

/**
 * h makes an element. attrs: "class", "text", "on<event>" (a listener), "dataset" (an object),
 * boolean and string attributes; children: nodes, strings (as text), arrays, null (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** clear empties el and puts children in it. */
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** link is an in-app link: the router intercepts its clicks (data-link). */
export function link(href, text, attrs = {}) {
  return h('a', { href, 'data-link': true, ...attrs }, text);
}

/**
 * table renders rows with columns [{label, value(row) → node|string, class}], with a caption
 * for screen readers and an empty-state row.
 */
export function table(caption, columns, rows, opts = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)));
  const body = rows.length
    ? rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {}, columns.map((c) => h('td', { class: c.class }, c.value(r)))))
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, opts.empty || 'Nothing here yet.'))];
  return h('div', { class: 'table-wrap' },
    h('table', { class: opts.class || '' },
      h('caption', { class: opts.showCaption ? '' : 'visually-hidden' }, caption),
      h('thead', {}, head), h('tbody', {}, body)));
}

/** field is a labelled form control. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

/** select makes a <select> from [value, label] pairs. */
export function select(name, options, selected) {
  return h('select', { name }, options.map(([v, l]) => h('option', { value: v, selected: v === selected }, l)));
}

/** dl renders [term, value] pairs. */
export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v ?? '—'))));
}

export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${String(kind).replace(/[^a-z_]/gi, '')}` }, text);
}

/** notice is a message box: kind info|error|success|warn. */
export function notice(kind, ...children) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

export function spinner(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}
