import { describe, expect, it } from 'vitest';
import { BISECTIONS, MAX_LOSS, MAX_TRIALS, type Measure, START_RATE, throughputSearch } from '../../bench/ThroughputSearch.js';

/** A model forwarder: forwards up to `capacity` packets/s, loses the rest; CPU grows with the rate. */
function model(capacity: number, hiccups: Set<number> = new Set()): (rate: number, trial: number) => Measure {
  return (rate, trial) => {
    const delivered = Math.min(rate, capacity);
    const loss = hiccups.has(trial) ? 0.02 : 1 - delivered / rate;
    return { pps: delivered * (1 - (hiccups.has(trial) ? 0.02 : 0)), cpu: delivered / 1e6, offered: rate, loss };
  };
}

function drive(search: Generator<number, Measure, Measure>, trial: (rate: number, n: number) => Measure): { best: Measure; rates: number[] } {
  const rates: number[] = [];
  let r = search.next();
  while (!r.done) {
    rates.push(r.value);
    r = search.next(trial(r.value, rates.length - 1));
  }
  return { best: r.value, rates };
}

describe('throughputSearch (RFC 2544 §26.1, the data-plane bench)', () => {
  it('doubles from the start rate, then bisects to within 1/16 of the first failing step', () => {
    const { best, rates } = drive(throughputSearch(), model(300_000));
    // 20 k, 40 k, 80 k, 160 k pass; 320 k fails twice; bisections between 160 k and 320 k.
    expect(rates.slice(0, 6)).toEqual([START_RATE, 40_000, 80_000, 160_000, 320_000, 320_000]);
    expect(best.loss).toBeLessThanOrEqual(MAX_LOSS);
    expect(best.pps).toBeLessThanOrEqual(300_000);
    expect(best.pps).toBeGreaterThan(300_000 - 160_000 / 2 ** BISECTIONS);
    expect(rates.length).toBeLessThanOrEqual(MAX_TRIALS);
  });

  it('does not fail a rate on one lossy trial: the repeat decides', () => {
    // Trial 2 (the first at 80 k) has a hiccup; its repeat passes, so the search goes on doubling.
    const { best, rates } = drive(throughputSearch(), model(300_000, new Set([2])));
    expect(rates.slice(0, 5)).toEqual([20_000, 40_000, 80_000, 80_000, 160_000]);
    expect(best.pps).toBeGreaterThan(280_000);
  });

  it('stops and says so when the traffic source cannot offer the rate', () => {
    const limited = (rate: number): Measure => {
      const offered = Math.min(rate, 100_000);
      return { pps: offered, cpu: 0.1, offered, loss: 0 };
    };
    const { best, rates } = drive(throughputSearch(), limited);
    expect(best.sourceLimited).toBe(true);
    expect(best.pps).toBe(100_000);
    expect(rates).toEqual([20_000, 40_000, 80_000, 160_000]);
  });

  it('at a fixed rate: the given number of trials, the median one by CPU per packet', () => {
    const cpus = [0.5, 0.9, 0.6, 0.7, 0.4];
    const { best, rates } = drive(throughputSearch({ fixed: { rate: 200_000, trials: 5 } }), (rate, n) => ({ pps: rate, cpu: cpus[n]!, offered: rate, loss: 0 }));
    expect(rates).toEqual([200_000, 200_000, 200_000, 200_000, 200_000]);
    expect(best.cpu).toBe(0.6);
  });

  it('two searches driven in turns give what each gives alone', () => {
    const a = throughputSearch();
    const b = throughputSearch();
    const fa = model(300_000);
    const fb = model(450_000);
    let ra = a.next();
    let rb = b.next();
    let na = 0;
    let nb = 0;
    while (!ra.done || !rb.done) {
      if (!ra.done) ra = a.next(fa(ra.value, na++));
      if (!rb.done) rb = b.next(fb(rb.value, nb++));
    }
    expect(ra.value).toEqual(drive(throughputSearch(), model(300_000)).best);
    expect(rb.value).toEqual(drive(throughputSearch(), model(450_000)).best);
  });
});
