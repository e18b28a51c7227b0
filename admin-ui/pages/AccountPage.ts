// This console account's password, and API tokens for automation (shown once when made).
import type { ApiTokenInfo } from '../../admin/ApiTokens.js';
import { api, ApiError } from '../ApiClient.js';
import { time } from '../Format.js';
import { clear, h } from '../Html.js';

export function mountAccountPage(root: HTMLElement, account: string): void {
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Account & API')));

  // --- password
  const fields = ['current', 'password', 'confirm'] as const;
  const labels = { current: 'Current password', password: 'New password (10 characters or more)', confirm: 'New password again' };
  const inputs = {} as Record<(typeof fields)[number], HTMLInputElement>;
  const errors = {} as Record<(typeof fields)[number], HTMLElement>;
  const general = h('p', { class: 'form-error', role: 'alert', hidden: true });
  // The hidden name lets password managers file the new password under the right account.
  const pwForm = h(
    'form',
    { id: 'password-form', novalidate: true },
    h('h2', {}, `Password of ${account}`),
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: account, hidden: true }),
    general,
  );
  for (const f of fields) {
    inputs[f] = h('input', { type: 'password', name: f, id: `pw-${f}`, autocomplete: f === 'current' ? 'current-password' : 'new-password' });
    errors[f] = h('small', { class: 'field-error', 'data-error-for': f });
    pwForm.appendChild(h('div', { class: 'field' }, h('label', { for: inputs[f].id }, labels[f]), inputs[f], errors[f]));
  }
  pwForm.appendChild(
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Change password'), h('small', { class: 'hint' }, ' Every login of this account ends; you log in again.')),
  );
  pwForm.addEventListener('submit', (event) => {
    event.preventDefault();
    for (const f of fields) errors[f].textContent = '';
    general.hidden = true;
    if (inputs.password.value !== inputs.confirm.value) {
      errors.confirm.textContent = 'does not match the new password';
      return;
    }
    api('POST', '/api/me/password', { current: inputs.current.value, password: inputs.password.value })
      .then(() => location.assign('/'))
      .catch((err: unknown) => {
        if (!(err instanceof ApiError)) throw err;
        const placed = Object.entries(err.fields).filter(([k]) => k in errors);
        for (const [k, m] of placed) errors[k as (typeof fields)[number]].textContent = m;
        if (placed.length === 0) {
          general.textContent = err.message;
          general.hidden = false;
        }
      });
  });

  // --- tokens
  const tbody = h('tbody');
  const nameInput = h('input', { name: 'name', id: 'token-name', placeholder: 'e.g. prometheus', maxlength: 64 });
  const scope = h('select', { name: 'scope', id: 'token-scope' }, h('option', { value: 'read' }, 'read (GET only, e.g. metrics)'), h('option', { value: 'write' }, 'write (full API)'));
  const tokenError = h('small', { class: 'field-error', 'data-error-for': 'token-name' });
  const reveal = h('div', { class: 'notice ok', hidden: true, id: 'new-token' });
  const tokenForm = h(
    'form',
    { id: 'token-form', novalidate: true, class: 'inline-form' },
    h('div', { class: 'field' }, h('label', { for: 'token-name' }, 'Name'), nameInput, tokenError),
    h('div', { class: 'field' }, h('label', { for: 'token-scope' }, 'Scope'), scope),
    h('button', { type: 'submit', class: 'primary' }, 'Make token'),
  );
  const load = async () => {
    const { tokens } = await api<{ tokens: ApiTokenInfo[] }>('GET', '/api/tokens');
    clear(tbody);
    if (tokens.length === 0) tbody.appendChild(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No API tokens.')));
    for (const t of tokens) {
      const revoke = h('button', { type: 'button', class: 'danger small' }, 'Revoke');
      revoke.addEventListener('click', () => void api('DELETE', `/api/tokens/${t.id}`).then(load));
      tbody.appendChild(
        h(
          'tr',
          {},
          h('td', {}, t.name),
          h('td', {}, t.scope),
          h('td', {}, t.createdBy),
          h('td', {}, time(t.createdAt)),
          h('td', {}, t.lastUsed === null ? 'never' : time(t.lastUsed)),
          h('td', {}, revoke),
        ),
      );
    }
  };
  tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    tokenError.textContent = '';
    api<{ token: string; info: ApiTokenInfo }>('POST', '/api/tokens', { name: nameInput.value, scope: scope.value })
      .then((r) => {
        clear(reveal);
        reveal.append('Token ', h('strong', {}, r.info.name), ' — copy it now, it is not shown again: ', h('code', { class: 'token' }, r.token));
        reveal.hidden = false;
        nameInput.value = '';
        return load();
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError) tokenError.textContent = err.fields.name ?? err.message;
      });
  });

  root.append(
    h(
      'div',
      { class: 'cards two' },
      h('section', { class: 'card' }, pwForm),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Automation'),
        h(
          'p',
          {},
          'The REST API the pages use is described at ',
          h('a', { href: '/api/openapi.json' }, '/api/openapi.json'),
          '. Send a token as ',
          h('code', {}, 'Authorization: Bearer ptk_…'),
          '; Prometheus scrapes ',
          h('code', {}, '/metrics'),
          ' with a read token.',
        ),
      ),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'API tokens'),
      tokenForm,
      reveal,
      h(
        'div',
        { class: 'table-wrap' },
        h('table', { class: 'data', id: 'tokens-table' }, h('thead', {}, h('tr', {}, ...['Name', 'Scope', 'Made by', 'Made', 'Last used', ''].map((t) => h('th', {}, t)))), tbody),
      ),
    ),
  );
  void load();
}
