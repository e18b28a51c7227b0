// PPP protocol numbers and the PPP header as it travels inside PPTP GRE (RFC 2637 §4):
// no HDLC flag/escaping/FCS, optional FF 03, 1- or 2-octet protocol field.

export const PppProtocol = {
  IPv4: 0x0021,
  VjCompressedTcp: 0x002d,
  VjUncompressedTcp: 0x002f,
  Multilink: 0x003d,
  IPv6: 0x0057,
  /** RFC 1962 §2.1 compressed datagram; carries MPPE frames (RFC 3078). */
  CompressedDatagram: 0x00fd,
  Mppe: 0x00fd,
  IPCP: 0x8021,
  IPV6CP: 0x8057,
  CCP: 0x80fd,
  LCP: 0xc021,
  PAP: 0xc023,
  LQR: 0xc025,
  CBCP: 0xc029,
  CHAP: 0xc223,
  EAP: 0xc227,
} as const;

const NAMES: ReadonlyMap<number, string> = new Map([
  [0x0021, 'IPv4'],
  [0x002d, 'VJ-compressed'],
  [0x002f, 'VJ-uncompressed'],
  [0x003d, 'MP'],
  [0x0057, 'IPv6'],
  [0x00fd, 'MPPE'],
  [0x8021, 'IPCP'],
  [0x8057, 'IPV6CP'],
  [0x80fd, 'CCP'],
  [0xc021, 'LCP'],
  [0xc023, 'PAP'],
  [0xc025, 'LQR'],
  [0xc029, 'CBCP'],
  [0xc223, 'CHAP'],
  [0xc227, 'EAP'],
]);

export function pppProtocolName(protocol: number): string {
  return NAMES.get(protocol) ?? `0x${protocol.toString(16).padStart(4, '0')}`;
}

/** RFC 1661 §2: the low octet is odd and the high octet even. */
export function isValidPppProtocol(protocol: number): boolean {
  return Number.isInteger(protocol) && protocol >= 0 && protocol <= 0xffff && (protocol & 0x0001) === 1 && (protocol & 0x0100) === 0;
}

/** Where a frame's information field is; filled in place by parsePppFrame (no allocation per packet). */
export interface PppFrameView {
  protocol: number;
  /** Offset of the information field (payload) in the buffer. */
  offset: number;
  length: number;
}

/**
 * Parse the PPP header of a frame at buf[off, off+len) and fill `out`. Liberal on receive like Linux
 * `pptp_rcv_core`: strips FF 03 when present whatever was negotiated, accepts a 1-octet (PFC) protocol.
 * Returns false (out untouched) for a truncated frame or an invalid protocol number.
 */
export function parsePppFrame(buf: Buffer, off: number, len: number, out: PppFrameView): boolean {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > buf.length) return false;
  let p = off;
  const end = off + len;
  if (end - p >= 2 && buf[p] === 0xff && buf[p + 1] === 0x03) p += 2;
  if (p >= end) return false;
  let protocol: number;
  if ((buf[p]! & 1) === 1) {
    protocol = buf[p]!; // compressed: high octet 0x00 omitted
    p += 1;
  } else {
    if (end - p < 2) return false;
    protocol = (buf[p]! << 8) | buf[p + 1]!;
    p += 2;
  }
  if (!isValidPppProtocol(protocol)) return false;
  out.protocol = protocol;
  out.offset = p;
  out.length = end - p;
  return true;
}

export class PppHeadroomError extends RangeError {
  override readonly name = 'PppHeadroomError';
}

/** Negotiated LCP header compression (RFC 1661 §6.5 ACFC, §6.6 PFC): what the peer acked. */
export interface Framing {
  readonly acfc: boolean;
  readonly pfc: boolean;
}

/**
 * Write the PPP header immediately before `payloadOff` and return where the frame starts.
 * `acfc`/`pfc` say whether the peer acked them (we may then compress when sending, as Linux pptp_xmit does);
 * LCP always goes out as FF 03 + 2 octets (RFC 1661 §6.5, §6.6). PFC applies only to protocols whose
 * high octet is 0x00.
 */
export function writePppHeaderBefore(buf: Buffer, payloadOff: number, protocol: number, acfc: boolean, pfc: boolean): number {
  if (!isValidPppProtocol(protocol)) throw new RangeError(`invalid PPP protocol 0x${protocol.toString(16)}`);
  const isLcp = protocol === PppProtocol.LCP;
  const useAcfc = acfc && !isLcp;
  const usePfc = pfc && !isLcp && protocol < 0x100;
  const size = (useAcfc ? 0 : 2) + (usePfc ? 1 : 2);
  const start = payloadOff - size;
  if (start < 0 || payloadOff > buf.length) throw new PppHeadroomError(`need ${size} octets of headroom before offset ${payloadOff}`);
  let p = start;
  if (!useAcfc) {
    buf[p++] = 0xff;
    buf[p++] = 0x03;
  }
  if (!usePfc) buf[p++] = protocol >>> 8;
  buf[p] = protocol & 0xff;
  return start;
}
