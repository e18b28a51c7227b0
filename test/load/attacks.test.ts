// Issue 13: one hostile host against the real server with its default limits. The server runs in the
// lab's namespace (test/interop/Lab.ts, bridge 198.18.0.1/24); two namespaces of this test hang on its
// bridge by veth: the attacker at 198.18.0.66 (bench/client/HostileClient.ts) and a legitimate client
// at 198.18.0.77 (the load generator's `ping` mode: PPTP, MS-CHAPv2, MPPE, then ICMP echoes through
// the tunnel answered by the server's kernel at its TUN address). The real Linux client of the lab
// (QEMU, 198.18.0.10) logs in and pings during the first attack. Each attack: the legitimate client
// logs in and pings during it and after it, the console (127.0.0.1:8080 in the server's namespace)
// answers, and the server's RSS stays under +100 MiB of what it was before the first attack.
// Needs root, /dev/net/tun and QEMU; run under the lab lock:
//   flock /tmp/portico-lab.lock npx vitest run test/load/attacks.test.ts
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/PorticoConfig.js';
import type { ServerHandle } from '../interop/Lab.js';

// A namespace of our own unless the runner names one; Lab.ts reads the variable when it loads.
process.env.PORTICO_TEST_NETNS ??= 'portico-attacks';
const { labDown, labUp, NETNS, REPO, runClient, SERVER_IP, startServer, TUN_IP } = await import('../interop/Lab.js');

