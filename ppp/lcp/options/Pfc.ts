// LCP option 7, Protocol-Field-Compression (RFC 1661 §6.5). Acked: we may then send a 1-octet protocol
// for protocols < 0x100 (as Linux pptp_xmit does). We never request it (we receive both forms anyway).

import { ACK, REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class PfcOption implements OptionHandler {
  readonly type = 7;
  readonly name = 'pcomp';
  private peerRequested = false;

  /** The peer asked for PFC and we acked: it can receive compressed protocol fields. */
  get enabled(): boolean {
    return this.peerRequested;
  }

  reset(): void {}

  request(): Buffer | null {
    return null;
  }

  check(data: Buffer): OptionVerdict {
    return data.length === 0 ? ACK : REJECT; // a boolean option cannot be Nak'd
  }

  peerAcked(data: Buffer | null): void {
    this.peerRequested = data !== null;
  }

  nakReceived(): void {}

  rejectReceived(): void {}
}
