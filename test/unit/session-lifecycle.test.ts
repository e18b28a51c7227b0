// The session layer as one unit, without root (SessionHarness: the server as main.ts wires it, over
// the in-memory GRE socket and TUN, and the load generator's client). Each test follows a session
// from the call to its end cause.
import { randomBytes } from 'node:crypto';
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Accountant } from '../../aaa/Accountant.js';
import { type RadiusAccessClient, RadiusAuthenticator } from '../../aaa/RadiusAuthenticator.js';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { DynamicAuthorization } from '../../aaa/DynamicAuthorization.js';
import { createPptpAdminCore } from '../../admin/PptpCoreAdapter.js';
import { formatIpv4 } from '../../config/Ipv4.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { ntPasswordHash, verifyMsChapV2 } from '../../ppp/auth/MsChapCrypto.js';
import { addressAttribute, Attr, MsAttr, readInteger, readText, VENDOR_MICROSOFT, vendorAttribute } from '../../radius/Dictionary.js';
import { RadiusReply } from '../../radius/RadiusClient.js';
import { encryptMppeKey } from '../../radius/RadiusCrypto.js';
import { findAttribute, findVendorAttribute, RadiusCode, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import type { EndCause } from '../../session/EndCause.js';
import { CALL_LINGER_MS } from '../../session/SessionManager.js';
import { CLIENTS, closeHarnesses, harness, PASSWORD, ping, POOL, SERVER, until } from './SessionHarness.js';
import { AddressBans } from '../../aaa/AddressBans.js';
import { LoginGuard } from '../../aaa/ThrottledAuthenticator.js';
import { banPolicy, loginThrottlePolicy } from '../../server/Limits.js';

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

  it('a sweep in slices (one session per turn of the event loop here) still reaches every session: both quiet ones end idle-timeout', async () => {
    const h = await harness({ sweepMs: 100, sweepSlice: 1 });
    h.users.setLimits('alice', { idleTimeout: 1 });
    h.users.setLimits('bob', { idleTimeout: 1 });
    await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    await until('both sessions ended', () => h.downs.length === 2, 5000);
    expect(h.downs.map((d) => [d.user, d.cause]).sort()).toEqual([
      ['alice', 'idle-timeout'],
      ['bob', 'idle-timeout'],
    ]);
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

  it('after our LCP Terminate exchange the call waits for the client to hang up: a client that does frees the Call ID at once, one that does not gets our CDN after CALL_LINGER_MS', async () => {
    const h = await harness();
    const [hangsUp, waits] = await Promise.all([h.connect(0), h.connect(1, 'bob', PASSWORD, { onTerminate: 'wait' })]);
    const callOf = (user: string) => h.sessions.findSessions({ user })[0]!.callId;
    // pppd's way: Terminate-Ack, then its exit closes the call; the Call ID is free long before the wait would end.
    let t0 = performance.now();
    expect(h.sessions.disconnect(callOf('alice'), 'admin-disconnect')).toBe(true);
    expect(await hangsUp.ended).toBe('server sent LCP Terminate-Request');
    await until('the Call ID back in the pool', () => h.sessions.held.callIds === 1, 2000);
    expect(performance.now() - t0).toBeLessThan(CALL_LINGER_MS / 2);
    // A client that acks and keeps its call: the session ends, its Call ID stays until our CDN.
    const down = h.nextDown();
    t0 = performance.now();
    expect(h.sessions.disconnect(callOf('bob'), 'admin-disconnect')).toBe(true);
    expect((await down).cause).toBe('admin-disconnect');
    expect(h.sessions.sessionCount).toBe(0);
    expect(h.sessions.held.callIds).toBe(1);
    expect(await waits.ended).toBe('server ended the call (message type 13)'); // Call-Disconnect-Notify
    expect(performance.now() - t0).toBeGreaterThanOrEqual(CALL_LINGER_MS - 5);
    expect(h.sessions.held.callIds).toBe(0);
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
    const operator = createPptpAdminCore({
      server: h.sessions,
      dataPlane: { counters: {} } as never,
      users: h.users,
      config: () => config,
      reload: () => {
        throw new Error('no reload in this test');
      },
      addressPolicy: h.addressPolicy,
      logins: new LoginGuard(loginThrottlePolicy(config), new AddressBans(banPolicy(config)), silent),
      log: silent,
    });
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

const RADIUS_SECRET = 'unit-secret-lifecycle';

/**
 * A RADIUS server in a function: checks the MS-CHAPv2 response against PASSWORD as FreeRADIUS would (RFC 2548
 * §2.3) and accepts with MS-CHAP2-Success, the MPPE keys (§2.4.2-§2.4.3) and Framed-IP-Address `framed`.
 */
function radiusAccepting(framed: string): RadiusAccessClient {
  return {
    access: async (attributes: RadiusAttribute[]) => {
      const username = readText(findAttribute(attributes, Attr.UserName)!);
      const challenge = findVendorAttribute(attributes, VENDOR_MICROSOFT, MsAttr.ChapChallenge)!.value;
      const response = findVendorAttribute(attributes, VENDOR_MICROSOFT, MsAttr.Chap2Response)!.value; // Ident · Flags · Peer-Challenge · Reserved(8) · NT-Response
      const verdict = verifyMsChapV2(ntPasswordHash(PASSWORD), challenge, response.subarray(2, 18), username, response.subarray(26, 50));
      const ra = randomBytes(16);
      if (!verdict) return new RadiusReply(RadiusCode.AccessReject, 1, [], '192.0.2.5:1812', ra, RADIUS_SECRET);
      return new RadiusReply(
        RadiusCode.AccessAccept,
        1,
        [
          vendorAttribute(VENDOR_MICROSOFT, MsAttr.Chap2Success, Buffer.concat([Buffer.of(response[0]!), Buffer.from(verdict.authenticatorResponse, 'latin1')])),
          vendorAttribute(VENDOR_MICROSOFT, MsAttr.MppeSendKey, encryptMppeKey(verdict.masterSendKey, RADIUS_SECRET, ra, 0x8001)),
          vendorAttribute(VENDOR_MICROSOFT, MsAttr.MppeRecvKey, encryptMppeKey(verdict.masterRecvKey, RADIUS_SECRET, ra, 0x8002)),
          addressAttribute(Attr.FramedIpAddress, framed),
        ],
        '192.0.2.5:1812',
        ra,
        RADIUS_SECRET,
      );
    },
  };
}

/** A real pino logger that keeps each line's message and fields. */
function memoryLog(): Logger & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return Object.assign(log, { lines });
}

describe('address policy at login (pool.allowedStaticRanges; never the server own, loopback, multicast, ...)', () => {
  const radiusHarness = (framed: string, log = memoryLog()) =>
    harness({
      allowedStaticRanges: ['198.18.5.0/24'],
      log,
      authenticator: (_users, addresses) =>
        new RadiusAuthenticator({ client: radiusAccepting(framed), nas: { nasIdentifier: 'portico' }, mppe: { required: true, keyLengths: [128] }, addresses, log }),
    });

  it('a RADIUS Framed-IP-Address 127.0.0.1, 224.0.0.1, the TUN address or one outside the ranges refuses the login: no session, no route', async () => {
    for (const [framed, why] of [
      ['127.0.0.1', 'is loopback (127.0.0.0/8)'],
      ['224.0.0.1', 'is multicast (224.0.0.0/4)'],
      ['198.18.100.1', "is the server's tunnel address (tun.address)"],
      ['198.18.6.1', 'is outside the pool (198.18.100.10-198.18.100.11), the tunnel network 198.18.100.0/28 and pool.allowedStaticRanges (198.18.5.0/24)'],
    ] as const) {
      const log = memoryLog();
      const h = await radiusHarness(framed, log);
      const down = h.nextDown();
      await expect(h.connect(0), framed).rejects.toThrow();
      expect((await down).cause, framed).toBe('auth-failed');
      // The refusal as PPP reports it (E=691, the text cut at 200 characters); the log line has it whole.
      expect(h.failures, framed).toHaveLength(1);
      expect(h.failures[0]!.reason, framed).toBe(`E=691: refused Access-Accept from 192.0.2.5:1812: Framed-IP-Address ${framed} ${why}`.slice(0, 207));
      expect(
        log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused'),
        framed,
      ).toMatchObject({ level: 40, address: framed, why: `Framed-IP-Address ${framed} ${why}` });
      expect([...h.tun.routes.keys()], framed).toEqual([]);
      expect(h.ups, framed).toEqual([]);
      await closeHarnesses();
    }
  });

  it('a RADIUS Framed-IP-Address in pool.allowedStaticRanges: the session is up with it and a /32 route, removed at the end', async () => {
    const h = await radiusHarness('198.18.5.7');
    const c = await h.connect(0);
    expect(formatIpv4(c.session.address)).toBe('198.18.5.7');
    expect(h.ups[0]).toMatchObject({ user: 'alice', address: '198.18.5.7' });
    expect([...h.tun.routes.keys()]).toEqual(['198.18.5.7/32']);
    const down = h.nextDown();
    c.session.stop();
    expect((await down).cause).toBe('peer-call-clear');
    expect([...h.tun.routes.keys()]).toEqual([]);
  });

  it('a stored static address the configuration no longer allows is refused at login (address-refused), with a log line naming it', async () => {
    const log = memoryLog();
    const h = await harness({ log });
    // Stored while 198.18.5.0/24 was allowed; the running configuration allows only the pool and the tunnel network.
    const before = new UserStore(h.dir, addressPolicyFor(validateConfig({ tun: { address: '198.18.100.1' }, pool: { ...POOL, allowedStaticRanges: ['198.18.5.0/24'] } }), []));
    before.setStaticAddress('alice', '198.18.5.7');
    before.close();
    const down = h.nextDown();
    await expect(h.connect(0)).rejects.toThrow();
    const ended = await down;
    expect(ended).toMatchObject({ cause: 'address-refused', user: 'alice', address: null });
    expect(ended.detail).toBe('static address 198.18.5.7 is outside the pool (198.18.100.10-198.18.100.11), the tunnel network 198.18.100.0/28 and pool.allowedStaticRanges (none)');
    const line = log.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('login refused: static address 198.18.5.7'));
    expect(line).toMatchObject({ level: 40, user: 'alice', address: '198.18.5.7', rule: 'outside' });
    expect([...h.tun.routes.keys()]).toEqual([]);
    // The pool is untouched: bob still gets the first pool address.
    const b = await h.connect(1, 'bob');
    expect(formatIpv4(b.session.address)).toBe(POOL.start);
  });

  it('a stored static address inside the allowed ranges still works: inside the tunnel network without a route, outside it with a /32', async () => {
    const h = await harness({ allowedStaticRanges: ['198.18.5.0/24'] });
    h.users.setStaticAddress('alice', '198.18.100.7');
    h.users.setStaticAddress('bob', '198.18.5.8');
    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    expect([formatIpv4(a.session.address), formatIpv4(b.session.address)]).toEqual(['198.18.100.7', '198.18.5.8']);
    expect([...h.tun.routes.keys()]).toEqual(['198.18.5.8/32']);
    expect(() => h.users.setStaticAddress('carol', '198.18.100.1')).toThrow(expect.objectContaining({ field: 'staticAddress', problem: "198.18.100.1 is the server's tunnel address (tun.address)" }));
  });
});
