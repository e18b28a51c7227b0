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
//  - The blaster behaves as the clients would after their handshake: it carries on each call's GRE
//    sequence numbers where the load generator left them (a receiver drops numbers it has seen), and
//    in stateful MPPE it answers the forwarder's CCP Reset-Requests by flushing its next packet
//    (RFC 3078 §8; the C forwarder sends them too). Its socket receives only CCP frames. Each
//    upstream trial uses sessions of its own (TRIALS_PER_SEARCH), so an overloaded trial's
//    desynchronised MPPE keys never spoil a later one.
//  - Forwarder (server or C) pinned to CPU 0, traffic tools to CPU 1. The figure is the RFC 2544
//    throughput: the highest paced rate delivered with <= 0.5 % loss (doubling, then bisection,
//    1-s trials; a rate fails when two trials in a row lose); `per-core` divides it by the forwarder's CPU use in that trial (utime+stime / wall).
//  - A `portico-mt` phase (the two-core target: 1.3x the single-core C forwarder with 100 sessions): the server with `dataPlane: { threads: N }`
//    on CPUs 0 and 1 (traffic tools still on CPU 1), figures `...-mt-pps` against the single-core C
//    forwarder. N = the CPUs this process may use (at most 2: the lab pins to CPUs 0-1);
//    PORTICO_BENCH_DP_THREADS=N sets it, 1 leaves the phase out. PORTICO_BENCH_DP_ONLY selects a subset (see ONLY),
//    PORTICO_BENCH_DP_DEBUG=1 prints the kernel counters along the path per trial.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coveringPrefixLength, parseIpv4 } from '../config/Ipv4.js';
import { DEFAULT_TUN_QUEUE_LENGTH } from '../config/PorticoConfig.js';
import { BenchLab, CLIENT_IP, LOAD_GENERATOR, SERVER_IP, benchNodeFlags, cpuSeconds, machineCpuSeconds } from './BenchLab.js';
import { emitFigure } from './Figures.js';

const TRIAL_SECONDS = Number(process.env.PORTICO_BENCH_DP_SECONDS ?? 1);
const START_RATE = 20_000;
const MAX_RATE = 1_280_000;
const BISECTIONS = 4;
/** Loss allowed in a passing trial (kernel queues at trial start and end). */
const MAX_LOSS = 0.005;
const SIZES = [1400, 64];
const SESSION_COUNTS = [1, 100];
/**
 * Every upstream trial runs on sessions no earlier trial touched. An overloaded trial can leave MPPE
 * keys out of step for good, in both forwarders alike: stateless after > 2048 consecutive losses of
 * one session, stateful after > 4096 (the flag-packet count wraps) or as soon as a packet flushed for
 * a Reset-Request is lost (Linux's reading of RFC 3078 §8: that flush was a key change the receiver never
 * counts). A search that reused its sessions would measure that wreck in its later trials.
 */
const TRIALS_PER_SEARCH = 2 * (Math.floor(Math.log2(MAX_RATE / START_RATE)) + 1 + BISECTIONS); // x2: a lossy trial is repeated once
const SEARCH_SESSIONS = SESSION_COUNTS.reduce((a, n) => a + n * TRIALS_PER_SEARCH, 0);
/**
 * Downstream trials send to sessions of their own after the upstream ones: an upstream trial's
 * desynchronised keys make the server decrypt garbage, which its control-frame budget refuses until the
 * session is ended as a flood (in some runs before the downstream search reached it: 0 packets/s).
 */
const DOWNSTREAM_FIRST = SIZES.length * SEARCH_SESSIONS;
/** Sessions per MPPE mode (and per portico phase). */
const KEY_SESSIONS = DOWNSTREAM_FIRST + Math.max(...SESSION_COUNTS);
/** First session (index in the keys file) of the upstream search (size, n)'s trial number `t`. */
function upstreamFirst(size: number, n: number, t: number): number {
  let first = SIZES.indexOf(size) * SEARCH_SESSIONS;
  for (const m of SESSION_COUNTS) {
    if (m === n) break;
    first += m * TRIALS_PER_SEARCH;
  }
  return first + Math.min(t, TRIALS_PER_SEARCH - 1) * n;
}
const POOL = { start: '10.99.0.10', end: '10.99.63.250' };
const MODES = ['stateless', 'stateful'] as const;

/**
 * PORTICO_BENCH_DP_ONLY="stateless,up,1400,100,portico": a subset to iterate on. Tokens are modes
 * (stateless, stateful), directions (up, down), sizes (1400, 64), session counts (1, 100) and
 * implementations (portico, portico-mt, c); a dimension without a token keeps all its values. Unset = everything.
 */
