// RADIUS decoding (radius/RadiusPacket.ts decodePacket), the authenticator checks (radius/RadiusCrypto.ts),
// the hidden-value decoders (MS-MPPE-Send/Recv-Key, MS-CHAP-MPPE-Keys, User-Password) and the value
// readers of radius/Dictionary.ts, on any datagram. Generated inputs are replies and Disconnect/CoA
// requests sealed with the right secret (so mutations reach past the authenticators), with attribute
// menus of valid, boundary and malformed values.
// Documented: RadiusFormatError only (decoder, hidden values, readers); verify*/check* return a verdict
// and never throw; describeAttribute never throws. Invariants: the packet is cut at its Length and its
// attributes tile it; decode(encode(decoded)) gives the same attributes; the Message-Authenticator
// offset points at a type-80 attribute of 18 octets; every authenticator verdict equals an independent
// MD5 / HMAC-MD5 computation (RFC 2865 §3, RFC 2866 §3, RFC 3579 §3.2, RFC 5176 §2.3); a decrypted
// MPPE key fits in what was decrypted.

import { createHash, createHmac } from 'node:crypto';
import { Attr, describeAttribute, MsAttr, readAddress, readInteger, readTaggedInteger, readTaggedString, readText, readTime, VENDOR_MICROSOFT } from '../../../radius/Dictionary.js';
import {
  checkMessageAuthenticator,
  decodeMsChapMppeKeys,
  decryptMppeKey,
  encodeMsChapMppeKeys,
  encryptMppeKey,
  hideUserPassword,
  sealRequest,
  sealResponse,
  unhideUserPassword,
  verifyAccountingRequestAuthenticator,
  verifyResponseAuthenticator,
} from '../../../radius/RadiusCrypto.js';
import { decodePacket, encodePacket, isVendorAttribute, type RadiusAttribute, RadiusFormatError } from '../../../radius/RadiusPacket.js';
import type { Prng } from '../Prng.js';
import { allowOnly, attempt, check, type FuzzTarget } from '../run.js';

export const SECRET = 'fuzz-secret';
export const REQUEST_AUTHENTICATOR = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const ZERO16 = Buffer.alloc(16);

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};

