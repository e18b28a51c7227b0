// The RADIUS attributes a PPTP NAS uses: numbers, names, value types, enumerated values, and value
// builders/readers. Sources: RFC 2865 §5, RFC 2866 §5, RFC 2867, RFC 2868 §3, RFC 2869 §5,
// RFC 3162 §2, RFC 3579 §3, RFC 4372, RFC 5176 §3.5, RFC 2548 (Microsoft, vendor 311).

import { isIP } from 'node:net';
import { isVendorAttribute, RadiusFormatError, type RadiusAttribute, type StandardAttribute, type VendorAttribute } from './RadiusPacket.js';

export const VENDOR_MICROSOFT = 311;

/** RFC 2865 §5 value types, plus the tagged forms of RFC 2868 §3 and RFC 3162 address types. */
export type AttributeDataType =
  | 'text' // UTF-8, 1..253
  | 'string' // binary, 1..253
  | 'address' // IPv4, 4 octets
  | 'integer' // u32
  | 'time' // u32 seconds since 1970-01-01 UTC
  | 'ipv6addr'
  | 'ipv6prefix'
  | 'ifid'
  | 'tagged-integer' // Tag u8 + 24-bit value (Tunnel-Type, Tunnel-Medium-Type)
  | 'tagged-string'; // Tag u8 + string (Tunnel-Client-Endpoint, …)

export interface AttributeDefinition {
  name: string;
  type: number;
  vendorId?: number;
  dataType: AttributeDataType;
  /** Value is a secret (hidden password, key): never log it. */
  sensitive?: true;
}

/** Standard attribute numbers. */
export const Attr = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedProtocol: 7,
  FramedIpAddress: 8,
  FramedIpNetmask: 9,
  FramedRouting: 10,
  FilterId: 11,
  FramedMtu: 12,
  FramedCompression: 13,
  ReplyMessage: 18,
  FramedRoute: 22,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  IdleTimeout: 28,
  TerminationAction: 29,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctAuthentic: 45,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctMultiSessionId: 50,
  AcctLinkCount: 51,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  ChapChallenge: 60,
  NasPortType: 61,
  PortLimit: 62,
  TunnelType: 64,
  TunnelMediumType: 65,
  TunnelClientEndpoint: 66,
  TunnelServerEndpoint: 67,
  AcctTunnelConnection: 68,
  TunnelPassword: 69,
  ConnectInfo: 77,
  EapMessage: 79,
  MessageAuthenticator: 80,
  TunnelPrivateGroupId: 81,
  TunnelAssignmentId: 82,
  TunnelPreference: 83,
  AcctInterimInterval: 85,
  AcctTunnelPacketsLost: 86,
  NasPortId: 87,
  FramedPool: 88,
  ChargeableUserIdentity: 89,
  TunnelClientAuthId: 90,
  TunnelServerAuthId: 91,
  NasFilterRule: 92,
  NasIpv6Address: 95,
  FramedInterfaceId: 96,
  FramedIpv6Prefix: 97,
  FramedIpv6Pool: 100,
  ErrorCause: 101,
} as const;

/** Microsoft vendor sub-attribute numbers (RFC 2548 §2). */
export const MsAttr = {
  ChapResponse: 1,
  ChapError: 2,
  ChapCpw1: 3,
  ChapCpw2: 4,
  ChapLmEncPw: 5,
  ChapNtEncPw: 6,
  MppeEncryptionPolicy: 7,
  MppeEncryptionTypes: 8,
  RasVendor: 9,
  ChapDomain: 10,
  ChapChallenge: 11,
  ChapMppeKeys: 12,
  BapUsage: 13,
  LinkUtilizationThreshold: 14,
  LinkDropTimeLimit: 15,
  MppeSendKey: 16,
  MppeRecvKey: 17,
  RasVersion: 18,
  Filter: 22,
  AcctAuthType: 23,
  AcctEapType: 24,
  Chap2Response: 25,
  Chap2Success: 26,
  Chap2Cpw: 27,
  PrimaryDnsServer: 28,
  SecondaryDnsServer: 29,
  PrimaryNbnsServer: 30,
  SecondaryNbnsServer: 31,
} as const;

