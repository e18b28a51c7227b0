// Concurrent sessions: ramp a real `portico serve` (pinned to CPU 0) to N sessions (default 10 000)
// with the server's LCP echo running (ppp.lcpEchoInterval), hold them, and report RSS per session,
// the server's reaction time and setup failures.
// Event-loop delay is measured from the outside: every session sends its own LCP Echo-Request every
// few seconds and the load generator records the round trip; at light load the RTT is ~0.1 ms, so
// its p99 bounds the server's event-loop delay (plus the client's, which runs on the other core).
import { BenchLab, LOAD_GENERATOR } from './BenchLab.js';
import { emitFigure } from './Figures.js';

const SESSIONS = Number(process.env.PORTICO_BENCH_SESSIONS ?? 10_000);
const HOLD_SECONDS = Number(process.env.PORTICO_BENCH_HOLD ?? 30);
const ECHO_INTERVAL = 10; // server → client LCP echo, seconds
const CLIENT_ECHO_INTERVAL = 5; // client → server probe, seconds

export async function sessionsBench(): Promise<void> {
  const lab = new BenchLab('sess');
  try {
    lab.up();
    lab.writeConfig({ lcpEchoInterval: ECHO_INTERVAL, maxCalls: SESSIONS + 1000 });
    await lab.startServer({ cpu: 0 });
    const rssIdle = lab.serverRssKiB();
    const { events } = lab.spawnClient(
      [process.execPath, '--max-old-space-size=4096', LOAD_GENERATOR, '--mode', 'hold', '--sessions', String(SESSIONS), '--concurrency', '64',
        '--hold', String(HOLD_SECONDS), '--echo-interval', String(CLIENT_ECHO_INTERVAL)],
      1,
    );
    let ramped: Record<string, unknown> | null = null;
    let result: Record<string, unknown> | null = null;
    let rssPeak = rssIdle;
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, lab.serverRssKiB());
      } catch {
        /* server gone: reported below */
      }
    }, 500);
    let rssAfterHold = NaN;
    for await (const e of events) {
      if (e.event === 'ramped') ramped = e;
      if (e.event === 'result') result = e;
      if (e.event === 'holding-done') rssAfterHold = lab.serverRssKiB();
    }
    clearInterval(sampler);
    if (!ramped || !result) throw new Error('load generator printed no result');
    process.stderr.write(`sessions: ${JSON.stringify(result)}\n`);
    const up = ramped.up as number;
    if (Number.isNaN(rssAfterHold)) rssAfterHold = rssPeak;
    const b = 'sessions';
    emitFigure({ bench: b, figure: 'sessions-up', value: up, unit: `of ${SESSIONS}` });
    emitFigure({ bench: b, figure: 'setup-failures', value: ramped.failed as number, unit: 'sessions' });
    emitFigure({ bench: b, figure: 'dropped-while-held', value: result.droppedAfterUp as number, unit: 'sessions' });
    emitFigure({ bench: b, figure: 'ramp-rate', value: Math.round(ramped.rate as number), unit: 'sessions/s' });
    emitFigure({ bench: b, figure: 'rss-idle', value: Math.round(rssIdle / 1024), unit: 'MiB' });
    emitFigure({ bench: b, figure: 'rss-held', value: Math.round(rssAfterHold / 1024), unit: 'MiB' });
    emitFigure({ bench: b, figure: 'rss-peak', value: Math.round(rssPeak / 1024), unit: 'MiB' });
    emitFigure({ bench: b, figure: 'rss-per-session', value: Math.round(((rssAfterHold - rssIdle) * 1024) / up), unit: 'bytes' });
    emitFigure({ bench: b, figure: 'lcp-echo-rtt-p50', value: round(result.echoRttMsP50 as number), unit: 'ms' });
    emitFigure({ bench: b, figure: 'lcp-echo-rtt-p99', value: round(result.echoRttMsP99 as number), unit: 'ms' });
    emitFigure({ bench: b, figure: 'lcp-echo-rtt-max', value: round(result.echoRttMsMax as number), unit: 'ms' });
    emitFigure({ bench: b, figure: 'lcp-echoes', value: result.echoes as number, unit: 'round trips' });
  } finally {
    await lab.down();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
