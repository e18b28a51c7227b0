// IPCP option 3, IP-Address (RFC 1332 §3.3). We request our tunnel address; the peer gets the address
// chosen for it (pool/static/RADIUS): 0.0.0.0 ("assign me one") or any other value is Nak'd with it, and
// a request without the option gets it appended to a Nak.

import { u32Data } from '../../ControlPacket.js';
import { ACK, nak, REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class IpAddressOption implements OptionHandler {
  readonly type = 3;
  readonly name = 'addr';
  private requesting = true;
  private assigned: number | null = null;
  private acked: number | null = null;

  constructor(private readonly localAddress: number) {}

  /** The address the peer agreed to use (null until its Configure-Request carrying it was acked). */
  get peerAddress(): number | null {
    return this.acked;
  }

  assign(address: number): void {
    this.assigned = address >>> 0;
  }

  reset(): void {
    this.requesting = this.localAddress !== 0;
  }

  request(): Buffer | null {
    return this.requesting ? u32Data(this.localAddress) : null;
  }

  check(data: Buffer): OptionVerdict {
    if (this.assigned === null) return REJECT;
    if (data.length !== 4 || data.readUInt32BE(0) !== this.assigned) return nak(u32Data(this.assigned));
    return ACK;
  }

  missing(): Buffer | null {
    return this.assigned === null ? null : u32Data(this.assigned);
  }

  peerAcked(data: Buffer | null): void {
    this.acked = data ? data.readUInt32BE(0) : null;
  }

  // Our own address is not up for negotiation: a Nak leaves our request unchanged.
  nakReceived(): void {}

  rejectReceived(): void {
    this.requesting = false; // the peer does not care to know our address
  }
}
