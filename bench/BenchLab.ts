// The benches' network: a server namespace and a client namespace joined by a veth pair
// (198.18.0.1 server, 198.18.0.2 client; RFC 2544 benchmarking addresses only), a data folder with a
// config and users made with the CLI, and a real `portico serve` pinned to one core.
import { SERVER_NODE_FLAGS } from '../server/NodeFlags.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVER_IP = '198.18.0.1';
export const CLIENT_IP = '198.18.0.2';
/**
 * The server TUN's address and the session pool: 198.19.0.0/18, inside the benchmarking block of RFC 2544
 * like the veth, room for the 10 000 sessions of the `sessions` bench. An address above 2^30 is also what
 * most real pools are (192.168/16, 172.16/12): the path that cannot key a Map by a small integer.
 */
export const TUN_ADDRESS = '198.19.0.1';
export const POOL = { start: '198.19.0.10', end: '198.19.63.250' };
/** In the TUN's network, outside the pool: the load generator's own tunnel address that the latency bench pings (no server work). */
export const REFLECT_ADDRESS = '198.19.0.2';
/** The size of the server's default pool (241 addresses: the soak reuses it) at the same place. */
export const DEFAULT_SIZED_POOL = { start: '198.19.0.10', end: '198.19.0.250' };
export const BENCH_USER = 'bench';
export const BENCH_PASSWORD = 'bench-password';
// dist/ of the repository, whether this file runs compiled (dist/bench/BenchLab.js, the benches) or from
// its source (bench/BenchLab.ts, the load tests under vitest): the processes it starts run compiled.
const DIST = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/' : '../', import.meta.url));
export const CLI = join(DIST, 'server', 'cli.js');
const REPO = join(DIST, '..');
export const LOAD_GENERATOR = join(DIST, 'bench', 'client', 'LoadGenerator.js');

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface ServerOptions {
  lcpEchoInterval?: number;
  mppeMode?: 'stateless' | 'prefer-stateless' | 'prefer-stateful';
  logLevel?: string;
  maxCalls?: number;
  /** CPU(s) to pin the server to (taskset -c, e.g. 0 or '0,1'); undefined = not pinned. */
  cpu?: number | string;
  /** `dataPlane: { threads: N }` in the config; the key is left out when undefined (the server's default). */
  dataPlaneThreads?: number;
  /** `tun.queueLength` in the config; left out when undefined (the server's default). */
  tunQueueLength?: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Extra top-level YAML lines for the config (e.g. `auth:` and `radius:` for the FreeRADIUS setup rate). */
  extraConfig?: string[];
  /**
   * Which of the server's defaults the config overrides. 'bench' (the default; the throughput benches):
   * the per-address limits lifted for the one-address load generator, LCP echo off unless
   * lcpEchoInterval, a 120 s setup timeout, maxCalls. 'per-address': only the per-address limits
   * lifted, every other limit and timer the server's own (the soak). 'none': the server's defaults
   * (clients from addresses of their own: the flood test).
   */
  overrides?: 'bench' | 'per-address' | 'none';
}

/** The per-address limits (meant for an attacker) lifted for one address opening thousands of connections. */
const PER_ADDRESS_LIFTED = 'maxConnectionsPerAddress: 65000, connectionsPerSecondPerAddress: 10000, maxUnauthenticatedCallsPerAddress: 65000';

