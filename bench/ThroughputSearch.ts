// The data-plane bench's search for a forwarder's throughput (RFC 2544 §26.1): the highest offered rate it
// forwards with (almost) no loss. A generator: it yields the rate of the next trial and is handed that
// trial's measure, so that the bench can run two searches in turns (interleaved downstream) and a test can
// drive it with a model forwarder.

export interface Measure {
  pps: number;
  cpu: number; // cores
  /** What the traffic source managed to send, packets/s. */
  offered: number;
  loss: number;
  sourceLimited?: boolean;
  /** Cores the whole machine was busy (forwarder, traffic tools, kernel) and lost to steal. */
  machine?: { busy: number; steal: number };
}

export const START_RATE = 20_000;
export const MAX_RATE = 1_280_000;
export const BISECTIONS = 4;
/** Loss allowed in a passing trial (kernel queues at trial start and end). */
export const MAX_LOSS = 0.005;
/** Trials one search can take: doublings and bisections, each repeated once when it lost. */
export const MAX_TRIALS = 2 * (Math.floor(Math.log2(MAX_RATE / START_RATE)) + 1 + BISECTIONS);

export interface SearchOptions {
  /** Instead of the search: `trials` trials at this rate, and the median one by CPU per packet. */
  fixed?: { rate: number; trials: number };
}

/**
 * Doubling from START_RATE, then BISECTIONS bisections. Overload is kept short: MPPE cannot recover
 * from long loss bursts (stateless: > 2048 packets; stateful: > 4096), so an unpaced flood would
 * measure the wreck. A rate fails only when two trials in a row lose: on this shared 2-core machine one
 * scheduling hiccup of a few ms overflows a queue (seen as TUN tx_dropped at a third of the forwarder's
 * capacity) and would end the search far below the forwarder's rate, C and portico alike.
 */
export function* throughputSearch(options: SearchOptions = {}): Generator<number, Measure, Measure> {
  if (options.fixed) {
    const ms: Measure[] = [];
    for (let i = 0; i < options.fixed.trials; i++) ms.push(yield options.fixed.rate);
    ms.sort((a, b) => a.cpu / a.pps - b.cpu / b.pps);
    return ms[Math.floor(ms.length / 2)]!;
  }
  let best: Measure = { pps: 0, cpu: 0, offered: 0, loss: 1 };
  let lo = 0;
  let hi = 0;
  function* measure(rate: number): Generator<number, Measure, Measure> {
    const m = yield rate;
    return m.loss > MAX_LOSS ? yield rate : m;
  }
  for (let rate = START_RATE; rate <= MAX_RATE; rate *= 2) {
    const m = yield* measure(rate);
    if (m.loss > MAX_LOSS) {
      hi = rate;
      break;
    }
    lo = rate;
    best = m;
    if (m.offered < 0.9 * rate) {
      best.sourceLimited = true; // the traffic tool, not the forwarder, is the limit
      return best;
    }
  }
  if (hi === 0) return best;
  for (let i = 0; i < BISECTIONS; i++) {
    const rate = Math.round((lo + hi) / 2);
    const m = yield* measure(rate);
    if (m.loss > MAX_LOSS) hi = rate;
    else {
      lo = rate;
      best = m;
    }
  }
  return best;
}
