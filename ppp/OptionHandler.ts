// One Configuration Option of one control protocol (accel-ppp style: a small handler per option,
// registered with its protocol; adding an option touches one file).

export type OptionVerdict = { readonly kind: 'ack' } | { readonly kind: 'nak'; readonly data: Buffer } | { readonly kind: 'reject' };

export const ACK: OptionVerdict = { kind: 'ack' };
export const REJECT: OptionVerdict = { kind: 'reject' };
export function nak(data: Buffer): OptionVerdict {
  return { kind: 'nak', data };
}

export interface OptionHandler {
  readonly type: number;
  readonly name: string;
  /** A fresh negotiation starts (RFC 1661 §4: Configure-Request sent from a non-negotiating state). */
  reset(): void;
  /** Data for this option in our Configure-Request, or null to leave it out. */
  request(): Buffer | null;
  /**
   * The peer's Configure-Request carries this option with `data`. The peer's value is committed only in
   * peerAcked; a handler may adapt what it wants from us here (e.g. MPPE follows the peer's key length).
   */
  check(data: Buffer): OptionVerdict;
  /** The peer's Configure-Request lacks this option: data to Nak with (ask the peer to add it), or null. */
  missing?(): Buffer | null;
  /** We Ack'd the peer's Configure-Request: its value for this option (null when absent). */
  peerAcked(data: Buffer | null): void;
  /** The peer Ack'd our request containing this option. */
  ackReceived?(data: Buffer): void;
  /**
   * The peer Nak'd with `data` (`requested`: the option was in our request; otherwise the peer asks us to
   * add it). Returns a reason when negotiation cannot succeed.
   */
  nakReceived(data: Buffer, requested: boolean): string | void;
  /** The peer Rejected this option of our request. Returns a reason when we cannot do without it. */
  rejectReceived(): string | void;
}
