// Byte-level mutations of valid messages (AFL/libFuzzer style): bit flips, byte sets, interesting
// values (0, 0xff, 0x7f, 0x80, the length ± 1), truncation, extension, insertion, deletion, chunk
// duplication, splice with another corpus entry, and length-field lies. Deterministic given the Prng.

import type { Prng } from './Prng.js';

export interface MutateOptions {
  /** Other inputs to splice from. */
  corpus?: readonly Buffer[];
  /** Outputs are cut to this length. */
  maxLength?: number;
  /** Mutations stacked on one input; default 1..4. */
  rounds?: number;
}

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20, 0x40];
const INTERESTING_16 = [0x0000, 0x0001, 0x007f, 0x0080, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x0000ffff, 0x00010000];

export type MutationName =
  | 'flip-bit'
  | 'set-byte'
  | 'interesting-8'
  | 'interesting-16'
  | 'interesting-32'
  | 'arith'
  | 'length-lie'
  | 'truncate'
  | 'extend'
  | 'insert'
  | 'delete'
  | 'duplicate'
  | 'splice'
  | 'swap';

const MUTATIONS: readonly MutationName[] = [
  'flip-bit',
  'flip-bit',
  'set-byte',
  'interesting-8',
  'interesting-16',
  'interesting-32',
  'arith',
  'length-lie',
  'length-lie',
  'truncate',
  'extend',
  'insert',
  'delete',
  'duplicate',
  'splice',
  'swap',
];

/** One mutation by name (exported for tests of the mutator itself). */
export function applyMutation(rng: Prng, input: Buffer, name: MutationName, corpus: readonly Buffer[] = []): Buffer {
  const len = input.length;
  const pos = () => rng.int(len);
  switch (name) {
    case 'flip-bit': {
      if (len === 0) return rng.bytes(1);
      const b = Buffer.from(input);
      b[pos()]! ^= 1 << rng.int(8);
      return b;
    }
    case 'set-byte': {
      if (len === 0) return rng.bytes(1);
      const b = Buffer.from(input);
      b[pos()] = rng.byte();
      return b;
    }
    case 'interesting-8': {
      if (len === 0) return Buffer.from([rng.pick(INTERESTING_8)]);
      const b = Buffer.from(input);
      b[pos()] = rng.pick(INTERESTING_8);
      return b;
    }
    case 'interesting-16': {
      if (len < 2) return applyMutation(rng, input, 'extend');
      const b = Buffer.from(input);
      const p = rng.int(len - 1);
      const v = rng.chance(0.3) ? (len + rng.range(-2, 2)) & 0xffff : rng.pick(INTERESTING_16);
      if (rng.chance(0.8)) b.writeUInt16BE(v, p);
      else b.writeUInt16LE(v, p);
      return b;
    }
    case 'interesting-32': {
      if (len < 4) return applyMutation(rng, input, 'extend');
      const b = Buffer.from(input);
      const p = rng.int(len - 3);
      const v = rng.pick(INTERESTING_32);
      if (rng.chance(0.8)) b.writeUInt32BE(v >>> 0, p);
      else b.writeUInt32LE(v >>> 0, p);
      return b;
    }
    case 'arith': {
      if (len === 0) return rng.bytes(1);
      const b = Buffer.from(input);
      const p = pos();
      b[p] = (b[p]! + rng.range(-16, 16)) & 0xff;
      return b;
    }
    case 'length-lie': {
      // A length field that disagrees with the data: the remaining length ± a little, or the whole length.
      if (len === 0) return Buffer.from([rng.pick(INTERESTING_8)]);
      const b = Buffer.from(input);
      const wide = len >= 2 && rng.chance(0.5);
      const p = wide ? rng.int(len - 1) : pos();
      const base = rng.chance(0.5) ? len - p : len;
      const v = Math.max(0, base + rng.pick([-3, -2, -1, 0, 1, 2, 3, 255, 256]));
      if (wide) b.writeUInt16BE(v & 0xffff, p);
      else b[p] = v & 0xff;
      return b;
    }
    case 'truncate': {
      if (len === 0) return input;
      const cut = rng.chance(0.5) ? len - 1 - rng.small(8) : rng.int(len);
      return Buffer.from(input.subarray(0, Math.max(0, cut)));
    }
    case 'extend': {
      const n = 1 + rng.small(12) + (rng.chance(0.1) ? rng.int(256) : 0);
      const tail = rng.chance(0.3) ? Buffer.alloc(n, rng.pick(INTERESTING_8)) : rng.bytes(n);
      return Buffer.concat([input, tail]);
    }
    case 'insert': {
      const p = rng.int(len + 1);
      return Buffer.concat([input.subarray(0, p), rng.bytes(1 + rng.small(8)), input.subarray(p)]);
    }
    case 'delete': {
      if (len === 0) return input;
      const p = pos();
      const n = 1 + rng.small(8);
      return Buffer.concat([input.subarray(0, p), input.subarray(Math.min(len, p + n))]);
    }
    case 'duplicate': {
      if (len === 0) return rng.bytes(1);
      const p = pos();
      const n = 1 + rng.int(Math.min(64, len - p));
      const chunk = input.subarray(p, p + n);
      const at = rng.int(len + 1);
      return Buffer.concat([input.subarray(0, at), chunk, input.subarray(at)]);
    }
    case 'splice': {
      if (corpus.length === 0) return applyMutation(rng, input, 'duplicate');
      const other = rng.pick(corpus);
      const a = rng.int(len + 1);
      const b = rng.int(other.length + 1);
      return rng.chance(0.5) ? Buffer.concat([input.subarray(0, a), other.subarray(b)]) : Buffer.concat([other.subarray(0, b), input.subarray(a)]);
    }
    case 'swap': {
      if (len < 2) return applyMutation(rng, input, 'set-byte');
      const b = Buffer.from(input);
      const i = pos();
      const j = pos();
      const t = b[i]!;
      b[i] = b[j]!;
      b[j] = t;
      return b;
    }
  }
}

/** 1..4 stacked mutations (or `rounds`) of `input`. Never modifies `input`. */
export function mutate(rng: Prng, input: Buffer, opts: MutateOptions = {}): Buffer {
  const rounds = opts.rounds ?? 1 + rng.small(3);
  let out = input;
  for (let r = 0; r < rounds; r++) out = applyMutation(rng, out, rng.pick(MUTATIONS), opts.corpus);
  if (opts.maxLength !== undefined && out.length > opts.maxLength) out = Buffer.from(out.subarray(0, opts.maxLength));
  return out === input ? Buffer.from(input) : out;
}
