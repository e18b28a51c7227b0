// The console's HTTP contract through fastify's inject, over a fake AdminCore: who may do what
// (Host, login, cookie, Origin, CSRF, tokens, login back-off), what the forms get back, and what is published.
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runAdminCommand } from '../../admin/AdminCli.js';
import { AdminAccounts } from '../../admin/AdminAccounts.js';
import type { AdminConfig } from '../../admin/AdminContext.js';
import type { AdminCore } from '../../admin/AdminCore.js';
import { openAdminDatabase } from '../../admin/AdminDatabase.js';
import { createAdminServer, type AdminServer } from '../../admin/AdminServer.js';
import { createPptpAdminCore } from '../../admin/PptpCoreAdapter.js';
import { consoleHostNames, HostAllowList } from '../../admin/HostAllowList.js';
import { clientKey, DEFAULT_BACKOFF, LoginThrottle } from '../../admin/LoginThrottle.js';
import { auditSettings } from '../../admin/SecurityAudit.js';
import { StaticAssets } from '../../admin/StaticAssets.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import type { DataPlane } from '../../dataplane/DataPlane.js';
import type { SessionManager } from '../../session/SessionManager.js';
import { UserStore } from '../../aaa/UserStore.js';
import { FakeAdminCore, fakeSession, fakeSettings } from './FakeAdminCore.js';
import { newSessionCounters } from '../../dataplane/SessionCounters.js';
import { AddressBans } from '../../aaa/AddressBans.js';
import { LoginGuard } from '../../aaa/ThrottledAuthenticator.js';
import { banPolicy, loginThrottlePolicy } from '../../server/Limits.js';

/** A front end of three files, so that these tests do not depend on the build. */
function testAssets(): StaticAssets {
  const root = mkdtempSync(join(tmpdir(), 'portico-ui-'));
  mkdirSync(join(root, 'admin-ui'));
  mkdirSync(join(root, 'dist', 'admin-ui', 'pages'), { recursive: true });
  writeFileSync(join(root, 'admin-ui', 'index.html'), '<title>login page</title>');
  writeFileSync(join(root, 'admin-ui', 'app.html'), '<title>app page</title>');
  writeFileSync(join(root, 'admin-ui', 'style.css'), 'body{}');
  writeFileSync(join(root, 'dist', 'admin-ui', 'login.js'), '/* login */');
  writeFileSync(join(root, 'dist', 'admin-ui', 'app.js'), '/* app */');
  writeFileSync(join(root, 'dist', 'admin-ui', 'pages', 'UsersPage.js'), '/* users */');
  return new StaticAssets(root);
}

interface Harness {
  server: AdminServer;
  core: FakeAdminCore;
  logLines: string[];
  password: string;
  dir: string;
  /** As a browser sends it: the Host of the console's listen address, and an Origin of it on every change made with a cookie (unless the request names its own). */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Exactly the headers given (light-my-request's Host is localhost:80). */
  bare(options: InjectOptions): Promise<LightMyRequestResponse>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.server.close();
  vi.useRealTimers();
});

/** `adminCore`: serve this core (the real adapter, say) instead of `core`, which the test then leaves alone. */
async function harness(options: { admin?: Partial<AdminConfig['admin']>; dir?: string; core?: FakeAdminCore; adminCore?: AdminCore } = {}): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'portico-admin-'));
  const logLines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const core = options.core ?? new FakeAdminCore();
  // Only Date is faked: the clock stands still unless a test moves it, while fastify and the sampling run on real timers.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(1_800_000_000_000);
  const config: AdminConfig = { dataDir: dir, admin: { listen: '127.0.0.1:8080', enabled: true, metricsUsernames: false, ...options.admin } };
  const server = await createAdminServer(options.adminCore ?? core, config, log, { processMetrics: false, assets: testAssets(), sampleIntervalMs: 20 });
  const created = logLines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg.startsWith('created console account'));
  const password = created?.msg.match(/with password (\S+) /)?.[1] ?? '';
  const bare = (o: InjectOptions) => server.app.inject(o);
  const inject = (o: InjectOptions) => {
    const headers: Record<string, unknown> = { host: config.admin.listen, ...o.headers };
    const change = o.method !== undefined && !['GET', 'HEAD'].includes(o.method.toUpperCase());
    if (change && headers.cookie !== undefined && !('origin' in headers) && !('referer' in headers)) headers.origin = `http://${headers.host}`;
    return bare({ ...o, headers: headers as NonNullable<InjectOptions['headers']> });
  };
  const h: Harness = { server, core, logLines, password, dir, inject, bare };
  open.push(h);
  return h;
}

const COOKIE = 'portico_session';

async function login(h: Harness, password = h.password, remoteAddress = '127.0.0.1') {
  const res = await h.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password }, remoteAddress });
  expect(res.statusCode, res.body).toBe(200);
  const cookie = res.cookies.find((c) => c.name === COOKIE)!;
  return { cookie: `${COOKIE}=${cookie.value}`, csrf: (res.json() as { csrf: string }).csrf, setCookie: res.headers['set-cookie'] as string };
}

describe('access', () => {
  it('first start creates admin with a random password logged once, saying it is the only secret logged', async () => {
    const h = await harness();
    expect(h.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const line = h.logLines.find((l) => l.includes(h.password))!;
    expect(line).toMatch(/only secret Portico ever writes to its log/);
    expect(h.logLines.filter((l) => l.includes(h.password))).toHaveLength(1);
    await h.server.close();
    open.splice(open.indexOf(h), 1);
    const again = await harness({ dir: h.dir });
    expect(again.password).toBe('');
    expect(again.logLines.join('\n')).not.toMatch(/password/);
    await login(again, h.password); // the same account, same password
  });

  it('GET / is the login page; without a login every other page and module redirects to it', async () => {
    const h = await harness();
    const root = await h.inject({ url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.body).toContain('login page');
    expect(root.headers['content-security-policy']).toContain("default-src 'none'");
    expect(root.headers['x-frame-options']).toBe('DENY');
    for (const url of ['/sessions', '/users', '/events', '/settings', '/account', '/assets/app.js', '/assets/pages/UsersPage.js', '/nope', '/assets/../package.json']) {
      const res = await h.inject({ url });
      expect([url, res.statusCode, res.headers.location]).toEqual([url, 302, '/']);
      expect(res.body).not.toContain('app page');
    }
    // The login page's own stylesheet and script are all that loads without a login.
    expect((await h.inject({ url: '/assets/style.css' })).statusCode).toBe(200);
    expect((await h.inject({ url: '/assets/login.js' })).body).toBe('/* login */');
    // Logged in: the pages and modules are there, and / moves on to the sessions.
    const { cookie } = await login(h);
    expect((await h.inject({ url: '/users', headers: { cookie } })).body).toContain('app page');
    expect((await h.inject({ url: '/assets/pages/UsersPage.js', headers: { cookie } })).headers['content-type']).toMatch(/javascript/);
    expect((await h.inject({ url: '/', headers: { cookie } })).headers.location).toBe('/sessions');
    expect((await h.inject({ url: '/assets/../package.json', headers: { cookie } })).statusCode).toBe(404);
  });

  it('every /api route of the OpenAPI document, /metrics and unknown /api paths answer 401 without a login', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    const doc = (await h.inject({ url: '/api/openapi.json', headers: { cookie } })).json() as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as const));
    expect(operations.length).toBeGreaterThanOrEqual(18);
    let checked = 0;
    for (const [method, path] of operations) {
      if (method === 'POST' && path === '/api/login') continue;
      const url = path.replace(/\{[^}]+\}/g, 'x');
      const res = await h.inject({ method: method as 'GET', url, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
      expect([method, url, res.statusCode]).toEqual([method, url, 401]);
      checked++;
    }
    expect(checked).toBe(operations.length - 1);
    for (const url of ['/api/nope', '/api/users/x/y', '/metrics']) expect((await h.inject({ url })).statusCode).toBe(401);
    // A forged or expired cookie is no login either.
    expect((await h.inject({ url: '/api/sessions', headers: { cookie: `${COOKIE}=forged` } })).statusCode).toBe(401);
    expect((await h.inject({ url: '/api/nope', headers: { cookie } })).statusCode).toBe(404);
  });

  it('the session cookie is HttpOnly, SameSite=Strict, Path=/, not Secure without TLS; logout ends it', async () => {
    const h = await harness();
    const { cookie, csrf, setCookie } = await login(h);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Secure/);
    expect((await h.inject({ url: '/api/me', headers: { cookie } })).json()).toEqual({ account: 'admin', kind: 'session', csrf });
    expect((await h.inject({ method: 'POST', url: '/api/logout', headers: { cookie } })).statusCode).toBe(403); // CSRF applies to logout too
    expect((await h.inject({ method: 'POST', url: '/api/logout', headers: { cookie, 'x-csrf-token': csrf } })).statusCode).toBe(204);
    expect((await h.inject({ url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
  });

  it('under TLS the cookie is __Host-portico and Secure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=portico', '-days', '1', '-keyout', key, '-out', cert]);
    expect(r.status, String(r.stderr)).toBe(0);
    const h = await harness({ admin: { listen: '198.18.0.1:8443', tls: { cert, key } } });
    const res = await h.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password: h.password } });
    const set = res.headers['set-cookie'] as string;
    expect(set).toMatch(/^__Host-portico=/);
    expect(set).toMatch(/; Secure/);
    expect(set).toMatch(/HttpOnly/);
  });
});

