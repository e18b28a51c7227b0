// PPP frame decoders: parsePppFrame (ppp/PppProtocol.ts), then per protocol the control packet
// (parseControlPacket), its option list (parseOptions) and a PAP Authenticate-Request (parsePapRequest).
// Documented: parsePppFrame returns false, never throws; the others throw MalformedPacketError /
// MalformedPapRequestError only. Invariants: the parsed protocol is a valid PPP protocol number
// (RFC 1661 §2) and agrees with an independent reading of the header (FF 03 optional, PFC); the
// information field stays inside the frame; a frame written by writePppHeaderBefore parses back to its
// protocol; control packets and option lists lie inside their Length; options re-encode to the same
// octets (exact tiling); PAP fields lie inside the request.

import { ControlCode, encodeOptions, MalformedPacketError, parseControlPacket, parseOptions } from '../../../ppp/ControlPacket.js';
import { MalformedPapRequestError, parsePapRequest } from '../../../ppp/auth/PapServer.js';
import { isValidPppProtocol, parsePppFrame, PppProtocol, type PppFrameView, pppProtocolName, writePppHeaderBefore } from '../../../ppp/PppProtocol.js';
import { controlPacket } from '../Helpers.js';
import { hashBytes, type Prng } from '../Prng.js';
import { attempt, check, type FuzzTarget } from '../run.js';

const PROTOCOLS = [
  PppProtocol.LCP,
  PppProtocol.IPCP,
  PppProtocol.CCP,
  PppProtocol.CHAP,
  PppProtocol.PAP,
  PppProtocol.IPv4,
  PppProtocol.Mppe,
  PppProtocol.IPV6CP,
  0x0001,
  0x00ff,
  0x0101,
  0x0100,
  0xc025,
];

function oracle(b: Buffer, off: number, len: number): { protocol: number; offset: number } | null {
  if (off < 0 || len < 0 || off + len > b.length) return null;
  let p = off;
  const end = off + len;
  if (end - p >= 2 && b[p] === 0xff && b[p + 1] === 0x03) p += 2;
  if (p >= end) return null;
  let protocol: number;
  if (b[p]! % 2 === 1) {
    protocol = b[p]!;
    p += 1;
  } else {
    if (end - p < 2) return null;
    protocol = b[p]! * 256 + b[p + 1]!;
    p += 2;
  }
  if (protocol % 2 !== 1 || Math.floor(protocol / 256) % 2 !== 0) return null;
  return { protocol, offset: p };
}

function randomOptions(rng: Prng): Buffer {
  const parts: Buffer[] = [];
  for (let n = rng.small(6); n > 0; n--) {
    const type = rng.pick([1, 2, 3, 5, 7, 8, 13, 17, 18, 129, 130, 131, 132, rng.byte()]);
    const data = rng.bytes(rng.pick([0, 2, 3, 4, rng.small(10)]));
    const o = Buffer.concat([Buffer.from([type, data.length + 2]), data]);
    if (rng.chance(0.1)) o[1] = rng.pick([0, 1, o[1]! + 1, 255]);
    parts.push(o);
  }
  return Buffer.concat(parts);
}

export function randomPppFrame(rng: Prng): Buffer {
  const protocol = rng.pick(PROTOCOLS);
  let payload: Buffer;
  if (protocol === PppProtocol.PAP) {
    const id = rng.bytes(rng.small(12));
    const pw = rng.bytes(rng.small(12));
    payload = controlPacket(1, rng.byte(), Buffer.concat([Buffer.from([id.length + (rng.chance(0.1) ? 1 : 0)]), id, Buffer.from([pw.length]), pw]));
  } else {
    payload = controlPacket(rng.chance(0.8) ? rng.range(1, 15) : rng.byte(), rng.byte(), randomOptions(rng));
    if (rng.chance(0.15)) payload.writeUInt16BE(Math.max(0, payload.length + rng.range(-5, 5)), 2);
  }
  const buf = Buffer.alloc(4 + payload.length + (rng.chance(0.2) ? rng.small(4) : 0));
  payload.copy(buf, 4);
  if (!isValidPppProtocol(protocol)) {
    buf.writeUInt16BE(protocol, 2);
    return Buffer.from(buf.subarray(2));
  }
  const start = writePppHeaderBefore(buf, 4, protocol, rng.chance(0.5), rng.chance(0.5));
  return Buffer.from(buf.subarray(start));
}

const view: PppFrameView = { protocol: 0, offset: 0, length: 0 };

