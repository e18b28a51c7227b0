// In-memory GreSocket for tests: packets are injected by hand or exchanged between sockets of
// one MemoryGreSocket.network(...). Delivery mirrors the native socket: batches of at most
// `slots` packets in a reused slab, one handler call per batch, never re-entrant (packets that
// arrive while the handler runs are queued and delivered after it returns).
import type { GreSocket, OutgoingGreBatch } from './GreSocket.js';
import { DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, PacketBatch, type ReaderStats } from './PacketBatch.js';

export interface InjectedGrePacket {
  /** Starts at the GRE header (no outer IPv4 header), as the native socket delivers it. */
  data: Buffer;
  /** Source address, host-order IPv4. */
  from: number;
}

export interface SentGrePacket {
  data: Buffer;
  to: number;
}

export interface MemoryGreSocketOptions {
  slots?: number;
  slotSize?: number;
}

export class MemoryGreSocket implements GreSocket {
  /** Copies of every packet passed to sendBatch, in order. */
  readonly sent: SentGrePacket[] = [];
  /** Handler calls so far. */
  batchesDelivered = 0;
  /** Packets longer than a slot (the native socket drops truncated datagrams too). */
  dropped = 0;
  private readonly batch: PacketBatch;
  private readonly queue: InjectedGrePacket[] = [];
  private handler: ((batch: PacketBatch) => void) | null = null;
  private delivering = false;
  private closed = false;
  private network: Map<number, MemoryGreSocket> | null = null;
  private pendingDeliveries = 0;

  constructor(
    /** This socket's own address: the source of what it sends to network peers. */
    readonly localAddr = 0,
    options: MemoryGreSocketOptions = {},
  ) {
    this.batch = new PacketBatch(options.slots ?? DEFAULT_SLOTS, options.slotSize ?? DEFAULT_SLOT_SIZE, 0);
  }

  /** Sockets that reach each other by address; delivery is asynchronous, like a network. */
  static network(addrs: number[], options: MemoryGreSocketOptions = {}): MemoryGreSocket[] {
    const net = new Map<number, MemoryGreSocket>();
    const sockets = addrs.map((a) => {
      if (net.has(a)) throw new Error(`MemoryGreSocket.network: duplicate address ${a}`);
      const s = new MemoryGreSocket(a, options);
      s.network = net;
      net.set(a, s);
      return s;
    });
    return sockets;
  }

  static pair(addrA: number, addrB: number, options: MemoryGreSocketOptions = {}): [MemoryGreSocket, MemoryGreSocket] {
    const [a, b] = MemoryGreSocket.network([addrA, addrB], options);
    return [a, b];
  }

  onBatch(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
    this.drain();
  }

  /**
   * Delivers packets now (queued until a handler exists or the running handler returns).
   * Returns the number of handler calls this made.
   */
  inject(packets: InjectedGrePacket[]): number {
    if (this.closed) return 0;
    for (const p of packets) this.queue.push({ data: Buffer.from(p.data), from: p.from >>> 0 });
    return this.drain();
  }

  sendBatch(batch: OutgoingGreBatch): number {
    if (this.closed) return 0;
    const byPeer = new Map<MemoryGreSocket, InjectedGrePacket[]>();
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const data = Buffer.from(batch.buf.subarray(off, off + batch.lengths[i]));
      const to = batch.addrs[i];
      this.sent.push({ data, to });
      const peer = this.network?.get(to);
      if (peer !== undefined && peer !== this) {
        let list = byPeer.get(peer);
        if (list === undefined) {
          list = [];
          byPeer.set(peer, list);
        }
        list.push({ data, from: this.localAddr });
      }
    }
    for (const [peer, packets] of byPeer) peer.deliverLater(packets);
    return batch.count;
  }

  readStats(): ReaderStats {
    return { dropped: this.dropped, errors: 0 };
  }

  /** Resolves once every packet sent inside this socket's network has been delivered. */
  async settle(): Promise<void> {
    const sockets = this.network === null ? [this] : [...this.network.values()];
    while (sockets.some((s) => s.pendingDeliveries > 0)) await new Promise<void>((r) => setImmediate(r));
  }

  close(): void {
    this.closed = true;
    this.handler = null;
    this.queue.length = 0;
    this.network?.delete(this.localAddr);
  }

  private deliverLater(packets: InjectedGrePacket[]): void {
    this.pendingDeliveries++;
    setImmediate(() => {
      this.pendingDeliveries--;
      this.inject(packets);
    });
  }

  private drain(): number {
    if (this.delivering || this.handler === null) return 0;
    const b = this.batch;
    let calls = 0;
    this.delivering = true;
    try {
      while (this.queue.length > 0 && this.handler !== null) {
        let n = 0;
        while (n < b.slots && this.queue.length > 0) {
          const p = this.queue.shift()!;
          if (p.data.length > b.slotSize) {
            this.dropped++;
            continue;
          }
          const off = n * b.slotSize;
          p.data.copy(b.buf, off);
          b.offsets[n] = off;
          b.lengths[n] = p.data.length;
          b.addrs[n] = p.from;
          n++;
        }
        if (n === 0) continue;
        b.count = n;
        calls++;
        this.batchesDelivered++;
        this.handler(b);
      }
    } finally {
      this.delivering = false;
    }
    return calls;
  }
}
