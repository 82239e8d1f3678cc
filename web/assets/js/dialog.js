import { h, notice, clear } from './dom.js';

/**
 * confirmDialog opens a modal <dialog> (focus trapped, Escape cancels) and resolves with the
 * form's values when confirmed, null when cancelled. fields: [{name, label, type: 'textarea',
 * required}]. action runs before the dialog closes; its error is shown in the dialog.
 */
export function confirmDialog({ title, body, confirmLabel, danger = false, fields = [], action }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => {
      const id = `dlg-${f.name}`;
      const control = f.type === 'textarea'
        ? h('textarea', { id, name: f.name, rows: 3, required: !!f.required, maxlength: f.maxlength || 2000 })
        : h('input', { id, name: f.name, type: f.type || 'text', required: !!f.required });
      return { f, control, el: h('div', { class: 'field' }, h('label', { for: id }, f.label), control) };
    });
    const msg = h('div', { class: 'form-message' });
    const ok = h('button', { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}` }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => dlg.close('cancel') }, 'Cancel');
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: 'dlg-title' }, title),
      h('div', { class: 'dialog-body' }, body),
      inputs.map((i) => i.el), msg,
      h('div', { class: 'dialog-actions' }, cancel, ok));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'dlg-title' }, form);
    let result = null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const values = {};
      for (const { f, control } of inputs) {
        values[f.name] = control.value.trim();
        if (f.required && !values[f.name]) {
          clear(msg, notice('error', `${f.label} is required.`));
          control.focus();
          return;
        }
      }
      ok.disabled = true;
      cancel.disabled = true;
      try {
        result = action ? await action(values) : values;
        dlg.close('ok');
      } catch (err) {
        ok.disabled = false;
        cancel.disabled = false;
        clear(msg, notice('error', err.message || String(err)));
      }
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(dlg.returnValue === 'ok' ? result ?? true : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    (inputs[0]?.control || cancel).focus();
  });
}
