// Latency added by the tunnel: ICMP echo round trips from the client namespace (a) to the server's
// veth address (plain path, the kernel answers) and (b) to the server's TUN address through one
// PPTP session (PPP/MPPE-128/GRE both ways through a real `portico serve`, the server kernel
// answers via the TUN). One pinger process (bench/client/IcmpPinger.c) alternates the targets
// with one clock at light load, so the only difference between (a) and (b) is the tunnel: our
// server's path both ways, plus the client's, which here is the load generator (Node MPPE + GRE,
// reached through a TUN in the client namespace) rather than a kernel PPP stack.
//
// The load generator times its own part of each echo, which splits the added latency:
//   inner RTT   = from its sendmmsg of the request to the reply reaching its JavaScript
//                 (veth both ways + the server's whole path + the load generator's GRE wake-up)
//   server side ≈ p50(inner) - p50(plain)          client side ≈ p50(tunnel) - p50(inner)
//   client work = its JavaScript per echo (copy + MPPE + headers out; GRE parse + MPPE in) and its two
//                 syscalls (sendmmsg, which carries the packet through veth into the server's socket
//                 queue; TUN write, which carries the reply up to the pinger's socket)
import { spawnSync } from 'node:child_process';
import { BenchLab, LOAD_GENERATOR, REFLECT_ADDRESS, SERVER_IP, TUN_ADDRESS, benchNodeFlags } from './BenchLab.js';
import { emitFigure } from './Figures.js';

/** Echo requests per second over the three targets (light load: each path gets a third). */
const RATE = Number(process.env.PORTICO_BENCH_LATENCY_RATE ?? 60);
/**
 * Busier rates measured after the light one, figures suffixed "-at-<per path>pps": the same echoes
 * 10 and 50 times as often show how much of the light-load figure is the machine waking up (the
 * plain kernel path slows down too when it idles between packets), not the work on the path.
 */
const SWEEP_RATES = (process.env.PORTICO_BENCH_LATENCY_SWEEP ?? '600,3000').split(',').filter(Boolean).map(Number);
const SWEEP_ROUNDS = Number(process.env.PORTICO_BENCH_LATENCY_SWEEP_SAMPLES ?? 3000);
/** Measured round trips per path and size. */
const ROUNDS = Number(process.env.PORTICO_BENCH_LATENCY_SAMPLES ?? 2000);
const WARMUP_ROUNDS = Number(process.env.PORTICO_BENCH_LATENCY_WARMUP ?? 3000);
/** ICMP data octets: 56 (ping's default, 84-octet IP packets) and 1372 (1400-octet IP packets). */
const PAYLOADS = (process.env.PORTICO_BENCH_LATENCY_PAYLOADS ?? '56,1372').split(',').map(Number);
const SERVER_TUN = 'pbtun0';
/** Target for the p50 added latency at light load, µs (reported beside the figure). */
export const ADDED_LATENCY_TARGET_US = 100;

