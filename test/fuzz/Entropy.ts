// Deterministic stand-in for node:crypto randomBytes in the fuzz run (fuzz.test.ts mocks it): LCP
// magic numbers, CHAP identifiers and challenges, RADIUS authenticators then follow the input, so an
// input replays exactly. Targets call resetEntropy() at the start of each input.

import { Prng } from './Prng.js';

let rng = new Prng(0x0e27);

export function resetEntropy(seed = 0x0e27): void {
  rng = new Prng(seed);
}

export function deterministicRandomBytes(size: number): Buffer {
  return rng.bytes(size);
}
