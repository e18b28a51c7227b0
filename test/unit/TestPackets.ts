// Packet builders shared by the native I/O tests: IPv4 (with options), ICMP echo, PPTP GRE.

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