describe('CSRF and Origin', () => {
  it('a change with the cookie needs the session CSRF token and a same-origin Origin', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const add = (headers: Record<string, string>, name: string) =>
      h.inject({ method: 'POST', url: '/api/users', headers: { cookie, host: 'localhost:8080', ...headers }, payload: { name, password: 'pw-123' } });
    expect((await add({}, 'u1')).statusCode).toBe(403);
    expect((await add({ 'x-csrf-token': 'x'.repeat(csrf.length) }, 'u1')).statusCode).toBe(403);
    expect((await add({ 'x-csrf-token': csrf, origin: 'http://evil.example' }, 'u1')).statusCode).toBe(403);
    expect(h.core.userMap.size).toBe(0);
    expect((await add({ 'x-csrf-token': csrf, origin: 'http://localhost:8080' }, 'u1')).statusCode).toBe(201);
    expect((await add({ 'x-csrf-token': csrf, referer: 'http://localhost:8080/users' }, 'u2')).statusCode).toBe(201); // no Origin: the Referer
    // Login itself: only from this origin, and only as JSON (a cross-site form can post text/plain).
    const crossLogin = await h.inject({ method: 'POST', url: '/api/login', headers: { host: 'localhost:8080', origin: 'http://evil.example' }, payload: { username: 'admin', password: h.password } });
    expect(crossLogin.statusCode).toBe(403);
    const formLogin = await h.inject({ method: 'POST', url: '/api/login', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify({ username: 'admin', password: h.password }) });
    expect(formLogin.statusCode).toBe(415);
    // Another login's token is not this one's.
    const other = await login(h);
    expect((await add({ 'x-csrf-token': other.csrf }, 'u3')).statusCode).toBe(403);
    // Disconnect and delete are changes too.
    h.core.live = [fakeSession()];
    expect((await h.inject({ method: 'POST', url: `/api/sessions/${h.core.live[0]!.sessionId}/disconnect`, headers: { cookie } })).statusCode).toBe(403);
    expect((await h.inject({ method: 'DELETE', url: '/api/users/u1', headers: { cookie } })).statusCode).toBe(403);
    expect(h.core.disconnects).toHaveLength(0);
    expect([...h.core.userMap.keys()]).toEqual(['u1', 'u2']);
  });

  it('a change made with the cookie needs an Origin (or Referer) of this console, whatever other headers it carries', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const post = (headers: Record<string, string>, name: string) =>
      h.bare({ method: 'POST', url: '/api/users', headers: { host: '127.0.0.1:8080', cookie, 'x-csrf-token': csrf, ...headers }, payload: { name, password: 'pw-123' } });
    const refused = await post({}, 'u1');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ error: 'a change made with the login cookie must come from a page of this console (Origin)' });
    // An Authorization header that is no API token does not lift the check (it used to skip it).
    expect((await post({ authorization: 'Basic x' }, 'u1')).statusCode).toBe(403);
    expect((await post({ authorization: 'Basic x', origin: 'http://evil.example' }, 'u1')).statusCode).toBe(403);
    expect((await post({ origin: 'null' }, 'u1')).statusCode).toBe(403);
    expect((await post({ referer: 'http://evil.example/127.0.0.1:8080/' }, 'u1')).statusCode).toBe(403);
    expect((await post({ origin: 'http://localhost:8080' }, 'u1')).statusCode).toBe(403); // another of the allowed names is another origin
    expect((await h.bare({ method: 'DELETE', url: '/api/users/u1', headers: { host: '127.0.0.1:8080', cookie, 'x-csrf-token': csrf } })).statusCode).toBe(403);
    expect((await h.bare({ method: 'POST', url: '/api/logout', headers: { host: '127.0.0.1:8080', cookie, 'x-csrf-token': csrf } })).statusCode).toBe(403);
    expect(h.core.userMap.size).toBe(0);
    expect((await post({ authorization: 'Basic x', origin: 'http://127.0.0.1:8080' }, 'u1')).statusCode).toBe(201);
    expect((await post({ origin: 'http://127.0.0.1:8080' }, 'u2')).statusCode).toBe(201);
    // Reading needs no Origin.
    expect((await h.bare({ url: '/api/users', headers: { host: '127.0.0.1:8080', cookie } })).statusCode).toBe(200);

    // An API token (no cookie used) changes without any Origin; with a cookie beside it, the token's rights are all it gets.
    const made = await h.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: 'bot', scope: 'write' } });
    const reader = await h.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: 'reader', scope: 'read' } });
    const token = (made.json() as { token: string }).token;
    const byToken = (t: string, name: string, extra: Record<string, string> = {}) =>
      h.bare({ method: 'POST', url: '/api/users', headers: { host: '127.0.0.1:8080', authorization: `Bearer ${t}`, ...extra }, payload: { name, password: 'pw-123' } });
    expect((await byToken(token, 'u3')).statusCode).toBe(201);
    expect((await byToken((reader.json() as { token: string }).token, 'u4', { cookie, 'x-csrf-token': csrf })).statusCode).toBe(403); // read-only token: not the cookie's write
    expect((await byToken(`${token}x`, 'u4', { cookie, 'x-csrf-token': csrf })).statusCode).toBe(401); // a wrong token does not fall back to the cookie
    expect([...h.core.userMap.keys()]).toEqual(['u1', 'u2', 'u3']);
  });
});

