// The session layer wired as server/main.ts wires it, without root: the real ControlListener (TCP
// on loopback), SessionManager, PPP policy, LocalAuthenticator over a UserStore and the one-thread
// DataPlane, over the in-memory GRE socket and TUN. The peer is the load generator's PPTP client
// (PPTP control, LCP, MS-CHAPv2, CCP MPPE-128, IPCP, MPPE data), written against the RFCs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { LocalAuthenticator } from '../../aaa/LocalAuthenticator.js';
import { UserStore } from '../../aaa/UserStore.js';
import { ClientGre } from '../../bench/client/ClientGre.js';
import { type ClientSessionOptions, PptpClientSession } from '../../bench/client/PptpClientSession.js';
import { type AddressPolicy, addressPolicyFor, tunnelNetwork } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { DataPlane, type DataPlanePort, type SessionBudgets } from '../../dataplane/DataPlane.js';
import { MemoryGreSocket } from '../../io/MemoryGreSocket.js';
import { MemoryTun } from '../../io/MemoryTun.js';
import type { ExtendedAuthenticator } from '../../ppp/Authenticator.js';
import { type ConnectionLimits, ControlListener } from '../../server/ControlListener.js';
import { callLimits, connectionLimits } from '../../server/Limits.js';
import { pppPolicy } from '../../server/PppPolicy.js';
import { type AuthFailure, type CallLimits, type SessionEnded, SessionManager, type SessionSummary } from '../../session/SessionManager.js';
import { TunnelAddresses } from '../../session/TunnelAddresses.js';
import { ip, ipv4Packet } from './TestPackets.js';

// Loopback only: the listener on one 127/8 address, each client from its own, so GRE is told apart by source.
export const SERVER = '127.0.0.2';
export const CLIENTS = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
export const PASSWORD = 'correct horse battery';
export const POOL = { start: '198.18.100.10', end: '198.18.100.11' };

export interface Harness {
  /** The control listener's port on SERVER. */
  port: number;
  sessions: SessionManager;
  listener: ControlListener;
  /** The pool and static addresses of the session layer. */
  addresses: TunnelAddresses;
  /** The user backend the session layer asks. */
  authenticator: ExtendedAuthenticator;
  tun: MemoryTun;
  /** The server's GRE socket (`sent` holds copies of what it sent) and each client's. */
  serverGre: MemoryGreSocket;
  clientGre: MemoryGreSocket[];
  users: UserStore;
  /** The data directory of `users` (a test may open it again under another configuration). */
  dir: string;
  /** The address policy the store and the session layer apply (pool, tunnel network 198.18.100.0/28, allowedStaticRanges). */
  addressPolicy: AddressPolicy;
  ups: SessionSummary[];
  downs: SessionEnded[];
  failures: AuthFailure[];
  /** Connects client `n` and resolves when its network phase is up (or rejects with why it failed). */
  connect(n: number, username?: string, password?: string, client?: Pick<ClientSessionOptions, 'onTerminate'>): Promise<Client>;
  /** Resolves with the next session-down. */
  nextDown(): Promise<SessionEnded>;
  close(): Promise<void>;
}

export interface Client {
  session: PptpClientSession;
  /** IPv4 packets the client decrypted, as hex. */
  received: string[];
  /** Round-trip times of the client's own LCP Echo-Requests (sendEcho), ms. */
  echoRtts: number[];
  /** Resolves with the client's own reason once the server ends the call. */
  ended: Promise<string>;
}

const open: Harness[] = [];

/** For afterEach: closes every harness the test opened. */
export async function closeHarnesses(): Promise<void> {
  for (const h of open.splice(0)) await h.close();
}