const BRIDGE = 'lab-br0';
const ATTACKER = { ns: 'portico-atk-a', ip: '198.18.0.66', veth: 'patka' };
const LEGIT = { ns: 'portico-atk-l', ip: '198.18.0.77', veth: 'patkl' };
const LEGIT_USER = 'alice';
const LEGIT_PASSWORD = 'alice-passphrase';
const LOAD_GENERATOR = join(REPO, 'dist/bench/client/LoadGenerator.js');
const HOSTILE_CLIENT = join(REPO, 'dist/bench/client/HostileClient.js');
const CONSOLE = 'http://127.0.0.1:8080';
/** The limits these attacks run into: the configuration's defaults. */
const LIMITS = validateConfig({}).pptp;
/** Calls one connection of one address gets before it authenticates. */
const CALLS_FOR_ONE_CONNECTION = Math.min(LIMITS.maxCallsPerConnection, LIMITS.maxUnauthenticatedCallsPerAddress, LIMITS.maxUnauthenticatedCalls);
const RSS_BOUND_MIB = 100;
const IDLE_CONNECTIONS = 20_000;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A command in a namespace without blocking the event loop (the RSS sampler keeps running). */
function execIn(ns: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A namespace with one veth whose other end is a port of the lab bridge. */
function addPeer(p: typeof ATTACKER): void {
  spawnSync('ip', ['netns', 'del', p.ns]); // left over by an interrupted run
  run('ip', ['netns', 'add', p.ns]);
  run('ip', ['link', 'add', `${p.veth}0`, 'netns', p.ns, 'type', 'veth', 'peer', 'name', `${p.veth}1`, 'netns', NETNS]);
  run('ip', ['-n', NETNS, 'link', 'set', `${p.veth}1`, 'master', BRIDGE, 'up']);
  run('ip', ['-n', p.ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', p.ns, 'addr', 'add', `${p.ip}/24`, 'dev', `${p.veth}0`]);
  run('ip', ['-n', p.ns, 'link', 'set', `${p.veth}0`, 'up']);
}

/** VmRSS of a process in MiB; NaN once it is gone. */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Packets the kernel dropped from its per-CPU input queues so far (/proc/net/softnet_stat, 2nd column; all namespaces). */
function softnetDropped(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((n, line) => n + Number.parseInt(line.split(' ')[1] ?? '0', 16), 0);
}

/** Samplers still running (a test that failed half-way leaves its own): afterAll stops them. */
const samplers = new Set<NodeJS.Timeout>();

function sampleEvery(ms: number, sample: () => void): () => void {
  const timer = setInterval(sample, ms);
  samplers.add(timer);
  return () => {
    clearInterval(timer);
    samplers.delete(timer);
  };
}

/** The server's RSS before, at its highest (sampled every 50 ms) and after one attack. */
function watchRss(pid: number): () => { beforeMiB: number; peakMiB: number; afterMiB: number } {
  const beforeMiB = rssMiB(pid);
  let peakMiB = beforeMiB;
  const stop = sampleEvery(50, () => (peakMiB = Math.max(peakMiB, rssMiB(pid) || 0)));
  return () => {
    stop();
    const afterMiB = rssMiB(pid);
    return { beforeMiB, peakMiB: Math.max(peakMiB, afterMiB), afterMiB };
  };
}

/**
 * The attacker's connections the server process holds, counted every 250 ms by the kernel: established
 * TCP 1723 sockets from the attacker that have a descriptor of the server (ss -p); the ones still in
 * the accept queue have none and are not held yet.
 */
function watchHeldConnections(pid: number): () => { heldMax: number; samples: number } {
  let heldMax = 0;
  let samples = 0;
  let busy = false;
  const stop = sampleEvery(250, () => {
    if (busy) return;
    busy = true;
    void execIn(NETNS, ['ss', '-Htnp', 'state', 'established', '(', 'sport', '=', ':1723', ')', 'dst', ATTACKER.ip]).then((r) => {
      busy = false;
      samples++;
      heldMax = Math.max(heldMax, r.stdout.split('\n').filter((l) => l.includes(`pid=${pid},`)).length);
    });
  });
  return () => {
    stop();
    return { heldMax, samples };
  };
}

interface LegitFigures {
  up: boolean;
  loginMs: number;
  sent: number;
  received: number;
  rttMsAvg: number;
  failures?: unknown;
}

/** The legitimate client: one login (MS-CHAPv2, MPPE-128) and 5 pings through the tunnel. */
async function legitLoginAndPing(): Promise<LegitFigures> {
  const r = await execIn(LEGIT.ns, [
    process.execPath,
    LOAD_GENERATOR,
    '--mode',
    'ping',
    '--sessions',
    '1',
    '--server',
    SERVER_IP,
    '--local',
    LEGIT.ip,
    '--user',
    LEGIT_USER,
    '--password',
    LEGIT_PASSWORD,
    '--tunnel-peer',
    TUN_IP,
    '--pings',
    '5',
  ]);
  const result = jsonLines(r.stdout).find((l) => l.event === 'result');
  if (!result) throw new Error(`load generator gave no result (${r.code}): ${r.stderr}`);
  const pings = (result.pings ?? { sent: 0, received: 0, rttMsAvg: Number.NaN }) as { sent: number; received: number; rttMsAvg: number };
  return {
    up: result.up === 1,
    loginMs: Math.round(Number(result.setupMsP50)),
    sent: pings.sent,
    received: pings.received,
    rttMsAvg: pings.rttMsAvg,
    ...(result.up === 1 ? {} : { failures: result.failures ?? result.error }),
  };
}

interface ConsoleFigures {
  status: number;
  ms: number;
  /** Live sessions whose client is the attacker. */
  attackerSessions: number;
}

let cookieJar = '';

/** GET /api/sessions with the console login of beforeAll, from inside the server's namespace. */
async function consoleAnswers(): Promise<ConsoleFigures> {
  const r = await execIn(NETNS, ['curl', '-s', '-m', '10', '-b', cookieJar, '-w', '\n%{http_code} %{time_total}', `${CONSOLE}/api/sessions`]);
  const lines = r.stdout.trimEnd().split('\n');
  const [status, seconds] = (lines.pop() ?? '0 0').split(' ').map(Number);
  let attackerSessions = 0;
  if (status === 200) {
    const body = JSON.parse(lines.join('\n')) as { sessions: Array<{ peer: string }> };
    attackerSessions = body.sessions.filter((s) => s.peer === ATTACKER.ip).length;
  }
  return { status: status!, ms: Math.round(seconds! * 1000), attackerSessions };
}

interface Attacker {
  child: ChildProcess;
  /** The attacker's figures once its attack is in full swing. */
  attacking: Promise<Record<string, unknown>>;
  /** Ends the attack; its final figures. */
  stop(): Promise<Record<string, unknown>>;
}

/** Every attacker process started, killed in afterAll if still running. */
const attackerProcesses: ChildProcess[] = [];

/** HostileClient in the attacker's namespace (Node raises its descriptor limit to the hard one, 20 000 here). */
function startAttacker(mode: string, args: string[], o: { bind?: boolean } = {}): Attacker {
  // bind: false leaves the source to the kernel (the namespace has one address): binding 20 000 sockets first is slow.
  const local = o.bind === false ? [] : ['--local', ATTACKER.ip];
  const child = spawn('ip', ['netns', 'exec', ATTACKER.ns, process.execPath, HOSTILE_CLIENT, '--mode', mode, '--server', SERVER_IP, ...local, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  attackerProcesses.push(child);
  const waiters = new Map<string, (e: Record<string, unknown>) => void>();
  const seen = new Map<string, Record<string, unknown>>();
  let closed = false;
  child.once('close', () => (closed = true));
  const next = (event: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const had = seen.get(event);
      if (had) return resolve(had);
      const gone = () => reject(new Error(`hostile client (${mode}) ended (${child.exitCode ?? child.signalCode}) before "${event}"`));
      if (closed) return gone();
      waiters.set(event, resolve);
      child.once('close', gone); // after its stdout: every line it printed has been seen
    });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const e = JSON.parse(line) as Record<string, unknown>;
    seen.set(String(e.event), e);
    waiters.get(String(e.event))?.(e);
  });
  const attacking = next('attacking');
  attacking.catch(() => undefined); // reported where it is awaited
  return {
    child,
    attacking,
    stop: async () => {
      const result = next('result');
      child.stdin!.end('stop\n');
      return result;
    },
  };
}

describe('one hostile host against the default limits (issue 13)', () => {
  let server: ServerHandle;
  let baselineMiB = 0;

  const alive = () => server.process.exitCode === null && server.process.signalCode === null;

  beforeAll(async () => {
    // The attacker and the load generator are compiled with the benches (dist/bench/client).
    const buildStart = Date.now();
    run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.bench.json')]);
    const buildSeconds = (Date.now() - buildStart) / 1000;
    labUp();
    addPeer(ATTACKER);
    addPeer(LEGIT);
    // Default settings: only the addresses, the TUN device and the pool are set.
    server = await startServer({ listen: SERVER_IP, tun: { name: 'pptp0', address: TUN_IP }, pool: { start: '198.18.100.10', end: '198.18.100.200' } }, [
      [LEGIT_USER, LEGIT_PASSWORD],
      ['labuser', 'lab-password'],
    ]);
    const created = server.logs().find((l) => String(l.msg).startsWith('created console account'));
    const adminPassword = /with password (\S+) /.exec(String(created?.msg))?.[1] ?? '';
    cookieJar = join(server.dir, 'console-cookies');
    const login = await execIn(NETNS, [
      'curl',
      '-s',
      '-m',
      '10',
      '-c',
      cookieJar,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ username: 'admin', password: adminPassword }),
      '-w',
      '\n%{http_code}',
      `${CONSOLE}/api/login`,
    ]);
    expect(login.stdout.trimEnd().split('\n').pop(), login.stdout).toBe('200');
    // One login first: the server's RSS after its first session is the baseline.
    const warmup = await legitLoginAndPing();
    expect(warmup, JSON.stringify(warmup)).toMatchObject({ up: true, received: 5 });
    baselineMiB = rssMiB(server.process.pid!);
    console.log(`attacks: tools built in ${buildSeconds} s; baseline RSS ${baselineMiB} MiB, legitimate login ${warmup.loginMs} ms, ping RTT ${warmup.rttMsAvg} ms`);
  });

  afterAll(async () => {
    for (const t of samplers) clearInterval(t);
    for (const a of attackerProcesses) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    await server?.stop();
    for (const p of [ATTACKER, LEGIT]) spawnSync('ip', ['netns', 'del', p.ns]);
    labDown();
  });

  /**
   * The legitimate client logs in and gets its pings through, the console answers. During a flood that
   * fills the link one echo of the five may be lost on the way (the kernel's queues, not the server).
   */
  function expectServed(phase: 'during' | 'after', legit: LegitFigures, panel: ConsoleFigures): void {
    expect(legit.up, `${phase}: legitimate login ${JSON.stringify(legit)}`).toBe(true);
    expect(legit.received, `${phase}: pings ${JSON.stringify(legit)}`).toBeGreaterThanOrEqual(phase === 'during' ? legit.sent - 1 : legit.sent);
    expect(panel.status, `${phase}: console`).toBe(200);
  }

  function expectRssBound(rss: { peakMiB: number }): void {
    expect(rss.peakMiB - baselineMiB).toBeLessThan(RSS_BOUND_MIB);
  }

  it('10 000 Outgoing-Call-Requests on one connection: the calls its limits allow accepted, the rest refused or left unread; the real Linux client and the load generator log in and ping', async () => {
    const rss = watchRss(server.process.pid!);
    const attacker = startAttacker('calls', ['--count', '10000']);
    const attack = await attacker.attacking;
    const during = await legitLoginAndPing();
    const consoleDuring = await consoleAnswers();
    const vm = await runClient(['--pings', '5']);
    const result = await attacker.stop();
    const after = await legitLoginAndPing();
    const consoleAfter = await consoleAnswers();
    const memory = rss();
    console.log(
      `attack 10 000 OCRQ: ${JSON.stringify({ attack, result })}\n  legitimate during ${JSON.stringify(during)} after ${JSON.stringify(after)}\n` +
        `  real Linux client during ${JSON.stringify({ connected: vm.connected, connect_ms: vm.connect_ms, ping: vm.ping })}\n` +
        `  console during ${JSON.stringify(consoleDuring)} after ${JSON.stringify(consoleAfter)}\n  server RSS ${JSON.stringify(memory)} (baseline ${baselineMiB} MiB)`,
    );
    // Answered at once: at least what the first 64 KiB read holds (168 octets each); the rest is read at
    // the connection's read rate (16 KiB/s), never faster than the attacker's requests.
    const answered = Number(result.accepted) + Number(result.refused);
    expect(answered).toBeGreaterThanOrEqual(Math.floor(65536 / 168));
    expect(answered).toBeLessThanOrEqual(10_000);
    expect(attack.accepted).toBe(CALLS_FOR_ONE_CONNECTION);
    expect(result.accepted).toBe(CALLS_FOR_ONE_CONNECTION);
    expect(consoleDuring.attackerSessions).toBe(CALLS_FOR_ONE_CONNECTION); // the console lists the calls held, not yet authenticated
    expect(vm.connected, vm.log_tail).toBe(true);
    expect(vm.ping).toMatchObject({ sent: 5, received: 5 });
    expectServed('during', during, consoleDuring);
    expectServed('after', after, consoleAfter);
    expectRssBound(memory);
    expect(server.logs().some((l) => String(l.msg).startsWith('call refused: pptp.') && l.peer === ATTACKER.ip)).toBe(true);
    expect(alive()).toBe(true);
  }, 120_000);

  it('20 000 idle TCP connections, the refused ones retried: the server holds at most pptp.maxConnectionsPerAddress; the legitimate client logs in and pings', async () => {
    const rss = watchRss(server.process.pid!);
    const held = watchHeldConnections(server.process.pid!);
    const droppedBefore = softnetDropped();
    const started = Date.now();
    // Two processes of 10 000 each: this machine's hard descriptor limit is 20 000 and cannot be raised.
    const attackers = [0, 1].map(() => startAttacker('connections', ['--count', String(IDLE_CONNECTIONS / 2), '--retry-ms', '100'], { bind: false }));
    const attack = await Promise.all(attackers.map((a) => a.attacking));
    const during = await legitLoginAndPing();
    const consoleDuring = await consoleAnswers();
    // Past pptp.startTimeout (10 s): the first connections held are closed by the server and retried.
    await new Promise((r) => setTimeout(r, Math.max(0, 12_500 - (Date.now() - started))));
    const results = await Promise.all(attackers.map((a) => a.stop()));
    const byServer = held();
    const kernelDropped = softnetDropped() - droppedBefore;
    const after = await legitLoginAndPing();
    const consoleAfter = await consoleAnswers();
    const memory = rss();
    const sum = (key: string) => results.reduce((n, r) => n + Number(r[key]), 0);
    const totals = {
      attempts: sum('attempts'),
      refused: sum('refused'),
      closedLater: sum('closedLater'),
      openAtAttackerMax: sum('openMax'),
      seconds: Math.max(...results.map((r) => Number(r.seconds))),
    };
    console.log(
      `attack 20 000 idle connections: ${JSON.stringify({ totals, heldByServer: byServer, kernelDropped, attack, results })}\n  legitimate during ${JSON.stringify(during)} after ${JSON.stringify(after)}\n` +
        `  console during ${JSON.stringify(consoleDuring)} after ${JSON.stringify(consoleAfter)}\n  server RSS ${JSON.stringify(memory)} (baseline ${baselineMiB} MiB)`,
    );
    expect(totals.attempts).toBeGreaterThanOrEqual(IDLE_CONNECTIONS);
    expect(byServer.samples).toBeGreaterThan(10);
    expect(byServer.heldMax).toBeGreaterThan(0);
    expect(byServer.heldMax).toBeLessThanOrEqual(LIMITS.maxConnectionsPerAddress);
    expect(totals.refused).toBeGreaterThan(0);
    expectServed('during', during, consoleDuring);
    expectServed('after', after, consoleAfter);
    expectRssBound(memory);
    expect(server.logs().some((l) => l.msg === 'control connections refused by limits')).toBe(true);
    expect(alive()).toBe(true);
  }, 120_000);

  it('an Echo-Request flood on 8 connections that never read: the server stops reading them, then closes them (pptp.callGrace); the legitimate client logs in and pings', async () => {
    const rss = watchRss(server.process.pid!);
    const started = Date.now();
    const attacker = startAttacker('echo-flood', ['--count', '8', '--retry-ms', '500']);
    const attack = await attacker.attacking;
    const during = await legitLoginAndPing();
    const consoleDuring = await consoleAnswers();
    // No call: stopped after pptp.callGrace, closed 5 s later without a Stop-Control-Connection-Reply,
    // cut 2 s after the FIN that waits behind the unread replies.
    await new Promise((r) => setTimeout(r, Math.max(0, (LIMITS.callGrace + 10) * 1000 - (Date.now() - started))));
    const result = await attacker.stop();
    const after = await legitLoginAndPing();
    const consoleAfter = await consoleAnswers();
    const memory = rss();
    console.log(
      `attack Echo flood: ${JSON.stringify({ attack, result })}\n  legitimate during ${JSON.stringify(during)} after ${JSON.stringify(after)}\n` +
        `  console during ${JSON.stringify(consoleDuring)} after ${JSON.stringify(consoleAfter)}\n  server RSS ${JSON.stringify(memory)} (baseline ${baselineMiB} MiB)`,
    );
    // The server stopped reading every flooding connection (the attacker's writes stall), then closed each.
    expect(attack.stalled).toBe(8);
    expect(result.closedAfterStalling).toBeGreaterThanOrEqual(8);
    expectServed('during', during, consoleDuring);
    expectServed('after', after, consoleAfter);
    expectRssBound(memory);
    expect(alive()).toBe(true);
  }, 120_000);
});
