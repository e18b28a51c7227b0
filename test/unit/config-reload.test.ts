// Reload without drops (server/ConfigReload.ts): which keys a reload applies and which need a restart,
// an invalid file refused whole, and a reload under live sessions of the real session layer
// (SessionHarness): they stay up and keep passing traffic while a grown pool serves the next login.
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AddressBans } from '../../aaa/AddressBans.js';
import { LoginGuard } from '../../aaa/ThrottledAuthenticator.js';
import { addressPolicyFor, tunnelNetwork } from '../../config/AddressPolicy.js';
import { formatIpv4, parseIpv4 } from '../../config/Ipv4.js';
import { ConfigError, type PorticoConfig, validateConfig } from '../../config/PorticoConfig.js';
import { ConfigReloader, configLeaves, HOT_KEYS, planReload, RESTART_KEYS, type ReloadTargets } from '../../server/ConfigReload.js';
import type { ControlListenerSettings } from '../../server/ControlListener.js';
import { banPolicy, loginThrottlePolicy } from '../../server/Limits.js';
import type { SessionPolicy } from '../../session/SessionManager.js';
import { closeHarnesses, harness, ping, POOL, SERVER, until } from './SessionHarness.js';

afterEach(closeHarnesses);

const BASE = {
  listen: '198.18.0.1',
  tun: { address: '198.18.100.1' },
  pool: { start: '198.18.100.10', end: '198.18.100.200' },
  dns: ['198.18.100.53'],
};

/** The document with `over` laid on it, key by key (one level deep: `tun: { mtu }` keeps tun.address). */
function doc(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const was = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && was !== null && typeof was === 'object' && !Array.isArray(was) ? { ...was, ...v } : v;
  }
  return out;
}

const config = (over: Record<string, unknown> = {}) => validateConfig(doc(BASE, over));
/** The TUN's network as BASE creates it. */
const TUNNEL = tunnelNetwork(config());

/** Every subsystem's apply method, recording what it was handed. */
function recordingTargets(running: PorticoConfig) {
  const calls: string[] = [];
  const got: { sessions?: SessionPolicy; listener?: ControlListenerSettings; pool?: [number, number]; radius?: PorticoConfig } = {};
  const addressPolicy = addressPolicyFor(running, []);
  const targets: ReloadTargets = {
    sessions: {
      reconfigure: (p) => {
        calls.push('sessions');
        got.sessions = p;
      },
    },
    listener: {
      reconfigure: (s) => {
        calls.push('listener');
        got.listener = s;
      },
    },
    logins: new LoginGuard(loginThrottlePolicy(running), new AddressBans(banPolicy(running)), pino({ level: 'silent' })),
    bans: new AddressBans(banPolicy(running)),
    addressPolicy,
    addresses: {
      resizePool: (start, end) => {
        calls.push('pool');
        got.pool = [start, end];
      },
    },
    radius: {
      reconfigure: (c) => {
        calls.push('radius');
        got.radius = c;
      },
    },
    // MS-CHAPv2 only, as the local store: the protocols a reload may offer.
    authenticator: { verifyMsChapV2: async () => ({ ok: false, errorCode: 691, message: 'no' }) },
  };
  return { targets, calls, got, addressPolicy };
}

