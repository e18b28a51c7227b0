// The hot path: GRE → PPP → MPPE → TUN and back, one batch at a time.
// Packets are decrypted and encrypted in place inside the batch slabs the native reader filled,
// and handed on by offset: no copy and no allocation per data packet. Control frames (LCP, CHAP,
// IPCP, CCP) are rare and are copied out to the PPP control plane.
import type { Logger } from 'pino';
import { GreHeaderView, GreParseResult, parseGreHeader, writeGreHeaderBefore } from '../gre/GreHeader.js';
import type { GreSocket } from '../io/GreSocket.js';
import type { PacketBatch } from '../io/PacketBatch.js';
import type { GreSequencer } from '../gre/GreSequencer.js';
import { MPPE_LIMITED, MPPE_RESET, MppeDecryptor, MppeEncryptor, type MppeBits } from '../ppp/mppe/MppeCipher.js';
import { type Framing, type PppFrameView, PppProtocol, isValidPppProtocol, parsePppFrame, writePppHeaderBefore } from '../ppp/PppProtocol.js';
import type { TunDevice } from '../io/TunDevice.js';
import { plainCounters, type SessionCounters } from './SessionCounters.js';
import { TokenBucket } from './TokenBucket.js';
import { AddressTable } from './AddressTable.js';

/** Room in front of a control frame for the GRE (16) and PPP (4) headers. */
const CONTROL_HEADROOM = 24;
/**
 * Ack-only packets (MS-PTPT §3.1.2 Packet Acknowledgment Timer, 100 ms): one timer ticks every
 * ACK_TICK_MS while acks are owed and sends those owed since before the previous tick, so an ack waits
 * 50-100 ms for data to carry it. Never one owed for less than a tick: a reply about to leave would
 * carry it, and an ack-only packet just before it costs the peer a packet and the reply a syscall.
 */
const ACK_TICK_MS = 50;
const ACK_TICKS = 2;

/** What one session may make a data-plane thread do, per second and at once. */
export interface SessionBudgets {
  /**
   * MPPE catch-up key changes (MppeCipher's KeyChangeBudget). Default: a burst that covers a loss of
   * 4096 packets at once, then 2048 a second (~3 ms of a core). A real link needs one per lost packet.
   */
  catchUpBurst: number;
  catchUpPerSecond: number;
  /**
   * PPP control frames: each is copied out and handled by the control plane in the main thread. A
   * handshake is some 20 frames, keepalive one per echo interval. Default 100 at once, 50 a second.
   */
  controlBurst: number;
  controlPerSecond: number;
}

export const DEFAULT_SESSION_BUDGETS: SessionBudgets = { catchUpBurst: 4096, catchUpPerSecond: 2048, controlBurst: 100, controlPerSecond: 50 };

/** Outgoing batch over someone else's slab: offsets into `buf`, filled per flush. */
class OutBatch {
  buf: Buffer = Buffer.alloc(0);
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly addrs: Uint32Array;
  count = 0;
  constructor(capacity: number) {
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.addrs = new Uint32Array(capacity);
  }
}

/**
 * What the downstream path reads per packet of one session, gathered in one object when the network phase
 * comes up (startData; a renegotiation builds a new one). Reading the session instead costs a chain of
 * dependent loads (session → link → LCP → framing, the session's counters) that with many sessions miss
 * the cache on every packet: perf put that chain at a fifth of `fromTun` (BENCHMARKS.md, s11). C keeps a
 * session in one struct for the same reason.
 */
class DownstreamRoute {
  /** False while the network phase is down (stopData): packets then count as the session's txDropped. */
  ready = true;
  readonly encryptor: MppeEncryptor | null;
  readonly sequencer: GreSequencer;
  readonly counters: SessionCounters;
  readonly peerCallId: number;
  readonly peerAddress: number;
  readonly acfc: boolean;
  readonly pfc: boolean;

