// The built-in store keeps only each user's NT hash (MD4 of the UTF-16LE password), so no clear password
// ever exists on the server. That hash is all MS-CHAPv2 and MS-CHAPv1 need, and a PAP password can be
// hashed and compared with it. CHAP-MD5 needs the clear secret itself (RFC 1994 §2: MD5 over id ‖ secret ‖
// challenge), so this backend does not implement verifyChapMd5 and PPP never offers CHAP with it.
// No oracle: an unknown user and a disabled one are checked against a dummy hash, the same work as a
// wrong password, and all three get the same answer (E=691); only our log says which it was.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthResult, BasicAuthResult, ExtendedAuthenticator, MsChapV1Request, MsChapV2Request, PapRequest, SessionAuthorization } from '../ppp/Authenticator.js';
import { hashNtPasswordHash, ntChallengeResponseV1, ntPasswordHash, verifyMsChapV2 } from '../ppp/auth/MsChapCrypto.js';
import { stripDomain } from '../ppp/auth/MsChapV2Server.js';
import { getStartKeyV1 } from '../ppp/mppe/MppeKeys.js';
import type { StoredUser, UserStore } from './UserStore.js';

/** RFC 2759 §6 E=691 for every refusal: E=647 (account disabled) would tell a guesser the password was right. */
const ERROR_AUTHENTICATION_FAILURE = 691;
/** What unknown and disabled users are verified against: a hash no password is known to give. */
const DUMMY_NT_HASH = randomBytes(16);
/** RFC 2433 §4: Flags bit 0 = "use the NT-Response"; the LM-Response is deprecated and not checked here. */
const MSCHAPV1_USE_NT_RESPONSE = 0x01;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export class LocalAuthenticator implements ExtendedAuthenticator {
  constructor(private readonly users: UserStore) {}

  async verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    const user = this.users.find(stripDomain(request.username));
    const verdict = verifyMsChapV2(usableHash(user), request.authenticatorChallenge, request.peerChallenge, request.username, request.ntResponse);
    if (!user?.enabled || !verdict) return refusal(user);
    return {
      ok: true,
      authenticatorResponse: verdict.authenticatorResponse,
      mppeKeys: { sendKey: verdict.masterSendKey, recvKey: verdict.masterRecvKey },
      ...(user.staticAddress !== null ? { staticAddress: user.staticAddress } : {}),
      authorization: this.authorization(user),
    };
  }

  /** RFC 1334: the password arrives in clear; its NT hash is compared with the stored one. No MPPE keys. */
  async verifyPap(request: PapRequest): Promise<BasicAuthResult> {
    // Hash before the lookup: an unknown user costs the same as a wrong password.
    const hash = ntPasswordHash(decodePassword(request.password));
    const user = this.users.find(stripDomain(request.username));
    const right = timingSafeEqual(hash, usableHash(user));
    if (!user?.enabled || !right) return refusal(user);
    return this.granted(user);
  }

  /**
   * RFC 2433 §4 / App. A.5: NT-Response = ChallengeResponse(Challenge, NtPasswordHash). MPPE (RFC 3079 §2.3,
   * 128-bit): Get_Start_Key(Challenge, PasswordHashHash) is the start key of both
   * directions, as pppd passes it.
   */
  async verifyMsChapV1(request: MsChapV1Request): Promise<BasicAuthResult> {
    const user = this.users.find(stripDomain(request.username));
    if ((request.flags & MSCHAPV1_USE_NT_RESPONSE) === 0) {
      return { ok: false, errorCode: ERROR_AUTHENTICATION_FAILURE, message: 'LAN Manager response not supported' };
    }
    if (request.challenge.length !== 8 || request.ntResponse.length !== 24) {
      return { ok: false, errorCode: ERROR_AUTHENTICATION_FAILURE, message: 'malformed MS-CHAPv1 response' };
    }
    const expected = ntChallengeResponseV1(request.challenge, usableHash(user));
    const right = timingSafeEqual(expected, request.ntResponse);
    if (!user?.enabled || !right) return refusal(user);
    const startKey = getStartKeyV1(request.challenge, hashNtPasswordHash(user.ntHash));
    return this.granted(user, { sendKey: startKey, recvKey: Buffer.from(startKey) });
  }

  private granted(user: StoredUser, mppeKeys?: { sendKey: Buffer; recvKey: Buffer }): BasicAuthResult {
    return {
      ok: true,
      ...(mppeKeys ? { mppeKeys } : {}),
      ...(user.staticAddress !== null ? { staticAddress: user.staticAddress } : {}),
      authorization: this.authorization(user),
    };
  }

  /**
   * The user's stored limits, carried the way a RADIUS Access-Accept carries Session-Timeout and
   * Idle-Timeout (RFC 2865 §5.27, §5.28): the session layer applies them whatever else runs.
   */
  private authorization({ limits }: StoredUser): SessionAuthorization {
    return {
      source: 'local',
      ...(limits.sessionTimeout !== null ? { sessionTimeout: limits.sessionTimeout } : {}),
      ...(limits.idleTimeout !== null ? { idleTimeout: limits.idleTimeout } : {}),
    };
  }
}

/** The hash to verify against: the user's own, or the dummy for an unknown or disabled user (the same work either way). */
function usableHash(user: StoredUser | undefined | null): Buffer {
  return user?.enabled ? user.ntHash : DUMMY_NT_HASH;
}

/** Every refusal looks the same to the peer (E=691, the generic text); the reason is for our log. */
function refusal(user: StoredUser | undefined | null): { ok: false; errorCode: number; message: string } {
  const message = !user ? 'unknown user' : !user.enabled ? 'account disabled' : 'wrong password';
  return { ok: false, errorCode: ERROR_AUTHENTICATION_FAILURE, message };
}

/**
 * PAP password octets → the string whose NT hash the store holds. pppd sends what its secrets file holds
 * (UTF-8); anything that is not valid UTF-8 is taken as Latin-1 rather than refused outright.
 */
function decodePassword(octets: Buffer): string {
  try {
    return UTF8.decode(octets);
  } catch {
    return octets.toString('latin1');
  }
}
