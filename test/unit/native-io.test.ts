// Native packet I/O (io/native/portico_io.c) and its in-memory twins.
//
// The native part needs root: it creates its own network namespace (addresses only in
// 198.18.0.0/15, never the root namespace's interfaces), runs small child scripts inside it with
// `ip netns exec`, and deletes the namespace afterwards. The child scripts load the built addon
// directly and print JSON; every assertion is made here over the bytes they report.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grePacket, icmpEcho, internetChecksum, ip, ipv4Packet } from './TestPackets.js';
import { MemoryGreSocket } from '../../io/MemoryGreSocket.js';
import { DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, PacketBatch } from '../../io/PacketBatch.js';
import { porticoIoPath } from '../../io/PorticoIo.js';
import { MemoryTun } from '../../io/MemoryTun.js';
import { buildLoadGenerator } from '../load/LoadBuild.js';

const NETNS = `portico-io-${process.pid}`;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TUN_NAME = 'ptio0';

// ---------------------------------------------------------------- child scripts

const TUN_CHILD = String.raw`
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const out = { packets: [], batches: 0, errors: [] };
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const SLOTS = 64, SLOT = 2048, HEAD = 64;

try { io.configureInterface('nosuch0', ip('198.18.200.1'), 24, 1400); }
catch (e) { out.missingInterfaceError = { message: e.message, code: e.code, syscall: e.syscall }; }

const tun = io.openTun(cfg.name);
out.name = tun.name;
io.configureInterface(tun.name, ip('198.18.200.1'), 24, 1400, 1234);
out.link = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', tun.name]).toString();
out.mtuLine = execFileSync('ip', ['-o', 'link', 'show', 'dev', tun.name]).toString();
out.txQueueLen = execFileSync('cat', ['/sys/class/net/' + tun.name + '/tx_queue_len']).toString().trim();
io.addRoute(tun.name, ip('198.18.202.77'), 24);
io.addRoute(tun.name, ip('198.18.202.0'), 24); // already there: tolerated
out.routesAfterAdd = execFileSync('ip', ['-4', 'route', 'show', 'dev', tun.name]).toString();
io.delRoute(tun.name, ip('198.18.202.0'), 24);
io.delRoute(tun.name, ip('198.18.202.0'), 24); // already gone: tolerated
out.routesAfterDel = execFileSync('ip', ['-4', 'route', 'show', 'dev', tun.name]).toString();

const slab = Buffer.alloc(SLOTS * SLOT);
const offsets = new Uint32Array(SLOTS), lengths = new Uint32Array(SLOTS), addrs = new Uint32Array(SLOTS);
const sendSlab = Buffer.alloc(SLOT);
const echo = Buffer.from(cfg.echoRequestHex, 'hex');
let sentEcho = false;
let finished = false;
const udp = dgram.createSocket('udp4');

function finish() {
  if (finished) return;
  finished = true;
  out.stats = io.pollStats(handle);
  io.stopPoll(handle);
  io.stopPoll(handle); // idempotent
  io.close(tun.fd);
  udp.close();
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(out));
}

const handle = io.startPoll(tun.fd, 'tun', slab, SLOT, HEAD, offsets, lengths, addrs, (count) => {
  out.batches++;
  for (let i = 0; i < count; i++) {
    const p = slab.subarray(offsets[i], offsets[i] + lengths[i]);
    out.packets.push({ offset: offsets[i], hex: p.toString('hex') });
    if (p[0] >> 4 !== 4 || p.length < 20) continue;
    const dst = p.readUInt32BE(16);
    if (p[9] === 17 && dst === ip('198.18.200.9') && !sentEcho) {
      sentEcho = true;
      // Crafted echo request placed after the headroom of a send slab, as the data plane does.
      echo.copy(sendSlab, HEAD);
      out.writeTunResult = io.writeTun(tun.fd, sendSlab, Uint32Array.of(HEAD), Uint32Array.of(echo.length), 1);
    }
    if (p[9] === 1 && dst === ip('198.18.200.9')) setImmediate(finish);
  }
}, (e) => out.errors.push(e.message));

udp.send(Buffer.from(cfg.udpPayload), 40000, '198.18.200.9');
const watchdog = setTimeout(() => { out.timedOut = true; finish(); }, 5000);
`;

