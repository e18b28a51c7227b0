// Enhanced GRE header parser (gre/GreHeader.ts). Documented: parseGreHeader never throws, it returns
// a GreParseResult code. Checked against an independent reading of RFC 2637 §4.1 (the oracle below):
// same code for every input and, when Ok, the same fields; the payload lies inside [off, off+len);
// writeGreHeaderBefore with the parsed fields rebuilds the same header octets. The input is parsed at
// offset 0 and again inside a larger buffer at an input-derived offset and length.

import { GRE_PROTOCOL_PPP, GreHeaderView, GreParseResult, parseGreHeader, writeGreHeaderBefore } from '../../../gre/GreHeader.js';
import { hashBytes, Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';

interface Expected {
  code: number;
  callId?: number;
  payloadLength?: number;
  seq?: number;
  ack?: number;
  hasSeq?: boolean;
  hasAck?: boolean;
  payloadOffset?: number;
}

/** RFC 2637 §4.1 read independently: the order of checks follows the module's documented codes. */
function oracle(b: Buffer, off: number, len: number): Expected {
  if (off < 0 || len < 8 || off + len > b.length) return { code: GreParseResult.TooShort };
  const c = b[off]!;
  const d = b[off + 1]!;
  if ((d & 7) !== 1) return { code: GreParseResult.NotVersion1 };
  if (b.readUInt16BE(off + 2) !== 0x880b) return { code: GreParseResult.BadProtocol };
  const checksum = c & 0x80;
  const routing = c & 0x40;
  const strictRoute = c & 0x08;
  const recur = c & 0x07;
  const flags = (d >> 3) & 0x0f;
  if (checksum || routing || strictRoute || recur || flags) return { code: GreParseResult.BadFlags };
  if (!(c & 0x20)) return { code: GreParseResult.NoKey };
  const hasSeq = (c & 0x10) !== 0;
  const hasAck = (d & 0x80) !== 0;
  const header = 8 + (hasSeq ? 4 : 0) + (hasAck ? 4 : 0);
  if (len < header) return { code: GreParseResult.TooShort };
  const payloadLength = b.readUInt16BE(off + 4);
  if (header + payloadLength > len) return { code: GreParseResult.Truncated };
  return {
    code: GreParseResult.Ok,
    payloadLength,
    callId: b.readUInt16BE(off + 6),
    hasSeq,
    hasAck,
    seq: hasSeq ? b.readUInt32BE(off + 8) : 0,
    ack: hasAck ? b.readUInt32BE(off + (hasSeq ? 12 : 8)) : 0,
    payloadOffset: off + header,
  };
}

const view = new GreHeaderView();

function parseAndCheck(buf: Buffer, off: number, len: number): number {
  let code: number;
  try {
    code = parseGreHeader(buf, off, len, view);
  } catch (err) {
    check(false, `parseGreHeader threw ${(err as Error).name}: ${(err as Error).message}`);
    return -1;
  }
  const want = oracle(buf, off, len);
  check(code === want.code, `parseGreHeader(off ${off}, len ${len}) = ${code}, RFC 2637 reading says ${want.code}`);
  if (code !== GreParseResult.Ok) return code;
  check(
    view.callId === want.callId &&
      view.payloadLength === want.payloadLength &&
      view.hasSeq === want.hasSeq &&
      view.hasAck === want.hasAck &&
      view.seq === want.seq &&
      view.ack === want.ack &&
      view.payloadOffset === want.payloadOffset &&
      view.headerLength === want.payloadOffset! - off,
    () => `parsed fields ${JSON.stringify(view)} differ from ${JSON.stringify(want)}`,
  );
  check(view.payloadOffset + view.payloadLength <= off + len, 'payload runs past the given range');
  // Rebuild the header in front of a copy of the payload: same octets.
  const rebuilt = Buffer.alloc(16 + view.payloadLength);
  const start = writeGreHeaderBefore(rebuilt, 16, view.callId, view.payloadLength, view.hasSeq ? view.seq : -1, view.hasAck ? view.ack : -1);
  check(rebuilt.subarray(start, 16).equals(buf.subarray(off, off + view.headerLength)), 'writeGreHeaderBefore(parsed fields) gives other header octets');
  return code;
}

function packet(rng: Prng): Buffer {
  const hasSeq = rng.chance(0.8);
  const hasAck = rng.chance(0.5);
  const payload = rng.bytes(rng.small(40));
  const buf = Buffer.alloc(16 + payload.length);
  payload.copy(buf, 16);
  const seq = hasSeq ? (rng.chance(0.3) ? rng.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) : rng.u32()) : -1;
  const ack = hasAck ? rng.u32() : -1;
  const start = writeGreHeaderBefore(buf, 16, rng.int(0x10000), payload.length, seq, ack);
  const out = Buffer.from(buf.subarray(start));
  // Structure-aware damage: one flag, version, protocol or length field.
  switch (rng.int(8)) {
    case 0:
      out[0]! ^= rng.pick([0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01]);
      break;
    case 1:
      out[1]! ^= rng.pick([0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01]);
      break;
    case 2:
      out.writeUInt16BE(rng.pick([0x0800, 0x86dd, 0x880a, 0x880c, 0xffff, GRE_PROTOCOL_PPP]), 2);
      break;
    case 3:
      out.writeUInt16BE(Math.max(0, payload.length + rng.range(-2, 2)) & 0xffff, 4);
      break;
    default:
      break;
  }
  return out;
}

export const greHeaderTarget: FuzzTarget = {
  name: 'gre-header',
  maxInputLength: 300,

  seedInputs() {
    const rng = new Prng(0x6e1);
    const out: Buffer[] = [];
    for (const [s, a] of [
      [5, -1],
      [5, 9],
      [-1, 9],
      [-1, -1],
    ] as const) {
      const buf = Buffer.alloc(16 + 6);
      rng.bytes(6).copy(buf, 16);
      out.push(Buffer.from(buf.subarray(writeGreHeaderBefore(buf, 16, 0x1234, 6, s, a))));
    }
    return out;
  },

  generate: packet,

  run(input) {
    const code = parseAndCheck(input, 0, input.length);
    // Inside a larger buffer at an offset, and with a length shorter than the data.
    const rng = new Prng(hashBytes(input));
    const before = rng.int(8);
    const big = Buffer.concat([rng.bytes(before), input, rng.bytes(rng.int(8))]);
    parseAndCheck(big, before, input.length);
    parseAndCheck(big, before, Math.max(0, input.length - rng.int(6)));
    parseAndCheck(big, rng.range(-2, big.length + 2), rng.range(-2, big.length + 2));
    return `result ${code}`;
  },
};
