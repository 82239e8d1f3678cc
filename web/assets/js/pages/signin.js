import { h, clear, notice } from '../dom.js';
import { ApiError } from '../api.js';

// The key is typed into a password field, checked against GET /v1/me and kept in sessionStorage
// for this tab only. The form never submits to a URL (the CSP forbids form actions anyway), so the
// key cannot end up in an address bar, a history entry or a server log.
export async function signInPage({ view, query, app }) {
  const input = h('input', { type: 'password', name: 'api-key', id: 'api-key', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'ob_…', 'aria-describedby': 'api-key-hint' });
  const msg = h('div', { class: 'form-message' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title', novalidate: true },
    h('h1', { id: 'signin-title' }, 'Sign in to outcomebill'),
    h('div', { class: 'field' },
      h('label', { for: 'api-key' }, 'API key'),
      input,
      h('small', { class: 'hint', id: 'api-key-hint' },
        'A finance, admin or ingest key, or a customer viewer key. It stays in this browser tab only and is sent as an Authorization header, never in a URL.')),
    msg, button);
  if (query.get('expired')) msg.append(notice('warn', 'Your key was not accepted any more (revoked or unknown). Sign in again.'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      clear(msg, notice('error', 'Enter an API key.'));
      input.focus();
      return;
    }
    button.disabled = true;
    clear(msg, h('p', { class: 'loading', role: 'status' }, 'Checking the key…'));
    try {
      await app.signIn(key);
      input.value = '';
      const next = query.get('next');
      // Only same-site paths: next must not be a way to send the user elsewhere.
      app.navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      button.disabled = false;
      const text = err instanceof ApiError && err.status === 401
        ? 'That key was not accepted: it is unknown, malformed or revoked.'
        : err.message;
      clear(msg, notice('error', text));
      input.focus();
    }
  });
  clear(view, h('div', { class: 'signin-wrap' }, form,
    h('p', { class: 'muted signin-note' }, 'Running ', h('code', {}, 'outcomebill dev'), '? It printed an admin key with the admin, finance and ingest scopes.')));
  input.focus();
}
