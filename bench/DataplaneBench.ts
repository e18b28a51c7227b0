// Data plane: packets/s, Mbit/s and CPU of the server's data path against the C reference forwarder
// (bench/c/forwarder.c, built here with cc), measured in the same run on the same core with the same
// traffic. Method:
//  - Sessions are real: the load generator runs the whole handshake with `portico serve` (100
//    sessions, MPPE-128 stateless or stateful) and writes the MPPE start keys it derived; the C tools
//    reuse them. The C forwarder then serves the same sessions with the same keys.
//  - Upstream (client → server → TUN): the C blaster plays the clients (GRE + PPP + MPPE encryption,
//    one key change per packet when stateless) from the client namespace; the forwarder decrypts and
//    writes to its TUN, whose kernel rx_packets counter is the figure (the packets go to a blackhole).
//  - Downstream (TUN → server → client): a C UDP sender in the server namespace sends to the session
//    addresses; the forwarder reads its TUN, encrypts and sends GRE; the server-side veth tx_packets
//    is the figure; a C sink drains GRE in the client namespace.
//  - Forwarder (server or C) pinned to CPU 0, traffic tools to CPU 1. The figure is the RFC 2544
//    throughput: the highest paced rate delivered with <= 0.5 % loss (doubling, then bisection,
//    1-s trials); `per-core` divides it by the forwarder's CPU use in that trial (utime+stime / wall).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coveringPrefixLength, parseIpv4 } from '../config/Ipv4.js';
import { BenchLab, CLIENT_IP, LOAD_GENERATOR, SERVER_IP, cpuSeconds } from './BenchLab.js';
import { emitFigure } from './Figures.js';

const TRIAL_SECONDS = Number(process.env.PORTICO_BENCH_DP_SECONDS ?? 1);
const START_RATE = 20_000;
const MAX_RATE = 1_280_000;
const BISECTIONS = 4;
/** Sessions per MPPE mode: one disjoint range per upstream search (sizes × (1 + 100)). */
const KEY_SESSIONS = 2 * (1 + 100);
function upstreamFirst(size: number, n: number): number {
  return SIZES.indexOf(size) * 101 + (n === 1 ? 0 : 1);
}
/** Loss allowed in a passing trial (kernel queues at trial start and end). */
const MAX_LOSS = 0.005;
const SIZES = [1400, 64];
const SESSION_COUNTS = [1, 100];
const POOL = { start: '10.100.0.10', end: '10.100.63.250' };
const TUN_ADDRESS = '10.99.0.1';

