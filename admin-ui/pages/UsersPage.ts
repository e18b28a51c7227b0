// VPN users: search, add, edit, delete. A refused form shows each message next to its field.
import type { AdminUser } from '../../admin/AdminCore.js';
import { api, ApiError } from '../ApiClient.js';
import { seconds } from '../Format.js';
import { clear, h } from '../Html.js';

type ListedUser = AdminUser & { online: number };

interface FieldSpec {
  name: keyof FormValues;
  label: string;
  type: 'text' | 'password' | 'number' | 'checkbox';
  hint?: string;
}

interface FormValues {
  name: string;
  password: string;
  staticAddress: string;
  enabled: boolean;
  sessionTimeout: string;
  idleTimeout: string;
}

const FIELDS: FieldSpec[] = [
  { name: 'name', label: 'User name', type: 'text' },
  { name: 'password', label: 'Password', type: 'password', hint: 'At least 8 characters unless auth.minPasswordLength says otherwise; stored only as its NT hash (what MS-CHAPv2 needs).' },
  { name: 'staticAddress', label: 'Static address', type: 'text', hint: 'Empty: an address from the pool.' },
  { name: 'sessionTimeout', label: 'Session limit (s)', type: 'number', hint: 'Empty or 0: none.' },
  { name: 'idleTimeout', label: 'Idle limit (s)', type: 'number', hint: 'Empty or 0: none.' },
  { name: 'enabled', label: 'Enabled', type: 'checkbox' },
];