/** One attribute from a menu of what replies and DAS requests carry, in valid and broken forms. */
export function randomAttribute(rng: Prng, requestAuthenticator: Buffer, secret: string = SECRET): RadiusAttribute {
  const text = () => Buffer.from(rng.pick(['alice', 'CORP\\alice', 'x'.repeat(rng.int(250)), '\u00e9', 'sess-1']), 'utf8').subarray(0, 253);
  const len = () => rng.pick([0, 1, 3, 4, 5, 16, 17, 253]);
  const ms = (type: number, value: Buffer): RadiusAttribute => ({ vendorId: VENDOR_MICROSOFT, type, value: value.subarray(0, 247) });
  switch (rng.int(22)) {
    case 0:
      return { type: Attr.UserName, value: text() };
    case 1:
      return { type: Attr.ReplyMessage, value: text() };
    case 2:
      return {
        type: rng.pick([Attr.SessionTimeout, Attr.IdleTimeout, Attr.AcctInterimInterval, Attr.NasPort, Attr.ServiceType, Attr.ErrorCause]),
        value: rng.chance(0.8) ? u32(rng.pick([0, 1, 60, 0xffffffff, rng.u32()])) : rng.bytes(len()),
      };
    case 3:
      return { type: rng.pick([Attr.FramedIpAddress, Attr.NasIpAddress]), value: rng.chance(0.8) ? u32(rng.pick([0xffffffff, 0xfffffffe, 0xc612640a, rng.u32()])) : rng.bytes(len()) };
    case 4:
      return { type: Attr.Class, value: rng.bytes(1 + rng.int(40)) };
    case 5:
      return { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) };
    case 6:
      return ms(
        rng.pick([MsAttr.MppeSendKey, MsAttr.MppeRecvKey]),
        rng.chance(0.7) ? encryptMppeKey(rng.bytes(rng.pick([16, 8, 1, 32])), secret, requestAuthenticator, rng.int(0x10000)) : rng.bytes(len()),
      );
    case 7:
      return ms(MsAttr.ChapMppeKeys, rng.chance(0.7) ? encodeMsChapMppeKeys({ lmKey: rng.bytes(8), ntKey: rng.bytes(16) }, secret, requestAuthenticator) : rng.bytes(len()));
    case 8:
      return ms(
        MsAttr.Chap2Success,
        Buffer.concat([Buffer.from([rng.byte()]), Buffer.from(`S=${rng.bytes(20).toString('hex').toUpperCase()}`), rng.chance(0.3) ? Buffer.from(' M=ok') : Buffer.alloc(0)]),
      );
    case 9:
      return ms(
        rng.pick([MsAttr.MppeEncryptionPolicy, MsAttr.MppeEncryptionTypes, MsAttr.PrimaryDnsServer, MsAttr.SecondaryDnsServer]),
        rng.chance(0.8) ? u32(rng.pick([1, 2, 4, 6, 0x08080808, rng.u32()])) : rng.bytes(len()),
      );
    case 10:
      return ms(MsAttr.ChapError, Buffer.from(`${String.fromCharCode(rng.byte())}E=${rng.pick([691, 646, 647, 648, 649])} R=0 V=3`, 'latin1'));
    case 11:
      return { type: Attr.TunnelType, value: rng.chance(0.8) ? Buffer.from([rng.int(32), 0, 0, rng.pick([1, 3, 10])]) : rng.bytes(len()) };
    case 12:
      return { type: Attr.EventTimestamp, value: rng.chance(0.8) ? u32(rng.u32()) : rng.bytes(len()) };
    case 13:
      return { type: Attr.ProxyState, value: rng.bytes(1 + rng.int(20)) };
    case 14:
      return { type: Attr.UserPassword, value: rng.chance(0.7) ? hideUserPassword(rng.bytes(rng.int(40)), secret, requestAuthenticator) : rng.bytes(len()) };
    case 15:
      return { type: rng.pick([Attr.AcctSessionId, Attr.AcctMultiSessionId, Attr.NasIdentifier, Attr.CallingStationId, Attr.CalledStationId, Attr.NasPortId]), value: text() };
    case 16:
      return { type: Attr.TunnelPrivateGroupId, value: Buffer.concat([Buffer.from([rng.int(40)]), text()]).subarray(0, 253) };
    case 17:
      return { vendorId: rng.pick([9, 2636, 14988, 0xffffff]), type: rng.byte(), value: rng.bytes(rng.int(30)) };
    case 18:
      return ms(rng.byte(), rng.bytes(rng.int(30)));
    case 19:
      return { type: Attr.EapMessage, value: rng.bytes(1 + rng.int(253)) };
    default:
      return { type: rng.pick([0, 255, 192, 241, 26 + 1]), value: rng.bytes(rng.int(20)) };
  }
}

export function randomAttributes(rng: Prng, requestAuthenticator: Buffer, secret: string = SECRET): RadiusAttribute[] {
  const out: RadiusAttribute[] = [];
  if (rng.chance(0.7)) out.push({ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) });
  for (let n = rng.small(8); n > 0; n--) out.push(randomAttribute(rng, requestAuthenticator, secret));
  // At most one Message-Authenticator (sealing needs one placeholder).
  let seenMa = false;
  return out.filter((a) => {
    if (a.vendorId !== undefined || a.type !== Attr.MessageAuthenticator) return true;
    if (seenMa) return false;
    seenMa = true;
    return true;
  });
}

/** A reply to REQUEST_AUTHENTICATOR sealed with `secret`; code from the usual ones or any. */
export function sealedReply(rng: Prng, codes: readonly number[], secret: string = SECRET): Buffer {
  const attributes = randomAttributes(rng, REQUEST_AUTHENTICATOR, secret);
  try {
    return sealResponse({ code: rng.chance(0.9) ? rng.pick(codes) : rng.byte(), identifier: rng.byte(), attributes }, REQUEST_AUTHENTICATOR, secret);
  } catch {
    return sealResponse({ code: rng.pick(codes), identifier: rng.byte(), attributes: [] }, REQUEST_AUTHENTICATOR, secret);
  }
}

