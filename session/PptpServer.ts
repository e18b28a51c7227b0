// Accepts PPTP control connections (TCP 1723) and turns each accepted call into a Session:
// a Call ID from the server-wide allocator, a PPP link over GRE, an address from the pool.
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import { ConfigError, type PorticoConfig } from '../config/PorticoConfig.js';
import { CallIdAllocator } from '../pptp/CallIdAllocator.js';
import { ControlConnection, type CallHandler, type CallRequestInfo } from '../pptp/ControlConnection.js';
import { CallDisconnectResult, GeneralError, OutgoingCallResult, StopReason } from '../pptp/ControlMessage.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import { AUTH_METHOD_LABEL } from '../ppp/auth/AuthMethod.js';
import { linkAuthMethods, PppLink, type PppLinkConfig } from '../ppp/PppLink.js';
import { PEER_TERMINATED_REASON } from '../ppp/Automaton.js';
import { PEER_NOT_RESPONDING_REASON } from '../ppp/lcp/Lcp.js';
import { AddressPool } from './AddressPool.js';
import { authenticatorForSession } from '../aaa/SessionAuthContext.js';
import type { DataPlanePort } from '../dataplane/DataPlane.js';
import { Session, type TerminateCause } from './Session.js';
import { copySessionCounters } from '../dataplane/SessionCounters.js';
import type { TunDevice } from '../io/TunDevice.js';

/** Refusal of an Outgoing-Call-Request we cannot serve (RFC 2637 §2.8: General Error, No-Resource). */
const CALL_REFUSED = { resultCode: OutgoingCallResult.GeneralError, errorCode: GeneralError.NoResource } as const;

export interface SessionSummary {
  sessionId: string;
  callId: number;
  peerCallId: number;
  peer: string;
  user: string | null;
  address: string | null;
  authMethod: string;
  mppe: string;
  startedAt: number;
  upAt: number | null;
  sessionTimeout: number | null;
  idleTimeout: number | null;
  classes: Buffer[];
  interimInterval: number | null;
  counters: Session['counters'];
  /** Receives GRE from the client but has delivered nothing for a while (DeliveryWatch). */
  stuck: boolean;
}

export interface SessionEnded extends SessionSummary {
  reason: string;
  cause: TerminateCause;
  endedAt: number;
}

export interface AuthFailure {
  user: string | null;
  peer: string;
  reason: string;
  at: number;
}

/** What the server tells observers (accounting, the admin panel, metrics); the core imports none of them. */
export interface PptpServerEvents {
  'session-up': [SessionSummary];
  'session-down': [SessionEnded];
  'auth-failure': [AuthFailure];
}

/** Which sessions a Disconnect/CoA-Request or an operator names (RFC 5176 §3). */
export interface SessionSelector {
  user?: string;
  sessionId?: string;
  address?: string;
  /** NAS-Port: our Call ID. */
  callId?: number;
}

/** How often idle and stuck sessions are looked for; Idle-Timeout is honoured to within this. */
const SWEEP_MS = 5000;

