// Native pieces for a sharded data plane (io/native/portico_io.c): raw GRE sockets that receive only
// their share of the call ids (classic BPF), a multi-queue TUN whose outgoing packets are steered
// to queues by destination (eBPF), and the addon used from worker threads.
//
// Needs root: it creates its own network namespace (addresses only in 198.18.0.0/15), runs child
// scripts inside it with `ip netns exec`, and deletes the namespace afterwards. The children print
// JSON; every assertion is made here over the bytes they report. The worker-thread child uses the
// TypeScript wrappers, transpiled from the current sources into a temporary directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grePacket, ip, ipv4Packet } from './TestPackets.js';
import { loadPorticoIo, porticoIoPath } from '../../io/PorticoIo.js';
import { RawGreSocket } from '../../io/RawGreSocket.js';
import { NativeTun } from '../../io/NativeTun.js';

const NETNS = `portico-shard-${process.pid}`;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LOCAL = '198.18.30.2'; // the "server" address the sharded sockets bind to
const PEER = '198.18.30.1';

// ---------------------------------------------------------------- child scripts

const GRE_SHARD_CHILD = String.raw`
import { createRequire } from 'node:module';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const out = { received: {}, errors: [] };

const sender = io.openRawGre(ip(cfg.peer));
const receivers = {};
for (const [label, shard] of Object.entries(cfg.shards)) {
  receivers[label] = shard === null ? io.openRawGre(ip(cfg.local)) : io.openRawGre(ip(cfg.local), shard);
}
// A TUN to inject IPv4 datagrams with header options (the kernel builds plain 20-octet headers).
const tun = io.openTun(cfg.tunName);
io.configureInterface(tun.name, ip('198.18.31.1'), 24, 1400);

const SLOTS = 16, SLOT = 2048;
const polls = Object.entries(receivers).map(([label, fd]) => {
  const slab = Buffer.alloc(SLOTS * SLOT);
  const offsets = new Uint32Array(SLOTS), lengths = new Uint32Array(SLOTS), addrs = new Uint32Array(SLOTS);
  out.received[label] = [];
  return io.startPoll(fd, 'gre', slab, SLOT, 0, offsets, lengths, addrs, (n) => {
    for (let i = 0; i < n; i++) {
      out.received[label].push({ offset: offsets[i], addr: addrs[i], hex: slab.subarray(offsets[i], offsets[i] + lengths[i]).toString('hex') });
    }
    if (label === 'all' && out.received.all.length === cfg.expectedAll) setTimeout(finish, 200);
  }, (e) => out.errors.push(label + ': ' + e.message));
});

const viaSocket = cfg.viaSocket.map((h) => Buffer.from(h, 'hex'));
const buf = Buffer.concat(viaSocket);
const offs = new Uint32Array(viaSocket.length), lens = new Uint32Array(viaSocket.length), dsts = new Uint32Array(viaSocket.length);
let at = 0;
viaSocket.forEach((p, i) => { offs[i] = at; lens[i] = p.length; dsts[i] = ip(cfg.local); at += p.length; });
out.sentViaSocket = io.sendGre(sender, buf, offs, lens, dsts, viaSocket.length);

const viaTun = cfg.viaTun.map((h) => Buffer.from(h, 'hex'));
const tbuf = Buffer.concat(viaTun);
const toffs = new Uint32Array(viaTun.length), tlens = new Uint32Array(viaTun.length);
at = 0;
viaTun.forEach((p, i) => { toffs[i] = at; tlens[i] = p.length; at += p.length; });
out.sentViaTun = io.writeTun(tun.fd, tbuf, toffs, tlens, viaTun.length);

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  out.stats = {};
  Object.keys(receivers).forEach((label, i) => { out.stats[label] = io.pollStats(polls[i]); io.stopPoll(polls[i]); io.close(receivers[label]); });
  io.close(sender);
  io.close(tun.fd);
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(out));
}
const watchdog = setTimeout(() => { out.timedOut = true; finish(); }, 5000);
`;

