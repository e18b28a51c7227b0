// RADIUS packet codec (RFC 2865 §3, §5; RFC 5176 §3): header, attribute list, Vendor-Specific
// sub-attributes. Pure functions over Buffers; every length is checked before it is read.
//
// Why our own codec and not the npm `radius` package (last change 2018): it has no Microsoft
// dictionary, does not decrypt MS-MPPE-Send/Recv-Key, mis-decodes MS-CHAP-MPPE-Keys, computes
// Message-Authenticator over the wrong bytes for Accounting/Disconnect/CoA (FreeRADIUS drops those
// packets) and compares authenticators through lossy string conversion. The authenticator and
// integrity math lives in RadiusCrypto.ts; names and value types in Dictionary.ts.

export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;
export type RadiusCode = (typeof RadiusCode)[keyof typeof RadiusCode];

export const RADIUS_HEADER_LENGTH = 20;
/** RFC 2865 §3: Length is 20..4096. */
export const RADIUS_MAX_PACKET_LENGTH = 4096;
export const AUTHENTICATOR_LENGTH = 16;
/** Attribute value of a standard attribute: 255 - Type - Length. */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 253;
export const VENDOR_SPECIFIC = 26;
export const MESSAGE_AUTHENTICATOR = 80;
/** Vendor-Id(4) + Vendor-Type(1) + Vendor-Length(1) in front of the sub-attribute data. */
const VSA_OVERHEAD = 6;
export const MAX_VENDOR_VALUE_LENGTH = MAX_ATTRIBUTE_VALUE_LENGTH - VSA_OVERHEAD;

/** Malformed or unencodable RADIUS data. Never carries attribute values (they may be secret). */
export class RadiusFormatError extends Error {
  override readonly name = 'RadiusFormatError';
}

/** A standard attribute (any type except 26). */
export interface StandardAttribute {
  vendorId?: undefined;
  type: number;
  value: Buffer;
}

/** One Vendor-Specific sub-attribute (RFC 2865 §5.26 recommended format: Vendor-Type u8 · Vendor-Length u8 · data). */
export interface VendorAttribute {
  vendorId: number;
  type: number;
  value: Buffer;
}

export type RadiusAttribute = StandardAttribute | VendorAttribute;

export interface RadiusPacket {
  code: number;
  identifier: number;
  /** 16 octets. */
  authenticator: Buffer;
  /** Wire order; a VSA holding several sub-attributes becomes several consecutive entries. */
  attributes: RadiusAttribute[];
}

export interface DecodedRadiusPacket extends RadiusPacket {
  /** The packet's own octets (Length long, datagram padding removed): what authenticators are computed over. */
  raw: Buffer;
  /** Offset in `raw` of the Message-Authenticator value (16 octets), or -1 when absent. */
  messageAuthenticatorOffset: number;
}

export function isVendorAttribute(a: RadiusAttribute): a is VendorAttribute {
  return a.vendorId !== undefined;
}

/**
 * Parses one datagram. Octets past the Length field are padding and ignored (RFC 2865 §3); a datagram
 * shorter than Length, an attribute running past Length, an attribute length < 2, a Vendor-Specific
 * shorter than its own header or with a sub-attribute that does not exactly tile it, a
 * Message-Authenticator that is not 18 octets or appears twice: RadiusFormatError. Values are views
 * into `buf` (no copies).
 */
export function decodePacket(buf: Buffer): DecodedRadiusPacket {
  if (buf.length < RADIUS_HEADER_LENGTH) {
    throw new RadiusFormatError(`datagram of ${buf.length} octets is shorter than the 20-octet RADIUS header`);
  }
  const length = buf.readUInt16BE(2);
  if (length < RADIUS_HEADER_LENGTH || length > RADIUS_MAX_PACKET_LENGTH) {
    throw new RadiusFormatError(`Length field ${length} outside 20..4096`);
  }
  if (length > buf.length) {
    throw new RadiusFormatError(`Length field ${length} exceeds the datagram (${buf.length} octets)`);
  }
  const raw = buf.subarray(0, length);
  const attributes: RadiusAttribute[] = [];
  let messageAuthenticatorOffset = -1;
  let off = RADIUS_HEADER_LENGTH;
  while (off < length) {
    if (off + 2 > length) throw new RadiusFormatError(`attribute header at offset ${off} runs past the packet`);
    const type = raw[off];
    const attrLength = raw[off + 1];
    if (attrLength < 2) throw new RadiusFormatError(`attribute ${type} at offset ${off} has length ${attrLength} (< 2)`);
    if (off + attrLength > length) {
      throw new RadiusFormatError(`attribute ${type} at offset ${off} (length ${attrLength}) runs past the packet`);
    }
    const valueStart = off + 2;
    const valueEnd = off + attrLength;
    if (type === VENDOR_SPECIFIC) {
      decodeVendorSpecific(raw, valueStart, valueEnd, attributes);
    } else {
      if (type === MESSAGE_AUTHENTICATOR) {
        if (attrLength !== 2 + AUTHENTICATOR_LENGTH) {
          throw new RadiusFormatError(`Message-Authenticator has length ${attrLength}, must be 18`);
        }
        if (messageAuthenticatorOffset !== -1) throw new RadiusFormatError('more than one Message-Authenticator');
        messageAuthenticatorOffset = valueStart;
      }
      attributes.push({ type, value: raw.subarray(valueStart, valueEnd) });
    }
    off = valueEnd;
  }
  return {
    code: raw[0],
    identifier: raw[1],
    authenticator: raw.subarray(4, 4 + AUTHENTICATOR_LENGTH),
    attributes,
    raw,
    messageAuthenticatorOffset,
  };
}

