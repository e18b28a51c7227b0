// The fuzz loop: input N of a target is a seed input, a mutation of one, a structure-aware generated
// input, or a mutation of that, all derived from Prng(inputSeed(seed, target, N)) alone, so any input
// re-runs by itself (`npm run fuzz -- TARGET --seed S --index N`). Each input is timed; one over
// slowMs (50) is re-run twice: slow on every run, it is reported; over failMs (1000) on every run, it
// fails (a hang or unbounded work). A GC pause or a busy machine makes neither.
// Failures print target, seed, input index and hex bytes, shrunk to a smaller input that still fails.

import { performance } from 'node:perf_hooks';

// Targets may install fake timers: the hang watchdog keeps the real ones.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
import { mutate } from './Mutator.js';
import { inputSeed, Prng } from './Prng.js';

/** A reported, not yet fixed bug: failures whose message matches are counted under `id`, not failed. */
export interface KnownBug {
  id: string;
  match: RegExp;
}

export interface FuzzTarget {
  readonly name: string;
  /** Inputs are cut to this many octets after mutation. */
  readonly maxInputLength: number;
  /** Valid inputs: the corpus mutations start from. */
  seedInputs(): Buffer[];
  /** One structure-aware input. */
  generate(rng: Prng): Buffer;
  /**
   * Runs one input against fresh (or deliberately long-lived) state and checks the invariants. Returns a
   * short outcome label ("ok type 7", "ControlFormatError", "drop"...) for the statistics; throws on a
   * violation.
   */
  run(input: Buffer): string | Promise<string>;
  /** Called before the first and after the last input. */
  setup?(): void;
  teardown?(): void;
  readonly knownBugs?: readonly KnownBug[];
}

/** An invariant does not hold. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

/** Runs `fn`; an exception that is not one of `allowed` becomes an InvariantError naming it. Returns the allowed error's name, or null. */
export function allowOnly(allowed: readonly (abstract new (...args: never[]) => Error)[], fn: () => void, where: string): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof InvariantError) throw err;
    for (const cls of allowed) if (err instanceof cls) return (err as Error).name;
    throw new InvariantError(`${where} threw ${describeError(err)} (only ${allowed.map((c) => c.name).join('/') || 'nothing'} allowed)`);
  }
}

