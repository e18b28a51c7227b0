// Enhanced GRE header (GRE version 1) as PPTP uses it (RFC 2637 §4.1).
// Hot path: parse into a caller-owned view and write in place, no allocation.
//
//  byte 0: C R K S s Recur(3)      byte 1: A Flags(4) Ver(3)      bytes 2-3: Protocol 0x880B
//  bytes 4-5: Payload Length       bytes 6-7: Call ID (the receiver's)
//  then Sequence Number if S, then Acknowledgment Number if A (at offset 8 when S = 0).

export const GRE_PROTOCOL_PPP = 0x880b;
export const GRE_BASE_HEADER_LENGTH = 8;

const FLAG_C = 0x80;
const FLAG_R = 0x40;
const FLAG_K = 0x20;
const FLAG_S = 0x10;
/** s (strict source route) and the 3 Recur bits. */
const MASK_SSR_RECUR = 0x0f;
const FLAG_A = 0x80;
/** The 4 Flags bits of byte 1. */
const MASK_FLAGS = 0x78;
const MASK_VERSION = 0x07;
const VERSION_1 = 1;

export const GreParseResult = {
  Ok: 0,
  /** Fewer octets than the fixed header, or than the header its S/A bits announce. */
  TooShort: 1,
  /** Ver ≠ 1: plain GRE (version 0) or something else, not PPTP. */
  NotVersion1: 2,
  /** Protocol Type ≠ 0x880B (PPP). */
  BadProtocol: 3,
  /** C, R, s, Recur or Flags set: all MUST be 0 in PPTP (RFC 2637 §4.1). */
  BadFlags: 4,
  /** K clear: PPTP always carries the Key (payload length + Call ID). */
  NoKey: 5,
  /** Payload Length runs past the end of the packet. */
  Truncated: 6,
} as const;
export type GreParseResult = (typeof GreParseResult)[keyof typeof GreParseResult];

/** Reusable parse target: one per receive loop, overwritten by each parseGreHeader(). */
export class GreHeaderView {
  callId = 0;
  payloadLength = 0;
  hasSeq = false;
  seq = 0;
  hasAck = false;
  ack = 0;
  headerLength = 0;
  /** Absolute offset of the PPP payload in the parsed buffer. */
  payloadOffset = 0;
}

export function greHeaderLength(hasSeq: boolean, hasAck: boolean): number {
  return GRE_BASE_HEADER_LENGTH + (hasSeq ? 4 : 0) + (hasAck ? 4 : 0);
}

/**
 * Parses buf[off..off+len) into out (the checks of Linux pptp_rcv). Octets beyond Payload
 * Length are ignored. A packet without S carries no deliverable payload (ack-only); deciding that
 * is the caller's business. out is only meaningful when the result is Ok.
 */
export function parseGreHeader(buf: Buffer, off: number, len: number, out: GreHeaderView): GreParseResult {
  if (off < 0 || len < GRE_BASE_HEADER_LENGTH || off + len > buf.length) return GreParseResult.TooShort;
  const b0 = buf[off]!;
  const b1 = buf[off + 1]!;
  if ((b1 & MASK_VERSION) !== VERSION_1) return GreParseResult.NotVersion1;
  if (((buf[off + 2]! << 8) | buf[off + 3]!) !== GRE_PROTOCOL_PPP) return GreParseResult.BadProtocol;
  if ((b0 & (FLAG_C | FLAG_R | MASK_SSR_RECUR)) !== 0 || (b1 & MASK_FLAGS) !== 0) return GreParseResult.BadFlags;
  if ((b0 & FLAG_K) === 0) return GreParseResult.NoKey;

  const hasSeq = (b0 & FLAG_S) !== 0;
  const hasAck = (b1 & FLAG_A) !== 0;
  const headerLength = greHeaderLength(hasSeq, hasAck);
  if (len < headerLength) return GreParseResult.TooShort;
  const payloadLength = (buf[off + 4]! << 8) | buf[off + 5]!;
  if (headerLength + payloadLength > len) return GreParseResult.Truncated;

  out.payloadLength = payloadLength;
  out.callId = (buf[off + 6]! << 8) | buf[off + 7]!;
  out.hasSeq = hasSeq;
  out.hasAck = hasAck;
  let p = off + GRE_BASE_HEADER_LENGTH;
  if (hasSeq) {
    out.seq = readU32(buf, p);
    p += 4;
  } else {
    out.seq = 0;
  }
  if (hasAck) {
    // S = 0 puts the ack where the sequence number would be (RFC 2637 §4.1).
    out.ack = readU32(buf, p);
    p += 4;
  } else {
    out.ack = 0;
  }
  out.headerLength = headerLength;
  out.payloadOffset = p;
  return GreParseResult.Ok;
}

/**
 * Writes the header so that it ends at payloadOffset (the payload is already in place after it),
 * so a sender reserves 16 octets of headroom and never copies the payload. seq/ack < 0 = absent.
 * Returns the header's start offset. Throws RangeError if the headroom is too small (a caller bug).
 */
export function writeGreHeaderBefore(buf: Buffer, payloadOffset: number, callId: number, payloadLength: number, seq: number, ack: number): number {
  const hasSeq = seq >= 0;
  const hasAck = ack >= 0;
  const start = payloadOffset - greHeaderLength(hasSeq, hasAck);
  if (start < 0 || payloadOffset > buf.length) throw new RangeError(`no room for a GRE header before offset ${payloadOffset}`);
  if (payloadLength < 0 || payloadLength > 0xffff || callId < 0 || callId > 0xffff) {
    throw new RangeError(`GRE payload length ${payloadLength} or Call ID ${callId} outside 0..65535`);
  }
  // Byte stores, not writeUInt16BE/32BE: those re-check their arguments on every call (per data packet here).
  buf[start] = FLAG_K | (hasSeq ? FLAG_S : 0);
  buf[start + 1] = (hasAck ? FLAG_A : 0) | VERSION_1;
  buf[start + 2] = GRE_PROTOCOL_PPP >> 8;
  buf[start + 3] = GRE_PROTOCOL_PPP & 0xff;
  buf[start + 4] = (payloadLength >> 8) & 0xff;
  buf[start + 5] = payloadLength & 0xff;
  buf[start + 6] = (callId >> 8) & 0xff;
  buf[start + 7] = callId & 0xff;
  let p = start + GRE_BASE_HEADER_LENGTH;
  if (hasSeq) {
    writeU32(buf, p, seq);
    p += 4;
  }
  if (hasAck) writeU32(buf, p, ack);
  return start;
}

/** Big-endian u32 at p (the caller has checked the range). */
function readU32(buf: Buffer, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

function writeU32(buf: Buffer, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}