const GRE_CHILD = String.raw`
import { createRequire } from 'node:module';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const SLOTS = 64, SLOT = 2048;
const out = { batchCounts: [], packets: [], errors: [], uncaught: [] };

const sender = io.openRawGre(ip('198.18.201.1'));
const receiver = io.openRawGre(ip('198.18.201.2'));

const slab = Buffer.alloc(SLOTS * SLOT);
const offsets = new Uint32Array(SLOTS), lengths = new Uint32Array(SLOTS), addrs = new Uint32Array(SLOTS);

// Outgoing batch: all packets in one buffer at 128-octet strides.
const packets = cfg.packetsHex.map((h) => Buffer.from(h, 'hex'));
const sendBuf = Buffer.alloc(packets.length * 128);
const sOff = new Uint32Array(packets.length), sLen = new Uint32Array(packets.length), sAddr = new Uint32Array(packets.length);
packets.forEach((p, i) => { p.copy(sendBuf, i * 128); sOff[i] = i * 128; sLen[i] = p.length; sAddr[i] = ip('198.18.201.2'); });

try { io.sendGre(sender, sendBuf, Uint32Array.of(sendBuf.length - 4), Uint32Array.of(8), Uint32Array.of(1), 1); }
catch (e) { out.rangeError = { name: e.name, message: e.message }; }

let phase = 'batch';
let handle;
function onBatch(count) {
  out.batchCounts.push(count);
  for (let i = 0; i < count; i++) {
    out.packets.push({ phase, batch: out.batchCounts.length, offset: offsets[i], addr: addrs[i], hex: slab.subarray(offsets[i], offsets[i] + lengths[i]).toString('hex') });
  }
  if (phase === 'throw' || phase === 'uncaught') throw new Error('handler failure ' + out.packets.length);
}

function step() {
  const received = out.packets.filter((p) => p.phase === phase).length;
  if (phase === 'batch' && received >= packets.length) {
    out.stats = io.pollStats(handle);
    // The same poll with a throwing handler: onError gets the exception, polling goes on.
    phase = 'throw';
    io.sendGre(sender, sendBuf, sOff, sLen, sAddr, 3);
  } else if (phase === 'throw' && received >= 3) {
    phase = 'after-throw';
    io.sendGre(sender, sendBuf, sOff, sLen, sAddr, 2);
  } else if (phase === 'after-throw' && received >= 2) {
    io.stopPoll(handle);
    // Without onError the exception reaches process 'uncaughtException'.
    process.on('uncaughtException', (e) => { out.uncaught.push(e.message); });
    phase = 'uncaught';
    handle = io.startPoll(receiver, 'gre', slab, SLOT, 0, offsets, lengths, addrs, onBatch);
    io.sendGre(sender, sendBuf, sOff, sLen, sAddr, 1);
  } else if (phase === 'uncaught' && out.uncaught.length > 0) {
    io.stopPoll(handle);
    io.close(sender);
    io.close(receiver);
    clearTimeout(watchdog);
    process.stdout.write(JSON.stringify(out));
    return;
  }
  setTimeout(step, 20);
}

handle = io.startPoll(receiver, 'gre', slab, SLOT, 0, offsets, lengths, addrs, onBatch, (e) => out.errors.push(e.message));
out.sent = io.sendGre(sender, sendBuf, sOff, sLen, sAddr, packets.length);
const watchdog = setTimeout(() => { out.timedOut = true; process.stdout.write(JSON.stringify(out)); process.exit(3); }, 5000);
setTimeout(step, 20);
`;