const TUN_STEER_CHILD = String.raw`
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const out = { queues: [[], []], errors: [] };

try { io.openTun(cfg.name, 'yes'); } catch (e) { out.badFlag = { name: e.name, message: e.message }; }
const q0 = io.openTun(cfg.name, true);
io.configureInterface(q0.name, ip('198.18.7.1'), 24, 1400);
const q1 = io.openTun(cfg.name, true);
out.names = [q0.name, q1.name, io.tunName(q1.fd)];
// A single-queue open of a multi-queue device is refused (flags must match).
try { io.openTun(cfg.name); } catch (e) { out.singleQueueOpen = { code: e.code, syscall: e.syscall }; }
try { io.attachTunSteering(q0.fd, 0); } catch (e) { out.zeroEntries = { name: e.name, message: e.message }; }

const mapFd = io.attachTunSteering(q0.fd, 16);
out.mapFdFlags = readFileSync('/proc/self/fdinfo/' + mapFd, 'utf8').match(/^flags:\s*(\d+)/m)[1];
out.mapType = readFileSync('/proc/self/fdinfo/' + mapFd, 'utf8').match(/^map_type:\s*(\d+)/m)?.[1];
try { io.steeringSet(mapFd, ip('198.18.7.10'), 256); } catch (e) { out.badQueue = { name: e.name, message: e.message }; }
io.steeringSet(mapFd, ip('198.18.7.10'), 1);
io.steeringSet(mapFd, ip('198.18.7.11'), 0);
io.steeringDelete(mapFd, ip('198.18.7.99')); // missing key: not an error

const SLOTS = 16, SLOT = 2048, HEAD = 64;
const fds = [q0.fd, q1.fd];
const polls = fds.map((fd, q) => {
  const slab = Buffer.alloc(SLOTS * SLOT);
  const o = new Uint32Array(SLOTS), l = new Uint32Array(SLOTS), a = new Uint32Array(SLOTS);
  return io.startPoll(fd, 'tun', slab, SLOT, HEAD, o, l, a, (n) => {
    for (let i = 0; i < n; i++) {
      const p = slab.subarray(o[i], o[i] + l[i]);
      if (p[0] !== 0x45 || p[9] !== 17) continue; // UDP probes only
      out.queues[q].push({ dst: p.readUInt32BE(16), payload: p.subarray(28).toString() });
    }
    setImmediate(step);
  }, (e) => out.errors.push('queue ' + q + ': ' + e.message));
});

const udp = dgram.createSocket('udp4');
const seen = (payload) => out.queues.some((q) => q.some((p) => p.payload === payload));
// Each phase sends its probes once, then waits until they have all been read.
const phases = [
  { send: [['198.18.7.10', 'to-10-a'], ['198.18.7.11', 'to-11-a']] },
  { before: () => { io.steeringDelete(mapFd, ip('198.18.7.10')); io.steeringSet(mapFd, ip('198.18.7.11'), 1); },
    send: [['198.18.7.10', 'to-10-b'], ['198.18.7.11', 'to-11-b']] },
];
let phase = -1;
function step() {
  if (phase >= phases.length) return; // finished; late wake-ups
  if (phase >= 0 && !phases[phase].send.every(([, payload]) => seen(payload))) return;
  phase++;
  if (phase === phases.length) return finish();
  phases[phase].before?.();
  for (const [dst, payload] of phases[phase].send) udp.send(Buffer.from(payload), 40000, dst);
}
function finish() {
  polls.forEach((h) => io.stopPoll(h));
  io.close(mapFd);
  io.close(q1.fd);
  io.close(q0.fd);
  udp.close();
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(out));
}
const watchdog = setTimeout(() => { out.timedOut = true; finish(); }, 5000);
step();
`;

