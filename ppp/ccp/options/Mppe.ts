// CCP option 18, MPPE (RFC 3078 §2). Both directions end up with one key length and one
// mode (H = stateless): the agreement below is shared by our request and our answer to the peer's.
// MPPC (C), the obsolete D bit and unknown bits are never accepted.

import { u32Data } from '../../ControlPacket.js';
import { ACK, nak, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';
import type { MppeBits } from '../../mppe/MppeKeys.js';

export const MPPE_OPTION = 18;
export const MppeBit = {
  Stateless: 0x01000000, // H
  Bits56: 0x00000080, // M
  Bits128: 0x00000040, // S
  Bits40: 0x00000020, // L
  Obsolete: 0x00000010, // D
  Mppc: 0x00000001, // C
} as const;

/** stateless only; stateless unless the peer insists on stateful; stateful unless the peer insists on stateless (the `mppe.mode` config key's words). */
export type MppeMode = 'stateless' | 'prefer-stateless' | 'prefer-stateful';

export interface MppePolicy {
  required: boolean;
  /** Key lengths we accept (subset of 40, 56, 128). */
  bits: readonly MppeBits[];
  mode: MppeMode;
}

export interface NegotiatedMppe {
  bits: MppeBits;
  stateless: boolean;
}

const KEY_BIT: Readonly<Record<MppeBits, number>> = { 40: MppeBit.Bits40, 56: MppeBit.Bits56, 128: MppeBit.Bits128 };
const STRONGEST_FIRST: readonly MppeBits[] = [128, 56, 40];

export function encodeMppe(m: NegotiatedMppe): number {
  return (KEY_BIT[m.bits] | (m.stateless ? MppeBit.Stateless : 0)) >>> 0;
}

/** Exactly one key-length bit and nothing but H besides: the form both sides must end with. */
export function decodeMppe(value: number): NegotiatedMppe | null {
  if ((value & ~(MppeBit.Stateless | MppeBit.Bits40 | MppeBit.Bits56 | MppeBit.Bits128)) !== 0) return null;
  const bits = STRONGEST_FIRST.filter((b) => (value & KEY_BIT[b]) !== 0);
  if (bits.length !== 1) return null;
  return { bits: bits[0]!, stateless: (value & MppeBit.Stateless) !== 0 };
}

export class MppeOption implements OptionHandler {
  readonly type = MPPE_OPTION;
  readonly name = 'mppe';
  private readonly allowed: readonly MppeBits[];
  private agreed: NegotiatedMppe;
  private requesting = true;
  /** We already Nak'd the peer's mode once; if it insists, give in where the policy allows. */
  private modeNakSent = false;
  private ourAcked: number | null = null;
  private peerAckedValue: number | null = null;

  constructor(private readonly policy: MppePolicy) {
    this.allowed = STRONGEST_FIRST.filter((b) => policy.bits.includes(b));
    this.agreed = this.initial();
  }

  /** Both directions agreed on the same single key length and mode; null otherwise. */
  get negotiated(): NegotiatedMppe | null {
    if (this.ourAcked === null || this.peerAckedValue === null || this.ourAcked !== this.peerAckedValue) return null;
    return decodeMppe(this.ourAcked);
  }

  reset(): void {
    this.agreed = this.initial();
    this.requesting = this.allowed.length > 0;
    this.modeNakSent = false;
    this.ourAcked = null;
    this.peerAckedValue = null;
  }

  request(): Buffer | null {
    return this.requesting ? u32Data(encodeMppe(this.agreed)) : null;
  }

  check(data: Buffer): OptionVerdict {
    if (this.allowed.length === 0) return nak(u32Data(0)); // unreachable: CCP does not run without MPPE
    if (data.length !== 4) return nak(u32Data(encodeMppe(this.agreed)));
    const value = data.readUInt32BE(0);
    const locked = this.ourAcked !== null; // our direction is settled: the peer's must match it
    if (!locked) {
      const offered = this.allowed.filter((b) => (value & KEY_BIT[b]) !== 0);
      if (offered.length > 0 && !offered.includes(this.agreed.bits)) this.agreed = { ...this.agreed, bits: offered[0]! };
      const peerStateless = (value & MppeBit.Stateless) !== 0;
      if (peerStateless !== this.agreed.stateless) {
        if (this.modeNakSent && this.canUse(peerStateless)) this.agreed = { ...this.agreed, stateless: peerStateless };
        else this.modeNakSent = true;
      }
    }
    const wanted = encodeMppe(this.agreed);
    return value === wanted ? ACK : nak(u32Data(wanted));
  }

  missing(): Buffer | null {
    // Encryption required: ask the peer to request MPPE too (RFC 1661 §5.3 lets a Nak add options).
    return this.policy.required && this.allowed.length > 0 ? u32Data(encodeMppe(this.agreed)) : null;
  }

  peerAcked(data: Buffer | null): void {
    this.peerAckedValue = data ? data.readUInt32BE(0) : null;
  }

  ackReceived(data: Buffer): void {
    this.ourAcked = data.readUInt32BE(0);
  }

  nakReceived(data: Buffer, requested: boolean): string | void {
    if (!requested && !this.requesting) return;
    if (data.length !== 4) return;
    const value = data.readUInt32BE(0);
    const offered = this.allowed.filter((b) => (value & KEY_BIT[b]) !== 0);
    if (offered.length === 0) return 'peer offers no acceptable MPPE key length';
    const stateless = (value & MppeBit.Stateless) !== 0;
    if (!this.canUse(stateless)) return 'peer refuses stateless MPPE';
    this.agreed = { bits: offered[0]!, stateless };
    this.requesting = true;
  }

  rejectReceived(): string {
    this.requesting = false;
    return 'peer rejected the MPPE option';
  }

  private canUse(stateless: boolean): boolean {
    return stateless || this.policy.mode !== 'stateless';
  }

  private initial(): NegotiatedMppe {
    return { bits: this.allowed[0] ?? 128, stateless: this.policy.mode !== 'prefer-stateful' };
  }
}
