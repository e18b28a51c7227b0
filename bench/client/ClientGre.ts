// The load generator's one raw GRE socket, shared by every session: received packets are handed to
// the session owning the Call ID (the server puts our Call ID in the header, RFC 2637 §4.1); frames
// to send are queued and leave in one sendmmsg batch per event-loop turn.
import { GreHeaderView, GreParseResult, parseGreHeader, writeGreHeaderBefore } from '../../gre/GreHeader.js';
import type { GreSocket } from '../../io/GreSocket.js';
import type { PacketBatch } from '../../io/PacketBatch.js';

/** GRE (16) + PPP (4) + MPPE (4) headers in front of a payload. */
export const CLIENT_HEADROOM = 24;
const QUEUE_SLOTS = 256;
const SLOT_SIZE = 2048;

export interface GreReceiver {
  /** A GRE packet for this call: PPP frame at buf[off, off+len), seq -1 when absent. */
  onGre(buf: Buffer, off: number, len: number, seq: number, ack: number): void;
}

export class ClientGre {
  private readonly byCallId: Array<GreReceiver | undefined> = new Array(65536);
  private readonly view = new GreHeaderView();
  private readonly out = {
    buf: Buffer.alloc(QUEUE_SLOTS * SLOT_SIZE),
    offsets: new Uint32Array(QUEUE_SLOTS),
    lengths: new Uint32Array(QUEUE_SLOTS),
    addrs: new Uint32Array(QUEUE_SLOTS),
    count: 0,
  };
  private flushScheduled = false;
  /** false: the caller flushes itself (the latency bench sends at once, not a turn later). */
  deferFlush = true;
  readonly counters = { received: 0, unknownCall: 0, malformed: 0, sent: 0, sendDropped: 0 };
  /** performance.now() when the batch being delivered reached JavaScript (the latency bench's clock). */
  batchAt = 0;

  /** Over a raw GRE socket (RawGreSocket.open(address, { slots: 256 })) or its in-memory twin in tests. */
  constructor(private readonly socket: GreSocket) {
    this.socket.onBatch((batch) => this.fromNetwork(batch));
  }

  register(callId: number, receiver: GreReceiver): void {
    this.byCallId[callId] = receiver;
  }

  unregister(callId: number): void {
    this.byCallId[callId] = undefined;
  }

  /**
   * Reserves a slot; the caller writes its PPP frame ending at the returned offset's slot end and
   * calls commit(). Returns the offset where the payload may start (CLIENT_HEADROOM into the slot).
   */
  slotFor(): number {
    if (this.out.count === QUEUE_SLOTS) this.flush();
    return this.out.count * SLOT_SIZE + CLIENT_HEADROOM;
  }

  get buffer(): Buffer {
    return this.out.buf;
  }

  /** Puts the GRE header before the PPP frame at [pppStart, pppStart+len) of the reserved slot. */
  commit(pppStart: number, len: number, peerCallId: number, seq: number, ack: number, peer: number): void {
    const o = this.out;
    const start = writeGreHeaderBefore(o.buf, pppStart, peerCallId, len, seq, ack);
    o.offsets[o.count] = start;
    o.lengths[o.count] = pppStart + len - start;
    o.addrs[o.count] = peer;
    o.count++;
    if (this.deferFlush && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    const o = this.out;
    if (o.count === 0) return;
    const sent = this.socket.sendBatch(o);
    this.counters.sent += sent;
    this.counters.sendDropped += o.count - sent;
    o.count = 0;
  }

  private fromNetwork(batch: PacketBatch): void {
    this.batchAt = performance.now();
    const v = this.view;
    for (let i = 0; i < batch.count; i++) {
      if (parseGreHeader(batch.buf, batch.offsets[i]!, batch.lengths[i]!, v) !== GreParseResult.Ok) {
        this.counters.malformed++;
        continue;
      }
      const r = this.byCallId[v.callId];
      if (r === undefined) {
        this.counters.unknownCall++;
        continue;
      }
      this.counters.received++;
      r.onGre(batch.buf, v.payloadOffset, v.payloadLength, v.hasSeq ? v.seq : -1, v.hasAck ? v.ack : -1);
    }
  }

  close(): void {
    this.flush();
    this.socket.close();
  }
}