// Main thread of the worker child: opens the shared pieces with the wrappers, hands descriptor
// numbers to a worker, and checks that both threads receive their share at the same time.
const WORKER_CHILD = String.raw`
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const lib = (p) => import(pathToFileURL(join(cfg.lib, p)).href);
const { RawGreSocket } = await lib('io/RawGreSocket.js');
const { NativeTun } = await lib('io/NativeTun.js');
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const out = { main: { gre: [], tun: [] }, worker: null, errors: [] };

// A worker that starts polling and is terminated without closing: the addon's environment
// cleanup must stop its poll without disturbing this thread.
const doomedFd = io.openRawGre(ip(cfg.local), { count: 2, index: 1 });
const doomed = new Worker(cfg.workerFile, { workerData: { lib: cfg.lib, mode: 'doomed', greFd: doomedFd } });
await new Promise((resolve, reject) => { doomed.once('message', resolve); doomed.once('error', reject); });
out.doomedExit = await doomed.terminate();
io.close(doomedFd);

const gre0 = RawGreSocket.open(ip(cfg.local), { shard: { count: 2, index: 0 }, onError: (e) => out.errors.push(e.message) });
const gre1Fd = io.openRawGre(ip(cfg.local), { count: 2, index: 1 });
const tun0 = NativeTun.open(cfg.tunName, ip('198.18.8.1'), 24, 1400, { multiQueue: true, onError: (e) => out.errors.push(e.message) });
const tun1Fd = io.openTun(cfg.tunName, true).fd;
const steering = tun0.attachSteering(8);
steering.set(ip('198.18.8.10'), 1);
steering.set(ip('198.18.8.11'), 0);

gre0.onBatch((b) => { for (let i = 0; i < b.count; i++) out.main.gre.push(b.packet(i).readUInt16BE(6)); });
tun0.onBatch((b) => {
  for (let i = 0; i < b.count; i++) {
    const p = b.packet(i);
    if (p[0] === 0x45 && p[9] === 17) out.main.tun.push(p.subarray(28).toString());
  }
});

const worker = new Worker(cfg.workerFile, { workerData: { lib: cfg.lib, mode: 'shard', greFd: gre1Fd, tunFd: tun1Fd, local: cfg.local, expectGre: 2, expectTun: 1 } });
worker.on('error', (e) => out.errors.push('worker: ' + e.message));
// Listen for 'exit' now: a worker that ends right after its last message may emit both at once.
const exited = new Promise((resolve) => worker.once('exit', resolve));
const result = new Promise((resolve) => worker.on('message', (m) => { if (m !== 'polling') resolve(m); }));
await new Promise((resolve) => worker.once('message', resolve)); // polling

const sender = io.openRawGre(ip(cfg.peer));
const packets = cfg.packets.map((h) => Buffer.from(h, 'hex'));
const buf = Buffer.concat(packets);
const offs = new Uint32Array(packets.length), lens = new Uint32Array(packets.length), dsts = new Uint32Array(packets.length);
let at = 0;
packets.forEach((p, i) => { offs[i] = at; lens[i] = p.length; dsts[i] = ip(cfg.local); at += p.length; });
io.sendGre(sender, buf, offs, lens, dsts, packets.length);
const udp = dgram.createSocket('udp4');
udp.send(Buffer.from('w-to-10'), 40000, '198.18.8.10');
udp.send(Buffer.from('w-to-11'), 40000, '198.18.8.11');

const watchdog = setTimeout(() => { out.timedOut = true; process.stdout.write(JSON.stringify(out)); process.exit(3); }, 5000);
out.worker = await result;
out.workerExit = await exited;
await new Promise((resolve) => setTimeout(resolve, 100));
clearTimeout(watchdog);
steering.close();
gre0.close();
tun0.close();
io.close(sender);
udp.close();
process.stdout.write(JSON.stringify(out));
`;

const WORKER_THREAD = String.raw`
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
const lib = (p) => import(pathToFileURL(join(workerData.lib, p)).href);
const { RawGreSocket } = await lib('io/RawGreSocket.js');
const { NativeTun } = await lib('io/NativeTun.js');
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

if (workerData.mode === 'doomed') {
  // Poll and never close: terminate() must clean up.
  RawGreSocket.fromFd(workerData.greFd).onBatch(() => {});
  parentPort.postMessage('polling');
} else {
  const out = { passedGre: [], ownGre: [], tun: [], tunName: '', errors: [] };
  const onError = (e) => out.errors.push(e.message);
  const passed = RawGreSocket.fromFd(workerData.greFd, { onError });
  const own = RawGreSocket.open(ip(workerData.local), { shard: { count: 2, index: 1 }, onError });
  const tun = NativeTun.fromFd(workerData.tunFd, { onError });
  out.tunName = tun.name;
  const done = () => {
    if (out.passedGre.length < workerData.expectGre || out.ownGre.length < workerData.expectGre || out.tun.length < workerData.expectTun) return;
    setTimeout(() => {
      passed.close();
      own.close();
      tun.close();
      parentPort.postMessage(out);
    }, 100);
  };
  passed.onBatch((b) => { for (let i = 0; i < b.count; i++) out.passedGre.push(b.packet(i).readUInt16BE(6)); done(); });
  own.onBatch((b) => { for (let i = 0; i < b.count; i++) out.ownGre.push(b.packet(i).readUInt16BE(6)); done(); });
  tun.onBatch((b) => {
    for (let i = 0; i < b.count; i++) {
      const p = b.packet(i);
      if (p[0] === 0x45 && p[9] === 17) out.tun.push(p.subarray(28).toString());
    }
    done();
  });
  parentPort.postMessage('polling');
}
`;

