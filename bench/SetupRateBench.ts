// Setup rate: how many sessions per second a real `portico serve` brings up (PPTP control, LCP,
// local MS-CHAPv2, CCP/MPPE-128, IPCP), driven by the load generator from the client namespace.
// The server is pinned to CPU 0 and the load generator to CPU 1.
import { BenchLab, LOAD_GENERATOR } from './BenchLab.js';
import { emitFigure } from './Figures.js';

const SESSIONS = Number(process.env.PORTICO_BENCH_SETUP_SESSIONS ?? 2000);
const CONCURRENCY = Number(process.env.PORTICO_BENCH_SETUP_CONCURRENCY ?? 64);

/** Issue 5 target, reported beside the figure (not a same-run baseline, so no baseline field). */
export const SETUP_RATE_TARGET = 500;

export async function setupRateBench(): Promise<void> {
  const lab = new BenchLab('setup');
  try {
    lab.up();
    lab.writeConfig({});
    await lab.startServer({ cpu: 0, nodeFlags: process.env.PORTICO_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PORTICO_BENCH_PROFILE}`] : [] });
    const cpu0 = lab.serverCpuSeconds();
    const { events } = lab.spawnClient([process.execPath, LOAD_GENERATOR, '--mode', 'setup', '--sessions', String(SESSIONS), '--concurrency', String(CONCURRENCY)], 1);
    let result: Record<string, unknown> | null = null;
    let serverCpu = NaN;
    for await (const e of events) {
      if (e.event === 'ramped') serverCpu = lab.serverCpuSeconds() - cpu0;
      if (e.event === 'result') result = e;
    }
    if (!result) throw new Error('load generator printed no result');
    process.stderr.write(`setup-rate: ${JSON.stringify(result)} (target >= ${SETUP_RATE_TARGET}/s)\n`);
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2', value: Math.round(result.rate as number), unit: 'sessions/s' });
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-setup-p50', value: round(result.setupMsP50 as number), unit: 'ms' });
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-setup-p99', value: round(result.setupMsP99 as number), unit: 'ms' });
    // Client-independent: setups per CPU-second the server spent during the ramp.
    const up = result.up as number;
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-server-cpu-per-setup', value: round((serverCpu / up) * 1000), unit: 'ms' });
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-server-cpu-utilisation', value: round(serverCpu / (result.seconds as number)), unit: 'cores' });
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-client-cpu-utilisation', value: round((result.rampCpuSeconds as number) / (result.seconds as number)), unit: 'cores' });
    emitFigure({ bench: 'setup-rate', figure: 'local-mschapv2-failures', value: result.failed as number, unit: `of ${SESSIONS}` });
  } finally {
    await lab.down();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
