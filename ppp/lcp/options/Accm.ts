// LCP option 2, Async-Control-Character-Map (RFC 1662 §7.1). Meaningless inside GRE (no async framing,
// RFC 2637 §4): accept any well-formed value, never request it.

import { u32Data } from '../../ControlPacket.js';
import { ACK, nak, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class AccmOption implements OptionHandler {
  readonly type = 2;
  readonly name = 'accm';

  reset(): void {}

  request(): Buffer | null {
    return null;
  }

  check(data: Buffer): OptionVerdict {
    return data.length === 4 ? ACK : nak(u32Data(0));
  }

  peerAcked(): void {}

  nakReceived(): void {}

  rejectReceived(): void {}
}