interface PathStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export async function latencyBench(): Promise<void> {
  const lab = new BenchLab('lat');
  try {
    lab.up();
    lab.writeConfig({});
    await lab.startServer({ cpu: 0, nodeFlags: benchNodeFlags() });
    const pinger = lab.buildIcmpPinger();
    const lg = lab.spawnClient([process.execPath, LOAD_GENERATOR, '--mode', 'tunnel', '--sessions', '1', '--tunnel-peer', TUN_ADDRESS, '--reflect', REFLECT_ADDRESS], 1);
    const events = lg.events[Symbol.asyncIterator]();
    const next = async (name: string): Promise<Record<string, unknown>> => {
      for (;;) {
        const r = await events.next();
        if (r.done) throw new Error(`load generator ended before "${name}"`);
        if (r.value.event === name) return r.value;
        if (r.value.event === 'result') throw new Error(`load generator: ${JSON.stringify(r.value)}`);
      }
    };
    const ready = await next('tunnel-ready');
    process.stderr.write(`latency: session up, client address ${ready.address as string}, MPPE-128 ${ready.mppeStateless ? 'stateless' : 'stateful'}\n`);
    const clientStats = async () => {
      lg.child.stdin!.write('stats\n');
      return next('stats');
    };

    /** One pinger run at `rate` echoes per second over the three paths; its figures end in `suffix`. */
    const measure = async (size: string, suffix: string, rate: number, rounds: number, payload: number): Promise<void> => {
      const tunRx0 = lab.counter(lab.serverNs, SERVER_TUN, 'rx_packets');
      const tunTx0 = lab.counter(lab.serverNs, SERVER_TUN, 'tx_packets');
      const [plain, tunnel, reflect] = ping(lab, pinger, payload, rounds, rate);
      const tunRx = lab.counter(lab.serverNs, SERVER_TUN, 'rx_packets') - tunRx0;
      const tunTx = lab.counter(lab.serverNs, SERVER_TUN, 'tx_packets') - tunTx0;
      const c = await clientStats();
      const inner = c.innerRttUs as PathStats;
      const [enc, send, dec, tunWrite] = ['encryptUs', 'sendUs', 'decryptUs', 'tunWriteUs'].map((k) => c[k] as PathStats) as [PathStats, PathStats, PathStats, PathStats];
      process.stderr.write(
        `latency ${size}${suffix} (${Math.round(rate / 3)} echoes/s per path): plain ${fmt(plain)}; tunnel ${fmt(tunnel)}; reflected by the load generator ${fmt(reflect)}; load generator's view: inner RTT ${fmt(inner)}; ` +
          `its own work: encrypt ${fmt(enc)}, sendmmsg ${fmt(send)}, decrypt ${fmt(dec)}, TUN write ${fmt(tunWrite)} (µs); ` +
          `server TUN rx ${tunRx} tx ${tunTx} packets for ${tunnel.n} tunnel replies\n`,
      );
      // Every tunnel echo must have crossed the server's TUN both ways (and nothing else much).
      if (tunRx < tunnel.n || tunTx < tunnel.n) throw new Error(`server TUN counted rx ${tunRx} tx ${tunTx} for ${tunnel.n} tunnel echo replies`);
      const b = 'latency';
      emitFigure({ bench: b, figure: `plain-rtt-p50-${size}${suffix}`, value: round(plain.p50), unit: 'µs' });
      emitFigure({ bench: b, figure: `plain-rtt-p99-${size}${suffix}`, value: round(plain.p99), unit: 'µs' });
      emitFigure({ bench: b, figure: `tunnel-rtt-p50-${size}${suffix}`, value: round(tunnel.p50), unit: 'µs', baseline: round(plain.p50) });
      emitFigure({ bench: b, figure: `tunnel-rtt-p99-${size}${suffix}`, value: round(tunnel.p99), unit: 'µs', baseline: round(plain.p99) });
      emitFigure({ bench: b, figure: `added-latency-p50-${size}${suffix}`, value: round(tunnel.p50 - plain.p50), unit: 'µs' });
      emitFigure({ bench: b, figure: `added-latency-p99-${size}${suffix}`, value: round(tunnel.p99 - plain.p99), unit: 'µs' });
      emitFigure({ bench: b, figure: `added-latency-server-side-p50-${size}${suffix}`, value: round(inner.p50 - plain.p50), unit: 'µs' });
      emitFigure({ bench: b, figure: `added-latency-client-side-p50-${size}${suffix}`, value: round(tunnel.p50 - inner.p50), unit: 'µs' });
      // The load generator's JavaScript (MPPE + GRE/PPP both ways) and its two syscalls, per echo.
      emitFigure({ bench: b, figure: `client-js-per-echo-p50-${size}${suffix}`, value: round(enc.p50 + dec.p50), unit: 'µs' });
      emitFigure({ bench: b, figure: `client-syscalls-per-echo-p50-${size}${suffix}`, value: round(send.p50 + tunWrite.p50), unit: 'µs' });
      // Reference: one TUN hop through a Node process with our addon, nothing else (no server, no MPPE).
      emitFigure({ bench: b, figure: `reflect-rtt-p50-${size}${suffix}`, value: round(reflect.p50), unit: 'µs', baseline: round(plain.p50) });
      emitFigure({ bench: b, figure: `samples-${size}${suffix}`, value: Math.min(plain.n, tunnel.n), unit: 'round trips per path' });
    };

    for (const payload of PAYLOADS) {
      const size = `${payload + 28}B`;
      ping(lab, pinger, payload, WARMUP_ROUNDS, 1000); // JIT (both processes optimise their data path), ARP, caches
      await clientStats();
      for (const rate of [RATE, ...SWEEP_RATES]) {
        const suffix = rate === RATE ? '' : `-at-${Math.round(rate / 3)}pps`;
        await measure(size, suffix, rate, rate === RATE ? ROUNDS : SWEEP_ROUNDS, payload);
      }
    }
    process.stderr.write(`latency: target p50 added <= ${ADDED_LATENCY_TARGET_US} µs at light load\n`);
    lg.child.kill('SIGTERM');
    await next('result').catch(() => undefined);
  } finally {
    await lab.down();
  }
}

/** Runs the pinger in the client namespace (CPU 1, beside the load generator): [plain, tunnel, reflect] in µs. */
function ping(lab: BenchLab, pinger: string, payload: number, rounds: number, rate: number): [PathStats, PathStats, PathStats] {
  const r = spawnSync('ip', ['netns', 'exec', lab.clientNs, 'taskset', '-c', '1', pinger, String(rate), String(rounds), String(payload), SERVER_IP, TUN_ADDRESS, REFLECT_ADDRESS], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`pinger failed: ${r.stderr}`);
  const rtts: [number[], number[], number[]] = [[], [], []];
  for (const line of r.stdout.split('\n')) {
    const m = /^R (\d) (\d+) (\d+)$/.exec(line);
    if (m) rtts[Number(m[1]) as 0 | 1 | 2].push(Number(m[3]) / 1000);
  }
  const done = /DONE (\d+) (\d+)/.exec(r.stdout);
  if (!done || Number(done[2]) < Number(done[1]) * 0.99) process.stderr.write(`latency: pinger ${done?.[0] ?? 'no DONE line'} (replies missing)\n`);
  return [stats(rtts[0]), stats(rtts[1]), stats(rtts[2])];
}

function stats(xs: number[]): PathStats {
  const v = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]!);
  return { n: v.length, p50: at(50), p90: at(90), p99: at(99), max: v.length ? v[v.length - 1]! : NaN };
}

function fmt(s: PathStats): string {
  return `p50 ${round(s.p50)} p90 ${round(s.p90)} p99 ${round(s.p99)}${s.max !== undefined ? ` max ${round(s.max)}` : ''} (n ${s.n})`;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
