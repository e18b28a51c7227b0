// CHAP (RFC 1994) server with the MS-CHAPv2 algorithm 0x81 (RFC 2759): 16-octet Challenge; Response value
// Peer-Challenge[16] ‖ Reserved[8] ‖ NT-Response[24] ‖ Flags[1]. Moves the protocol's fields only: the
// Authenticator checks the NT-Response and builds the authenticator response and MPPE keys.

import type { AuthResult } from '../Authenticator.js';
import { AUTH_REFUSED, type AuthAcceptance, type AuthRefusal } from './AuthExchange.js';
import { ChapPacketCode, ChapServerBase, type ChapResponse } from './ChapServerBase.js';

/** RFC 2759 §6 M= texts by E= code (Windows shows its own text for the code anyway). */
const FAILURE_TEXT: Record<number, string> = {
  646: 'Restricted logon hours',
  647: 'Account disabled',
  648: 'Password expired',
  649: 'No dial-in permission',
  691: 'Authentication failed',
};
const CHALLENGE_SIZE = 16;
/** Peer-Challenge 16 | Reserved 8 | NT-Response 24 | Flags 1 (RFC 2759 §4). */
const RESPONSE_VALUE_SIZE = 49;
const SUCCESS_TEXT = 'Access granted';
const AUTHENTICATOR_RESPONSE = /^S=[0-9A-F]{40}$/;

/** CHAP codes as MS-CHAPv2 uses them (Change-Password is never valid here: we do not send E=648). */
export const ChapCode = { ...ChapPacketCode, ChangePasswordV2: 7 } as const;

/** "DOMAIN\\user" → "user" (RFC 2759 §4: the domain is not part of ChallengeHash). */
export function stripDomain(username: string): string {
  return username.slice(username.lastIndexOf('\\') + 1);
}

export class MsChapV2Server extends ChapServerBase<AuthResult> {
  protected readonly algorithmName = 'MS-CHAPv2';
  protected readonly challengeSize = CHALLENGE_SIZE;
  protected readonly responseValueSize = RESPONSE_VALUE_SIZE;

  protected verify(response: ChapResponse): Promise<AuthResult> {
    const v = response.value;
    return this.config.authenticator.verifyMsChapV2({
      username: response.username,
      authenticatorChallenge: response.challenge,
      peerChallenge: v.subarray(0, 16),
      ntResponse: v.subarray(24, 48),
    });
  }

  protected override describeResponse(response: ChapResponse): object {
    return { flags: response.value[48] };
  }

  protected override review(result: AuthResult): AuthResult | AuthRefusal {
    if (result.ok && !AUTHENTICATOR_RESPONSE.test(result.authenticatorResponse)) {
      this.config.log.warn({}, 'authenticator returned a malformed authenticator response: failing the login');
      return AUTH_REFUSED;
    }
    return result;
  }

  /** RFC 2759 §5. Win98 sets Flags (0x04) and chokes on " M=" (pppd chap_ms.c): the S= part only then. */
  protected successMessage(result: AuthAcceptance<AuthResult>, response: ChapResponse): string {
    const flags = response.value[48];
    return flags === 0 ? `${result.authenticatorResponse} M=${SUCCESS_TEXT}` : result.authenticatorResponse;
  }

  /**
   * RFC 2759 §6; R=0: no retry, the link is terminated. C= is a fresh challenge as required. The peer learns
   * only the class of failure: "unknown user" vs "wrong password" would let anyone enumerate accounts.
   * M= is the code's text unless the backend gives one meant for the peer (a throttled login's "retry in N s").
   */
  protected failureMessage(errorCode: number, text: string | undefined): string {
    const next = this.random(CHALLENGE_SIZE).toString('hex').toUpperCase();
    return `E=${errorCode} R=0 C=${next} V=3 M=${text ?? FAILURE_TEXT[errorCode] ?? 'Authentication failed'}`;
  }
}
