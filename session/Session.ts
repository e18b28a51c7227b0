// One PPTP call = one PPP link = one session. This is where the layers meet: the control
// connection that owns the call, the GRE sequence state, the PPP control plane and the MPPE
// ciphers of the data path.
import type { Logger } from 'pino';
import type { ControlConnection } from '../pptp/ControlConnection.js';
import { GreSequencer } from '../gre/GreSequencer.js';
import type { PppLink } from '../ppp/PppLink.js';
import type { MppeDecryptor, MppeEncryptor } from '../ppp/mppe/MppeCipher.js';
import type { SessionAuthorization } from '../ppp/Authenticator.js';
import type { DataSession } from '../dataplane/DataPlane.js';
import { DeliveryWatch } from './DeliveryWatch.js';
import { newSessionCounters, type SessionCounters } from '../dataplane/SessionCounters.js';
import type { Framing } from '../ppp/PppProtocol.js';

/** Why a session ended, in RADIUS Acct-Terminate-Cause terms (RFC 2866 §5.10). */
export type TerminateCause = 'user-request' | 'lost-carrier' | 'idle-timeout' | 'session-timeout' | 'admin-reset' | 'nas-request' | 'nas-error' | 'auth-failed';

export type { SessionCounters } from '../dataplane/SessionCounters.js';

export class Session implements DataSession {
  readonly sequencer = new GreSequencer();
  readonly startedAt = Date.now();
  /** Plain numbers, or a shared-memory row when another thread carries the session's packets. */
  counters: SessionCounters = newSessionCounters();
  link!: PppLink;
  /** Assigned tunnel address (host-order u32) once IPCP gave one; the data path routes on it. */
  address: number | null = null;
  username: string | null = null;
  encryptor: MppeEncryptor | null = null;
  decryptor: MppeDecryptor | null = null;
  /** True between networkUp and teardown: IPv4 may flow (RFC 3078 §9: not before MPPE is up). */
  dataReady = false;
  mppeDescription = 'none';
  /** Policy: clear IPv4 (0x0021) is never accepted from this peer. */
  mppeRequired = true;
  /** The data plane's ack tick when an ack last fell due (DataSession.ackSince). */
  ackSince = 0;
  closed = false;
  /** Unique for the server's lifetime and across restarts: RADIUS Acct-Session-Id, panel key. */
  readonly sessionId: string;
  authorization: SessionAuthorization = {};
  /** When IPCP (and MPPE) came up; null before. */
  upAt: number | null = null;
  /** Set by whoever ends the session from our side, before the teardown starts. */
  terminateCause: TerminateCause | null = null;
  /** Idle tracking: traffic count at the last sweep and when it last changed. */
  idleMark = { packets: 0, since: Date.now() };
  /** Frames from the client against what was delivered of them, per sweep. */
  readonly delivery = new DeliveryWatch();
  sessionTimer: NodeJS.Timeout | null = null;
  /**
   * Control frames that arrived before the link started. LCP starts one turn after the
   * Outgoing-Call-Reply is written; a client (pppd) may send its Configure-Request as soon as it
   * reads that reply, and dropping it would cost a 3 s retransmission.
   */
  private early: Array<[number, Buffer]> | null = [];

  constructor(
    readonly callId: number,
    readonly peerCallId: number,
    /** The control connection's peer, host-order u32: GRE from any other source is dropped. */
    readonly peerAddress: number,
    readonly connection: ControlConnection,
    public log: Logger,
  ) {
    this.sessionId = `${Date.now().toString(16)}-${callId.toString(16).padStart(4, '0')}`;
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
}
