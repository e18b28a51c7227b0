// The session layer as one unit, without root: the real ControlListener (TCP on loopback),
// SessionManager, PPP policy, LocalAuthenticator over a UserStore and the one-thread DataPlane,
// over the in-memory GRE socket and TUN. The peer is the load generator's PPTP client (PPTP
// control, LCP, MS-CHAPv2, CCP MPPE-128, IPCP, MPPE data), written against the RFCs, not against
// this server. Each test follows a session from the call to its end cause.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Accountant } from '../../aaa/Accountant.js';
import { DynamicAuthorization } from '../../aaa/DynamicAuthorization.js';
import { LocalAuthenticator } from '../../aaa/LocalAuthenticator.js';
import { UserStore } from '../../aaa/UserStore.js';
import { createPptpAdminCore } from '../../admin/PptpCoreAdapter.js';
import { ClientGre } from '../../bench/client/ClientGre.js';
import { PptpClientSession } from '../../bench/client/PptpClientSession.js';
import { formatIpv4 } from '../../config/Ipv4.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { DataPlane } from '../../dataplane/DataPlane.js';
import { MemoryGreSocket } from '../../io/MemoryGreSocket.js';
import { MemoryTun } from '../../io/MemoryTun.js';
import { Attr, readInteger } from '../../radius/Dictionary.js';
import { findAttribute, RadiusCode, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { ControlListener } from '../../server/ControlListener.js';
import { pppPolicy } from '../../server/PppPolicy.js';
import type { EndCause } from '../../session/EndCause.js';
import { type AuthFailure, type SessionEnded, SessionManager, type SessionSummary } from '../../session/SessionManager.js';
import { TunnelAddresses } from '../../session/TunnelAddresses.js';
import { ip, ipv4Packet } from './TestPackets.js';

// Loopback only: the listener on one 127/8 address, each client from its own, so GRE is told apart by source.
const SERVER = '127.0.0.2';
const CLIENTS = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
const PASSWORD = 'correct horse battery';
const POOL = { start: '198.18.100.10', end: '198.18.100.11' };

interface Harness {
  sessions: SessionManager;
  tun: MemoryTun;
  users: UserStore;
  ups: SessionSummary[];
  downs: SessionEnded[];
  failures: AuthFailure[];
  /** Connects client `n` and resolves when its network phase is up (or rejects with why it failed). */
  connect(n: number, username?: string, password?: string): Promise<Client>;
  /** Resolves with the next session-down. */
  nextDown(): Promise<SessionEnded>;
  close(): Promise<void>;
}

interface Client {
  session: PptpClientSession;
  /** IPv4 packets the client decrypted, as hex. */
  received: string[];
  /** Resolves with the client's own reason once the server ends the call. */
  ended: Promise<string>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

async function harness(options: { sweepMs?: number } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-lifecycle-'));
  const users = new UserStore(dir);
  users.add('alice', PASSWORD);
  users.add('bob', PASSWORD);
  const log = pino({ level: 'silent' });
  const config = validateConfig({ listen: SERVER, tun: { address: '198.18.100.1' }, pool: POOL });
  const [serverGre, ...clientGre] = MemoryGreSocket.network([ip(SERVER), ...CLIENTS.map(ip)]);
  const tun = new MemoryTun();
  const dataPlane = new DataPlane(serverGre!, tun, log);
  const authenticator = new LocalAuthenticator(users);
  const sessions = new SessionManager({
    dataPlane,
    addresses: new TunnelAddresses({ poolStart: ip(POOL.start), poolEnd: ip(POOL.end), tunAddress: ip('198.18.100.1'), tunPrefix: 24, routes: tun }),
    authenticator,
    link: pppPolicy(config, authenticator, log),
    maxCalls: 10,
    nasAddress: SERVER,
    log,
    ...(options.sweepMs ? { sweepMs: options.sweepMs } : {}),
  });
  const listener = new ControlListener({ listen: SERVER, port: 0, echoIntervalMs: 60_000, hostName: 'portico', log }, sessions);
  const { port } = await listener.listen();
  const ups: SessionSummary[] = [];
  const downs: SessionEnded[] = [];
  const failures: AuthFailure[] = [];
  const downWaiters: Array<(s: SessionEnded) => void> = [];
  sessions.on('session-up', (s) => ups.push(s));
  sessions.on('auth-failure', (f) => failures.push(f));
  sessions.on('session-down', (s) => {
    downs.push(s);
    downWaiters.shift()?.(s);
  });
  const clients: PptpClientSession[] = [];
  const h: Harness = {
    sessions,
    tun,
    users,
    ups,
    downs,
    failures,
    connect: (n, username = 'alice', password = PASSWORD) =>
      new Promise<Client>((resolve, reject) => {
        const received: string[] = [];
        let endedWith: (why: string) => void = () => {};
        const ended = new Promise<string>((r) => (endedWith = r));
        let up = false;
        const session = new PptpClientSession(
          { server: SERVER, serverAddr: ip(SERVER), port, localAddress: CLIENTS[n]!, username, password, callId: 100 + n, stateless: true, setupTimeoutMs: 5000, lcpEager: true },
          new ClientGre(clientGre[n]!),
          {
            up: (s) => {
              up = true;
              resolve({ session: s, received, ended });
            },
            failed: (_s, why) => {
              if (up) endedWith(why);
              else reject(new Error(why));
            },
            data: (_s, buf, off, len) => received.push(buf.subarray(off, off + len).toString('hex')),
          },
        );
        clients.push(session);
        session.start();
      }),
    nextDown: () => new Promise<SessionEnded>((r) => downWaiters.push(r)),
    close: async () => {
      for (const c of clients) c.stop();
      await sessions.stop();
      await listener.stop();
      dataPlane.close();
      users.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  open.push(h);
  return h;
}

const ping = (src: string, dst: string, tag: number) => ipv4Packet(src, dst, 1, Buffer.from([8, 0, 0, 0, 0, 1, 0, tag]));
const until = async (what: string, check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

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
      queue: { enqueue: (sessionId, statusType, attributes) => records.push({ sessionId, statusType, attributes }) },
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
