// Where GRE packets (IP protocol 47, RFC 2637 §4.1) enter and leave the server: batches in,
// batches out. Incoming packets start at the GRE header (outer IPv4 header already removed),
// with the peer's address in addrs[i].
import type { PacketBatch, ReaderStats } from './PacketBatch.js';

/** Outgoing packets: buf[offsets[i], +lengths[i]) goes to addrs[i] (host-order IPv4). */
export interface OutgoingGreBatch {
  buf: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  addrs: Uint32Array;
  count: number;
}

export interface GreSocket {
  /** One handler; the batch (and its slab) is reused once the handler returns. */
  onBatch(handler: (batch: PacketBatch) => void): void;
  /** Returns how many packets were sent; the rest were dropped (full buffers, unreachable). */
  sendBatch(batch: OutgoingGreBatch): number;
  /** Counts since the socket opened. */
  readStats(): ReaderStats;
  close(): void;
}