export const ServiceType = { Login: 1, Framed: 2, AuthenticateOnly: 8, AuthorizeOnly: 17 } as const;
export const FramedProtocol = { Ppp: 1 } as const;
export const NasPortType = { Async: 0, Sync: 1, IsdnSync: 2, Virtual: 5, Ethernet: 15, Wireless80211: 19 } as const;
export const AcctStatusType = {
  Start: 1,
  Stop: 2,
  InterimUpdate: 3,
  AccountingOn: 7,
  AccountingOff: 8,
  TunnelStart: 9,
  TunnelStop: 10,
  TunnelReject: 11,
  TunnelLinkStart: 12,
  TunnelLinkStop: 13,
  TunnelLinkReject: 14,
} as const;
export const AcctAuthentic = { Radius: 1, Local: 2, Remote: 3 } as const;
/** RFC 2866 §5.10. */
export const AcctTerminateCause = {
  UserRequest: 1,
  LostCarrier: 2,
  LostService: 3,
  IdleTimeout: 4,
  SessionTimeout: 5,
  AdminReset: 6,
  AdminReboot: 7,
  PortError: 8,
  NasError: 9,
  NasRequest: 10,
  NasReboot: 11,
  PortUnneeded: 12,
  PortPreempted: 13,
  PortSuspended: 14,
  ServiceUnavailable: 15,
  Callback: 16,
  UserError: 17,
  HostRequest: 18,
} as const;
/** RFC 5176 §3.5. 2xx only in ACKs, 4xx/5xx only in NAKs. */
export const ErrorCause = {
  ResidualSessionContextRemoved: 201,
  InvalidEapPacket: 202,
  UnsupportedAttribute: 401,
  MissingAttribute: 402,
  NasIdentificationMismatch: 403,
  InvalidRequest: 404,
  UnsupportedService: 405,
  UnsupportedExtension: 406,
  InvalidAttributeValue: 407,
  AdministrativelyProhibited: 501,
  RequestNotRoutable: 502,
  SessionContextNotFound: 503,
  SessionContextNotRemovable: 504,
  OtherProxyProcessingError: 505,
  ResourcesUnavailable: 506,
  RequestInitiated: 507,
  MultipleSessionSelectionUnsupported: 508,
} as const;
export const TunnelType = { Pptp: 1, L2f: 2, L2tp: 3, Gre: 10 } as const;
export const TunnelMediumType = { Ipv4: 1, Ipv6: 2 } as const;
/** RFC 2548 §2.4.4. */
export const MppeEncryptionPolicy = { Allowed: 1, Required: 2 } as const;
/** RFC 2548 §2.4.5 bits (RFC numbering, not FreeRADIUS's dictionary.microsoft labels). */
export const MppeEncryptionTypes = { Rc4_40: 0x02, Rc4_128: 0x04 } as const;

const D = (name: string, type: number, dataType: AttributeDataType, sensitive?: true): AttributeDefinition => (sensitive ? { name, type, dataType, sensitive } : { name, type, dataType });
const MS = (name: string, type: number, dataType: AttributeDataType, sensitive?: true): AttributeDefinition =>
  sensitive ? { name, type, vendorId: VENDOR_MICROSOFT, dataType, sensitive } : { name, type, vendorId: VENDOR_MICROSOFT, dataType };

