// LCP option 8, Address-and-Control-Field-Compression (RFC 1661 §6.6). Acked: we may omit FF 03 on
// non-LCP frames we send (as Linux pptp_xmit does). We never request it.

import { ACK, REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class AcfcOption implements OptionHandler {
  readonly type = 8;
  readonly name = 'accomp';
  private peerRequested = false;

  /** The peer asked for ACFC and we acked: it can receive frames without FF 03. */
  get enabled(): boolean {
    return this.peerRequested;
  }

  reset(): void {}

  request(): Buffer | null {
    return null;
  }

  check(data: Buffer): OptionVerdict {
    return data.length === 0 ? ACK : REJECT;
  }

  peerAcked(data: Buffer | null): void {
    this.peerRequested = data !== null;
  }

  nakReceived(): void {}

  rejectReceived(): void {}
}
