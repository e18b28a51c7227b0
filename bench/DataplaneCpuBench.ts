// dataplane-cpu: packets per CPU-second of the downstream path (TUN → MPPE → GRE, DataPlane.fromTun) run
// in-process, with the real DataPlane, Session, MppeEncryptor and GRE writer, but no kernel: a TUN stub hands
// the same 32-packet batch over and over and a GRE stub counts what would be sent. CPU-bound, so far less
// noisy than the network `dataplane` bench; it measures our code, not the sockets.
//
// Baseline, same loop and same batches: only the cryptographic work MPPE requires per packet (SHA-1 +
// RC4 key change when due, then RC4 over the payload), with the same Rc4 and SHA-1 code as the product.
// ratio = ours / baseline is then our overhead on top of the cipher (1.0 = none).
import pino from 'pino';
import type { GreSocket, OutgoingGreBatch } from '../io/GreSocket.js';
import { PacketBatch, type ReaderStats } from '../io/PacketBatch.js';
import { Rc4 } from '../ppp/crypto/Rc4.js';
import { sha1Into } from '../ppp/crypto/Sha1.js';
import { MPPE_PAD2 } from '../ppp/mppe/MppeKeys.js';
import type { PppLink } from '../ppp/PppLink.js';
import type { ControlConnection } from '../pptp/ControlConnection.js';
import { DataPlane } from '../dataplane/DataPlane.js';
import { Session } from '../session/Session.js';
import type { OutgoingTunBatch, TunDevice } from '../io/TunDevice.js';
import { emitFigure } from './Figures.js';

const BATCH = 32; // what the native TUN reader hands over per wake-up
const SECONDS = Number(process.env.PORTICO_BENCH_CPU_SECONDS ?? 1);
const ROUNDS = 5; // alternating ours/baseline; the median of each is reported
const CLIENT_IP = 0xc0a86402; // 192.168.100.2
const HOST_IP = 0xc6120063;
const PEER_ADDR = 0xc6120002;
const START_KEY = Buffer.from('8b7cdc149b993a1ba118cb153f56dcae', 'hex');

class StubTun implements TunDevice {
  readonly name = 'stub0';
  handler: ((batch: PacketBatch) => void) | null = null;
  onBatch(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
  }
  writeBatch(batch: OutgoingTunBatch): number {
    return batch.count;
  }
  readStats(): ReaderStats {
    return { dropped: 0, errors: 0 };
  }
  addRoute(): void {}
  delRoute(): void {}
  close(): void {}
}

class CountingGre implements GreSocket {
  sent = 0;
  onBatch(): void {}
  sendBatch(batch: OutgoingGreBatch): number {
    this.sent += batch.count;
    return batch.count;
  }
  readStats(): ReaderStats {
    return { dropped: 0, errors: 0 };
  }
  close(): void {}
}

/** The session's PPP link as DataPlane sees it: a framing getter (PppLink → Lcp), nothing else. */
class LinkStub {
  private readonly f = { acfc: false, pfc: false };
  get framing(): { acfc: boolean; pfc: boolean } {
    return this.f;
  }
  start(): void {}
}

/** A batch of `size`-octet IPv4 packets to CLIENT_IP, and a pristine copy of their headers. */
function makeBatch(size: number): { batch: PacketBatch; headers: Buffer } {
  const batch = new PacketBatch(BATCH, 2048);
  const headers = Buffer.alloc(20);
  headers[0] = 0x45;
  headers.writeUInt16BE(size, 2);
  headers[8] = 64;
  headers[9] = 17;
  headers.writeUInt32BE(HOST_IP, 12);
  headers.writeUInt32BE(CLIENT_IP, 16);
  for (let i = 0; i < BATCH; i++) {
    const off = batch.slotStart(i);
    batch.buf.fill(0xa5, off, off + size);
    batch.offsets[i] = off;
    batch.lengths[i] = size;
  }
  batch.count = BATCH;
  return { batch, headers };
}

/** Encryption runs in place, so each round trip puts the IP header back (the kernel would bring a new packet). */
function restoreHeaders(batch: PacketBatch, headers: Buffer): void {
  const buf = batch.buf;
  for (let i = 0; i < BATCH; i++) {
    const off = batch.offsets[i];
    for (let n = 0; n < 20; n++) buf[off + n] = headers[n];
  }
}

function timeLoop(step: () => void): number {
  for (let k = 0; k < 200; k++) step(); // warm-up (JIT)
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let batches = 0;
  const until = t0 + BigInt(Math.round(SECONDS * 1e9));
  do {
    for (let k = 0; k < 32; k++) step();
    batches += 32;
  } while (process.hrtime.bigint() < until);
  const c = process.cpuUsage(c0);
  return (batches * BATCH) / ((c.user + c.system) / 1e6); // packets per CPU-second
}

function oursLoop(size: number, stateless: boolean): () => void {
  const tun = new StubTun();
  const gre = new CountingGre();
  const log = pino({ level: 'silent' });
  const dp = new DataPlane(gre, tun, log);
  const s = new Session({
    callId: 1,
    peerCallId: 2,
    peerAddress: PEER_ADDR,
    connection: {} as unknown as ControlConnection,
    log,
    mppeRequired: true,
    link: () => new LinkStub() as unknown as PppLink,
  });
  s.startLink();
  dp.register(s);
  dp.startData(s, CLIENT_IP, { sendKey: START_KEY, recvKey: START_KEY, bits: 128, stateless, resume: false });
  const { batch, headers } = makeBatch(size);
  const handler = tun.handler!;
  return () => {
    restoreHeaders(batch, headers);
    handler(batch);
  };
}

/** The same key change and RC4 work as MPPE-128 (RFC 3078 §7.3), nothing else. */
function baselineLoop(size: number, stateless: boolean): () => void {
  const rc4 = new Rc4();
  const input = Buffer.alloc(112);
  START_KEY.copy(input, 0);
  START_KEY.copy(input, 56);
  MPPE_PAD2.copy(input, 72);
  const interim = Buffer.alloc(20);
  let cc = 0;
  const { batch, headers } = makeBatch(size);
  const buf = batch.buf;
  return () => {
    restoreHeaders(batch, headers);
    for (let i = 0; i < BATCH; i++) {
      cc = (cc + 1) & 0xfff;
      if (stateless || (cc & 0xff) === 0xff) {
        sha1Into(input, 0, 112, interim, 0);
        rc4.setKey(interim, 0, 16);
        for (let n = 0; n < 16; n++) input[56 + n] = interim[n];
        rc4.process(input, 56, 16);
        rc4.setKey(input, 56, 16);
      }
      rc4.process(buf, batch.offsets[i] - 2, batch.lengths[i] + 2);
    }
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function dataplaneCpuBench(): Promise<void> {
  for (const size of [1400, 64]) {
    for (const stateless of [true, false]) {
      const name = `down-${size}B-mppe128-${stateless ? 'stateless' : 'stateful'}-pps-per-core`;
      const ours: number[] = [];
      const base: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        ours.push(timeLoop(oursLoop(size, stateless)));
        base.push(timeLoop(baselineLoop(size, stateless)));
      }
      process.stderr.write(`dataplane-cpu ${name}: ours ${ours.map(Math.round).join(' ')}, baseline ${base.map(Math.round).join(' ')}\n`);
      emitFigure({ bench: 'dataplane-cpu', figure: name, value: Math.round(median(ours)), unit: 'packets/s', baseline: Math.round(median(base)) });
    }
  }
}
