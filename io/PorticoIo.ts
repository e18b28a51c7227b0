// Typed loader for the native packet I/O addon (io/native/*.c, built by node-gyp at
// `npm ci` into build/Release/portico_io.node). Loaded on first use so that modules which only
// import types, and the in-memory test doubles, work without the addon.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque poll handle returned by startPoll. */
export interface PollHandle {
  readonly __porticoPollHandle: never;
}

export interface PollStats {
  /** libuv readability callbacks. */
  wakeups: number;
  /** onBatch calls. */
  batches: number;
  /** Packets delivered. */
  packets: number;
  /** Packets discarded natively: truncated, or a malformed outer IPv4 header (GRE). */
  dropped: number;
  /** Transient read errors (for example a pending ICMP error on the raw socket). */
  softErrors: number;
  active: boolean;
}

export type PollKind = 'gre' | 'tun';

/** Which share of the GRE traffic a sharded raw socket receives: call id % count === index. */
export interface GreShard {
  /** Number of shards, 1..64. */
  count: number;
  /** This socket's shard, 0 <= index < count. */
  index: number;
}

export interface PorticoIo {
  /**
   * Opens /dev/net/tun as IFF_TUN|IFF_NO_PI, non-blocking, close-on-exec. With multiQueue the
   * device is IFF_MULTI_QUEUE and opening the same name again attaches one more queue: queues are
   * numbered in attach order (the first descriptor is queue 0). The flags must match the
   * device's: a single-queue device cannot gain queues.
   */
  openTun(name: string, multiQueue?: boolean): { fd: number; name: string };
  /** The interface a TUN descriptor is attached to (TUNGETIFF). */
  tunName(fd: number): string;
  /** Address (host-order u32) and netmask, MTU, then IFF_UP. */
  /** txQueueLen: the packets the kernel may queue towards the reader (TUN: before tx_dropped); kernel default when left out. */
  configureInterface(name: string, addr: number, prefixLen: number, mtu: number, txQueueLen?: number): void;
  /** Adds addr/prefixLen via the interface; an existing route is not an error. */
  addRoute(name: string, addr: number, prefixLen: number): void;
  /** Deletes addr/prefixLen via the interface; a missing route is not an error. */
  delRoute(name: string, addr: number, prefixLen: number): void;
  /** Proxy ARP entry for addr (host-order IPv4, alone: /32) on the interface, as `ip neigh replace proxy`; an existing one is not an error. */
  addProxyArp(name: string, addr: number): void;
  /** Removes that entry; a missing one is ENOENT. */
  delProxyArp(name: string, addr: number): void;
  /**
   * Raw IPv4 socket for protocol 47, non-blocking, no DF, 4 MiB buffers; bindAddr 0 = any.
   * With shard, a classic BPF filter (SO_ATTACH_FILTER) passes only PPTP GRE packets (version 1,
   * K bit; RFC 2637 section 4.1) whose call id % count === index; other GRE (wrong version, no
   * key) goes to shard 0 alone, and packets too short to hold a call id are dropped. Packets
   * queued before the filter was attached are discarded.
   */
  openRawGre(bindAddr: number, shard?: GreShard): number;
  /**
   * Steers packets leaving a multi-queue TUN to a queue by IPv4 destination: creates a BPF hash
   * map (key: destination, host-order u32; value: queue index; at most maxEntries, 1..2^20) and
   * attaches a socket-filter program (TUNSETSTEERINGEBPF) that returns map[destination], or 0
   * when absent or not IPv4; the kernel takes it modulo the number of queues. The steering
   * applies to the whole device (any queue's descriptor will do) until the device goes away or
   * another program replaces it. Returns the map descriptor (close-on-exec) for steeringSet /
   * steeringDelete. Throws an Error with code (EPERM, ...) and syscall (the failing step) when
   * BPF is unavailable, e.g. in a container without CAP_BPF / CAP_SYS_ADMIN: fall back to one queue.
   */
  attachTunSteering(tunFd: number, maxEntries: number): number;
  /** map[addr] = queue (0..255). Throws code E2BIG when the map is full. */
  steeringSet(mapFd: number, addr: number, queue: number): void;
  /** Removes addr from the map (its packets go to queue 0); a missing key is not an error. */
  steeringDelete(mapFd: number, addr: number): void;
  /**
   * Polls fd for readability and, per wake-up, fills up to slab.length / slotSize packets,
   * then calls onBatch(count) once per filled batch (at most 8 batches per wake-up).
   * 'gre': outer IPv4 header stripped, addrs[i] = source address, headroom must be 0.
   * 'tun': packet i at slot*slotSize + headroom. onBatch must finish with the slab before it
   * returns: the next batch overwrites it. A throw from onBatch goes to onError, or without one
   * to process 'uncaughtException'. A descriptor error stops the poll and is reported likewise.
   */
  startPoll(
    fd: number,
    kind: PollKind,
    slab: Uint8Array,
    slotSize: number,
    headroom: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    onBatch: (count: number) => void,
    onError?: (error: Error) => void,
  ): PollHandle;
  /** Idempotent; callable from inside onBatch. The descriptor may be closed right after. */
  stopPoll(handle: PollHandle): void;
  pollStats(handle: PollHandle): PollStats;
  /** sendmmsg to addrs[i]; returns how many the kernel accepted (the rest are drops). */
  sendGre(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, count: number): number;
  /** One write() per packet; returns how many were written (the rest are drops). */
  writeTun(fd: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  close(fd: number): void;
}

const ADDON_PATH = join('build', 'Release', 'portico_io.node');

/** The repository root: the nearest directory above this module holding package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`portico_io: package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function porticoIoPath(): string {
  return join(packageRoot(), ADDON_PATH);
}

let loaded: PorticoIo | null = null;

export function loadPorticoIo(): PorticoIo {
  if (loaded === null) {
    const path = porticoIoPath();
    if (!existsSync(path)) throw new Error(`portico_io: ${path} is missing; run \`npm ci\` (node-gyp rebuild)`);
    loaded = createRequire(import.meta.url)(path) as PorticoIo;
  }
  return loaded;
}
