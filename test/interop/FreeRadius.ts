// The real FreeRADIUS of the lab (test/lab/radius/freeradius.sh) inside a test's namespace, and its
// detail files read back as records.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Not imported from Lab.ts: that module reads PORTICO_TEST_NETNS when loaded, after the test has set it.
const FREERADIUS = join(dirname(fileURLToPath(import.meta.url)), '..', 'lab', 'radius', 'freeradius.sh');

/** FreeRADIUS inside `netns` with its files in `runDir` (`start` also wipes its detail files). */
export function freeradius(netns: string, runDir: string, cmd: 'start' | 'stop', env: Record<string, string> = {}): void {
  execFileSync('ip', ['netns', 'exec', netns, 'bash', FREERADIUS, cmd], {
    env: { ...process.env, RADIUS_RUN_DIR: runDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface DetailRecord {
  text: string;
  get(name: string): string | undefined;
  all(name: string): string[];
}

/** FreeRADIUS detail file: a date line, then "\tName = value" lines, a blank line after each record. */
export function detail(file: string): DetailRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split(/\n\s*\n/)
    .filter((r) => r.trim() !== '')
    .map((text) => {
      const pairs = text
        .split('\n')
        .slice(1)
        .map((l) => /^\s+([\w:-]+) = (.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, '$1')] as const);
      return {
        text,
        get: (name: string) => pairs.find(([n]) => n === name)?.[1],
        all: (name: string) => pairs.filter(([n]) => n === name).map(([, v]) => v),
      };
    });
}

export const ofSession = (records: DetailRecord[], id: string) => records.filter((r) => r.get('Acct-Session-Id') === id);
export const statuses = (records: DetailRecord[]) => records.map((r) => r.get('Acct-Status-Type'));

/** Polls `probe` every 200 ms until it returns something truthy. */
export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