export class PptpServer extends EventEmitter<PptpServerEvents> {
  private readonly server: Server;
  /** Each control connection with its peer (IPv4 text) and logger. */
  private readonly connections = new Map<ControlConnection, { peer: string; log: Logger }>();
  private readonly sessions = new Map<number, Session>();
  private readonly callIds = new CallIdAllocator();
  private readonly pool: AddressPool;
  private readonly tunNetwork: { base: number; prefix: number };
  private readonly linkConfig: PppLinkConfig;
  /** Static addresses outside the TUN's own prefix get a host route while their session lives. */
  private readonly hostRoutes = new Set<number>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    private readonly config: PorticoConfig,
    private readonly dataPlane: DataPlanePort,
    private readonly tun: TunDevice,
    private readonly authenticator: ExtendedAuthenticator,
    tunPrefix: number,
    private readonly log: Logger,
  ) {
    super();
    this.pool = new AddressPool(parseIpv4(config.pool.start), parseIpv4(config.pool.end));
    const tunAddress = parseIpv4(config.tun.address);
    this.tunNetwork = { base: tunPrefix === 0 ? 0 : (tunAddress & (~0 << (32 - tunPrefix))) >>> 0, prefix: tunPrefix };
    this.linkConfig = {
      serverName: config.serverName,
      localAddress: tunAddress,
      dns: config.dns.map(parseIpv4),
      wins: config.wins.map(parseIpv4),
      ...(config.ppp.mru !== undefined ? { mru: config.ppp.mru } : {}),
      mppe: {
        required: config.mppe.required,
        bits: config.mppe.keyLengths,
        mode: config.mppe.mode,
      },
      lcpEchoInterval: config.ppp.lcpEchoInterval,
      lcpEchoFailure: config.ppp.lcpEchoFailure,
      authProtocols: config.auth.protocols,
    };
    const offered = linkAuthMethods(this.linkConfig, authenticator);
    const idle = config.auth.protocols.filter((p) => !offered.includes(p));
    if (idle.length > 0) log.warn({ protocols: idle }, 'auth.protocols never offered: the user backend cannot verify them or they cannot key the required MPPE');
    if (offered.length === 0) {
      throw new ConfigError('auth.protocols: none of them can be verified by the user backend and key the required MPPE (mppe.required)');
    }
    this.server = createServer((socket) => this.accept(socket));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.server.on('error', (err) => this.log.error({ err }, 'control listener error'));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.listen, () => {
        this.server.off('error', reject);
        this.log.info({ listen: this.config.listen, port: this.config.port }, 'accepting PPTP control connections');
        resolve();
      });
    });
  }

  /** Live sessions, for the CLI, the admin panel and tests (a narrow read-only view). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Call IDs of the sessions flagged stuck (DeliveryWatch). */
  stuckSessions(): number[] {
    return [...this.sessions.values()].filter((s) => s.delivery.stuck).map((s) => s.callId);
  }

  listSessions(): SessionSummary[] {
    return [...this.sessions.values()].map((s) => this.summary(s));
  }

  /** Sessions that match every given criterion (no criterion: none). */
  findSessions(selector: SessionSelector): SessionSummary[] {
    const keys = Object.values(selector).filter((v) => v !== undefined);
    if (keys.length === 0) return [];
    return [...this.sessions.values()]
      .filter(
        (s) =>
          (selector.user === undefined || s.username?.toLowerCase() === selector.user.toLowerCase()) &&
          (selector.sessionId === undefined || s.sessionId === selector.sessionId) &&
          (selector.address === undefined || (s.address !== null && formatIpv4(s.address) === selector.address)) &&
          (selector.callId === undefined || s.callId === selector.callId),
      )
      .map((s) => this.summary(s));
  }

  /** Server-initiated teardown: LCP Terminate, then Call-Disconnect-Notify (and Stop-Control when it was the last call). */
  disconnect(callId: number, reason = 'administrative disconnect', cause: TerminateCause = 'admin-reset'): boolean {
    const s = this.sessions.get(callId);
    if (!s || s.closed) return false;
    s.log.info({ reason }, 'disconnecting session');
    s.terminateCause ??= cause;
    s.link.close(reason);
    return true;
  }

  /** Changes a live session's limits (RADIUS CoA, the panel); null removes a limit. */
  setLimits(callId: number, limits: { sessionTimeout?: number | null; idleTimeout?: number | null }): boolean {
    const s = this.sessions.get(callId);
    if (!s || s.closed) return false;
    if (limits.sessionTimeout !== undefined) {
      if (limits.sessionTimeout === null) delete s.authorization.sessionTimeout;
      else s.authorization.sessionTimeout = limits.sessionTimeout;
      this.armSessionTimer(s);
    }
    if (limits.idleTimeout !== undefined) {
      if (limits.idleTimeout === null) delete s.authorization.idleTimeout;
      else s.authorization.idleTimeout = limits.idleTimeout;
    }
    s.log.info({ sessionTimeout: s.authorization.sessionTimeout, idleTimeout: s.authorization.idleTimeout }, 'session limits changed');
    return true;
  }

  private summary(s: Session): SessionSummary {
    return {
      sessionId: s.sessionId,
      callId: s.callId,
      peerCallId: s.peerCallId,
      peer: formatIpv4(s.peerAddress),
      user: s.username,
      address: s.address === null ? null : formatIpv4(s.address),
      authMethod: s.link.authMethod === null ? 'none' : AUTH_METHOD_LABEL[s.link.authMethod],
      mppe: s.mppeDescription,
      startedAt: s.startedAt,
      upAt: s.upAt,
      sessionTimeout: s.authorization.sessionTimeout ?? null,
      idleTimeout: s.authorization.idleTimeout ?? null,
      classes: s.authorization.classes ?? [],
      interimInterval: s.authorization.interimInterval ?? null,
      counters: copySessionCounters(s.counters),
      stuck: s.delivery.stuck,
    };
  }

  /** Session-Timeout counts from the start of the network phase (RFC 2865 §5.27). */
  private armSessionTimer(s: Session): void {
    if (s.sessionTimer) clearTimeout(s.sessionTimer);
    s.sessionTimer = null;
    const limit = s.authorization.sessionTimeout;
    if (limit === undefined || s.upAt === null) return;
    const remaining = Math.max(0, s.upAt + limit * 1000 - Date.now());
    s.sessionTimer = setTimeout(() => this.disconnect(s.callId, `Session-Timeout of ${limit} s reached`, 'session-timeout'), remaining);
    s.sessionTimer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      this.watchDelivery(s);
      const packets = s.counters.rxPackets + s.counters.txPackets;
      if (packets !== s.idleMark.packets) {
        s.idleMark = { packets, since: now };
        continue;
      }
      const limit = s.authorization.idleTimeout;
      if (limit !== undefined && s.upAt !== null && now - Math.max(s.idleMark.since, s.upAt) >= limit * 1000) {
        this.disconnect(s.callId, `Idle-Timeout of ${limit} s reached`, 'idle-timeout');
      }
    }
  }

  private watchDelivery(s: Session): void {
    const c = s.counters;
    const change = s.delivery.observe(c.rxFrames, c.rxPackets + c.rxControl);
    if (change === 'stuck') s.log.warn({ counters: copySessionCounters(c) }, 'session receives GRE but delivers nothing');
    else if (change === 'recovered') s.log.info({ counters: copySessionCounters(c) }, 'session delivers again');
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const s of this.sessions.values()) this.disconnect(s.callId, 'server shutting down', 'nas-request');
    await new Promise((r) => setTimeout(r, this.sessions.size > 0 ? 300 : 0));
    for (const c of this.connections.keys()) c.stop(StopReason.LocalShutdown);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    const log = this.log.child({ peer, port: socket.remotePort });
    socket.setNoDelay(true);
    let connection: ControlConnection | null = null;
    try {
      parseIpv4(peer);
    } catch {
      log.warn('control connection from a non-IPv4 peer refused');
      socket.destroy();
      return;
    }
    connection = new ControlConnection(
      {
        write: (buf) => {
          if (!socket.destroyed) socket.write(buf);
        },
        close: () => socket.end(),
        peerAddress: peer,
      },
      this.callHandler,
      { echoIntervalMs: this.config.pptp.echoInterval * 1000, hostName: this.config.serverName, vendor: 'Portico', logger: log },
    );
    const conn = connection;
    this.connections.set(conn, { peer, log });
    log.debug('control connection opened');
    socket.on('data', (chunk) => conn.feed(chunk));
    socket.on('error', (err) => log.debug({ err: err.message }, 'control socket error'));
    socket.on('close', () => {
      this.connections.delete(conn);
      conn.transportClosed();
      log.debug('control connection closed');
    });
  }

  private readonly callHandler: CallHandler = {
    openCall: (conn, info) => this.openCall(conn, info),
    callCleared: (_conn, callId, reason) => {
      const s = this.sessions.get(callId);
      if (!s) return;
      s.terminateCause ??= reason === 'peer-call-clear-request' || reason === 'peer-stop' ? 'user-request' : 'lost-carrier';
      this.endSession(s, reason); // first: the link's finished() that lowerDown() triggers must not send a CDN
      s.link.lowerDown();
    },
  };

  private openCall(conn: ControlConnection, info: CallRequestInfo): { callId: number } | { resultCode: number; errorCode: number } {
    const owner = this.connections.get(conn);
    if (!owner) return CALL_REFUSED;
    const log0 = owner.log;
    if (this.sessions.size >= this.config.pptp.maxCalls) {
      log0.warn({ maxCalls: this.config.pptp.maxCalls }, 'call refused: pptp.maxCalls reached');
      return CALL_REFUSED;
    }
    const callId = this.callIds.allocate();
    if (callId === null) {
      log0.warn('call refused: no free Call ID');
      return CALL_REFUSED;
    }
    const peerAddress = parseIpv4(owner.peer);
    const log = log0.child({ callId, peerCallId: info.peerCallId });
    const s = new Session(callId, info.peerCallId, peerAddress, conn, log);
    s.mppeRequired = this.config.mppe.required;
    s.link = new PppLink(this.linkConfig, {
      send: (protocol, payload) => this.dataPlane.sendControl(s, protocol, payload),
      // Bound to this call: a RADIUS backend names it (NAS-Port, Calling-Station-Id, Acct-Session-Id).
      authenticator: authenticatorForSession(this.authenticator, { sessionId: s.sessionId, callId, peer: owner.peer, local: this.config.listen }),
      assignAddress: (username, staticAddress) => this.assignAddress(s, username, staticAddress),
      networkUp: (up) => {
        if (s.closed) return;
        s.username = up.username;
        if (up.mppe) s.mppeDescription = `MPPE-${up.mppe.bits} ${up.mppe.stateless ? 'stateless' : 'stateful'}`;
        const first = s.upAt === null;
        const mppe = up.mppe ? { sendKey: up.mppe.keys.sendKey, recvKey: up.mppe.keys.recvKey, bits: up.mppe.bits, stateless: up.mppe.stateless } : null;
        this.dataPlane.startData(s, up.peerAddress, mppe);
        if (!first) return; // renegotiation: same session, same accounting
        s.upAt = Date.now();
        s.idleMark = { packets: s.counters.rxPackets + s.counters.txPackets, since: s.upAt };
        this.armSessionTimer(s);
        const auth = s.link.authMethod === null ? 'none' : AUTH_METHOD_LABEL[s.link.authMethod];
        s.log.info(
          {
            user: up.username,
            address: formatIpv4(up.peerAddress),
            auth,
            mppe: s.mppeDescription,
            sessionId: s.sessionId,
            sessionTimeout: s.authorization.sessionTimeout,
            idleTimeout: s.authorization.idleTimeout,
          },
          'session up',
        );
        this.emit('session-up', this.summary(s));
      },
      networkDown: (reason) => {
        // LCP renegotiation or an NCP going down: no IP until networkUp again, with fresh MPPE state.
        this.dataPlane.stopData(s);
        s.log.info({ reason }, 'network phase down');
      },
      resetRequested: () => this.dataPlane.mppeResetRequested(s),
      authenticated: ({ authorization }) => {
        s.authorization = { ...(authorization ?? {}) };
      },
      authFailed: ({ username, reason }) => {
        s.terminateCause = 'auth-failed';
        this.emit('auth-failure', { user: username, peer: owner.peer, reason, at: Date.now() });
      },
      finished: (reason) => {
        if (s.closed) return;
        s.terminateCause ??= reason.startsWith(PEER_TERMINATED_REASON) ? 'user-request' : reason.startsWith(PEER_NOT_RESPONDING_REASON) ? 'lost-carrier' : 'nas-error'; // our side ended it: policy (MPPE refused, no address), timeouts
        conn.disconnectCall(callId, CallDisconnectResult.AdminShutdown);
        this.endSession(s, reason);
      },
      log,
    });
    this.sessions.set(callId, s);
    this.dataPlane.register(s);
    log.debug({ serial: info.serial }, 'call accepted');
    // LCP starts once the Outgoing-Call-Reply is on the wire: the client ignores GRE before it.
    setImmediate(() => {
      if (!s.closed) s.startLink();
    });
    return { callId };
  }

  private assignAddress(s: Session, username: string, staticAddress?: number): number | null {
    s.username = username;
    s.log = s.log.child({ user: username });
    if (s.address !== null) return s.address; // IPCP renegotiation keeps the address
    const address = this.pool.allocate(staticAddress);
    if (address === null) {
      s.log.warn({ staticAddress: staticAddress === undefined ? undefined : formatIpv4(staticAddress) }, 'no address available');
      return null;
    }
    s.address = address;
    const { base, prefix } = this.tunNetwork;
    const inTunNetwork = prefix === 0 || (address & (~0 << (32 - prefix))) >>> 0 === base;
    if (!inTunNetwork && !this.hostRoutes.has(address)) {
      this.tun.addRoute(address, 32);
      this.hostRoutes.add(address);
    }
    return address;
  }

  private endSession(s: Session, reason: string): void {
    if (s.closed) return;
    s.closed = true;
    s.dataReady = false;
    if (s.sessionTimer) clearTimeout(s.sessionTimer);
    this.dataPlane.unregister(s);
    this.sessions.delete(s.callId);
    this.callIds.release(s.callId);
    if (s.address !== null) {
      if (this.hostRoutes.delete(s.address)) this.tun.delRoute(s.address, 32);
      this.pool.release(s.address);
    }
    const cause = s.terminateCause ?? 'nas-error';
    s.log.info({ reason, cause, seconds: Math.round((Date.now() - s.startedAt) / 1000), counters: s.counters }, 'session closed');
    this.emit('session-down', { ...this.summary(s), reason, cause, endedAt: Date.now() });
  }
}