/** A Disconnect-/CoA-Request sealed with `secret` (Request Authenticator over a zero field). */
export function sealedDasRequest(rng: Prng, secret: string, now: number): Buffer {
  const attributes = randomAttributes(rng, ZERO16, secret).filter((a) => !(a.vendorId === undefined && a.type === Attr.EventTimestamp));
  if (rng.chance(0.6)) attributes.push({ type: Attr.EventTimestamp, value: u32(Math.floor(now / 1000) + rng.pick([0, -5, 5, -299, 299, -301, 301, -100000])) });
  try {
    return sealRequest({ code: rng.chance(0.9) ? rng.pick([40, 43]) : rng.byte() & 0x2f, identifier: rng.byte(), attributes }, secret);
  } catch {
    return sealRequest({ code: 40, identifier: rng.byte(), attributes: [] }, secret);
  }
}

// ---- independent authenticator math (node:crypto directly, not RadiusCrypto) -------------------------

export function oracleResponseAuthenticator(raw: Buffer, authenticatorField: Buffer, secret: string): boolean {
  const d = createHash('md5').update(raw.subarray(0, 4)).update(authenticatorField).update(raw.subarray(20)).update(secret).digest();
  return d.equals(raw.subarray(4, 20));
}

/** 'absent' | 'valid' | 'invalid' for the first type-80 attribute of a decodable packet. */
export function oracleMessageAuthenticator(raw: Buffer, authenticatorField: Buffer, secret: string): 'absent' | 'valid' | 'invalid' {
  let off = 20;
  while (off + 2 <= raw.length) {
    if (raw[off] === 80) {
      const copy = Buffer.from(raw);
      authenticatorField.copy(copy, 4);
      copy.fill(0, off + 2, off + 18);
      const mac = createHmac('md5', secret).update(copy).digest();
      return mac.equals(raw.subarray(off + 2, off + 18)) ? 'valid' : 'invalid';
    }
    off += raw[off + 1]!;
  }
  return 'absent';
}

/** Recompute the authenticators of a decodable packet as its sender would (a server with the secret). */
export function reseal(raw: Buffer, authenticatorField: Buffer, secret: string, request: boolean): Buffer {
  const b = Buffer.from(raw);
  let off = 20;
  let ma = -1;
  while (off + 2 <= b.length && b[off + 1]! >= 2) {
    if (b[off] === 80 && b[off + 1] === 18 && ma < 0) ma = off + 2;
    off += b[off + 1]!;
  }
  authenticatorField.copy(b, 4);
  if (ma >= 0) {
    b.fill(0, ma, ma + 16);
    createHmac('md5', secret).update(b).digest().copy(b, ma);
  }
  createHash('md5')
    .update(b.subarray(0, 4))
    .update(request ? ZERO16 : authenticatorField)
    .update(b.subarray(20))
    .update(secret)
    .digest()
    .copy(b, 4);
  return b;
}

/** Every decoder that reads a (verified) attribute: only RadiusFormatError may come out. */
export function readAllAttributes(attributes: readonly RadiusAttribute[], requestAuthenticator: Buffer, secret: string): void {
  for (const a of attributes) {
    describeAttribute(a); // documented never to throw
    for (const read of [readInteger, readAddress, readTime, readTaggedInteger]) allowOnly([RadiusFormatError], () => void read(a), read.name);
    readText(a);
    readTaggedString(a);
    if (isVendorAttribute(a) && a.vendorId === VENDOR_MICROSOFT) {
      if (a.type === MsAttr.MppeSendKey || a.type === MsAttr.MppeRecvKey) {
        const key = attempt([RadiusFormatError], () => decryptMppeKey(a.value, secret, requestAuthenticator), 'decryptMppeKey');
        if (key.ok) check(key.value.length >= 1 && key.value.length <= a.value.length - 3, `decryptMppeKey gave ${key.value.length} octets from ${a.value.length}`);
      }
      if (a.type === MsAttr.ChapMppeKeys) allowOnly([RadiusFormatError], () => void decodeMsChapMppeKeys(a.value, secret, requestAuthenticator), 'decodeMsChapMppeKeys');
    }
    if (!isVendorAttribute(a) && a.type === Attr.UserPassword) allowOnly([RadiusFormatError], () => void unhideUserPassword(a.value, secret, requestAuthenticator), 'unhideUserPassword');
  }
}

function sameAttributes(a: readonly RadiusAttribute[], b: readonly RadiusAttribute[]): boolean {
  return a.length === b.length && a.every((x, i) => x.type === b[i]!.type && x.vendorId === b[i]!.vendorId && x.value.equals(b[i]!.value));
}

