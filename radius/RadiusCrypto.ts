// RADIUS authenticators and hidden values: User-Password hiding (RFC 2865 §5.2),
// Request/Response Authenticators (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3), Message-Authenticator
// (RFC 2869 §5.14, RFC 3579 §3.2, RFC 5176 §3.4), MS-MPPE-Send/Recv-Key salt encryption (RFC 2548
// §2.4.2/2.4.3) and MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1, RFC 3079 §2).
// All comparisons of received digests are constant-time over Buffers.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AUTHENTICATOR_LENGTH,
  encodePacket,
  encodedAttributeLength,
  isVendorAttribute,
  MESSAGE_AUTHENTICATOR,
  RADIUS_HEADER_LENGTH,
  RadiusCode,
  RadiusFormatError,
  type DecodedRadiusPacket,
  type RadiusAttribute,
} from './RadiusPacket.js';

/** A shared secret: a string is taken as UTF-8 octets. */
export type RadiusSecret = string | Buffer;

const ZERO_AUTHENTICATOR = Buffer.alloc(AUTHENTICATOR_LENGTH);
const MAX_HIDDEN_PASSWORD = 128;

function secretOctets(secret: RadiusSecret): Buffer {
  const s = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  // RFC 2865 §3: the secret must not be empty (it would make every authenticator forgeable).
  if (s.length === 0) throw new RangeError('RADIUS shared secret must not be empty');
  return s;
}

/** Equal-length check first (timingSafeEqual throws otherwise), then a constant-time compare. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** 16 unpredictable octets for an Access-Request (RFC 2865 §3, "Request Authenticator"). */
export function randomAuthenticator(): Buffer {
  return randomBytes(AUTHENTICATOR_LENGTH);
}

/**
 * The RFC 2865 §5.2 chain shared by User-Password, MS-CHAP-MPPE-Keys and the salted keys:
 * b1 = MD5(S ‖ iv), bi = MD5(S ‖ c(i-1)), ci = pi ⊕ bi. `data` must be a multiple of 16 octets.
 */
function md5Chain(data: Buffer, secret: Buffer, iv: Buffer, decrypt: boolean): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let prev = iv;
  for (let off = 0; off < data.length; off += 16) {
    const b = createHash('md5').update(secret).update(prev).digest();
    for (let i = 0; i < 16; i++) out[off + i] = data[off + i] ^ b[i];
    prev = decrypt ? data.subarray(off, off + 16) : out.subarray(off, off + 16);
  }
  return out;
}

function padTo16(data: Buffer): Buffer {
  const len = Math.max(16, Math.ceil(data.length / 16) * 16);
  const p = Buffer.alloc(len);
  data.copy(p);
  return p;
}

// ---- User-Password (RFC 2865 §5.2) -----------------------------------------------------------

/** Hides a password for an Access-Request with this Request Authenticator: 16..128 octets. */
export function hideUserPassword(password: string | Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  const p = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (p.length > MAX_HIDDEN_PASSWORD) throw new RadiusFormatError('User-Password longer than 128 octets');
  return md5Chain(padTo16(p), secretOctets(secret), requestAuthenticator, false);
}

/** Reverses hideUserPassword; trailing NUL padding is removed. */
export function unhideUserPassword(hidden: Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  if (hidden.length < 16 || hidden.length > MAX_HIDDEN_PASSWORD || hidden.length % 16 !== 0) {
    throw new RadiusFormatError(`hidden User-Password of ${hidden.length} octets is not 16..128 in steps of 16`);
  }
  const p = md5Chain(hidden, secretOctets(secret), requestAuthenticator, true);
  let end = p.length;
  while (end > 0 && p[end - 1] === 0) end--;
  return p.subarray(0, end);
}

// ---- Authenticators -----------------------------------------------------------------------------

/** MD5(Code ‖ ID ‖ Length ‖ `authenticatorField` ‖ Attributes ‖ S) over a packet's octets. */
function packetDigest(raw: Buffer, authenticatorField: Buffer, secret: Buffer): Buffer {
  return createHash('md5').update(raw.subarray(0, 4)).update(authenticatorField).update(raw.subarray(RADIUS_HEADER_LENGTH)).update(secret).digest();
}

/** Response Authenticator of a reply (RFC 2865 §3; also Accounting-Response, Disconnect/CoA-ACK/NAK). */
export function responseAuthenticator(raw: Buffer, requestAuthenticator: Buffer, secret: RadiusSecret): Buffer {
  return packetDigest(raw, requestAuthenticator, secretOctets(secret));
}

/** Request Authenticator of an Accounting-Request, Disconnect-Request or CoA-Request: 16 zeros in place (RFC 2866 §3, RFC 5176 §2.3). */
export function accountingRequestAuthenticator(raw: Buffer, secret: RadiusSecret): Buffer {
  return packetDigest(raw, ZERO_AUTHENTICATOR, secretOctets(secret));
}

