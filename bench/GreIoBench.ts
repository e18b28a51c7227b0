// How many GRE packets per second cross between the kernel and JavaScript: our batching addon
// (recvmmsg/sendmmsg, one JS call per batch) against the `raw-socket` npm package (one callback
// per packet) — the measurement behind README's choice. Runs in a network namespace it creates,
// on that namespace's loopback only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadPorticoIo } from '../io/PorticoIo.js';
import { PacketBatch } from '../io/PacketBatch.js';
import { emitFigure } from './Figures.js';

const LOOPBACK = 0x7f000001;
const RAW_SOCKET_DIR = process.env.PORTICO_BENCH_DEPS ?? '/var/cache/portico-bench';

/** `raw-socket` is measured, not depended on: it is installed into a cache folder on first use. */
// biome-ignore lint/suspicious/noExplicitAny: raw-socket ships no types; only the benchmark touches it
function loadRawSocket(): any {
  const entry = `${RAW_SOCKET_DIR}/node_modules/raw-socket`;
  if (!existsSync(entry)) {
    mkdirSync(RAW_SOCKET_DIR, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-save', '--prefix', RAW_SOCKET_DIR, 'raw-socket@1.8.1'], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error('cannot install raw-socket for the comparison');
  }
  return createRequire(import.meta.url)(entry);
}

function greFrame(size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt16BE(0x3001, 0); // K|S, version 1
  b.writeUInt16BE(0x880b, 2);
  b.writeUInt16BE(size - 12, 4);
  b.writeUInt16BE(7, 6);
  return b;
}

const keptAlive: unknown[] = [];

/** Child roles: run inside the namespace, print one JSON line. */
async function role(name: string, impl: string, seconds: number, size: number): Promise<void> {
  const io = loadPorticoIo();
  if (name === 'send') {
    const frame = greFrame(size);
    let sent = 0;
    const deadline = Date.now() + seconds * 1000;
    if (impl === 'addon') {
      const fd = io.openRawGre(0);
      const n = 64;
      const buf = Buffer.alloc(n * size);
      for (let i = 0; i < n; i++) frame.copy(buf, i * size);
      const offsets = Uint32Array.from({ length: n }, (_, i) => i * size);
      const lengths = new Uint32Array(n).fill(size);
      const addrs = new Uint32Array(n).fill(LOOPBACK);
      while (Date.now() < deadline) for (let k = 0; k < 16; k++) sent += io.sendGre(fd, buf, offsets, lengths, addrs, n);
    } else {
      const raw = loadRawSocket();
      const socket = raw.createSocket({ protocol: 47 });
      const keepAlive = setInterval(() => {}, 1000); // its handle does not hold the loop open
      await new Promise<void>((resolve) => {
        let inFlight = 0;
        const pump = () => {
          while (inFlight < 64 && Date.now() < deadline) {
            inFlight++;
            socket.send(frame, 0, frame.length, '127.0.0.1', (err: Error | null) => {
              inFlight--;
              if (!err) sent++;
              if (Date.now() < deadline) pump();
              else if (inFlight === 0) resolve();
            });
          }
        };
        pump();
      });
      clearInterval(keepAlive);
      socket.close();
    }
    process.stdout.write(`${JSON.stringify({ packets: sent, seconds })}\n`);
    process.exit(0);
  }
  // receive: count what arrives for `seconds` after the first packet.
  let received = 0;
  let started = 0;
  const done = () => {
    process.stdout.write(`${JSON.stringify({ packets: received, seconds: (Date.now() - started) / 1000 })}\n`);
    process.exit(0);
  };
  const arm = () => {
    if (started === 0) {
      started = Date.now();
      setTimeout(done, seconds * 1000);
    }
  };
  if (impl === 'addon') {
    const fd = io.openRawGre(0);
    const batch = new PacketBatch(64, 2048, 0);
    io.startPoll(fd, 'gre', batch.buf, batch.slotSize, 0, batch.offsets, batch.lengths, batch.addrs, (count) => {
      arm();
      received += count;
    });
  } else {
    const raw = loadRawSocket();
    const socket = raw.createSocket({ protocol: 47 });
    keptAlive.push(socket); // nothing else references it: the collector would close it
    socket.on('message', () => {
      arm();
      received++;
    });
  }
  // raw-socket's poll handle does not hold the loop open; the deadline timer does once armed.
  const keepAlive = setInterval(() => {}, 1000);
  setTimeout(() => {
    clearInterval(keepAlive);
    if (started === 0) done();
  }, 20_000);
  process.stdout.write('ready\n');
}

function runInNs(ns: string, args: string[]): { child: ReturnType<typeof spawn>; result: Promise<{ packets: number; seconds: number }>; ready: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const result = new Promise<{ packets: number; seconds: number }>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) readyResolve();
    });
    child.on('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      line ? resolve(JSON.parse(line)) : reject(new Error(`bench child ${args.join(' ')} printed nothing`));
    });
  });
  if (args[1] === 'send') readyResolve();
  return { child, result, ready };
}

export async function greIoBench(): Promise<void> {
  const ns = `portico-bench-${process.pid}`;
  spawnSync('ip', ['netns', 'add', ns]);
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  try {
    loadRawSocket();
    for (const size of [64, 1400]) {
      // Drain: one sender (addon, sendmmsg batches) floods loopback; each receiver counts for 2 s.
      const drain: Record<string, number> = {};
      for (const impl of ['addon', 'raw-socket']) {
        const rx = runInNs(ns, ['--role', 'recv', impl, '2', String(size)]);
        await rx.ready;
        const tx = runInNs(ns, ['--role', 'send', 'addon', '4', String(size)]);
        const r = await rx.result;
        await tx.result;
        drain[impl] = r.packets / r.seconds;
      }
      emitFigure({ bench: 'gre-io', figure: `drain-${size}B-raw-socket`, value: Math.round(drain['raw-socket']!), unit: 'packets/s' });
      emitFigure({ bench: 'gre-io', figure: `drain-${size}B-addon`, value: Math.round(drain.addon!), unit: 'packets/s', baseline: Math.round(drain['raw-socket']!) });
      const send: Record<string, number> = {};
      for (const impl of ['addon', 'raw-socket']) {
        const r = await runInNs(ns, ['--role', 'send', impl, '2', String(size)]).result;
        send[impl] = r.packets / r.seconds;
      }
      emitFigure({ bench: 'gre-io', figure: `send-${size}B-raw-socket`, value: Math.round(send['raw-socket']!), unit: 'packets/s' });
      emitFigure({ bench: 'gre-io', figure: `send-${size}B-addon`, value: Math.round(send.addon!), unit: 'packets/s', baseline: Math.round(send['raw-socket']!) });
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

if (process.argv[2] === '--role') {
  void role(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), Number(process.argv[6]));
}
