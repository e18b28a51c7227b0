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
//    upstream trial uses sessions of its own (MAX_TRIALS), so an overloaded trial's
//    desynchronised MPPE keys never spoil a later one.
//  - Forwarder (server or C) pinned to CPU 0, traffic tools to CPU 1. The figure is the RFC 2544
//    throughput (bench/ThroughputSearch.ts): the highest paced rate delivered with <= 0.5 % loss
//    (doubling, then bisection, 1-s trials; a rate fails when two trials in a row lose); `per-core`
//    divides it by the forwarder's CPU use in that trial (utime+stime / wall).
//  - Downstream, the two forwarders take turns trial by trial (INTERLEAVE): the C forwarder runs beside
//    the server, host routes to the trial sessions' addresses send the traffic into its TUN on its turns,
//    and the forwarder whose turn it is not is stopped (SIGSTOP). Upstream needs the server gone (both
//    would take the blaster's GRE), so there the C forwarder runs after the server, as it always did.
//  - A `portico-mt` phase (the two-core target: 1.3x the single-core C forwarder with 100 sessions): the server with `dataPlane: { threads: N }`
//    on CPUs 0 and 1 (traffic tools still on CPU 1), figures `...-mt-pps` against the single-core C
//    forwarder. N = the CPUs this process may use (at most 2: the lab pins to CPUs 0-1);
//    PORTICO_BENCH_DP_THREADS=N sets it, 1 leaves the phase out. PORTICO_BENCH_DP_ONLY selects a subset (see ONLY),
//    PORTICO_BENCH_DP_DEBUG=1 prints the kernel counters along the path per trial.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coveringPrefixLength, parseIpv4 } from '../config/Ipv4.js';
import { DEFAULT_TUN_QUEUE_LENGTH } from '../config/PorticoConfig.js';
import { BenchLab, CLIENT_IP, LOAD_GENERATOR, POOL, SERVER_IP, TUN_ADDRESS, benchNodeFlags, cpuSeconds, machineCpuSeconds } from './BenchLab.js';
import { emitFigure } from './Figures.js';
import { MAX_TRIALS, type Measure, throughputSearch } from './ThroughputSearch.js';

const TRIAL_SECONDS = Number(process.env.PORTICO_BENCH_DP_SECONDS ?? 1);
/**
 * Downstream, the C forwarder runs beside the server and the two take turns trial by trial (routes to the
 * session addresses moved between their TUNs; the one not under test stopped with SIGSTOP): the host's
 * drift over a run (the C forwarder's own figure moved 230 k-380 k packets/s between runs) then falls on
 * both alike. PORTICO_BENCH_DP_INTERLEAVE=0: one forwarder after the other, as before.
 */
const INTERLEAVE = process.env.PORTICO_BENCH_DP_INTERLEAVE !== '0';
/** PORTICO_BENCH_DP_RATE=N: PORTICO_BENCH_DP_TRIALS trials at N packets/s instead of the throughput search. */
const FIXED_RATE = Number(process.env.PORTICO_BENCH_DP_RATE ?? 0);
const SEARCH = FIXED_RATE > 0 ? { fixed: { rate: FIXED_RATE, trials: Number(process.env.PORTICO_BENCH_DP_TRIALS ?? 5) } } : {};
const SIZES = [1400, 64];
const SESSION_COUNTS = [1, 100];
/**
 * Every upstream trial runs on sessions no earlier trial touched. An overloaded trial can leave MPPE
 * keys out of step for good, in both forwarders alike: stateless after > 2048 consecutive losses of
 * one session, stateful after > 4096 (the flag-packet count wraps) or as soon as a packet flushed for
 * a Reset-Request is lost (Linux's reading of RFC 3078 §8: that flush was a key change the receiver never
 * counts). A search that reused its sessions would measure that wreck in its later trials.
 */
const SEARCH_SESSIONS = SESSION_COUNTS.reduce((a, n) => a + n * MAX_TRIALS, 0);
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
    first += m * MAX_TRIALS;
  }
  return first + Math.min(t, MAX_TRIALS - 1) * n;
}
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
  c.kill('SIGCONT'); // a forwarder stopped while the other had its turn
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

type Direction = 'up' | 'down';