describe('Host allow-list', () => {
  it('a Host the console does not answer to gets 421 before anything else; by default loopback and the listen address, with or without the port', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const as = (host: string, o: InjectOptions = {}) => h.bare({ ...o, headers: { ...o.headers, host } });
    for (const host of ['attacker.example', 'attacker.example:8080', 'localhost:80', 'localhost:8081', '127.0.0.2:8080', 'localhost.', '[::2]:8080']) {
      const res = await as(host, { url: '/' });
      expect([host, res.statusCode]).toEqual([host, 421]);
      expect(res.body).not.toContain('login page');
    }
    const rebound = await as('attacker.example', { url: '/api/sessions', headers: { cookie } });
    expect(rebound.statusCode).toBe(421);
    expect(rebound.json()).toEqual({ error: 'this console does not answer to that Host name (admin.allowedHosts)' });
    const change = await as('attacker.example', {
      method: 'POST',
      url: '/api/users',
      headers: { cookie, 'x-csrf-token': csrf, origin: 'http://attacker.example' },
      payload: { name: 'x', password: 'y' },
    });
    expect(change.statusCode).toBe(421);
    expect(h.core.userMap.size).toBe(0);
    // Not even a login is checked (nor counted).
    for (let i = 0; i < 8; i++)
      expect((await as('attacker.example', { method: 'POST', url: '/api/login', payload: { username: 'admin', password: 'guess' }, remoteAddress: '192.0.2.9' })).statusCode).toBe(421);
    expect(h.server.context.throttle.retryAfter('192.0.2.9')).toBe(0);
    expect(h.logLines.filter((l) => l.includes('Host not allowed'))).toHaveLength(17);
    expect(JSON.parse(h.logLines.find((l) => l.includes('Host not allowed'))!)).toMatchObject({ host: 'attacker.example' });
    for (const host of ['localhost', 'localhost:8080', 'LOCALHOST:8080', '127.0.0.1', '127.0.0.1:8080', '[::1]', '[::1]:8080']) {
      expect([host, (await as(host, { url: '/' })).statusCode]).toEqual([host, 200]);
    }
    // Without any Host (HTTP/1.0) there is nothing to check against: refused too.
    expect(new HostAllowList({ listen: '127.0.0.1:8080' }).allows(undefined)).toBe(false);
  });

  it('the audit flags a relaxed Disconnect/CoA and a data directory that had to be fixed', () => {
    const radius = { servers: [], requireMessageAuthenticator: true, timeout: 3, tries: 3 };
    const strict = auditSettings(fakeSettings({ radius: { ...radius, das: { listen: '127.0.0.1', port: 3799, requireMessageAuthenticator: true, requireEventTimestamp: true } } })).findings;
    expect(strict.map((f) => f.setting)).not.toContain('radius.das.requireEventTimestamp');
    const relaxed = auditSettings(
      fakeSettings({
        radius: { ...radius, das: { listen: '127.0.0.1', port: 3799, requireMessageAuthenticator: false, requireEventTimestamp: false } },
        dataDirectory: { path: '/var/lib/portico', fixed: ['/var/lib/portico: 0755 → 0700'] },
      }),
    ).findings;
    expect(relaxed.filter((f) => ['radius.das.requireEventTimestamp', 'radius.das.requireMessageAuthenticator', 'dataDir'].includes(f.setting)).map((f) => [f.setting, f.severity])).toEqual([
      ['radius.das.requireEventTimestamp', 'medium'],
      ['radius.das.requireMessageAuthenticator', 'low'],
      ['dataDir', 'medium'],
    ]);
  });

  it('host checks that warned at start (server/HostChecks.ts) are audit findings by their key, and the audit is no longer ok', () => {
    const hostWarnings = [
      {
        check: 'ip-forward',
        setting: 'net.ipv4.ip_forward',
        message: 'net.ipv4.ip_forward is 0: clients reach this server and nothing behind it',
        fix: 'sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf)',
      },
      { check: 'dns', setting: 'dns', message: 'no DNS server for clients (dns is empty): clients connect and cannot resolve names', fix: 'set dns: [A.B.C.D] (the resolver clients should use)' },
    ];
    expect(auditSettings(fakeSettings()).ok).toBe(true);
    const audit = auditSettings(fakeSettings({ hostWarnings }));
    expect(audit.ok).toBe(false);
    expect(audit.findings).toEqual([
      {
        severity: 'medium',
        setting: 'net.ipv4.ip_forward',
        message:
          'net.ipv4.ip_forward is 0: clients reach this server and nothing behind it. Fix: sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf). (Found at start; portico doctor checks again.)',
      },
      {
        severity: 'medium',
        setting: 'dns',
        message:
          'no DNS server for clients (dns is empty): clients connect and cannot resolve names. Fix: set dns: [A.B.C.D] (the resolver clients should use). (Found at start; portico doctor checks again.)',
      },
    ]);
  });

  it('admin.allowedHosts adds names (a name alone also with the console port, name:port exactly); the settings and the audit name them', async () => {
    const h = await harness({ admin: { listen: '[::1]:9090', allowedHosts: ['Portico.example.net', 'proxy.example.net:8443'] } });
    const status = async (host: string) => (await h.bare({ url: '/', headers: { host } })).statusCode;
    for (const host of ['portico.example.net', 'portico.example.net:9090', 'proxy.example.net:8443', '[::1]:9090', 'localhost:9090']) expect([host, await status(host)]).toEqual([host, 200]);
    for (const host of ['portico.example.net:8080', 'proxy.example.net', 'proxy.example.net:9090', 'example.net', 'localhost:8080']) expect([host, await status(host)]).toEqual([host, 421]);
    expect(consoleHostNames({ listen: '[::1]:9090', allowedHosts: ['Portico.example.net', 'proxy.example.net:8443', 'localhost'] })).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      'portico.example.net',
      'proxy.example.net:8443',
    ]);

    // The audit: a console on every address that answers only to loopback names, and named hosts without TLS of its own.
    const audit = (admin: { listen: string; tls: boolean; allowedHosts: string[] }) => auditSettings(fakeSettings({ admin: { ...admin, metricsUsernames: false } })).findings;
    expect(audit({ listen: '127.0.0.1:8080', tls: false, allowedHosts: consoleHostNames({ listen: '127.0.0.1:8080' }) })).toEqual([]);
    const wildcard = audit({ listen: '0.0.0.0:8443', tls: true, allowedHosts: consoleHostNames({ listen: '0.0.0.0:8443' }) });
    expect(wildcard.map((f) => [f.severity, f.setting])).toEqual([
      ['low', 'admin.listen'],
      ['low', 'admin.allowedHosts'],
    ]);
    expect(wildcard[1]!.message).toMatch(/answers only to the Host names localhost, 127\.0\.0\.1, \[::1\], 0\.0\.0\.0: .* refused \(421\)/);
    expect(audit({ listen: '0.0.0.0:8443', tls: true, allowedHosts: consoleHostNames({ listen: '0.0.0.0:8443', allowedHosts: ['vpn.example.net'] }) }).map((f) => f.setting)).toEqual(['admin.listen']);
    const proxied = audit({ listen: '127.0.0.1:8080', tls: false, allowedHosts: consoleHostNames({ listen: '127.0.0.1:8080', allowedHosts: ['vpn.example.net'] }) });
    expect(proxied).toEqual([{ severity: 'low', setting: 'admin.allowedHosts', message: expect.stringMatching(/^The console answers to vpn\.example\.net but has no TLS of its own: .*Secure flag/) }]);
  });

  it('admin.allowedHosts in the configuration: host names, addresses, optional port; an error names the key', () => {
    expect(validateConfig({}).admin.allowedHosts).toEqual([]);
    expect(validateConfig({ admin: { allowedHosts: ['portico.example.net', 'portico.example.net:8443', '192.0.2.10', '[2001:db8::1]:8080'] } }).admin.allowedHosts).toHaveLength(4);
    for (const bad of ['*.example.net', 'http://portico.example.net', 'portico.example.net/', 'two words', '', '-x.example', 'x'.repeat(64)]) {
      expect(() => validateConfig({ admin: { allowedHosts: [bad] } }), bad).toThrow(/admin\.allowedHosts\.0: a host name or address as browsers send it in Host/);
    }
    expect(() => validateConfig({ admin: { allowedHosts: 'portico.example.net' } })).toThrow(/admin\.allowedHosts: /);
  });
});

describe('users', () => {
  it('validation errors name the field at fault', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const headers = { cookie, 'x-csrf-token': csrf };
    const post = async (payload: Record<string, unknown>) => {
      const res = await h.inject({ method: 'POST', url: '/api/users', headers, payload });
      return { status: res.statusCode, fields: (res.json() as { fields?: Record<string, string> }).fields ?? {} };
    };
    expect(await post({ password: 'x' })).toEqual({ status: 400, fields: { name: 'required' } });
    expect(await post({ name: 'ann' })).toEqual({ status: 400, fields: { password: 'required' } });
    expect(await post({ name: '  ', password: 'x' })).toMatchObject({ status: 400, fields: { name: 'required' } });
    expect(await post({ name: 'ann', password: 'x', staticAddress: '10.1.2' })).toMatchObject({ status: 400, fields: { staticAddress: '"10.1.2" is not an IPv4 address' } });
    expect(await post({ name: 'ann', password: 'x', sessionTimeout: -5 })).toMatchObject({ status: 400, fields: { sessionTimeout: expect.stringMatching(/>= 0/) } });
    expect(await post({ name: 'ann', password: 'x', idleTimeout: 'soon' })).toMatchObject({ status: 400, fields: { idleTimeout: expect.stringMatching(/integer/) } });
    expect(await post({ name: 'ann', password: 'x', role: 'root' })).toMatchObject({ status: 400, fields: { role: 'unknown field' } });
    expect(await post({ name: 'bad name', password: 'x' })).toMatchObject({ status: 400, fields: { name: expect.stringMatching(/no spaces/) } });
    expect(await post({ name: 'ann', password: 'pw', staticAddress: '198.18.100.7', sessionTimeout: 3600 })).toMatchObject({ status: 201 });
    expect(await post({ name: 'ANN', password: 'pw' })).toMatchObject({ status: 409, fields: { name: 'user ANN already exists' } });
    expect(await post({ name: 'bob', password: 'pw', staticAddress: '198.18.100.7' })).toMatchObject({ status: 409, fields: { staticAddress: expect.stringMatching(/belongs to ann/) } });
    expect(h.core.users.list().map((u) => u.name)).toEqual(['ann']);
  });

  it('list with search, edit, delete', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const headers = { cookie, 'x-csrf-token': csrf };
    for (const name of ['alice', 'albert', 'bob']) await h.inject({ method: 'POST', url: '/api/users', headers, payload: { name, password: 'pw' } });
    h.core.live = [fakeSession({ user: 'alice' })];
    const list = (await h.inject({ url: '/api/users?q=AL', headers: { cookie } })).json() as { users: Array<{ name: string; online: number }> };
    expect(list.users.map((u) => [u.name, u.online])).toEqual([
      ['albert', 0],
      ['alice', 1],
    ]);
    const patched = await h.inject({ method: 'PATCH', url: '/api/users/bob', headers, payload: { enabled: false, idleTimeout: 600, staticAddress: '' } });
    expect(patched.json()).toMatchObject({ name: 'bob', enabled: false, idleTimeout: 600, staticAddress: null });
    expect((await h.inject({ method: 'PATCH', url: '/api/users/bob', headers, payload: {} })).statusCode).toBe(400);
    expect((await h.inject({ method: 'PATCH', url: '/api/users/nobody', headers, payload: { enabled: true } })).statusCode).toBe(404);
    expect((await h.inject({ method: 'DELETE', url: '/api/users/bob', headers })).statusCode).toBe(204);
    expect((await h.inject({ url: '/api/users/bob', headers: { cookie } })).statusCode).toBe(404);
    const journal = (await h.inject({ url: '/api/events?type=admin&q=bob', headers: { cookie } })).json() as { events: Array<{ message: string }> };
    expect(journal.events.map((e) => e.message)).toEqual(['admin: deleted user bob', 'admin: changed enabled, idleTimeout, staticAddress of bob', 'admin: added user bob']);
  });
});

