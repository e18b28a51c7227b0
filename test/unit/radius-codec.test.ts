import { describe, expect, it } from 'vitest';
import { decodePacket, encodePacket, findAllAttributes, findAttribute, findVendorAttribute, RadiusCode, RadiusFormatError, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import {
  accountingRequestAuthenticator,
  checkMessageAuthenticator,
  decodeMsChapMppeKeys,
  decryptMppeKey,
  encodeMsChapMppeKeys,
  encryptMppeKey,
  hideUserPassword,
  messageAuthenticator,
  sealRequest,
  sealResponse,
  unhideUserPassword,
  verifyAccountingRequestAuthenticator,
  verifyResponseAuthenticator,
} from '../../radius/RadiusCrypto.js';
import {
  AcctStatusType,
  Attr,
  attributeByName,
  describeAttribute,
  integerAttribute,
  makeAttribute,
  MsAttr,
  NasPortType,
  readAddress,
  readInteger,
  readTaggedInteger,
  readTaggedString,
  readText,
  textAttribute,
  addressAttribute,
  VENDOR_MICROSOFT,
  vendorAttribute,
} from '../../radius/Dictionary.js';

const H = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const S = 'xyzzy5461';

// RFC 2865 §7.1-§7.3 examples, octets as printed there
const REQ1 = H(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
  93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03`);
const ACC1 = H(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
  0e 06 c0 a8 01 03`);
const REQ2 = H(`01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e 0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
  75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04 06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
  02 07 06 00 00 00 01`);
const ACC2 = H(`02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0 3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01
  08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00 00 01 0c 06 00 00 05 dc`);
const REQ3 = H(`01 02 00 39 f3 a4 7a 1f 6a 6d 76 71 0b 94 7a b9 30 41 a0 39 01 07 6d 6f 70 73 79 02 12 33 65 75
  73 77 82 89 b5 70 88 5e 15 08 48 25 c5 04 06 c0 a8 01 10 05 06 00 00 00 07`);
const CHL3 = H(`0b 02 00 4e 36 f3 c8 76 4a e8 c7 11 57 40 3c 0c 71 ff 9c 45 12 30 43 68 61 6c 6c 65 6e 67 65 20
  33 32 37 36 39 34 33 30 2e 20 20 45 6e 74 65 72 20 72 65 73 70 6f 6e 73 65 20 61 74 20 70 72 6f
  6d 70 74 2e 18 0a 33 32 37 36 39 34 33 30`);
const REQ4 = H(`01 03 00 43 b1 22 55 6d 42 8a 13 d0 d6 25 38 07 c4 57 ec f0 01 07 6d 6f 70 73 79 02 12 69 2c 1f
  20 5f c0 81 b9 19 b9 51 95 f5 61 a5 81 04 06 c0 a8 01 10 05 06 00 00 00 07 18 10 33 32 37 36 39
  34 33 30`);
const REJ4 = H('03 03 00 14 a4 2f 4f ca 45 91 6c 4e 09 c8 34 0f 9e 74 6a a0');

// Fixtures computed from the RFC 2865 §7.1 request (no RFC prints them): F1 that request with a
// Message-Authenticator first (RFC 3579 §3.2), F2 an Access-Accept to F1, F3 an Accounting-Request
// Start (RFC 2866 §4.1), F4/F5 MS-MPPE-Send-Key/Recv-Key (RFC 2548 §2.4.2, §2.4.3) carrying the
// RFC 3079 §3.5 master keys.
const F1 = H(`0100004a0f403f9473978057bd83d5cb98f4227a50128f16b45f90d3494989a4f14f4421c618
  01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003`);
const F1_MA = H('8f16b45f90d3494989a4f14f4421c618');
const F2 = H('020000323c86ddad32b39d7dff0be8adc43decec50120c888d126b4cba74e0c7e5effc5bf948060600000002070600000001');
const F3 = H('04010036e873c1344002f88161fe23fdbd2568622806000000012c0a303030303030303101066e656d6f0406c0a801103d0600000005');
const F4_VSA = H('1a2a0000013710248001d7c4aaa4718a06cddca737c2f3bcd1ffef26b141dc036e4cdb731d79248c658e');
const F5_VALUE = H('80028118c1340bddec5f79718a8085b7273966e0d8bf4cd44176fa9f6eabd96e2af8');
const MASTER_SEND = H('8B7CDC149B993A1BA118CB153F56DCCB');
const MASTER_RECV = H('D5F0E9521E3EA9589645E86051C82226');
const F1_AUTH = F1.subarray(4, 20);

describe('RFC 2865 §7 examples (secret xyzzy5461)', () => {
  it('7.1 Access-Request decodes; User-Password is "arctangent" and re-hides to the same 16 octets', () => {
    const p = decodePacket(REQ1);
    expect(p.code).toBe(RadiusCode.AccessRequest);
    expect(p.identifier).toBe(0);
    expect(readText(findAttribute(p.attributes, Attr.UserName)!)).toBe('nemo');
    expect(readAddress(findAttribute(p.attributes, Attr.NasIpAddress)!)).toBe('192.168.1.16');
    expect(readInteger(findAttribute(p.attributes, Attr.NasPort)!)).toBe(3);
    const hidden = findAttribute(p.attributes, Attr.UserPassword)!.value;
    expect(unhideUserPassword(hidden, S, p.authenticator).toString()).toBe('arctangent');
    expect(hideUserPassword('arctangent', S, p.authenticator).equals(hidden)).toBe(true);
    expect(p.messageAuthenticatorOffset).toBe(-1);
  });

  it('7.1 Access-Accept Response Authenticator verifies (and fails with another request authenticator or secret)', () => {
    const reqAuth = REQ1.subarray(4, 20);
    expect(verifyResponseAuthenticator(ACC1, reqAuth, S)).toBe(true);
    expect(verifyResponseAuthenticator(ACC1, REQ2.subarray(4, 20), S)).toBe(false);
    expect(verifyResponseAuthenticator(ACC1, reqAuth, 'xyzzy5462')).toBe(false);
    const p = decodePacket(ACC1);
    expect(p.attributes.map((a) => [a.type, a.value.toString('hex')])).toEqual([
      [6, '00000001'],
      [15, '00000000'],
      [14, 'c0a80103'],
    ]);
  });

  it('7.2 CHAP Access-Request decodes and its Access-Accept Response Authenticator verifies', () => {
    const req = decodePacket(REQ2);
    expect(findAttribute(req.attributes, Attr.ChapPassword)!.value.length).toBe(17);
    expect(findAttribute(req.attributes, Attr.ChapPassword)!.value[0]).toBe(0x16);
    expect(verifyResponseAuthenticator(ACC2, req.authenticator, S)).toBe(true);
    const acc = decodePacket(ACC2);
    expect(readAddress(findAttribute(acc.attributes, Attr.FramedIpAddress)!)).toBe('255.255.255.254');
    expect(readInteger(findAttribute(acc.attributes, Attr.FramedMtu)!)).toBe(1500);
  });

  it('7.3 Access-Request #1 password "challenge", Access-Challenge authenticator, State', () => {
    const req = decodePacket(REQ3);
    expect(unhideUserPassword(findAttribute(req.attributes, Attr.UserPassword)!.value, S, req.authenticator).toString()).toBe('challenge');
    expect(verifyResponseAuthenticator(CHL3, req.authenticator, S)).toBe(true);
    const chl = decodePacket(CHL3);
    expect(chl.code).toBe(RadiusCode.AccessChallenge);
    expect(findAttribute(chl.attributes, Attr.State)!.value.toString()).toBe('32769430');
    expect(readText(findAttribute(chl.attributes, Attr.ReplyMessage)!)).toBe('Challenge 32769430.  Enter response at prompt.');
  });

  it('7.3 Access-Request #2 (RFC typo: State length 0x10 overruns the packet) is refused; its password and the Reject still verify', () => {
    expect(() => decodePacket(REQ4)).toThrow(RadiusFormatError);
    const reqAuth = REQ4.subarray(4, 20);
    expect(unhideUserPassword(REQ4.subarray(29, 45), S, reqAuth).toString()).toBe('99101462');
    expect(verifyResponseAuthenticator(REJ4, reqAuth, S)).toBe(true);
    expect(decodePacket(REJ4).attributes).toEqual([]);
  });
});

describe('computed fixtures F1–F5', () => {
  const base: RadiusAttribute[] = [
    textAttribute(Attr.UserName, 'nemo'),
    { type: Attr.UserPassword, value: hideUserPassword('arctangent', S, F1_AUTH) },
    addressAttribute(Attr.NasIpAddress, '192.168.1.16'),
    integerAttribute(Attr.NasPort, 3),
  ];

  it('F1: sealing the 7.1 request with Message-Authenticator first gives the fixture octets', () => {
    const raw = sealRequest({ code: RadiusCode.AccessRequest, identifier: 0, attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, ...base] }, S, F1_AUTH);
    expect(raw.toString('hex')).toBe(F1.toString('hex'));
    const p = decodePacket(F1);
    expect(p.messageAuthenticatorOffset).toBe(22);
    expect(p.raw.subarray(22, 38).equals(F1_MA)).toBe(true);
    expect(checkMessageAuthenticator(p, p.authenticator, S)).toBe('valid');
    expect(checkMessageAuthenticator(p, p.authenticator, 'wrong-secret')).toBe('invalid');
  });

  it('F1: a flipped attribute octet invalidates the Message-Authenticator', () => {
    const t = Buffer.from(F1);
    t[t.length - 1] ^= 1;
    expect(checkMessageAuthenticator(decodePacket(t), t.subarray(4, 20), S)).toBe('invalid');
  });

  it('F2: Access-Accept to F1 (MA with the request authenticator, then Response Authenticator)', () => {
    const raw = sealResponse(
      {
        code: RadiusCode.AccessAccept,
        identifier: 0,
        attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, integerAttribute(Attr.ServiceType, 2), integerAttribute(Attr.FramedProtocol, 1)],
      },
      F1_AUTH,
      S,
    );
    expect(raw.toString('hex')).toBe(F2.toString('hex'));
    const p = decodePacket(F2);
    expect(verifyResponseAuthenticator(F2, F1_AUTH, S)).toBe(true);
    expect(checkMessageAuthenticator(p, F1_AUTH, S)).toBe('valid');
    // MA over the response's own authenticator field is the classic mistake: it must not verify
    expect(checkMessageAuthenticator(p, p.authenticator, S)).toBe('invalid');
  });

  it('F3: Accounting-Request Start (Request Authenticator over a zero authenticator)', () => {
    const raw = sealRequest(
      {
        code: RadiusCode.AccountingRequest,
        identifier: 1,
        attributes: [
          integerAttribute(Attr.AcctStatusType, AcctStatusType.Start),
          textAttribute(Attr.AcctSessionId, '00000001'),
          textAttribute(Attr.UserName, 'nemo'),
          addressAttribute(Attr.NasIpAddress, '192.168.1.16'),
          integerAttribute(Attr.NasPortType, NasPortType.Virtual),
        ],
      },
      S,
    );
    expect(raw.toString('hex')).toBe(F3.toString('hex'));
    expect(accountingRequestAuthenticator(F3, S).equals(F3.subarray(4, 20))).toBe(true);
    expect(verifyAccountingRequestAuthenticator(F3, S)).toBe(true);
    expect(verifyAccountingRequestAuthenticator(F3, 'other')).toBe(false);
  });

  it('F4: MS-MPPE-Send-Key VSA decodes, decrypts to the RFC 3079 MasterSendKey, and re-encrypts with salt 8001', () => {
    const pkt = Buffer.concat([H('02000000'), F1_AUTH, F4_VSA]);
    pkt.writeUInt16BE(pkt.length, 2);
    const p = decodePacket(pkt);
    const a = findVendorAttribute(p.attributes, VENDOR_MICROSOFT, MsAttr.MppeSendKey)!;
    expect(a.value.length).toBe(34);
    expect(decryptMppeKey(a.value, S, F1_AUTH).equals(MASTER_SEND)).toBe(true);
    expect(encryptMppeKey(MASTER_SEND, S, F1_AUTH, 0x8001).equals(a.value)).toBe(true);
    const re = encodePacket({ code: 2, identifier: 0, authenticator: F1_AUTH, attributes: [vendorAttribute(VENDOR_MICROSOFT, MsAttr.MppeSendKey, a.value)] });
    expect(re.subarray(20).equals(F4_VSA)).toBe(true);
  });

  it('F5: MS-MPPE-Recv-Key value decrypts to MasterRecvKey; salt high bit forced on encrypt', () => {
    expect(decryptMppeKey(F5_VALUE, S, F1_AUTH).equals(MASTER_RECV)).toBe(true);
    expect(encryptMppeKey(MASTER_RECV, S, F1_AUTH, 0x0002).equals(F5_VALUE)).toBe(true);
  });

  it('MPPE key decryption with the wrong request authenticator is refused or yields another key', () => {
    let other: Buffer | undefined;
    try {
      other = decryptMppeKey(F5_VALUE, S, Buffer.alloc(16));
    } catch (e) {
      expect(e).toBeInstanceOf(RadiusFormatError);
    }
    if (other) expect(other.equals(MASTER_RECV)).toBe(false);
    expect(() => decryptMppeKey(F5_VALUE.subarray(0, 20), S, F1_AUTH)).toThrow(RadiusFormatError);
  });
});

