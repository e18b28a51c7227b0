// In-memory TunDevice for tests: inject() plays the kernel routing packets into the TUN,
// `written` records copies of what the server wrote, `routes` what it routed. Delivery mirrors
// NativeTun: batches of at most `slots`, each packet after `headroom` octets, never re-entrant.
import { DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, PacketBatch, type ReaderStats } from './PacketBatch.js';
import type { OutgoingTunBatch, TunDevice } from './TunDevice.js';

export interface MemoryTunOptions {
  slots?: number;
  slotSize?: number;
  headroom?: number;
}

export class MemoryTun implements TunDevice {
  /** Copies of every packet passed to writeBatch, in order. */
  readonly written: Buffer[] = [];
  /** Current routes as "a.b.c.d/len" keys with their numeric form. */
  readonly routes = new Map<string, { addr: number; prefixLen: number }>();
  batchesDelivered = 0;
  /** Packets longer than a slot's capacity (the kernel would not send them past the MTU). */
  dropped = 0;
  private readonly batch: PacketBatch;
  private readonly queue: Buffer[] = [];
  private handler: ((batch: PacketBatch) => void) | null = null;
  private delivering = false;
  private closed = false;

  constructor(
    readonly name = 'memtun0',
    options: MemoryTunOptions = {},
  ) {
    this.batch = new PacketBatch(options.slots ?? DEFAULT_SLOTS, options.slotSize ?? DEFAULT_SLOT_SIZE, options.headroom ?? DEFAULT_HEADROOM);
  }

  onBatch(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
    this.drain();
  }

  /** IPv4 packets "from the kernel"; returns the number of handler calls this made. */
  inject(packets: Buffer[]): number {
    if (this.closed) return 0;
    for (const p of packets) this.queue.push(Buffer.from(p));
    return this.drain();
  }

  writeBatch(batch: OutgoingTunBatch): number {
    if (this.closed) return 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      this.written.push(Buffer.from(batch.buf.subarray(off, off + batch.lengths[i])));
    }
    return batch.count;
  }

  readStats(): ReaderStats {
    return { dropped: this.dropped, errors: 0 };
  }

  addRoute(addr: number, prefixLen: number): void {
    const key = routeKey(addr, prefixLen);
    this.routes.set(key.text, key.route);
  }

  delRoute(addr: number, prefixLen: number): void {
    this.routes.delete(routeKey(addr, prefixLen).text);
  }

  close(): void {
    this.closed = true;
    this.handler = null;
    this.queue.length = 0;
    this.routes.clear();
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
          if (p.length > b.capacity) {
            this.dropped++;
            continue;
          }
          const off = b.slotStart(n);
          p.copy(b.buf, off);
          b.offsets[n] = off;
          b.lengths[n] = p.length;
          b.addrs[n] = 0;
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

/** Routes are keyed by network (host bits cleared), as the kernel stores them. */
function routeKey(addr: number, prefixLen: number): { text: string; route: { addr: number; prefixLen: number } } {
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) throw new RangeError(`prefixLen must be 0..32, got ${prefixLen}`);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  const net = (addr & mask) >>> 0;
  const text = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${prefixLen}`;
  return { text, route: { addr: net, prefixLen } };
}
