// A scripted PPP peer for the automaton and link targets. The input is a script of operations; each
// builds a control packet *relative to what the server last sent* (ack its Configure-Request with its
// Identifier, re-request what it Nak'd, answer its CHAP Challenge), so byte mutations of the script stay
// meaningful and the run does not depend on the server's random Identifiers or magic numbers. Option
// values come from per-protocol menus (valid, boundary and malformed choices) read from the script.

import { controlPacket, options, u16, u32, type ByteReader, type ByteWriter } from '../Helpers.js';
import type { Prng } from '../Prng.js';

export type CpKind = 'lcp' | 'ipcp' | 'ccp';

/** What the server last sent for one control protocol, and what the peer last asked. */
export class CpContext {
  /** Data of our (the server's) last Configure-Request, and its Identifier. */
  ourRequest: Buffer | null = null;
  ourRequestId = 0;
  /** Data of the server's last Configure-Nak / -Reject to the peer. */
  ourNak: Buffer | null = null;
  ourReject: Buffer | null = null;
  /** Data of the peer's last Configure-Request and the Identifier it used. */
  peerRequest: Buffer = Buffer.alloc(0);
  peerId = 0;
  /** The peer acked the server's current request / the server acked the peer's current request. */
  ourRequestAcked = false;
  peerRequestAcked = false;

  /** Record a packet the server sent. */
  sent(packet: Buffer): void {
    if (packet.length < 4) return;
    const data = packet.subarray(4, Math.min(packet.length, packet.readUInt16BE(2)));
    switch (packet[0]) {
      case 1:
        this.ourRequest = Buffer.from(data);
        this.ourRequestId = packet[1]!;
        this.ourRequestAcked = false;
        return;
      case 2:
        if (packet[1] === this.peerId) this.peerRequestAcked = true;
        return;
      case 3:
        this.ourNak = Buffer.from(data);
        return;
      case 4:
        this.ourReject = Buffer.from(data);
        return;
    }
  }
}

export interface PeerEnv {
  /** The address the server hands out (IPCP menu "the assigned one"). */
  assigned: number;
  dns: readonly number[];
}

const AUTH_OPTIONS = [
  Buffer.from([0xc2, 0x23, 0x81]),
  Buffer.from([0xc2, 0x23, 0x80]),
  Buffer.from([0xc2, 0x23, 0x05]),
  Buffer.from([0xc0, 0x23]),
  Buffer.from([0xc2, 0x27]),
  Buffer.from([0xc2, 0x23]),
  Buffer.from([0xc2, 0x23, 0x81, 0x00]),
];
const MPPE_VALUES = [0x01000040, 0x01000020, 0x01000080, 0x00000040, 0x00000020, 0x010000e0, 0x000000e0, 0x01000060, 0x01000041, 0x01000050, 0x00000001, 0xffffffff, 0];

function optionFromMenu(kind: CpKind, r: ByteReader, ctx: CpContext, env: PeerEnv): [number, Buffer] {
  const c = r.u8();
  switch (kind) {
    case 'lcp':
      switch (c % 10) {
        case 0:
          return [1, u16(r.u16())];
        case 1:
          return [1, u16(1400)];
        case 2:
          return [2, u32(0)];
        case 3:
          return [5, u32(r.u32())];
        case 4: {
          // Our own magic back (loop detection), or 0.
          const ours = findOption(ctx.ourRequest, 5);
          return [5, ours ?? u32(0)];
        }
        case 5:
          return [7, Buffer.alloc(0)];
        case 6:
          return [8, Buffer.alloc(0)];
        case 7:
          return [3, AUTH_OPTIONS[r.u8() % AUTH_OPTIONS.length]!];
        case 8:
          return [r.u8(), r.bytes(r.u8() % 6)];
        default:
          return [r.pick([4, 13, 17, 19, 23]), r.bytes(r.u8() % 4)];
      }
    case 'ipcp':
      switch (c % 9) {
        case 0:
          return [3, u32(0)];
        case 1:
          return [3, u32(r.u32())];
        case 2:
          return [3, u32(env.assigned)];
        case 3:
          return [r.pick([129, 131]), u32(0)];
        case 4:
          return [129, u32(env.dns[0] ?? 0)];
        case 5:
          return [131, u32(env.dns[1] ?? 0)];
        case 6:
          return [r.pick([130, 132]), u32(0)];
        case 7:
          return [2, Buffer.from([0x00, 0x2d, 0x0f, 0x01])];
        default:
          return [r.u8(), r.bytes(r.u8() % 6)];
      }
    default:
      switch (c % 6) {
        case 0:
        case 1:
          return [18, u32(MPPE_VALUES[r.u8() % MPPE_VALUES.length]!)];
        case 2:
          return [18, u32(r.u32())];
        case 3:
          return [18, r.bytes(r.pick([0, 2, 3, 5]))];
        case 4:
          return [r.pick([1, 17, 21, 24, 26]), r.bytes(r.u8() % 5)];
        default:
          return [r.u8(), r.bytes(r.u8() % 4)];
      }
  }
}

