// The session layer: every accepted PPTP call becomes a Session with a Call ID from the
// server-wide allocator, a PPP link over the data plane and a tunnel address. This class owns the
// registry, the call lifecycle, the limits (Session-Timeout, Idle-Timeout) and why each session
// ended. The TCP listener (server/ControlListener.ts) hands it calls; the composition root gives it
// the PPP policy already built from the configuration.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AddressBans } from '../aaa/AddressBans.js';
import { authenticatorForSession } from '../aaa/SessionAuthContext.js';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import type { DataPlanePort } from '../dataplane/DataPlane.js';
import { copySessionCounters } from '../dataplane/SessionCounters.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import { AUTH_METHOD_LABEL } from '../ppp/auth/AuthMethod.js';
import { type LinkEnd, PppLink, type PppLinkConfig } from '../ppp/PppLink.js';
import { CallIdAllocator } from '../pptp/CallIdAllocator.js';
import type { CallEnd, CallRequestInfo, ControlConnection } from '../pptp/ControlConnection.js';
import { CallDisconnectResult, GeneralError, OutgoingCallResult } from '../pptp/ControlMessage.js';
import { type EndCause, endCauseText, type SessionStop } from './EndCause.js';
import { Session } from './Session.js';
import type { TunnelAddresses } from './TunnelAddresses.js';

/**
 * After an LCP Terminate exchange ends a session, how long the call waits for the client to hang up
 * itself (Call-Clear-Request, or its TCP closing) before our Call-Disconnect-Notify. Why wait at all:
 * the client's PPP may not yet have read our last LCP frame (the Terminate-Ack its own
 * Terminate-Request got) when our CDN reaches its PPTP process, which then closes the line; pppd then
 * exits as a hang-up (16) instead of with the cause (19 after an authentication failure). pptp-linux
 * carries control and GRE in two processes, so nothing orders the two. pppd hangs up within
 * milliseconds of the exchange; the wait is for a client that never does.
 */
export const CALL_LINGER_MS = 500;

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
  cause: EndCause;
  /** The cause in words, with what the layer that ended it said (a limit, the peer's Terminate text). */
  detail: string;
  endedAt: number;
}

export interface AuthFailure {
  user: string | null;
  peer: string;
  reason: string;
  at: number;
}

/** What the session layer tells observers (accounting, the admin console, metrics); it imports none of them. */
export interface SessionEvents {
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

/** Where a call came from: its control connection, the peer's address (dotted quad) and the connection's logger. */
export interface CallOrigin {
  connection: ControlConnection;
  peer: string;
  log: Logger;
}

export interface CallLimits {
  /** Calls at most, over all connections. */
  maxCalls: number;
  maxCallsPerConnection: number;
  /** Calls whose peer has not authenticated yet, overall and from one address. */
  maxUnauthenticatedCalls: number;
  maxUnauthenticatedCallsPerAddress: number;
  /** From the call, and from a renegotiation, to the network phase up; renegotiating never extends it. */
  setupTimeoutMs: number;
}

/** What a configuration reload may change: the PPP policy and the call limits. */
export interface SessionPolicy {
  link: PppLinkConfig;
  limits: CallLimits;
}

export interface SessionManagerOptions {
  dataPlane: DataPlanePort;
  addresses: TunnelAddresses;
  authenticator: ExtendedAuthenticator;
  /** The PPP policy every link gets (server/PppPolicy.ts builds it from the configuration). */
  link: PppLinkConfig;
  /** What calls may hold (the pptp.* and ppp.setupTimeout keys). */
  limits: CallLimits;
  /** Addresses whose new calls are refused (a ban placed while their connection was open). */
  bans?: AddressBans;
  /** The address clients connect to (Called-Station-Id). */
  nasAddress: string;
  log: Logger;
  /** How often idle and stuck sessions are looked for; Idle-Timeout is honoured to within this. Default 5000. */
  sweepMs?: number;
  /** Sessions a sweep looks at per turn of the event loop (sweep). Default 256 (~0.1-0.8 ms of work). */
  sweepSlice?: number;
  /**
   * A session whose frames the data plane refused more than this many times between two sweeps
   * (its MPPE key-change or control-frame budget, dataplane/DataPlane.ts) is ended ('flood'). Default
   * 200 per second of sweep interval: a real client never reaches its budgets.
   */
  floodLimit?: number;
}

export class SessionManager extends EventEmitter<SessionEvents> {
  private readonly sessions = new Map<number, Session>();
  private readonly callIds = new CallIdAllocator();
  private readonly sweepTimer: NodeJS.Timeout;
  /** The rest of a sweep in progress (sweep). */
  private sweeping: NodeJS.Immediate | null = null;
  private readonly floodLimit: number;
  private readonly sweepSlice: number;
  /** Live calls per control connection, and calls not yet authenticated per peer address and overall. */
  private readonly callsPerConnection = new Map<ControlConnection, number>();
  private readonly unauthenticatedPerAddress = new Map<number, number>();
  private unauthenticated = 0;
  /** Set by stop(): no new call is accepted. */
  private stopping = false;
  /** Calls whose session has ended, holding their Call ID until the client hangs up or CALL_LINGER_MS (lingerThenDisconnect). */
  private readonly lingering = new Map<number, { connection: ControlConnection; timer: NodeJS.Timeout }>();
  /** stop() waiting for `quiet`: called whenever a session ends or a lingering call goes. */
  private quietWaiter: (() => void) | null = null;
  /** Connections already told (once) that a limit refused their calls: a flood gets one log line each. */
  private readonly refusedLogged = new WeakSet<ControlConnection>();
  /** The PPP policy and call limits for new calls; replaced whole by reconfigure(). */
  private policy: SessionPolicy;