export function mountUsersPage(root: HTMLElement): void {
  const search = h('input', { type: 'search', placeholder: 'Search by name or address', id: 'user-search', 'aria-label': 'Search users' });
  const addButton = h('button', { type: 'button', class: 'primary', id: 'add-user' }, 'Add user');
  const formBox = h('section', { class: 'card form-card', hidden: true });
  const status = h('p', { class: 'notice', hidden: true, role: 'status' });
  const tbody = h('tbody');
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Users'), h('div', { class: 'toolbar' }, search, addButton)),
    status,
    formBox,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'data', id: 'users-table' },
        h('thead', {}, h('tr', {}, ...['Name', 'Static address', 'State', 'Session limit', 'Idle limit', 'Online', 'Created', ''].map((t) => h('th', {}, t)))),
        tbody,
      ),
    ),
  );

  const flash = (message: string, kind: 'ok' | 'error') => {
    status.textContent = message;
    status.className = `notice ${kind}`;
    status.hidden = false;
  };

  const load = async () => {
    const q = search.value.trim();
    const { users } = await api<{ users: ListedUser[] }>('GET', `/api/users${q ? `?q=${encodeURIComponent(q)}` : ''}`);
    clear(tbody);
    if (users.length === 0) tbody.appendChild(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, q ? 'No user matches.' : 'No users yet.')));
    for (const u of users) tbody.appendChild(userRow(u));
  };

  const userRow = (u: ListedUser) => {
    const edit = h('button', { type: 'button', class: 'ghost small', 'data-action': 'edit' }, 'Edit');
    edit.addEventListener('click', () => openForm(u));
    const del = h('button', { type: 'button', class: 'danger small', 'data-action': 'delete' }, 'Delete');
    let armed = false;
    del.addEventListener('click', () => {
      if (!armed) {
        armed = true;
        del.textContent = u.online > 0 ? 'Confirm (ends sessions)' : 'Confirm delete';
        del.classList.add('armed');
        window.setTimeout(() => {
          armed = false;
          del.textContent = 'Delete';
          del.classList.remove('armed');
        }, 5000);
        return;
      }
      api('DELETE', `/api/users/${encodeURIComponent(u.name)}`)
        .then(() => {
          flash(`User ${u.name} deleted.`, 'ok');
          return load();
        })
        .catch((err: unknown) => flash(err instanceof ApiError ? err.message : 'Delete failed.', 'error'));
    });
    return h(
      'tr',
      { 'data-user': u.name },
      h('td', {}, h('strong', {}, u.name)),
      h('td', {}, u.staticAddress ?? 'pool'),
      h('td', {}, h('span', { class: `badge ${u.enabled ? 'ok' : 'off'}` }, u.enabled ? 'enabled' : 'disabled')),
      h('td', {}, seconds(u.sessionTimeout)),
      h('td', {}, seconds(u.idleTimeout)),
      h('td', {}, u.online > 0 ? h('span', { class: 'badge live' }, String(u.online)) : '—'),
      h('td', { class: 'muted' }, u.createdAt.replace('T', ' ').replace('Z', ' UTC')),
      h('td', { class: 'actions' }, edit, ' ', del),
    );
  };

  const openForm = (editing: ListedUser | null) => {
    clear(formBox);
    formBox.hidden = false;
    const inputs = {} as Record<keyof FormValues, HTMLInputElement>;
    const errors = {} as Record<keyof FormValues, HTMLElement>;
    const general = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const form = h('form', { id: 'user-form', novalidate: true, 'data-mode': editing ? 'edit' : 'add' });
    form.appendChild(h('h2', {}, editing ? `Edit ${editing.name}` : 'Add user'));
    form.appendChild(general);
    const grid = h('div', { class: 'form-grid' });
    for (const f of FIELDS) {
      const input = h('input', {
        name: f.name,
        id: `user-${f.name}`,
        type: f.type,
        ...(f.type === 'number' ? { min: 0, step: 1 } : {}),
        ...(f.name === 'password' ? { autocomplete: 'new-password', placeholder: editing ? 'unchanged' : '' } : {}),
        ...(f.name === 'name' && editing ? { readonly: true } : {}),
      });
      inputs[f.name] = input;
      errors[f.name] = h('small', { class: 'field-error', 'data-error-for': f.name, role: 'alert' });
      const label = f.type === 'checkbox' ? h('label', { class: 'check', for: input.id }, input, ` ${f.label}`) : h('label', { for: input.id }, f.label);
      grid.appendChild(
        h('div', { class: `field${f.type === 'checkbox' ? ' field-check' : ''}` }, label, f.type === 'checkbox' ? null : input, f.hint ? h('small', { class: 'hint' }, f.hint) : null, errors[f.name]),
      );
    }
    inputs.enabled.checked = editing?.enabled ?? true;
    if (editing) {
      inputs.name.value = editing.name;
      inputs.staticAddress.value = editing.staticAddress ?? '';
      inputs.sessionTimeout.value = editing.sessionTimeout === null ? '' : String(editing.sessionTimeout);
      inputs.idleTimeout.value = editing.idleTimeout === null ? '' : String(editing.idleTimeout);
    }
    const cancel = h('button', { type: 'button', class: 'ghost' }, 'Cancel');
    cancel.addEventListener('click', () => {
      formBox.hidden = true;
      clear(formBox);
    });
    form.append(grid, h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, editing ? 'Save' : 'Add user'), ' ', cancel));
    formBox.appendChild(form);
    (editing ? inputs.password : inputs.name).focus();

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      general.hidden = true;
      for (const e of Object.values(errors)) e.textContent = '';
      for (const i of Object.values(inputs)) i.removeAttribute('aria-invalid');
      const limit = (v: string) => (v.trim() === '' ? null : Number(v));
      const values: Record<string, unknown> = {
        staticAddress: inputs.staticAddress.value.trim() === '' ? null : inputs.staticAddress.value.trim(),
        enabled: inputs.enabled.checked,
        sessionTimeout: limit(inputs.sessionTimeout.value),
        idleTimeout: limit(inputs.idleTimeout.value),
      };
      // An edit sends only what changed: the journal then says what the operator did.
      const body = editing ? Object.fromEntries(Object.entries(values).filter(([k, v]) => v !== (editing as unknown as Record<string, unknown>)[k])) : { ...values, name: inputs.name.value };
      if (!editing || inputs.password.value !== '') body.password = inputs.password.value;
      if (editing && Object.keys(body).length === 0) {
        formBox.hidden = true;
        clear(formBox);
        return;
      }
      const request = editing ? api('PATCH', `/api/users/${encodeURIComponent(editing.name)}`, body) : api('POST', '/api/users', body);
      request
        .then(() => {
          formBox.hidden = true;
          clear(formBox);
          flash(editing ? `User ${editing.name} saved.` : `User ${String(body.name)} added.`, 'ok');
          return load();
        })
        .catch((err: unknown) => {
          if (!(err instanceof ApiError)) throw err;
          let placed = false;
          for (const [field, message] of Object.entries(err.fields)) {
            const key = field as keyof FormValues;
            if (!errors[key]) continue;
            errors[key].textContent = message;
            inputs[key].setAttribute('aria-invalid', 'true');
            placed = true;
          }
          if (!placed) {
            general.textContent = err.message;
            general.hidden = false;
          }
        });
    });
  };

  let debounce = 0;
  search.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(() => void load(), 200);
  });
  addButton.addEventListener('click', () => openForm(null));
  void load();
}