function logged(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

describe('which keys a reload applies', () => {
  it('every configuration key is either applied by a reload or needs a restart, never both', () => {
    const full = config({
      ppp: { mru: 1400 },
      admin: { tls: { cert: 'c.pem', key: 'k.pem' } },
      radius: { servers: [{ address: '198.18.0.2', secret: 'a-long-enough-secret' }], nasIpAddress: '198.18.0.1', das: { secret: 'another-secret' } },
    });
    const hot = (k: string) => HOT_KEYS.some((p) => k === p || k.startsWith(`${p}.`));
    const restart = (k: string) => Object.keys(RESTART_KEYS).some((p) => k === p || k.startsWith(`${p}.`));
    const keys = [...configLeaves(full).keys()];
    expect(keys.length).toBeGreaterThan(60);
    for (const k of keys) expect([k, hot(k) !== restart(k)]).toEqual([k, true]);
  });

  it('policies, limits, DNS/WINS, pool and RADIUS timers apply; listen, tun, data plane, console, backend need a restart and keep their running value', () => {
    const running = config();
    const next = config({
      dns: ['198.18.100.63', '198.18.100.64'],
      wins: ['198.18.100.65'],
      pool: { end: '198.18.100.220' },
      auth: { protocols: ['mschapv2', 'mschap'], throttle: { firstDelay: 2 } },
      mppe: { keyLengths: [128, 40] },
      pptp: { maxCalls: 500 },
      ppp: { lcpEchoInterval: 10 },
      tun: { mtu: 1380 },
      listen: '198.18.0.2',
      dataPlane: { threads: 2 },
      admin: { listen: '127.0.0.1:8081' },
    });
    const plan = planReload(running, next, TUNNEL);
    expect(plan.applied).toEqual(['pool.end', 'dns', 'wins', 'auth.protocols', 'auth.throttle.firstDelay', 'mppe.keyLengths', 'ppp.lcpEchoInterval', 'pptp.maxCalls']);
    expect(plan.needsRestart).toEqual(['listen', 'tun.mtu', 'dataPlane.threads', 'admin.listen']);
    expect(plan.effective).toMatchObject({ listen: '198.18.0.1', tun: { mtu: 1400 }, dataPlane: { threads: 'auto' }, admin: { listen: '127.0.0.1:8080' } });
    expect(plan.effective).toMatchObject({ dns: ['198.18.100.63', '198.18.100.64'], pool: { end: '198.18.100.220' }, pptp: { maxCalls: 500 } });
    expect(planReload(running, running, TUNNEL)).toEqual({ effective: running, applied: [], needsRestart: [] });
  });

  it('the pool applies inside the TUN network (growing or shrinking); beyond it, or RADIUS turned on or off, needs a restart', () => {
    const running = config();
    expect(planReload(running, config({ pool: { start: '198.18.100.100', end: '198.18.100.110' } }), TUNNEL).applied).toEqual(['pool.start', 'pool.end']);
    const beyond = planReload(running, config({ pool: { end: '198.18.101.20' } }), TUNNEL);
    expect(beyond.applied).toEqual([]);
    expect(beyond.needsRestart).toEqual(["pool.end (the pool would leave the TUN's network 198.18.100.0/24)"]);
    expect(beyond.effective.pool.end).toBe('198.18.100.200');

    const on = planReload(running, config({ radius: { servers: [{ address: '198.18.0.2', secret: 'a-long-enough-secret' }] } }), TUNNEL);
    expect(on).toMatchObject({ applied: [], needsRestart: ['radius.servers (RADIUS turned on)'] });
    expect(on.effective.radius.servers).toEqual([]);
    // With RADIUS running, its servers, secrets and timers apply; the DAS listener and the backend do not.
    const withRadius = config({ auth: { backend: 'radius' }, radius: { servers: [{ address: '198.18.0.2', secret: 'a-long-enough-secret' }] } });
    const moved = planReload(
      withRadius,
      config({ auth: { backend: 'radius-then-local' }, radius: { servers: [{ address: '198.18.0.3', secret: 'a-new-long-secret' }], timeout: 1, das: { secret: 'das-secret' } } }),
      TUNNEL,
    );
    expect(moved.applied).toEqual(['radius.servers', 'radius.timeout']);
    expect(moved.needsRestart).toEqual(['auth.backend', 'radius.das.listen', 'radius.das.port', 'radius.das.secret', 'radius.das.requireMessageAuthenticator', 'radius.das.requireEventTimestamp']);
    expect(moved.effective.radius.das).toBeUndefined();
    expect(moved.effective.auth.backend).toBe('radius');
  });

  it('a file whose values clash with those kept until a restart is refused, the key named', () => {
    // The new tun.address would leave the pool free to start at .1; the running one (kept) lies in that pool.
    const running = config();
    const next = config({ tun: { address: '198.18.100.250' }, pool: { start: '198.18.100.1' } });
    expect(() => planReload(running, next, TUNNEL)).toThrow(ConfigError);
    try {
      planReload(running, next, TUNNEL);
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([{ key: 'tun.address', problem: 'must lie outside the pool (with the values kept until a restart: tun.address)' }]);
    }
  });
});

describe('ConfigReloader', () => {
  it('hands each subsystem its new part; one log line says what was applied and what needs a restart', () => {
    const running = config();
    const { targets, calls, got, addressPolicy } = recordingTargets(running);
    const { log, lines } = logged();
    let file: Record<string, unknown> = doc(BASE, { dns: ['198.18.100.63'], pool: { end: '198.18.100.220' }, pptp: { maxConnectionsPerAddress: 8 }, tun: { mtu: 1380 } });
    const reloader = new ConfigReloader({ config: running, source: '/etc/portico/portico.yaml', read: () => validateConfig(file, 'portico.yaml'), targets, hostAddresses: () => [], log });

    const outcome = reloader.reload('SIGHUP');
    expect(outcome).toEqual({
      ok: true,
      source: '/etc/portico/portico.yaml',
      applied: ['pool.end', 'dns', 'pptp.maxConnectionsPerAddress'],
      needsRestart: ['tun.mtu'],
      message: 'configuration reloaded: applied pool.end, dns, pptp.maxConnectionsPerAddress; changed, needs a restart: tun.mtu',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, by: 'SIGHUP', config: '/etc/portico/portico.yaml', msg: outcome.message, needsRestart: ['tun.mtu'] });
    expect(calls).toEqual(['pool', 'sessions', 'listener']); // no radius.* or mppe.* change: RADIUS is left alone
    expect(got.sessions!.link.dns).toEqual([parseIpv4('198.18.100.63')]);
    expect(got.pool).toEqual([parseIpv4('198.18.100.10'), parseIpv4('198.18.100.220')]);
    expect(got.listener!.limits.maxConnectionsPerAddress).toBe(8);
    // The address policy every holder shares: the new DNS server is never a client's, the grown pool may be.
    expect(addressPolicy.refusal(parseIpv4('198.18.100.63'))).toMatchObject({ rule: 'server' });
    expect(addressPolicy.refusal(parseIpv4('198.18.100.53'))).toBeNull();
    expect(reloader.current.dns).toEqual(['198.18.100.63']);
    expect(reloader.current.tun.mtu).toBe(1400);

    // Again with the same file: nothing to apply, the restart still pending is said again.
    expect(reloader.reload('SIGHUP')).toMatchObject({ ok: true, applied: [], needsRestart: ['tun.mtu'], message: 'configuration reloaded: nothing to apply; changed, needs a restart: tun.mtu' });

    // RADIUS gets the whole configuration when one of its keys or the MPPE policy changed.
    file = doc(file, { mppe: { keyLengths: [128, 56] } });
    reloader.reload('console: admin');
    expect(calls.at(-1)).toBe('radius');
    expect(got.radius!.mppe.keyLengths).toEqual([128, 56]);
  });

  it('an invalid file, an unreadable one, or protocols the backend cannot offer are refused whole: the same messages as at start, nothing applied', () => {
    const running = config();
    const { targets, calls } = recordingTargets(running);
    const { log, lines } = logged();
    let read = (): PorticoConfig => validateConfig(doc(BASE, { dns: '198.18.100.63', pool: { end: '198.18.100.220' } }), 'portico.yaml');
    const reloader = new ConfigReloader({ config: running, source: 'portico.yaml', read: () => read(), targets, hostAddresses: () => [], log });

    const refused = reloader.reload('SIGHUP');
    const problem = 'dns: expected a list, got string "198.18.100.63" (write [198.18.100.63])';
    expect(refused).toEqual({ ok: false, source: 'portico.yaml', problems: [problem], message: `configuration reload refused, the running configuration stays: ${problem}` });
    expect(lines.at(-1)).toMatchObject({ level: 40, msg: 'configuration reload refused: the running configuration stays', problems: [problem] });

    read = () => {
      throw new ConfigError('cannot read portico.yaml: no such file');
    };
    expect(reloader.reload('SIGHUP')).toMatchObject({ ok: false, problems: ['cannot read portico.yaml: no such file'] });

    // The backend verifies MS-CHAPv2 only and MPPE is required: PAP alone can never be offered. The DNS change with it is not applied either.
    read = () => config({ auth: { protocols: ['pap'] }, dns: ['198.18.100.63'] });
    expect(reloader.reload('SIGHUP')).toMatchObject({ ok: false, problems: [expect.stringMatching(/^auth\.protocols: none of them can be verified/)] });

    expect(calls).toEqual([]);
    expect(reloader.current).toBe(running);
  });
});

describe('a reload under live sessions (the session layer as main.ts wires it)', () => {
  it('live sessions stay up and pass traffic across three reloads (one invalid); the grown pool serves the next login', async () => {
    const h = await harness(); // pool 198.18.100.10-11: two addresses, TUN network 198.18.100.0/28
    const base = { listen: SERVER, tun: { address: '198.18.100.1' }, pool: POOL };
    const running = validateConfig(base);
    let file: Record<string, unknown> = doc(base, { pool: { end: '198.18.100.13' }, dns: ['198.18.100.14'] });
    const { log, lines } = logged();
    const reloader = new ConfigReloader({
      config: running,
      source: 'portico.yaml',
      read: () => validateConfig(file, 'portico.yaml'),
      targets: {
        sessions: h.sessions,
        listener: h.listener,
        logins: new LoginGuard(loginThrottlePolicy(running), new AddressBans(banPolicy(running)), log),
        bans: new AddressBans(banPolicy(running)),
        addressPolicy: h.addressPolicy,
        addresses: h.addresses,
        radius: null,
        authenticator: h.authenticator,
      },
      hostAddresses: () => [],
      log,
    });
    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    const echoes = async (tag: number) => {
      for (const c of [a, b]) {
        const before = c.received.length;
        const address = formatIpv4(c.session.address);
        c.session.sendIp(ping(address, '198.18.100.1', tag));
        h.tun.inject([ping('198.18.100.1', address, tag)]);
        await until(`the packet back at ${address}`, () => c.received.length === before + 1);
      }
    };
    await echoes(1);

    expect(reloader.reload('SIGHUP')).toMatchObject({ ok: true, applied: ['pool.end', 'dns'] });
    await echoes(2);
    file = doc(base, { pool: { end: 'not an address' } });
    expect(reloader.reload('SIGHUP')).toMatchObject({ ok: false, problems: ['pool.end: "not an address" is not an IPv4 address (A.B.C.D)'] });
    await echoes(3);
    // The pool as it was reloaded first: the third client gets an address of the growth.
    const c = await h.connect(2, 'carol');
    expect(formatIpv4(c.session.address)).toBe('198.18.100.12');
    file = doc(base, { pool: { end: '198.18.100.13' }, dns: ['198.18.100.14'], pptp: { maxCalls: 3 } });
    expect(reloader.reload('console: admin')).toMatchObject({ ok: true, applied: ['pptp.maxCalls'] });
    await echoes(4);

    expect(h.downs).toEqual([]);
    expect(h.sessions.sessionCount).toBe(3);
    expect(lines.filter((l) => String(l.msg).startsWith('configuration reload'))).toHaveLength(3);
  });
});
