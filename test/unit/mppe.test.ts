import { describe, expect, it } from 'vitest';
import { Rc4 } from '../../ppp/crypto/Rc4.js';
import { hashNtPasswordHash, lmPasswordHash, ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';
import { changeKey, getAsymmetricStartKey, getMasterKey, getNewKeyFromSha, getStartKeyV1, initialSessionKey, reduceKey } from '../../ppp/mppe/MppeKeys.js';
import { MPPE_DROP, MPPE_LIMITED, MPPE_RESET, MppeDecryptor, MppeEncryptor, type MppeBits } from '../../ppp/mppe/MppeCipher.js';
import { prng } from './TestPackets.js';

const H = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const rc4 = (key: Buffer, text: string): Buffer => {
  const buf = Buffer.from(text, 'ascii');
  new Rc4(key).process(buf, 0, buf.length);
  return buf;
};

// RFC 3079 §3.5 inputs (= RFC 2759 §9.2).
const NT_RESPONSE = H('82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF');
const MASTER_KEY = H('FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31');
const SEND_START_128 = H('8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB');

describe('MPPE keys from MS-CHAPv1 (RFC 3079 §2.5)', () => {
  it('40/56-bit keys from the LM hash', () => {
    const lm = lmPasswordHash('clientPass');
    expect(lm).toEqual(H('76 a1 52 93 60 96 d7 83 0e 23 90 22 74 04 af d2'));
    const k = getNewKeyFromSha(lm.subarray(0, 8), lm.subarray(0, 8), 8);
    expect(k).toEqual(H('d8 08 01 53 8c ec 4a 08'));
    expect(reduceKey(Buffer.from(k), 40)).toEqual(H('d1 26 9e 53 8c ec 4a 08'));
    expect(reduceKey(Buffer.from(k), 56)).toEqual(H('d1 08 01 53 8c ec 4a 08'));
    expect(reduceKey(Buffer.from(k), 128)).toEqual(k);
  });

  it('128-bit key from Get_Start_Key', () => {
    const hash = ntPasswordHash('clientPass');
    expect(hash).toEqual(H('44 eb ba 8d 53 12 b8 d6 11 47 44 11 f5 69 89 ae'));
    const hashHash = hashNtPasswordHash(hash);
    expect(hashHash).toEqual(H('41 c0 0c 58 4b d2 d9 1c 40 17 a2 a1 2f a5 9f 3f'));
    const start = getStartKeyV1(H('10 2d b5 df 08 5d 30 41'), hashHash);
    expect(start).toEqual(H('a8 94 78 50 cf c0 ac c1 d1 78 9f b6 2d dc dd b0'));
    expect(getNewKeyFromSha(start, start, 16)).toEqual(H('59 d1 59 bc 09 f7 6f 1d a2 a8 6a 28 ff ec 0b 1e'));
    expect(initialSessionKey(start, 128)).toEqual(H('59 d1 59 bc 09 f7 6f 1d a2 a8 6a 28 ff ec 0b 1e'));
  });
});

describe('MPPE keys from MS-CHAPv2 (RFC 3079 §3.5)', () => {
  it('MasterKey', () => {
    expect(getMasterKey(hashNtPasswordHash(ntPasswordHash('clientPass')), NT_RESPONSE)).toEqual(MASTER_KEY);
  });

  it('40-bit send key and sample ciphertext', () => {
    const start = getAsymmetricStartKey(MASTER_KEY, 8, true, true);
    expect(start).toEqual(H('8B 7C DC 14 9B 99 3A 1B'));
    const session = initialSessionKey(start, 40);
    expect(session).toEqual(H('D1 26 9E C4 9F A6 2E 3E'));
    expect(rc4(session, 'test message')).toEqual(H('92 91 37 91 7E 58 03 D6 68 D7 58 98'));
  });

  it('56-bit send key and sample ciphertext (last octet B8: RFC 3079 §3.5.2 misprints it as 58)', () => {
    const start = getAsymmetricStartKey(MASTER_KEY, 8, true, true);
    expect(start).toEqual(H('8B 7C DC 14 9B 99 3A 1B'));
    const session = initialSessionKey(start, 56);
    expect(session).toEqual(H('D1 5C 00 C4 9F A6 2E 3E'));
    expect(rc4(session, 'test message')).toEqual(H('3F 10 68 33 FA 44 8D A8 42 BC 57 B8'));
  });

  it('128-bit send key and sample ciphertext', () => {
    const start = getAsymmetricStartKey(MASTER_KEY, 16, true, true);
    expect(start).toEqual(SEND_START_128);
    const session = initialSessionKey(start, 128);
    expect(session).toEqual(H('40 5C B2 24 7A 79 56 E6 E2 11 00 7A E2 7B 22 D4'));
    expect(rc4(session, 'test message')).toEqual(H('81 84 83 17 DF 68 84 62 72 FB 5A BE'));
  });

  it('Magic2/Magic3 selection: server send = client receive, server receive = client send', () => {
    expect(getAsymmetricStartKey(MASTER_KEY, 16, false, false)).toEqual(SEND_START_128);
    expect(getAsymmetricStartKey(MASTER_KEY, 16, true, false)).toEqual(getAsymmetricStartKey(MASTER_KEY, 16, false, true));
  });
});

describe('fixtures computed from the RFC 3079 §3.5 inputs (values not printed in the RFC)', () => {
  it('server MasterRecvKey and initial receive session key', () => {
    const recvStart = getAsymmetricStartKey(MASTER_KEY, 16, false, true);
    expect(recvStart).toEqual(H('D5 F0 E9 52 1E 3E A9 58 96 45 E8 60 51 C8 22 26'));
    expect(initialSessionKey(recvStart, 128)).toEqual(H('49 D1 1D 0F 0C C6 BE FB A2 A9 B4 B6 88 F9 1E EE'));
  });

  it('first ChangeKey of the 128-bit and 40-bit send session keys', () => {
    const s128 = initialSessionKey(SEND_START_128, 128);
    expect(changeKey(SEND_START_128, s128, 128)).toEqual(H('72 6F 10 50 0E 2B 54 13 5B 1B 74 D7 68 2F 04 71'));
    expect(s128).toEqual(H('72 6F 10 50 0E 2B 54 13 5B 1B 74 D7 68 2F 04 71')); // in place

    const start8 = SEND_START_128.subarray(0, 8);
    const s40 = initialSessionKey(start8, 40);
    changeKey(start8, s40, 40);
    expect(s40).toEqual(H('D1 26 9E CE 4D 98 D1 81'));
  });

  it('the two stateless 128-bit frames from MppeEncryptor, and back through MppeDecryptor', () => {
    const enc = new MppeEncryptor(SEND_START_128, 128, true);
    const frames = [0, 1].map(() => {
      const buf = Buffer.alloc(11);
      buf.writeUInt16BE(0x00fd, 0); // PPP protocol, written by the caller
      buf.writeUInt16BE(0x0021, 4);
      buf.write('hello', 6, 'ascii');
      enc.encrypt(buf, 4, 7);
      return buf;
    });
    expect(frames[0].toString('hex')).toBe('00fd900070583e4e8c0337');
    expect(frames[1].toString('hex')).toBe('00fd9001353c894cca5d81');
    expect(enc.coherencyCount).toBe(1);

    // The client's receive key is the server's send key.
    const dec = new MppeDecryptor(getAsymmetricStartKey(MASTER_KEY, 16, false, false), 128, true);
    for (const f of frames) {
      expect(dec.decrypt(f, 2, 9)).toBe(7);
      expect(f.subarray(4).toString('hex')).toBe(`0021${Buffer.from('hello').toString('hex')}`);
    }
  });

  for (const bits of [40, 56] as const) {
    it(`MppeEncryptor at ${bits} bits uses the first 8 octets and the once-changed key`, () => {
      const session = initialSessionKey(SEND_START_128.subarray(0, 8), bits);
      changeKey(SEND_START_128.subarray(0, 8), session, bits);
      const buf = Buffer.alloc(11);
      buf.write('\x00\x21hello', 4, 'latin1');
      new MppeEncryptor(SEND_START_128, bits, true).encrypt(buf, 4, 7);
      expect(buf.subarray(2, 4)).toEqual(H('90 00'));
      expect(buf.subarray(4)).toEqual(rc4(session, '\x00\x21hello'));
    });
  }
});

// ---------------------------------------------------------------- packet cipher behaviour

const HEADROOM = 4; // 00 FD + MPPE header

/** Plaintext of packet n: inner protocol 0x0021 + a payload of 1..200 octets that depends on n. */
function plaintext(n: number): Buffer {
  const len = 1 + ((n * 37) % 200);
  const p = Buffer.alloc(2 + len);
  p.writeUInt16BE(0x0021, 0);
  for (let k = 0; k < len; k++) p[2 + k] = (n * 7 + k * 13) & 0xff;
  return p;
}

interface Frame {
  n: number;
  buf: Buffer; // [MPPE header 2][ciphertext]
}

function send(enc: MppeEncryptor, n: number): Frame {
  const p = plaintext(n);
  const buf = Buffer.alloc(HEADROOM + p.length);
  p.copy(buf, HEADROOM);
  enc.encrypt(buf, HEADROOM, p.length);
  return { n, buf: buf.subarray(HEADROOM - 2) };
}

const hdr = (f: Frame): { a: boolean; d: boolean; cc: number } => ({
  a: (f.buf[0] & 0x80) !== 0,
  d: (f.buf[0] & 0x10) !== 0,
  cc: ((f.buf[0] & 0x0f) << 8) | f.buf[1],
});

/** Decrypts a copy of the frame; returns the result code and whether the plaintext matches packet n. */
function receive(dec: MppeDecryptor, f: Frame): { r: number; ok: boolean } {
  const copy = Buffer.from(f.buf);
  const r = dec.decrypt(copy, 0, copy.length);
  return { r, ok: r >= 0 && copy.subarray(2, 2 + r).equals(plaintext(f.n)) };
}

const pair = (bits: MppeBits, stateless: boolean): [MppeEncryptor, MppeDecryptor] => [new MppeEncryptor(SEND_START_128, bits, stateless), new MppeDecryptor(SEND_START_128, bits, stateless)];

describe('MppeEncryptor → MppeDecryptor round trips, 5000 packets (CC wraps 4095 → 0)', () => {
  for (const bits of [40, 128] as const) {
    it(`stateless ${bits}-bit: A|D on every packet, CC 0,1,2,… and every packet decrypts`, () => {
      const [enc, dec] = pair(bits, true);
      for (let n = 0; n < 5000; n++) {
        const f = send(enc, n);
        expect(hdr(f)).toEqual({ a: true, d: true, cc: n % 4096 });
        const { r, ok } = receive(dec, f);
        expect(r).toBe(plaintext(n).length);
        expect(ok).toBe(true);
      }
      expect(enc.coherencyCount).toBe(4999 % 4096);
      expect(dec.counters).toMatchObject({ dropped: 0, resets: 0 });
    });

    it(`stateful ${bits}-bit: A only on flag packets (first packet CC 0 without A), every packet decrypts`, () => {
      const [enc, dec] = pair(bits, false);
      for (let n = 0; n < 5000; n++) {
        const f = send(enc, n);
        expect(hdr(f)).toEqual({ a: (n & 0xff) === 0xff, d: true, cc: n % 4096 });
        const { r, ok } = receive(dec, f);
        expect(r).toBe(plaintext(n).length);
        expect(ok).toBe(true);
      }
      expect(dec.counters).toMatchObject({ dropped: 0, resets: 0 });
    });
  }

  it('the two directions are independent: a wrong key does not decrypt', () => {
    const enc = new MppeEncryptor(SEND_START_128, 128, true);
    const dec = new MppeDecryptor(getAsymmetricStartKey(MASTER_KEY, 16, false, true), 128, true);
    const { r, ok } = receive(dec, send(enc, 0));
    expect(r).toBe(plaintext(0).length);
    expect(ok).toBe(false);
  });
});

describe('stateless receiver: loss, duplicates, reordering', () => {
  it('drops an older packet after a newer one and keeps decrypting later ones', () => {
    const [enc, dec] = pair(128, true);
    const f = [0, 1, 2, 3].map((n) => send(enc, n));
    expect(receive(dec, f[0]).ok).toBe(true);
    expect(receive(dec, f[2]).ok).toBe(true); // one packet skipped: two key changes
    expect(receive(dec, f[1]).r).toBe(MPPE_DROP); // late
    expect(receive(dec, f[2]).r).toBe(MPPE_DROP); // duplicate
    expect(receive(dec, f[3]).ok).toBe(true);
    expect(dec.counters).toMatchObject({ dropped: 2, resets: 0 });
  });

  it('random loss, duplication and reordering over 3000 packets at 40 and 128 bits', () => {
    for (const bits of [40, 128] as const) {
      const rnd = prng(bits);
      const [enc, dec] = pair(bits, true);
      const frames = Array.from({ length: 3000 }, (_, n) => send(enc, n));
      // Delivery order: 10% lost, 5% duplicated, 10% swapped with the next one.
      const delivered: Frame[] = [];
      for (let n = 0; n < frames.length; n++) {
        const x = rnd();
        if (x < 0.1) continue;
        if (x < 0.15) delivered.push(frames[n], frames[n]);
        else if (x < 0.25 && n + 1 < frames.length) {
          delivered.push(frames[n + 1], frames[n]);
          n++;
        } else delivered.push(frames[n]);
      }
      let newest = -1;
      let accepted = 0;
      let dropped = 0;
      for (const f of delivered) {
        const { r, ok } = receive(dec, f);
        if (f.n > newest) {
          expect(ok).toBe(true);
          newest = f.n;
          accepted++;
        } else {
          expect(r).toBe(MPPE_DROP);
          dropped++;
        }
      }
      expect(accepted).toBeGreaterThan(2000);
      expect(dropped).toBeGreaterThan(100);
      expect(dec.counters).toMatchObject({ dropped, resets: 0 });
    }
  });

  it('catches up a gap of 2048 packets; a CC 2049 ahead counts as stale', () => {
    const [enc, dec] = pair(40, true);
    const frames = Array.from({ length: 2052 }, (_, n) => send(enc, n));
    expect(receive(dec, frames[0]).ok).toBe(true);
    expect(receive(dec, frames[2048]).ok).toBe(true); // 2048 key changes
    const [enc2, dec2] = pair(40, true);
    const frames2 = Array.from({ length: 2051 }, (_, n) => send(enc2, n));
    expect(receive(dec2, frames2[0]).ok).toBe(true);
    expect(receive(dec2, frames2[2050]).r).toBe(MPPE_DROP); // (2050 − 0) mod 4096 > 2048
    expect(receive(dec2, frames2[1]).ok).toBe(true); // state untouched by the drop
  });
});

describe('stateful receiver: loss → Reset-Request → resynchronisation', () => {
  it('a gap yields MPPE_RESET, then drops until the A packet after onResetRequest()', () => {
    const [enc, dec] = pair(128, false);
    let n = 0;
    for (; n < 10; n++) expect(receive(dec, send(enc, n)).ok).toBe(true);
    send(enc, n++); // lost
    send(enc, n++); // lost
    expect(receive(dec, send(enc, n++)).r).toBe(MPPE_RESET);
    const notFlushed = send(enc, n++);
    expect(hdr(notFlushed).a).toBe(false);
    expect(receive(dec, notFlushed).r).toBe(MPPE_DROP); // discarding, no second reset
    enc.onResetRequest();
    const flushed = send(enc, n++);
    expect(hdr(flushed).a).toBe(true);
    expect(receive(dec, flushed).ok).toBe(true);
    for (const end = n + 600; n < end; n++) expect(receive(dec, send(enc, n)).ok).toBe(true); // crosses flags
    expect(dec.counters).toMatchObject({ dropped: 1, resets: 1 });
  });

  for (const bits of [40, 128] as const) {
    it(`${bits}-bit: losses spanning several flag packets and a CC wrap are recovered (one key change per missed flag)`, () => {
      const [enc, dec] = pair(bits, false);
      let n = 0;
      for (; n < 3900; n++) expect(receive(dec, send(enc, n)).ok).toBe(true);
      // CC 0xF3C..0x201 lost: misses flags 0xFFF, 0x0FF, 0x1FF and the wrap.
      for (const end = n + 710; n < end; n++) send(enc, n);
      expect(receive(dec, send(enc, n++)).r).toBe(MPPE_RESET);
      // Packets in flight before the Reset-Request lands (CC 0x203..0x216, no flag among them).
      for (const end = n + 20; n < end; n++) expect(receive(dec, send(enc, n)).r).toBe(MPPE_DROP);
      enc.onResetRequest();
      for (const end = n + 300; n < end; n++) expect(receive(dec, send(enc, n)).ok).toBe(true);
      expect(dec.counters).toMatchObject({ dropped: 20, resets: 1 });
    });
  }

  it('resynchronises when the first packet after the Reset-Request is itself a flag packet (one key change)', () => {
    const [enc, dec] = pair(128, false);
    let n = 0;
    for (; n <= 0x100; n++) expect(receive(dec, send(enc, n)).ok).toBe(true); // includes flag 0x0FF
    send(enc, n++); // lost
    send(enc, n++); // lost
    expect(receive(dec, send(enc, n++)).r).toBe(MPPE_RESET); // CC 0x103
    for (; n < 0x1ff; n++) expect(receive(dec, send(enc, n)).r).toBe(MPPE_DROP); // no A yet
    enc.onResetRequest();
    const flag = send(enc, n++);
    expect(hdr(flag)).toEqual({ a: true, d: true, cc: 0x1ff });
    expect(receive(dec, flag).ok).toBe(true); // flag and flush share one key change on both sides
    for (const end = n + 300; n < end; n++) expect(receive(dec, send(enc, n)).ok).toBe(true);
    expect(dec.counters).toMatchObject({ dropped: 0x1ff - 0x104, resets: 1 });
  });

  it('a flag packet without A is dropped and leaves the state intact', () => {
    const [enc, dec] = pair(128, false);
    let n = 0;
    for (; n < 0xff; n++) expect(receive(dec, send(enc, n)).ok).toBe(true);
    const flag = send(enc, n++);
    const forged = { n: flag.n, buf: Buffer.from(flag.buf) };
    forged.buf[0] &= ~0x80;
    expect(receive(dec, forged).r).toBe(MPPE_DROP);
    expect(receive(dec, flag).ok).toBe(true);
    expect(receive(dec, send(enc, n++)).ok).toBe(true);
    expect(dec.counters).toMatchObject({ dropped: 1, resets: 0 });
  });
});

describe('malformed input', () => {
  for (const stateless of [true, false]) {
    it(`${stateless ? 'stateless' : 'stateful'}: short, unencrypted or out-of-range input is MPPE_DROP, never a throw`, () => {
      const [enc, dec] = pair(128, stateless);
      expect(dec.decrypt(Buffer.alloc(0), 0, 0)).toBe(MPPE_DROP);
      expect(dec.decrypt(H('90 00'), 0, 2)).toBe(MPPE_DROP);
      expect(dec.decrypt(H('90 00 aa'), 1, 2)).toBe(MPPE_DROP);
      expect(dec.decrypt(H('90 00 aa'), 0, 4)).toBe(MPPE_DROP); // beyond the buffer
      expect(dec.decrypt(H('90 00 aa'), -1, 3)).toBe(MPPE_DROP);
      expect(dec.decrypt(H('80 00 aa bb'), 0, 4)).toBe(MPPE_DROP); // D clear
      expect(dec.decrypt(H('00 00 aa bb'), 0, 4)).toBe(MPPE_DROP);
      // None of that disturbed the state: the first real packet decrypts.
      expect(receive(dec, send(enc, 0)).ok).toBe(true);
      expect(dec.counters.dropped).toBe(7);
    });
  }

  it('stateless: a packet without A is dropped', () => {
    const [enc, dec] = pair(128, true);
    const f = send(enc, 0);
    const noA = { n: 0, buf: Buffer.from(f.buf) };
    noA.buf[0] &= ~0x80;
    expect(receive(dec, noA).r).toBe(MPPE_DROP);
    expect(receive(dec, f).ok).toBe(true);
  });

  it('rejects bad construction and an encrypt range without header room', () => {
    expect(() => new MppeEncryptor(Buffer.alloc(8), 128, true)).toThrow(RangeError);
    expect(() => new MppeDecryptor(Buffer.alloc(7), 40, true)).toThrow(RangeError);
    const enc = new MppeEncryptor(SEND_START_128, 128, true);
    expect(() => enc.encrypt(Buffer.alloc(10), 1, 5)).toThrow(RangeError);
    expect(() => enc.encrypt(Buffer.alloc(10), 4, 7)).toThrow(RangeError);
  });
});

describe('bounded catch-up work (KeyChangeBudget)', () => {
  /** A budget like the data plane's TokenBucket, with time moved by hand. */
  function budget(burst: number, perSecond: number) {
    const b = {
      tokens: burst,
      spent: 0,
      take(n: number): boolean {
        if (n > b.tokens) return false;
        b.tokens -= n;
        b.spent += n;
        return true;
      },
      give(n: number): void {
        b.tokens = Math.min(burst, b.tokens + n);
      },
      tick(): void {
        b.tokens = Math.min(burst, b.tokens + perSecond);
      },
    };
    return b;
  }

  it('stateless: count jumps of 2048 are paid from the budget; beyond it MPPE_LIMITED with the state untouched, and in-order packets still pass', () => {
    const b = budget(4096, 2048);
    const enc = new MppeEncryptor(SEND_START_128, 128, true);
    const dec = new MppeDecryptor(SEND_START_128, 128, true, b);
    const frames = Array.from({ length: 8 * 2048 + 2 }, (_, n) => send(enc, n));
    expect(receive(dec, frames[0]!).ok).toBe(true); // in order: no catch-up
    expect(receive(dec, frames[2048]!).ok).toBe(true); // 2047 catch-up changes
    expect(receive(dec, frames[4096]!).ok).toBe(true); // 2047 more: 4094 of 4096 spent
    const next = frames[6144]!;
    expect(receive(dec, next).r).toBe(MPPE_LIMITED);
    expect(receive(dec, frames[4097]!).ok).toBe(true); // the state did not move: the next packet in order decrypts
    expect(b.spent).toBe(4094);
    b.tick(); // a second later
    expect(receive(dec, frames[6145]!).ok).toBe(true);
    expect(b.spent).toBe(4094 + 2047);
  });

  it('stateful: the flag-packet catch-up after a Reset-Request is paid from the budget too', () => {
    for (const tokens of [2, 3]) {
      const b = budget(tokens, tokens);
      const enc = new MppeEncryptor(SEND_START_128, 128, false);
      const dec = new MppeDecryptor(SEND_START_128, 128, false, b);
      expect(receive(dec, send(enc, 0)).ok).toBe(true);
      for (let n = 1; n < 0x300; n++) send(enc, n); // lost, across three flag packets
      expect(receive(dec, send(enc, 0x300)).r).toBe(MPPE_RESET);
      enc.onResetRequest();
      const resync = receive(dec, send(enc, 0x301)); // three key changes to catch up
      if (tokens === 2) expect([resync.r, b.spent]).toEqual([MPPE_LIMITED, 0]);
      else expect([resync.ok, b.spent]).toEqual([true, 3]);
    }
  });
});
