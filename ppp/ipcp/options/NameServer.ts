// IPCP options 129-132 (RFC 1877): Primary-DNS, Primary-NBNS, Secondary-DNS, Secondary-NBNS. The peer asks
// with 0.0.0.0 (or a stale value): Nak with the configured address; nothing configured → Reject.

import { u32Data } from '../../ControlPacket.js';
import { ACK, nak, REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class NameServerOption implements OptionHandler {
  private constructor(
    readonly type: number,
    readonly name: string,
    private address: number | undefined,
  ) {}

  /** Per-user server (RADIUS MS-Primary/Secondary-DNS-Server); set before IPCP opens. */
  setAddress(address: number | undefined): void {
    this.address = address === undefined ? undefined : address >>> 0;
  }

  static primaryDns(address: number | undefined): NameServerOption {
    return new NameServerOption(129, 'ms-dns1', address);
  }

  static primaryNbns(address: number | undefined): NameServerOption {
    return new NameServerOption(130, 'ms-wins1', address);
  }

  static secondaryDns(address: number | undefined): NameServerOption {
    return new NameServerOption(131, 'ms-dns2', address);
  }

  static secondaryNbns(address: number | undefined): NameServerOption {
    return new NameServerOption(132, 'ms-wins2', address);
  }

  reset(): void {}

  request(): Buffer | null {
    return null; // a server does not ask the client for name servers
  }

  check(data: Buffer): OptionVerdict {
    if (this.address === undefined) return REJECT;
    if (data.length !== 4 || data.readUInt32BE(0) !== this.address >>> 0) return nak(u32Data(this.address));
    return ACK;
  }

  peerAcked(): void {}

  nakReceived(): void {}

  rejectReceived(): void {}
}