export function verifyResponseAuthenticator(raw: Buffer, requestAuthenticator: Buffer, secret: RadiusSecret): boolean {
  if (raw.length < RADIUS_HEADER_LENGTH) return false;
  return constantTimeEqual(responseAuthenticator(raw, requestAuthenticator, secret), raw.subarray(4, 20));
}

/** For Accounting-Request, Disconnect-Request, CoA-Request (an Access-Request's authenticator is random). */
export function verifyAccountingRequestAuthenticator(raw: Buffer, secret: RadiusSecret): boolean {
  if (raw.length < RADIUS_HEADER_LENGTH) return false;
  return constantTimeEqual(accountingRequestAuthenticator(raw, secret), raw.subarray(4, 20));
}

// ---- Message-Authenticator ---------------------------------------------------------------------

/**
 * HMAC-MD5(S, packet) with the Authenticator field replaced by `authenticatorField` and the
 * Message-Authenticator value (at `maOffset`) taken as 16 zeros. Which authenticator goes in the field
 * (RFC 3579 §3.2, RFC 5176 §3.4): Access-Request its own; Access-Accept/Reject/Challenge and ACK/NAKs the request's;
 * Accounting/Disconnect/CoA-Request 16 zeros. Fed in pieces, so `raw` is not copied or modified.
 */
export function messageAuthenticator(raw: Buffer, maOffset: number, authenticatorField: Buffer, secret: RadiusSecret): Buffer {
  if (maOffset < RADIUS_HEADER_LENGTH + 2 || maOffset + AUTHENTICATOR_LENGTH > raw.length) {
    throw new RadiusFormatError('Message-Authenticator offset outside the packet');
  }
  return createHmac('md5', secretOctets(secret))
    .update(raw.subarray(0, 4))
    .update(authenticatorField)
    .update(raw.subarray(RADIUS_HEADER_LENGTH, maOffset))
    .update(ZERO_AUTHENTICATOR)
    .update(raw.subarray(maOffset + AUTHENTICATOR_LENGTH))
    .digest();
}

export type MessageAuthenticatorCheck = 'absent' | 'valid' | 'invalid';

/** Checks a decoded packet's Message-Authenticator; see messageAuthenticator for `authenticatorField`. */
export function checkMessageAuthenticator(packet: DecodedRadiusPacket, authenticatorField: Buffer, secret: RadiusSecret): MessageAuthenticatorCheck {
  const off = packet.messageAuthenticatorOffset;
  if (off < 0) return 'absent';
  const expected = messageAuthenticator(packet.raw, off, authenticatorField, secret);
  return constantTimeEqual(expected, packet.raw.subarray(off, off + AUTHENTICATOR_LENGTH)) ? 'valid' : 'invalid';
}

/** Offset of the value of the first Message-Authenticator in the encoding of `attributes`, or -1. */
function maValueOffset(attributes: readonly RadiusAttribute[]): number {
  let off = RADIUS_HEADER_LENGTH;
  for (const a of attributes) {
    if (!isVendorAttribute(a) && a.type === MESSAGE_AUTHENTICATOR) {
      if (a.value.length !== AUTHENTICATOR_LENGTH) throw new RadiusFormatError('Message-Authenticator placeholder must be 16 octets');
      return off + 2;
    }
    off += encodedAttributeLength(a);
  }
  return -1;
}

export interface UnsealedPacket {
  code: number;
  identifier: number;
  /** A Message-Authenticator attribute (any 16-octet value, e.g. zeros) marks where the HMAC goes. */
  attributes: RadiusAttribute[];
}

/**
 * Final octets of a request. Access-Request / Status-Server: `authenticator` (random if omitted) then
 * the Message-Authenticator. Accounting-, Disconnect-, CoA-Request: Message-Authenticator (if any) over
 * a zero authenticator, then the MD5 Request Authenticator over the result (RFC 5176 §3.4 order).
 * User-Password must already be hidden with the same authenticator.
 */
export function sealRequest(packet: UnsealedPacket, secret: RadiusSecret, authenticator?: Buffer): Buffer {
  const maOffset = maValueOffset(packet.attributes);
  switch (packet.code) {
    case RadiusCode.AccessRequest:
    case RadiusCode.StatusServer: {
      const auth = authenticator ?? randomAuthenticator();
      const raw = encodePacket({ ...packet, authenticator: auth });
      if (maOffset >= 0) messageAuthenticator(raw, maOffset, auth, secret).copy(raw, maOffset);
      return raw;
    }
    case RadiusCode.AccountingRequest:
    case RadiusCode.DisconnectRequest:
    case RadiusCode.CoaRequest: {
      const raw = encodePacket({ ...packet, authenticator: ZERO_AUTHENTICATOR });
      if (maOffset >= 0) messageAuthenticator(raw, maOffset, ZERO_AUTHENTICATOR, secret).copy(raw, maOffset);
      accountingRequestAuthenticator(raw, secret).copy(raw, 4);
      return raw;
    }
    default:
      throw new RadiusFormatError(`code ${packet.code} is not a request`);
  }
}