function decodeVendorSpecific(raw: Buffer, start: number, end: number, out: RadiusAttribute[]): void {
  // RFC 2865 §5.26: Length >= 7, i.e. Vendor-Id plus at least one octet; we also require the
  // sub-attribute structure, since every vendor we read (Microsoft, RFC 2548) uses it.
  if (end - start < VSA_OVERHEAD) {
    throw new RadiusFormatError(`Vendor-Specific attribute of ${end - start + 2} octets is truncated`);
  }
  const vendorId = raw.readUInt32BE(start);
  let off = start + 4;
  while (off < end) {
    if (off + 2 > end) throw new RadiusFormatError(`vendor ${vendorId} sub-attribute header is truncated`);
    const type = raw[off];
    const subLength = raw[off + 1];
    if (subLength < 2) throw new RadiusFormatError(`vendor ${vendorId} sub-attribute ${type} has length ${subLength} (< 2)`);
    if (off + subLength > end) {
      throw new RadiusFormatError(`vendor ${vendorId} sub-attribute ${type} (length ${subLength}) runs past its Vendor-Specific`);
    }
    out.push({ vendorId, type, value: raw.subarray(off + 2, off + subLength) });
    off += subLength;
  }
}

/** Octets an attribute takes on the wire (each vendor attribute gets its own VSA). */
export function encodedAttributeLength(a: RadiusAttribute): number {
  return (isVendorAttribute(a) ? 2 + VSA_OVERHEAD : 2) + a.value.length;
}

/**
 * Serialises a packet; the authenticator is written as given (RadiusCrypto seals it afterwards).
 * One VSA per vendor attribute (RFC 2548 §2 allows several; one is safest). Oversized values or packets: RadiusFormatError.
 */
export function encodePacket(packet: RadiusPacket): Buffer {
  if (!Number.isInteger(packet.code) || packet.code < 0 || packet.code > 255) {
    throw new RadiusFormatError(`code ${packet.code} is not an octet`);
  }
  if (!Number.isInteger(packet.identifier) || packet.identifier < 0 || packet.identifier > 255) {
    throw new RadiusFormatError(`identifier ${packet.identifier} is not an octet`);
  }
  if (packet.authenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new RadiusFormatError(`authenticator must be 16 octets, got ${packet.authenticator.length}`);
  }
  let length = RADIUS_HEADER_LENGTH;
  for (const a of packet.attributes) {
    checkEncodable(a);
    length += encodedAttributeLength(a);
  }
  if (length > RADIUS_MAX_PACKET_LENGTH) throw new RadiusFormatError(`packet of ${length} octets exceeds 4096`);

  const out = Buffer.allocUnsafe(length);
  out[0] = packet.code;
  out[1] = packet.identifier;
  out.writeUInt16BE(length, 2);
  packet.authenticator.copy(out, 4);
  let off = RADIUS_HEADER_LENGTH;
  for (const a of packet.attributes) {
    if (isVendorAttribute(a)) {
      out[off] = VENDOR_SPECIFIC;
      out[off + 1] = 2 + VSA_OVERHEAD + a.value.length;
      out.writeUInt32BE(a.vendorId, off + 2);
      out[off + 6] = a.type;
      out[off + 7] = 2 + a.value.length;
      a.value.copy(out, off + 8);
      off += 2 + VSA_OVERHEAD + a.value.length;
    } else {
      out[off] = a.type;
      out[off + 1] = 2 + a.value.length;
      a.value.copy(out, off + 2);
      off += 2 + a.value.length;
    }
  }
  return out;
}

function checkEncodable(a: RadiusAttribute): void {
  if (!Number.isInteger(a.type) || a.type < 0 || a.type > 255) throw new RadiusFormatError(`attribute type ${a.type} is not an octet`);
  if (isVendorAttribute(a)) {
    if (!Number.isInteger(a.vendorId) || a.vendorId < 0 || a.vendorId > 0xffffff) {
      throw new RadiusFormatError(`vendor id ${a.vendorId} is not a 24-bit SMI enterprise number`);
    }
    if (a.value.length > MAX_VENDOR_VALUE_LENGTH) {
      throw new RadiusFormatError(`vendor ${a.vendorId} attribute ${a.type}: ${a.value.length} octets exceeds ${MAX_VENDOR_VALUE_LENGTH}`);
    }
    return;
  }
  if (a.type === VENDOR_SPECIFIC) throw new RadiusFormatError('Vendor-Specific must be given as a vendor attribute');
  if (a.value.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
    throw new RadiusFormatError(`attribute ${a.type}: ${a.value.length} octets exceeds ${MAX_ATTRIBUTE_VALUE_LENGTH}`);
  }
}

/** First standard attribute of `type`, or undefined. */
export function findAttribute(attributes: readonly RadiusAttribute[], type: number): StandardAttribute | undefined {
  for (const a of attributes) if (!isVendorAttribute(a) && a.type === type) return a;
  return undefined;
}

/** Every standard attribute of `type`, in wire order (e.g. Class, Proxy-State, EAP-Message). */
export function findAllAttributes(attributes: readonly RadiusAttribute[], type: number): StandardAttribute[] {
  const out: StandardAttribute[] = [];
  for (const a of attributes) if (!isVendorAttribute(a) && a.type === type) out.push(a);
  return out;
}

/** First vendor sub-attribute (vendorId, type), or undefined. */
export function findVendorAttribute(attributes: readonly RadiusAttribute[], vendorId: number, type: number): VendorAttribute | undefined {
  for (const a of attributes) if (isVendorAttribute(a) && a.vendorId === vendorId && a.type === type) return a;
  return undefined;
}
