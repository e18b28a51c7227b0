// RC4 micro-benchmark: ns per key schedule, per keystream pass and per MPPE-128 key change (RFC 3078 §7.3:
// SHA-1, key schedule with the interim key, 16-octet RC4, key schedule with the new session key), for the
// product's Rc4 and, in the same process, the previous implementation kept below as the baseline.
// Figures: value = ours, baseline = previous, in ns per operation (ratio < 1 = faster).
//   npx tsc -p tsconfig.bench.json && node dist/bench/Rc4Bench.js [ROUNDS]
import { Rc4 } from '../ppp/crypto/Rc4.js';
import { sha1Into } from '../ppp/crypto/Sha1.js';
import { MPPE_PAD2 } from '../ppp/mppe/MppeKeys.js';
import { emitFigure } from './Figures.js';

/** The implementation before the Int32Array state and the unrolled loops, verbatim (minus comments). */
class PreviousRc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  setKey(key: Uint8Array, keyOff = 0, keyLen = key.length - keyOff): void {
    if (keyLen < 1 || keyLen > 256 || keyOff < 0 || keyOff + keyLen > key.length) {
      throw new RangeError(`RC4 key range invalid (offset ${keyOff}, length ${keyLen})`);
    }
    const s = this.s;
    for (let n = 0; n < 256; n++) s[n] = n;
    let j = 0;
    let k = keyOff;
    const keyEnd = keyOff + keyLen;
    for (let n = 0; n < 256; n++) {
      const t = s[n];
      j = (j + t + key[k]) & 0xff;
      s[n] = s[j];
      s[j] = t;
      if (++k === keyEnd) k = keyOff;
    }
    this.i = 0;
    this.j = 0;
  }

  process(buf: Uint8Array, off: number, len: number): void {
    if (off < 0 || len < 0 || off + len > buf.length) {
      throw new RangeError(`RC4 range [${off}, ${off + len}) outside buffer of ${buf.length}`);
    }
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let p = off, end = off + len; p < end; p++) {
      i = (i + 1) & 0xff;
      const si = s[i];
      j = (j + si) & 0xff;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      buf[p] ^= s[(si + sj) & 0xff];
    }
    this.i = i;
    this.j = j;
  }
}

interface Cipher {
  setKey(key: Uint8Array, keyOff: number, keyLen: number): void;
  process(buf: Uint8Array, off: number, len: number): void;
}

const ROUNDS = Number(process.argv[2] ?? 21);
const START_KEY = Buffer.from('8b7cdc149b993a1ba118cb153f56dcae', 'hex');

/** One closure per (implementation, operation), so each call site stays monomorphic. */
function operations(rc4: Cipher): Record<string, (n: number) => void> {
  const key = Buffer.from(START_KEY);
  const payload = Buffer.alloc(1500, 0xa5);
  const shaInput = Buffer.alloc(112); // StartKey ‖ pad1 ‖ SessionKey ‖ pad2, as MppeKeySchedule
  START_KEY.copy(shaInput, 0);
  START_KEY.copy(shaInput, 56);
  MPPE_PAD2.copy(shaInput, 72);
  const interim = Buffer.alloc(20);
  return {
    'setkey-16B': (n) => {
      for (let x = 0; x < n; x++) {
        key[0] = x; // a new key each time, as in MPPE
        rc4.setKey(key, 0, 16);
      }
    },
    'crypt-1400B': (n) => {
      for (let x = 0; x < n; x++) rc4.process(payload, 34, 1400);
    },
    'crypt-64B': (n) => {
      for (let x = 0; x < n; x++) rc4.process(payload, 34, 64);
    },
    'mppe128-key-change': (n) => {
      for (let x = 0; x < n; x++) {
        sha1Into(shaInput, 0, 112, interim, 0);
        rc4.setKey(interim, 0, 16);
        for (let q = 0; q < 16; q++) shaInput[56 + q] = interim[q];
        rc4.process(shaInput, 56, 16);
        rc4.setKey(shaInput, 56, 16);
      }
    },
  };
}

const ITERATIONS: Record<string, number> = {
  'setkey-16B': 20000,
  'crypt-1400B': 2000,
  'crypt-64B': 40000,
  'mppe128-key-change': 10000,
};

function nsPerOp(op: (n: number) => void, n: number): number {
  const t0 = process.hrtime.bigint();
  op(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main(): void {
  // Same output from both before timing anything.
  const a = new Rc4();
  const b = new PreviousRc4();
  const x = Buffer.alloc(1400, 7);
  const y = Buffer.alloc(1400, 7);
  a.setKey(START_KEY, 0, 16);
  b.setKey(START_KEY, 0, 16);
  a.process(x, 0, 1400);
  b.process(y, 0, 1400);
  if (!x.equals(y)) throw new Error('Rc4 and PreviousRc4 disagree');

  const ours = operations(new Rc4());
  const previous = operations(new PreviousRc4());
  for (const name of Object.keys(ours)) {
    const n = ITERATIONS[name];
    ours[name](n); // warm-up (JIT)
    previous[name](n);
    const o: number[] = [];
    const p: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating order: a burst of load on the shared machine hits both about equally.
      if (r % 2 === 0) {
        o.push(nsPerOp(ours[name], n));
        p.push(nsPerOp(previous[name], n));
      } else {
        p.push(nsPerOp(previous[name], n));
        o.push(nsPerOp(ours[name], n));
      }
    }
    process.stderr.write(`rc4 ${name}: ours ${o.map(Math.round).join(' ')}; previous ${p.map(Math.round).join(' ')}\n`);
    const figure = `${name}-ns`;
    emitFigure({ bench: 'rc4', figure, value: Math.round(median(o)), unit: 'ns', baseline: Math.round(median(p)) });
  }
}

main();
