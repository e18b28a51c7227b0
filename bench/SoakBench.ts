// Soak (issue 13 item 8): 100 000 session setups and teardowns against a real `portico serve` (pinned
// to CPU 0; the load generator on CPU 1, 64 handshakes in flight, each session cleared as soon as it
// is up). Between segments of 10 000 the server is left to settle and read from outside
// (ServerResources): RSS, V8 heap after a collection (the server runs with --expose-gc), descriptors,
// routes, sessions and the Call IDs, addresses and host routes still held. Flat memory and nothing
// held at rest = no leak. Figures at 0, half-way and at the end; every segment on stderr.
// The config is the server's default but for the per-address limits (one load-generator address makes
// every connection): the default 241-address pool is reused some 400 times over.
import { BENCH_PASSWORD, BENCH_USER, BenchLab, benchNodeFlags, LOAD_GENERATOR } from './BenchLab.js';
import { emitFigure } from './Figures.js';
import { ServerResourceProbe, type ServerResources } from './ServerResources.js';

const SETUPS = Number(process.env.PORTICO_BENCH_SOAK_SETUPS ?? 100_000);
const SEGMENT = Number(process.env.PORTICO_BENCH_SOAK_SEGMENT ?? 10_000);
const CONCURRENCY = Number(process.env.PORTICO_BENCH_SOAK_CONCURRENCY ?? 64);

/** One load-generator run of `sessions` setups and teardowns (its result line). */
export interface ChurnResult {
  sessions: number;
  up: number;
  failed: number;
  seconds: number;
  rate: number;
  setupMsP50: number;
  setupMsP99: number;
  failures: Record<string, number>;
}

/**
 * The soak's namespaces and server: per-address limits lifted, everything else default, the server
 * on CPU 0 under --expose-gc. The client namespace may open a connection every few microseconds
 * for minutes: its ephemeral ports span 1024-65535 and TIME_WAIT ports are reused (tcp_tw_reuse, per
 * namespace), or 100 000 connections in a few minutes would run out of them.
 */
export async function startSoakServer(lab: BenchLab): Promise<ServerResourceProbe> {
  lab.up();
  lab.exec(lab.clientNs, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1']);
  lab.writeConfig({ overrides: 'per-address' });
  await lab.startServer({ cpu: 0, nodeFlags: ['--expose-gc', ...benchNodeFlags()] });
  return new ServerResourceProbe(lab);
}

/** `sessions` setups and teardowns by the load generator (CPU 1); resolves with its result. */
export async function churn(lab: BenchLab, sessions: number, concurrency = CONCURRENCY): Promise<ChurnResult> {
  const { events } = lab.spawnClient(
    [process.execPath, LOAD_GENERATOR, '--mode', 'churn', '--sessions', String(sessions), '--concurrency', String(concurrency), '--lcp', 'eager', '--user', BENCH_USER, '--password', BENCH_PASSWORD],
    1,
  );
  for await (const e of events) if (e.event === 'result') return e as unknown as ChurnResult;
  throw new Error('load generator printed no result');
}

export async function soakBench(): Promise<void> {
  const lab = new BenchLab('soak');
  try {
    const probe = await startSoakServer(lab);
    const at0 = await probe.settled();
    report(0, at0, null);
    const checkpoints = new Set([Math.round(SETUPS / 2 / SEGMENT) * SEGMENT, SETUPS]);
    let done = 0;
    let failed = 0;
    let seconds = 0;
    while (done < SETUPS) {
      const n = Math.min(SEGMENT, SETUPS - done);
      const r = await churn(lab, n);
      done += n;
      failed += r.failed;
      seconds += r.seconds;
      const at = await probe.settled();
      process.stderr.write(
        `soak ${done}: ${Math.round(r.rate)} setups/s, p50 ${round(r.setupMsP50)} ms, p99 ${round(r.setupMsP99)} ms, ${r.failed} failed ${JSON.stringify(r.failures)}; server ${JSON.stringify(at)}\n`,
      );
      if (checkpoints.has(done)) report(done, at, r);
    }
    emitFigure({ bench: 'soak', figure: 'setups', value: done, unit: 'setups and teardowns' });
    emitFigure({ bench: 'soak', figure: 'setup-rate', value: Math.round((done - failed) / seconds), unit: 'setups/s' });
    emitFigure({ bench: 'soak', figure: 'failures', value: failed, unit: `of ${done}` });
  } finally {
    await lab.down();
  }
}

/** The figures at one checkpoint; `segment` = the load-generator run that ended there. */
function report(at: number, r: ServerResources, segment: ChurnResult | null): void {
  const f = (figure: string, value: number, unit: string) => emitFigure({ bench: 'soak', figure: `${figure}-at-${at}`, value, unit });
  f('rss', Math.round(r.rssKiB / 1024), 'MiB');
  f('heap-used', r.heapUsedKiB, 'KiB');
  f('fds', r.fds, 'descriptors');
  f('routes', r.routes, 'routes');
  f('sessions', r.sessions, 'sessions');
  f('call-ids-held', r.callIds, 'Call IDs');
  f('addresses-held', r.addresses, 'addresses');
  f('host-routes-held', r.hostRoutes, 'routes');
  f('server-sessions-up', r.sessionsUp, 'sessions');
  f('server-sessions-closed', r.sessionsClosed, 'sessions');
  if (segment) f('segment-setup-rate', Math.round(segment.rate), 'setups/s');
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
