// MPPE receive path (ppp/mppe/MppeCipher.ts MppeDecryptor) against a real MppeEncryptor and an
// independent reference decryptor written here from RFC 3078 §3, §7.3, §8 (node's SHA-1, a textbook
// RC4), over every coherency-count pattern the script asks for: in order, losses of 1..4096 packets
// (flag packets and the 12-bit wrap included), replays, Reset-Requests, packets with A/D/C/CC bits
// flipped, truncated or garbage, all in 40/56/128-bit, stateless and stateful.
// Documented: decrypt() never throws; it returns the plaintext length, MPPE_DROP, MPPE_RESET, or (with a
// catch-up budget, on some inputs) MPPE_LIMITED with the state untouched.
// Invariants: same result and same plaintext as the reference for every packet; on an honest stream
// (no forged or replayed packet delivered yet) every accepted packet decrypts to what was sent, a
// stateless receiver accepts exactly the packets 1..2048 ahead, a stateful one answers a loss with one
// RESET and is back in step after the next flushed packet; the drop/reset counters count; and at most
// 2048 key changes per packet (stateless; 16 stateful), counted as RC4 key schedules.

import { createHash } from 'node:crypto';
import { Rc4 } from '../../../ppp/crypto/Rc4.js';
import { type KeyChangeBudget, MPPE_DROP, MPPE_LIMITED, MPPE_RESET, type MppeBits, MppeDecryptor, MppeEncryptor } from '../../../ppp/mppe/MppeCipher.js';
import { ByteReader, ByteWriter } from '../Helpers.js';
import { Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';

const PAD1 = Buffer.alloc(40, 0);
const PAD2 = Buffer.alloc(40, 0xf2);

/** Textbook RC4 (not the optimised ppp/crypto/Rc4.ts). */
class RefRc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;
  constructor(key: Uint8Array) {
    const s = this.s;
    const len = key.length;
    for (let n = 0; n < 256; n++) s[n] = n;
    for (let n = 0, j = 0, k = 0; n < 256; n++, k = k + 1 === len ? 0 : k + 1) {
      j = (j + s[n]! + key[k]!) & 0xff;
      const t = s[n]!;
      s[n] = s[j]!;
      s[j] = t;
    }
  }
  process(buf: Uint8Array, off: number, len: number): void {
    for (let k = off; k < off + len; k++) {
      this.i = (this.i + 1) & 0xff;
      this.j = (this.j + this.s[this.i]!) & 0xff;
      const t = this.s[this.i]!;
      this.s[this.i] = this.s[this.j]!;
      this.s[this.j] = t;
      buf[k]! ^= this.s[(this.s[this.i]! + this.s[this.j]!) & 0xff]!;
    }
  }
}

function reduce(key: Buffer, bits: MppeBits): Buffer {
  if (bits === 40) key.set([0xd1, 0x26, 0x9e], 0);
  else if (bits === 56) key[0] = 0xd1;
  return key;
}

/** RFC 3078 §7.3 key schedule of one direction. */
class RefKeys {
  private readonly start: Buffer;
  private session: Buffer;
  stream: RefRc4;
  constructor(
    startKey: Buffer,
    private readonly bits: MppeBits,
  ) {
    const len = bits === 128 ? 16 : 8;
    this.start = Buffer.from(startKey.subarray(0, len));
    this.session = reduce(this.newKey(this.start), bits);
    this.stream = new RefRc4(this.session);
  }
  private newKey(session: Buffer): Buffer {
    return createHash('sha1').update(this.start).update(PAD1).update(session).update(PAD2).digest().subarray(0, this.start.length);
  }
  change(): void {
    const interim = this.newKey(this.session);
    const next = Buffer.from(interim);
    new RefRc4(interim).process(next, 0, next.length);
    this.session = reduce(next, this.bits);
    this.stream = new RefRc4(this.session);
  }
}