let workDir = '';

function runInNetns<T>(script: string, config: unknown): T {
  const file = join(workDir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  // spawnSync kills exactly this child (by its PID) if it overruns the timeout.
  const r = spawnSync('ip', ['netns', 'exec', NETNS, process.execPath, file, porticoIoPath(), JSON.stringify(config)], {
    timeout: 20_000,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal ?? ''}: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

function ipCmd(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/**
 * Transpiles `entries` and the relative modules they import at run time into `outDir` (same
 * layout as the repository), with a package.json and a link to build/ so PorticoIo finds the addon.
 */
function transpileWrappers(entries: string[], outDir: string): void {
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(REPO, 'build'), join(outDir, 'build'));
  const pending = entries.map((e) => resolve(REPO, e));
  const done = new Set<string>();
  while (pending.length > 0) {
    const source = pending.pop()!;
    if (done.has(source)) continue;
    done.add(source);
    const js = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const target = join(outDir, relative(REPO, source)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const m of js.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) pending.push(resolve(dirname(source), `${m[1]}.ts`));
  }
}

interface GrePacketSeen {
  offset: number;
  addr: number;
  hex: string;
}

// Root only (network namespace, TUN, raw sockets): `npm test` runs as root; `npm run check` leaves this file out.
describe.skipIf(process.getuid?.() !== 0)('sharded native I/O in a private network namespace (needs root)', () => {
  beforeAll(() => {
    if (!existsSync(porticoIoPath())) throw new Error(`${porticoIoPath()} missing: run node-gyp rebuild`);
    workDir = mkdtempSync(join(tmpdir(), 'portico-native-shard-'));
    ipCmd('netns', 'add', NETNS);
    ipCmd('-n', NETNS, 'link', 'set', 'lo', 'up');
    ipCmd('-n', NETNS, 'addr', 'add', `${PEER}/32`, 'dev', 'lo');
    ipCmd('-n', NETNS, 'addr', 'add', `${LOCAL}/32`, 'dev', 'lo');
  });

  afterAll(() => {
    try {
      ipCmd('netns', 'del', NETNS);
    } finally {
      if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('raw GRE shards: each socket gets call id % count === index, malformed GRE only shard 0', () => {
    const payload = (tag: string) => Buffer.from(`shard probe ${tag}`);
    // Not version 1 with K: octets 6-7 hold an odd value, so reading them as a call id would
    // wrongly send these to shard 1.
    const v1NoKey = Buffer.from('1001880b0000000b00000001', 'hex');
    const v0 = Buffer.from('00000800000000000000000b', 'hex'); // plain GRE (RFC 2784) + 8 octets
    const short = Buffer.from('3001880b0000', 'hex'); // K and version 1 but no call id
    const tiny = Buffer.from('30', 'hex'); // one octet: not even the flags
    const labelled: Array<{ label: string; gre: Buffer; ip?: Buffer }> = [
      ...[10, 11, 12, 13, 65535].map((id) => ({ label: `id${id}`, gre: grePacket(id, id, payload(`${id}`)) })),
      { label: 'v1-no-key', gre: v1NoKey },
      { label: 'v0', gre: v0 },
      { label: 'short', gre: short },
      { label: 'tiny', gre: tiny },
    ];
    // IPv4 options (RFC 791: NOPs then end of list) move the GRE header to octet 24 / 28: only a
    // filter that honours IHL finds K + version 1 there (at octet 20 it would read the options).
    const opt20 = grePacket(20, 1, payload('opt20'));
    const opt21 = grePacket(21, 1, payload('opt21'));
    labelled.push(
      { label: 'opt20', gre: opt20, ip: ipv4Packet('198.18.31.9', LOCAL, 47, opt20, { options: Buffer.from('01010100', 'hex') }) },
      { label: 'opt21', gre: opt21, ip: ipv4Packet('198.18.31.9', LOCAL, 47, opt21, { options: Buffer.from('0101010101010100', 'hex') }) },
    );
    const json = runInNetns<{
      received: Record<string, GrePacketSeen[]>;
      stats: Record<string, { packets: number; dropped: number }>;
      sentViaSocket: number;
      sentViaTun: number;
      errors: string[];
      timedOut?: boolean;
    }>(GRE_SHARD_CHILD, {
      local: LOCAL,
      peer: PEER,
      tunName: 'ptsh1',
      shards: { s2i0: { count: 2, index: 0 }, s2i1: { count: 2, index: 1 }, s3i2: { count: 3, index: 2 }, s1i0: { count: 1, index: 0 }, all: null },
      viaSocket: labelled.filter((p) => p.ip === undefined).map((p) => p.gre.toString('hex')),
      viaTun: labelled.filter((p) => p.ip !== undefined).map((p) => p.ip!.toString('hex')),
      expectedAll: labelled.length,
    });

    expect(json.timedOut).toBeUndefined();
    expect(json.errors).toEqual([]);
    expect(json.sentViaSocket).toBe(9);
    expect(json.sentViaTun).toBe(2);
    const labelOf = (hex: string): string => labelled.find((p) => p.gre.toString('hex') === hex)?.label ?? `unknown ${hex}`;
    const got = (socket: string): string[] => json.received[socket].map((p) => labelOf(p.hex)).sort();
    const sorted = (...labels: string[]) => labels.sort();

    // Everything that is not a call's packet (too short for a call id, not version 1 with K) goes
    // to shard 0 alone, which counts it as malformed: nothing is dropped uncounted by a filter.
    expect(got('all')).toEqual(sorted(...labelled.map((p) => p.label)));
    expect(got('s2i0')).toEqual(sorted('id10', 'id12', 'opt20', 'v1-no-key', 'v0', 'short', 'tiny'));
    expect(got('s2i1')).toEqual(sorted('id11', 'id13', 'id65535', 'opt21'));
    expect(got('s3i2')).toEqual(sorted('id11', 'opt20')); // 11 % 3 = 20 % 3 = 2
    expect(got('s1i0')).toEqual(sorted(...labelled.map((p) => p.label)));

    // The addon still strips the (longer) outer header: GRE at 24 / 28 octets into the slot.
    const opt = json.received.s2i1.find((p) => labelOf(p.hex) === 'opt21')!;
    expect(opt.offset % 2048).toBe(28);
    expect(opt.addr).toBe(ip('198.18.31.9'));
    const plain = json.received.s2i1.find((p) => labelOf(p.hex) === 'id11')!;
    expect(plain.offset % 2048).toBe(20);
    expect(plain.addr).toBe(ip(PEER));
    for (const socket of Object.keys(json.stats)) expect(json.stats[socket].dropped).toBe(0);
  });

  it('multi-queue TUN: steering map sends each destination to its queue, deleted entries to queue 0', () => {
    const json = runInNetns<{
      names: string[];
      badFlag: { name: string; message: string };
      singleQueueOpen: { code: string; syscall: string };
      zeroEntries: { name: string; message: string };
      badQueue: { name: string; message: string };
      mapFdFlags: string;
      mapType: string;
      queues: Array<Array<{ dst: number; payload: string }>>;
      errors: string[];
      timedOut?: boolean;
    }>(TUN_STEER_CHILD, { name: 'ptsq0' });

    expect(json.timedOut).toBeUndefined();
    expect(json.errors).toEqual([]);
    expect(json.names).toEqual(['ptsq0', 'ptsq0', 'ptsq0']);
    expect(json.badFlag.name).toBe('TypeError');
    expect(json.singleQueueOpen).toEqual({ code: 'EINVAL', syscall: 'ioctl TUNSETIFF' });
    expect(json.zeroEntries.name).toBe('RangeError');
    expect(json.badQueue.name).toBe('RangeError');
    expect(Number.parseInt(json.mapFdFlags, 8) & 0o2000000).toBe(0o2000000); // O_CLOEXEC
    expect(json.mapType).toBe('1'); // BPF_MAP_TYPE_HASH

    const payloads = (q: number) => json.queues[q].map((p) => p.payload).sort();
    // Phase 1: .10 -> 1, .11 -> 0. Phase 2: .10 deleted (-> 0), .11 moved to 1.
    expect(payloads(0)).toEqual(['to-10-b', 'to-11-a']);
    expect(payloads(1)).toEqual(['to-10-a', 'to-11-b']);
    for (const q of json.queues) for (const p of q) expect(p.dst).toBe(ip(p.payload.startsWith('to-10') ? '198.18.7.10' : '198.18.7.11'));
  });

  it('worker threads: the addon loads in a Worker, which polls a shard socket and a TUN queue passed by descriptor', () => {
    const lib = join(workDir, 'lib');
    mkdirSync(lib);
    transpileWrappers(['io/RawGreSocket.ts', 'io/NativeTun.ts'], lib);
    const workerFile = join(workDir, 'shard-worker.mjs');
    writeFileSync(workerFile, WORKER_THREAD);
    const json = runInNetns<{
      main: { gre: number[]; tun: string[] };
      worker: { passedGre: number[]; ownGre: number[]; tun: string[]; tunName: string; errors: string[] };
      doomedExit: number;
      workerExit: number;
      errors: string[];
      timedOut?: boolean;
    }>(WORKER_CHILD, {
      lib,
      workerFile,
      local: LOCAL,
      peer: PEER,
      tunName: 'ptsw0',
      packets: [40, 41, 42, 43].map((id) => grePacket(id, 0, Buffer.from(`w${id}`)).toString('hex')),
    });

    expect(json.timedOut).toBeUndefined();
    expect(json.errors).toEqual([]);
    expect(json.doomedExit).toBe(1); // terminate() resolves with exit code 1
    expect(json.main.gre.sort()).toEqual([40, 42]);
    expect(json.main.tun).toEqual(['w-to-11']);
    expect(json.worker.errors).toEqual([]);
    expect(json.worker.passedGre.sort()).toEqual([41, 43]);
    expect(json.worker.ownGre.sort()).toEqual([41, 43]);
    expect(json.worker.tunName).toBe('ptsw0');
    expect(json.worker.tun).toEqual(['w-to-10']);
    expect(json.workerExit).toBe(0);
  });
});

describe('sharding arguments (checked before any system call)', () => {
  it('openRawGre rejects a shard outside count 1..64, 0 <= index < count', () => {
    const io = loadPorticoIo();
    expect(() => io.openRawGre(0, { count: 0, index: 0 })).toThrow(RangeError);
    expect(() => io.openRawGre(0, { count: 65, index: 0 })).toThrow(/shard\.count must be an integer in \[1, 64\]/);
    expect(() => io.openRawGre(0, { count: 2, index: 2 })).toThrow(/shard\.index must be an integer in \[0, 1\]/);
    expect(() => io.openRawGre(0, { count: 2, index: 0.5 })).toThrow(RangeError);
    expect(() => io.openRawGre(0, 3 as unknown as { count: number; index: number })).toThrow(TypeError);
    expect(() => RawGreSocket.open(0, { shard: { count: 4, index: -1 } })).toThrow(RangeError);
  });

  it('steering calls and fromFd reject bad numbers', () => {
    const io = loadPorticoIo();
    expect(() => io.attachTunSteering(-1, 8)).toThrow(RangeError);
    expect(() => io.attachTunSteering(0, 2 ** 20 + 1)).toThrow(/maxEntries must be an integer in \[1, 1048576\]/);
    expect(() => io.steeringSet(0, 2 ** 32, 0)).toThrow(RangeError);
    expect(() => io.steeringDelete(0, -1)).toThrow(RangeError);
    expect(() => RawGreSocket.fromFd(-1)).toThrow(RangeError);
    expect(() => NativeTun.fromFd(1.5)).toThrow(RangeError);
  });
});