describe('login back-off per client address', () => {
  const attempt = (h: Harness, password: string, remoteAddress: string) => h.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password }, remoteAddress });

  it('5 failures from one address: 1 s before its next attempt is checked, even with the right password; other addresses unaffected', async () => {
    const h = await harness();
    for (let i = 0; i < 5; i++) {
      const res = await attempt(h, 'wrong-password', '192.0.2.7');
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: 'Wrong user name or password.' });
    }
    const limited = await attempt(h, h.password, '192.0.2.7');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.json()).toEqual({ error: 'Too many failed logins. Try again in 1 s.', retryAfter: 1 });
    expect((await attempt(h, h.password, '192.0.2.8')).statusCode).toBe(200);
    vi.setSystemTime(Date.now() + 1000);
    expect((await attempt(h, h.password, '192.0.2.7')).statusCode).toBe(200);
    // The correct login cleared the address: five free failures again.
    for (let i = 0; i < 5; i++) expect((await attempt(h, 'wrong-password', '192.0.2.7')).statusCode).toBe(401);
    const refused = h.logLines.filter((l) => l.includes('too many failures'));
    expect(refused).toHaveLength(1);
    expect(JSON.parse(refused[0]!)).toMatchObject({ client: '192.0.2.7', account: 'admin', retryAfter: 1 });
    expect(h.logLines.join('\n')).not.toContain('wrong-password');
    expect(h.logLines.join('\n').split(h.password)).toHaveLength(2); // the creation line only
  });

  it('25 wrong logins from one address: its wait doubles up to 15 min; the right password from another address still logs in', async () => {
    const h = await harness();
    const waits: number[] = [];
    for (let i = 0; i < 25; i++) {
      // Each guess waits out the back-off, so that every one of them is checked (and fails).
      const wait = h.server.context.throttle.retryAfter('192.0.2.66');
      waits.push(wait);
      vi.setSystemTime(Date.now() + wait * 1000);
      expect((await attempt(h, `guess-${i}`, '192.0.2.66')).statusCode).toBe(401);
    }
    expect(waits).toEqual([0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900]);
    const refused = await attempt(h, h.password, '192.0.2.66');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('900');
    expect((refused.json() as { error: string }).error).toBe('Too many failed logins. Try again in 15 min.');
    // No account lock: the administrator elsewhere is never refused for someone else's guesses.
    expect((await attempt(h, h.password, '203.0.113.9')).statusCode).toBe(200);
    expect(h.logLines.filter((l) => l.includes('console login refused: too many failures'))).toHaveLength(1);
    expect(h.logLines.join('\n')).not.toMatch(/guess-\d/);
  });

  it('failures against one account from many addresses never refuse the right password from another address', async () => {
    const h = await harness();
    // 25 failures: past the 20 that used to lock the account name for 15 minutes.
    for (let a = 1; a <= 5; a++) for (let i = 0; i < 5; i++) expect((await attempt(h, 'guess', `198.51.100.${a}`)).statusCode).toBe(401);
    expect((await attempt(h, h.password, '203.0.113.9')).statusCode).toBe(200);
  });

  it('a burst of parallel guesses counts each guess from its start: no more than 5 are checked', async () => {
    const h = await harness();
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(h, `guess-${i}`, '192.0.2.50')));
    const codes = burst.map((r) => r.statusCode).sort();
    expect(codes).toEqual([...Array(5).fill(401), ...Array(7).fill(429)]);
    expect(h.logLines.filter((l) => l.includes('console login refused: too many failures'))).toHaveLength(7);
  });

  it('an IPv6 client is its /64; an IPv4-mapped address is the IPv4 address', async () => {
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('192.0.2.1')).toBe('192.0.2.1');
    const h = await harness();
    for (let i = 1; i <= 5; i++) expect((await attempt(h, 'guess', `2001:db8:1:2::${i}`)).statusCode).toBe(401);
    expect((await attempt(h, h.password, '2001:db8:1:2::99')).statusCode).toBe(429);
    expect((await attempt(h, h.password, '2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it('the table of addresses is bounded: past maxEntries the least recently failed is forgotten; a quiet address starts afresh', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_000_000);
    const throttle = new LoginThrottle({ ...DEFAULT_BACKOFF, failuresBeforeWait: 1, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) throttle.begin(`10.0.${i >> 8}.${i & 255}`);
    expect(throttle.size).toBe(100);
    expect(throttle.retryAfter('10.0.3.231')).toBe(1); // the last of the 1000
    expect(throttle.retryAfter('10.0.0.0')).toBe(0); // evicted: it may only try sooner
    // A day without failures: forgotten.
    vi.setSystemTime(Date.now() + DEFAULT_BACKOFF.forgetMs + 1);
    expect(throttle.begin('10.0.3.231')).toBe(0);
    expect(throttle.retryAfter('10.0.3.231')).toBe(1); // its first failure again (one free), not its second
    expect(throttle.size).toBeLessThanOrEqual(100);
  });
});

describe('API tokens', () => {
  it('read tokens GET only, write tokens change without CSRF, tokens cannot manage tokens, revoked tokens are refused', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const make = async (scope: string) => {
      const res = await h.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: `${scope}-bot`, scope } });
      expect(res.statusCode).toBe(201);
      return res.json() as { token: string; info: { id: string } };
    };
    const read = await make('read');
    const write = await make('write');
    expect(read.token).toMatch(/^ptk_[A-Za-z0-9_-]{43}$/);
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    expect((await h.inject({ url: '/api/sessions', headers: bearer(read.token) })).statusCode).toBe(200);
    expect((await h.inject({ url: '/metrics', headers: bearer(read.token) })).statusCode).toBe(200);
    expect((await h.inject({ method: 'POST', url: '/api/users', headers: bearer(read.token), payload: { name: 'x', password: 'y' } })).statusCode).toBe(403);
    expect((await h.inject({ method: 'POST', url: '/api/users', headers: bearer(write.token), payload: { name: 'x', password: 'y' } })).statusCode).toBe(201);
    expect((await h.inject({ url: '/api/tokens', headers: bearer(write.token) })).statusCode).toBe(403);
    expect((await h.inject({ method: 'POST', url: '/api/tokens', headers: bearer(write.token), payload: { name: 'n', scope: 'write' } })).statusCode).toBe(403);
    expect((await h.inject({ url: '/api/me', headers: bearer(read.token) })).json()).toEqual({ account: 'token:read-bot', kind: 'token', scope: 'read' });
    const listed = (await h.inject({ url: '/api/tokens', headers: { cookie } })).json() as { tokens: Array<Record<string, unknown>> };
    expect(listed.tokens.map((t) => t.name)).toEqual(['read-bot', 'write-bot']);
    expect(JSON.stringify(listed)).not.toContain(read.token);
    expect((await h.inject({ method: 'DELETE', url: `/api/tokens/${read.info.id}`, headers: { cookie, 'x-csrf-token': csrf } })).statusCode).toBe(204);
    expect((await h.inject({ url: '/api/sessions', headers: bearer(read.token) })).statusCode).toBe(401);
    expect((await h.inject({ url: '/api/sessions', headers: bearer(`${write.token}x`) })).statusCode).toBe(401);
  });
});

describe('OpenAPI', () => {
  it('describes every /api route with its body schema, and every path it names is routed', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    const res = await h.inject({ url: '/api/openapi.json', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { required?: string[] } }> }; responses: Record<string, unknown>; security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['session', 'token']);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/audit',
      '/api/bans',
      '/api/bans/{address}',
      '/api/events',
      '/api/health',
      '/api/login',
      '/api/logout',
      '/api/me',
      '/api/me/password',
      '/api/openapi.json',
      '/api/reload',
      '/api/sessions',
      '/api/sessions/stream',
      '/api/sessions/{id}/disconnect',
      '/api/sessions/{id}/history',
      '/api/settings',
      '/api/tokens',
      '/api/tokens/{id}',
      '/api/users',
      '/api/users/{name}',
      '/metrics',
    ]);
    expect(doc.paths['/api/users']!.post!.requestBody!.content['application/json']!.schema.required).toEqual(['name', 'password']);
    expect(Object.keys(doc.paths['/api/users']!.post!.responses)).toEqual(['201', '400', '401', '403', '409', '421']);
    expect(doc.paths['/api/login']!.post!.security).toEqual([]);
    expect(Object.keys(doc.paths['/api/users/{name}']!).sort()).toEqual(['delete', 'get', 'patch']);
  });
});