const DEFINITIONS: readonly AttributeDefinition[] = [
  D('User-Name', Attr.UserName, 'text'),
  D('User-Password', Attr.UserPassword, 'string', true),
  D('CHAP-Password', Attr.ChapPassword, 'string', true),
  D('NAS-IP-Address', Attr.NasIpAddress, 'address'),
  D('NAS-Port', Attr.NasPort, 'integer'),
  D('Service-Type', Attr.ServiceType, 'integer'),
  D('Framed-Protocol', Attr.FramedProtocol, 'integer'),
  D('Framed-IP-Address', Attr.FramedIpAddress, 'address'),
  D('Framed-IP-Netmask', Attr.FramedIpNetmask, 'address'),
  D('Framed-Routing', Attr.FramedRouting, 'integer'),
  D('Filter-Id', Attr.FilterId, 'text'),
  D('Framed-MTU', Attr.FramedMtu, 'integer'),
  D('Framed-Compression', Attr.FramedCompression, 'integer'),
  D('Reply-Message', Attr.ReplyMessage, 'text'),
  D('Framed-Route', Attr.FramedRoute, 'text'),
  D('State', Attr.State, 'string'),
  D('Class', Attr.Class, 'string'),
  D('Session-Timeout', Attr.SessionTimeout, 'integer'),
  D('Idle-Timeout', Attr.IdleTimeout, 'integer'),
  D('Termination-Action', Attr.TerminationAction, 'integer'),
  D('Called-Station-Id', Attr.CalledStationId, 'text'),
  D('Calling-Station-Id', Attr.CallingStationId, 'text'),
  D('NAS-Identifier', Attr.NasIdentifier, 'text'),
  D('Proxy-State', Attr.ProxyState, 'string'),
  D('Acct-Status-Type', Attr.AcctStatusType, 'integer'),
  D('Acct-Delay-Time', Attr.AcctDelayTime, 'integer'),
  D('Acct-Input-Octets', Attr.AcctInputOctets, 'integer'),
  D('Acct-Output-Octets', Attr.AcctOutputOctets, 'integer'),
  D('Acct-Session-Id', Attr.AcctSessionId, 'text'),
  D('Acct-Authentic', Attr.AcctAuthentic, 'integer'),
  D('Acct-Session-Time', Attr.AcctSessionTime, 'integer'),
  D('Acct-Input-Packets', Attr.AcctInputPackets, 'integer'),
  D('Acct-Output-Packets', Attr.AcctOutputPackets, 'integer'),
  D('Acct-Terminate-Cause', Attr.AcctTerminateCause, 'integer'),
  D('Acct-Multi-Session-Id', Attr.AcctMultiSessionId, 'text'),
  D('Acct-Link-Count', Attr.AcctLinkCount, 'integer'),
  D('Acct-Input-Gigawords', Attr.AcctInputGigawords, 'integer'),
  D('Acct-Output-Gigawords', Attr.AcctOutputGigawords, 'integer'),
  D('Event-Timestamp', Attr.EventTimestamp, 'time'),
  D('CHAP-Challenge', Attr.ChapChallenge, 'string'),
  D('NAS-Port-Type', Attr.NasPortType, 'integer'),
  D('Port-Limit', Attr.PortLimit, 'integer'),
  D('Tunnel-Type', Attr.TunnelType, 'tagged-integer'),
  D('Tunnel-Medium-Type', Attr.TunnelMediumType, 'tagged-integer'),
  D('Tunnel-Client-Endpoint', Attr.TunnelClientEndpoint, 'tagged-string'),
  D('Tunnel-Server-Endpoint', Attr.TunnelServerEndpoint, 'tagged-string'),
  D('Acct-Tunnel-Connection', Attr.AcctTunnelConnection, 'text'),
  D('Tunnel-Password', Attr.TunnelPassword, 'string', true),
  D('Connect-Info', Attr.ConnectInfo, 'text'),
  D('EAP-Message', Attr.EapMessage, 'string'),
  D('Message-Authenticator', Attr.MessageAuthenticator, 'string'),
  D('Tunnel-Private-Group-Id', Attr.TunnelPrivateGroupId, 'tagged-string'),
  D('Tunnel-Assignment-Id', Attr.TunnelAssignmentId, 'tagged-string'),
  D('Tunnel-Preference', Attr.TunnelPreference, 'tagged-integer'),
  D('Acct-Interim-Interval', Attr.AcctInterimInterval, 'integer'),
  D('Acct-Tunnel-Packets-Lost', Attr.AcctTunnelPacketsLost, 'integer'),
  D('NAS-Port-Id', Attr.NasPortId, 'text'),
  D('Framed-Pool', Attr.FramedPool, 'text'),
  D('Chargeable-User-Identity', Attr.ChargeableUserIdentity, 'string'),
  D('Tunnel-Client-Auth-Id', Attr.TunnelClientAuthId, 'tagged-string'),
  D('Tunnel-Server-Auth-Id', Attr.TunnelServerAuthId, 'tagged-string'),
  D('NAS-Filter-Rule', Attr.NasFilterRule, 'text'),
  D('NAS-IPv6-Address', Attr.NasIpv6Address, 'ipv6addr'),
  D('Framed-Interface-Id', Attr.FramedInterfaceId, 'ifid'),
  D('Framed-IPv6-Prefix', Attr.FramedIpv6Prefix, 'ipv6prefix'),
  D('Framed-IPv6-Pool', Attr.FramedIpv6Pool, 'text'),
  D('Error-Cause', Attr.ErrorCause, 'integer'),
  MS('MS-CHAP-Response', MsAttr.ChapResponse, 'string'),
  MS('MS-CHAP-Error', MsAttr.ChapError, 'string'),
  MS('MS-CHAP-CPW-1', MsAttr.ChapCpw1, 'string', true),
  MS('MS-CHAP-CPW-2', MsAttr.ChapCpw2, 'string', true),
  MS('MS-CHAP-LM-Enc-PW', MsAttr.ChapLmEncPw, 'string', true),
  MS('MS-CHAP-NT-Enc-PW', MsAttr.ChapNtEncPw, 'string', true),
  MS('MS-MPPE-Encryption-Policy', MsAttr.MppeEncryptionPolicy, 'integer'),
  MS('MS-MPPE-Encryption-Types', MsAttr.MppeEncryptionTypes, 'integer'),
  MS('MS-RAS-Vendor', MsAttr.RasVendor, 'integer'),
  MS('MS-CHAP-Domain', MsAttr.ChapDomain, 'string'),
  MS('MS-CHAP-Challenge', MsAttr.ChapChallenge, 'string'),
  MS('MS-CHAP-MPPE-Keys', MsAttr.ChapMppeKeys, 'string', true),
  MS('MS-BAP-Usage', MsAttr.BapUsage, 'integer'),
  MS('MS-Link-Utilization-Threshold', MsAttr.LinkUtilizationThreshold, 'integer'),
  MS('MS-Link-Drop-Time-Limit', MsAttr.LinkDropTimeLimit, 'integer'),
  MS('MS-MPPE-Send-Key', MsAttr.MppeSendKey, 'string', true),
  MS('MS-MPPE-Recv-Key', MsAttr.MppeRecvKey, 'string', true),
  MS('MS-RAS-Version', MsAttr.RasVersion, 'text'),
  MS('MS-Filter', MsAttr.Filter, 'string'),
  MS('MS-Acct-Auth-Type', MsAttr.AcctAuthType, 'integer'),
  MS('MS-Acct-EAP-Type', MsAttr.AcctEapType, 'integer'),
  MS('MS-CHAP2-Response', MsAttr.Chap2Response, 'string'),
  MS('MS-CHAP2-Success', MsAttr.Chap2Success, 'string'),
  MS('MS-CHAP2-CPW', MsAttr.Chap2Cpw, 'string', true),
  MS('MS-Primary-DNS-Server', MsAttr.PrimaryDnsServer, 'address'),
  MS('MS-Secondary-DNS-Server', MsAttr.SecondaryDnsServer, 'address'),
  MS('MS-Primary-NBNS-Server', MsAttr.PrimaryNbnsServer, 'address'),
  MS('MS-Secondary-NBNS-Server', MsAttr.SecondaryNbnsServer, 'address'),
];