const TUN_OVERSIZE_CHILD = String.raw`
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
// MTU above the slot capacity (NativeTun refuses this; the addon must still not truncate).
const tun = io.openTun(cfg.name);
io.configureInterface(tun.name, ip('198.18.210.1'), 24, 9000);
const slab = Buffer.alloc(4 * 2048), o = new Uint32Array(4), l = new Uint32Array(4), a = new Uint32Array(4);
const out = { packets: [], batches: [] };
const udpWanted = cfg.sizes.filter((n) => n <= 1000).length;
// Every datagram waits in the TUN's queue before the poll starts, so the first wake-up reads them in
// order into slots 0, 1, ...: the sizes decide which slot meets the oversized one.
const udp = dgram.createSocket('udp4');
let k = 0;
const sendNext = () => {
  if (k === cfg.sizes.length) return start();
  const size = cfg.sizes[k];
  udp.send(Buffer.alloc(size, ++k), 9, '198.18.210.5', sendNext);
};
sendNext();
function start() {
  const handle = io.startPoll(tun.fd, 'tun', slab, 2048, 64, o, l, a, (n) => {
    out.batches.push(Array.from(o.subarray(0, n)));
    for (let i = 0; i < n; i++) out.packets.push(slab.subarray(o[i], o[i] + l[i]).toString('hex'));
    if (out.packets.filter((h) => h.startsWith('45') && h.slice(18, 20) === '11').length === udpWanted) setImmediate(() => done(handle));
  });
}
function done(handle) {
  out.stats = io.pollStats(handle);
  io.stopPoll(handle);
  io.close(tun.fd);
  udp.close();
  process.stdout.write(JSON.stringify(out));
}
`;

// NativeTun.open (the compiled module, dist/) beside a TUN set up without it, IPv6 as the kernel leaves it.
const TUN_IPV6_CHILD = String.raw`
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const { NativeTun } = await import(cfg.module);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const ipv6 = (name) => execFileSync('ip', ['-6', '-o', 'addr', 'show', 'dev', name]).toString();
const ours = NativeTun.open(cfg.name, ip('198.18.204.1'), 24, 1400);
const plain = io.openTun(cfg.plainName);
io.configureInterface(plain.name, ip('198.18.205.1'), 24, 1400);
const out = {
  kernelHasIpv6: existsSync('/proc/sys/net/ipv6'),
  kept: ours.ipv6KeptBecause,
  disabled: existsSync('/proc/sys/net/ipv6') ? readFileSync('/proc/sys/net/ipv6/conf/' + cfg.name + '/disable_ipv6', 'utf8').trim() : null,
  ours: ipv6(cfg.name),
  plain: ipv6(plain.name),
  link: execFileSync('ip', ['-o', 'link', 'show', 'dev', cfg.name]).toString(),
};
ours.close();
io.close(plain.fd);
process.stdout.write(JSON.stringify(out));
`;

const PROXY_ARP_CHILD = String.raw`
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
const [addonPath, configJson] = process.argv.slice(2);
const cfg = JSON.parse(configJson);
const io = createRequire(import.meta.url)(addonPath);
const ip = (t) => t.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const shown = () => execFileSync('ip', ['neigh', 'show', 'proxy', 'dev', cfg.lan]).toString().split('\n').map((l) => l.trim()).filter(Boolean).sort();
const error = (f) => { try { f(); return null; } catch (e) { return e.code + ' ' + e.message; } };
execFileSync('ip', ['link', 'add', cfg.lan, 'type', 'veth', 'peer', 'name', cfg.lan + 'p']);
execFileSync('ip', ['link', 'set', cfg.lan, 'up']);
const out = {};
io.addProxyArp(cfg.lan, ip('198.18.206.131'));
io.addProxyArp(cfg.lan, ip('198.18.206.131')); // again: no error, one entry
io.addProxyArp(cfg.lan, ip('198.18.206.132'));
out.added = shown();
io.delProxyArp(cfg.lan, ip('198.18.206.131'));
out.afterDel = shown();
out.delMissing = error(() => io.delProxyArp(cfg.lan, ip('198.18.206.131')));
out.noDevice = error(() => io.addProxyArp('ptnosuch0', ip('198.18.206.133')));
io.delProxyArp(cfg.lan, ip('198.18.206.132'));
out.end = shown();
execFileSync('ip', ['link', 'del', cfg.lan]);
process.stdout.write(JSON.stringify(out));
`;

interface ChildResult<T> {
  json: T;
  stderr: string;
}

let workDir = '';

