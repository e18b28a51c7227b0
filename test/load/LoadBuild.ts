// The load tests on the network drive the compiled server and load generator (dist/, as the benches
// do). `npm test` compiles both (tsconfig.bench.json: the product and bench/ into the same dist/); a
// test file run on its own compiles them here when dist/ lacks the generator or is older than any
// source it is built from.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = ['server', 'io', 'dataplane', 'session', 'aaa', 'admin', 'admin-ui', 'gre', 'ppp', 'pptp', 'radius', 'config', 'bench'];
const BUILT = join(REPO, 'dist', 'bench', 'client', 'LoadGenerator.js');

export function buildLoadGenerator(): void {
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= newestSource()) return;
  const r = spawnSync(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO, 'tsconfig.bench.json')], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -p tsconfig.bench.json failed: ${r.stdout}${r.stderr}`);
}

function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const d of SOURCES) if (existsSync(join(REPO, d))) walk(join(REPO, d));
  return newest;
}