describe('sessions, events, metrics, settings', () => {
  it('lists live sessions with rates, keeps a history, and Disconnect reaches the core with the reason', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const s = fakeSession();
    h.core.live = [s];
    await new Promise((r) => setTimeout(r, 60));
    vi.setSystemTime(Date.now() + 1000);
    s.rxBytes += 125_000; // 1 Mbit in the next second
    await new Promise((r) => setTimeout(r, 40));
    const snap = (await h.inject({ url: '/api/sessions', headers: { cookie } })).json() as { sessions: Array<{ sessionId: string; rxRate: number; txRate: number }> };
    expect(snap.sessions).toHaveLength(1);
    expect(snap.sessions[0]).toMatchObject({ sessionId: s.sessionId, user: 'alice', callId: 1, peerCallId: 4321, rxRate: 1_000_000, txRate: 0 });
    const history = (await h.inject({ url: `/api/sessions/${s.sessionId}/history`, headers: { cookie } })).json() as { samples: Array<{ rxRate: number }> };
    expect(history.samples.some((x) => x.rxRate === 1_000_000)).toBe(true);
    expect((await h.inject({ url: '/api/sessions/none/history', headers: { cookie } })).statusCode).toBe(404);
    const res = await h.inject({ method: 'POST', url: `/api/sessions/${s.sessionId}/disconnect`, headers: { cookie, 'x-csrf-token': csrf } });
    expect(res.statusCode).toBe(202);
    expect(h.core.disconnects).toEqual([{ sessionId: s.sessionId, reason: 'disconnected by administrator' }]);
    expect((await h.inject({ method: 'POST', url: '/api/sessions/none/disconnect', headers: { cookie, 'x-csrf-token': csrf } })).statusCode).toBe(404);
  });

  it('journals logins, refused logins with their reason and disconnects, searchable', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    const s = fakeSession({ user: 'carol', address: '198.18.100.33' });
    h.core.emit('session-up', s);
    h.core.emit('auth-failure', { user: 'mallory', peer: '203.0.113.66', reason: 'E=691: wrong password', at: Date.now() });
    h.core.emit('session-down', { ...s, reason: 'disconnected by administrator', cause: 'admin-disconnect', endedAt: Date.now(), rxBytes: 5000 });
    const get = async (query: string) =>
      ((await h.inject({ url: `/api/events?${query}`, headers: { cookie } })).json() as { events: Array<{ type: string; user: string; message: string; detail: Record<string, unknown> }> }).events;
    expect((await get('type=auth-failure')).map((e) => [e.user, e.message])).toEqual([['mallory', 'login of mallory from 203.0.113.66 refused: E=691: wrong password']]);
    expect((await get('q=carol')).map((e) => e.type)).toEqual(['disconnect', 'login']);
    expect((await get('q=198.18.100.33&type=disconnect'))[0]!.detail).toMatchObject({ cause: 'admin-disconnect', rxBytes: 5000 });
    expect(await get('q=nobody-like-this')).toEqual([]);
    expect(await get('q=%25')).toEqual([]); // LIKE wildcards are literal
    expect((await h.inject({ url: '/api/events?type=bogus', headers: { cookie } })).statusCode).toBe(400);
  });

  it('metrics: sessions, setups, failures by reason, traffic; user names only when enabled', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    h.core.live = [
      fakeSession({
        rxBytes: 300,
        txBytes: 700,
        rxPackets: 3,
        txPackets: 7,
        stuck: true,
        drops: { rxSpoofed: 1, rxUndecryptable: 4, rxNotReady: 0, rxRekeyLimited: 3, rxControlLimited: 0, txDropped: 0 },
      }),
    ];
    h.core.emit('session-up', h.core.live[0]!);
    h.core.emit('auth-failure', { user: 'x', peer: '203.0.113.1', reason: 'E=691: wrong password', at: 0 });
    h.core.emit('auth-failure', { user: 'y', peer: '203.0.113.1', reason: 'E=691: wrong password', at: 0 });
    h.core.emit('session-down', {
      ...fakeSession({
        sessionId: 'gone',
        rxBytes: 1000,
        txBytes: 2000,
        rxPackets: 10,
        txPackets: 20,
        drops: { rxSpoofed: 2, rxUndecryptable: 0, rxNotReady: 0, rxRekeyLimited: 0, rxControlLimited: 0, txDropped: 5 },
      }),
      reason: 'peer',
      cause: 'peer-call-clear',
      endedAt: 0,
    });
    const text = (await h.inject({ url: '/metrics', headers: { cookie } })).body;
    expect(text).toMatch(/^portico_sessions 1$/m);
    expect(text).toMatch(/^portico_session_setups_total 1$/m);
    expect(text).toMatch(/^portico_session_failures_total\{reason="wrong password"\} 2$/m);
    expect(text).toMatch(/^portico_session_ends_total\{cause="peer-call-clear"\} 1$/m);
    expect(text).toMatch(/^portico_traffic_bytes_total\{direction="in"\} 1300$/m);
    expect(text).toMatch(/^portico_traffic_bytes_total\{direction="out"\} 2700$/m);
    expect(text).toMatch(/^portico_traffic_packets_total\{direction="out"\} 27$/m);
    expect(text).toMatch(/^portico_dataplane_drops_total\{reason="greUnknownCall"\} 2$/m);
    // Each session's own drops, live and ended, and the sessions flagged stuck.
    expect(text).toMatch(/^portico_dataplane_drops_total\{reason="rxSpoofed"\} 3$/m);
    expect(text).toMatch(/^portico_dataplane_drops_total\{reason="rxUndecryptable"\} 4$/m);
    expect(text).toMatch(/^portico_dataplane_drops_total\{reason="txDropped"\} 5$/m);
    expect(text).toMatch(/^portico_dataplane_drops_total\{reason="rxRekeyLimited"\} 3$/m);
    expect(text).toMatch(/^portico_sessions_stuck 1$/m);
    expect(text).not.toMatch(/alice/);
    expect(text).not.toMatch(/portico_radius/);

    const named = await harness({ admin: { metricsUsernames: true } });
    named.core.live = [fakeSession()];
    named.core.radiusServers = () => [{ server: '127.0.0.1:1812', role: 'auth', state: 'up', lastRttMs: 4 }];
    const c2 = await login(named);
    const text2 = (await named.inject({ url: '/metrics', headers: { cookie: c2.cookie } })).body;
    expect(text2).toMatch(/^portico_user_sessions\{user="alice"\} 1$/m);
    // Registered at start only when the core has the hook: this one got it afterwards.
    expect(text2).not.toMatch(/portico_radius_rtt_seconds\{/);
  });

  it('RADIUS round-trip time and state are exported when the core reports them', async () => {
    const core = new FakeAdminCore();
    core.radiusServers = () => [
      { server: '127.0.0.1:1812', role: 'auth', state: 'up', lastRttMs: 4 },
      { server: '127.0.0.2:1812', role: 'auth', state: 'dead', lastRttMs: null },
    ];
    const h = await harness({ core });
    const { cookie } = await login(h);
    const text = (await h.inject({ url: '/metrics', headers: { cookie } })).body;
    expect(text).toMatch(/^portico_radius_rtt_seconds\{server="127.0.0.1:1812",role="auth"\} 0.004$/m);
    expect(text).toMatch(/^portico_radius_server_up\{server="127.0.0.2:1812",role="auth"\} 0$/m);
    const health = (await h.inject({ url: '/api/health', headers: { cookie } })).json() as { radius: { configured: boolean; servers: unknown[] } };
    expect(health.radius).toMatchObject({ configured: true, servers: [{ state: 'up' }, { state: 'dead' }] });
  });

  it('settings carry no secrets; the audit names every weak setting and always states what PPTP cannot protect', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    const get = async () =>
      (await h.inject({ url: '/api/settings', headers: { cookie } })).json() as { audit: { ok: boolean; findings: Array<{ setting: string; severity: string }>; limitations: string[] } };
    const strong = await get();
    expect(strong.audit.ok).toBe(true);
    expect(strong.audit.findings).toEqual([]);
    expect(strong.audit.limitations.join(' ')).toMatch(/MS-CHAPv2 falls to an offline attack/);
    expect((await h.inject({ url: '/api/health', headers: { cookie } })).json()).toMatchObject({ radius: { configured: false, servers: [] } });

    h.core.settingsView = fakeSettings({
      auth: { backend: 'radius', protocols: ['mschapv2', 'mschap', 'chap', 'pap'] },
      mppe: { required: false, keyLengths: [40, 56, 128], mode: 'prefer-stateless' },
      admin: { listen: '198.18.0.1:8080', tls: false, metricsUsernames: false, allowedHosts: consoleHostNames({ listen: '198.18.0.1:8080' }) },
      radius: { servers: [{ address: '127.0.0.1', authPort: 1812, acctPort: 1813, shortSecret: true }], requireMessageAuthenticator: false, timeout: 3, tries: 3, das: null },
    });
    const weak = await get();
    expect(weak.audit.ok).toBe(false);
    expect(weak.audit.findings.map((f) => f.setting)).toEqual([
      'auth.protocols',
      'auth.protocols',
      'auth.protocols',
      'mppe.required',
      'mppe.keyLengths',
      'admin.listen',
      'radius.requireMessageAuthenticator',
      'radius.servers',
    ]);
    expect(weak.audit.limitations).toEqual(strong.audit.limitations);
  });

  it('the live view streams snapshots as server-sent events', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    h.core.live = [fakeSession()];
    const address = await h.server.app.listen({ host: '127.0.0.1', port: 0 });
    const url = new URL('/api/sessions/stream', address);
    const first = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { headers: { cookie, host: '127.0.0.1:8080' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
          const at = body.indexOf('event: snapshot');
          if (at >= 0 && body.includes('\n\n', at)) {
            resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body });
            req.destroy();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(first.status).toBe(200);
    expect(first.type).toMatch(/^text\/event-stream/);
    const data = JSON.parse(first.body.split('event: snapshot\ndata: ')[1]!.split('\n')[0]!) as { sessions: Array<{ user: string }> };
    expect(data.sessions.map((s) => s.user)).toEqual(['alice']);
  });
});

