// CHAP with MS-CHAPv1, algorithm 0x80 (RFC 2433): 8-octet Challenge; Response value LM-Response[24] ‖
// NT-Response[24] ‖ Flags[1] (RFC 2433 §4). The backend checks the NT-Response and derives the MPPE key
// (RFC 3079 §2: one start key for both directions). No retry and no password change: R=0.

import type { BasicAuthResult } from '../Authenticator.js';
import { ChapServerBase, type ChapResponse } from './ChapServerBase.js';

const CHALLENGE_SIZE = 8;
/** LM-Response 24 | NT-Response 24 | Flags 1 (RFC 2433 §4). */
const RESPONSE_VALUE_SIZE = 49;

export class MsChapV1Server extends ChapServerBase {
  protected readonly algorithmName = 'MS-CHAPv1';
  protected readonly challengeSize = CHALLENGE_SIZE;
  protected readonly responseValueSize = RESPONSE_VALUE_SIZE;

  protected verify(response: ChapResponse): Promise<BasicAuthResult> {
    const backend = this.config.authenticator;
    if (!backend.verifyMsChapV1) return this.cannotVerify();
    const v = response.value;
    return backend.verifyMsChapV1({
      username: response.username,
      challenge: response.challenge,
      lmResponse: v.subarray(0, 24),
      ntResponse: v.subarray(24, 48),
      flags: v[48]!,
    });
  }

  /** RFC 2433 §5: a standard CHAP Success; pppd says "Access granted". */
  protected successMessage(): string {
    return 'Access granted';
  }

  /**
   * RFC 2433 §6: `E=<code> R=<retry> C=<16 hex digits> V=<version>`. R=0: the link ends (no retry policy).
   * C: a fresh challenge, so a client that retries anyway cannot reuse the old one. V=2: RFC 2433 asks for
   * at least 2 (Change-Password v1 is deprecated); 3 is an MS-CHAPv2 value. No M= field in version 1, so a
   * backend's text for the peer (a throttled login's "retry in N s") is not sent: E=691 says enough.
   */
  protected failureMessage(errorCode: number): string {
    const next = this.random(CHALLENGE_SIZE).toString('hex').toUpperCase();
    return `E=${errorCode} R=0 C=${next} V=2`;
  }
}
