// MS-CHAPv2 against the built-in store: the NT hash is all RFC 2759 needs, so no clear password
// ever exists on the server.
import type { Authenticator, AuthResult, MsChapV2Request } from '../../ppp/Authenticator.js';
import { verifyMsChapV2 } from '../../ppp/auth/MsChapCrypto.js';
import type { UserStore } from '../users/UserStore.js';

/** RFC 2759 §6 error codes. */
const ERROR_AUTHENTICATION_FAILURE = 691;
const ERROR_ACCOUNT_DISABLED = 647;

export class LocalAuthenticator implements Authenticator {
  constructor(private readonly users: UserStore) {}

  async verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    const user = this.users.find(stripDomain(request.username));
    if (!user) return { ok: false, errorCode: ERROR_AUTHENTICATION_FAILURE, message: 'unknown user' };
    const verdict = verifyMsChapV2(
      user.ntHash,
      request.authenticatorChallenge,
      request.peerChallenge,
      request.username,
      request.ntResponse,
    );
    if (!verdict) return { ok: false, errorCode: ERROR_AUTHENTICATION_FAILURE, message: 'wrong password' };
    if (!user.enabled) return { ok: false, errorCode: ERROR_ACCOUNT_DISABLED, message: 'account disabled' };
    return {
      ok: true,
      authenticatorResponse: verdict.authenticatorResponse,
      mppeKeys: { sendKey: verdict.masterSendKey, recvKey: verdict.masterRecvKey },
      ...(user.staticAddress !== null ? { staticAddress: user.staticAddress } : {}),
    };
  }
}

/** "DOMAIN\\user" → "user" (RFC 2759 §4: the domain is not part of the account name here). */
export function stripDomain(name: string): string {
  const i = name.lastIndexOf('\\');
  return i >= 0 ? name.slice(i + 1) : name;
}