export interface HarnessOptions {
  sweepMs?: number;
  sweepSlice?: number;
  floodLimit?: number;
  budgets?: SessionBudgets;
  /** Last pool address (default POOL.end: two addresses). */
  poolEnd?: string;
  /** Call limits instead of the configuration's defaults. */
  limits?: Partial<CallLimits>;
  /** Control-connection limits instead of the configuration's defaults. */
  connections?: Partial<ConnectionLimits>;
  /** pool.allowedStaticRanges (default none). */
  allowedStaticRanges?: string[];
  /** The user backend instead of the LocalAuthenticator over the harness's store (a RADIUS backend, say). */
  authenticator?: (users: UserStore, addressPolicy: AddressPolicy) => ExtendedAuthenticator;
  /** The server's logger (default: silent). */
  log?: Logger;
  /** What the session layer gets instead of the one-thread DataPlane itself (a wrapper around it). */
  wrapDataPlane?: (plane: DataPlane) => DataPlanePort;
}

export async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-lifecycle-'));
  const poolEnd = options.poolEnd ?? POOL.end;
  const log = options.log ?? pino({ level: 'silent' });
  const config = validateConfig({ listen: SERVER, tun: { address: '198.18.100.1' }, pool: { start: POOL.start, end: poolEnd, allowedStaticRanges: options.allowedStaticRanges ?? [] } });
  const addressPolicy = addressPolicyFor(config, []);
  // As main.ts: the TUN's network is the tunnel address with the pool (198.18.100.0/28).
  const { tunAddress, prefix: tunPrefix } = tunnelNetwork(config);
  const users = new UserStore(dir, addressPolicy);
  users.add('alice', PASSWORD);
  users.add('bob', PASSWORD);
  users.add('carol', PASSWORD);
  const [serverGre, ...clientGre] = MemoryGreSocket.network([ip(SERVER), ...CLIENTS.map(ip)]);
  const tun = new MemoryTun();
  const dataPlane = new DataPlane(serverGre!, tun, log, undefined, options.budgets);
  const authenticator = options.authenticator?.(users, addressPolicy) ?? new LocalAuthenticator(users);
  const addresses = new TunnelAddresses({ poolStart: ip(POOL.start), poolEnd: ip(poolEnd), tunAddress, tunPrefix, policy: addressPolicy, routes: tun });
  const sessions = new SessionManager({
    dataPlane: options.wrapDataPlane ? options.wrapDataPlane(dataPlane) : dataPlane,
    addresses,
    authenticator,
    link: pppPolicy(config, authenticator, log),
    limits: { ...callLimits(config), ...options.limits },
    nasAddress: SERVER,
    log,
    ...(options.sweepMs ? { sweepMs: options.sweepMs } : {}),
    ...(options.sweepSlice ? { sweepSlice: options.sweepSlice } : {}),
    ...(options.floodLimit !== undefined ? { floodLimit: options.floodLimit } : {}),
  });
  const listener = new ControlListener({ listen: SERVER, port: 0, echoIntervalMs: 60_000, hostName: 'portico', limits: { ...connectionLimits(config), ...options.connections }, log }, sessions);
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
    port,
    sessions,
    listener,
    addresses,
    authenticator,
    tun,
    serverGre: serverGre!,
    clientGre,
    users,
    dir,
    addressPolicy,
    ups,
    downs,
    failures,
    connect: (n, username = 'alice', password = PASSWORD, client = {}) =>
      new Promise<Client>((resolve, reject) => {
        const received: string[] = [];
        const echoRtts: number[] = [];
        let endedWith: (why: string) => void = () => {};
        const ended = new Promise<string>((r) => (endedWith = r));
        let up = false;
        const session = new PptpClientSession(
          { server: SERVER, serverAddr: ip(SERVER), port, localAddress: CLIENTS[n]!, username, password, callId: 100 + n, stateless: true, setupTimeoutMs: 5000, lcpEager: true, ...client },
          new ClientGre(clientGre[n]!),
          {
            up: (s) => {
              up = true;
              resolve({ session: s, received, echoRtts, ended });
            },
            failed: (_s, why) => {
              if (up) endedWith(why);
              else reject(new Error(why));
            },
            data: (_s, buf, off, len) => received.push(buf.subarray(off, off + len).toString('hex')),
            echoRtt: (_s, ms) => echoRtts.push(ms),
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

export const ping = (src: string, dst: string, tag: number) => ipv4Packet(src, dst, 1, Buffer.from([8, 0, 0, 0, 0, 1, 0, tag]));
export const until = async (what: string, check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
