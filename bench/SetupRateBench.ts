// Setup rate: how many sessions per second a real `portico serve` brings up (PPTP control, LCP,
// MS-CHAPv2, CCP/MPPE-128, IPCP), driven by the load generator from the client namespace.
// The server is pinned to CPU 0 and the load generator to CPU 1.
// Two backends, one after the other in the same namespaces:
//   local  — the server's own user store (figures `local-mschapv2*`);
//   radius — auth.backend radius against a real FreeRADIUS 3 (the test instance,
//            test/lab/radius/freeradius.sh) started inside the server namespace on 127.0.0.1,
//            so each setup also carries an Access-Request/Accept with MS-MPPE keys and the
//            accounting Start (and Stop at the end) (figures `radius-mschapv2*`). FreeRADIUS is not
//            pinned; its own CPU per setup is reported apart.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_PASSWORD, BENCH_USER, BenchLab, LOAD_GENERATOR, cpuSeconds, type ServerOptions } from './BenchLab.js';
import { emitFigure } from './Figures.js';

const SESSIONS = Number(process.env.PORTICO_BENCH_SETUP_SESSIONS ?? 2000);
const CONCURRENCY = Number(process.env.PORTICO_BENCH_SETUP_CONCURRENCY ?? 64);
/** Which backends to measure, in order: `local`, `radius` or both (default). */
const BACKENDS = (process.env.PORTICO_BENCH_SETUP_BACKENDS ?? 'local,radius').split(',');
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FREERADIUS = process.env.PORTICO_BENCH_FREERADIUS ?? join(REPO, 'test', 'lab', 'radius', 'freeradius.sh');
const RADIUS_SECRET = 'testing123-pptp'; // freeradius.sh's default client secret
const RADIUS_AUTH_PORT = 18121;
const RADIUS_ACCT_PORT = 18131;

/** Targets, reported beside the figures (not same-run baselines, so no baseline field). */
export const SETUP_RATE_TARGET = 500;
export const RADIUS_SETUP_RATE_TARGET = 200;

interface Ramp {
  result: Record<string, unknown>;
  /** Server CPU seconds over the ramp. */
  serverCpu: number;
  /** FreeRADIUS CPU seconds over the ramp (radius backend only). */
  radiusCpu: number;
}

export async function setupRateBench(): Promise<void> {
  const lab = new BenchLab('setup');
  let radiusRunDir: string | null = null;
  try {
    lab.up();
    let localRate: number | undefined;
    for (const backend of BACKENDS) {
      if (backend === 'local') {
        lab.writeConfig({});
        const r = await ramp(lab, {}, null);
        process.stderr.write(`setup-rate local: ${JSON.stringify(r.result)} (target >= ${SETUP_RATE_TARGET}/s)\n`);
        localRate = Math.round(r.result.rate as number);
        emitFigures('local-mschapv2', r, undefined);
      } else if (backend === 'radius') {
        radiusRunDir = join(lab.dir, 'freeradius');
        const pidFile = startFreeRadius(lab, radiusRunDir);
        const extraConfig = ['auth: { backend: radius }', `radius: { servers: [{ address: 127.0.0.1, authPort: ${RADIUS_AUTH_PORT}, acctPort: ${RADIUS_ACCT_PORT}, secret: ${RADIUS_SECRET} }] }`];
        lab.writeConfig({ extraConfig });
        const r = await ramp(lab, { extraConfig }, pidFile);
        process.stderr.write(`setup-rate radius: ${JSON.stringify(r.result)}, FreeRADIUS CPU ${round(r.radiusCpu)} s (target >= ${RADIUS_SETUP_RATE_TARGET}/s)\n`);
        const log = readFileSync(join(radiusRunDir, 'radius.log'), 'utf8');
        process.stderr.write(`setup-rate radius: FreeRADIUS logged ${count(log, 'Login OK')} "Login OK", ${count(log, 'Login incorrect')} "Login incorrect"\n`);
        emitFigures('radius-mschapv2', r, localRate);
        emitFigure({ bench: 'setup-rate', figure: 'radius-mschapv2-freeradius-cpu-per-setup', value: round((r.radiusCpu / (r.result.up as number)) * 1000), unit: 'ms' });
      } else throw new Error(`PORTICO_BENCH_SETUP_BACKENDS: unknown backend ${backend} (local, radius)`);
    }
  } finally {
    await lab.stopServer();
    if (radiusRunDir) freeRadius(lab, radiusRunDir, 'stop');
    await lab.down();
  }
}

