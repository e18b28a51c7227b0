// The short soak (issue 13 item 8; `npm run bench -- soak` runs 100 000): 5 000 session setups and
// teardowns by the load generator against the real `portico serve` in a namespace (bench/SoakBench.ts:
// server defaults but for the per-address limits, its 241-address pool reused some 30 times over).
// After a warm-up of 2 000 (the heap still grows over the first thousands: code, caches) the
// server's resources are the baseline; after the 5 000 and a settling pause, every descriptor,
// route, Call ID and pool address must be back and memory bounded. Needs root; run under the lab
// lock (common rules): `flock /tmp/portico-lab.lock npx vitest run test/load/soak.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BenchLab } from '../../bench/BenchLab.js';
import { churn, startSoakServer } from '../../bench/SoakBench.js';
import type { ServerResourceProbe, ServerResources } from '../../bench/ServerResources.js';
import { buildLoadGenerator } from './LoadBuild.js';

const WARM_UP = 2000;
const SETUPS = 5000;
/**
 * Growth allowed over 5 000 sessions once warm. Heap: measured after a collection, 1 MiB = 200 bytes
 * a session (a leaked session object with its link and counters is several KiB). RSS: pages the
 * allocator keeps, the JIT's code and the young generation, which may still grow to its two 16 MiB
 * semi-spaces (server/NodeFlags.ts): a looser bound, that a native leak of a few KiB a session (the
 * SQLite statements of config/SqliteDatabase.ts: 13 KiB, 62 MiB here) still exceeds.
 */
const MAX_HEAP_GROWTH_KIB = 1024;
const MAX_RSS_GROWTH_KIB = 40 * 1024;

describe('soak: 5 000 session setups and teardowns against the real server', () => {
  let lab: BenchLab;
  let probe: ServerResourceProbe;

  beforeAll(async () => {
    buildLoadGenerator();
    lab = new BenchLab('soakt');
    probe = await startSoakServer(lab);
  });

  afterAll(async () => {
    await lab?.down();
  });

  it('gives back every descriptor, route, Call ID and address, with memory bounded', async () => {
    const fresh = await probe.settled();
    const warm = await churn(lab, WARM_UP);
    expect(warm.failures).toEqual({});
    const baseline = await probe.settled();
    const r = await churn(lab, SETUPS);
    const after = await probe.settled();
    const show = (x: ServerResources) => JSON.stringify(x);
    console.log(
      `soak figures (${SETUPS} setups and teardowns after ${WARM_UP})\n  fresh:    ${show(fresh)}\n  baseline: ${show(baseline)}\n  after:    ${show(after)}\n  load generator: ${Math.round(r.rate)} setups/s, p50 ${r.setupMsP50.toFixed(1)} ms, p99 ${r.setupMsP99.toFixed(1)} ms, failures ${JSON.stringify(r.failures)}`,
    );
    expect(r.up).toBe(SETUPS);
    expect(r.failed).toBe(0);
    // The server's side: a session for every call, each ended (Call-Clear-Request from the client).
    expect(after.sessionsClosed - baseline.sessionsClosed).toBe(SETUPS);
    // Nothing held once every session has ended.
    expect({ sessions: after.sessions, callIds: after.callIds, addresses: after.addresses, hostRoutes: after.hostRoutes }).toEqual({ sessions: 0, callIds: 0, addresses: 0, hostRoutes: 0 });
    expect(after.fds).toBe(baseline.fds);
    expect(after.routes).toBe(baseline.routes);
    expect(after.heapUsedKiB - baseline.heapUsedKiB).toBeLessThan(MAX_HEAP_GROWTH_KIB);
    expect(after.rssKiB - baseline.rssKiB).toBeLessThan(MAX_RSS_GROWTH_KIB);
  }, 300_000);
});