const key = (vendorId: number, type: number): number => vendorId * 256 + type;
const BY_NUMBER = new Map<number, AttributeDefinition>(DEFINITIONS.map((d) => [key(d.vendorId ?? 0, d.type), d]));
const BY_NAME = new Map<string, AttributeDefinition>(DEFINITIONS.map((d) => [d.name.toLowerCase(), d]));

/** The definition of a (vendorId, type), vendorId omitted for standard attributes. */
export function attributeDefinition(type: number, vendorId?: number): AttributeDefinition | undefined {
  return BY_NUMBER.get(key(vendorId ?? 0, type));
}

/** Definition by name, case-insensitive ("Framed-IP-Address", "MS-MPPE-Send-Key"). */
export function attributeByName(name: string): AttributeDefinition | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function attributeName(a: RadiusAttribute): string {
  const d = attributeDefinition(a.type, a.vendorId);
  if (d) return d.name;
  return isVendorAttribute(a) ? `Vendor-${a.vendorId}-Attr-${a.type}` : `Attr-${a.type}`;
}

// ---- value encoding -------------------------------------------------------------------------

function nonEmpty(type: number, value: Buffer): Buffer {
  // RFC 2865 §5: never send zero-length text/string, omit the attribute instead.
  if (value.length === 0) throw new RadiusFormatError(`attribute ${type}: empty text/string value must be omitted`);
  return value;
}