/** PORTICO_BENCH_NODE_FLAGS: more node flags for the server (e.g. --perf-basic-prof for perf, --import of bench/EventLoopSpin.js). */
export function benchNodeFlags(): string[] {
  return (process.env.PORTICO_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
}

export class BenchLab {
  readonly serverNs: string;
  readonly clientNs: string;
  readonly dir: string;
  readonly configFile: string;
  server: ChildProcess | null = null;
  readonly logFile: string;

  constructor(tag: string) {
    const id = `${tag}-${process.pid}`;
    this.serverNs = `portico-bs-${id}`;
    this.clientNs = `portico-bc-${id}`;
    this.dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
    this.configFile = join(this.dir, 'portico.yaml');
    this.logFile = join(this.dir, 'server.log');
  }

  /** Namespaces and veth; safe to call once. An interrupted bench still removes them. */
  up(): void {
    const cleanup = () => {
      this.server?.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', this.serverNs]);
      spawnSync('ip', ['netns', 'del', this.clientNs]);
      rmSync(this.dir, { recursive: true, force: true });
      process.exit(130);
    };
    process.once('SIGINT', cleanup);
    process.once('SIGTERM', cleanup);
    run('ip', ['netns', 'add', this.serverNs]);
    run('ip', ['netns', 'add', this.clientNs]);
    const veth = `pb${process.pid % 100000}`;
    run('ip', ['link', 'add', `${veth}s`, 'netns', this.serverNs, 'type', 'veth', 'peer', 'name', `${veth}c`, 'netns', this.clientNs]);
    for (const [ns, dev, addr] of [
      [this.serverNs, `${veth}s`, SERVER_IP],
      [this.clientNs, `${veth}c`, CLIENT_IP],
    ] as const) {
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
  }

  /** The config file; `pool` with the 'bench' overrides, else a pool the size of the server's default. */
  writeConfig(o: ServerOptions, pool = POOL): void {
    const overrides = o.overrides ?? 'bench';
    const { start, end } = overrides === 'bench' ? pool : DEFAULT_SIZED_POOL;
    const yaml = [
      `listen: ${SERVER_IP}`,
      `dataDir: ${this.dir}`,
      `tun: { name: pbtun0, address: ${TUN_ADDRESS}, mtu: 1500${o.tunQueueLength !== undefined ? `, queueLength: ${o.tunQueueLength}` : ''} }`,
      `pool: { start: ${start}, end: ${end} }`,
      ...(overrides === 'bench'
        ? [
            `ppp: { lcpEchoInterval: ${o.lcpEchoInterval ?? 0}, setupTimeout: 120 }`,
            // The load generator is one address opening thousands of connections at once: the per-address
            // limits (meant for an attacker) are lifted; the overall ones are raised to the bench's scale.
            `pptp: { maxCalls: ${o.maxCalls ?? 20000}, maxConnections: 65000, maxUnauthenticatedCalls: 65000, ${PER_ADDRESS_LIFTED} }`,
          ]
        : [...(o.lcpEchoInterval !== undefined ? [`ppp: { lcpEchoInterval: ${o.lcpEchoInterval} }`] : []), ...(overrides === 'per-address' ? [`pptp: { ${PER_ADDRESS_LIFTED} }`] : [])]),
      `mppe: { mode: ${o.mppeMode ?? 'prefer-stateless'} }`,
      'admin: { enabled: false }',
      `log: { level: ${o.logLevel ?? 'info'} }`,
      ...(o.dataPlaneThreads !== undefined ? [`dataPlane: { threads: ${o.dataPlaneThreads} }`] : []),
      ...(o.extraConfig ?? []),
      '',
    ].join('\n');
    writeFileSync(this.configFile, yaml);
    if (!this.userAdded) run(process.execPath, [CLI, 'user', 'add', BENCH_USER, '--password', BENCH_PASSWORD, '--config', this.configFile]);
    this.userAdded = true;
  }
  private userAdded = false;

  /** Compiles bench/client/IcmpPinger.c into the lab's folder; returns the program's path. */
  buildIcmpPinger(): string {
    const bin = join(this.dir, 'icmp-pinger');
    const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, join(REPO, 'bench', 'client', 'IcmpPinger.c')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot build the ICMP pinger: ${r.stderr}`);
    return bin;
  }

  /** A command in a namespace, synchronously; returns stdout. */
  exec(ns: string, args: string[]): string {
    return run('ip', ['netns', 'exec', ns, ...args]);
  }

  /** An interface counter (statistics/NAME) in a namespace. */
  counter(ns: string, dev: string, name: string): number {
    return Number(this.exec(ns, ['cat', `/sys/class/net/${dev}/statistics/${name}`]).trim());
  }

  get vethServer(): string {
    return `pb${process.pid % 100000}s`;
  }

  /** One more address on the client namespace's veth (198.18.0.0/24), so that clients can come from addresses of their own. */
  addClientAddress(address: string): void {
    this.exec(this.clientNs, ['ip', 'addr', 'add', `${address}/24`, 'dev', `pb${process.pid % 100000}c`]);
  }

  /** Starts `portico serve` in the server namespace and waits for its "Portico ready" line. */
  async startServer(o: ServerOptions): Promise<number> {
    const fd = openSync(this.logFile, 'w');
    const pin = o.cpu === undefined ? [] : ['taskset', '-c', String(o.cpu)];
    this.server = spawn('ip', ['netns', 'exec', this.serverNs, ...pin, process.execPath, ...SERVER_NODE_FLAGS, ...(o.nodeFlags ?? []), CLI, 'serve', '--config', this.configFile], {
      stdio: ['ignore', fd, fd],
      cwd: this.dir,
    });
    closeSync(fd);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (readFileSync(this.logFile, 'utf8').includes('Portico ready')) return this.serverPid();
      if (this.server.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not start: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
  }

  /** PID of the node process itself (ip netns exec and taskset exec into it: same PID). */
  serverPid(): number {
    return this.server!.pid!;
  }

  /** VmRSS of the server in KiB. */
  serverRssKiB(): number {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.serverPid()}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  }

  /** utime+stime of the server in seconds. */
  serverCpuSeconds(): number {
    return cpuSeconds(this.serverPid());
  }

  async stopServer(): Promise<void> {
    const s = this.server;
    if (!s || s.exitCode !== null || s.signalCode !== null) return; // a server killed by a signal has no exit code
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    s.kill('SIGCONT'); // a server stopped for the C forwarder's turn (dataplane bench) handles its SIGTERM once continued
    const t = setTimeout(() => s.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    this.server = null;
  }

  serverLog(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  /** Runs a process in the client namespace; stdout lines are parsed as JSON events. */
  spawnClient(args: string[], cpu?: number): { child: ChildProcess; events: AsyncIterable<Record<string, unknown>> } {
    const child = this.spawnIn(this.clientNs, args, cpu);
    return { child, events: jsonLines(child) };
  }

  /** A process in a namespace, pinned to `cpu` when given; stdin and stdout are pipes. */
  spawnIn(ns: string, args: string[], cpu?: number): ChildProcess {
    const pin = cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
    return spawn('ip', ['netns', 'exec', ns, ...pin, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  }

  async down(): Promise<void> {
    await this.stopServer();
    spawnSync('ip', ['netns', 'del', this.serverNs]);
    spawnSync('ip', ['netns', 'del', this.clientNs]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], [12] = utime, stime (fields 14 and 15 of proc(5)), in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds of the whole machine so far (/proc/stat, all CPUs): busy = user+nice+system+irq+softirq,
 * steal = time the hypervisor gave this VM's CPUs to someone else. Differences over a trial say how
 * much of the machine the trial used besides the forwarder (traffic tools and the kernel's share).
 */
export function machineCpuSeconds(): { busy: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal, in clock ticks (100/s)
  return { busy: (f[0]! + f[1]! + f[2]! + f[5]! + f[6]!) / 100, steal: (f[7] ?? 0) / 100 };
}

async function* jsonLines(child: ChildProcess): AsyncIterable<Record<string, unknown>> {
  let buf = '';
  for await (const chunk of child.stdout!) {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('{')) yield JSON.parse(line) as Record<string, unknown>;
    }
  }
}