/** Starts the server with `o`, ramps SESSIONS sessions, stops the server. */
async function ramp(lab: BenchLab, o: ServerOptions, radiusPidFile: string | null): Promise<Ramp> {
  await lab.startServer({ ...o, cpu: 0, nodeFlags: process.env.PORTICO_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PORTICO_BENCH_PROFILE}`] : [] });
  const radiusPid = radiusPidFile ? Number(readFileSync(radiusPidFile, 'utf8').trim()) : 0;
  const cpu0 = lab.serverCpuSeconds();
  const rcpu0 = radiusPid ? cpuSeconds(radiusPid) : 0;
  const { events } = lab.spawnClient(
    [process.execPath, LOAD_GENERATOR, '--mode', 'setup', '--sessions', String(SESSIONS), '--concurrency', String(CONCURRENCY), '--user', BENCH_USER, '--password', BENCH_PASSWORD],
    1,
  );
  let result: Record<string, unknown> | null = null;
  let serverCpu = NaN;
  let radiusCpu = NaN;
  for await (const e of events) {
    if (e.event === 'ramped') {
      serverCpu = lab.serverCpuSeconds() - cpu0;
      if (radiusPid) radiusCpu = cpuSeconds(radiusPid) - rcpu0;
    }
    if (e.event === 'result') result = e;
  }
  await lab.stopServer();
  if (!result) throw new Error('load generator printed no result');
  return { result, serverCpu, radiusCpu };
}

function emitFigures(prefix: string, r: Ramp, baselineRate: number | undefined): void {
  const { result, serverCpu } = r;
  const b = 'setup-rate';
  emitFigure({ bench: b, figure: prefix, value: Math.round(result.rate as number), unit: 'sessions/s', baseline: baselineRate });
  emitFigure({ bench: b, figure: `${prefix}-setup-p50`, value: round(result.setupMsP50 as number), unit: 'ms' });
  emitFigure({ bench: b, figure: `${prefix}-setup-p99`, value: round(result.setupMsP99 as number), unit: 'ms' });
  // Client-independent: setups per CPU-second the server spent during the ramp.
  const up = result.up as number;
  emitFigure({ bench: b, figure: `${prefix}-server-cpu-per-setup`, value: round((serverCpu / up) * 1000), unit: 'ms' });
  emitFigure({ bench: b, figure: `${prefix}-server-cpu-utilisation`, value: round(serverCpu / (result.seconds as number)), unit: 'cores' });
  emitFigure({ bench: b, figure: `${prefix}-client-cpu-utilisation`, value: round((result.rampCpuSeconds as number) / (result.seconds as number)), unit: 'cores' });
  emitFigure({ bench: b, figure: `${prefix}-failures`, value: result.failed as number, unit: `of ${SESSIONS}` });
}

/**
 * FreeRADIUS inside the server namespace (the server reaches it on 127.0.0.1, which is also the
 * script's only NAS client), with the bench user added in its users file. Returns the pidfile.
 */
function startFreeRadius(lab: BenchLab, runDir: string): string {
  const users = join(lab.dir, 'freeradius-users');
  // Cleartext, so that FreeRADIUS's mschap module can answer MS-CHAPv2 and derive the MPPE keys.
  writeFileSync(users, `${BENCH_USER}\tCleartext-Password := "${BENCH_PASSWORD}"\n`, { mode: 0o600 });
  freeRadius(lab, runDir, 'start', { RADIUS_EXTRA_USERS: users, RADIUS_AUTH_PORT: String(RADIUS_AUTH_PORT), RADIUS_ACCT_PORT: String(RADIUS_ACCT_PORT) });
  return join(runDir, 'radiusd.pid');
}

function freeRadius(lab: BenchLab, runDir: string, cmd: 'start' | 'stop', env: Record<string, string> = {}): void {
  try {
    execFileSync('ip', ['netns', 'exec', lab.serverNs, 'bash', FREERADIUS, cmd], {
      env: { ...process.env, RADIUS_RUN_DIR: runDir, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    if (cmd === 'start') throw new Error(`FreeRADIUS did not start (${FREERADIUS}): ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
  }
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