function u32(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RadiusFormatError(`integer ${n} outside 0..2^32-1`);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function ipv4(address: string): Buffer {
  if (isIP(address) !== 4) throw new RadiusFormatError(`"${address}" is not a dotted-quad IPv4 address`);
  return Buffer.from(address.split('.').map(Number));
}

function ipv6(address: string): Buffer {
  if (isIP(address) !== 6) throw new RadiusFormatError(`"${address}" is not an IPv6 address`);
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const v4 = ipv4(part); // embedded IPv4 tail, e.g. ::ffff:192.0.2.1
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  const gap = address.indexOf('::');
  const head = groups(gap < 0 ? address : address.slice(0, gap));
  const tail = gap < 0 ? [] : groups(address.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => {
    b.writeUInt16BE(g, i * 2);
  });
  return b;
}

export const textAttribute = (type: number, text: string): StandardAttribute => ({ type, value: nonEmpty(type, Buffer.from(text, 'utf8')) });
export const stringAttribute = (type: number, value: Buffer): StandardAttribute => ({ type, value: nonEmpty(type, value) });
export const integerAttribute = (type: number, n: number): StandardAttribute => ({ type, value: u32(n) });
export const addressAttribute = (type: number, address: string): StandardAttribute => ({ type, value: ipv4(address) });
/** `time` value: a Date or seconds since the epoch. */
export const timeAttribute = (type: number, t: Date | number): StandardAttribute => ({
  type,
  value: u32(t instanceof Date ? Math.floor(t.getTime() / 1000) : t),
});
/** RFC 2868 §3.1/3.2: Tag u8 then a 24-bit value. */
export function taggedIntegerAttribute(type: number, n: number, tag = 0): StandardAttribute {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new RadiusFormatError(`tagged integer ${n} outside 0..2^24-1`);
  checkTag(tag);
  const value = u32(n);
  value[0] = tag;
  return { type, value };
}
/** RFC 2868 §3.3: the tag octet is always written (0 = unused), so a first data octet > 0x1F cannot be misread as a tag. */
export function taggedStringAttribute(type: number, text: string, tag = 0): StandardAttribute {
  checkTag(tag);
  return { type, value: Buffer.concat([Buffer.of(tag), nonEmpty(type, Buffer.from(text, 'utf8'))]) };
}
export const vendorAttribute = (vendorId: number, type: number, value: Buffer): VendorAttribute => ({ vendorId, type, value });

function checkTag(tag: number): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0x1f) throw new RadiusFormatError(`tunnel tag ${tag} outside 0..31`);
}

/**
 * Builds an attribute by dictionary name, value converted per its type: text/tagged-string from a
 * string, string from a Buffer (or UTF-8 string), integer/time from a number (time also a Date),
 * address/ipv6addr from the textual address. Hidden attributes (User-Password, MPPE keys) are not
 * hidden here — RadiusClient / RadiusCrypto do that.
 */
