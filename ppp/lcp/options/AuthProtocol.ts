// LCP option 3, Authentication-Protocol (RFC 1661 §6.2). The server asks the client to authenticate with
// the strongest method it offers (one per Configure-Request, RFC 1661 §6.2; MS-CHAPv2 is `03 05 C2 23 81`, RFC 2759 §2).
// A Nak names what the client would rather do: take that when we offer it, else the next one down our list
// (pppd lcp_nakci does the same). A client asking to authenticate us is Rejected.

import { AUTH_METHOD_LABEL, authMethodOfOption, authOptionData, type AuthMethod } from '../../auth/AuthMethod.js';
import { REJECT, type OptionHandler, type OptionVerdict } from '../../OptionHandler.js';

export class AuthProtocolOption implements OptionHandler {
  readonly type = 3;
  readonly name = 'auth';
  private readonly offer: readonly AuthMethod[];
  private current: AuthMethod | null;
  private readonly refused = new Set<AuthMethod>();
  private acked: AuthMethod | null = null;

  /** `offer`: the methods we may ask for, strongest first (already filtered by policy and backend). */
  constructor(offer: readonly AuthMethod[] = ['mschapv2']) {
    if (offer.length === 0) throw new RangeError('no authentication method to offer');
    this.offer = [...offer];
    this.current = this.offer[0]!;
  }

  /** The peer agreed to authenticate with MS-CHAPv2. */
  get msChapV2Agreed(): boolean {
    return this.acked === 'mschapv2';
  }

  /** The method the peer agreed to (our acked request), or null. */
  get agreed(): AuthMethod | null {
    return this.acked;
  }

  reset(): void {
    this.refused.clear();
    this.current = this.offer[0]!;
    this.acked = null;
  }

  request(): Buffer | null {
    return this.current === null ? null : authOptionData(this.current);
  }

  check(): OptionVerdict {
    return REJECT;
  }

  peerAcked(): void {}

  ackReceived(data: Buffer): void {
    this.acked = authMethodOfOption(data);
  }

  nakReceived(data: Buffer, requested: boolean): string | void {
    if (!requested || this.current === null) return;
    this.refused.add(this.current);
    const suggested = authMethodOfOption(data);
    const usable = (m: AuthMethod) => !this.refused.has(m);
    this.current = suggested !== null && this.offer.includes(suggested) && usable(suggested) ? suggested : (this.offer.find(usable) ?? null);
    if (this.current !== null) return;
    const tried = this.offer.map((m) => AUTH_METHOD_LABEL[m]).join(', ');
    return `peer refused ${tried} (suggested ${describeSuggestion(data)})`;
  }

  rejectReceived(): string {
    return 'peer refused to authenticate';
  }
}

/** The peer's suggestion, for the log: a method name or the raw protocol number. */
function describeSuggestion(data: Buffer): string {
  const method = authMethodOfOption(data);
  if (method !== null) return AUTH_METHOD_LABEL[method];
  if (data.length < 2) return 'nothing';
  const algorithm = data.length >= 3 ? ` algorithm 0x${data[2]!.toString(16)}` : '';
  return `0x${data.readUInt16BE(0).toString(16)}${algorithm}`;
}
