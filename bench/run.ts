// `npm run bench` runs every benchmark, `npm run bench -- NAME` one of them.
import { dataplaneBench } from './DataplaneBench.js';
import { dataplaneCpuBench } from './DataplaneCpuBench.js';
import { greIoBench } from './GreIoBench.js';
import { latencyBench } from './LatencyBench.js';
import { sessionsBench } from './SessionsBench.js';
import { setupRateBench } from './SetupRateBench.js';
import { soakBench } from './SoakBench.js';

const BENCHES: Record<string, () => Promise<void>> = {
  'gre-io': greIoBench,
  'setup-rate': setupRateBench,
  sessions: sessionsBench,
  dataplane: dataplaneBench,
  'dataplane-cpu': dataplaneCpuBench,
  latency: latencyBench,
  soak: soakBench,
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!BENCHES[name]) {
    process.stderr.write(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
}
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) await BENCHES[name]!();
