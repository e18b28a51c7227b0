// The load generator process: runs N client sessions against a real `portico serve` from one
// process (one raw GRE socket, one TCP control connection per session). Run inside the client
// namespace by the benches; prints JSON lines on stdout:
//   {"event":"ramped",...} once every session is up or failed, {"event":"result",...} at the end.
// Modes:
//   setup  — bring N sessions up with at most C handshakes in flight; setup rate and latencies.
//   hold   — ramp to N, then keep them up for --hold seconds sending our own LCP Echo-Requests
//            (RTT percentiles = the server's reaction time) while the server's own echoes run.
//   keys   — bring N sessions up, write their call ids, addresses and MPPE start keys to --out
//            (for the data-plane blasters), then wait for SIGTERM.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseIpv4, formatIpv4 } from '../../config/Ipv4.js';
import { ClientGre } from './ClientGre.js';
import { PptpClientSession } from './PptpClientSession.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'setup' },
    server: { type: 'string', default: '198.18.0.1' },
    local: { type: 'string', default: '198.18.0.2' },
    port: { type: 'string', default: '1723' },
    user: { type: 'string', default: 'bench' },
    password: { type: 'string', default: 'bench-password' },
    sessions: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '64' },
    stateless: { type: 'string', default: '1' },
    hold: { type: 'string', default: '30' },
    'echo-interval': { type: 'string', default: '5' },
    out: { type: 'string' },
    lcp: { type: 'string', default: 'passive' },
  },
});

const N = Number(values.sessions);
const concurrency = Number(values.concurrency);
const serverAddr = parseIpv4(values.server!);
const gre = new ClientGre(parseIpv4(values.local!));

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sessions: PptpClientSession[] = [];
const setupMs: number[] = [];
const rtts: number[] = [];
const failures = new Map<string, number>();
let up = 0;
let failed = 0;
let droppedAfterUp = 0;
let started = 0;
let inFlight = 0;
let t0 = 0;

function ramp(): Promise<number> {
  return new Promise((resolve) => {
    const next = () => {
      while (inFlight < concurrency && started < N) {
        const s = new PptpClientSession(
          {
            server: values.server!,
            serverAddr,
            port: Number(values.port),
            username: values.user!,
            password: values.password!,
            callId: started + 1,
            stateless: values.stateless === '1',
            setupTimeoutMs: 30_000,
            lcpEager: values.lcp === 'eager',
          },
          gre,
          {
            up: (sess) => {
              up++;
              inFlight--;
              setupMs.push(sess.upAt - sess.startedAt);
              check();
            },
            failed: (sess, reason) => {
              const key = reason.replace(/\d+/g, 'N');
              failures.set(key, (failures.get(key) ?? 0) + 1);
              if (sess.upAt > 0) {
                droppedAfterUp++;
                return;
              }
              failed++;
              inFlight--;
              check();
            },
            echoRtt: (_s, ms) => rtts.push(ms),
          },
        );
        sessions.push(s);
        started++;
        inFlight++;
        s.start();
      }
    };
    const check = () => {
      if (up + failed === N) resolve((performance.now() - t0) / 1000);
      else next();
    };
    t0 = performance.now();
    next();
  });
}

const seconds = await ramp();
const rampCpu = process.cpuUsage();
setupMs.sort((a, b) => a - b);
const rampInfo = {
  event: 'ramped',
  sessions: N,
  up,
  failed,
  seconds,
  rate: up / seconds,
  setupMsP50: percentile(setupMs, 50),
  setupMsP99: percentile(setupMs, 99),
  failures: Object.fromEntries(failures),
  rampCpuSeconds: (rampCpu.user + rampCpu.system) / 1e6,
};
emit(rampInfo);

async function finish(extra: Record<string, unknown>): Promise<void> {
  for (const s of sessions) s.stop();
  await new Promise((r) => setTimeout(r, 500));
  gre.close();
  const cpu = process.cpuUsage();
  emit({ ...rampInfo, ...extra, event: 'result', gre: gre.counters, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  process.exit(0);
}

if (values.mode === 'setup') {
  await finish({});
} else if (values.mode === 'hold') {
  // Each session sends an Echo-Request every echo-interval seconds, spread evenly over the interval.
  const interval = Number(values['echo-interval']) * 1000;
  const live = sessions.filter((s) => s.isUp);
  const tickMs = 10;
  const perTick = Math.max(1, Math.ceil((live.length * tickMs) / interval));
  let cursor = 0;
  const ticker = setInterval(() => {
    for (let k = 0; k < perTick && live.length > 0; k++) live[cursor++ % live.length]!.sendEcho();
  }, tickMs);
  await new Promise((r) => setTimeout(r, Number(values.hold) * 1000));
  clearInterval(ticker);
  emit({ event: 'holding-done' });
  await new Promise((r) => setTimeout(r, 200));
  rtts.sort((a, b) => a - b);
  await finish({
    stillUp: sessions.filter((s) => s.isUp).length,
    droppedAfterUp,
    echoes: rtts.length,
    echoRttMsP50: percentile(rtts, 50),
    echoRttMsP99: percentile(rtts, 99),
    echoRttMsMax: rtts.length ? rtts[rtts.length - 1] : NaN,
  });
} else if (values.mode === 'keys') {
  // One line per session: callId peerCallId address sendKeyHex recvKeyHex stateless
  const lines = sessions
    .filter((s) => s.isUp)
    .map((s) => `${s.callId} ${s.peerCallId} ${formatIpv4(s.address)} ${s.keys!.sendKey.toString('hex')} ${s.keys!.recvKey.toString('hex')} ${s.mppeStateless ? 1 : 0}`);
  writeFileSync(values.out!, `${lines.join('\n')}\n`, { mode: 0o600 });
  // The data-plane tools take over GRE from here (the control connections stay with us).
  gre.close();
  emit({ event: 'keys', count: lines.length });
  process.on('SIGTERM', () => void finish({}));
  setInterval(() => {}, 1 << 30);
}