const ONLY = new Set(
  (process.env.PORTICO_BENCH_DP_ONLY ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== ''),
);
function selected<T extends string | number>(values: readonly T[]): T[] {
  const picked = values.filter((v) => ONLY.has(String(v)));
  return picked.length > 0 ? picked : [...values];
}
const TUN_ADDRESS = '10.99.0.1';
/** TUN queue of both forwarders (the server's config and the C forwarder's TUN): PORTICO_BENCH_TUN_QUEUE, else the server's default. */
const TUN_QUEUE_LENGTH = Number(process.env.PORTICO_BENCH_TUN_QUEUE ?? DEFAULT_TUN_QUEUE_LENGTH);

/**
 * PORTICO_BENCH_DP_DEBUG=1: per trial, the kernel counters between the blaster and the forwarder
 * (both veth ends, IP/raw-socket statistics of both namespaces, backlog drops, ARP) to stderr.
 */
const DEBUG = process.env.PORTICO_BENCH_DP_DEBUG === '1';

/** Counters along the upstream path, as name → value; diffed per trial. */
function pathCounters(lab: BenchLab, tunDev: string): Map<string, number> {
  const out = new Map<string, number>();
  // The TUN's tx_dropped: packets the kernel routed to the forwarder while its queue (txqueuelen) was full.
  const tun = lab.exec(lab.serverNs, ['sh', '-c', `cd /sys/class/net/${tunDev}/statistics 2>/dev/null && grep -H . rx_packets rx_dropped tx_packets tx_dropped || true`]);
  for (const m of tun.matchAll(/^(\w+):(\d+)$/gm)) out.set(`s.tun.${m[1]}`, Number(m[2]));
  const vc = `${lab.vethServer.slice(0, -1)}c`;
  for (const [ns, tag, dev] of [
    [lab.clientNs, 'c', vc],
    [lab.serverNs, 's', lab.vethServer],
  ] as const) {
    const text = lab.exec(ns, ['sh', '-c', `cd /sys/class/net/${dev}/statistics && grep -H . rx_packets rx_dropped tx_packets tx_dropped; cat /proc/net/snmp /proc/net/netstat`]);
    for (const m of text.matchAll(/^(\w+):(\d+)$/gm)) out.set(`${tag}.veth.${m[1]}`, Number(m[2]));
    // /proc/net/snmp and netstat: a header line of names, then a line of values, per protocol.
    const lines = text.split('\n').filter((l) => /^[A-Za-z]+: /.test(l));
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const vals = lines[i + 1]!.split(/\s+/);
      if (names[0] !== vals[0]) continue;
      for (let k = 1; k < names.length; k++) out.set(`${tag}.${names[0]}${names[k]}`, Number(vals[k]));
    }
    const raw = lab.exec(ns, ['cat', '/proc/net/raw']);
    let drops = 0;
    let rxq = 0;
    for (const l of raw.split('\n').slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f.length < 13) continue;
      rxq += parseInt(f[4]!.split(':')[1]!, 16);
      drops += Number(f[f.length - 1]);
    }
    out.set(`${tag}.raw.drops`, drops);
    out.set(`${tag}.raw.rxqueue`, rxq);
  }
  const softnet = readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n');
  softnet.forEach((l, cpu) => {
    const f = l.split(/\s+/);
    out.set(`softnet.cpu${cpu}.processed`, parseInt(f[0]!, 16));
    out.set(`softnet.cpu${cpu}.dropped`, parseInt(f[1]!, 16));
    out.set(`softnet.cpu${cpu}.squeezed`, parseInt(f[2]!, 16));
  });
  const arp = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n');
  const names = arp[0]!.split(/\s+/);
  for (let k = 0; k < names.length; k++) {
    let sum = 0;
    for (const l of arp.slice(1)) sum += parseInt(l.split(/\s+/)[k]!, 16);
    out.set(`arp.${names[k]}`, sum);
  }
  return out;
}

function diffCounters(a: Map<string, number>, b: Map<string, number>): string {
  const parts: string[] = [];
  for (const [k, v] of b) {
    const d = k.endsWith('rxqueue') ? v : v - (a.get(k) ?? 0);
    if (d !== 0 && !/InOctets|OutOctets|Octets|Time|Timer|Rto|Max|Min|Forwarding|DefaultTTL|entries/.test(k)) parts.push(`${k}=${d}`);
  }
  return parts.join(' ');
}

