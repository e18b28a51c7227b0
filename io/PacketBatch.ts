// A batch of packets in one slab, the unit that crosses between the native reader and JS
// (wireguard-go's Read(bufs, sizes) model). Packet i is buf[offsets[i], offsets[i] + lengths[i]).
// Slots are fixed-size; the TUN reader leaves `headroom` octets in front of each packet so that
// outer headers can be prepended in place and the packet sent on from the same slab.

export const DEFAULT_SLOTS = 64;
export const DEFAULT_SLOT_SIZE = 2048;
/** Room for the GRE (16), PPP (4) and MPPE (4) headers, rounded up generously. */
export const DEFAULT_HEADROOM = 64;

/** What a reader discarded before any handler saw it, and the transient read errors it rode out. */
export interface ReaderStats {
  /** Truncated packets, or (GRE) a malformed outer IPv4 header. */
  dropped: number;
  /** Transient read errors (a pending ICMP error on a raw socket, ...). */
  errors: number;
}

export class PacketBatch {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Per packet: the IPv4 peer (host-order u32) for GRE, 0 for TUN. */
  readonly addrs: Uint32Array;
  count = 0;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;

  constructor(slots = DEFAULT_SLOTS, slotSize = DEFAULT_SLOT_SIZE, headroom = DEFAULT_HEADROOM) {
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new RangeError(`slots must be 1..1024, got ${slots}`);
    if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize > 65536) throw new RangeError(`slotSize must be 64..65536, got ${slotSize}`);
    if (!Number.isInteger(headroom) || headroom < 0 || headroom > slotSize - 64) {
      throw new RangeError(`headroom must be 0..${slotSize - 64}, got ${headroom}`);
    }
    this.slots = slots;
    this.slotSize = slotSize;
    this.headroom = headroom;
    // Buffer.alloc, not allocUnsafe: a slab of its own, never a slice of the shared pool.
    this.buf = Buffer.alloc(slots * slotSize);
    this.offsets = new Uint32Array(slots);
    this.lengths = new Uint32Array(slots);
    this.addrs = new Uint32Array(slots);
  }

  /** Octets a packet may have in one slot after the headroom. */
  get capacity(): number {
    return this.slotSize - this.headroom;
  }

  /** Where slot i's packet starts when placed after the headroom. */
  slotStart(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** A view (no copy) of packet i; allocates a Buffer object, so not for the hot path. */
  packet(i: number): Buffer {
    if (i < 0 || i >= this.count) throw new RangeError(`packet ${i} outside batch of ${this.count}`);
    const off = this.offsets[i];
    return this.buf.subarray(off, off + this.lengths[i]);
  }
}