/** Data of option `type` in an option list, or null. */
export function findOption(list: Buffer | null, type: number): Buffer | null {
  if (!list) return null;
  for (let p = 0; p + 2 <= list.length && list[p + 1]! >= 2; p += list[p + 1]!) {
    if (list[p] === type) return Buffer.from(list.subarray(p + 2, p + list[p + 1]!));
  }
  return null;
}

/** The options of a list (well-formed part only). */
function splitOptions(list: Buffer | null): Buffer[] {
  const out: Buffer[] = [];
  if (!list) return out;
  for (let p = 0; p + 2 <= list.length && list[p + 1]! >= 2 && p + list[p + 1]! <= list.length; p += list[p + 1]!) out.push(Buffer.from(list.subarray(p, p + list[p + 1]!)));
  return out;
}

function readOptionList(kind: CpKind, r: ByteReader, ctx: CpContext, env: PeerEnv): Buffer {
  const n = r.u8() % 6;
  const list: Array<readonly [number, Uint8Array]> = [];
  for (let i = 0; i < n; i++) list.push(optionFromMenu(kind, r, ctx, env));
  const out = options(list);
  // A lying option length now and then (the menu's raw choices cover the rest).
  if (out.length > 1 && r.u8() === 0xee) out[1] = r.u8();
  return out;
}

/** Identifier: the expected one plus a delta from the script (0 most of the time). */
function relId(base: number, r: ByteReader): number {
  const d = r.u8();
  return (base + (d < 200 ? 0 : d)) & 0xff;
}

/** A new Configure-Request from the peer. */
export function peerRequest(ctx: CpContext, data: Buffer): Buffer {
  ctx.peerId = (ctx.peerId + 1) & 0xff;
  ctx.peerRequest = data;
  ctx.peerRequestAcked = false;
  ctx.ourNak = null;
  ctx.ourReject = null;
  return controlPacket(1, ctx.peerId, data);
}

/** The peer gives in: re-request with what the server Nak'd, without what it Rejected. */
export function giveIn(ctx: CpContext): Buffer {
  const rejected = new Set(splitOptions(ctx.ourReject).map((o) => o[0]));
  const naked = new Map(splitOptions(ctx.ourNak).map((o) => [o[0]!, o]));
  const mine = splitOptions(ctx.peerRequest).filter((o) => !rejected.has(o[0]!));
  const merged = mine.map((o) => naked.get(o[0]!) ?? o);
  for (const [t, o] of naked) if (!mine.some((m) => m[0] === t)) merged.push(o);
  return peerRequest(ctx, Buffer.concat(merged));
}

/** Number of control-packet operations. */
export const CP_OPS = 11;

/**
 * One control packet of protocol `kind` for operation `op` (0..CP_OPS-1). Also updates the peer's own
 * state in `ctx` (its last request).
 */
export function readControlOp(kind: CpKind, op: number, r: ByteReader, ctx: CpContext, env: PeerEnv): Buffer {
  switch (op) {
    case 0:
      // Configure-Request with options from the menu.
      return peerRequest(ctx, readOptionList(kind, r, ctx, env));
    case 1: {
      // Configure-Ack of the server's request (byte-exact unless the script says otherwise).
      const id = relId(ctx.ourRequestId, r);
      const data = Buffer.from(ctx.ourRequest ?? Buffer.alloc(0));
      const flip = r.u8();
      if (flip >= 240 && data.length > 0) data[flip % data.length]! ^= 0x01;
      else if (id === ctx.ourRequestId) ctx.ourRequestAcked = true;
      return controlPacket(2, id, data);
    }
    case 2:
      return controlPacket(3, relId(ctx.ourRequestId, r), readOptionList(kind, r, ctx, env));
    case 3: {
      // Configure-Reject of some of the server's options (unmodified), or of anything.
      const id = relId(ctx.ourRequestId, r);
      const mask = r.u8();
      if (mask === 0xff) return controlPacket(4, id, readOptionList(kind, r, ctx, env));
      const opts = splitOptions(ctx.ourRequest).filter((_, i) => (mask >> i) & 1);
      return controlPacket(4, id, Buffer.concat(opts));
    }
    case 4:
      return giveIn(ctx);
    case 5:
      return controlPacket(5, r.u8(), r.bytes(r.u8() % 8));
    case 6:
      return controlPacket(6, r.u8());
    case 7: {
      // Code-Reject of one of our codes (the rejected packet's start as data).
      const code = r.pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 99]);
      return controlPacket(7, r.u8(), Buffer.from([code, r.u8(), 0, 4]));
    }
    case 8: {
      // Codes past 7: Protocol-Reject, Echo, Discard, Identification, Time-Remaining, Reset-Request/Ack, unknown.
      const code = r.pick([8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 255]);
      let data = r.bytes(r.u8() % 16);
      if (code === 8 && r.u8() < 200) data = Buffer.concat([u16(r.pick([0xc021, 0x8021, 0x80fd, 0xc223, 0xc023, 0x8057, 0x0021])), data]);
      return controlPacket(code, r.u8(), data);
    }
    case 9: {
      // The same request again (a retransmission).
      return controlPacket(1, ctx.peerId, ctx.peerRequest);
    }
    default: {
      // Raw bytes, Length field and all.
      return r.bytes(r.u8() % 48);
    }
  }
}

