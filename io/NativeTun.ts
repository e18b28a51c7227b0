// TunDevice over /dev/net/tun through the native addon: batched non-blocking reads into a
// headroom-reserving slab, one write() per outgoing packet.
import { writeFileSync } from 'node:fs';
import { DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, PacketBatch, type ReaderStats } from './PacketBatch.js';
import { loadPorticoIo, type PollHandle, type PorticoIo } from './PorticoIo.js';
import type { OutgoingTunBatch, TunDevice } from './TunDevice.js';
import { TunSteering } from './TunSteering.js';

export interface NativeTunOptions {
  slots?: number;
  slotSize?: number;
  headroom?: number;
  /**
   * Receives what the batch handler throws and read errors that stop the device. Without it they
   * go to process 'uncaughtException' (never swallowed).
   */
  onError?: (error: Error) => void;
}

export interface NativeTunOpenOptions extends NativeTunOptions {
  /**
   * Create the device with IFF_MULTI_QUEUE; this descriptor is queue 0 and NativeTun.openQueue
   * attaches the others. Without steering the kernel spreads flows over queues by hash.
   */
  multiQueue?: boolean;
  /**
   * Packets the kernel may hold for this reader (txqueuelen; Linux gives a TUN 500). Deeper absorbs
   * scheduling and GC pauses at high rates, at the price of queueing delay under overload.
   */
  queueLength?: number;
}

export class NativeTun implements TunDevice {
  private readonly batch: PacketBatch;
  private handler: ((batch: PacketBatch) => void) | null = null;
  private poll: PollHandle | null = null;
  private closed = false;

  private constructor(
    private readonly io: PorticoIo,
    readonly fd: number,
    readonly name: string,
    private readonly options: NativeTunOptions,
    batch: PacketBatch,
    /** Why IPv6 stayed on when open() created the interface (null: it is off, or not open()'s to say). */
    readonly ipv6KeptBecause: string | null = null,
  ) {
    this.batch = batch;
  }

  /**
   * Creates (or attaches to) TUN `name`, turns IPv6 off on it (disableIpv6), gives it
   * address/prefixLen (host-order IPv4) and MTU, and brings it up. The MTU must fit a slot after the
   * headroom: the kernel never hands the TUN a packet larger than the MTU, and a larger one would not fit.
   */
  static open(name: string, address: number, prefixLen: number, mtu: number, options: NativeTunOpenOptions = {}): NativeTun {
    const batch = NativeTun.batchFor(options);
    if (mtu > batch.capacity) throw new RangeError(`NativeTun: mtu ${mtu} exceeds slot capacity ${batch.capacity}`);
    const io = loadPorticoIo();
    const opened = options.multiQueue === true ? io.openTun(name, true) : io.openTun(name);
    let ipv6KeptBecause: string | null;
    try {
      ipv6KeptBecause = disableIpv6(opened.name); // before the interface is up: nothing of IPv6 is ever sent
      io.configureInterface(opened.name, address, prefixLen, mtu, options.queueLength);
    } catch (e) {
      io.close(opened.fd);
      throw e;
    }
    return new NativeTun(io, opened.fd, opened.name, options, batch, ipv6KeptBecause);
  }

  /**
   * Attaches one more queue to the multi-queue TUN `name` opened with { multiQueue: true }; it
   * gets the next queue index (attach order). The interface is not reconfigured. The device
   * lives while any queue is open; closing a queue moves the last queue into its index.
   */
  static openQueue(name: string, options: NativeTunOptions = {}): NativeTun {
    const batch = NativeTun.batchFor(options);
    const io = loadPorticoIo();
    const opened = io.openTun(name, true);
    return new NativeTun(io, opened.fd, opened.name, options, batch);
  }

  /**
   * Wraps a TUN (queue) descriptor opened elsewhere in this process, e.g. by the main thread for
   * a worker thread (descriptors are process-wide); the interface name is read from it. The
   * wrapper takes ownership: close() closes the descriptor, so the opener must not close it too.
   */
  static fromFd(fd: number, options: NativeTunOptions = {}): NativeTun {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`NativeTun.fromFd: bad descriptor ${fd}`);
    const batch = NativeTun.batchFor(options);
    const io = loadPorticoIo();
    return new NativeTun(io, fd, io.tunName(fd), options, batch);
  }

  private static batchFor(options: NativeTunOptions): PacketBatch {
    return new PacketBatch(options.slots ?? DEFAULT_SLOTS, options.slotSize ?? DEFAULT_SLOT_SIZE, options.headroom ?? DEFAULT_HEADROOM);
  }

  /**
   * Steers outgoing packets to queues by IPv4 destination (see TunSteering), for the whole
   * multi-queue device. Throws (code EPERM, ...) where BPF is not allowed: run one queue then.
   */
  attachSteering(maxEntries: number): TunSteering {
    if (this.closed) throw new Error(`NativeTun ${this.name} is closed`);
    return new TunSteering(this.io, this.io.attachTunSteering(this.fd, maxEntries));
  }

  /** Polling starts with the first handler; a later call replaces the handler. */
  onBatch(handler: (batch: PacketBatch) => void): void {
    if (this.closed) throw new Error(`NativeTun ${this.name} is closed`);
    this.handler = handler;
    if (this.poll !== null) return;
    const b = this.batch;
    this.poll = this.io.startPoll(
      this.fd,
      'tun',
      b.buf,
      b.slotSize,
      b.headroom,
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

  writeBatch(batch: OutgoingTunBatch): number {
    if (this.closed || batch.count === 0) return 0;
    return this.io.writeTun(this.fd, batch.buf, batch.offsets, batch.lengths, batch.count);
  }

  addRoute(addr: number, prefixLen: number): void {
    this.io.addRoute(this.name, addr, prefixLen);
  }

  delRoute(addr: number, prefixLen: number): void {
    this.io.delRoute(this.name, addr, prefixLen);
  }

  /** The native reader's counts (zero before polling starts). */
  readStats(): ReaderStats {
    const s = this.poll === null ? null : this.io.pollStats(this.poll);
    return { dropped: s?.dropped ?? 0, errors: s?.softErrors ?? 0 };
  }

  /** Closing the descriptor removes a non-persistent TUN and its routes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poll !== null) this.io.stopPoll(this.poll);
    this.poll = null;
    this.handler = null;
    this.io.close(this.fd);
  }
}

/**
 * Turns IPv6 off on interface `name` (net.ipv6.conf.NAME.disable_ipv6 = 1). Sessions carry IPv4 only
 * (IPv6CP gets an LCP Protocol-Reject), yet with IPv6 on, the kernel gives the TUN a link-local
 * address as it comes up and then sends its own router solicitations and MLD reports into it (RFC 4861
 * §6.3.7, RFC 3810), which the data plane can only drop (tunIpv6Dropped). Off before the interface is up,
 * it never has an IPv6 address and sends nothing. Returns null when done or when the kernel has no IPv6
 * (no such file), else why not: a container whose /proc/sys is read-only (Docker's default).
 */
export function disableIpv6(name: string): string | null {
  const path = `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`;
  try {
    writeFileSync(path, '1');
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return null;
    return `cannot write ${path} (${e.code ?? e.message})`;
  }
}
