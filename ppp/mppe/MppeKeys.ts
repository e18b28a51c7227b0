// MPPE key derivation: RFC 3079 (start keys from MS-CHAPv1/v2) and RFC 3078 §7.3 (session keys, key change).
// These helpers allocate and are meant for session set-up and tests; MppeCipher runs the same key change
// in place on preallocated buffers for the data path.

import { createHash } from 'node:crypto';
import { Rc4 } from '../crypto/Rc4.js';

export type MppeBits = 40 | 56 | 128;

/** RFC 3078 §7.3 SHApad1 / SHApad2. */
export const MPPE_PAD1: Buffer = Buffer.alloc(40, 0x00);
export const MPPE_PAD2: Buffer = Buffer.alloc(40, 0xf2);

const MAGIC1 = Buffer.from('This is the MPPE Master Key', 'ascii');
const MAGIC2 = Buffer.from('On the client side, this is the send key; on the server side, it is the receive key.', 'ascii');
const MAGIC3 = Buffer.from('On the client side, this is the receive key; on the server side, it is the send key.', 'ascii');

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function requireLength(name: string, v: Uint8Array, min: number): void {
  if (v.length < min) throw new RangeError(`${name} must be at least ${min} octets, got ${v.length}`);
}

/** Session key length in octets: 8 for 40/56-bit, 16 for 128-bit (RFC 3079 §3.4). */
export function mppeKeyLength(bits: MppeBits): 8 | 16 {
  return bits === 128 ? 16 : 8;
}

/** RFC 3079 §3.4 GetMasterKey (MS-CHAPv2): SHA1(PasswordHashHash ‖ NT-Response ‖ Magic1)[0:16]. */
export function getMasterKey(pwHashHash: Buffer, ntResponse: Buffer): Buffer {
  requireLength('PasswordHashHash', pwHashHash, 16);
  requireLength('NT-Response', ntResponse, 24);
  return sha1(pwHashHash.subarray(0, 16), ntResponse.subarray(0, 24), MAGIC1).subarray(0, 16);
}

/**
 * RFC 3079 §3.4 GetAsymmetricStartKey. Server send (IsSend = IsServer) uses Magic3, server receive Magic2;
 * the server's send key equals the client's receive key. The result is the direction's "master" (start) key.
 */
export function getAsymmetricStartKey(masterKey: Buffer, lenOctets: 8 | 16, isSend: boolean, isServer: boolean): Buffer {
  requireLength('MasterKey', masterKey, 16);
  const magic = isSend === isServer ? MAGIC3 : MAGIC2;
  return sha1(masterKey.subarray(0, 16), MPPE_PAD1, magic, MPPE_PAD2).subarray(0, lenOctets);
}

/** RFC 3078 §7.3 GetNewKeyFromSHA (= RFC 3079 GetKey): SHA1(Start[0:len] ‖ pad1 ‖ Session[0:len] ‖ pad2)[0:len]. */
export function getNewKeyFromSha(startKey: Buffer, sessionKey: Buffer, len: number): Buffer {
  requireLength('start key', startKey, len);
  requireLength('session key', sessionKey, len);
  return sha1(startKey.subarray(0, len), MPPE_PAD1, sessionKey.subarray(0, len), MPPE_PAD2).subarray(0, len);
}

/**
 * RFC 3078 §7.3 / RFC 3079: 40-bit keys start D1 26 9E, 56-bit keys start D1; 128-bit unchanged.
 * In place on the key that starts at `key[off]`.
 */
export function reduceKey(key: Uint8Array, bits: MppeBits, off = 0): Uint8Array {
  if (bits === 40) {
    key[off] = 0xd1;
    key[off + 1] = 0x26;
    key[off + 2] = 0x9e;
  } else if (bits === 56) {
    key[off] = 0xd1;
  }
  return key;
}

/**
 * Initial session key of one direction (RFC 3079 §3.4 step 4): GetNewKeyFromSHA(start, start, len), reduced.
 * `startKey` is the direction's master key (MasterSendKey / MasterRecvKey). No RC4 step, unlike a key change.
 */
export function initialSessionKey(startKey: Buffer, bits: MppeBits): Buffer {
  const len = mppeKeyLength(bits);
  const key = getNewKeyFromSha(startKey, startKey, len);
  reduceKey(key, bits);
  return key;
}

/**
 * RFC 3078 §7.3 key change, in place on `sessionKey` (the current, reduced key; `len` octets used):
 * interim = GetNewKeyFromSHA(start, session); session = RC4(interim, interim); reduce.
 */
export function changeKey(startKey: Buffer, sessionKey: Buffer, bits: MppeBits): Buffer {
  const len = mppeKeyLength(bits);
  const interim = getNewKeyFromSha(startKey, sessionKey, len);
  interim.copy(sessionKey, 0, 0, len);
  new Rc4(interim).process(sessionKey, 0, len);
  reduceKey(sessionKey, bits);
  return sessionKey;
}

/** RFC 3079 §2.4 Get_Start_Key (MS-CHAPv1, 128-bit): SHA1(PwHashHash ‖ PwHashHash ‖ Challenge8)[0:16]. */
export function getStartKeyV1(challenge8: Buffer, pwHashHash: Buffer): Buffer {
  requireLength('challenge', challenge8, 8);
  requireLength('PasswordHashHash', pwHashHash, 16);
  const hh = pwHashHash.subarray(0, 16);
  return sha1(hh, hh, challenge8.subarray(0, 8)).subarray(0, 16);
}