function writeMenuOption(rng: Prng, w: ByteWriter, kind: CpKind): void {
  const menu = kind === 'lcp' ? 10 : kind === 'ipcp' ? 9 : 6;
  const c = rng.int(menu);
  w.u8(c);
  // Operands: enough random bytes for the longest choice; unread ones shift the script, which is fine.
  if (kind === 'lcp') {
    if (c === 0) w.u16(rng.pick([0, 127, 128, 1400, 1500, 0xffff, rng.int(0x10000)]));
    else if (c === 3) w.u32(rng.pick([0, rng.u32()]));
    else if (c === 7) w.u8(rng.int(AUTH_OPTIONS.length));
    else if (c === 8) w.u8(rng.byte()).u8(rng.int(6)).bytes(rng.bytes(5));
    else if (c === 9) w.u8(rng.int(5)).u8(rng.int(4)).bytes(rng.bytes(3));
  } else if (kind === 'ipcp') {
    if (c === 1) w.u32(rng.u32());
    else if (c === 3 || c === 6) w.u8(rng.int(2));
    else if (c === 8) w.u8(rng.byte()).u8(rng.int(6)).bytes(rng.bytes(5));
  } else {
    if (c <= 1) w.u8(rng.int(MPPE_VALUES.length));
    else if (c === 2) w.u32(rng.u32());
    else if (c === 3) w.u8(rng.int(4)).bytes(rng.bytes(5));
    else w.u8(rng.int(5)).u8(rng.int(5)).bytes(rng.bytes(4));
  }
}

/** `preferred`: menu choices with their operand bytes. */
function writeOptionList(rng: Prng, w: ByteWriter, kind: CpKind, preferred?: number[][]): void {
  const n = preferred ? preferred.length : rng.small(4);
  w.u8(n);
  for (let i = 0; i < n; i++) {
    if (preferred) w.bytes(Uint8Array.from(preferred[i]!));
    else writeMenuOption(rng, w, kind);
  }
  w.u8(rng.chance(0.05) ? 0xee : 0);
  if (rng.chance(0.05)) w.u8(rng.byte());
}

/** Script bytes for readControlOp(kind, op, ...) (the op byte itself is the caller's). */
export function writeControlOp(rng: Prng, w: ByteWriter, kind: CpKind, op: number): void {
  const exactId = () => w.u8(rng.chance(0.9) ? 0 : rng.byte());
  switch (op) {
    case 0: {
      // Mostly what a real client asks: pppd LCP options, IPCP 0.0.0.0 + DNS, MPPE 128 stateless.
      const typical = rng.chance(0.6);
      const magic = [...u32(rng.u32() | 1)];
      if (kind === 'lcp') writeOptionList(rng, w, kind, typical ? [[2], [3, ...magic], [5], [6]] : undefined);
      else if (kind === 'ipcp') writeOptionList(rng, w, kind, typical ? [[0], [3, 0], [3, 1]] : undefined);
      else writeOptionList(rng, w, kind, typical ? [[0, rng.chance(0.8) ? 0 : rng.int(MPPE_VALUES.length)]] : undefined);
      return;
    }
    case 1:
      exactId();
      w.u8(rng.chance(0.95) ? 0 : 0xf0 + rng.int(16));
      return;
    case 2:
      exactId();
      writeOptionList(rng, w, kind);
      return;
    case 3:
      exactId();
      w.u8(rng.chance(0.1) ? 0xff : rng.byte());
      if (rng.chance(0.1)) writeOptionList(rng, w, kind);
      return;
    case 5:
      w.u8(rng.byte()).u8(rng.int(8)).bytes(rng.bytes(7));
      return;
    case 6:
    case 7:
      w.u8(rng.byte()).u8(rng.byte()).u8(rng.byte());
      return;
    case 8:
      w.u8(rng.byte())
        .u8(rng.int(16))
        .bytes(rng.bytes(rng.int(16)))
        .u8(rng.byte())
        .u8(rng.byte())
        .u8(rng.byte());
      return;
    case 10: {
      const n = rng.int(48);
      w.u8(n).bytes(rng.bytes(n));
      return;
    }
    default:
      return;
  }
}
