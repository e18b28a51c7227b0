// LCP option 5, Magic-Number (RFC 1661 §6.4): loop detection, carried in Echo/Discard packets.

import { u32Data } from '../../ControlPacket.js';
import { ACK, nak, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class MagicNumberOption implements OptionHandler {
  readonly type = 5;
  readonly name = 'magic';
  private ours = 0;
  private requesting = true;
  private ourAcked = false;
  private peer = 0;

  constructor(private readonly random32: () => number) {}

  /** Our negotiated magic, 0 when the peer did not ack one (what Echo/Discard carry, RFC 1661 §5.8, §5.9). */
  get ourMagic(): number {
    return this.ourAcked ? this.ours : 0;
  }

  get peerMagic(): number {
    return this.peer;
  }

  reset(): void {
    this.ours = this.freshMagic(0);
    this.requesting = true;
    this.ourAcked = false;
  }

  request(): Buffer | null {
    return this.requesting ? u32Data(this.ours) : null;
  }

  check(data: Buffer): OptionVerdict {
    if (data.length !== 4) return nak(u32Data(this.freshMagic(this.ours)));
    const value = data.readUInt32BE(0);
    // Zero is illegal; equal to ours means a looped-back link (or a coincidence): Nak with another value.
    if (value === 0 || value === this.ours) return nak(u32Data(this.freshMagic(this.ours)));
    return ACK;
  }

  peerAcked(data: Buffer | null): void {
    this.peer = data ? data.readUInt32BE(0) : 0;
  }

  ackReceived(): void {
    this.ourAcked = true;
  }

  nakReceived(data: Buffer, requested: boolean): void {
    if (!requested) return;
    // RFC 1661 §6.4: on a Nak pick a new random number (not the suggested one).
    const suggested = data.length === 4 ? data.readUInt32BE(0) : 0;
    let next = this.freshMagic(this.ours);
    if (next === suggested) next = this.freshMagic(suggested);
    this.ours = next;
  }

  rejectReceived(): void {
    // Proceed without a magic number (RFC 1661 §6.4).
    this.requesting = false;
    this.ours = 0;
  }

  private freshMagic(avoid: number): number {
    for (;;) {
      const v = this.random32() >>> 0;
      if (v !== 0 && v !== avoid) return v;
    }
  }
}