function runInNetns<T>(script: string, config: unknown): ChildResult<T> {
  const file = join(workDir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  // spawnSync kills exactly this child (by its PID) if it overruns the timeout.
  const r = spawnSync('ip', ['netns', 'exec', NETNS, process.execPath, file, porticoIoPath(), JSON.stringify(config)], {
    timeout: 15_000,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal ?? ''}: ${r.stderr}\n${r.stdout}`);
  return { json: JSON.parse(r.stdout) as T, stderr: r.stderr };
}

function ipCmd(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

// Root only (network namespace, TUN, raw sockets): `npm test` runs as root; `npm run check` leaves this file out.
describe.skipIf(process.getuid?.() !== 0)('native I/O in a private network namespace (needs root)', () => {
  beforeAll(() => {
    if (!existsSync(porticoIoPath())) throw new Error(`${porticoIoPath()} missing: run node-gyp rebuild`);
    workDir = mkdtempSync(join(tmpdir(), 'portico-native-io-'));
    ipCmd('netns', 'add', NETNS);
    ipCmd('-n', NETNS, 'link', 'set', 'lo', 'up');
    ipCmd('-n', NETNS, 'addr', 'add', '198.18.201.1/32', 'dev', 'lo');
    ipCmd('-n', NETNS, 'addr', 'add', '198.18.201.2/32', 'dev', 'lo');
  });

  afterAll(() => {
    try {
      ipCmd('netns', 'del', NETNS);
    } finally {
      if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('TUN: configures the interface, reads routed packets after the headroom, writes packets in', () => {
    const echoData = Buffer.from('portico echo payload 0123456789');
    const echoRequest = ipv4Packet('198.18.200.9', '198.18.200.1', 1, icmpEcho(8, 0x4242, 7, echoData));
    const { json } = runInNetns<{
      name: string;
      link: string;
      mtuLine: string;
      txQueueLen: string;
      routesAfterAdd: string;
      routesAfterDel: string;
      missingInterfaceError: { message: string; code: string; syscall: string };
      packets: Array<{ offset: number; hex: string }>;
      batches: number;
      writeTunResult: number;
      errors: string[];
      timedOut?: boolean;
      stats: { packets: number; batches: number; dropped: number };
    }>(TUN_CHILD, { name: TUN_NAME, udpPayload: 'portico-udp-probe', echoRequestHex: echoRequest.toString('hex') });

    expect(json.timedOut).toBeUndefined();
    expect(json.errors).toEqual([]);
    expect(json.name).toBe(TUN_NAME);
    expect(json.link).toContain('inet 198.18.200.1/24');
    expect(json.mtuLine).toMatch(/mtu 1400\b/);
    expect(json.mtuLine).toMatch(/<[^>]*\bUP\b/);
    expect(json.txQueueLen).toBe('1234'); // the kernel's own TUN default is 500
    expect(json.routesAfterAdd).toContain('198.18.202.0/24');
    expect(json.routesAfterDel).not.toContain('198.18.202.0/24');
    expect(json.missingInterfaceError.message).toMatch(/^configureInterface\(nosuch0\): ENODEV \(ioctl SIOCSIFADDR/);
    expect(json.missingInterfaceError.code).toBe('ENODEV');

    const packets = json.packets.map((p) => ({ offset: p.offset, data: Buffer.from(p.hex, 'hex') }));
    for (const p of packets) expect(p.offset % 2048).toBe(64); // slot start + headroom
    const v4 = packets.filter((p) => p.data[0] >> 4 === 4);

    const udp = v4.find((p) => p.data[9] === 17 && p.data.readUInt32BE(16) === ip('198.18.200.9'));
    expect(udp).toBeDefined();
    const u = udp!.data;
    expect(u.readUInt32BE(12)).toBe(ip('198.18.200.1'));
    expect(internetChecksum(u.subarray(0, 20))).toBe(0);
    const ihl = (u[0] & 15) * 4;
    expect(u.readUInt16BE(ihl + 2)).toBe(40000);
    expect(u.subarray(ihl + 8).toString()).toBe('portico-udp-probe');

    expect(json.writeTunResult).toBe(1);
    const reply = v4.find((p) => p.data[9] === 1 && p.data.readUInt32BE(16) === ip('198.18.200.9'));
    expect(reply).toBeDefined();
    const r = reply!.data;
    expect(r.readUInt32BE(12)).toBe(ip('198.18.200.1'));
    expect(internetChecksum(r.subarray(0, 20))).toBe(0);
    const icmp = r.subarray((r[0] & 15) * 4, r.readUInt16BE(2));
    expect(icmp[0]).toBe(0); // echo reply
    expect(internetChecksum(icmp)).toBe(0);
    expect(icmp.readUInt16BE(4)).toBe(0x4242);
    expect(icmp.readUInt16BE(6)).toBe(7);
    expect(icmp.subarray(8)).toEqual(echoData);

    expect(json.stats.packets).toBe(json.packets.length);
    expect(json.stats.dropped).toBe(0);
  });

  it('proxy ARP: an entry per address on the interface (as ip neigh replace proxy), again is no error, removed; errors carry the errno', () => {
    const { json } = runInNetns<{ added: string[]; afterDel: string[]; delMissing: string; noDevice: string; end: string[] }>(PROXY_ARP_CHILD, { lan: 'ptlan0' });
    expect(json.added).toEqual(['198.18.206.131 proxy', '198.18.206.132 proxy']);
    expect(json.afterDel).toEqual(['198.18.206.132 proxy']);
    expect(json.delMissing).toBe('ENOENT delProxyArp(ptlan0): ENOENT (ioctl SIOCDARP: No such file or directory)');
    expect(json.noDevice).toBe('ENODEV addProxyArp(ptnosuch0): ENODEV (ioctl SIOCSARP: No such device)');
    expect(json.end).toEqual([]);
  });

  type OversizeRun = { packets: string[]; batches: number[][]; stats: { dropped: number } };
  const udpOf = (run: OversizeRun) => run.packets.map((h) => Buffer.from(h, 'hex')).filter((p) => p[0] === 0x45 && p[9] === 17);

  it('TUN: a packet longer than a slot is dropped and counted, never handed on truncated', () => {
    const { json } = runInNetns<OversizeRun>(TUN_OVERSIZE_CHILD, { name: 'ptio1', sizes: [5000, 100] });
    const udp = udpOf(json);
    expect(udp).toHaveLength(1);
    expect(udp[0].readUInt16BE(2)).toBe(20 + 8 + 100);
    expect(udp[0].length).toBe(128);
    expect(json.stats.dropped).toBe(1);
  });

  it('TUN: the same in the last slot of a batch, which reads with an overflow iovec where the others read one octet more', () => {
    const { json } = runInNetns<OversizeRun>(TUN_OVERSIZE_CHILD, { name: 'ptio1', sizes: [100, 200, 300, 5000, 400] });
    const udp = udpOf(json);
    expect(udp.map((p) => p.readUInt16BE(2))).toEqual([128, 228, 328, 428]);
    expect(udp.map((p) => p.length)).toEqual([128, 228, 328, 428]);
    expect(udp.map((p) => p[28])).toEqual([1, 2, 3, 5]); // payload octet = the datagram's number: the fourth went
    // One wake-up, all four slots: the oversized datagram met the last one (slot 3) and its follower took it.
    expect(json.batches[0]).toEqual([64, 2048 + 64, 2 * 2048 + 64, 3 * 2048 + 64]);
    expect(json.stats.dropped).toBe(1);
  });

  it('TUN: NativeTun.open turns IPv6 off before the interface is up, so the kernel never sends its own IPv6 into it', () => {
    buildLoadGenerator(); // dist/, which `npm test` has just compiled
    const module = pathToFileURL(join(REPO, 'dist', 'io', 'NativeTun.js')).href;
    const { json } = runInNetns<{ kernelHasIpv6: boolean; kept: string | null; disabled: string | null; ours: string; plain: string; link: string }>(TUN_IPV6_CHILD, {
      module,
      name: 'ptio6',
      plainName: 'ptio7',
    });
    expect(json.link).toMatch(/<[^>]*\bUP\b/);
    expect(json.kept).toBeNull();
    if (json.kernelHasIpv6) {
      // A TUN brought up as the kernel leaves it gets a link-local address (and then sends router solicitations and MLD from it)...
      expect(json.plain).toMatch(/inet6 fe80::/);
      // ...ours has none, and never will.
      expect(json.disabled).toBe('1');
      expect(json.ours).toBe('');
    } else expect(json.ours).toBe('');
  }, 180_000);

  it('raw GRE: 100 packets cross in a few batches, outer IPv4 header stripped, source kept', () => {
    const sent = Array.from({ length: 100 }, (_, i) => grePacket(0x1000 + i, i, Buffer.from(`gre payload #${i} `.padEnd(40 + (i % 7), 'x'))));
    const { json } = runInNetns<{
      sent: number;
      batchCounts: number[];
      packets: Array<{ phase: string; batch: number; offset: number; addr: number; hex: string }>;
      errors: string[];
      uncaught: string[];
      rangeError: { name: string; message: string };
      stats: { wakeups: number; batches: number; packets: number; dropped: number };
      timedOut?: boolean;
    }>(GRE_CHILD, { packetsHex: sent.map((p) => p.toString('hex')) });

    expect(json.timedOut).toBeUndefined();
    expect(json.rangeError.name).toBe('RangeError');
    expect(json.rangeError.message).toContain('outside the buffer');
    expect(json.sent).toBe(100);

    const first = json.packets.filter((p) => p.phase === 'batch');
    expect(first).toHaveLength(100);
    // Batching: 100 packets arrive in far fewer than 100 handler calls (64-slot slab).
    expect(json.stats.batches).toBeLessThan(100);
    expect(json.stats.batches).toBeGreaterThanOrEqual(2);
    expect(json.stats.packets).toBe(100);
    expect(json.stats.dropped).toBe(0);
    expect(Math.max(...json.batchCounts)).toBeGreaterThan(1);
    first.forEach((p, i) => {
      expect(p.addr).toBe(ip('198.18.201.1'));
      expect(p.offset % 2048).toBe(20); // after a 20-octet outer IPv4 header
      expect(Buffer.from(p.hex, 'hex')).toEqual(sent[i]);
    });

    // A throwing handler is reported to onError, and the poll keeps delivering.
    const throwing = json.packets.filter((p) => p.phase === 'throw');
    expect(throwing.map((p) => Buffer.from(p.hex, 'hex'))).toEqual(sent.slice(0, 3));
    expect(json.errors).toHaveLength(new Set(throwing.map((p) => p.batch)).size); // one per batch
    for (const e of json.errors) expect(e).toMatch(/^handler failure/);
    expect(json.packets.filter((p) => p.phase === 'after-throw').map((p) => Buffer.from(p.hex, 'hex'))).toEqual(sent.slice(0, 2));
    // Without onError: process 'uncaughtException', not silence.
    expect(json.uncaught).toHaveLength(1);
    expect(json.uncaught[0]).toMatch(/^handler failure/);
  });
});

