// The session layer as one unit, without root (SessionHarness: the server as main.ts wires it, over
// the in-memory GRE socket and TUN, and the load generator's client). Each test follows a session
// from the call to its end cause.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Accountant } from '../../aaa/Accountant.js';
import { DynamicAuthorization } from '../../aaa/DynamicAuthorization.js';
import { createPptpAdminCore } from '../../admin/PptpCoreAdapter.js';
import { formatIpv4 } from '../../config/Ipv4.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { Attr, readInteger } from '../../radius/Dictionary.js';
import { findAttribute, RadiusCode, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import type { EndCause } from '../../session/EndCause.js';
import { CLIENTS, closeHarnesses, harness, ping, POOL, SERVER, until } from './SessionHarness.js';

afterEach(closeHarnesses);

describe('session lifecycle over the in-memory GRE socket and TUN', () => {
  it('call, LCP, MS-CHAPv2, CCP, IPCP, data both ways, then the client hangs up: peer-call-clear, address and Call ID free again', async () => {
    const h = await harness();
    const c = await h.connect(0);
    expect(h.ups).toHaveLength(1);
    const up = h.ups[0]!;
    expect(up).toMatchObject({ user: 'alice', peer: CLIENTS[0], address: POOL.start, authMethod: 'MS-CHAPv2', mppe: 'MPPE-128 stateless', sessionTimeout: null, idleTimeout: null });
    expect(formatIpv4(c.session.address)).toBe(POOL.start);

    // client → server → TUN, decrypted; TUN → server → client, encrypted and decrypted by the client
    const out = ping(POOL.start, '198.18.100.1', 1);
    c.session.sendIp(out);
    await until('the packet on the TUN', () => h.tun.written.length === 1);
    expect(h.tun.written[0]).toEqual(out);
    const back = ping('198.18.100.1', POOL.start, 2);
    h.tun.inject([back]);
    await until('the packet at the client', () => c.received.length === 1);
    expect(c.received).toEqual([back.toString('hex')]);
    expect(h.sessions.listSessions()[0]!.counters).toMatchObject({ rxPackets: 1, txPackets: 1, rxBytes: out.length, txBytes: back.length });

    const down = h.nextDown();
    c.session.stop(); // Call-Clear-Request (RFC 2637 §2.11)
    const ended = await down;
    expect(ended).toMatchObject({ cause: 'peer-call-clear', user: 'alice', address: POOL.start });
    expect(h.sessions.sessionCount).toBe(0);
    // The address and the Call ID are free again: two more sessions get both pool addresses.
    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    expect([formatIpv4(a.session.address), formatIpv4(b.session.address)].sort()).toEqual([POOL.start, POOL.end]);
  });

  it('stored limits apply with no console: Session-Timeout ends the session (session-timeout), the client sees LCP Terminate', async () => {
    const h = await harness();
    h.users.setLimits('alice', { sessionTimeout: 1 });
    const c = await h.connect(0);
    expect(h.ups[0]).toMatchObject({ sessionTimeout: 1, idleTimeout: null });
    const ended = await h.nextDown();
    expect(ended.cause).toBe('session-timeout');
    expect(ended.detail).toBe('Session-Timeout of 1 s reached');
    expect(ended.endedAt - ended.upAt!).toBeGreaterThanOrEqual(1000);
    expect(await c.ended).toBe('server sent LCP Terminate-Request');
  });

  it('stored limits apply with no console: Idle-Timeout ends a quiet session (idle-timeout), traffic keeps it up', async () => {
    const h = await harness({ sweepMs: 100 });
    h.users.setLimits('alice', { idleTimeout: 1 });
    const c = await h.connect(0);
    // Traffic every 300 ms for 1.5 s: longer than the limit, never idle for a second.
    let lastTraffic = 0;
    for (let i = 0; i < 5; i++) {
      c.session.sendIp(ping(POOL.start, '198.18.100.1', i));
      lastTraffic = Date.now();
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(h.downs).toEqual([]);
    const ended = await h.nextDown();
    expect(ended.cause).toBe('idle-timeout');
    expect(ended.detail).toBe('Idle-Timeout of 1 s reached');
    expect(ended.endedAt - lastTraffic).toBeGreaterThanOrEqual(1000);
  });

  it('wrong password: auth-failure event, the session ends auth-failed, nothing stays allocated', async () => {
    const h = await harness();
    const down = h.nextDown();
    await expect(h.connect(0, 'alice', 'wrong password!')).rejects.toThrow();
    expect((await down).cause).toBe('auth-failed');
    expect(h.failures).toEqual([expect.objectContaining({ user: 'alice', peer: CLIENTS[0] })]);
    expect(h.ups).toEqual([]);
    expect(h.sessions.sessionCount).toBe(0);
  });

  it('an administrator disconnect and a RADIUS Disconnect-Request take the same typed path: SessionManager.disconnect, LCP Terminate, Admin-Reset in accounting', async () => {
    const h = await harness();
    const records: Array<{ sessionId: string; statusType: number; attributes: RadiusAttribute[] }> = [];
    const silent = pino({ level: 'silent' });
    const accountant = new Accountant({
      server: h.sessions,
      queue: {
        enqueue: (sessionId, statusType, attributes) => records.push({ sessionId, statusType, attributes }),
        openSessions: () => [],
        markAlive: () => {},
        lastAlive: () => null,
        atomically: (work) => work(),
      },
      nas: { nasIdentifier: 'portico' },
      local: SERVER,
      interimInterval: 0,
      log: silent,
    });
    accountant.start();
    const config = validateConfig({ tun: { address: '198.18.100.1' }, pool: POOL });
    const operator = createPptpAdminCore({ server: h.sessions, dataPlane: { counters: {} } as never, users: h.users, config, log: silent });
    const das = new DynamicAuthorization({ server: h.sessions, log: silent });

    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    const byUser = (u: string) => h.sessions.findSessions({ user: u })[0]!;
    const fromConsole = h.nextDown();
    expect(operator.disconnect(byUser('alice').sessionId, 'maintenance')).toBe(true);
    const first = await fromConsole;
    const radius = await das.handler({
      kind: 'disconnect',
      code: RadiusCode.DisconnectRequest,
      identifier: 1,
      attributes: [],
      source: { address: '198.18.0.5', port: 3799 },
      hasMessageAuthenticator: true,
      userName: 'bob',
    });
    expect(radius.ack).toBe(true);
    const second = h.downs[1]!;
    const causes: EndCause[] = [first.cause, second.cause];
    expect(causes).toEqual(['admin-disconnect', 'radius-disconnect']);
    expect([first.detail, second.detail]).toEqual(['maintenance', 'RADIUS Disconnect-Request from 198.18.0.5']);
    expect(await a.ended).toBe('server sent LCP Terminate-Request');
    expect(await b.ended).toBe('server sent LCP Terminate-Request');
    const stops = records.filter((r) => r.statusType === 2).map((r) => readInteger(findAttribute(r.attributes, Attr.AcctTerminateCause)!));
    expect(stops).toEqual([6, 6]); // RFC 2866 §5.10 Admin-Reset, both
    accountant.stop();
  });

  it('shutdown ends every session (shutdown) with an LCP Terminate each', async () => {
    const h = await harness();
    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    await h.sessions.stop();
    expect(h.downs.map((d) => d.cause)).toEqual(['shutdown', 'shutdown']);
    expect(await a.ended).toBe('server sent LCP Terminate-Request');
    expect(await b.ended).toBe('server sent LCP Terminate-Request');
  });

  it('a call when the pool is exhausted ends no-address; the others stay up', async () => {
    const h = await harness();
    await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    const down = h.nextDown();
    await expect(h.connect(2, 'bob')).rejects.toThrow();
    expect((await down).cause).toBe('no-address');
    expect(h.sessions.sessionCount).toBe(2);
  });
});
