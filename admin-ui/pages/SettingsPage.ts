// Settings in force and health: pool and static address ranges, DNS/WINS, auth and MPPE policy, every
// limit by its key, RADIUS servers and their state, and the security audit card (weak settings by
// name + what PPTP cannot protect). "Reload configuration" reads the file again (as SIGHUP does).
import type { AdminHealth, AdminLimitView, AdminReloadResult, AdminSettingsView, RadiusServerState } from '../../admin/AdminCore.js';
import type { SecurityAuditReport } from '../../admin/SecurityAudit.js';
import { api, ApiError } from '../ApiClient.js';
import { bytes, count, duration } from '../Format.js';
import { clear, h } from '../Html.js';

type Pairs = Array<[string, string | Node]>;

function card(title: string, body: Node | Pairs, attrs: Record<string, string> = {}): HTMLElement {
  const content = Array.isArray(body) ? h('dl', { class: 'pairs' }, ...body.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : body;
  return h('section', { class: 'card', ...attrs }, h('h2', {}, title), content);
}

const list = (items: string[]) => (items.length ? items.join(', ') : 'none');

function limitValue(l: AdminLimitView): string {
  const v = typeof l.value === 'number' ? count(l.value) : String(l.value);
  const text = l.unit === 's' ? `${v} s` : l.unit === '/s' ? `${v} per second` : l.unit === 'bytes' && typeof l.value === 'number' ? `${v} bytes (${bytes(l.value)})` : v;
  return l.inForce === undefined ? text : `${text} — ${count(l.inForce)} in force`;
}

/** Every limit by its configuration key, as the server reports them (read-only: they change in the config file). */
function limitsTable(limits: AdminLimitView[]): HTMLElement {
  return h(
    'table',
    { class: 'data', id: 'limits' },
    h('thead', {}, h('tr', {}, ...['Key', 'Value', 'What it bounds'].map((t) => h('th', {}, t)))),
    h('tbody', {}, ...limits.map((l) => h('tr', { 'data-key': l.key }, h('td', {}, h('code', {}, l.key)), h('td', {}, limitValue(l)), h('td', {}, l.what)))),
  );
}
const PROTOCOL_NAMES: Record<string, string> = { mschapv2: 'MS-CHAPv2', mschap: 'MS-CHAPv1', chap: 'CHAP-MD5', pap: 'PAP' };

export function mountSettingsPage(root: HTMLElement): void {
  const grid = h('div', { class: 'cards' });
  const auditBox = h('div');
  const healthBox = h('div');
  const reloadButton = h('button', { type: 'button', class: 'primary', id: 'reload-config', title: 'Read the configuration file again; live sessions are not touched' }, 'Reload configuration');
  const status = h('p', { class: 'notice', hidden: true, role: 'status', id: 'reload-result' });
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Settings & health'), h('div', { class: 'toolbar' }, reloadButton)), status, auditBox, grid, healthBox);

  const renderAudit = (audit: SecurityAuditReport) => {
    clear(auditBox);
    const findings = audit.findings.length
      ? h(
          'ul',
          { class: 'findings' },
          ...audit.findings.map((f) => h('li', { class: `finding ${f.severity}` }, h('span', { class: `badge sev-${f.severity}` }, f.severity), ' ', h('code', {}, f.setting), ' — ', f.message)),
        )
      : h('p', { class: 'ok-text' }, 'No weak setting is in force.');
    auditBox.appendChild(
      h(
        'section',
        { class: `card audit ${audit.ok ? 'audit-ok' : 'audit-weak'}`, id: 'security-audit' },
        h('h2', {}, 'Security audit'),
        findings,
        h('h3', {}, 'What PPTP cannot protect, whatever the settings'),
        h('ul', { class: 'limitations' }, ...audit.limitations.map((l) => h('li', {}, l))),
      ),
    );
  };

  const renderSettings = (s: AdminSettingsView) => {
    clear(grid);
    grid.append(
      card('Network', [
        ['PPTP listen', `${s.listen}:${s.port}`],
        ['Server name', s.serverName],
        ['Tunnel interface', `${s.tun.name} · ${s.tun.address} · MTU ${s.tun.mtu}`],
        ['Address pool', `${s.pool.start} – ${s.pool.end}`],
        ['DNS', list(s.dns)],
        ['WINS', list(s.wins)],
      ]),
      card('Authentication', [
        ['Backend', s.auth.backend],
        ['Protocols', list(s.auth.protocols.map((p) => PROTOCOL_NAMES[p] ?? p))],
      ]),
      card('Encryption (MPPE)', [
        ['Required', s.mppe.required ? 'yes' : 'no — clear sessions allowed'],
        ['Key lengths', list(s.mppe.keyLengths.map((b) => `${b}-bit`))],
        ['Mode', s.mppe.mode],
      ]),
      card('Timers', [
        ['LCP echo', s.ppp.lcpEchoInterval ? `every ${s.ppp.lcpEchoInterval} s, ${s.ppp.lcpEchoFailure} missed = down` : 'off'],
        ['PPTP echo', `every ${s.pptp.echoInterval} s`],
        ['MRU', s.ppp.mru === null ? 'default' : String(s.ppp.mru)],
      ]),
      card('Limits', limitsTable(s.limits), { class: 'card wide' }),
      // Where a static or RADIUS address may lie (config/AddressPolicy.ts): wide, the list of what is never given is long.
      card(
        'Static and RADIUS addresses',
        [
          ['May be given', h('span', { id: 'static-addresses' }, list(s.staticAddresses.allowed), ' (', h('code', {}, 'pool.allowedStaticRanges'), `: ${list(s.pool.allowedStaticRanges)})`)],
          ['Never given', h('span', { class: 'muted small' }, list(s.staticAddresses.never))],
        ],
        { class: 'card wide' },
      ),
      card('Console', [
        ['Listen', s.admin.listen],
        ['TLS', s.admin.tls ? 'on' : 'off'],
        ['Answers to Host', `${list(s.admin.allowedHosts)} (each also with :${s.admin.listen.replace(/^.*:/, '')} unless it names a port; others get 421)`],
        ['User names in metrics', s.admin.metricsUsernames ? 'yes' : 'no'],
      ]),
    );
  };

  const renderHealth = (health: AdminHealth, radius: { configured: boolean; servers: RadiusServerState[] }, s: AdminSettingsView) => {
    clear(healthBox);
    const drops = Object.entries(health.dataPlane);
    const radiusBody = !radius.configured
      ? s.radius.servers.length
        ? h('p', { id: 'radius-state' }, `RADIUS: ${s.radius.servers.map((r) => `${r.address}:${r.authPort}`).join(', ')} configured; no state reported yet.`)
        : h('p', { id: 'radius-state', class: 'muted' }, 'RADIUS: not configured')
      : h(
          'table',
          { class: 'data', id: 'radius-state' },
          h('thead', {}, h('tr', {}, ...['Server', 'Role', 'State', 'Last round trip'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...radius.servers.map((r) =>
              h(
                'tr',
                {},
                h('td', {}, r.server),
                h('td', {}, r.role),
                h('td', {}, h('span', { class: `badge ${r.state === 'up' ? 'ok' : r.state === 'dead' ? 'off' : ''}` }, r.state)),
                h('td', {}, r.lastRttMs === null ? '—' : `${r.lastRttMs} ms`),
              ),
            ),
          ),
        );
    healthBox.appendChild(
      h(
        'div',
        { class: 'cards' },
        card(
          'Health',
          [
            ['Up for', duration(Date.now() - health.startedAt)],
            ['Sessions', count(health.sessions)],
            ['Pool use', h('span', {}, `${health.pool.used} of ${health.pool.size}`, h('meter', { min: 0, max: health.pool.size, value: health.pool.used, class: 'pool-meter' }))],
            ['Memory', `${bytes(health.memory.rssBytes)} resident, ${bytes(health.memory.heapUsedBytes)} heap`],
          ],
          { id: 'health' },
        ),
        card('Data-plane drops', drops.length ? drops.map(([k, v]) => [k, count(v)] as [string, string]) : h('p', {}, 'none')),
        card(
          'RADIUS',
          h(
            'div',
            {},
            radiusBody,
            s.radius.servers.length
              ? h(
                  'p',
                  { class: 'muted small' },
                  `Message-Authenticator required: ${s.radius.requireMessageAuthenticator ? 'yes' : 'no'} · timeout ${s.radius.timeout} s × ${s.radius.tries}${s.radius.das ? ` · DAS on ${s.radius.das.listen}:${s.radius.das.port}` : ''}`,
                )
              : null,
          ),
        ),
      ),
    );
  };

  const load = async () => {
    const [{ settings, audit }, { health, radius }] = await Promise.all([
      api<{ settings: AdminSettingsView; audit: SecurityAuditReport }>('GET', '/api/settings'),
      api<{ health: AdminHealth; radius: { configured: boolean; servers: RadiusServerState[] } }>('GET', '/api/health'),
    ]);
    renderAudit(audit);
    renderSettings(settings);
    renderHealth(health, radius, settings);
    return settings;
  };
  let current: AdminSettingsView | null = null;
  void load().then((settings) => {
    current = settings;
    window.setInterval(() => {
      void api<{ health: AdminHealth; radius: { configured: boolean; servers: RadiusServerState[] } }>('GET', '/api/health').then((r) => renderHealth(r.health, r.radius, current ?? settings));
    }, 5000);
  });

  // A refused file answers 422 with the problems, key by key; what needs a restart is in the message.
  reloadButton.addEventListener('click', () => {
    reloadButton.setAttribute('disabled', '');
    void api<AdminReloadResult>('POST', '/api/reload')
      .then(async (r) => {
        status.textContent = r.message;
        status.className = `notice ${r.needsRestart.length ? '' : 'ok'}`.trim();
        current = await load();
      })
      .catch((err: unknown) => {
        status.textContent = err instanceof ApiError ? err.message : 'Reload failed.';
        status.className = 'notice error';
      })
      .finally(() => {
        status.hidden = false;
        reloadButton.removeAttribute('disabled');
      });
  });
}