describe('configuration reload', () => {
  it('POST /api/reload asks the core: applied and restart keys in the reply; a refused file is 422 with each problem; journaled; never with a read token or without CSRF', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const post = (headers: Record<string, string>) => h.inject({ method: 'POST', url: '/api/reload', headers });
    h.core.reloadResult = {
      ok: true,
      message: 'configuration reloaded: applied dns, pool.end; changed, needs a restart: tun.mtu',
      applied: ['dns', 'pool.end'],
      needsRestart: ['tun.mtu'],
      problems: [],
    };
    const ok = await post({ cookie, 'x-csrf-token': csrf });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ ...h.core.reloadResult });
    expect(h.core.reloads).toEqual(['console: admin']);

    const problem = 'dns: expected a list, got string "198.18.100.63" (write [198.18.100.63])';
    h.core.reloadResult = { ok: false, message: `configuration reload refused, the running configuration stays: ${problem}`, applied: [], needsRestart: [], problems: [problem] };
    const refused = await post({ cookie, 'x-csrf-token': csrf });
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ ok: false, error: h.core.reloadResult.message, problems: [problem] });

    // A change like any other: the CSRF token with the cookie, a write token without it.
    expect((await post({ cookie })).statusCode).toBe(403);
    const token = async (scope: string) =>
      ((await h.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: `${scope}-bot`, scope } })).json() as { token: string }).token;
    expect((await post({ authorization: `Bearer ${await token('read')}` })).statusCode).toBe(403);
    expect(h.core.reloads).toEqual(['console: admin', 'console: admin']);
    expect((await post({ authorization: `Bearer ${await token('write')}` })).statusCode).toBe(422);
    expect(h.core.reloads.at(-1)).toBe('console: token:write-bot');

    const events = (await h.inject({ url: '/api/events?q=reloaded', headers: { cookie } })).json() as { events: Array<{ type: string; message: string }> };
    expect(events.events.map((e) => [e.type, e.message])).toEqual([
      ['admin', `token:write-bot reloaded the configuration: ${h.core.reloadResult.message}`],
      ['admin', `admin reloaded the configuration: ${h.core.reloadResult.message}`],
      ['admin', 'admin reloaded the configuration: configuration reloaded: applied dns, pool.end; changed, needs a restart: tun.mtu'],
    ]);
  });
});

describe('console accounts', () => {
  it('password change: wrong current is a field error; afterwards every login of the account ends', async () => {
    const h = await harness();
    const a = await login(h);
    const b = await login(h);
    const change = (current: string, password: string) => h.inject({ method: 'POST', url: '/api/me/password', headers: { cookie: a.cookie, 'x-csrf-token': a.csrf }, payload: { current, password } });
    expect((await change('nope', 'a-new-password')).json()).toEqual({ error: 'The current password is wrong.', fields: { current: 'wrong password' } });
    expect((await change(h.password, 'short')).json()).toMatchObject({ fields: { password: 'at least 10 characters' } });
    expect((await change(h.password, 'a-new-password')).statusCode).toBe(204);
    expect((await h.inject({ url: '/api/me', headers: { cookie: b.cookie } })).statusCode).toBe(401);
    await login(h, 'a-new-password');
  });

  it('`portico admin passwd` resets the password (random when none is given) and ends the logins', async () => {
    const h = await harness();
    const { cookie } = await login(h);
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await runAdminCommand({ dataDir: h.dir, admin: { listen: '127.0.0.1:8080', enabled: true, metricsUsernames: false } }, 'passwd', undefined, undefined)).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const generated = out.join('').match(/New password: (\S+)/)![1]!;
    expect(out.join('')).toMatch(/password of console account admin changed; its logins have ended/);
    expect((await h.inject({ url: '/api/me', headers: { cookie } })).statusCode).toBe(401);
    await login(h, generated);
    const db = openAdminDatabase(h.dir);
    expect(await new AdminAccounts(db).verify('admin', generated)).toBe('admin');
    expect(JSON.stringify(db.prepare('SELECT * FROM admin_accounts').all())).toMatch(/"password_hash":"scrypt\$32768\$8\$1\$/);
    db.close();
  });
});