/** The receiver rules of RFC 3078 §3 / §8 (with Linux ppp_mppe.c's reading where the RFC is vague). */
class RefDecryptor {
  private readonly keys: RefKeys;
  cc = 0xfff;
  private discarding = false;
  constructor(
    startKey: Buffer,
    bits: MppeBits,
    private readonly stateless: boolean,
    /** Catch-up key changes (beyond a packet's own one) still allowed; null = unlimited. */
    private budget: number | null,
  ) {
    this.keys = new RefKeys(startKey, bits);
  }
  private spend(n: number): boolean {
    if (n === 0 || this.budget === null) return true;
    if (n > this.budget) return false;
    this.budget -= n;
    return true;
  }
  decrypt(buf: Buffer, off: number, len: number): number {
    if (off < 0 || len < 3 || off + len > buf.length) return MPPE_DROP;
    const a = (buf[off]! & 0x80) !== 0;
    const d = (buf[off]! & 0x10) !== 0;
    const cc = ((buf[off]! & 0x0f) << 8) | buf[off + 1]!;
    if (!d) return MPPE_DROP;
    if (this.stateless) {
      if (!a) return MPPE_DROP;
      const ahead = (cc - this.cc + 4096) % 4096;
      if (ahead === 0 || ahead > 2048) return MPPE_DROP;
      if (!this.spend(ahead - 1)) return MPPE_LIMITED;
      for (let n = 0; n < ahead; n++) this.keys.change();
      this.cc = cc;
    } else {
      if (cc % 256 === 0xff && !a) return MPPE_DROP;
      if (!this.discarding) {
        this.cc = (this.cc + 1) % 4096;
        if (cc !== this.cc) {
          this.discarding = true;
          return MPPE_RESET;
        }
      } else {
        if (!a) return MPPE_DROP;
        // One key change for each flag packet (CC low octet 0xff) the sender passed meanwhile.
        if (!this.spend(((cc >> 8) - (this.cc >> 8) + 16) % 16)) return MPPE_LIMITED;
        while (cc >> 8 !== this.cc >> 8) {
          this.keys.change();
          this.cc = (this.cc + 256) % 4096;
        }
        this.discarding = false;
        this.cc = cc;
      }
      if (a) this.keys.change();
    }
    this.keys.stream.process(buf, off + 2, len - 2);
    return len - 2;
  }
}

const BITS: readonly MppeBits[] = [40, 56, 128];
const START_KEY = Buffer.from('8b7cdc149b993a1ba118cb153f56dccb', 'hex');

// RC4 key schedules of the real decryptor, counted while it runs (the reference has its own RC4).
let counting = false;
let keySchedules = 0;
const originalSetKey = Rc4.prototype.setKey;
function countKeySchedules(this: Rc4, ...args: Parameters<Rc4['setKey']>): void {
  if (counting) keySchedules++;
  originalSetKey.apply(this, args);
}

interface Sent {
  wire: Buffer;
  plain: Buffer;
  index: number;
  /** Stateful: a key change the receiver cannot infer from the count (A set on a packet that is not a flag packet). */
  extraRekey: boolean;
}

