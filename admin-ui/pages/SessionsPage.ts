// Live sessions: a table fed by server-sent events (no reload), a traffic chart per session and
// Disconnect (two clicks: the first arms the button for a few seconds).
import type { LiveSession, LiveSnapshot } from '../../admin/SessionMonitor.js';
import { api, ApiError } from '../ApiClient.js';
import { bytes, count, duration, rate } from '../Format.js';
import { h, setText } from '../Html.js';
import { TrafficChart } from '../TrafficChart.js';

const COLUMNS: Array<[key: string, title: string]> = [
  ['user', 'User'],
  ['peer', 'Client address'],
  ['address', 'Assigned'],
  ['callIds', 'Call IDs ours / peer'],
  ['auth', 'Auth'],
  ['mppe', 'MPPE'],
  ['uptime', 'Uptime'],
  ['rx', 'From client'],
  ['tx', 'To client'],
  ['rate', 'Rate now'],
  ['actions', ''],
];

/** Two lines in one cell: the figure, and a smaller one under it. */
function stacked(cell: HTMLElement, main: string, sub: string): void {
  if (!cell.firstChild) cell.append(h('span', { class: 'main' }), h('small', { class: 'sub' }));
  setText(cell.firstChild as HTMLElement, main);
  setText(cell.lastChild as HTMLElement, sub);
}

/** The user's name, and a "stuck" badge while the session receives GRE but delivers nothing. */
function stuckBadge(cell: HTMLElement, user: string, stuck: boolean): void {
  if (!cell.firstChild) {
    const badge = h('span', { class: 'badge off', 'data-flag': 'stuck', title: 'Receives GRE from the client but has delivered nothing for 10 s or more' }, 'stuck');
    cell.append(h('span', { class: 'main' }), ' ', badge);
  }
  setText(cell.firstChild as HTMLElement, user);
  (cell.lastChild as HTMLElement).hidden = !stuck;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLTableCellElement>;
  chartRow: HTMLTableRowElement | null;
  chart: TrafficChart | null;
}