/** The server's data-plane counters and its sessions' summed counters (SIGUSR2 status line). */
async function serverCounters(lab: BenchLab): Promise<string> {
  process.kill(lab.serverPid(), 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 500));
  const line = lab
    .serverLog()
    .split('\n')
    .reverse()
    .find((l) => l.includes('"status"'));
  if (!line) return 'no status line';
  const status = JSON.parse(line) as { counters?: unknown; sessions?: Array<{ counters: Record<string, number> }> };
  const sum: Record<string, number> = {};
  for (const sess of status.sessions ?? []) for (const [k, v] of Object.entries(sess.counters)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  return JSON.stringify({ dataPlane: status.counters, sessions: sum });
}

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
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
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
  /** Cores the whole machine was busy (forwarder, traffic tools, kernel) and lost to steal. */
  machine?: { busy: number; steal: number };
}

type Direction = 'up' | 'down';
/** portico-mt: the server with `dataPlane: { threads: N }` on both CPUs (PORTICO_BENCH_DP_THREADS=N). */
type Impl = 'portico' | 'portico-mt' | 'c';
const MT_THREADS = Number(process.env.PORTICO_BENCH_DP_THREADS ?? Math.min(availableParallelism(), 2));

export async function dataplaneBench(): Promise<void> {
  const fwd = buildForwarder();
  const lab = new BenchLab('dp');
  const results = new Map<string, Measure>();
  const key = (impl: Impl, mode: string, size: number, n: number, dir: Direction) => `${impl}|${mode}|${size}|${n}|${dir}`;
  const prefix = coveringPrefixLength([parseIpv4(TUN_ADDRESS), parseIpv4(POOL.start), parseIpv4(POOL.end)]);
  // Every child, so that a failing run leaves no load generator holding thousands of sessions behind.
  const children: ChildProcess[] = [];
  const spawnIn = (ns: string, args: string[], cpu?: number): ChildProcess => {
    const c = lab.spawnIn(ns, args, cpu);
    children.push(c);
    return c;
  };
  try {
    lab.up();
    lab.exec(lab.serverNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    lab.exec(lab.serverNs, ['ip', 'route', 'add', 'blackhole', '198.18.1.0/24']);
    for (const mode of selected(MODES)) {
      let gen: ChildProcess | null = null;
      let keys = '';
      // A fresh server and fresh sessions (the load generator's handshakes) for each portico phase;
      // the C forwarder takes over the last phase's sessions once the server is stopped.
      const startPortico = async (impl: Impl): Promise<void> => {
        await stopChild(gen);
        await lab.stopServer();
        const mt = impl === 'portico-mt';
        keys = join(lab.dir, `keys-${mode}-${impl}.txt`);
        lab.writeConfig(
          { lcpEchoInterval: 0, mppeMode: mode === 'stateless' ? 'stateless' : 'prefer-stateful', tunQueueLength: TUN_QUEUE_LENGTH, ...(mt ? { dataPlaneThreads: MT_THREADS } : {}) },
          POOL,
        );
        await lab.startServer({ cpu: mt ? '0,1' : 0, nodeFlags: profileFlags(`${mode}-${impl}`) });
        gen = spawnIn(
          lab.clientNs,
          [process.execPath, LOAD_GENERATOR, '--mode', 'keys', '--sessions', String(KEY_SESSIONS), '--concurrency', '32', '--stateless', mode === 'stateless' ? '1' : '0', '--out', keys],
          1,
        );
        const ramped = JSON.parse((await waitLine(gen, /^\{"event":"ramped".*/, 120_000))[0]) as { up: number; failures: unknown; seconds: number };
        if (ramped.up !== KEY_SESSIONS) throw new Error(`${impl}: ${ramped.up} of ${KEY_SESSIONS} sessions up: ${JSON.stringify(ramped.failures)}`);
        await waitLine(gen, /"event":"keys"/);
        process.stderr.write(`dataplane ${impl} ${mode}: ${KEY_SESSIONS} sessions up in ${ramped.seconds.toFixed(1)} s\n`);
      };
      for (const impl of selected<Impl>(MT_THREADS > 1 ? ['portico', 'portico-mt', 'c'] : ['portico', 'c'])) {
        let forwarder: ChildProcess | null = null;
        let pid: number;
        let tunDev: string;
        if (impl !== 'c') {
          await startPortico(impl);
          pid = lab.serverPid();
          tunDev = 'pbtun0';
        } else {
          if (keys === '') await startPortico('portico'); // C alone: the sessions still come from a server

          await lab.stopServer(); // frees CPU 0 and the raw GRE socket; the C forwarder takes the sessions over
          forwarder = spawnIn(lab.serverNs, [fwd, 'forward', '--tun', 'pbtun1', '--keys', keys, '--local', SERVER_IP, '--peer', CLIENT_IP], 0);
          await waitLine(forwarder, /^ready/);
          lab.exec(lab.serverNs, ['ip', 'addr', 'add', `${TUN_ADDRESS}/${prefix}`, 'dev', 'pbtun1']);
          // The same TUN queue as the server's (tun.queueLength): only the forwarders differ.
          lab.exec(lab.serverNs, ['ip', 'link', 'set', 'pbtun1', 'mtu', '1500', 'txqueuelen', String(TUN_QUEUE_LENGTH), 'up']);
          pid = forwarder.pid!;
          tunDev = 'pbtun1';
        }
        // Correctness first: a short downstream burst must decrypt at the client with the session keys.
        const verify = spawnIn(lab.clientNs, [fwd, 'sink', '--keys', keys, '--local', CLIENT_IP, '--seconds', '0', '--verify'], 1);
        await waitLine(verify, /^ready/);
        spawnIn(lab.serverNs, [fwd, 'udpblast', '--keys', keys, '--size', '200', '--first', String(DOWNSTREAM_FIRST), '--sessions', '100', '--seconds', '0.05'], 1);
        await new Promise((r) => setTimeout(r, 500));
        const checked = waitLine(verify, /^received (\d+) verified (\d+)/);
        verify.kill('SIGTERM');
        const v = await checked;
        process.stderr.write(`dataplane ${impl} ${mode}: verification burst received ${v[1]}, decrypted to valid IPv4 ${v[2]}\n`);
        emitFigure({ bench: 'dataplane', figure: `${impl}-${mode}-downstream-verified`, value: Number(v[2]), unit: `of ${v[1]} packets` });

        const sink = spawnIn(lab.clientNs, [fwd, 'sink', '--keys', keys, '--local', CLIENT_IP, '--seconds', '0'], 1);
        await waitLine(sink, /^ready/);
        const blaster = spawnIn(lab.clientNs, [fwd, 'blast', '--keys', keys, '--server', SERVER_IP], 1);
        await waitLine(blaster, /^ready/);
        // One paced trial: offered and delivered packets/s, the forwarder's CPU.
        const trial = async (dir: Direction, size: number, n: number, rate: number, t: number): Promise<Measure> => {
          const [dev, stat] = dir === 'up' ? [tunDev, 'rx_packets'] : [lab.vethServer, 'tx_packets'];
          const k0 = DEBUG ? pathCounters(lab, tunDev) : null;
          const c0 = lab.counter(lab.serverNs, dev, stat);
          const cpu0 = cpuSeconds(pid);
          const m0 = machineCpuSeconds();
          const t0 = performance.now();
          let sent: number;
          let sentInfo = '';
          if (dir === 'up') {
            const line = waitLine(blaster, /^sent (\d+).*/, (TRIAL_SECONDS + 30) * 1000);
            blaster.stdin!.write(`${size} ${upstreamFirst(size, n, t)} ${n} ${TRIAL_SECONDS} ${rate}\n`);
            const l = await line;
            sent = Number(l[1]);
            sentInfo = l[0];
            const failed = /failed (\d+).*errno (\d+)/.exec(l[0]);
            if (failed && failed[1] !== '0') process.stderr.write(`  blaster: ${failed[1]} packets not taken by sendmmsg (errno ${failed[2]}) at ${rate}/s\n`);
          } else {
            const ub = spawnIn(
              lab.serverNs,
              [fwd, 'udpblast', '--keys', keys, '--size', String(size), '--first', String(DOWNSTREAM_FIRST), '--sessions', String(n), '--seconds', String(TRIAL_SECONDS), '--rate', String(rate)],
              1,
            );
            sent = Number((await waitLine(ub, /^sent (\d+)/, (TRIAL_SECONDS + 30) * 1000))[1]);
          }
          await new Promise((r) => setTimeout(r, 150)); // what is queued still counts
          const wall = (performance.now() - t0) / 1000;
          const cpu = (cpuSeconds(pid) - cpu0) / wall;
          const m1 = machineCpuSeconds();
          const machine = { busy: (m1.busy - m0.busy) / wall, steal: (m1.steal - m0.steal) / wall };
          const delivered = lab.counter(lab.serverNs, dev, stat) - c0;
          if (k0)
            process.stderr.write(
              `  trial ${impl} ${dir} ${size}B ${n}s rate ${rate}: sent ${sent} delivered ${delivered} cpu ${cpu.toFixed(2)} | ${sentInfo}\n    ${diffCounters(k0, pathCounters(lab, tunDev))}\n`,
            );
          return { pps: delivered / TRIAL_SECONDS, cpu, offered: sent / TRIAL_SECONDS, loss: sent > 0 ? Math.max(0, 1 - delivered / sent) : 1, machine };
        };
        // RFC 2544 §26.1 throughput: the highest offered rate forwarded with (almost) no loss. Doubling
        // from START_RATE, then bisection. Overload is kept short: MPPE cannot recover from long loss
        // bursts (stateless: > 2048 packets; stateful: > 4096), so an unpaced flood measures the wreck.
        const search = async (dir: Direction, size: number, n: number): Promise<Measure> => {
          let best: Measure = { pps: 0, cpu: 0, offered: 0, loss: 1 };
          let lo = 0;
          let hi = 0;
          let t = 0; // trial number: upstream sessions of its own (TRIALS_PER_SEARCH)
          // A rate fails only when two trials in a row lose: on this shared 2-core machine one scheduling
          // hiccup of a few ms overflows a queue (seen as TUN tx_dropped at a third of the forwarder's
          // capacity) and would end the search far below the forwarder's rate, C and portico alike.
          const measure = async (rate: number): Promise<Measure> => {
            const m = await trial(dir, size, n, rate, t++);
            return m.loss > MAX_LOSS ? trial(dir, size, n, rate, t++) : m;
          };
          for (let rate = START_RATE; rate <= MAX_RATE; rate *= 2) {
            const m = await measure(rate);
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
            const m = await measure(rate);
            if (m.loss > MAX_LOSS) hi = rate;
            else {
              lo = rate;
              best = m;
            }
          }
          return best;
        };
        for (const size of selected(SIZES)) {
          for (const n of selected(SESSION_COUNTS)) {
            for (const dir of selected<Direction>(['up', 'down'])) {
              const m = await search(dir, size, n);
              results.set(key(impl, mode, size, n, dir), m);
              process.stderr.write(
                `dataplane ${impl} ${mode} ${size}B ${n} sessions ${dir}: ${Math.round(m.pps)} packets/s (offered ${Math.round(m.offered)}, loss ${(m.loss * 100).toFixed(2)} %), CPU ${m.cpu.toFixed(2)}${m.machine ? `, machine busy ${m.machine.busy.toFixed(2)} of ${cpus().length} cores, steal ${m.machine.steal.toFixed(2)}` : ''}${m.sourceLimited ? ' SOURCE-LIMITED' : ''}\n`,
              );
            }
          }
        }
        if (DEBUG && impl !== 'c') process.stderr.write(`  server counters: ${await serverCounters(lab)}\n`);
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
            const p = results.get(key('portico', mode, size, n, dir));
            const c = results.get(key('c', mode, size, n, dir));
            const mt = results.get(key('portico-mt', mode, size, n, dir));
            const name = `${mode}-${size}B-${n}s-${dir === 'up' ? 'upstream' : 'downstream'}`;
            const b = 'dataplane';
            if (mt && c) {
              // Both cores against the single-core C forwarder (the target: aggregate >= 1.3x with 100 sessions).
              emitFigure({ bench: b, figure: `${name}-mt-pps`, value: Math.round(mt.pps), unit: 'packets/s', baseline: Math.round(c.pps) });
              emitFigure({ bench: b, figure: `${name}-mt-cpu`, value: round2(mt.cpu), unit: 'cores', baseline: round2(c.cpu) });
            }
            if (!p || !c) continue; // not selected (PORTICO_BENCH_DP_ONLY)
            emitFigure({ bench: b, figure: `${name}-pps`, value: Math.round(p.pps), unit: 'packets/s', baseline: Math.round(c.pps) });
            emitFigure({ bench: b, figure: `${name}-mbps`, value: mbps(p.pps, size), unit: 'Mbit/s', baseline: mbps(c.pps, size) });
            emitFigure({ bench: b, figure: `${name}-cpu`, value: round2(p.cpu), unit: 'cores', baseline: round2(c.cpu) });
            emitFigure({ bench: b, figure: `${name}-pps-per-core`, value: Math.round(p.pps / p.cpu), unit: 'packets/s per core', baseline: Math.round(c.pps / c.cpu) });
          }
        }
      }
    }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await lab.down();
  }
}

/** PORTICO_BENCH_PROFILE=DIR: V8 CPU profiles; PORTICO_BENCH_NODE_FLAGS: more server flags (benchNodeFlags). */
function profileFlags(mode: string): string[] {
  const dir = process.env.PORTICO_BENCH_PROFILE;
  return [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=dataplane-${mode}.cpuprofile`] : []), ...benchNodeFlags()];
}

function mbps(pps: number, size: number): number {
  return Math.round((pps * size * 8) / 1e5) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