describe('hidden values', () => {
  const auth = H('000102030405060708090a0b0c0d0e0f');

  it('User-Password: multi-block round trip, empty password is one zero block, > 128 octets refused', () => {
    const pw = 'a-password-longer-than-16-octets!';
    const hidden = hideUserPassword(pw, S, auth);
    expect(hidden.length).toBe(48);
    expect(unhideUserPassword(hidden, S, auth).toString()).toBe(pw);
    expect(hideUserPassword('', S, auth).length).toBe(16);
    expect(() => hideUserPassword('x'.repeat(129), S, auth)).toThrow(RadiusFormatError);
    expect(() => unhideUserPassword(Buffer.alloc(17), S, auth)).toThrow(RadiusFormatError);
    expect(() => hideUserPassword('pw', '', auth)).toThrow(RangeError);
  });

  it('MS-CHAP-MPPE-Keys: 32 octets, trailing zero octets of the key survive', () => {
    const lmKey = Buffer.alloc(8);
    const ntKey = H('41c00c584bd2d91c4017a2a12fa59f00');
    const v = encodeMsChapMppeKeys({ lmKey, ntKey }, S, auth);
    expect(v.length).toBe(32);
    const k = decodeMsChapMppeKeys(v, S, auth);
    expect(k.lmKey.equals(lmKey)).toBe(true);
    expect(k.ntKey.equals(ntKey)).toBe(true);
    // same chain as User-Password: the first 24 octets unhide identically
    expect(unhideUserPassword(v, S, auth).subarray(8).equals(ntKey.subarray(0, 15))).toBe(true);
    expect(() => decodeMsChapMppeKeys(v.subarray(0, 16), S, auth)).toThrow(RadiusFormatError);
  });
});

