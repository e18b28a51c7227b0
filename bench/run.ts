// `npm run bench` runs every benchmark, `npm run bench -- NAME` one of them.
import { greIoBench } from './GreIoBench.js';

const BENCHES: Record<string, () => Promise<void>> = {
  'gre-io': greIoBench,
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!BENCHES[name]) {
    process.stderr.write(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
}
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) await BENCHES[name]!();