export function makeAttribute(name: string, value: string | number | Buffer | Date): RadiusAttribute {
  const d = attributeByName(name);
  if (!d) throw new RadiusFormatError(`unknown attribute name "${name}"`);
  const wrap = (a: StandardAttribute): RadiusAttribute => (d.vendorId === undefined ? a : { vendorId: d.vendorId, type: d.type, value: a.value });
  const mismatch = (): never => {
    throw new RadiusFormatError(`attribute ${d.name} (${d.dataType}) cannot take a ${value instanceof Buffer ? 'Buffer' : typeof value}`);
  };
  switch (d.dataType) {
    case 'text':
      return typeof value === 'string' ? wrap(textAttribute(d.type, value)) : mismatch();
    case 'string':
      if (value instanceof Buffer) return wrap(stringAttribute(d.type, value));
      return typeof value === 'string' ? wrap(stringAttribute(d.type, Buffer.from(value, 'utf8'))) : mismatch();
    case 'integer':
      return typeof value === 'number' ? wrap(integerAttribute(d.type, value)) : mismatch();
    case 'time':
      return typeof value === 'number' || value instanceof Date ? wrap(timeAttribute(d.type, value)) : mismatch();
    case 'address':
      return typeof value === 'string' ? wrap(addressAttribute(d.type, value)) : mismatch();
    case 'ipv6addr':
      return typeof value === 'string' ? wrap({ type: d.type, value: ipv6(value) }) : mismatch();
    case 'tagged-integer':
      return typeof value === 'number' ? wrap(taggedIntegerAttribute(d.type, value)) : mismatch();
    case 'tagged-string':
      return typeof value === 'string' ? wrap(taggedStringAttribute(d.type, value)) : mismatch();
    case 'ipv6prefix':
    case 'ifid':
      return value instanceof Buffer ? wrap(stringAttribute(d.type, value)) : mismatch();
  }
}

// ---- value reading (RadiusFormatError on a wrong length) ------------------------------------

function expectLength(a: RadiusAttribute, len: number): void {
  if (a.value.length !== len) {
    throw new RadiusFormatError(`${attributeName(a)} must have a ${len}-octet value, got ${a.value.length}`);
  }
}

export function readInteger(a: RadiusAttribute): number {
  expectLength(a, 4);
  return a.value.readUInt32BE(0);
}

export function readAddress(a: RadiusAttribute): string {
  expectLength(a, 4);
  return `${a.value[0]}.${a.value[1]}.${a.value[2]}.${a.value[3]}`;
}

export function readText(a: RadiusAttribute): string {
  return a.value.toString('utf8');
}

export function readTime(a: RadiusAttribute): Date {
  return new Date(readInteger(a) * 1000);
}

export function readTaggedInteger(a: RadiusAttribute): { tag: number; value: number } {
  expectLength(a, 4);
  return { tag: a.value[0], value: a.value.readUIntBE(1, 3) };
}

/** Tagged string (RFC 2868 §3): a first octet 0x00..0x1F is the tag, anything else is data with tag 0. */
export function readTaggedString(a: RadiusAttribute): { tag: number; value: string } {
  if (a.value.length > 0 && a.value[0] <= 0x1f) return { tag: a.value[0], value: a.value.subarray(1).toString('utf8') };
  return { tag: 0, value: a.value.toString('utf8') };
}

/** One attribute for a debug log line: name=value, sensitive values redacted, unknown ones as hex length. */
export function describeAttribute(a: RadiusAttribute): string {
  const d = attributeDefinition(a.type, a.vendorId);
  const name = attributeName(a);
  if (!d) return `${name}=<${a.value.length} octets>`;
  if (d.sensitive) return `${name}=<redacted>`;
  try {
    switch (d.dataType) {
      case 'text':
        return `${name}=${JSON.stringify(readText(a))}`;
      case 'integer':
        return `${name}=${readInteger(a)}`;
      case 'time':
        return `${name}=${readTime(a).toISOString()}`;
      case 'address':
        return `${name}=${readAddress(a)}`;
      case 'tagged-integer': {
        const t = readTaggedInteger(a);
        return `${name}:${t.tag}=${t.value}`;
      }
      case 'tagged-string': {
        const t = readTaggedString(a);
        return `${name}:${t.tag}=${JSON.stringify(t.value)}`;
      }
      default:
        return `${name}=0x${a.value.toString('hex')}`;
    }
  } catch {
    return `${name}=<malformed, ${a.value.length} octets>`;
  }
}