describe('malformed packets are refused with RadiusFormatError', () => {
  const refuse = (b: Buffer): void => {
    expect(() => decodePacket(b)).toThrow(RadiusFormatError);
  };
  const withAttrs = (attrs: string, declared?: number): Buffer => {
    const b = Buffer.concat([H('02010000'), Buffer.alloc(16), H(attrs)]);
    b.writeUInt16BE(declared ?? b.length, 2);
    return b;
  };

  it('short header', () => {
    refuse(Buffer.alloc(0));
    refuse(REJ4.subarray(0, 19));
  });
  it('Length field past the end of the datagram, below 20, above 4096', () => {
    refuse(withAttrs('0106616263', 26));
    refuse(withAttrs('', 19));
    const big = Buffer.alloc(4100);
    big.writeUInt16BE(4097, 2);
    refuse(big);
  });
  it('attribute length 0 and 1', () => {
    refuse(withAttrs('0100'));
    refuse(withAttrs('0101'));
  });
  it('attribute running past Length, and a lone type octet at the end', () => {
    refuse(withAttrs('0108616263'));
    refuse(withAttrs('010561626301'));
  });
  it('truncated Vendor-Specific: shorter than Vendor-Id + sub-header, sub-attribute past its VSA, sub-length < 2', () => {
    refuse(withAttrs('1a0600000137'));
    refuse(withAttrs('1a07000001371a'));
    refuse(withAttrs('1a0a000001371a0841424344'));
    refuse(withAttrs('1a0800000137 1a01'));
    refuse(withAttrs('1a0b000001371a0341 0742'));
  });
  it('Message-Authenticator of the wrong length, or twice', () => {
    refuse(withAttrs('5004aabb'));
    refuse(withAttrs(`5012${'00'.repeat(16)}5012${'00'.repeat(16)}`));
  });
  it('padding after Length is ignored, not parsed', () => {
    const padded = Buffer.concat([REJ4, H('ff00ff')]);
    const p = decodePacket(padded);
    expect(p.raw.length).toBe(20);
    expect(verifyResponseAuthenticator(p.raw, REQ4.subarray(4, 20), S)).toBe(true);
  });
});

