// The events journal: logins, refused logins with their reason, disconnects, console actions.
import type { JournalEvent } from '../../admin/EventJournal.js';
import { api } from '../ApiClient.js';
import { time } from '../Format.js';
import { clear, h } from '../Html.js';
import { mountBanList } from './BanList.js';

const TYPES: Array<[string, string]> = [
  ['', 'All events'],
  ['login', 'Logins'],
  ['auth-failure', 'Refused logins'],
  ['disconnect', 'Disconnects'],
  ['admin', 'Console actions'],
];

export function mountEventsPage(root: HTMLElement): void {
  const search = h('input', { type: 'search', id: 'event-search', placeholder: 'Search user, address or text', 'aria-label': 'Search events' });
  const type = h('select', { id: 'event-type', 'aria-label': 'Event type' }, ...TYPES.map(([v, t]) => h('option', { value: v }, t)));
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'ghost', hidden: true }, 'Older events');
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Events'), h('div', { class: 'toolbar' }, search, type)));
  const bans = mountBanList(root);
  root.append(
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { class: 'data', id: 'events-table' }, h('thead', {}, h('tr', {}, ...['Time', 'Type', 'User', 'Client', 'What happened'].map((t) => h('th', {}, t)))), tbody),
    ),
    more,
  );
  const PAGE = 100;
  let oldest: number | null = null;

  const query = (before?: number) => {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (search.value.trim()) p.set('q', search.value.trim());
    if (type.value) p.set('type', type.value);
    if (before !== undefined) p.set('before', String(before));
    return api<{ events: JournalEvent[] }>('GET', `/api/events?${p.toString()}`);
  };

  const row = (e: JournalEvent) =>
    h(
      'tr',
      { 'data-event-type': e.type },
      h('td', { class: 'nowrap' }, time(e.at)),
      h('td', {}, h('span', { class: `badge ev-${e.type}` }, e.type)),
      h('td', {}, e.user ?? '—'),
      h('td', {}, e.peer ?? '—'),
      h('td', {}, e.message),
    );

  const load = async () => {
    const { events } = await query();
    clear(tbody);
    if (events.length === 0) tbody.appendChild(h('tr', { class: 'empty' }, h('td', { colspan: 5 }, 'No events match.')));
    for (const e of events) tbody.appendChild(row(e));
    oldest = events.at(-1)?.id ?? null;
    more.hidden = events.length < PAGE;
  };

  more.addEventListener('click', () => {
    if (oldest === null) return;
    void query(oldest).then(({ events }) => {
      for (const e of events) tbody.appendChild(row(e));
      oldest = events.at(-1)?.id ?? oldest;
      more.hidden = events.length < PAGE;
    });
  });
  let debounce = 0;
  search.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(() => void load(), 200);
  });
  type.addEventListener('change', () => void load());
  // New events appear without a reload (unless older pages are open).
  window.setInterval(() => {
    if (document.activeElement !== search && tbody.rows.length <= PAGE) void load();
    void bans.load();
  }, 5000);
  void load();
  void bans.load();
}
