// The shared TUN interface: every session's IPv4 traffic enters and leaves the host here.
// Packets read from it sit after `headroom` octets in their slot, so GRE, PPP and MPPE headers
// can be prepended in place.
import type { PacketBatch, ReaderStats } from './PacketBatch.js';

/** Outgoing IPv4 packets: buf[offsets[i], +lengths[i]). */
export interface OutgoingTunBatch {
  buf: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  count: number;
}

export interface TunDevice {
  readonly name: string;
  /** One handler; the batch (and its slab) is reused once the handler returns. */
  onBatch(handler: (batch: PacketBatch) => void): void;
  /** Returns how many packets were written; the rest were dropped. */
  writeBatch(batch: OutgoingTunBatch): number;
  /** Counts since the device opened. */
  readStats(): ReaderStats;
  /** Route addr/prefixLen (host-order IPv4) into the TUN; idempotent. */
  addRoute(addr: number, prefixLen: number): void;
  /** Idempotent. */
  delRoute(addr: number, prefixLen: number): void;
  close(): void;
}