/** Addresses of the downstream trials' sessions (keys file: `clientCallId serverCallId address ...` a line). */
function downstreamAddresses(keys: string): string[] {
  const lines = readFileSync(keys, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return lines.slice(DOWNSTREAM_FIRST, DOWNSTREAM_FIRST + Math.max(...SESSION_COUNTS)).map((l) => l.trim().split(/\s+/)[2]!);
}

/** A forwarder under test: its process (CPU) and its TUN. */
interface Forwarder {
  impl: Impl;
  pid: number;
  tunDev: string;
}
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
      const impls = selected<Impl>(MT_THREADS > 1 ? ['portico', 'portico-mt', 'c'] : ['portico', 'c']);
      // Interleaved downstream needs both forwarders selected and a downstream cell.
      const interleavedHere = impls.includes('portico') && impls.includes('c') && selected<Direction>(['up', 'down']).includes('down');
      const startC = async (): Promise<ChildProcess> => {
        const c = spawnIn(lab.serverNs, [fwd, 'forward', '--tun', 'pbtun1', '--keys', keys, '--local', SERVER_IP, '--peer', CLIENT_IP], 0);
        await waitLine(c, /^ready/);
        // The same TUN queue as the server's (tun.queueLength): only the forwarders differ.
        lab.exec(lab.serverNs, ['ip', 'link', 'set', 'pbtun1', 'mtu', '1500', 'txqueuelen', String(TUN_QUEUE_LENGTH), 'up']);
        return c;
      };
      for (const impl of impls) {
        let forwarder: ChildProcess | null = null;
        let pid: number;
        let tunDev: string;
        let beside: Forwarder | null = null; // the C forwarder taking turns with the server downstream
        if (impl !== 'c') {
          await startPortico(impl);
          pid = lab.serverPid();
          tunDev = 'pbtun0';
          if (INTERLEAVE && impl === 'portico' && interleavedHere) {
            forwarder = await startC();
            beside = { impl: 'c', pid: forwarder.pid!, tunDev: 'pbtun1' };
          }
        } else {
          if (keys === '') await startPortico('portico'); // C alone: the sessions still come from a server

          await lab.stopServer(); // frees CPU 0 and the raw GRE socket; the C forwarder takes the sessions over
          forwarder = await startC();
          lab.exec(lab.serverNs, ['ip', 'addr', 'add', `${TUN_ADDRESS}/${prefix}`, 'dev', 'pbtun1']);
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
        const trial = async (fw: Forwarder, dir: Direction, size: number, n: number, rate: number, t: number): Promise<Measure> => {
          const { impl, pid, tunDev } = fw;
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
          const m: Measure = { pps: delivered / TRIAL_SECONDS, cpu, offered: sent / TRIAL_SECONDS, loss: sent > 0 ? Math.max(0, 1 - delivered / sent) : 1, machine };
          if (FIXED_RATE > 0)
            process.stderr.write(
              `  trial ${impl} ${dir} ${size}B ${n}s: ${Math.round(m.pps)} packets/s, loss ${(m.loss * 100).toFixed(2)} %, CPU ${cpu.toFixed(3)}, ${((cpu * 1e6) / Math.max(1, m.pps)).toFixed(3)} us/packet\n`,
            );
          if (k0)
            process.stderr.write(
              `  trial ${impl} ${dir} ${size}B ${n}s rate ${rate}: sent ${sent} delivered ${delivered} cpu ${cpu.toFixed(2)} | ${sentInfo}\n    ${diffCounters(k0, pathCounters(lab, tunDev))}\n`,
            );
          return m;
        };
        const own: Forwarder = { impl, pid, tunDev };
        let active: Forwarder = own;
        // The downstream sessions' addresses as host routes into the C forwarder's TUN while it is under
        // test (more specific than the pool's route into the server's TUN); the other forwarder is stopped.
        // Written once per phase, one `ip -batch` file per direction of the move.
        const routeBatches = new Map<'add' | 'del', string>();
        if (beside !== null) {
          const addresses = downstreamAddresses(keys);
          for (const verb of ['add', 'del'] as const) {
            const file = join(lab.dir, `routes-${verb}.batch`);
            writeFileSync(file, addresses.map((a) => `route ${verb} ${a}/32 dev pbtun1\n`).join(''));
            routeBatches.set(verb, file);
          }
        }
        const activate = async (fw: Forwarder): Promise<void> => {
          if (fw === active) return;
          process.kill(fw.pid, 'SIGCONT');
          lab.exec(lab.serverNs, ['ip', '-batch', routeBatches.get(fw === beside ? 'add' : 'del')!]);
          process.kill(active.pid, 'SIGSTOP');
          active = fw;
          await new Promise((r) => setTimeout(r, 100)); // the woken one's timers and queues settle
        };
        const search = async (fw: Forwarder, dir: Direction, size: number, n: number): Promise<Measure> => {
          const s = throughputSearch(SEARCH);
          let t = 0; // trial number: upstream sessions of its own (MAX_TRIALS)
          for (let r = s.next(); ; ) {
            if (r.done) return r.value;
            r = s.next(await trial(fw, dir, size, n, r.value, t++));
          }
        };
        // Interleaved downstream: the two searches take turns, each trial on a forwarder woken for it.
        const turns = async (fws: Forwarder[], dir: Direction, size: number, n: number): Promise<Measure[]> => {
          const searches = fws.map(() => throughputSearch(SEARCH));
          const states = searches.map((s) => s.next());
          for (let round = 0; states.some((r) => !r.done); round++) {
            // Who goes first alternates, so that neither always follows the other's overload.
            for (let k = 0; k < fws.length; k++) {
              const i = (k + round) % fws.length;
              const r = states[i]!;
              if (r.done) continue;
              await activate(fws[i]!);
              states[i] = searches[i]!.next(await trial(fws[i]!, dir, size, n, r.value, 0));
            }
          }
          return states.map((r) => r.value as Measure);
        };
        for (const size of selected(SIZES)) {
          for (const n of selected(SESSION_COUNTS)) {
            for (const dir of selected<Direction>(['up', 'down'])) {
              const interleaved = INTERLEAVE && dir === 'down' && interleavedHere;
              if (interleaved && impl === 'c') continue; // measured in turns with the server
              const fws = interleaved && beside !== null ? [own, beside] : [own];
              const ms = fws.length > 1 ? await turns(fws, dir, size, n) : [await search(own, dir, size, n)];
              await activate(own);
              fws.forEach((fw, i) => {
                const m = ms[i]!;
                results.set(key(fw.impl, mode, size, n, dir), m);
                process.stderr.write(
                  `dataplane ${fw.impl} ${mode} ${size}B ${n} sessions ${dir}${fws.length > 1 ? ' (in turns)' : ''}: ${Math.round(m.pps)} packets/s (offered ${Math.round(m.offered)}, loss ${(m.loss * 100).toFixed(2)} %), CPU ${m.cpu.toFixed(2)}${m.machine ? `, machine busy ${m.machine.busy.toFixed(2)} of ${cpus().length} cores, steal ${m.machine.steal.toFixed(2)}` : ''}${m.sourceLimited ? ' SOURCE-LIMITED' : ''}\n`,
                );
              });
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
