// One PPTP call = one PPP link = one session. This is where the layers meet: the control
// connection that owns the call, the GRE sequence state, the PPP control plane and the MPPE
// ciphers of the data path. Built whole in one step; the session manager changes its state through
// the methods below. The fields the data plane drives per packet (DataSession) stay plain fields.
import type { Logger } from 'pino';
import type { DataSession } from '../dataplane/DataPlane.js';
import { newSessionCounters, type SessionCounters } from '../dataplane/SessionCounters.js';
import { GreSequencer } from '../gre/GreSequencer.js';
import type { SessionAuthorization } from '../ppp/Authenticator.js';
import type { MppeDecryptor, MppeEncryptor } from '../ppp/mppe/MppeCipher.js';
import type { PppLink } from '../ppp/PppLink.js';
import type { Framing } from '../ppp/PppProtocol.js';
import type { ControlConnection } from '../pptp/ControlConnection.js';
import { DeliveryWatch } from './DeliveryWatch.js';
import type { EndCause } from './EndCause.js';

export type { SessionCounters } from '../dataplane/SessionCounters.js';

/** Session-Timeout and Idle-Timeout in force, seconds (RFC 2865 §5.27, §5.28); absent: no limit. */
export interface SessionLimits {
  sessionTimeout?: number;
  idleTimeout?: number;
}

export interface SessionInit {
  callId: number;
  peerCallId: number;
  /** The control connection's peer, host-order u32: GRE from any other source is dropped. */
  peerAddress: number;
  connection: ControlConnection;
  log: Logger;
  /** Policy: clear IPv4 (0x0021) is never accepted from this peer. */
  mppeRequired: boolean;
  /** Builds the session's PPP link; its hooks reach the session they are given. */
  link(session: Session): PppLink;
}

export class Session implements DataSession {
  readonly callId: number;
  readonly peerCallId: number;
  readonly peerAddress: number;
  readonly connection: ControlConnection;
  readonly mppeRequired: boolean;
  readonly link: PppLink;
  readonly sequencer = new GreSequencer();
  readonly startedAt = Date.now();
  /** Unique for the server's lifetime and across restarts: RADIUS Acct-Session-Id, panel key. */
  readonly sessionId: string;
  /** Frames from the client against what was delivered of them, per sweep. */
  readonly delivery = new DeliveryWatch();
  /** Plain numbers, or a shared-memory row when another thread carries the session's packets. */
  counters: SessionCounters = newSessionCounters();
  // --- driven by the data plane (DataSession) ---
  /** Assigned tunnel address (host-order u32) once IPCP gave one; the data path routes on it. */
  address: number | null = null;
  encryptor: MppeEncryptor | null = null;
  decryptor: MppeDecryptor | null = null;
  /** True between networkUp and teardown: IPv4 may flow (RFC 3078 §9: not before MPPE is up). */
  dataReady = false;
  /** The data plane's ack tick when an ack last fell due (DataSession.ackSince). */
  ackSince = 0;
  closed = false;
  // --- driven by the session manager, through the methods below ---
  private logger: Logger;
  private user: string | null = null;
  private limitsInForce: SessionLimits = {};
  private backendAuthorization: SessionAuthorization = {};
  private mppeText = 'none';
  private networkUpAt: number | null = null;
  private ending: { cause: EndCause; detail: string } | null = null;
  /** Idle tracking: traffic count at the last sweep and when it last changed. */
  private idleMark = { packets: 0, since: Date.now() };
  private sessionTimer: NodeJS.Timeout | null = null;
  /** Runs out when the network phase is not (back) up in time (SessionManager's setup deadline). */
  private deadline: NodeJS.Timeout | null = null;
  private authenticatedOnce = false;
  /** Frames refused by the data plane's budgets, at the last sweep. */
  private refusedMark = 0;
  /**
   * Control frames that arrived before the link started. LCP starts one turn after the
   * Outgoing-Call-Reply is written; a client (pppd) may send its Configure-Request as soon as it
   * reads that reply, and dropping it would cost a 3 s retransmission.
   */
  private early: Array<[number, Buffer]> | null = [];

  constructor(init: SessionInit) {
    this.callId = init.callId;
    this.peerCallId = init.peerCallId;
    this.peerAddress = init.peerAddress;
    this.connection = init.connection;
    this.mppeRequired = init.mppeRequired;
    this.logger = init.log;
    this.sessionId = `${Date.now().toString(16)}-${init.callId.toString(16).padStart(4, '0')}`;
    this.link = init.link(this);
  }

  get log(): Logger {
    return this.logger;
  }

  get username(): string | null {
    return this.user;
  }

  get limits(): Readonly<SessionLimits> {
    return this.limitsInForce;
  }

  /** What the backend granted besides the limits (Class, Acct-Interim-Interval). */
  get authorization(): Readonly<SessionAuthorization> {
    return this.backendAuthorization;
  }