  constructor(readonly session: DataSession) {
    this.encryptor = session.encryptor;
    this.sequencer = session.sequencer;
    this.counters = session.counters;
    this.peerCallId = session.peerCallId;
    this.peerAddress = session.peerAddress;
    const framing = session.framing; // LCP is opened and stays so until stopData
    this.acfc = framing.acfc;
    this.pfc = framing.pfc;
  }
}

/** IPv4 address at p as a host-order u32 (byte math: Buffer.readUInt32BE re-checks its range per call). */
function readAddress(buf: Buffer, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/**
 * What the packet path needs of a session: the Session itself in the main thread, its stand-in in a
 * data-plane thread (dataplane/DataPlaneShard.ts).
 */
export interface DataSession {
  readonly callId: number;
  readonly peerCallId: number;
  /** The control connection's peer, host-order u32: GRE from any other source is dropped. */
  readonly peerAddress: number;
  address: number | null;
  closed: boolean;
  /** True between networkUp and teardown: IPv4 may flow (RFC 3078 §9: not before MPPE is up). */
  dataReady: boolean;
  /** Policy: clear IPv4 (0x0021) is never accepted from this peer. */
  mppeRequired: boolean;
  encryptor: MppeEncryptor | null;
  decryptor: MppeDecryptor | null;
  readonly sequencer: GreSequencer;
  /** The data plane's ack tick when an ack last fell due (sequencer.ackOnlyDue() became true, RFC 2637 §4.2). */
  ackSince: number;
  readonly counters: SessionCounters;
  /** Negotiated LCP header compression (RFC 1661 §6.5, §6.6). */
  readonly framing: Framing;
  /** A PPP control frame from the peer (a private copy). */
  deliverControl(protocol: number, payload: Buffer): void;
  /** Stateful MPPE lost sync: CCP must send a Reset-Request (RFC 3078 §8). */
  requestMppeReset(): void;
}

/** MPPE as IPCP/CCP left it when the network phase came up. */
export interface DataMppe {
  sendKey: Buffer;
  recvKey: Buffer;
  bits: MppeBits;
  stateless: boolean;
  /** Keep the running ciphers (same keys, IPCP renegotiated): never restart them from the start keys (RFC 3078 §7.1). */
  resume: boolean;
}

/**
 * The data path as the PPTP server drives it: one DataPlane in this thread, or several spread over
 * threads (ShardedDataPlane). Sessions come and go through here, never by poking cipher fields.
 */
export interface DataPlanePort {
  register(session: DataSession): void;
  unregister(session: DataSession): void;
  /** One PPP control frame to the peer. */
  sendControl(session: DataSession, protocol: number, payload: Buffer): void;
  /** Network phase up (again): the address is routed to the session, IP flows, with fresh MPPE state. */
  startData(session: DataSession, address: number, mppe: DataMppe | null): void;
  /** Network phase down (LCP renegotiation, an NCP closed): no IP until startData again. */
  stopData(session: DataSession): void;
  /** The peer's CCP Reset-Request: the next packet we send restarts the stateful key stream. */
  mppeResetRequested(session: DataSession): void;
  /** Drop reasons summed over every thread. */
  readonly counters: DataPlaneCounters;
  /**
   * `listener` gets the sessions a failed data-plane thread carried: their MPPE and GRE state died with
   * it, so they must end. The data plane has already forgotten them. A plane in the main thread never fails alone.
   */
  onSessionsLost(listener: (sessions: DataSession[]) => void): void;
  /** Data-plane threads restarted after a failure. */
  readonly threadRestarts: number;
  close(): void;
}

/**
 * Packets the data path could not deliver, by reason (besides each session's own rxSpoofed,
 * rxUndecryptable, rxNotReady and txDropped): what reaches a thread either arrives or is counted here.
 */
export interface DataPlaneCounters {
  /** Discarded by the native GRE reader: truncated, or a malformed outer IPv4 header. */
  greReadDropped: number;
  /** Discarded by the native TUN reader: longer than a slot. */
  tunReadDropped: number;
  /** Transient read errors both readers rode out (a pending ICMP error, ...). */
  readErrors: number;
  /** Control frames between the main thread and a data-plane thread for a call that ended meanwhile. */
  controlDropped: number;
  greMalformed: number;
  greUnknownCall: number;
  greWrongSource: number;
  greOutOfOrder: number;
  /** GRE sequence numbers too far ahead to believe without a second packet (GreSequencer MAX_FORWARD). */
  greSeqJump: number;
  pppMalformed: number;
  tunNoSession: number;
  tunMalformed: number;
  /**
   * IPv6 from the TUN: the kernel's own (router solicitations, MLD reports) where IPv6 could not be turned off on
   * it (NativeTun.open); sessions carry IPv4 only (IPv6CP is Protocol-Rejected). Not malformed, so apart.
   */
  tunIpv6Dropped: number;
  tunWriteDropped: number;
  greSendDropped: number;
}

export const DATA_PLANE_COUNTER_NAMES: ReadonlyArray<keyof DataPlaneCounters> = [
  'greReadDropped',
  'tunReadDropped',
  'readErrors',
  'controlDropped',
  'greMalformed',
  'greUnknownCall',
  'greWrongSource',
  'greOutOfOrder',
  'greSeqJump',
  'pppMalformed',
  'tunNoSession',
  'tunMalformed',
  'tunIpv6Dropped',
  'tunWriteDropped',
  'greSendDropped',
];

export class DataPlane implements DataPlanePort {
  /** Each session's control-frame budget, kept as long as the session object lives. */
  private readonly controlBudgets = new WeakMap<DataSession, TokenBucket>();
  private readonly byCallId: Array<DataSession | undefined> = new Array(65536);
  private readonly byAddress = new AddressTable<DownstreamRoute>();
  private readonly gre = new GreHeaderView();
  private readonly frame: PppFrameView = { protocol: 0, offset: 0, length: 0 };
  private readonly toTun = new OutBatch(256);
  private readonly toGre = new OutBatch(256);
  private readonly single = new OutBatch(1);
  private readonly ackWaiters = new Set<DataSession>();
  private ackTimer: NodeJS.Timeout | null = null;
  private ackTick = 0;
  private closed = false;
  /** Written on the hot path; `counters` adds the readers' own counts on the way out. */
  private readonly drops: DataPlaneCounters;

  constructor(
    private readonly greSocket: GreSocket,
    private readonly tun: TunDevice,
    private readonly log: Logger,
    /** Where the drop counters live: a thread's own shared-memory view, or a plain object. */
    counters?: DataPlaneCounters,
    private readonly budgets: SessionBudgets = DEFAULT_SESSION_BUDGETS,
  ) {
    this.drops = counters ?? plainCounters(DATA_PLANE_COUNTER_NAMES);
    greSocket.onBatch((batch) => this.fromGre(batch));
    tun.onBatch((batch) => this.fromTun(batch));
  }

  get counters(): DataPlaneCounters {
    this.syncReadStats();
    return this.drops;
  }

  /** This plane runs in the caller's thread: it fails only with the process, never loses sessions alone. */
  onSessionsLost(_listener: (sessions: DataSession[]) => void): void {}

  readonly threadRestarts = 0;

  /** Copies the native readers' counts (kept outside JS) into the drop counters. */
  syncReadStats(): void {
    if (this.closed) return; // the readers are gone; their last counts stay
    const gre = this.greSocket.readStats();
    const tun = this.tun.readStats();
    this.drops.greReadDropped = gre.dropped;
    this.drops.tunReadDropped = tun.dropped;
    this.drops.readErrors = gre.errors + tun.errors;
  }

  /** A control frame for a call this thread no longer carries (it ended while the frame was on its way). */
  countControlDropped(): void {
    this.drops.controlDropped++;
  }

  register(session: DataSession): void {
    this.byCallId[session.callId] = session;
  }

  startData(session: DataSession, address: number, mppe: DataMppe | null): void {
    if (session.closed) return;
    if (mppe === null) {
      session.encryptor = null;
      session.decryptor = null;
    } else if (!mppe.resume || session.encryptor === null || session.decryptor === null) {
      session.encryptor = new MppeEncryptor(mppe.sendKey, mppe.bits, mppe.stateless);
      session.decryptor = new MppeDecryptor(mppe.recvKey, mppe.bits, mppe.stateless, new TokenBucket(this.budgets.catchUpBurst, this.budgets.catchUpPerSecond));
    }
    if (session.address !== null && session.address !== address) this.forgetAddress(session); // renegotiated to another
    session.address = address;
    this.byAddress.set(address, new DownstreamRoute(session));
    session.dataReady = true;
  }

  /** The ciphers stay: a network phase that comes back under the same keys resumes them (startData). */
  stopData(session: DataSession): void {
    session.dataReady = false;
    const route = this.routeOf(session);
    if (route !== undefined) route.ready = false;
  }

  private routeOf(session: DataSession): DownstreamRoute | undefined {
    if (session.address === null) return undefined;
    const route = this.byAddress.get(session.address);
    return route?.session === session ? route : undefined;
  }

  /** The session's address no longer leads to it (another session may hold it by now: then it stays theirs). */
  private forgetAddress(session: DataSession): void {
    if (this.routeOf(session) !== undefined) this.byAddress.delete(session.address as number);
  }

  mppeResetRequested(session: DataSession): void {
    session.encryptor?.onResetRequest();
  }

  unregister(session: DataSession): void {
    if (this.byCallId[session.callId] === session) this.byCallId[session.callId] = undefined;
    this.forgetAddress(session);
    this.ackWaiters.delete(session);
  }

  /** One PPP control frame to the peer (never encrypted: RFC 3078 §1 encrypts 0x0021..0x00FA only). */
  sendControl(session: DataSession, protocol: number, payload: Buffer): void {
    if (session.closed) return;
    const buf = Buffer.allocUnsafe(CONTROL_HEADROOM + payload.length);
    payload.copy(buf, CONTROL_HEADROOM);
    const pppStart = writePppHeaderBefore(buf, CONTROL_HEADROOM, protocol, session.framing.acfc, session.framing.pfc);
    this.sendFrame(session, buf, pppStart, buf.length - pppStart);
  }

  private sendFrame(session: DataSession, buf: Buffer, start: number, length: number): void {
    const ack = session.sequencer.pendingAck();
    const greStart = writeGreHeaderBefore(buf, start, session.peerCallId, length, session.sequencer.nextSeq(), ack);
    const out = this.single;
    out.buf = buf;
    out.offsets[0] = greStart;
    out.lengths[0] = start + length - greStart;
    out.addrs[0] = session.peerAddress;
    out.count = 1;
    if (this.greSocket.sendBatch(out) < 1) this.drops.greSendDropped++;
  }

  private fromGre(batch: PacketBatch): void {
    const buf = batch.buf;
    const gre = this.gre;
    const frame = this.frame;
    const out = this.toTun;
    out.buf = buf;
    out.count = 0;
    for (let i = 0; i < batch.count; i++) {
      if (parseGreHeader(buf, batch.offsets[i], batch.lengths[i], gre) !== GreParseResult.Ok) {
        this.drops.greMalformed++;
        continue;
      }
      const s = this.byCallId[gre.callId];
      if (s === undefined) {
        this.drops.greUnknownCall++;
        continue;
      }
      if (s.peerAddress !== batch.addrs[i]) {
        // As Linux lookup_chan does: only the control connection's peer may feed this call (NAT helpers keep it).
        this.drops.greWrongSource++;
        continue;
      }
      if (gre.hasAck) s.sequencer.onAck(gre.ack);
      if (gre.payloadLength === 0) continue; // ack-only
      s.counters.rxFrames++;
      if (!gre.hasSeq) {
        this.drops.greMalformed++; // a payload needs a sequence number (RFC 2637 §4.1)
        continue;
      }
      const ackWasDue = s.sequencer.ackOnlyDue();
      if (!s.sequencer.acceptSeq(gre.seq)) {
        // RFC 2637 §4.3: never hand PPP an older frame (stateless MPPE can only step forward); a number
        // far ahead waits for a second packet to confirm it.
        if (s.sequencer.lastRefusalWasJump) this.drops.greSeqJump++;
        else this.drops.greOutOfOrder++;
        continue;
      }
      if (!ackWasDue) {
        s.ackSince = this.ackTick; // an ack falls due now (RFC 2637 §4.2)
        this.ackWaiters.add(s);
      }
      if (!parsePppFrame(buf, gre.payloadOffset, gre.payloadLength, frame)) {
        this.drops.pppMalformed++;
        continue;
      }
      this.fromPeer(s, buf, frame.protocol, frame.offset, frame.length, out);
    }
    if (out.count > 0) {
      const written = this.tun.writeBatch(out);
      if (written < out.count) this.drops.tunWriteDropped += out.count - written;
    }
    this.armAckTimer();
  }

  private fromPeer(s: DataSession, buf: Buffer, protocol: number, off: number, len: number, out: OutBatch): void {
    if (protocol === PppProtocol.Mppe) {
      const d = s.decryptor;
      // Not decrypted while the network phase is down: the ciphers only move for packets that count.
      if (d === null || !s.dataReady) {
        s.counters.rxNotReady++;
        return;
      }
      const n = d.decrypt(buf, off, len);
      if (n < 0) {
        if (n === MPPE_LIMITED) {
          s.counters.rxRekeyLimited++;
          return;
        }
        s.counters.rxUndecryptable++;
        if (n === MPPE_RESET) s.requestMppeReset(); // RFC 3078 §8: stateful resync
        return;
      }
      // Inner protocol: one octet when odd (PFC), else two (Linux mppe_decompress).
      let p = off + 2;
      let inner = buf[p];
      if ((inner & 1) === 1) p += 1;
      else {
        inner = (inner << 8) | buf[p + 1];
        p += 2;
      }
      const dataLen = n - (p - off - 2);
      if (dataLen < 0 || !isValidPppProtocol(inner)) {
        // A plaintext shorter than its protocol field: never read past it (the slab holds other sessions' data).
        this.drops.pppMalformed++;
        return;
      }
      if (inner === PppProtocol.IPv4) this.toTunnel(s, buf, p, dataLen, out);
      else this.toControl(s, inner, buf, p, dataLen);
      return;
    }
    if (protocol === PppProtocol.IPv4) {
      if (s.decryptor !== null || s.mppeRequired || !s.dataReady) {
        s.counters.rxNotReady++; // RFC 3078 §9: clear IP is refused once encryption is in force
        return;
      }
      this.toTunnel(s, buf, off, len, out);
      return;
    }
    this.toControl(s, protocol, buf, off, len);
  }

  private toControl(s: DataSession, protocol: number, buf: Buffer, off: number, len: number): void {
    let budget = this.controlBudgets.get(s);
    if (budget === undefined) {
      budget = new TokenBucket(this.budgets.controlBurst, this.budgets.controlPerSecond);
      this.controlBudgets.set(s, budget);
    }
    if (!budget.take()) {
      s.counters.rxControlLimited++;
      return;
    }
    s.counters.rxControl++;
    s.deliverControl(protocol, Buffer.from(buf.subarray(off, off + len)));
  }

  /** An IP packet from the client, its session's network phase up (both callers checked dataReady). */
  private toTunnel(s: DataSession, buf: Buffer, p: number, len: number, out: OutBatch): void {
    // Anti-spoofing: an IPv4 header whose source is the session's own address, nothing else.
    if (len < 20 || buf[p] >> 4 !== 4 || readAddress(buf, p + 12) !== s.address) {
      s.counters.rxSpoofed++;
      return;
    }
    s.counters.rxPackets++;
    s.counters.rxBytes += len;
    const k = out.count++;
    out.offsets[k] = p;
    out.lengths[k] = len;
  }

  private fromTun(batch: PacketBatch): void {
    const buf = batch.buf;
    const out = this.toGre;
    out.buf = buf;
    out.count = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      if (len < 20 || buf[off] >> 4 !== 4) {
        if (len > 0 && buf[off] >> 4 === 6) this.drops.tunIpv6Dropped++;
        else this.drops.tunMalformed++;
        continue;
      }
      const r = this.byAddress.get(readAddress(buf, off + 16));
      if (r === undefined) {
        this.drops.tunNoSession++;
        continue;
      }
      if (!r.ready) {
        r.counters.txDropped++; // network phase down (renegotiation): no IP to the client
        continue;
      }
      let start = off;
      let plen = len;
      let protocol: number = PppProtocol.IPv4;
      const e = r.encryptor;
      if (e !== null) {
        // [MPPE header 2][inner protocol 2][IP packet], encrypted in place in the slab's headroom.
        buf[off - 2] = 0x00;
        buf[off - 1] = 0x21;
        e.encrypt(buf, off - 2, len + 2);
        start = off - 4;
        plen = len + 4;
        protocol = PppProtocol.Mppe;
      }
      const pppStart = writePppHeaderBefore(buf, start, protocol, r.acfc, r.pfc);
      plen += start - pppStart;
      const sequencer = r.sequencer;
      const ack = sequencer.pendingAck();
      const greStart = writeGreHeaderBefore(buf, pppStart, r.peerCallId, plen, sequencer.nextSeq(), ack);
      const k = out.count++;
      out.offsets[k] = greStart;
      out.lengths[k] = pppStart + plen - greStart;
      out.addrs[k] = r.peerAddress;
      r.counters.txPackets++;
      r.counters.txBytes += len;
    }
    if (out.count > 0) {
      const sent = this.greSocket.sendBatch(out);
      if (sent < out.count) this.drops.greSendDropped += out.count - sent;
    }
  }

  /** Acks that no data packet carried go out alone (RFC 2637 §4.2, [MS-PTPT] §3.1.2), ACK_TICKS ticks after they fell due. */
  private armAckTimer(): void {
    if (this.ackTimer !== null || this.ackWaiters.size === 0) return;
    this.ackTimer = setTimeout(() => this.onAckTick(), ACK_TICK_MS);
  }

  private onAckTick(): void {
    this.ackTimer = null;
    const tick = ++this.ackTick;
    for (const s of this.ackWaiters) {
      if (!s.sequencer.ackOnlyDue() || s.closed) {
        this.ackWaiters.delete(s);
        continue;
      }
      if (tick - s.ackSince < ACK_TICKS) continue;
      this.ackWaiters.delete(s);
      const ack = s.sequencer.pendingAck();
      const buf = Buffer.allocUnsafe(12);
      writeGreHeaderBefore(buf, 12, s.peerCallId, 0, -1, ack);
      const out = this.single;
      out.buf = buf;
      out.offsets[0] = 0;
      out.lengths[0] = 12;
      out.addrs[0] = s.peerAddress;
      out.count = 1;
      if (this.greSocket.sendBatch(out) < 1) this.drops.greSendDropped++;
    }
    this.armAckTimer();
  }

  close(): void {
    if (this.closed) return;
    this.syncReadStats();
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.greSocket.close();
    this.tun.close();
    this.log.debug({ counters: this.counters }, 'data plane closed');
  }
}