describe('PacketBatch', () => {
  it('defaults to 64 slots of 2048 octets with 64 octets headroom', () => {
    const b = new PacketBatch();
    expect([DEFAULT_SLOTS, DEFAULT_SLOT_SIZE, DEFAULT_HEADROOM]).toEqual([64, 2048, 64]);
    expect(b.buf.length).toBe(64 * 2048);
    expect(b.offsets.length).toBe(64);
    expect(b.capacity).toBe(2048 - 64);
    expect(b.slotStart(3)).toBe(3 * 2048 + 64);
  });

  it('rejects geometry the native reader cannot use', () => {
    expect(() => new PacketBatch(0)).toThrow(RangeError);
    expect(() => new PacketBatch(2000)).toThrow(RangeError);
    expect(() => new PacketBatch(4, 32)).toThrow(RangeError);
    expect(() => new PacketBatch(4, 2048, 2000)).toThrow(RangeError);
  });
});

describe('MemoryGreSocket', () => {
  it('delivers injected packets in batches of at most `slots`, with source addresses', () => {
    const s = new MemoryGreSocket(ip('198.18.0.1'));
    const seen: Array<{ count: number; data: Buffer[]; from: number[] }> = [];
    s.onBatch((b) => {
      const data: Buffer[] = [];
      const from: number[] = [];
      for (let i = 0; i < b.count; i++) {
        data.push(Buffer.from(b.packet(i)));
        from.push(b.addrs[i]);
      }
      seen.push({ count: b.count, data, from });
    });
    const packets = Array.from({ length: 100 }, (_, i) => ({ data: grePacket(i, i, Buffer.from(`p${i}`)), from: ip('198.18.9.9') + i }));
    expect(s.inject(packets)).toBe(2);
    expect(seen.map((x) => x.count)).toEqual([64, 36]);
    expect(seen.flatMap((x) => x.data)).toEqual(packets.map((p) => p.data));
    expect(seen.flatMap((x) => x.from)).toEqual(packets.map((p) => p.from));
  });

  it('queues packets injected while the handler runs instead of overwriting its slab', () => {
    const s = new MemoryGreSocket();
    const order: string[] = [];
    s.onBatch((b) => {
      const first = b.packet(0).toString();
      if (first === 'a') s.inject([{ data: Buffer.from('b'), from: 1 }]);
      order.push(first, b.packet(0).toString());
    });
    s.inject([{ data: Buffer.from('a'), from: 1 }]);
    expect(order).toEqual(['a', 'a', 'b', 'b']);
  });

  it('a network pair exchanges batches asynchronously and records copies of what was sent', async () => {
    const [a, b] = MemoryGreSocket.pair(ip('198.18.0.1'), ip('198.18.0.2'));
    const atB: Array<{ data: string; from: number }> = [];
    b.onBatch((batch) => {
      for (let i = 0; i < batch.count; i++) atB.push({ data: batch.packet(i).toString(), from: batch.addrs[i] });
    });
    const buf = Buffer.from('xxhelloyyworld');
    const out = { buf, offsets: Uint32Array.of(2, 9), lengths: Uint32Array.of(5, 5), addrs: Uint32Array.of(ip('198.18.0.2'), ip('198.18.0.2')), count: 2 };
    expect(a.sendBatch(out)).toBe(2);
    expect(atB).toEqual([]); // not before the network "delivers"
    buf.fill(0); // the sender reuses its slab at once
    await a.settle();
    expect(atB).toEqual([
      { data: 'hello', from: ip('198.18.0.1') },
      { data: 'world', from: ip('198.18.0.1') },
    ]);
    expect(a.sent.map((p) => [p.data.toString(), p.to])).toEqual([
      ['hello', ip('198.18.0.2')],
      ['world', ip('198.18.0.2')],
    ]);
    expect(b.batchesDelivered).toBe(1);
  });
});