export const mppeTarget: FuzzTarget = {
  name: 'mppe',
  maxInputLength: 300,
  setup() {
    Rc4.prototype.setKey = countKeySchedules;
  },
  teardown() {
    Rc4.prototype.setKey = originalSetKey;
  },

  seedInputs() {
    const inOrder = new ByteWriter().u8(0x02);
    for (let i = 0; i < 6; i++) inOrder.step(0, new ByteWriter().u8(8));
    const stateful = new ByteWriter().u8(0x05);
    stateful
      .step(0, new ByteWriter().u8(10))
      .step(1, new ByteWriter().u8(0).u8(3))
      .step(0, new ByteWriter().u8(4))
      .step(4, new ByteWriter())
      .step(0, new ByteWriter().u8(5))
      .step(0, new ByteWriter().u8(5));
    const flag = new ByteWriter().u8(0x04);
    flag.step(1, new ByteWriter().u8(240).u8(2)).step(0, new ByteWriter().u8(1)).step(0, new ByteWriter().u8(1)).step(0, new ByteWriter().u8(1));
    return [inOrder.toBuffer(), stateful.toBuffer(), flag.toBuffer()];
  },

  generate(rng) {
    const w = new ByteWriter().u8(rng.byte());
    for (let n = rng.range(1, 14); n > 0; n--) {
      const r = rng.float();
      const o = new ByteWriter();
      if (r < 0.45) w.step(0, o.u8(rng.int(40)));
      else if (r < 0.65) {
        // Losses: mostly a few, sometimes across a flag packet, rarely the whole half-space or the wrap.
        const r2 = rng.float();
        if (r2 < 0.002) w.step(1, o.u8(255).u8(0xf0 + rng.int(8)));
        else w.step(1, o.u8(r2 < 0.06 ? 240 + rng.int(15) : rng.int(240)).u8(rng.chance(0.7) ? rng.small(4) : rng.byte()));
      } else if (r < 0.72) w.step(2, o.u8(rng.byte()));
      else if (r < 0.82) w.step(3, o.u8(rng.byte()).u8(rng.byte()).u8(rng.byte()));
      else if (r < 0.9) w.step(4, o);
      else if (r < 0.95) w.step(5, o.bytes(rng.bytes(rng.small(8) + rng.int(4))));
      else w.step(6, o.u8(rng.int(40)).u8(rng.int(6)).u8(rng.int(4)));
    }
    return w.toBuffer();
  },

  run(input) {
    const script = new ByteReader(input);
    const cfg = script.u8();
    const bits = BITS[cfg % 3]!;
    const stateless = (cfg & 4) === 0;
    const enc = new MppeEncryptor(START_KEY, bits, stateless);
    // A catch-up budget (the data plane's token bucket) on some inputs: 0, a little, or plenty.
    const tokens = (cfg & 0x40) === 0 ? null : [0, 40, 3000][(cfg >> 3) % 3]!;
    let left = tokens ?? 0;
    const budget: KeyChangeBudget | null =
      tokens === null
        ? null
        : {
            take: (n) => {
              if (n > left) return false;
              left -= n;
              return true;
            },
            give: () => {}, // a budget that earns nothing: the reference models a fixed allowance
          };
    const dec = budget ? new MppeDecryptor(START_KEY, bits, stateless, budget) : new MppeDecryptor(START_KEY, bits, stateless);
    let ref: RefDecryptor | null = new RefDecryptor(START_KEY, bits, stateless, tokens);
    const rng = new Prng(cfg * 31 + input.length);
    const history: Sent[] = [];
    let honest = true;
    /** Index (1, 2, ...) of the last packet the receiver accepted; 0 = none yet (CC 4095). */
    let lastAccepted = 0;
    let awaitingFlush = false;
    let sentCount = 0;
    const outcomes = new Set<string>();

    const encryptNext = (len: number): Sent => {
      const plain = rng.bytes(Math.max(1, len));
      const buf = Buffer.alloc(2 + plain.length);
      plain.copy(buf, 2);
      enc.encrypt(buf, 2, plain.length);
      const s = { wire: buf, plain, index: ++sentCount, extraRekey: !stateless && (buf[0]! & 0x80) !== 0 && buf[1] !== 0xff };
      history.push(s);
      if (history.length > 8) history.shift();
      return s;
    };

    const deliver = (buf: Buffer, off: number, len: number, sent: Sent | null): void => {
      const mine = Buffer.from(buf);
      const refBuf = Buffer.from(buf);
      const dropped = dec.counters.dropped;
      const resets = dec.counters.resets;
      keySchedules = 0;
      counting = true;
      let got: number;
      try {
        got = dec.decrypt(mine, off, len);
      } catch (err) {
        check(false, `decrypt threw ${(err as Error).name}: ${(err as Error).message}`);
        return;
      } finally {
        counting = false;
      }
      // The reference costs ~4x the module per key change: a forged packet far ahead retires it for the
      // rest of the input (only the module's own invariants are checked then).
      if (ref && sent === null && stateless && len >= 3 && off >= 0 && off + len <= buf.length) {
        const cc = ((buf[off]! & 0x0f) << 8) | buf[off + 1]!;
        if ((cc - ref.cc + 4096) % 4096 > 256) ref = null;
      }
      if (!ref) {
        check(got === MPPE_DROP || got === MPPE_RESET || (budget !== null && got === MPPE_LIMITED) || (got >= 1 && got === len - 2), `decrypt returned ${got} for ${len} octets`);
        check(keySchedules <= (stateless ? 2 * 2048 + 2 : 2 * 16 + 2), `${keySchedules} RC4 key schedules for one packet`);
        outcomes.add(got > 0 ? 'ok' : got === MPPE_DROP ? 'drop' : got === MPPE_LIMITED ? 'limited' : 'reset');
        return;
      }
      const want = ref.decrypt(refBuf, off, len);
      check(got === want, `decrypt returned ${got}, RFC 3078 reference ${want} (${stateless ? 'stateless' : 'stateful'} ${bits}, header ${buf.subarray(Math.max(0, off), off + 2).toString('hex')})`);
      check(got === MPPE_DROP || got === MPPE_RESET || (budget !== null && got === MPPE_LIMITED) || (got >= 1 && got === len - 2), `decrypt returned ${got} for ${len} octets`);
      check(keySchedules <= (stateless ? 2 * 2048 + 2 : 2 * 16 + 2), `${keySchedules} RC4 key schedules for one packet`);
      check(dec.counters.dropped === dropped + (got === MPPE_DROP ? 1 : 0) && dec.counters.resets === resets + (got === MPPE_RESET ? 1 : 0), 'drop/reset counters do not count');
      if (got > 0) {
        check(mine.subarray(off + 2, off + len).equals(refBuf.subarray(off + 2, off + len)), 'plaintext differs from the reference');
        outcomes.add('ok');
      } else outcomes.add(got === MPPE_DROP ? 'drop' : got === MPPE_LIMITED ? 'limited' : 'reset');
      if (got === MPPE_LIMITED) honest = false; // refused for cost: the receiver stays behind
      if (!honest || sent === null) return;
      // Honest stream: what an in-step receiver must do.
      const ahead = sent.index - lastAccepted;
      let expectOk: boolean;
      if (stateless) {
        if (ahead > 4096) {
          honest = false; // the 12-bit count went round: a receiver cannot tell
          return;
        }
        expectOk = ahead <= 2048;
        check(got > 0 === expectOk, `stateless receiver ${got > 0 ? 'accepted' : 'refused'} a packet ${ahead} ahead`);
        if (!expectOk) honest = false; // it stays behind: later distances wrap and are ambiguous
      } else if (awaitingFlush) {
        const flushed = (sent.wire[0]! & 0x80) !== 0;
        if (flushed && ahead >= 3840) {
          honest = false; // the 12-bit count went round: the receiver cannot know how many flag packets it missed
          return;
        }
        expectOk = flushed;
        check(flushed ? got > 0 : got === MPPE_DROP, `stateful receiver after a loss: ${got} for a ${flushed ? 'flushed' : 'plain'} packet`);
        if (flushed) awaitingFlush = false;
      } else if (ahead >= 3840) {
        honest = false; // a loss of a whole 12-bit count round looks like no loss
        return;
      } else if (ahead > 1) {
        expectOk = false;
        check(got === MPPE_RESET, `stateful receiver did not ask for a reset after ${ahead - 1} lost packets (got ${got})`);
        awaitingFlush = true;
      } else {
        expectOk = true;
        check(got > 0, `stateful receiver refused the next packet in order (${got})`);
      }
      if (expectOk) {
        check(mine.subarray(off + 2, off + len).equals(sent.plain), 'accepted packet does not decrypt to what was sent');
        lastAccepted = sent.index;
      } else if (sent.extraRekey) {
        // A Reset-Request's flushed packet the receiver did not take: its key change is lost for good (the
        // receiver re-keys once per missed flag packet, as Linux ppp_mppe does). Out of step from here on.
        honest = false;
        outcomes.add('reset-flush missed');
      }
    };

    while (!script.done) {
      const op = script.u8() % 7;
      const r = script.sub(script.u8());
      switch (op) {
        case 0: {
          const s = encryptNext(r.u8());
          deliver(s.wire, 0, s.wire.length, s);
          break;
        }
        case 1: {
          // Lost packets: a few; across a flag packet; the stateless half-space; the 12-bit wrap.
          const c = r.u8();
          const v = r.u8();
          // Around a flag packet only matters (and is cheap) in stateful mode; the half-space and wrap
          // cases cost thousands of key changes, so they need two special octets.
          const big = [2045, 2046, 2047, 2048, 2049, 4094, 4095, 4096];
          const n = c < 240 ? v % 16 : c < 255 ? (stateless ? v % 16 : 253 + (v % 5)) : v >= 0xf0 && v <= 0xf7 ? big[v & 7]! : v % 16;
          if (sentCount + n > 9000) break; // bounded work per input
          for (let i = 0; i < n; i++) {
            if (encryptNext(1).extraRekey && honest) {
              honest = false; // as above: a lost flushed packet cannot be made up for
              outcomes.add('reset-flush missed');
            }
          }
          break;
        }
        case 2: {
          // A replay of a recent packet.
          if (history.length === 0) break;
          const s = history[r.u8() % history.length]!;
          honest = false;
          deliver(s.wire, 0, s.wire.length, null);
          break;
        }
        case 3: {
          // A forged/damaged packet: header bits, count, length.
          const s = encryptNext(8);
          const b = Buffer.from(s.wire);
          const how = r.u8() % 6;
          const v = r.u8();
          if (how === 0) b[0]! ^= 0x80;
          else if (how === 1) b[0]! ^= 0x10;
          else if (how === 2) b[0]! ^= 0x20 | 0x40;
          else if (how === 3) b[1] = v >= 240 ? r.u8() : (b[1]! + (v % 5) - 2) & 0xff;
          else if (how === 4) b[0] = (b[0]! & 0xf0) | ((v >= 240 ? r.u8() : (b[0]! & 0x0f) + 1) & 0x0f);
          const len = how === 5 ? v % 4 : b.length;
          honest = false;
          deliver(b, 0, len, null);
          break;
        }
        case 4:
          enc.onResetRequest();
          break;
        case 5: {
          honest = false;
          const raw = r.bytes(255);
          deliver(raw, 0, raw.length, null);
          break;
        }
        default: {
          // The same packet inside a larger buffer, at an offset, sometimes with a wrong length.
          const s = encryptNext(r.u8());
          const pad = r.u8();
          const cut = r.u8() % 4;
          const big = Buffer.concat([Buffer.alloc(pad, 0xee), s.wire, Buffer.alloc(3, 0xee)]);
          if (cut !== 0) honest = false;
          deliver(big, pad, s.wire.length - (cut === 1 ? 1 : 0) + (cut === 2 ? 2 : 0), cut === 0 ? s : null);
        }
      }
    }
    return `${stateless ? 'stateless' : 'stateful'} ${bits}: ${[...outcomes].sort().join('+') || 'nothing delivered'}${honest ? '' : ' (tainted)'}`;
  },
};