export function mountSessionsPage(root: HTMLElement): void {
  const summary = h('p', { class: 'summary', id: 'sessions-summary' }, 'Connecting to the live view…');
  const status = h('p', { class: 'notice', hidden: true, role: 'status' });
  const tbody = h('tbody');
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, 'No sessions.'));
  const table = h('table', { class: 'data sessions', id: 'sessions-table' }, h('thead', {}, h('tr', {}, ...COLUMNS.map(([, title]) => h('th', {}, title)))), tbody);
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Sessions'), h('span', { class: 'live-dot', title: 'live' }, 'live')), summary, status, h('div', { class: 'table-wrap' }, table));

  const rows = new Map<string, Row>();

  const flash = (message: string, kind: 'ok' | 'error') => {
    status.textContent = message;
    status.className = `notice ${kind}`;
    status.hidden = false;
  };

  const toggleChart = (s: LiveSession, row: Row) => {
    if (row.chartRow) {
      row.chartRow.remove();
      row.chartRow = null;
      row.chart = null;
      return;
    }
    const chart = new TrafficChart();
    row.chart = chart;
    row.chartRow = h('tr', { class: 'chart-row', 'data-chart-for': s.sessionId }, h('td', { colspan: COLUMNS.length }, chart.element));
    row.tr.after(row.chartRow);
    void api<{ samples: Array<{ at: number; rxRate: number; txRate: number }> }>('GET', `/api/sessions/${encodeURIComponent(s.sessionId)}/history`)
      .then((r) => chart.set(r.samples))
      .catch(() => undefined);
  };

  const disconnectButton = (s: LiveSession) => {
    const button = h('button', { type: 'button', class: 'danger small', 'data-action': 'disconnect' }, 'Disconnect');
    let armed: number | null = null;
    button.addEventListener('click', () => {
      if (armed === null) {
        button.textContent = 'Confirm disconnect';
        button.classList.add('armed');
        armed = window.setTimeout(() => {
          armed = null;
          button.textContent = 'Disconnect';
          button.classList.remove('armed');
        }, 5000);
        return;
      }
      window.clearTimeout(armed);
      button.disabled = true;
      button.textContent = 'Disconnecting…';
      api('POST', `/api/sessions/${encodeURIComponent(s.sessionId)}/disconnect`)
        .then(() => flash(`Disconnecting ${s.user ?? 'session'} (${s.address ?? s.peer}).`, 'ok'))
        .catch((err: unknown) => {
          flash(err instanceof ApiError ? err.message : 'Disconnect failed.', 'error');
          button.disabled = false;
          button.textContent = 'Disconnect';
        });
    });
    return button;
  };

  const create = (s: LiveSession): Row => {
    const cells: Record<string, HTMLTableCellElement> = {};
    const tr = h('tr', { 'data-session-id': s.sessionId });
    for (const [key] of COLUMNS) {
      cells[key] = h('td', { 'data-col': key });
      tr.appendChild(cells[key]);
    }
    const row: Row = { tr, cells, chartRow: null, chart: null };
    const chartButton = h('button', { type: 'button', class: 'ghost small', 'data-action': 'chart' }, 'Chart');
    chartButton.addEventListener('click', () => toggleChart(s, row));
    cells.actions!.append(chartButton, ' ', disconnectButton(s));
    return row;
  };

  const update = (row: Row, s: LiveSession, at: number) => {
    const c = row.cells;
    stuckBadge(c.user!, s.user ?? '(authenticating)', s.stuck);
    setText(c.peer!, s.peer);
    setText(c.address!, s.address ?? '—');
    setText(c.callIds!, `${s.callId} / ${s.peerCallId}`);
    setText(c.auth!, s.authMethod);
    setText(c.mppe!, s.mppe);
    setText(c.uptime!, s.upAt === null ? 'setting up' : duration(at - s.upAt));
    stacked(c.rx!, bytes(s.rxBytes), `${count(s.rxPackets)} pkts`);
    stacked(c.tx!, bytes(s.txBytes), `${count(s.txPackets)} pkts`);
    // Raw values for scripts and tests: the text is rounded for people.
    c.rx!.dataset.bytes = String(s.rxBytes);
    c.tx!.dataset.bytes = String(s.txBytes);
    stacked(c.rate!, `in ${rate(s.rxRate)}`, `out ${rate(s.txRate)}`);
    row.chart?.push({ at, rxRate: s.rxRate, txRate: s.txRate });
  };

  const render = (snap: LiveSnapshot) => {
    const seen = new Set<string>();
    const sorted = [...snap.sessions].sort((a, b) => a.startedAt - b.startedAt);
    for (const s of sorted) {
      seen.add(s.sessionId);
      let row = rows.get(s.sessionId);
      if (!row) {
        row = create(s);
        rows.set(s.sessionId, row);
        tbody.appendChild(row.tr);
      }
      update(row, s, snap.at);
    }
    for (const [id, row] of rows) {
      if (seen.has(id)) continue;
      row.tr.remove();
      row.chartRow?.remove();
      rows.delete(id);
    }
    if (rows.size === 0 && !empty.isConnected) tbody.appendChild(empty);
    if (rows.size > 0) empty.remove();
    const rx = snap.sessions.reduce((n, s) => n + s.rxRate, 0);
    const tx = snap.sessions.reduce((n, s) => n + s.txRate, 0);
    setText(summary, `${snap.sessions.length} session${snap.sessions.length === 1 ? '' : 's'} · in ${rate(rx)} · out ${rate(tx)}`);
  };

  const source = new EventSource('/api/sessions/stream');
  source.addEventListener('snapshot', (e) => render(JSON.parse((e as MessageEvent<string>).data) as LiveSnapshot));
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; a login that ended shows as 401 on the next API call.
    setText(summary, 'Live view interrupted; reconnecting…');
    void api('GET', '/api/me').catch(() => undefined);
  });
}