export const radiusPacketTarget: FuzzTarget = {
  name: 'radius-packet',
  maxInputLength: 4200,

  seedInputs() {
    const ma = { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) };
    const accept = sealResponse(
      {
        code: 2,
        identifier: 7,
        attributes: [
          ma,
          { type: Attr.SessionTimeout, value: u32(3600) },
          { vendorId: VENDOR_MICROSOFT, type: MsAttr.MppeSendKey, value: encryptMppeKey(Buffer.alloc(16, 1), SECRET, REQUEST_AUTHENTICATOR, 0x1234) },
          { vendorId: VENDOR_MICROSOFT, type: MsAttr.MppeRecvKey, value: encryptMppeKey(Buffer.alloc(16, 2), SECRET, REQUEST_AUTHENTICATOR, 0x4321) },
        ],
      },
      REQUEST_AUTHENTICATOR,
      SECRET,
    );
    const reject = sealResponse({ code: 3, identifier: 8, attributes: [ma, { type: Attr.ReplyMessage, value: Buffer.from('no') }] }, REQUEST_AUTHENTICATOR, SECRET);
    const disconnect = sealRequest({ code: 40, identifier: 9, attributes: [ma, { type: Attr.UserName, value: Buffer.from('alice') }, { type: Attr.AcctSessionId, value: Buffer.from('s1') }] }, SECRET);
    // A VSA holding two sub-attributes (RFC 2865 §5.26 allows it; we never send it).
    const twoSubs = Buffer.from(`2c0a001e${'00'.repeat(16)}1a0e00000137${'0106616263'}0203ff`, 'hex');
    twoSubs.writeUInt16BE(twoSubs.length, 2);
    return [accept, reject, disconnect, twoSubs];
  },

  generate(rng) {
    return rng.chance(0.8) ? sealedReply(rng, [2, 3, 11, 5, 41, 42, 44, 45]) : sealedDasRequest(rng, SECRET, 1_750_000_000_000);
  },

  run(input) {
    const decoded = attempt([RadiusFormatError], () => decodePacket(input), 'decodePacket');
    // The verdicts never throw, decodable or not (callers pass the decoded packet's raw octets).
    verifyResponseAuthenticator(input, REQUEST_AUTHENTICATOR, SECRET);
    verifyAccountingRequestAuthenticator(input, SECRET);
    if (!decoded.ok) return 'malformed';
    const packet = decoded.value;
    const length = input.readUInt16BE(2);
    check(packet.raw.length === length && packet.raw.equals(input.subarray(0, length)), 'packet not cut at its Length');
    if (packet.messageAuthenticatorOffset >= 0) {
      const o = packet.messageAuthenticatorOffset;
      check(packet.raw[o - 2] === 80 && packet.raw[o - 1] === 18, 'Message-Authenticator offset does not point at one');
    }
    const response = verifyResponseAuthenticator(packet.raw, REQUEST_AUTHENTICATOR, SECRET);
    const request = verifyAccountingRequestAuthenticator(packet.raw, SECRET);
    check(response === oracleResponseAuthenticator(packet.raw, REQUEST_AUTHENTICATOR, SECRET), 'Response Authenticator verdict differs from MD5 (RFC 2865 §3)');
    check(request === oracleResponseAuthenticator(packet.raw, ZERO16, SECRET), 'Request Authenticator verdict differs from MD5 (RFC 2866 §3 / RFC 5176 §2.3)');
    const ma = checkMessageAuthenticator(packet, REQUEST_AUTHENTICATOR, SECRET);
    check(ma === oracleMessageAuthenticator(packet.raw, REQUEST_AUTHENTICATOR, SECRET), `Message-Authenticator verdict ${ma} differs from HMAC-MD5 (RFC 3579 §3.2)`);
    // Re-encoding (one VSA per sub-attribute) decodes to the same attributes.
    const encoded = attempt([RadiusFormatError], () => encodePacket(packet), 'encodePacket');
    if (encoded.ok) check(sameAttributes(decodePacket(encoded.value).attributes, packet.attributes), 'decode(encode(packet)) changes the attributes');
    readAllAttributes(packet.attributes, REQUEST_AUTHENTICATOR, SECRET);
    return `code ${[1, 2, 3, 4, 5, 11, 12, 40, 41, 42, 43, 44, 45].includes(packet.code) ? packet.code : 'other'}${response ? ' response-auth ok' : ''}${request ? ' request-auth ok' : ''} MA ${ma}`;
  },
};
