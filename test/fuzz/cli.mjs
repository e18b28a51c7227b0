#!/usr/bin/env node
// `npm run fuzz -- TARGET[,TARGET...|all] [--count N] [--seed S] [--index I] [--max-failures N] [--slow-ms MS] [--fail-ms MS] [--verbose]`
// Runs test/fuzz/fuzz.test.ts under vitest with FUZZ_* variables (the repository has no TypeScript
// runner besides vitest; test/ is not compiled to dist/). Without --seed a random seed is chosen and
// printed, so a long run explores new inputs and any failure still replays with the printed seed.

import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const args = process.argv.slice(2);
const env = { ...process.env };
const usage = 'usage: npm run fuzz -- TARGET[,TARGET...|all] [--count N] [--seed S] [--index I] [--max-failures N] [--slow-ms MS] [--fail-ms MS] [--verbose]';

let target = '';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) {
      console.error(`${a} needs a value\n${usage}`);
      process.exit(2);
    }
    return v;
  };
  if (a === '--count') env.FUZZ_COUNT = value();
  else if (a === '--seed') env.FUZZ_SEED = value();
  else if (a === '--index') env.FUZZ_INDEX = value();
  else if (a === '--max-failures') env.FUZZ_MAX_FAILURES = value();
  else if (a === '--slow-ms') env.FUZZ_SLOW_MS = value();
  else if (a === '--fail-ms') env.FUZZ_FAIL_MS = value();
  else if (a === '--verbose') env.FUZZ_VERBOSE = '1';
  else if (a === '--help' || a === '-h') {
    console.log(usage);
    process.exit(0);
  } else if (!a.startsWith('--') && target === '') target = a;
  else {
    console.error(`unknown argument ${a}\n${usage}`);
    process.exit(2);
  }
}
if (target === '') {
  console.error(usage);
  process.exit(2);
}
env.FUZZ_TARGET = target === 'all' ? '' : target;
if (env.FUZZ_SEED === undefined && env.FUZZ_INDEX === undefined) env.FUZZ_SEED = `0x${randomInt(0x7fffffff).toString(16)}`;
if (env.FUZZ_INDEX !== undefined && env.FUZZ_SEED === undefined) {
  console.error('--index needs the --seed of the run it comes from');
  process.exit(2);
}
console.log(`fuzz ${target}: ${env.FUZZ_INDEX !== undefined ? `input ${env.FUZZ_INDEX}` : `${env.FUZZ_COUNT ?? 100000} inputs per target`}, seed ${env.FUZZ_SEED}`);

const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', 'test/fuzz/fuzz.test.ts', '--reporter=verbose'], { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