describe('PptpCoreAdapter over a real UserStore', () => {
  it('maps store refusals to fields, applies changed per-user limits to live sessions, ends sessions of disabled users', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-adapter-'));
    const config = validateConfig({ tun: { address: '198.18.100.1' }, pool: { start: '198.18.100.10', end: '198.18.100.200' } });
    const addressPolicy = addressPolicyFor(config, []);
    const users = new UserStore(dir, addressPolicy);
    const calls: string[] = [];
    const live = [{ ...fakeSummary('dave', 7) }];
    const server = Object.assign(new EventEmitter(), {
      listSessions: () => live,
      findSessions: (sel: { user?: string; callId?: number; sessionId?: string }) =>
        live.filter((s) => (sel.user === undefined || s.user === sel.user) && (sel.callId === undefined || s.callId === sel.callId) && (sel.sessionId === undefined || s.sessionId === sel.sessionId)),
      setLimits: (callId: number, l: object) => {
        calls.push(`limits ${callId} ${JSON.stringify(l)}`);
        return true;
      },
      disconnect: (callId: number, cause: string, detail: string) => {
        calls.push(`disconnect ${callId} ${cause} ${detail}`);
        return true;
      },
    });
    const core = createPptpAdminCore({
      server: server as unknown as SessionManager,
      dataPlane: { counters: { greMalformed: 1 } } as unknown as DataPlane,
      users,
      config: () => config,
      reload: () => {
        throw new Error('no reload in this test');
      },
      logins: new LoginGuard(loginThrottlePolicy(config), new AddressBans(banPolicy(config)), pino({ level: 'silent' })),
      addressPolicy,
      log: pino({ level: 'silent' }),
    });
    expect(core.users.add({ name: 'dave', password: 'long enough', staticAddress: '198.18.100.50', sessionTimeout: 3600 })).toMatchObject({
      staticAddress: '198.18.100.50',
      sessionTimeout: 3600,
      idleTimeout: null,
      enabled: true,
    });
    expect(() => core.users.add({ name: 'DAVE', password: 'long enough' })).toThrow(expect.objectContaining({ field: 'name', status: 409 }));
    expect(() => core.users.add({ name: 'erin', password: 'long enough', staticAddress: '198.18.100.50' })).toThrow(expect.objectContaining({ field: 'staticAddress', status: 409 }));
    expect(() => core.users.add({ name: 'erin', password: 'long enough', staticAddress: '198.18.100.1' })).toThrow(
      expect.objectContaining({ field: 'staticAddress', status: 400, message: "198.18.100.1 is the server's tunnel address (tun.address)" }),
    );
    // The address policy (config/AddressPolicy.ts) through the console and the API: the field named, the reason given.
    expect(() => core.users.add({ name: 'erin', password: 'long enough', staticAddress: '127.0.0.1' })).toThrow(
      expect.objectContaining({ field: 'staticAddress', status: 400, message: '127.0.0.1 is loopback (127.0.0.0/8)' }),
    );
    expect(() => core.users.update('dave', { staticAddress: '8.8.8.8' })).toThrow(
      expect.objectContaining({ field: 'staticAddress', status: 400, message: expect.stringMatching(/^8\.8\.8\.8 is outside the pool/) }),
    );
    expect(core.users.get('dave')!.staticAddress).toBe('198.18.100.50');
    expect(core.users.get('erin')).toBeNull();
    expect(() => core.users.add({ name: 'erin', password: 'x'.repeat(257) })).toThrow(expect.objectContaining({ field: 'password' }));
    // auth.minPasswordLength (8 by default) holds for the console and the API as for the CLI: the store decides.
    expect(() => core.users.add({ name: 'erin', password: 'seven77' })).toThrow(expect.objectContaining({ field: 'password', status: 400, message: 'at least 8 characters (auth.minPasswordLength)' }));
    expect(() => core.users.update('dave', { password: 'short' })).toThrow(expect.objectContaining({ field: 'password', status: 400 }));
    // The store's field and kind, as they are: the message shown beside the field, the status of the kind.
    expect(() => core.users.add({ name: 'er in', password: 'long enough' })).toThrow(
      expect.objectContaining({ field: 'name', status: 400, message: '1-64 characters, no spaces, slashes, backslashes or colons' }),
    );
    expect(() => core.users.update('dave', { staticAddress: '1.2.3' })).toThrow(expect.objectContaining({ field: 'staticAddress', status: 400, message: '"1.2.3" is not an IPv4 address' }));
    expect(() => core.users.update('dave', { idleTimeout: -1 })).toThrow(expect.objectContaining({ field: 'idleTimeout', status: 400, message: 'whole seconds from 0 to 2678400' }));
    expect(() => core.users.delete('erin')).toThrow(expect.objectContaining({ field: 'name', status: 404, message: 'no user erin' }));
    expect(core.users.get('erin')).toBeNull();

    server.emit('session-up', live[0]);
    expect(calls).toEqual([]); // the login itself brought the stored limits (LocalAuthenticator's authorization)
    core.users.update('dave', { idleTimeout: 300 });
    expect(calls.at(-1)).toBe('limits 7 {"sessionTimeout":3600,"idleTimeout":300}');
    core.users.update('dave', { enabled: false });
    expect(calls.at(-1)).toBe('disconnect 7 admin-disconnect account disabled');
    expect(core.disconnect(live[0]!.sessionId, 'why')).toBe(true);
    expect(calls.at(-1)).toBe('disconnect 7 admin-disconnect why');
    expect(core.health()).toMatchObject({ sessions: 1, pool: { size: 191, used: 1 }, dataPlane: { greMalformed: 1 } });
    expect(core.settings().radius.servers).toEqual([]);
    expect(core.radiusServers).toBeUndefined();
    users.close();
  });

  it('settings show every limit by its configuration key and value, and where static addresses may lie; GET /api/settings carries them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-adapter-'));
    const config = validateConfig({
      tun: { address: '198.18.100.1' },
      pool: { start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.18.5.0/24'] },
      dns: ['198.18.100.53'],
      pptp: { maxConnectionsPerAddress: 8, callGrace: 45, maxQueuedOutput: 131072, maxUnauthenticatedCallsPerAddress: 4 },
      ppp: { setupTimeout: 20 },
    });
    const addressPolicy = addressPolicyFor(config, []);
    const users = new UserStore(dir, addressPolicy);
    const server = Object.assign(new EventEmitter(), { listSessions: () => [], findSessions: () => [] });
    const core = createPptpAdminCore({
      server: server as unknown as SessionManager,
      dataPlane: { counters: {} } as unknown as DataPlane,
      users,
      config: () => config,
      reload: () => {
        throw new Error('no reload in this test');
      },
      logins: new LoginGuard(loginThrottlePolicy(config), new AddressBans(banPolicy(config)), pino({ level: 'silent' })),
      addressPolicy,
      log: pino({ level: 'silent' }),
    });
    const settings = core.settings();
    // Every pptp.* key but the echo timer is a limit, ppp.setupTimeout too: a new key without an entry fails here.
    const expected = [
      ...Object.keys(config.pptp)
        .filter((k) => k !== 'echoInterval')
        .map((k) => `pptp.${k}`),
      'ppp.setupTimeout',
      // and every login-throttle key (the ban window and duration are told in banAfter's line)
      ...Object.keys(config.auth.throttle)
        .filter((k) => k !== 'banWindow' && k !== 'banDuration')
        .map((k) => `auth.throttle.${k}`),
    ];
    expect(settings.limits.map((l) => l.key).sort()).toEqual(expected.sort());
    expect(expected).toHaveLength(18);
    for (const l of settings.limits) {
      const value = l.key.split('.').reduce<unknown>((at, k) => (at as Record<string, unknown>)[k], config);
      expect(l.value, l.key).toBe(value);
      expect(l.what.length, l.key).toBeGreaterThan(5);
    }
    const limit = (key: string) => settings.limits.find((l) => l.key === key);
    expect(limit('pptp.maxConnectionsPerAddress')).toMatchObject({ value: 8 });
    expect(limit('pptp.callGrace')).toMatchObject({ value: 45, unit: 's' });
    expect(limit('pptp.maxQueuedOutput')).toMatchObject({ value: 131072, unit: 'bytes' });
    expect(limit('pptp.connectionsPerSecondPerAddress')).toMatchObject({ value: 10, unit: '/s' });
    expect(limit('ppp.setupTimeout')).toMatchObject({ value: 20, unit: 's' });
    expect(settings.pool).toEqual({ start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.18.5.0/24'] });
    expect(settings.staticAddresses.allowed).toEqual(['pool 198.18.100.10-198.18.100.200', 'tunnel network 198.18.100.0/24', '198.18.5.0/24']);
    expect(settings.staticAddresses.never).toEqual(
      expect.arrayContaining([
        '127.0.0.0/8 (loopback)',
        '224.0.0.0/4 (multicast)',
        "198.18.100.1 (the server's tunnel address (tun.address))",
        '198.18.100.53 (a DNS server given to clients (dns))',
        '198.18.100.255 (broadcast address of the tunnel network)',
      ]),
    );
    // The audit flags a range wider than /16 (anything there can be routed into a tunnel), not a narrow one.
    expect(auditSettings(settings).findings.filter((f) => f.setting === 'pool.allowedStaticRanges')).toEqual([]);
    const wide = auditSettings(fakeSettings({ pool: { start: '10.99.0.10', end: '10.99.0.250', allowedStaticRanges: ['198.18.5.0/24', '10.0.0.0/8'] } })).findings;
    expect(wide.filter((f) => f.setting === 'pool.allowedStaticRanges')).toEqual([
      { severity: 'medium', setting: 'pool.allowedStaticRanges', message: expect.stringMatching(/^10\.0\.0\.0\/8 is wider than \/16: /) },
    ]);
    // The allowed range is one the store takes; next to it is not.
    users.add('frank', 'long enough', '198.18.5.7');
    expect(() => users.add('gina', 'long enough', '198.18.6.7')).toThrow(expect.objectContaining({ field: 'staticAddress', kind: 'invalid' }));

    const h = await harness({ adminCore: core });
    const { cookie, csrf } = await login(h);
    const body = (await h.inject({ url: '/api/settings', headers: { cookie } })).json() as { settings: typeof settings };
    expect(body.settings.limits).toEqual(settings.limits);
    expect(body.settings.staticAddresses).toEqual(settings.staticAddresses);
    expect(body.settings.pool.allowedStaticRanges).toEqual(['198.18.5.0/24']);

    // The REST API and a write token meet the same address policy, the field named (the store's refusal).
    const token = (await h.inject({ method: 'POST', url: '/api/tokens', headers: { cookie, 'x-csrf-token': csrf }, payload: { name: 'provisioning', scope: 'write' } })).json() as { token: string };
    const asToken = { authorization: `Bearer ${token.token}` };
    const post = async (headers: Record<string, string>, payload: Record<string, unknown>) => {
      const res = await h.inject({ method: 'POST', url: '/api/users', headers, payload });
      return { status: res.statusCode, fields: (res.json() as { fields?: Record<string, string> }).fields ?? {} };
    };
    for (const headers of [{ cookie, 'x-csrf-token': csrf }, asToken]) {
      expect(await post(headers, { name: 'mallory', password: 'long enough', staticAddress: '198.18.100.53' })).toEqual({
        status: 400,
        fields: { staticAddress: '198.18.100.53 is a DNS server given to clients (dns)' },
      });
      expect(await post(headers, { name: 'mallory', password: 'long enough', staticAddress: '239.1.1.1' })).toEqual({ status: 400, fields: { staticAddress: '239.1.1.1 is multicast (224.0.0.0/4)' } });
      expect(await post(headers, { name: 'mallory', password: 'long enough', staticAddress: '192.0.2.1' })).toMatchObject({
        status: 400,
        fields: { staticAddress: expect.stringMatching(/^192\.0\.2\.1 is outside the pool/) },
      });
    }
    expect(await post(asToken, { name: 'mallory', password: 'short' })).toEqual({ status: 400, fields: { password: 'at least 8 characters (auth.minPasswordLength)' } });
    expect(await post(asToken, { name: 'henry', password: 'long enough', staticAddress: '198.18.5.9' })).toMatchObject({ status: 201 });
    const patch = await h.inject({ method: 'PATCH', url: '/api/users/henry', headers: asToken, payload: { staticAddress: '127.0.0.53', password: 'new password' } });
    expect(patch.statusCode).toBe(400);
    expect((patch.json() as { fields: Record<string, string> }).fields).toEqual({ staticAddress: '127.0.0.53 is loopback (127.0.0.0/8)' });
    // Nothing changed: the address is checked before the password is written.
    expect(core.users.get('henry')).toMatchObject({ staticAddress: '198.18.5.9' });
    expect(users.find('henry')!.ntHash.equals(users.find('frank')!.ntHash)).toBe(true); // both still 'pw'
    expect(core.users.list().map((u) => u.name)).toEqual(['frank', 'henry']);
    users.close();
  });
});

