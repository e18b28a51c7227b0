// MS-CHAP computations: RFC 2759 §8 (MS-CHAPv2) and RFC 2433 App. A (MS-CHAPv1).
// The user store keeps only NT hashes, so every function past NtPasswordHash takes the hash, not the password.

import { createHash, timingSafeEqual } from 'node:crypto';
import { desEncryptBlock } from '../crypto/Des.js';
import { md4 } from '../crypto/Md4.js';
import { getAsymmetricStartKey, getMasterKey } from '../mppe/MppeKeys.js';

const AUTH_MAGIC1 = Buffer.from('Magic server to client signing constant', 'ascii'); // 39 octets
const AUTH_MAGIC2 = Buffer.from('Pad to make it do more than one iteration', 'ascii'); // 41 octets
const LM_MAGIC = Buffer.from('KGS!@#$%', 'ascii');
const BACKSLASH = 0x5c;

function requireLength(name: string, v: Uint8Array, len: number): void {
  if (v.length !== len) throw new RangeError(`${name} must be ${len} octets, got ${v.length}`);
}

/** RFC 2759 §8.3 NtPasswordHash: MD4 of the UTF-16LE password, no terminating NUL. */
export function ntPasswordHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** RFC 2759 §8.4 HashNtPasswordHash: MD4 of the NT hash ("PasswordHashHash"). */
export function hashNtPasswordHash(passwordHash: Buffer): Buffer {
  requireLength('PasswordHash', passwordHash, 16);
  return md4(passwordHash);
}

/**
 * RFC 2433 A.2 LmPasswordHash: password upper-cased (ASCII letters only; other characters are taken as
 * Latin-1 octets), zero-padded/truncated to 14, each half DES-encrypts "KGS!@#$%". Only RFC 3079 §2
 * 40/56-bit MS-CHAPv1 keys need it.
 */
export function lmPasswordHash(password: string): Buffer {
  const upper = password.replace(/[a-z]/g, (ch) => ch.toUpperCase());
  const pw = Buffer.alloc(14);
  Buffer.from(upper, 'latin1').copy(pw, 0, 0, 14);
  return Buffer.concat([desEncryptBlock(pw.subarray(0, 7), LM_MAGIC), desEncryptBlock(pw.subarray(7, 14), LM_MAGIC)]);
}

/** The user-name octets ChallengeHash uses: everything after the last backslash ("DOMAIN\user" → "user"). */
function userNameOctets(username: string | Buffer): Buffer {
  if (typeof username === 'string') {
    // Strings are encoded as UTF-8; pass the Name field's Buffer to hash the octets exactly as received.
    return Buffer.from(username.slice(username.lastIndexOf('\\') + 1), 'utf8');
  }
  return username.subarray(username.lastIndexOf(BACKSLASH) + 1);
}

/** RFC 2759 §8.2 ChallengeHash: SHA1(PeerChallenge ‖ AuthenticatorChallenge ‖ UserName)[0:8]. */
export function challengeHash(peerChallenge: Buffer, authenticatorChallenge: Buffer, username: string | Buffer): Buffer {
  requireLength('PeerChallenge', peerChallenge, 16);
  requireLength('AuthenticatorChallenge', authenticatorChallenge, 16);
  return createHash('sha1').update(peerChallenge).update(authenticatorChallenge).update(userNameOctets(username)).digest().subarray(0, 8);
}

/** RFC 2759 §8.5 ChallengeResponse: the NT hash zero-padded to 21 octets, three DES keys of 7, each encrypts the challenge. */
export function challengeResponse(challenge8: Buffer, passwordHash16: Buffer): Buffer {
  requireLength('Challenge', challenge8, 8);
  requireLength('PasswordHash', passwordHash16, 16);
  const z = Buffer.alloc(21);
  passwordHash16.copy(z);
  return Buffer.concat([desEncryptBlock(z.subarray(0, 7), challenge8), desEncryptBlock(z.subarray(7, 14), challenge8), desEncryptBlock(z.subarray(14, 21), challenge8)]);
}

/** RFC 2759 §8.1 GenerateNTResponse, from the NT hash. */
export function generateNtResponse(authChallenge: Buffer, peerChallenge: Buffer, username: string | Buffer, passwordHash16: Buffer): Buffer {
  return challengeResponse(challengeHash(peerChallenge, authChallenge, username), passwordHash16);
}

/** RFC 2759 §8.7 GenerateAuthenticatorResponse, from the NT hash: "S=" + 40 uppercase hex digits. */
export function generateAuthenticatorResponse(passwordHash16: Buffer, ntResponse: Buffer, peerChallenge: Buffer, authChallenge: Buffer, username: string | Buffer): string {
  requireLength('NT-Response', ntResponse, 24);
  const digest = createHash('sha1').update(hashNtPasswordHash(passwordHash16)).update(ntResponse).update(AUTH_MAGIC1).digest();
  const signed = createHash('sha1')
    .update(digest)
    .update(challengeHash(peerChallenge, authChallenge, username))
    .update(AUTH_MAGIC2)
    .digest();
  return `S=${signed.toString('hex').toUpperCase()}`;
}

/** RFC 2433 A.5 NtChallengeResponse (MS-CHAPv1): ChallengeResponse over the 8-octet challenge. */
export function ntChallengeResponseV1(challenge8: Buffer, passwordHash16: Buffer): Buffer {
  return challengeResponse(challenge8, passwordHash16);
}

export interface MsChapV2Success {
  /** "S=…" for the Success packet (RFC 2759 §5). */
  authenticatorResponse: string;
  /** Server MasterSendKey (Magic3, RFC 3079 §3.4), 16 octets — the MS-MPPE-Send-Key equivalent. */
  masterSendKey: Buffer;
  /** Server MasterReceiveKey (Magic2), 16 octets — the MS-MPPE-Recv-Key equivalent. */
  masterRecvKey: Buffer;
}

/**
 * Checks an MS-CHAPv2 Response (RFC 2759 §4 fields, username as received) against the user's NT hash.
 * Returns null when the NT-Response does not match (or a field has the wrong length — a failed
 * authentication, never a throw), otherwise the authenticator response and the server's MPPE master keys.
 */
export function verifyMsChapV2(passwordHash16: Buffer, authChallenge: Buffer, peerChallenge: Buffer, username: string | Buffer, ntResponse: Buffer): MsChapV2Success | null {
  if (passwordHash16.length !== 16 || ntResponse.length !== 24 || peerChallenge.length !== 16 || authChallenge.length !== 16) {
    return null;
  }
  const expected = generateNtResponse(authChallenge, peerChallenge, username, passwordHash16);
  if (!timingSafeEqual(expected, ntResponse)) return null;

  const masterKey = getMasterKey(hashNtPasswordHash(passwordHash16), ntResponse);
  return {
    authenticatorResponse: generateAuthenticatorResponse(passwordHash16, ntResponse, peerChallenge, authChallenge, username),
    masterSendKey: getAsymmetricStartKey(masterKey, 16, true, true),
    masterRecvKey: getAsymmetricStartKey(masterKey, 16, false, true),
  };
}
