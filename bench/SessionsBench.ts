// Concurrent sessions: ramp a real `portico serve` (pinned to CPU 0) to N sessions (default 10 000)
// with the server's LCP echo running (ppp.lcpEchoInterval), hold them, and report RSS per session,
// the server's reaction time and setup failures.
// Event-loop delay, measured in the server: SIGUSR2 makes it log `event loop delay` with the
// histogram (ms) since the previous SIGUSR2 (perf_hooks monitorEventLoopDelay), then reset it. The
// bench signals before the ramp, when the ramp is done (= start of the hold) and at the end of the
// hold, so the figures cover the ramp and the hold separately. From the outside as well: every
// session sends its own LCP Echo-Request every few seconds and the load generator records the
// round trip (the server's reaction time plus the client's loop, on the other core).
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
    const loop = new EventLoopProbe(lab);
    await loop.dump(); // resets the histogram: the ramp's starts here
    const { events } = lab.spawnClient(
      [
        process.execPath,
        '--max-old-space-size=4096',
        LOAD_GENERATOR,
        '--mode',
        'hold',
        '--sessions',
        String(SESSIONS),
        '--concurrency',
        '64',
        '--hold',
        String(HOLD_SECONDS),
        '--echo-interval',
        String(CLIENT_ECHO_INTERVAL),
      ],
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
    let loopRamp: Promise<EventLoopDelay> | null = null;
    let loopHold: Promise<EventLoopDelay> | null = null;
    for await (const e of events) {
      if (e.event === 'ramped') {
        ramped = e;
        loopRamp = loop.dump(); // the ramp's histogram; the hold's starts here
      }
      if (e.event === 'result') result = e;
      if (e.event === 'holding-done') {
        loopHold = loop.dump();
        rssAfterHold = lab.serverRssKiB();
      }
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
    if (!loopRamp || !loopHold) throw new Error('no ramp/hold events from the load generator');
    const [ramp, hold] = [await loopRamp, await loopHold];
    process.stderr.write(`sessions: server event-loop delay (ms) during the ramp ${JSON.stringify(ramp)}, during the hold ${JSON.stringify(hold)} (target p99 <= 50 ms)\n`);
    if (hold.resolution === 0) process.stderr.write('sessions: the server logs no resolution: event-loop figures include its sampling period (an idle loop reads ~10 ms)\n');
    emitFigure({ bench: b, figure: 'event-loop-delay-p50', value: hold.p50, unit: 'ms' });
    emitFigure({ bench: b, figure: 'event-loop-delay-p99', value: hold.p99, unit: 'ms' });
    emitFigure({ bench: b, figure: 'event-loop-delay-max', value: hold.max, unit: 'ms' });
    emitFigure({ bench: b, figure: 'event-loop-delay-ramp-p99', value: ramp.p99, unit: 'ms' });
    emitFigure({ bench: b, figure: 'event-loop-delay-ramp-max', value: ramp.max, unit: 'ms' });
  } finally {
    await lab.down();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

interface EventLoopDelay {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  /** The server's sampling period (ms) already subtracted from the figures; 0 = values as logged. */
  resolution: number;
}

/** Asks the server for its event-loop delay histogram (SIGUSR2) and reads the answer from its log. */
class EventLoopProbe {
  private seen = 0;

  constructor(private readonly lab: BenchLab) {}

  /** The histogram since the previous dump (the server resets it after logging). */
  async dump(): Promise<EventLoopDelay> {
    const want = ++this.seen;
    process.kill(this.lab.serverPid(), 'SIGUSR2');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const lines = this.lines();
      if (lines.length >= want) return lines[want - 1]!;
      if (Date.now() > deadline) throw new Error('the server logged no "event loop delay" line after SIGUSR2');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private lines(): EventLoopDelay[] {
    const out: EventLoopDelay[] = [];
    for (const line of this.lab.serverLog().split('\n')) {
      // The status dump that follows carries every session: skip lines that cannot be ours unparsed.
      if (!line.includes('"event loop delay"')) continue;
      try {
        const o = JSON.parse(line) as { msg?: string; eventLoop?: EventLoopDelay & { resolution?: number } };
        if (o.msg !== 'event loop delay' || !o.eventLoop) continue;
        // Node's histogram records whole timer intervals (idle = the resolution, 10 ms in main.ts), not
        // the delay beyond them; when the server names its resolution, the figures are the delay alone.
        const { p50, p99, max, samples, resolution = 0 } = o.eventLoop;
        const d = (x: number) => Math.round((x - resolution) * 100) / 100;
        out.push({ p50: d(p50), p99: d(p99), max: d(max), samples, resolution });
      } catch {
        /* a line still being written */
      }
    }
    return out;
  }
}