function buildForwarder(): string {
  const src = fileURLToPath(new URL('../../bench/c/forwarder.c', import.meta.url));
  const dir = process.env.PORTICO_BENCH_DEPS ?? '/var/cache/portico-bench';
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, 'forwarder');
  const r = spawnSync('cc', ['-O2', '-march=native', '-Wall', '-o', bin, src, '-lcrypto'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build the C forwarder (needs libssl-dev): ${r.stderr}`);
  return bin;
}

/** Reads lines from a child's stdout until one matches. */
function waitLine(child: ChildProcess, re: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}`)), timeoutMs);
    const onExit = () => reject(new Error(`process exited while waiting for ${re}`));
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = re.exec(line);
        if (m) {
          clearTimeout(t);
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
          resolve(m);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

async function stopChild(c: ChildProcess | null): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

interface Measure {
  pps: number;
  cpu: number; // cores
  /** What the traffic source managed to send, packets/s. */
  offered: number;
  loss: number;
  sourceLimited?: boolean;
}

type Direction = 'up' | 'down';
type Impl = 'portico' | 'c';

export async function dataplaneBench(): Promise<void> {
  const fwd = buildForwarder();
  const lab = new BenchLab('dp');
  const results = new Map<string, Measure>();
  const key = (impl: Impl, mode: string, size: number, n: number, dir: Direction) => `${impl}|${mode}|${size}|${n}|${dir}`;
  const prefix = coveringPrefixLength([parseIpv4(TUN_ADDRESS), parseIpv4(POOL.start), parseIpv4(POOL.end)]);
  try {
    lab.up();
    lab.exec(lab.serverNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    lab.exec(lab.serverNs, ['ip', 'route', 'add', 'blackhole', '198.18.1.0/24']);
    for (const mode of ['stateless', 'stateful'] as const) {
      const keys = join(lab.dir, `keys-${mode}.txt`);
      lab.writeConfig({ lcpEchoInterval: 0, mppeMode: mode === 'stateless' ? 'stateless' : 'prefer-stateful' }, POOL);
      await lab.startServer({ cpu: 0, nodeFlags: profileFlags(mode) });
      const gen = lab.spawnIn(lab.clientNs, [process.execPath, LOAD_GENERATOR, '--mode', 'keys', '--sessions', String(KEY_SESSIONS), '--concurrency', '32',
        '--stateless', mode === 'stateless' ? '1' : '0', '--out', keys], 1);
      await waitLine(gen, new RegExp(`"event":"keys","count":${KEY_SESSIONS}\\b`));
      for (const impl of ['portico', 'c'] as Impl[]) {
        let forwarder: ChildProcess | null = null;
        let pid: number;
        let tunDev: string;
        if (impl === 'portico') {
          pid = lab.serverPid();
          tunDev = 'pbtun0';
        } else {
          await lab.stopServer(); // frees CPU 0 and the raw GRE socket; the C forwarder takes the sessions over
          forwarder = lab.spawnIn(lab.serverNs, [fwd, 'forward', '--tun', 'pbtun1', '--keys', keys, '--local', SERVER_IP, '--peer', CLIENT_IP], 0);
          await waitLine(forwarder, /^ready/);
          lab.exec(lab.serverNs, ['ip', 'addr', 'add', `${TUN_ADDRESS}/${prefix}`, 'dev', 'pbtun1']);
          lab.exec(lab.serverNs, ['ip', 'link', 'set', 'pbtun1', 'mtu', '1500', 'up']);
          pid = forwarder.pid!;
          tunDev = 'pbtun1';
        }
        // Correctness first: a short downstream burst must decrypt at the client with the session keys.
        const verify = lab.spawnIn(lab.clientNs, [fwd, 'sink', '--keys', keys, '--local', CLIENT_IP, '--seconds', '0', '--verify'], 1);
        await waitLine(verify, /^ready/);
        lab.spawnIn(lab.serverNs, [fwd, 'udpblast', '--keys', keys, '--size', '200', '--sessions', '100', '--seconds', '0.05'], 1);
        await new Promise((r) => setTimeout(r, 500));
        const checked = waitLine(verify, /^received (\d+) verified (\d+)/);
        verify.kill('SIGTERM');
        const v = await checked;
        process.stderr.write(`dataplane ${impl} ${mode}: verification burst received ${v[1]}, decrypted to valid IPv4 ${v[2]}\n`);
        emitFigure({ bench: 'dataplane', figure: `${impl}-${mode}-downstream-verified`, value: Number(v[2]), unit: `of ${v[1]} packets` });

        const sink = lab.spawnIn(lab.clientNs, [fwd, 'sink', '--keys', keys, '--local', CLIENT_IP, '--seconds', '0'], 1);
        await waitLine(sink, /^ready/);
        const blaster = lab.spawnIn(lab.clientNs, [fwd, 'blast', '--keys', keys, '--server', SERVER_IP], 1);
        await waitLine(blaster, /^ready/);
        // One paced trial: offered and delivered packets/s, the forwarder's CPU.
        const trial = async (dir: Direction, size: number, n: number, rate: number): Promise<Measure> => {
          const [dev, stat] = dir === 'up' ? [tunDev, 'rx_packets'] : [lab.vethServer, 'tx_packets'];
          const c0 = lab.counter(lab.serverNs, dev, stat);
          const cpu0 = cpuSeconds(pid);
          const t0 = performance.now();
          let sent: number;
          if (dir === 'up') {
            const line = waitLine(blaster, /^sent (\d+)/, (TRIAL_SECONDS + 30) * 1000);
            // Each upstream search has sessions of its own: a failed trial may leave their MPPE keys out of step.
            blaster.stdin!.write(`${size} ${upstreamFirst(size, n)} ${n} ${TRIAL_SECONDS} ${rate}\n`);
            sent = Number((await line)[1]);
          } else {
            const ub = lab.spawnIn(lab.serverNs, [fwd, 'udpblast', '--keys', keys, '--size', String(size), '--sessions', String(n), '--seconds', String(TRIAL_SECONDS), '--rate', String(rate)], 1);
            sent = Number((await waitLine(ub, /^sent (\d+)/, (TRIAL_SECONDS + 30) * 1000))[1]);
          }
          await new Promise((r) => setTimeout(r, 150)); // what is queued still counts
          const wall = (performance.now() - t0) / 1000;
          const cpu = (cpuSeconds(pid) - cpu0) / wall;
          const delivered = lab.counter(lab.serverNs, dev, stat) - c0;
          return { pps: delivered / TRIAL_SECONDS, cpu, offered: sent / TRIAL_SECONDS, loss: sent > 0 ? Math.max(0, 1 - delivered / sent) : 1 };
        };
        // RFC 2544 §26.1 throughput: the highest offered rate forwarded with (almost) no loss. Doubling
        // from START_RATE, then bisection. Overload is kept short: MPPE cannot recover from long loss
        // bursts (stateless: > 2048 packets; stateful: > 4096), so an unpaced flood measures the wreck.
        const search = async (dir: Direction, size: number, n: number): Promise<Measure> => {
          let best: Measure = { pps: 0, cpu: 0, offered: 0, loss: 1 };
          let lo = 0;
          let hi = 0;
          for (let rate = START_RATE; rate <= MAX_RATE; rate *= 2) {
            const m = await trial(dir, size, n, rate);
            if (m.loss > MAX_LOSS) {
              hi = rate;
              break;
            }
            lo = rate;
            best = m;
            if (m.offered < 0.9 * rate) {
              best.sourceLimited = true; // the traffic tool, not the forwarder, is the limit
              return best;
            }
          }
          if (hi === 0) return best;
          for (let i = 0; i < BISECTIONS; i++) {
            const rate = Math.round((lo + hi) / 2);
            const m = await trial(dir, size, n, rate);
            if (m.loss > MAX_LOSS) hi = rate;
            else {
              lo = rate;
              best = m;
            }
          }
          return best;
        };
        for (const size of SIZES) {
          for (const n of SESSION_COUNTS) {
            for (const dir of ['up', 'down'] as Direction[]) {
              const m = await search(dir, size, n);
              results.set(key(impl, mode, size, n, dir), m);
              process.stderr.write(`dataplane ${impl} ${mode} ${size}B ${n} sessions ${dir}: ${Math.round(m.pps)} packets/s (offered ${Math.round(m.offered)}, loss ${(m.loss * 100).toFixed(2)} %), CPU ${m.cpu.toFixed(2)}${m.sourceLimited ? ' SOURCE-LIMITED' : ''}\n`);
            }
          }
        }
        blaster.stdin!.end();
        await stopChild(blaster);
        await stopChild(sink);
        await stopChild(forwarder);
      }
      await stopChild(gen);
      await lab.stopServer();
    }
    for (const mode of ['stateless', 'stateful']) {
      for (const size of SIZES) {
        for (const n of SESSION_COUNTS) {
          for (const dir of ['up', 'down'] as Direction[]) {
            const p = results.get(key('portico', mode, size, n, dir))!;
            const c = results.get(key('c', mode, size, n, dir))!;
            const name = `${mode}-${size}B-${n}s-${dir === 'up' ? 'upstream' : 'downstream'}`;
            const b = 'dataplane';
            emitFigure({ bench: b, figure: `${name}-pps`, value: Math.round(p.pps), unit: 'packets/s', baseline: Math.round(c.pps) });
            emitFigure({ bench: b, figure: `${name}-mbps`, value: mbps(p.pps, size), unit: 'Mbit/s', baseline: mbps(c.pps, size) });
            emitFigure({ bench: b, figure: `${name}-cpu`, value: round2(p.cpu), unit: 'cores', baseline: round2(c.cpu) });
            emitFigure({ bench: b, figure: `${name}-pps-per-core`, value: Math.round(p.pps / p.cpu), unit: 'packets/s per core', baseline: Math.round(c.pps / c.cpu) });
          }
        }
      }
    }
  } finally {
    await lab.down();
  }
}

function profileFlags(mode: string): string[] {
  const dir = process.env.PORTICO_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=dataplane-${mode}.cpuprofile`] : [];
}

function mbps(pps: number, size: number): number {
  return Math.round((pps * size * 8) / 1e5) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
