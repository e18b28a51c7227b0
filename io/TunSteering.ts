// Per-destination queue choice for a multi-queue TUN: a BPF hash map (IPv4 destination -> queue)
// read by the steering program the kernel runs for every packet leaving through the TUN.
// Lets each data-plane shard read exactly its own sessions' packets from its own queue.
import type { PorticoIo } from './PorticoIo.js';

export class TunSteering {
  private closed = false;

  /** Use NativeTun.attachSteering; this wraps the map descriptor it returns. */
  constructor(
    private readonly io: PorticoIo,
    readonly mapFd: number,
  ) {}

  /** Packets to addr (host-order IPv4) go to queue (0..255, modulo the queue count). */
  set(addr: number, queue: number): void {
    if (this.closed) throw new Error('TunSteering is closed');
    this.io.steeringSet(this.mapFd, addr, queue);
  }

  /** Packets to addr go back to queue 0; unknown addresses are fine. */
  delete(addr: number): void {
    if (this.closed) throw new Error('TunSteering is closed');
    this.io.steeringDelete(this.mapFd, addr);
  }

  /**
   * Closes the map descriptor. The program stays attached to the TUN, and keeps the entries
   * present at that moment, until the device goes away or new steering replaces it.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.io.close(this.mapFd);
  }
}
