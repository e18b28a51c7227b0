// Bounded fuzz run of every target (issue 12 item 3): FUZZ_COUNT inputs each (default 100 000) from
// FUZZ_SEED (default fixed, so CI is reproducible). `npm run fuzz -- TARGET --count N --seed S` runs
// this file through test/fuzz/cli.mjs with FUZZ_TARGET/FUZZ_COUNT/FUZZ_SEED/FUZZ_INDEX set.
// Not part of `npm run check` (that runs test/unit and test/admin only); `npm test` runs it.

import { describe, expect, it, vi } from 'vitest';

// randomBytes drives LCP magic numbers, CHAP challenges and RADIUS authenticators: made deterministic
// here so a failing input replays exactly (the hashes, HMACs and ciphers stay the real ones).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const { deterministicRandomBytes } = await import('./Entropy.js');
  return { ...actual, randomBytes: deterministicRandomBytes };
});

import { timers } from './Helpers.js';
import { formatFailure, formatStats, inputFor, runTarget } from './run.js';
import { ALL_TARGETS } from './targets.js';
import { checkEveryBoundary, VALID_STREAMS } from './targets/PptpConnection.js';

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = v.startsWith('0x') ? Number.parseInt(v.slice(2), 16) : Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
  return n;
}

const COUNT = envNumber('FUZZ_COUNT', 100_000);
const SEED = envNumber('FUZZ_SEED', 0x5eed2026) >>> 0;
const INDEX = process.env.FUZZ_INDEX ? envNumber('FUZZ_INDEX', 0) : undefined;
const MAX_FAILURES = envNumber('FUZZ_MAX_FAILURES', 1);
const SLOW_MS = envNumber('FUZZ_SLOW_MS', 50);
const FAIL_MS = envNumber('FUZZ_FAIL_MS', 1000);
const SELECTED = (process.env.FUZZ_TARGET ?? '').split(',').filter((s) => s !== '' && s !== 'all');

const unknown = SELECTED.filter((s) => !ALL_TARGETS.some((t) => t.name === s));
if (unknown.length > 0) throw new Error(`unknown fuzz target(s) ${unknown.join(', ')}; known: ${ALL_TARGETS.map((t) => t.name).join(', ')}`);
const targets = SELECTED.length === 0 ? ALL_TARGETS : ALL_TARGETS.filter((t) => SELECTED.includes(t.name));

describe('fuzz', () => {
  for (const target of targets) {
    const count = INDEX !== undefined ? 1 : COUNT;
    it(
      `${target.name}: ${INDEX !== undefined ? `input ${INDEX}` : `${count} inputs`}`,
      async () => {
        const stats = await runTarget(target, {
          count: COUNT,
          seed: SEED,
          ...(INDEX !== undefined ? { index: INDEX } : {}),
          slowMs: SLOW_MS,
          failMs: FAIL_MS,
          maxFailures: MAX_FAILURES,
          shrinkAttempts: 400,
          progress: (line) => console.log(line),
        });
        if (INDEX !== undefined) console.log(`${target.name} input ${INDEX}: ${inputFor(target, target.seedInputs(), SEED, INDEX).toString('hex')}`);
        console.log(formatStats(stats, process.env.FUZZ_VERBOSE === '1'));
        for (const f of stats.failures) console.log(formatFailure(f));
        expect(stats.failures.map(formatFailure)).toEqual([]);
        expect(stats.inputs).toBe(count);
      },
      Math.max(120_000, count * 3),
    );
  }

  if (SELECTED.length === 0 || SELECTED.includes('pptp-connection')) {
    it('pptp-connection: valid streams split at every byte boundary (and at every pair of boundaries for one)', () => {
      timers.install();
      try {
        let runs = 0;
        for (const [i, stream] of VALID_STREAMS.entries()) runs += checkEveryBoundary(stream, i === VALID_STREAMS.length - 1);
        console.log(`pptp-connection: ${runs} split runs of ${VALID_STREAMS.length} valid streams gave the unsplit trace`);
      } finally {
        timers.uninstall();
      }
    }, 120_000);
  }
});