  constructor(private readonly options: SessionManagerOptions) {
    super();
    this.policy = { link: options.link, limits: options.limits };
    const sweepMs = options.sweepMs ?? 5000;
    this.floodLimit = options.floodLimit ?? (200 * sweepMs) / 1000;
    this.sweepSlice = options.sweepSlice ?? 256;
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
    options.dataPlane.onSessionsLost((lost) => {
      for (const d of lost) if (this.sessions.get(d.callId) === d) this.dropCall(d.callId, 'dataplane-failure');
    });
  }

  /**
   * A reloaded PPP policy and call limits (server/ConfigReload.ts). Calls from now on get them; a live
   * session keeps the link it negotiated (its PppLink holds the policy it was built with) and only
   * meets the new setupTimeout if it renegotiates.
   */
  reconfigure(policy: SessionPolicy): void {
    this.policy = policy;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * What the live sessions hold: Call IDs, tunnel addresses and host routes as their allocators count
   * them. With no session left all are 0; anything else is a leak (the status dump; the soak checks it).
   */
  get held(): { callIds: number; addresses: number; hostRoutes: number } {
    return { callIds: this.callIds.size, ...this.options.addresses.held };
  }

  /** Call IDs of the sessions flagged stuck (DeliveryWatch). */
  stuckSessions(): number[] {
    return [...this.sessions.values()].filter((s) => s.delivery.stuck).map((s) => s.callId);
  }

  listSessions(): SessionSummary[] {
    return [...this.sessions.values()].map((s) => summary(s));
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
      .map((s) => summary(s));
  }

  /**
   * Ends a session from our side, whoever asks (the console, RADIUS Disconnect, a limit, shutdown):
   * LCP Terminate-Request carrying `detail`, then Call-Disconnect-Notify. False if no such session.
   */
  disconnect(callId: number, stop: SessionStop, detail = endCauseText(stop)): boolean {
    const s = this.sessions.get(callId);
    if (!s || s.closed) return false;
    s.log.info({ cause: stop, detail }, 'disconnecting session');
    s.endWith(stop, detail);
    s.link.close(detail);
    return true;
  }

  /** Changes a live session's limits (RADIUS CoA, the console); null removes a limit. */
  setLimits(callId: number, limits: { sessionTimeout?: number | null; idleTimeout?: number | null }): boolean {
    const s = this.sessions.get(callId);
    if (!s || s.closed) return false;
    s.changeLimits(limits);
    if (limits.sessionTimeout !== undefined) this.armSessionTimer(s);
    s.log.info({ sessionTimeout: s.limits.sessionTimeout, idleTimeout: s.limits.idleTimeout }, 'session limits changed');
    return true;
  }

  /**
   * Ends every session ('shutdown'): LCP Terminate-Request each, and for each Terminate-Ack the call's
   * Call-Disconnect-Notify. Resolves once every session has ended or after `timeoutMs`, whichever comes
   * first: a peer that does not answer keeps its session until the control connection is stopped
   * (ControlListener.stop sends its CDN then, RFC 2637 §2.13).
   */
  async stop(timeoutMs = 300): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    if (this.sweeping !== null) clearImmediate(this.sweeping);
    this.sweeping = null;
    for (const s of [...this.sessions.values()]) this.disconnect(s.callId, 'shutdown');
    // The ended sessions' calls linger until their clients hang up: waiting for those too keeps the
    // CDNs a stopping listener sends from racing the clients' last LCP frames (CALL_LINGER_MS).
    if (this.quiet) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.quietWaiter = null;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.quietWaiter = () => {
        if (this.quiet) done();
      };
    });
  }

  /** No session left and no call lingering. */
  private get quiet(): boolean {
    return this.sessions.size === 0 && this.lingering.size === 0;
  }

  /**
   * Ends a session whose packets cannot reach its peer any more (the data-plane thread carrying it
   * failed): no LCP Terminate-Request could arrive, so Call-Disconnect-Notify at once (RFC 2637 §2.13).
   */
  dropCall(callId: number, stop: SessionStop, detail = endCauseText(stop)): boolean {
    const s = this.sessions.get(callId);
    if (!s || s.closed) return false;
    s.log.warn({ cause: stop, detail }, 'session dropped');
    s.endWith(stop, detail);
    s.connection.disconnectCall(s.callId, CallDisconnectResult.AdminShutdown);
    this.endSession(s); // first: the link's finished() that lowerDown() triggers must not send a second CDN
    s.link.lowerDown();
    return true;
  }

  /** An Outgoing-Call-Request the control connection accepted: a Call ID, or the refusal (RFC 2637 §2.8). */
  openCall(origin: CallOrigin, info: CallRequestInfo): { callId: number } | typeof CALL_REFUSED {
    if (this.stopping) return CALL_REFUSED;
    if (this.options.bans?.refuses(origin.peer)) {
      if (!this.refusedLogged.has(origin.connection)) {
        this.refusedLogged.add(origin.connection);
        origin.log.warn('call refused: the address is banned (further refusals on this connection are not logged)');
      }
      return CALL_REFUSED;
    }
    const refusal = this.callLimitReached(origin);
    if (refusal !== null) {
      if (!this.refusedLogged.has(origin.connection)) {
        this.refusedLogged.add(origin.connection);
        origin.log.warn({ limit: refusal, value: this.policy.limits[refusal] }, `call refused: pptp.${refusal} reached (further refusals on this connection are not logged)`);
      }
      return CALL_REFUSED;
    }
    const callId = this.callIds.allocate();
    if (callId === null) {
      origin.log.warn('call refused: no free Call ID');
      return CALL_REFUSED;
    }
    const s = new Session({
      callId,
      peerCallId: info.peerCallId,
      peerAddress: parseIpv4(origin.peer),
      connection: origin.connection,
      log: origin.log.child({ callId, peerCallId: info.peerCallId }),
      mppeRequired: this.policy.link.mppe.required,
      link: (session) => this.createLink(session, origin),
    });
    this.sessions.set(callId, s);
    this.callsPerConnection.set(origin.connection, (this.callsPerConnection.get(origin.connection) ?? 0) + 1);
    this.countUnauthenticated(s.peerAddress, +1);
    s.armDeadline(this.policy.limits.setupTimeoutMs, () => this.disconnect(callId, 'setup-timeout'));
    this.options.dataPlane.register(s);
    s.log.debug({ serial: info.serial }, 'call accepted');
    // LCP starts once the Outgoing-Call-Reply is on the wire: the client ignores GRE before it.
    setImmediate(() => {
      if (!s.closed) s.startLink();
    });
    return { callId };
  }

  /**
   * The control connection cleared the call (RFC 2637 §2.11 peer's Call-Clear, Stop, TCP loss). A
   * link already closing for its own reason keeps it: a client hangs up right after our
   * Terminate-Request (pppd does), and the cause is what made us send it.
   */
  callCleared(callId: number, end: CallEnd): void {
    const s = this.sessions.get(callId);
    if (!s) {
      this.endLinger(callId, false); // the client hung up after our LCP Terminate exchange, as it should
      return;
    }
    const closing = s.link.closing;
    if (closing) s.endWith(closing.end, closing.reason);
    s.endWith(end, endCauseText(end));
    this.endSession(s); // first: the link's finished() that lowerDown() triggers must not send a CDN
    s.link.lowerDown();
  }

  private createLink(s: Session, origin: CallOrigin): PppLink {
    const { dataPlane } = this.options;
    return new PppLink(this.policy.link, {
      send: (protocol, payload) => dataPlane.sendControl(s, protocol, payload),
      // Bound to this call: a RADIUS backend names it (NAS-Port, Calling-Station-Id, Acct-Session-Id).
      authenticator: authenticatorForSession(this.options.authenticator, { sessionId: s.sessionId, callId: s.callId, peer: origin.peer, local: this.options.nasAddress }),
      authenticated: ({ username, authorization }) => {
        if (!s.hasAuthenticated) this.countUnauthenticated(s.peerAddress, -1);
        s.authenticated(username, authorization ?? {});
      },
      assignAddress: (_username, staticAddress) => this.assignAddress(s, staticAddress),
      networkUp: (up) => {
        if (s.closed) return;
        const first = s.upAt === null;
        const now = Date.now();
        s.clearDeadline();
        s.networkUp(up.mppe, now);
        const mppe = up.mppe ? { sendKey: up.mppe.keys.sendKey, recvKey: up.mppe.keys.recvKey, bits: up.mppe.bits, stateless: up.mppe.stateless, resume: up.mppe.resume } : null;
        dataPlane.startData(s, up.peerAddress, mppe);
        if (!first) return; // renegotiation: same session, same accounting
        this.armSessionTimer(s);
        // s.log carries `user` since authentication (Session.authenticated): not repeated here.
        s.log.info(
          {
            address: formatIpv4(up.peerAddress),
            auth: authMethodLabel(s),
            mppe: s.mppeDescription,
            sessionId: s.sessionId,
            sessionTimeout: s.limits.sessionTimeout,
            idleTimeout: s.limits.idleTimeout,
          },
          'session up',
        );
        this.emit('session-up', summary(s));
      },
      networkDown: (reason) => {
        // LCP renegotiation or an NCP going down: no IP until networkUp again (which says whether MPPE resumes).
        dataPlane.stopData(s);
        s.log.info({ reason }, 'network phase down');
        if (!s.closed) s.armDeadline(this.policy.limits.setupTimeoutMs, () => this.disconnect(s.callId, 'setup-timeout'));
      },
      resetRequested: () => dataPlane.mppeResetRequested(s),
      authFailed: ({ username, reason }) => this.emit('auth-failure', { user: username, peer: origin.peer, reason, at: Date.now() }),
      finished: (end: LinkEnd, reason) => {
        if (s.closed) return;
        s.endWith(end, reason);
        this.endSession(s, { keepCallId: true });
        this.lingerThenDisconnect(s);
      },
      log: s.log,
    });
  }

  /** The limit a new call from `origin` would exceed, or null. */
  private callLimitReached(origin: CallOrigin): keyof CallLimits | null {
    const l = this.policy.limits;
    if (this.sessions.size >= l.maxCalls) return 'maxCalls';
    if ((this.callsPerConnection.get(origin.connection) ?? 0) >= l.maxCallsPerConnection) return 'maxCallsPerConnection';
    if (this.unauthenticated >= l.maxUnauthenticatedCalls) return 'maxUnauthenticatedCalls';
    if ((this.unauthenticatedPerAddress.get(parseIpv4(origin.peer)) ?? 0) >= l.maxUnauthenticatedCallsPerAddress) return 'maxUnauthenticatedCallsPerAddress';
    return null;
  }

  private countUnauthenticated(address: number, delta: 1 | -1): void {
    this.unauthenticated += delta;
    const n = (this.unauthenticatedPerAddress.get(address) ?? 0) + delta;
    if (n > 0) this.unauthenticatedPerAddress.set(address, n);
    else this.unauthenticatedPerAddress.delete(address);
  }

  /** The session's address; null ends the link ('no-address', or 'address-refused' when the policy refused the static one). */
  private assignAddress(s: Session, staticAddress?: number): number | null {
    if (s.address !== null) return s.address; // IPCP renegotiation keeps the address
    const grant = this.options.addresses.allocate(staticAddress);
    if (!grant.ok) {
      const address = staticAddress === undefined ? undefined : formatIpv4(staticAddress);
      if (grant.why === 'refused') {
        const detail = `static address ${address} ${grant.refusal.reason}`;
        s.log.warn({ address, rule: grant.refusal.rule, why: grant.refusal.reason }, `login refused: ${detail}`);
        s.endWith('address-refused', detail);
      } else s.log.warn({ staticAddress: address, why: grant.why }, 'no address available');
      return null;
    }
    s.address = grant.address;
    return grant.address;
  }

  private armSessionTimer(s: Session): void {
    s.armSessionTimer(Date.now(), (limit) => this.disconnect(s.callId, 'session-timeout', `Session-Timeout of ${limit} s reached`));
  }

  /**
   * Every session's delivery, idle and flood checks, `sweepSlice` sessions per turn of the event loop:
   * the thread that runs it may also forward packets (dataPlane.threads 1), and one pass over thousands
   * of sessions at once held it for milliseconds (4.4 ms over 4 544 sessions; BENCHMARKS.md s11), longer
   * than the TUN queue lasts at a few hundred thousand packets a second.
   */
  private sweep(): void {
    if (this.sweeping !== null) return; // the last pass is still going
    const now = Date.now();
    const sessions = [...this.sessions.values()];
    let next = 0;
    const slice = (): void => {
      const end = Math.min(next + this.sweepSlice, sessions.length);
      for (; next < end; next++) {
        const s = sessions[next]!;
        if (!s.closed) this.sweepOne(s, now);
      }
      this.sweeping = next < sessions.length ? setImmediate(slice) : null;
    };
    slice();
  }

  private sweepOne(s: Session, now: number): void {
    const c = s.counters;
    const change = s.delivery.observe(c.rxFrames, c.rxPackets + c.rxControl);
    if (change === 'stuck') s.log.warn({ counters: copySessionCounters(c) }, 'session receives GRE but delivers nothing');
    else if (change === 'recovered') s.log.info({ counters: copySessionCounters(c) }, 'session delivers again');
    if (s.idleExpired(now)) this.disconnect(s.callId, 'idle-timeout', `Idle-Timeout of ${s.limits.idleTimeout} s reached`);
    const refused = s.refusedSinceLastSweep();
    if (refused > this.floodLimit) this.disconnect(s.callId, 'flood', `${refused} frames beyond its budgets since the last sweep`);
  }

  /** The session has ended; its call goes with our CDN after CALL_LINGER_MS unless the client clears it first. */
  private lingerThenDisconnect(s: Session): void {
    const timer = setTimeout(() => this.endLinger(s.callId, true), CALL_LINGER_MS);
    timer.unref();
    this.lingering.set(s.callId, { connection: s.connection, timer });
  }

  /** Ends a lingering call: our CDN (`notify`; a no-op if the connection has gone) and the Call ID back to the pool. */
  private endLinger(callId: number, notify: boolean): void {
    const call = this.lingering.get(callId);
    if (call === undefined) return;
    clearTimeout(call.timer);
    this.lingering.delete(callId);
    if (notify) call.connection.disconnectCall(callId, CallDisconnectResult.AdminShutdown);
    this.callIds.release(callId);
    this.quietWaiter?.();
  }

  /** `keepCallId`: the call lingers (lingerThenDisconnect), which releases the Call ID when it ends. */
  private endSession(s: Session, opts: { keepCallId?: boolean } = {}): void {
    if (s.closed) return;
    s.closed = true;
    s.dataReady = false;
    s.clearSessionTimer();
    s.clearDeadline();
    const onConnection = (this.callsPerConnection.get(s.connection) ?? 1) - 1;
    if (onConnection > 0) this.callsPerConnection.set(s.connection, onConnection);
    else this.callsPerConnection.delete(s.connection);
    if (!s.hasAuthenticated) this.countUnauthenticated(s.peerAddress, -1);
    this.options.dataPlane.unregister(s);
    this.sessions.delete(s.callId);
    if (opts.keepCallId !== true) this.callIds.release(s.callId);
    if (s.address !== null) this.options.addresses.release(s.address);
    const { cause, detail } = s.end ?? { cause: 'local-close', detail: endCauseText('local-close') };
    s.log.info({ cause, detail, seconds: Math.round((Date.now() - s.startedAt) / 1000), counters: s.counters }, 'session closed');
    this.emit('session-down', { ...summary(s), cause, detail, endedAt: Date.now() });
    this.quietWaiter?.();
  }
}

function authMethodLabel(s: Session): string {
  return s.link.authMethod === null ? 'none' : AUTH_METHOD_LABEL[s.link.authMethod];
}

function summary(s: Session): SessionSummary {
  const a = s.authorization;
  return {
    sessionId: s.sessionId,
    callId: s.callId,
    peerCallId: s.peerCallId,
    peer: formatIpv4(s.peerAddress),
    user: s.username,
    address: s.address === null ? null : formatIpv4(s.address),
    authMethod: authMethodLabel(s),
    mppe: s.mppeDescription,
    startedAt: s.startedAt,
    upAt: s.upAt,
    sessionTimeout: s.limits.sessionTimeout ?? null,
    idleTimeout: s.limits.idleTimeout ?? null,
    classes: a.classes ?? [],
    interimInterval: a.interimInterval ?? null,
    counters: copySessionCounters(s.counters),
    stuck: s.delivery.stuck,
  };
}
