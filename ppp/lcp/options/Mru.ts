// LCP option 1, Maximum-Receive-Unit (RFC 1661 §6.1). We ack what the peer can receive (Windows asks
// 1400) and only request our own when one is configured.

import { u16Data } from '../../ControlPacket.js';
import { ACK, nak, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export const DEFAULT_MRU = 1500;
/** Smallest MRU we agree to send with (pppd MINMRU). */
export const MIN_MRU = 128;

export class MruOption implements OptionHandler {
  readonly type = 1;
  readonly name = 'mru';
  private requesting: number | null = null;
  private peer = DEFAULT_MRU;

  constructor(private readonly configured?: number) {}

  /** How large a packet the peer accepts (its acked MRU, default 1500). */
  get peerMru(): number {
    return this.peer;
  }

  reset(): void {
    this.requesting = this.configured ?? null;
  }

  request(): Buffer | null {
    return this.requesting === null ? null : u16Data(this.requesting);
  }

  check(data: Buffer): OptionVerdict {
    if (data.length !== 2) return nak(u16Data(DEFAULT_MRU));
    if (data.readUInt16BE(0) < MIN_MRU) return nak(u16Data(MIN_MRU));
    return ACK;
  }

  peerAcked(data: Buffer | null): void {
    this.peer = data ? data.readUInt16BE(0) : DEFAULT_MRU;
  }

  nakReceived(data: Buffer, requested: boolean): void {
    if (!requested || data.length !== 2) return;
    const suggested = data.readUInt16BE(0);
    // Like pppd: take a smaller value, or anything up to the default.
    if (suggested >= MIN_MRU && (suggested <= (this.requesting ?? DEFAULT_MRU) || suggested <= DEFAULT_MRU)) {
      this.requesting = suggested;
    }
  }

  rejectReceived(): void {
    this.requesting = null;
  }
}