/** allowOnly, keeping fn's value: `{ ok: true, value }`, or `{ ok: false, error }` with the allowed error's name. */
export function attempt<T>(allowed: readonly (abstract new (...args: never[]) => Error)[], fn: () => T, where: string): { ok: true; value: T } | { ok: false; error: string } {
  let value: T | undefined;
  const error = allowOnly(
    allowed,
    () => {
      value = fn();
    },
    where,
  );
  return error === null ? { ok: true, value: value as T } : { ok: false, error };
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}${err.stack ? `\n${err.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  return String(err);
}

export interface RunOptions {
  count: number;
  seed: number;
  /** Run only this input index. */
  index?: number;
  /** An input slower than this (ms) is re-run twice; if every run is slow it is reported as slow. */
  slowMs?: number;
  /** A slow input whose every run takes longer than this (ms) fails: a hang or unbounded work. */
  failMs?: number;
  /** An async input still pending after this (ms) is a hang. */
  hangMs?: number;
  /** Stop after this many failures (1: the first one). */
  maxFailures?: number;
  /** Try to shrink failing inputs (attempts). */
  shrinkAttempts?: number;
  progress?: (line: string) => void;
  progressEveryMs?: number;
}

export interface Failure {
  target: string;
  seed: number;
  index: number;
  input: Buffer;
  message: string;
  /** Smaller input with the same kind of failure, when shrinking found one. */
  shrunk?: Buffer;
}

export interface RunStats {
  target: string;
  seed: number;
  inputs: number;
  elapsedMs: number;
  perSecond: number;
  outcomes: Map<string, number>;
  knownBugs: Map<string, { count: number; index: number; hex: string }>;
  failures: Failure[];
  /** Inputs that were slow once but fast on re-run. */
  transientSlow: number;
  /** Inputs slow on every run (index, fastest run in ms), first 10. */
  slow: Array<{ index: number; ms: number }>;
  slowCount: number;
  maxMs: number;
  maxIndex: number;
}

/** Input `index` of `target` in the run seeded with `seed`. */
export function inputFor(target: FuzzTarget, corpus: readonly Buffer[], seed: number, index: number): Buffer {
  if (index < corpus.length) return Buffer.from(corpus[index]!);
  const rng = new Prng(inputSeed(seed, target.name, index));
  const r = rng.float();
  const opts = { corpus, maxLength: target.maxInputLength };
  if (r < 0.4) return mutate(rng, rng.pick(corpus), opts);
  const generated = target.generate(rng);
  if (r < 0.75) return generated.length > target.maxInputLength ? Buffer.from(generated.subarray(0, target.maxInputLength)) : generated;
  return mutate(rng, generated, opts);
}

async function runOnce(target: FuzzTarget, input: Buffer, hangMs: number): Promise<{ label: string; ms: number }> {
  const t0 = performance.now();
  const out = target.run(input);
  let label: string;
  if (typeof out === 'string') {
    label = out;
  } else {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => reject(new InvariantError(`hang: input still running after ${hangMs} ms`)), hangMs);
    });
    try {
      label = await Promise.race([out, hang]);
    } finally {
      realClearTimeout(timer);
    }
  }
  return { label, ms: performance.now() - t0 };
}

function errorText(err: unknown): string {
  return err instanceof InvariantError ? err.message : describeError(err);
}

/** First line of a failure message with numbers blanked: "the same bug" for shrinking. */
function signature(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/\d+/g, '#').slice(0, 120);
}

async function failsLike(target: FuzzTarget, input: Buffer, sig: string, hangMs: number): Promise<boolean> {
  try {
    await runOnce(target, input, hangMs);
    return false;
  } catch (err) {
    return signature(errorText(err)) === sig;
  }
}

/** Greedy shrink: drop chunks (halving sizes), then zero bytes, while the failure keeps its signature. */
async function shrink(target: FuzzTarget, input: Buffer, message: string, attempts: number, hangMs: number): Promise<Buffer | undefined> {
  const sig = signature(message);
  let best = input;
  let tries = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && tries < attempts; chunk >>= 1) {
    for (let at = 0; at < best.length && tries < attempts; ) {
      const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + chunk)]);
      tries++;
      if (await failsLike(target, candidate, sig, hangMs)) best = candidate;
      else at += chunk;
    }
  }
  return best.length < input.length ? best : undefined;
}

export async function runTarget(target: FuzzTarget, opts: RunOptions): Promise<RunStats> {
  const slowMs = opts.slowMs ?? 50;
  const failMs = opts.failMs ?? 1000;
  const hangMs = opts.hangMs ?? 5000;
  const maxFailures = opts.maxFailures ?? 1;
  const corpus = target.seedInputs();
  const stats: RunStats = {
    target: target.name,
    seed: opts.seed,
    inputs: 0,
    elapsedMs: 0,
    perSecond: 0,
    outcomes: new Map(),
    knownBugs: new Map(),
    failures: [],
    transientSlow: 0,
    slow: [],
    slowCount: 0,
    maxMs: 0,
    maxIndex: -1,
  };
  const first = opts.index ?? 0;
  const end = opts.index !== undefined ? opts.index + 1 : opts.count;
  target.setup?.();
  // Documented errors are thrown by the thousand (a malformed message each): without stack traces an
  // Error costs a tenth. A failing input is run again with them for the report.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const t0 = performance.now();
  let lastProgress = t0;
  try {
    for (let index = first; index < end; index++) {
      const input = inputFor(target, corpus, opts.seed, index);
      stats.inputs++;
      let message: string | null = null;
      try {
        const { label, ms } = await runOnce(target, input, hangMs);
        stats.outcomes.set(label, (stats.outcomes.get(label) ?? 0) + 1);
        if (ms > stats.maxMs) {
          stats.maxMs = ms;
          stats.maxIndex = index;
        }
        if (ms > slowMs) {
          const again = [(await runOnce(target, input, hangMs)).ms, (await runOnce(target, input, hangMs)).ms];
          const fastest = Math.min(ms, ...again);
          if (fastest > failMs) message = `slow input: ${ms.toFixed(1)} ms, re-runs ${again.map((m) => m.toFixed(1)).join(' / ')} ms (limit ${failMs} ms)`;
          else if (fastest > slowMs) {
            stats.slowCount++;
            if (stats.slow.length < 10) stats.slow.push({ index, ms: fastest });
          } else stats.transientSlow++;
        }
      } catch (err) {
        message = errorText(err);
      }
      if (message !== null) {
        const known = target.knownBugs?.find((b) => b.match.test(message!));
        if (known) {
          const k = stats.knownBugs.get(known.id);
          if (k) k.count++;
          else stats.knownBugs.set(known.id, { count: 1, index, hex: input.toString('hex') });
          stats.outcomes.set(`known bug ${known.id}`, (stats.outcomes.get(`known bug ${known.id}`) ?? 0) + 1);
        } else {
          Error.stackTraceLimit = stackTraceLimit;
          try {
            await runOnce(target, input, hangMs);
          } catch (err) {
            message = errorText(err);
          } finally {
            Error.stackTraceLimit = 0;
          }
          const failure: Failure = { target: target.name, seed: opts.seed, index, input, message };
          const shrunk = opts.shrinkAttempts ? await shrink(target, input, message, opts.shrinkAttempts, hangMs) : undefined;
          if (shrunk) failure.shrunk = shrunk;
          stats.failures.push(failure);
          if (stats.failures.length >= maxFailures) break;
        }
      }
      if (opts.progress && index % 256 === 0) {
        const now = performance.now();
        if (now - lastProgress >= (opts.progressEveryMs ?? 10_000)) {
          lastProgress = now;
          opts.progress(`${target.name}: ${stats.inputs} inputs, ${Math.round((stats.inputs * 1000) / (now - t0))}/s, ${stats.failures.length} failures`);
        }
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    target.teardown?.();
  }
  stats.elapsedMs = performance.now() - t0;
  stats.perSecond = stats.inputs / (stats.elapsedMs / 1000);
  return stats;
}

export function formatFailure(f: Failure): string {
  const lines = [
    `FUZZ FAILURE target=${f.target} seed=0x${f.seed.toString(16)} index=${f.index} length=${f.input.length}`,
    `  hex: ${f.input.toString('hex')}`,
    ...(f.shrunk ? [`  shrunk (${f.shrunk.length} octets, same failure): ${f.shrunk.toString('hex')}`] : []),
    `  replay: npm run fuzz -- ${f.target} --seed 0x${f.seed.toString(16)} --index ${f.index}`,
    `  ${f.message.split('\n').join('\n  ')}`,
  ];
  return lines.join('\n');
}

export function formatStats(s: RunStats, allOutcomes = false): string {
  const outcomes = [...s.outcomes.entries()].sort((a, b) => b[1] - a[1]);
  const limit = allOutcomes ? outcomes.length : 12;
  const shown = outcomes
    .slice(0, limit)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const known = [...s.knownBugs.entries()].map(([id, k]) => `${id} ×${k.count} (first: index ${k.index}, hex ${k.hex.slice(0, 160)}${k.hex.length > 160 ? '…' : ''})`);
  return [
    `${s.target}: ${s.inputs} inputs in ${(s.elapsedMs / 1000).toFixed(1)} s = ${Math.round(s.perSecond)} inputs/s, seed 0x${s.seed.toString(16)}, slowest ${s.maxMs.toFixed(1)} ms (index ${s.maxIndex}), slow on every run ${s.slowCount}, slow once ${s.transientSlow}`,
    ...(s.slow.length ? [`  slow inputs (index: fastest ms): ${s.slow.map((x) => `${x.index}: ${x.ms.toFixed(1)}`).join(', ')}`] : []),
    `  ${outcomes.length} distinct outcomes: ${shown}${outcomes.length > limit ? `, … (${outcomes.length - limit} more)` : ''}`,
    ...(known.length ? [`  known bugs: ${known.join('; ')}`] : []),
    ...(s.failures.length ? [`  FAILURES: ${s.failures.length}`] : []),
  ].join('\n');
}