  get mppeDescription(): string {
    return this.mppeText;
  }

  /** When the network phase first came up; null before. */
  get upAt(): number | null {
    return this.networkUpAt;
  }

  /** Why the session ends, set by whoever ended it first; null while it lives. */
  get end(): { cause: EndCause; detail: string } | null {
    return this.ending;
  }

  /** A PPP control frame for the link (already a private copy). */
  deliverControl(protocol: number, payload: Buffer): void {
    if (this.early === null) this.link.input(protocol, payload);
    else if (this.early.length < 16) this.early.push([protocol, payload]);
  }

  get framing(): Framing {
    return this.link.framing;
  }

  requestMppeReset(): void {
    this.link.sendCcpResetRequest();
  }

  /** Starts LCP and hands it whatever the peer sent meanwhile. */
  startLink(): void {
    const early = this.early ?? [];
    this.early = null;
    this.link.start();
    for (const [protocol, payload] of early) this.link.input(protocol, payload);
  }

  /** Whether the peer has authenticated at least once (calls not yet authenticated are limited). */
  get hasAuthenticated(): boolean {
    return this.authenticatedOnce;
  }

  /** Arms the setup deadline; a deadline already running is kept (renegotiating never extends it). */
  armDeadline(ms: number, fire: () => void): void {
    if (this.deadline !== null) return;
    this.deadline = setTimeout(fire, ms);
    this.deadline.unref();
  }

  clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** The peer proved who it is; the backend's grant applies from now on. */
  authenticated(username: string, authorization: SessionAuthorization): void {
    // Bound once: a re-authentication (LCP renegotiation) is the same user (else user-changed), and a
    // second child binding would write `user` twice on every line.
    if (!this.authenticatedOnce) this.logger = this.logger.child({ user: username });
    this.authenticatedOnce = true;
    this.user = username;
    this.backendAuthorization = { ...authorization };
    this.limitsInForce = {
      ...(authorization.sessionTimeout !== undefined ? { sessionTimeout: authorization.sessionTimeout } : {}),
      ...(authorization.idleTimeout !== undefined ? { idleTimeout: authorization.idleTimeout } : {}),
    };
  }

  /** First network-phase up (IPCP and, when required, MPPE): the session's accounting starts. */
  networkUp(mppe: { bits: number; stateless: boolean } | null, now: number): void {
    if (mppe) this.mppeText = `MPPE-${mppe.bits} ${mppe.stateless ? 'stateless' : 'stateful'}`;
    if (this.networkUpAt !== null) return;
    this.networkUpAt = now;
    this.idleMark = { packets: this.counters.rxPackets + this.counters.txPackets, since: now };
  }

  /** null removes a limit; undefined leaves it. */
  changeLimits(changes: { sessionTimeout?: number | null; idleTimeout?: number | null }): void {
    const next: SessionLimits = { ...this.limitsInForce };
    for (const key of ['sessionTimeout', 'idleTimeout'] as const) {
      const v = changes[key];
      if (v === null) delete next[key];
      else if (v !== undefined) next[key] = v;
    }
    this.limitsInForce = next;
  }

  /** The first cause wins: a stop we started is not renamed by the teardown it causes. */
  endWith(cause: EndCause, detail: string): void {
    this.ending ??= { cause, detail };
  }

  /** Runs `fire` when Session-Timeout runs out, counted from the network phase (RFC 2865 §5.27). */
  armSessionTimer(now: number, fire: (limit: number) => void): void {
    this.clearSessionTimer();
    const limit = this.limitsInForce.sessionTimeout;
    if (limit === undefined || this.networkUpAt === null) return;
    const remaining = Math.max(0, this.networkUpAt + limit * 1000 - now);
    this.sessionTimer = setTimeout(() => fire(limit), remaining);
    this.sessionTimer.unref();
  }

  clearSessionTimer(): void {
    if (this.sessionTimer) clearTimeout(this.sessionTimer);
    this.sessionTimer = null;
  }

  /** Frames the data plane refused for exceeding the session's budgets since the last call (one per sweep). */
  refusedSinceLastSweep(): number {
    const refused = this.counters.rxRekeyLimited + this.counters.rxControlLimited;
    const since = refused - this.refusedMark;
    this.refusedMark = refused;
    return since;
  }

  /** True when Idle-Timeout has run out: no packet either way since the limit (swept, RFC 2865 §5.28). */
  idleExpired(now: number): boolean {
    const packets = this.counters.rxPackets + this.counters.txPackets;
    if (packets !== this.idleMark.packets) {
      this.idleMark = { packets, since: now };
      return false;
    }
    const limit = this.limitsInForce.idleTimeout;
    return limit !== undefined && this.networkUpAt !== null && now - Math.max(this.idleMark.since, this.networkUpAt) >= limit * 1000;
  }
}