/** Final octets of a reply: Message-Authenticator (if any) with the request's authenticator in place, then the Response Authenticator. */
export function sealResponse(packet: UnsealedPacket, requestAuthenticator: Buffer, secret: RadiusSecret): Buffer {
  const maOffset = maValueOffset(packet.attributes);
  const raw = encodePacket({ ...packet, authenticator: requestAuthenticator });
  if (maOffset >= 0) messageAuthenticator(raw, maOffset, requestAuthenticator, secret).copy(raw, maOffset);
  responseAuthenticator(raw, requestAuthenticator, secret).copy(raw, 4);
  return raw;
}

// ---- Microsoft keys (RFC 2548) -----------------------------------------------------------------

/**
 * MS-MPPE-Send-Key / Recv-Key value (RFC 2548 §2.4.2): Salt(2) ‖ chain(S, RequestAuth ‖ Salt) over
 * KeyLength ‖ Key ‖ zero padding. `salt` is forced to have its high bit set (the RFC's MUST).
 */
export function encryptMppeKey(key: Buffer, secret: RadiusSecret, requestAuthenticator: Buffer, salt: number): Buffer {
  if (key.length === 0 || key.length > 255) throw new RadiusFormatError(`MPPE key of ${key.length} octets`);
  const saltOctets = Buffer.allocUnsafe(2);
  saltOctets.writeUInt16BE(0x8000 | (salt & 0x7fff), 0);
  const plain = padTo16(Buffer.concat([Buffer.of(key.length), key]));
  const iv = Buffer.concat([requestAuthenticator, saltOctets]);
  return Buffer.concat([saltOctets, md5Chain(plain, secretOctets(secret), iv, false)]);
}

/** Decrypts an MS-MPPE-Send-Key / Recv-Key value with the Access-Request's authenticator; returns the key. */
export function decryptMppeKey(value: Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  const cipherLength = value.length - 2;
  if (cipherLength < 16 || cipherLength % 16 !== 0) {
    throw new RadiusFormatError(`MPPE key attribute of ${value.length} octets is not Salt(2) + a multiple of 16`);
  }
  const iv = Buffer.concat([requestAuthenticator, value.subarray(0, 2)]);
  const plain = md5Chain(value.subarray(2), secretOctets(secret), iv, true);
  const keyLength = plain[0];
  // RFC 2548 §2.4.2: KeyLength must fit in what was decrypted (a wrong secret usually fails here).
  if (keyLength === 0 || keyLength > plain.length - 1) {
    throw new RadiusFormatError('MPPE key attribute decrypts to an impossible key length (wrong secret or request authenticator?)');
  }
  return plain.subarray(1, 1 + keyLength);
}

export interface MsChapMppeKeys {
  /** LM-Key, 8 octets (FreeRADIUS sends zeros). */
  lmKey: Buffer;
  /** "NT-Key", 16 octets: FreeRADIUS and pppd treat it as PasswordHashHash (rlm_mschap.c, pppd radius.c), not the NT hash RFC 2548 names. */
  ntKey: Buffer;
}

const MS_CHAP_MPPE_KEYS_LENGTH = 32; // LM-Key 8 ‖ NT-Key 16 ‖ padding 8

/** MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): 32 octets hidden like User-Password with the request's authenticator. */
export function decodeMsChapMppeKeys(value: Buffer, secret: RadiusSecret, requestAuthenticator: Buffer): MsChapMppeKeys {
  if (value.length !== MS_CHAP_MPPE_KEYS_LENGTH) {
    throw new RadiusFormatError(`MS-CHAP-MPPE-Keys must be 32 octets, got ${value.length}`);
  }
  // Not unhideUserPassword: trailing zero octets are key material here, not padding.
  const plain = md5Chain(value, secretOctets(secret), requestAuthenticator, true);
  return { lmKey: plain.subarray(0, 8), ntKey: plain.subarray(8, 24) };
}

export function encodeMsChapMppeKeys(keys: MsChapMppeKeys, secret: RadiusSecret, requestAuthenticator: Buffer): Buffer {
  if (keys.lmKey.length !== 8 || keys.ntKey.length !== 16) throw new RadiusFormatError('MS-CHAP-MPPE-Keys needs an 8-octet LM-Key and a 16-octet NT-Key');
  const plain = Buffer.alloc(MS_CHAP_MPPE_KEYS_LENGTH);
  keys.lmKey.copy(plain, 0);
  keys.ntKey.copy(plain, 8);
  return md5Chain(plain, secretOctets(secret), requestAuthenticator, false);
}
