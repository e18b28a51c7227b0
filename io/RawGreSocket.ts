// GreSocket over a raw IPv4 socket for protocol 47, read in batches by the native addon.
// The kernel builds the outer IPv4 header on send and fragments when needed (no DF, as Poptop and
// Linux pptp peers expect); on receive the addon strips it and records the source address.
import { loadPorticoIo, type GreShard, type PollHandle, type PorticoIo } from './PorticoIo.js';
import type { GreSocket, OutgoingGreBatch } from './GreSocket.js';
import { DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, PacketBatch, type ReaderStats } from './PacketBatch.js';

export interface RawGreSocketOptions {
  slots?: number;
  slotSize?: number;
  /**
   * Receives what the batch handler throws and read errors that stop the socket. Without it they
   * go to process 'uncaughtException' (never swallowed).
   */
  onError?: (error: Error) => void;
}

export interface RawGreSocketOpenOptions extends RawGreSocketOptions {
  /**
   * Receive only this shard's share of the PPTP GRE traffic (call id % count === index, filtered
   * in the kernel); malformed GRE goes to shard 0 only. Sending is not affected.
   */
  shard?: GreShard;
}

export class RawGreSocket implements GreSocket {
  private readonly batch: PacketBatch;
  private handler: ((batch: PacketBatch) => void) | null = null;
  private poll: PollHandle | null = null;
  private closed = false;

  private constructor(
    private readonly io: PorticoIo,
    readonly fd: number,
    private readonly options: RawGreSocketOptions,
  ) {
    // GRE slots take whole IPv4 datagrams from offset 0: no headroom.
    this.batch = new PacketBatch(options.slots ?? DEFAULT_SLOTS, options.slotSize ?? DEFAULT_SLOT_SIZE, 0);
  }

  /** bindAddr: host-order IPv4 to receive on, 0 for every local address. */
  static open(bindAddr = 0, options: RawGreSocketOpenOptions = {}): RawGreSocket {
    const io = loadPorticoIo();
    const fd = options.shard === undefined ? io.openRawGre(bindAddr) : io.openRawGre(bindAddr, options.shard);
    return new RawGreSocket(io, fd, options);
  }

  /**
   * Wraps a raw GRE descriptor opened elsewhere in this process, e.g. by the main thread for a
   * worker thread (descriptors are process-wide). The wrapper takes ownership: close() closes
   * the descriptor, so the opener must not close it as well.
   */
  static fromFd(fd: number, options: RawGreSocketOptions = {}): RawGreSocket {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`RawGreSocket.fromFd: bad descriptor ${fd}`);
    return new RawGreSocket(loadPorticoIo(), fd, options);
  }

  /** Polling starts with the first handler; a later call replaces the handler. */
  onBatch(handler: (batch: PacketBatch) => void): void {
    if (this.closed) throw new Error('RawGreSocket is closed');
    this.handler = handler;
    if (this.poll !== null) return;
    const b = this.batch;
    this.poll = this.io.startPoll(
      this.fd,
      'gre',
      b.buf,
      b.slotSize,
      0,
      b.offsets,
      b.lengths,
      b.addrs,
      (count) => {
        b.count = count;
        this.handler?.(b);
      },
      this.options.onError,
    );
  }

  sendBatch(batch: OutgoingGreBatch): number {
    if (this.closed || batch.count === 0) return 0;
    return this.io.sendGre(this.fd, batch.buf, batch.offsets, batch.lengths, batch.addrs, batch.count);
  }

  /** The native reader's counts (zero before polling starts). */
  readStats(): ReaderStats {
    const s = this.poll === null ? null : this.io.pollStats(this.poll);
    return { dropped: s?.dropped ?? 0, errors: s?.softErrors ?? 0 };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poll !== null) this.io.stopPoll(this.poll);
    this.poll = null;
    this.handler = null;
    this.io.close(this.fd);
  }
}
