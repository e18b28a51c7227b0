// The banned client addresses, above the events: each with why, until when and how much it was
// refused, an Unban button, Unban all, and a small form to ban an address by hand.
import type { AdminBan } from '../../admin/AdminCore.js';
import { ApiError, api } from '../ApiClient.js';
import { count, time } from '../Format.js';
import { clear, h } from '../Html.js';

export function mountBanList(root: HTMLElement): { load: () => Promise<void> } {
  const tbody = h('tbody');
  const address = h('input', { type: 'text', id: 'ban-address', placeholder: '203.0.113.7', inputmode: 'decimal', 'aria-label': 'Address to ban' });
  const minutes = h('input', { type: 'number', id: 'ban-minutes', min: 1, max: 10080, value: 60, 'aria-label': 'Minutes' });
  const error = h('small', { class: 'field-error', 'data-error-for': 'ban-address' });
  const unbanAll = h('button', { type: 'button', class: 'danger small', id: 'unban-all' }, 'Unban all');
  const form = h(
    'form',
    { id: 'ban-form', novalidate: true, class: 'inline-form' },
    h('div', { class: 'field' }, h('label', { for: 'ban-address' }, 'Address'), address, error),
    h('div', { class: 'field' }, h('label', { for: 'ban-minutes' }, 'Minutes'), minutes),
    h('button', { type: 'submit', class: 'primary' }, 'Ban'),
  );
  root.append(
    h(
      'section',
      { class: 'card', id: 'bans' },
      h('div', { class: 'page-head' }, h('h2', {}, 'Banned addresses'), unbanAll),
      h(
        'div',
        { class: 'table-wrap' },
        h('table', { class: 'data', id: 'bans-table' }, h('thead', {}, h('tr', {}, ...['Address', 'Since', 'Until', 'Why', 'Refused', ''].map((t) => h('th', {}, t)))), tbody),
      ),
      form,
    ),
  );

  const load = async () => {
    const { bans } = await api<{ bans: AdminBan[] }>('GET', '/api/bans');
    clear(tbody);
    unbanAll.hidden = bans.length === 0;
    if (bans.length === 0) tbody.appendChild(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No address is banned.')));
    for (const b of bans) {
      const unban = h('button', { type: 'button', class: 'ghost small', 'data-action': 'unban' }, 'Unban');
      unban.addEventListener('click', () => void api('DELETE', `/api/bans/${encodeURIComponent(b.address)}`).then(load, load));
      tbody.appendChild(
        h(
          'tr',
          { 'data-ban': b.address },
          h('td', {}, h('strong', {}, b.address)),
          h('td', { class: 'nowrap' }, time(b.since)),
          h('td', { class: 'nowrap' }, time(b.until)),
          h('td', {}, b.reason),
          h('td', {}, count(b.refused)),
          h('td', {}, unban),
        ),
      );
    }
  };

  unbanAll.addEventListener('click', () => void api('DELETE', '/api/bans').then(load, load));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.textContent = '';
    api('POST', '/api/bans', { address: address.value.trim(), minutes: Number(minutes.value) })
      .then(() => {
        address.value = '';
        return load();
      })
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError ? (err.fields.address ?? err.fields.minutes ?? err.message) : 'Ban failed.';
      });
  });
  return { load };
}
