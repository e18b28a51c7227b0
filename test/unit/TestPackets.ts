// Packet builders shared by the unit tests: IPv4 (with options), ICMP echo, PPTP GRE, and a seeded PRNG.
import { writeGreHeaderBefore } from '../../gre/GreHeader.js';

export function ip(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** RFC 1071 Internet checksum over buf; 0 when buf already carries a correct checksum. */
export function internetChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** IPv4 header with `options` (a multiple of 4 octets, RFC 791 §3.1) + payload, checksum filled in. */
export function ipv4Packet(src: string, dst: string, protocol: number, payload: Buffer, opts: { id?: number; options?: Buffer } = {}): Buffer {
  const options = opts.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + options.length);
  h[0] = 0x40 | (h.length / 4);
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(opts.id ?? 0x1234, 4);
  h[8] = 64;
  h[9] = protocol;
  h.writeUInt32BE(ip(src), 12);
  h.writeUInt32BE(ip(dst), 16);
  options.copy(h, 20);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function icmpEcho(type: number, id: number, seq: number, data: Buffer): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = type;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(seq, 6);
  data.copy(m, 8);
  m.writeUInt16BE(internetChecksum(m), 2);
  return m;
}

/** PPTP enhanced GRE (RFC 2637 §4.1): version 1, K and S set, call id at octet 6, then payload. */
export function grePacket(callId: number, seq: number, payload: Buffer): Buffer {
  const g = Buffer.alloc(12);
  g[0] = 0x30;
  g[1] = 0x01;
  g.writeUInt16BE(0x880b, 2);
  g.writeUInt16BE(payload.length, 4);
  g.writeUInt16BE(callId, 6);
  g.writeUInt32BE(seq, 8);
  return Buffer.concat([g, payload]);
}

/** IPv4 header (valid checksum) + a payload pattern derived from tag. */
export function ipv4(src: number, dst: number, payloadLen: number, tag: number): Buffer {
  const p = Buffer.alloc(20 + payloadLen);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(tag & 0xffff, 4);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(src >>> 0, 12);
  p.writeUInt32BE(dst >>> 0, 16);
  for (let i = 20; i < p.length; i++) p[i] = (i * 31 + tag * 7) & 0xff;
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  return p;
}

/** GRE v1 packet around an already built PPP frame; seq/ack < 0 = absent. */
export function greWrap(callId: number, ppp: Buffer, seq: number, ack = -1): Buffer {
  const buf = Buffer.alloc(16 + ppp.length);
  ppp.copy(buf, 16);
  const start = writeGreHeaderBefore(buf, 16, callId, ppp.length, seq, ack);
  return buf.subarray(start);
}

/** Deterministic PRNG (mulberry32): the fuzz is reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
