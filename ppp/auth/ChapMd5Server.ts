// CHAP with MD5, algorithm 5 (RFC 1994): 16-octet Challenge, Response = MD5(Identifier ‖ secret ‖ Challenge).
// The backend checks it (it needs the clear secret, which the local store does not have: RADIUS only).

import type { BasicAuthResult } from '../Authenticator.js';
import { ChapServerBase, type ChapResponse } from './ChapServerBase.js';

/** RFC 1994 §2: at least 16 octets is recommended for an MD5 challenge. */
const CHALLENGE_SIZE = 16;
const MD5_SIZE = 16;

export class ChapMd5Server extends ChapServerBase {
  protected readonly algorithmName = 'CHAP-MD5';
  protected readonly challengeSize = CHALLENGE_SIZE;
  protected readonly responseValueSize = MD5_SIZE;

  protected verify(response: ChapResponse): Promise<BasicAuthResult> {
    const backend = this.config.authenticator;
    if (!backend.verifyChapMd5) return this.cannotVerify();
    return backend.verifyChapMd5({
      username: response.username,
      identifier: response.identifier,
      challenge: response.challenge,
      response: response.value,
    });
  }

  protected successMessage(): string {
    return 'Access granted';
  }

  /** RFC 1994 §4.1: free text; the peer learns nothing about why beyond what the backend lets it see. */
  protected failureMessage(_errorCode: number, text: string | undefined): string {
    return text ?? 'Authentication failed';
  }
}