export const pppFrameTarget: FuzzTarget = {
  name: 'ppp-frame',
  maxInputLength: 600,

  seedInputs() {
    const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
    return [
      // pppd LCP Configure-Request <asyncmap 0> <magic> <pcomp> <accomp>
      h('ff03 c021 01 01 0014 02060000000005061a2b3c4d07020802'),
      // MS-CHAPv2 auth option in our request, PFC IPCP request, CCP MPPE, PAP request, IPv4 data
      h('c021 01 02 000f 0305c22381 0506 01020304'),
      h('8021 01 01 0016 0306 00000000 8106 00000000 8306 00000000'),
      h('ff03 80fd 01 01 000a 12060100 0040'),
      h('c023 01 07 000e 05 616c696365 03 707764'),
      h('21 4500001c'),
    ];
  },

  generate: randomPppFrame,

  run(input) {
    // At 0 and at an input-derived offset/length inside the buffer.
    let ok = false;
    const h = hashBytes(input);
    for (const [off, len] of [
      [0, input.length],
      [h % 3, input.length - (h % 3) - ((h >>> 2) % 3)],
    ] as const) {
      let got: boolean;
      try {
        got = parsePppFrame(input, off, len, view);
      } catch (err) {
        check(false, `parsePppFrame threw ${(err as Error).name}: ${(err as Error).message}`);
        return '';
      }
      const want = oracle(input, off, len);
      check(got === (want !== null), `parsePppFrame(off ${off}, len ${len}) = ${got}, RFC 1661 reading says ${want !== null}`);
      if (!got) continue;
      check(view.protocol === want!.protocol && view.offset === want!.offset && view.offset + view.length === off + len, 'parsePppFrame fields disagree with the RFC 1661 reading');
      check(isValidPppProtocol(view.protocol), `accepted invalid protocol 0x${view.protocol.toString(16)}`);
      if (off === 0) ok = true;
    }
    if (!ok) return 'not a frame';
    parsePppFrame(input, 0, input.length, view);
    const protocol = view.protocol;
    const info = input.subarray(view.offset);

    // Written frames parse back (both compressions; 0x00ff compressed would read as FF 03: reserved as
    // "compression inefficient" in the PPP protocol registry, never sent).
    for (const [acfc, pfc] of [
      [false, false],
      [true, protocol !== 0xff],
    ] as const) {
      const w = Buffer.alloc(4 + info.length);
      info.copy(w, 4);
      const start = writePppHeaderBefore(w, 4, protocol, acfc, pfc);
      const back: PppFrameView = { protocol: 0, offset: 0, length: 0 };
      check(parsePppFrame(w, start, w.length - start, back) && back.protocol === protocol && back.offset === 4, 'writePppHeaderBefore output does not parse back');
    }

    if (protocol === PppProtocol.IPv4 || protocol === PppProtocol.Mppe) return `data ${pppProtocolName(protocol)}`;
    let label = pppProtocolName(protocol).startsWith('0x') ? 'other protocol' : pppProtocolName(protocol);
    const parsed = attempt([MalformedPacketError], () => parseControlPacket(info), 'parseControlPacket');
    if (!parsed.ok) return `${label} malformed packet`;
    const packet = parsed.value;
    const length = info.readUInt16BE(2);
    check(packet.raw.length === length && packet.data.length === length - 4 && length <= info.length, 'control packet not cut at its Length');
    label += ` code ${packet.code <= 15 ? packet.code : 'other'}`;

    if (protocol === PppProtocol.PAP) {
      const pap = attempt([MalformedPapRequestError], () => parsePapRequest(packet.data), 'parsePapRequest');
      if (!pap.ok) return `${label} malformed PAP`;
      const fields = pap.value;
      const d = packet.data;
      check(fields.peerId.length === d[0] && 2 + fields.peerId.length + fields.password.length <= d.length, 'PAP fields outside the request');
      return `${label} PAP request`;
    }
    const c = packet.code;
    if (c >= ControlCode.ConfigureRequest && c <= ControlCode.ConfigureReject) {
      const parsedOptions = attempt([MalformedPacketError], () => parseOptions(packet.data), 'parseOptions');
      if (!parsedOptions.ok) return `${label} malformed options`;
      const opts = parsedOptions.value;
      check(encodeOptions(opts).equals(packet.data), 'options do not re-encode to the same octets');
      return `${label} ${Math.min(opts.length, 3)}${opts.length >= 3 ? '+' : ''} options`;
    }
    return label;
  },
};
