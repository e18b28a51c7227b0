// Seeded PRNG for the fuzz harness: mulberry32 for the stream, a murmur3-style finaliser to derive one
// independent seed per (run seed, target, input index), so input N can be regenerated on its own.
// Written here rather than taken from npm: twenty lines, no new dependency, and the sequence must
// never change under us (a seed in a bug report has to replay the same bytes next year).

/** murmur3 fmix32: a good 32-bit mixer. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of a string (target names). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** FNV-1a of bytes: a run() that needs "random" choices derives them from its input with this. */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return mix32(h >>> 0);
}

/** The seed of input `index` of `target` in a run seeded with `seed`. */
export function inputSeed(seed: number, target: string, index: number): number {
  return mix32((mix32(seed >>> 0) ^ hashString(target)) + Math.imul(index >>> 0, 0x9e3779b9));
}

export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** mulberry32 step: a uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n); 0 when n <= 0. */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  byte(): number {
    return this.u32() & 0xff;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Small values far more often than large ones: 0..max, roughly geometric. */
  small(max: number): number {
    let n = 0;
    while (n < max && this.chance(0.6)) n++;
    return n;
  }

  /** An independent generator seeded from this one. */
  fork(): Prng {
    return new Prng(mix32(this.u32() ^ 0x5bd1e995));
  }
}