describe('MemoryTun', () => {
  it('places packets after the headroom, like the native reader, and records writes', () => {
    const tun = new MemoryTun('memtun0', { slots: 4 });
    const offsets: number[] = [];
    let calls = 0;
    tun.onBatch((b) => {
      calls++;
      for (let i = 0; i < b.count; i++) {
        offsets.push(b.offsets[i]);
        // Prepend a 4-octet header in place, as the data plane does, and write it out.
        b.buf.writeUInt32BE(0xdeadbeef, b.offsets[i] - 4);
      }
      const out = { buf: b.buf, offsets: b.offsets.map((o) => o - 4), lengths: b.lengths.map((l) => l + 4), count: b.count };
      expect(tun.writeBatch(out)).toBe(b.count);
    });
    const pkts = Array.from({ length: 6 }, (_, i) => ipv4Packet('198.18.200.9', '198.18.200.1', 17, Buffer.from(`d${i}`)));
    expect(tun.inject(pkts)).toBe(2);
    expect(calls).toBe(2);
    expect(offsets).toEqual([64, 2048 + 64, 4096 + 64, 6144 + 64, 64, 2048 + 64]);
    expect(tun.written).toEqual(pkts.map((p) => Buffer.concat([Buffer.from('deadbeef', 'hex'), p])));
  });

  it('keeps routes by network, idempotently', () => {
    const tun = new MemoryTun();
    tun.addRoute(ip('198.18.202.77'), 24);
    tun.addRoute(ip('198.18.202.0'), 24);
    tun.addRoute(ip('198.18.203.5'), 32);
    expect([...tun.routes.keys()]).toEqual(['198.18.202.0/24', '198.18.203.5/32']);
    tun.delRoute(ip('198.18.202.0'), 24);
    tun.delRoute(ip('198.18.202.0'), 24);
    expect([...tun.routes.keys()]).toEqual(['198.18.203.5/32']);
  });
});
