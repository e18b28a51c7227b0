// One data-plane thread's side of ShardedDataPlane: a DataPlane over the thread's own GRE socket
// (which the kernel filters to this shard's Call IDs) and TUN queue (steered to it by destination
// address), driven by messages from the main thread, where the PPP control plane lives.
//
// The thread owns everything of its sessions' packets: GRE sequence numbers (so control frames
// from the main thread go out through here, in order with data), MPPE state, counters (in shared
// memory, read by the main thread). What it cannot decide goes back as a message: a control frame
// from the peer, a stateful MPPE resync.
import type { Logger } from 'pino';
import { GreSequencer } from '../gre/GreSequencer.js';
import type { GreSocket } from '../io/GreSocket.js';
import type { MppeDecryptor, MppeEncryptor } from '../ppp/mppe/MppeCipher.js';
import { DATA_PLANE_COUNTER_NAMES, DataPlane, type DataMppe, type DataPlaneCounters, type DataSession } from './DataPlane.js';
import { type SessionCounters, sessionCounterView, sharedCounterClass } from './SessionCounters.js';
import type { TunDevice } from '../io/TunDevice.js';
import type { Framing } from '../ppp/PppProtocol.js';

/** Main thread → data-plane thread. Buffers arrive as Uint8Array (structured clone). */
export type ToShard =
  | { t: 'register'; callId: number; peerCallId: number; peerAddress: number; mppeRequired: boolean }
  | { t: 'control'; callId: number; protocol: number; payload: Uint8Array; framing: Framing }
  | { t: 'up'; callId: number; address: number; mppe: DataMppe | null; framing: Framing }
  | { t: 'down'; callId: number }
  | { t: 'mppe-reset-requested'; callId: number }
  | { t: 'unregister'; callId: number }
  | { t: 'close' };

/** Data-plane thread → main thread. */
export type FromShard = { t: 'control'; callId: number; protocol: number; payload: Uint8Array } | { t: 'mppe-reset'; callId: number } | { t: 'closed' };

/** The channel to the other side: a worker's parentPort, or a MessagePort in tests. */
export interface ShardChannel<In, Out> {
  postMessage(message: Out): void;
  on(event: 'message', listener: (message: In) => void): unknown;
}

/** Shared memory the main thread hands each data-plane thread. */
export interface ShardMemory {
  /** Session counter rows by Call ID (newSessionCounterCells). */
  sessionCells: Float64Array;
  /** This thread's drop counters (DATA_PLANE_COUNTER_NAMES). */
  planeCells: Float64Array;
}

export function newPlaneCounterCells(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(DATA_PLANE_COUNTER_NAMES.length * 8));
}

const SharedPlaneCounters = sharedCounterClass<DataPlaneCounters>(DATA_PLANE_COUNTER_NAMES);

export function planeCounterView(cells: Float64Array): DataPlaneCounters {
  return new SharedPlaneCounters(cells, 0);
}

/** A session as the data-plane thread knows it. */
class ShardSession implements DataSession {
  readonly sequencer = new GreSequencer();
  address: number | null = null;
  closed = false;
  dataReady = false;
  encryptor: MppeEncryptor | null = null;
  decryptor: MppeDecryptor | null = null;
  ackSince = 0;
  framing: Framing = { acfc: false, pfc: false };

  constructor(
    readonly callId: number,
    readonly peerCallId: number,
    readonly peerAddress: number,
    public mppeRequired: boolean,
    readonly counters: SessionCounters,
    private readonly channel: ShardChannel<ToShard, FromShard>,
  ) {}

  deliverControl(protocol: number, payload: Buffer): void {
    this.channel.postMessage({ t: 'control', callId: this.callId, protocol, payload: exactCopy(payload) });
  }

  requestMppeReset(): void {
    this.channel.postMessage({ t: 'mppe-reset', callId: this.callId });
  }
}

/**
 * A copy with an ArrayBuffer of its own: structured clone copies a view's whole ArrayBuffer, and a
 * small Buffer is a view into Node's shared 8 KiB pool.
 */
export function exactCopy(u: Uint8Array): Uint8Array {
  return new Uint8Array(u);
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** How often a thread copies its native readers' counts into the shared drop counters. */
const READ_STATS_MS = 1000;

export class DataPlaneShard {
  private readonly plane: DataPlane;
  private readonly sessions = new Map<number, ShardSession>();
  private readonly readStatsTimer: NodeJS.Timeout;

  constructor(
    private readonly channel: ShardChannel<ToShard, FromShard>,
    gre: GreSocket,
    tun: TunDevice,
    private readonly memory: ShardMemory,
    private readonly log: Logger,
  ) {
    this.plane = new DataPlane(gre, tun, log, planeCounterView(memory.planeCells));
    this.readStatsTimer = setInterval(() => this.syncReadStats(), READ_STATS_MS);
    this.readStatsTimer.unref();
    channel.on('message', (m) => this.onMessage(m));
  }

  /** Publishes the native readers' counts to the shared drop counters the main thread sums. */
  syncReadStats(): void {
    this.plane.syncReadStats();
  }

  private onMessage(m: ToShard): void {
    if (m.t === 'close') {
      clearInterval(this.readStatsTimer);
      this.plane.close();
      this.channel.postMessage({ t: 'closed' });
      return;
    }
    if (m.t === 'register') {
      const old = this.sessions.get(m.callId);
      if (old) this.drop(old);
      const s = new ShardSession(m.callId, m.peerCallId, m.peerAddress, m.mppeRequired, sessionCounterView(this.memory.sessionCells, m.callId), this.channel);
      this.sessions.set(m.callId, s);
      this.plane.register(s);
      return;
    }
    const s = this.sessions.get(m.callId);
    if (s === undefined) {
      // Normal after 'unregister' raced a frame; anything else is a bug worth seeing.
      if (m.t === 'control') this.plane.countControlDropped();
      this.log.debug({ callId: m.callId, message: m.t }, 'data-plane thread: message for an unknown call');
      return;
    }
    switch (m.t) {
      case 'control':
        s.framing = m.framing;
        this.plane.sendControl(s, m.protocol, asBuffer(m.payload));
        break;
      case 'up':
        s.framing = m.framing;
        this.plane.startData(s, m.address, m.mppe === null ? null : { ...m.mppe, sendKey: asBuffer(m.mppe.sendKey), recvKey: asBuffer(m.mppe.recvKey) });
        break;
      case 'down':
        this.plane.stopData(s);
        break;
      case 'mppe-reset-requested':
        this.plane.mppeResetRequested(s);
        break;
      case 'unregister':
        this.drop(s);
        break;
    }
  }

  private drop(s: ShardSession): void {
    s.closed = true;
    s.dataReady = false;
    this.plane.unregister(s);
    this.sessions.delete(s.callId);
  }
}
