// LCP option 3, Authentication-Protocol (RFC 1661 §6.2). The server asks the client to authenticate
// with MS-CHAPv2 (`03 05 C2 23 81`, ppp.md §4); a client asking to authenticate us is Rejected.

import { PppProtocol } from '../../PppProtocol.js';
import { REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export const CHAP_ALGORITHM_MSCHAPV2 = 0x81;
const MSCHAPV2_DATA = Buffer.from([PppProtocol.CHAP >>> 8, PppProtocol.CHAP & 0xff, CHAP_ALGORITHM_MSCHAPV2]);

export class AuthProtocolOption implements OptionHandler {
  readonly type = 3;
  readonly name = 'auth';
  private acked = false;

  /** The peer agreed to authenticate with MS-CHAPv2. */
  get msChapV2Agreed(): boolean {
    return this.acked;
  }

  reset(): void {
    this.acked = false;
  }

  request(): Buffer | null {
    return MSCHAPV2_DATA;
  }

  check(): OptionVerdict {
    return REJECT;
  }

  peerAcked(): void {}

  ackReceived(): void {
    this.acked = true;
  }

  nakReceived(data: Buffer, requested: boolean): string | void {
    if (!requested) return;
    // MS-CHAPv2 is the only method this server offers (MPPE needs its keys): nothing else to try.
    const suggested = data.length >= 2 ? `0x${data.readUInt16BE(0).toString(16)}` : 'nothing';
    return `peer refused MS-CHAPv2 authentication (suggested ${suggested})`;
  }

  rejectReceived(): string {
    return 'peer refused to authenticate';
  }
}