function fakeSummary(user: string, callId: number) {
  return {
    sessionId: `s-${callId}`,
    callId,
    peerCallId: 99,
    peer: '198.18.0.10',
    user,
    address: '198.18.100.50',
    authMethod: 'MS-CHAPv2',
    mppe: 'MPPE-128 stateless',
    startedAt: 0,
    upAt: 1,
    sessionTimeout: null,
    idleTimeout: null,
    classes: [],
    interimInterval: null,
    counters: newSessionCounters(),
    stuck: false,
  };
}

describe('ban list and login throttling in the console', () => {
  it('lists, sets and lifts bans (console actions in the journal, totals in /metrics); bad addresses and changes without CSRF are refused', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    const change = { cookie, 'x-csrf-token': csrf };
    h.core.bans.ban('203.0.113.9', 600, '25 refused logins in 40 s');
    h.core.counters = { throttled: 42, bans: 1, banRefusals: 7 };
    const list = async () =>
      (await h.inject({ url: '/api/bans', headers: { cookie } })).json() as { bans: Array<{ address: string; reason: string; until: number }>; counters: Record<string, number> };
    expect(await list()).toEqual({
      bans: [{ address: '203.0.113.9', since: 1_800_000_000_000, until: 1_800_000_600_000, reason: '25 refused logins in 40 s', refused: 0 }],
      counters: { throttled: 42, bans: 1, banRefusals: 7 },
    });
    const made = await h.inject({ method: 'POST', url: '/api/bans', headers: change, payload: { address: '198.51.100.4', minutes: 30 } });
    expect(made.statusCode).toBe(201);
    expect(made.json()).toMatchObject({ address: '198.51.100.4', until: 1_800_000_000_000 + 30 * 60_000, reason: 'by admin' });
    expect((await list()).bans.map((b) => b.address).sort()).toEqual(['198.51.100.4', '203.0.113.9']);
    for (const payload of [{ address: '198.51.100.999' }, { address: 'example.com' }, { address: '198.51.100.4', minutes: 0 }, { address: '198.51.100.4', extra: 1 }]) {
      expect((await h.inject({ method: 'POST', url: '/api/bans', headers: change, payload })).statusCode).toBe(400);
    }
    expect((await h.inject({ method: 'POST', url: '/api/bans', headers: { cookie }, payload: { address: '198.51.100.5' } })).statusCode).toBe(403); // no CSRF token
    expect((await h.inject({ method: 'DELETE', url: '/api/bans/198.51.100.4', headers: change })).statusCode).toBe(204);
    expect((await h.inject({ method: 'DELETE', url: '/api/bans/198.51.100.4', headers: change })).statusCode).toBe(404);
    expect((await h.inject({ method: 'DELETE', url: '/api/bans/not-an-address', headers: change })).statusCode).toBe(400);
    expect((await h.inject({ method: 'DELETE', url: '/api/bans', headers: change })).json()).toEqual({ lifted: 1 });
    expect((await list()).bans).toEqual([]);
    const journal = (await h.inject({ url: '/api/events?type=admin&q=ban', headers: { cookie } })).json() as { events: Array<{ message: string }> };
    expect(journal.events.map((e) => e.message)).toEqual(['admin lifted every ban (1)', 'admin lifted the ban of 198.51.100.4', 'admin banned 198.51.100.4 for 30 min']);
    // The metrics carry the core's totals and the live bans.
    h.core.bans.ban('203.0.113.10', 60, 'test');
    const text = (await h.inject({ url: '/metrics', headers: { cookie } })).body;
    expect(text).toMatch(/^portico_login_throttled_total 42$/m);
    expect(text).toMatch(/^portico_address_bans_total 3$/m);
    expect(text).toMatch(/^portico_ban_refusals_total 7$/m);
    expect(text).toMatch(/^portico_banned_addresses 1$/m);
    // Without a login nothing; the OpenAPI document has the routes.
    expect((await h.inject({ url: '/api/bans' })).statusCode).toBe(401);
    const doc = (await h.inject({ url: '/api/openapi.json', headers: { cookie } })).json() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/bans']!).sort()).toEqual(['delete', 'get', 'post']);
    expect(Object.keys(doc.paths['/api/bans/{address}']!)).toEqual(['delete']);
  });

  it('refused logins are counted per user, address and minute in one entry; a flood of them never pushes console actions out', async () => {
    const h = await harness();
    const { cookie, csrf } = await login(h);
    await h.inject({ method: 'POST', url: '/api/bans', headers: { cookie, 'x-csrf-token': csrf }, payload: { address: '198.51.100.4' } });
    const at = Date.now();
    for (let i = 0; i < 37; i++)
      h.core.emit('auth-failure', { user: 'alice', peer: '203.0.113.66', reason: i < 20 ? 'E=691: wrong password' : 'E=691: throttled: too many failed logins', at: at + i });
    h.core.emit('auth-failure', { user: 'alice', peer: '203.0.113.67', reason: 'E=691: wrong password', at });
    const failures = async () =>
      (
        (await h.inject({ url: '/api/events?type=auth-failure&limit=1000', headers: { cookie } })).json() as {
          events: Array<{ user: string | null; peer: string | null; message: string; detail: Record<string, unknown> }>;
        }
      ).events;
    const rows = await failures();
    expect(rows).toHaveLength(2);
    expect(rows.find((e) => e.peer === '203.0.113.66')).toMatchObject({
      user: 'alice',
      message: 'login of alice from 203.0.113.66 refused 37 times this minute (last: E=691: throttled: too many failed logins)',
      detail: { count: 37, reasons: { 'E=691: wrong password': 20, 'E=691: throttled: too many failed logins': 17 } },
    });
    // The next minute starts a new entry; many names from one address share one after the first ten.
    vi.setSystemTime(at + 60_000);
    for (let i = 0; i < 500; i++) h.core.emit('auth-failure', { user: `user${i}`, peer: '203.0.113.66', reason: 'E=691: unknown user', at: Date.now() });
    const next = (await failures()).filter((e) => e.message.includes('203.0.113.66') && !e.message.includes('alice'));
    expect(next).toHaveLength(11);
    expect(next[0]).toMatchObject({ user: null, message: 'login of several users from 203.0.113.66 refused 490 times this minute (last: E=691: unknown user)' });
    // 25 000 client events (distinct addresses, new minutes): the oldest client events go, the console's action stays.
    for (let i = 0; i < 25_000; i++)
      h.core.emit('auth-failure', { user: 'x', peer: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, reason: 'E=691: wrong password', at: at + 120_000 + i * 60_000 });
    const admin = (await h.inject({ url: '/api/events?type=admin&q=banned', headers: { cookie } })).json() as { events: Array<{ message: string }> };
    expect(admin.events.map((e) => e.message)).toEqual(['admin banned 198.51.100.4 for 60 min']);
    const all = (await h.inject({ url: '/api/events?limit=1000', headers: { cookie } })).json() as { events: Array<{ type: string }> };
    expect(all.events.every((e) => e.type === 'auth-failure')).toBe(true);
    expect((await failures()).some((e) => e.peer === '203.0.113.67')).toBe(false); // pruned: client events are bounded
  });
});
