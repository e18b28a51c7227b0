// Packet format shared by LCP, IPCP, IPV6CP, CCP and (header only) CHAP: Code | Identifier | Length | Data
// (RFC 1661 §5), and the option TLV list inside Configure-* packets (RFC 1661 §6). Lengths are checked
// before anything is read.

export const ControlCode = {
  ConfigureRequest: 1,
  ConfigureAck: 2,
  ConfigureNak: 3,
  ConfigureReject: 4,
  TerminateRequest: 5,
  TerminateAck: 6,
  CodeReject: 7,
  ProtocolReject: 8,
  EchoRequest: 9,
  EchoReply: 10,
  DiscardRequest: 11,
  Identification: 12,
  TimeRemaining: 13,
  ResetRequest: 14,
  ResetAck: 15,
} as const;

export const CONTROL_HEADER_LENGTH = 4;

export class MalformedPacketError extends Error {
  override readonly name = 'MalformedPacketError';
}

export interface ControlPacket {
  code: number;
  identifier: number;
  /** Data after the 4-octet header, up to Length (padding beyond Length excluded). */
  data: Buffer;
  /** The whole packet from Code to Length (what a Code-Reject copies). */
  raw: Buffer;
}

/** Parse a control packet. Octets beyond Length are padding (RFC 1661 §5). Views into `payload`, no copy. */
export function parseControlPacket(payload: Buffer): ControlPacket {
  if (payload.length < CONTROL_HEADER_LENGTH) {
    throw new MalformedPacketError(`control packet of ${payload.length} octets is shorter than its header`);
  }
  const length = payload.readUInt16BE(2);
  if (length < CONTROL_HEADER_LENGTH) throw new MalformedPacketError(`Length field ${length} is below 4`);
  if (length > payload.length) {
    throw new MalformedPacketError(`Length field ${length} runs past the ${payload.length} received octets`);
  }
  return {
    code: payload[0]!,
    identifier: payload[1]!,
    data: payload.subarray(CONTROL_HEADER_LENGTH, length),
    raw: payload.subarray(0, length),
  };
}

export function encodeControlPacket(code: number, identifier: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const length = CONTROL_HEADER_LENGTH + data.length;
  if (length > 0xffff) throw new RangeError(`control packet of ${length} octets does not fit the Length field`);
  const out = Buffer.allocUnsafe(length);
  out[0] = code & 0xff;
  out[1] = identifier & 0xff;
  out.writeUInt16BE(length, 2);
  data.copy(out, CONTROL_HEADER_LENGTH);
  return out;
}

export interface ConfigOption {
  type: number;
  /** Option data without Type and Length. */
  data: Buffer;
}

/**
 * Parse a Configure-* option list. An option whose Length is below 2 or runs past the data makes the
 * whole packet invalid (RFC 1661 §6: such a packet is silently discarded).
 */
export function parseOptions(data: Buffer): ConfigOption[] {
  const options: ConfigOption[] = [];
  let p = 0;
  while (p < data.length) {
    if (data.length - p < 2) throw new MalformedPacketError(`option header truncated at offset ${p}`);
    const type = data[p]!;
    const length = data[p + 1]!;
    if (length < 2) throw new MalformedPacketError(`option ${type} has invalid Length ${length}`);
    if (p + length > data.length) throw new MalformedPacketError(`option ${type} of Length ${length} runs past the packet`);
    options.push({ type, data: data.subarray(p + 2, p + length) });
    p += length;
  }
  return options;
}

export function encodeOptions(options: readonly ConfigOption[]): Buffer {
  let total = 0;
  for (const o of options) {
    if (o.data.length > 253) throw new RangeError(`option ${o.type} data of ${o.data.length} octets is too long`);
    total += 2 + o.data.length;
  }
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  for (const o of options) {
    out[p] = o.type;
    out[p + 1] = o.data.length + 2;
    o.data.copy(out, p + 2);
    p += 2 + o.data.length;
  }
  return out;
}

export function u16Data(value: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(value & 0xffff, 0);
  return b;
}

export function u32Data(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}
