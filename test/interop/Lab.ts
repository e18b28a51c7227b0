// Drives the real peers of the lab in test/lab: a network namespace this test creates, our server
// inside it, and the QEMU client VM (pptp-linux + pppd + kernel MPPE) on its bridge.
import { SERVER_NODE_FLAGS } from '../../server/NodeFlags.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const INTEROP = join(REPO, 'test', 'lab');
/** Our own namespace: never the developer's lab-wan, never the root namespace. */
export const NETNS = process.env.PORTICO_TEST_NETNS ?? 'portico-it';
export const SERVER_IP = '198.18.0.1';
export const TUN_IP = '198.18.100.1';
export const CLI = join(REPO, 'dist/server/cli.js');
/** How long stop() waits for the server to exit after SIGTERM before SIGKILL: its shutdownTimeout (5 s) and a margin. */
const STOP_WAIT_MS = 10_000;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function labUp(): void {
  run('bash', [join(INTEROP, 'build-vm.sh'), '--quiet']);
  run('bash', [join(INTEROP, 'lab-net.sh'), 'up'], { LAB_NETNS: NETNS });
}

export function labDown(): void {
  run('bash', [join(INTEROP, 'lab-net.sh'), 'down'], { LAB_NETNS: NETNS });
}

export interface ServerHandle {
  dir: string;
  configFile: string;
  logFile: string;
  process: ChildProcess;
  /** Parsed pino lines written so far. */
  logs(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export const BASE_CONFIG = {
  listen: SERVER_IP,
  tun: { name: 'pptp0', address: TUN_IP },
  pool: { start: '198.18.100.10', end: '198.18.100.200' },
  dns: ['198.18.100.53', '198.18.100.54'],
  log: { level: 'debug' },
};

export function cli(configFile: string, ...args: string[]): string {
  return run(process.execPath, [CLI, ...args, '--config', configFile]);
}

/** Starts `portico serve` inside the test namespace with the given config (JSON is valid YAML). */
export async function startServer(config: Record<string, unknown>, users: Array<[string, string]>): Promise<ServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-it-'));
  const configFile = join(dir, 'portico.yaml');
  writeFileSync(configFile, JSON.stringify({ ...config, dataDir: join(dir, 'data') }, null, 2));
  for (const [name, password] of users) cli(configFile, 'user', 'add', name, '--password', password);
  const logFile = join(dir, 'server.log');
  const out = openSync(logFile, 'w');
  const child = spawn('ip', ['netns', 'exec', NETNS, process.execPath, ...SERVER_NODE_FLAGS, CLI, 'serve', '--config', configFile], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const logs = () =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const started = Date.now();
  while (!logs().some((l) => l.msg === 'Portico ready')) {
    if (child.exitCode !== null || Date.now() - started > 15_000) {
      throw new Error(`server did not start:\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM'); // `ip netns exec` execs node: this PID is the server itself
    await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  return { dir, configFile, logFile, process: child, logs, stop };
}

/** A process of ours inside the namespace (iperf3 server), ended by PID. */
export function startInNetns(cmd: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', NETNS, cmd, ...args], { stdio: 'ignore' });
}

export interface ClientResult {
  ok: boolean;
  connected: boolean;
  local_ip: string | null;
  remote_ip: string | null;
  dns: string[];
  auth: string;
  auth_result: string;
  pppd_exit: number | null;
  mppe: string | null;
  ping: { sent: number; received: number; avg_rtt_ms: number | null };
  throughput_mbps: { up: number | null; down: number | null };
  sessions_connected: number;
  sessions: Array<{ connected: boolean; local_ip: string | null; mppe: string | null; ping: { sent: number; received: number } }> | null;
  checks: Record<string, boolean>;
  log_tail: string;
  [k: string]: unknown;
}

/** One client VM scenario (client.sh); resolves with its JSON line whatever the exit code. */
export function runClient(args: string[]): Promise<ClientResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [join(INTEROP, 'client.sh'), '--netns', NETNS, '--server', SERVER_IP, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', () => {
      const line = stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      if (!line) return reject(new Error(`client.sh printed no result: ${stderr}`));
      resolvePromise(JSON.parse(line) as ClientResult);
    });
  });
}

export function tmpPath(name: string): string {
  return join(mkdtempSync(join(tmpdir(), 'portico-cap-')), name);
}

/**
 * `portico serve` again with a stopped server's config file, data directory and log file (a restart:
 * whatever the server keeps in its data directory survives). Log lines of both runs stay in logs().
 */
export async function restartServer(previous: ServerHandle): Promise<ServerHandle> {
  if (previous.process.exitCode === null && previous.process.signalCode === null) throw new Error('restartServer: the server is still running');
  const readyBefore = previous.logs().filter((l) => l.msg === 'Portico ready').length;
  const out = openSync(previous.logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', NETNS, process.execPath, ...SERVER_NODE_FLAGS, CLI, 'serve', '--config', previous.configFile], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const started = Date.now();
  while (previous.logs().filter((l) => l.msg === 'Portico ready').length <= readyBefore) {
    if (child.exitCode !== null || Date.now() - started > 15_000) {
      throw new Error(`server did not restart:\n${readFileSync(previous.logFile, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_WAIT_MS))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  return { ...previous, process: child, stop };
}