describe('encode/decode round trips', () => {
  it('standard, tagged and Microsoft attributes, several sub-attributes in one VSA', () => {
    const attrs: RadiusAttribute[] = [
      makeAttribute('User-Name', 'alice'),
      makeAttribute('Framed-IP-Address', '198.19.0.50'),
      makeAttribute('Tunnel-Type', 1),
      makeAttribute('Tunnel-Client-Endpoint', '203.0.113.7'),
      makeAttribute('MS-CHAP-Challenge', H('5b5d7c7d7b3f2f3e3c2c602132262628')),
      makeAttribute('MS-Primary-DNS-Server', '10.0.0.1'),
      makeAttribute('Event-Timestamp', new Date(1_700_000_000_000)),
      makeAttribute('NAS-IPv6-Address', '2001:db8::1'),
      makeAttribute('Class', 'pptp-class-alice'),
      makeAttribute('Class', 'second'),
    ];
    const raw = encodePacket({ code: RadiusCode.AccessRequest, identifier: 7, authenticator: Buffer.alloc(16, 9), attributes: attrs });
    // RFC 2868 §3.1, §3.3 layout with tag 0: Tunnel-Type PPTP, Tunnel-Client-Endpoint
    expect(raw.includes(H('400600000001'))).toBe(true);
    expect(raw.includes(Buffer.concat([H('420e00'), Buffer.from('203.0.113.7')]))).toBe(true);
    const p = decodePacket(raw);
    expect(p.identifier).toBe(7);
    expect(p.attributes).toEqual(attrs);
    expect(readTaggedInteger(p.attributes[2])).toEqual({ tag: 0, value: 1 });
    expect(readTaggedString(p.attributes[3])).toEqual({ tag: 0, value: '203.0.113.7' });
    expect(findAllAttributes(p.attributes, Attr.Class).map(readText)).toEqual(['pptp-class-alice', 'second']);
    expect(p.attributes[7].value.toString('hex')).toBe('20010db8000000000000000000000001');

    const twoInOne = Buffer.concat([H('02000000'), Buffer.alloc(16), H('1a1200000137 0706 00000002 0806 00000004')]);
    twoInOne.writeUInt16BE(twoInOne.length, 2);
    const q = decodePacket(twoInOne);
    expect(q.attributes).toEqual([
      { vendorId: 311, type: 7, value: H('00000002') },
      { vendorId: 311, type: 8, value: H('00000004') },
    ]);
  });

  it('encoder refuses oversized values, empty text, oversized packets, bad addresses', () => {
    const enc = (attributes: RadiusAttribute[]): Buffer => encodePacket({ code: 1, identifier: 0, authenticator: Buffer.alloc(16), attributes });
    expect(() => enc([{ type: 18, value: Buffer.alloc(254) }])).toThrow(RadiusFormatError);
    expect(enc([{ type: 18, value: Buffer.alloc(253) }]).length).toBe(20 + 255);
    expect(() => enc([{ vendorId: 311, type: 1, value: Buffer.alloc(248) }])).toThrow(RadiusFormatError);
    expect(() => enc(new Array(17).fill({ type: 18, value: Buffer.alloc(253) }))).toThrow(RadiusFormatError);
    expect(() => makeAttribute('User-Name', '')).toThrow(RadiusFormatError);
    expect(() => makeAttribute('Framed-IP-Address', '300.1.1.1')).toThrow(RadiusFormatError);
    expect(() => makeAttribute('No-Such-Attribute', 1)).toThrow(RadiusFormatError);
    expect(() => readInteger({ type: 27, value: Buffer.alloc(3) })).toThrow(RadiusFormatError);
  });

  it('dictionary names and log descriptions never show sensitive values', () => {
    expect(attributeByName('ms-mppe-send-key')).toMatchObject({ vendorId: 311, type: 16, sensitive: true });
    expect(describeAttribute({ type: Attr.UserPassword, value: Buffer.from('secret!') })).toBe('User-Password=<redacted>');
    expect(describeAttribute(vendorAttribute(311, MsAttr.MppeRecvKey, F5_VALUE))).toBe('MS-MPPE-Recv-Key=<redacted>');
    expect(describeAttribute(makeAttribute('Framed-IP-Address', '198.19.0.50'))).toBe('Framed-IP-Address=198.19.0.50');
    expect(describeAttribute(vendorAttribute(9, 1, Buffer.from('x')))).toBe('Vendor-9-Attr-1=<1 octets>');
  });

  it('messageAuthenticator refuses an offset outside the packet', () => {
    expect(() => messageAuthenticator(F1, 70, F1_AUTH, S)).toThrow(RadiusFormatError);
  });
});
