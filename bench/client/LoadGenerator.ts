// The load generator process: runs N client sessions against a real `portico serve` from one
// process (one raw GRE socket, one TCP control connection per session). Run inside the client
// namespace by the benches; prints JSON lines on stdout:
//   {"event":"ramped",...} once every session is up or failed, {"event":"result",...} at the end.
// Modes:
//   setup  — bring N sessions up with at most C handshakes in flight; setup rate and latencies.
//   hold   — ramp to N, then keep them up for --hold seconds sending our own LCP Echo-Requests
//            (RTT percentiles = the server's reaction time) while the server's own echoes run.
//   keys   — bring N sessions up, write their call ids, addresses and MPPE start keys to --out
//            (for the data-plane blasters), then wait for SIGTERM.
//   tunnel — bring the first session up and give it a TUN in our namespace (--tun, route to
//            --tunnel-peer), so kernel traffic (ping) crosses the session as with a real client.
//            Per ICMP echo it times our own part: TUN read → encrypt → sendmmsg, and GRE arrival →
//            decrypt → TUN write, plus the round trip seen from here (sendmmsg → reply in JS).
//            Echo requests to --reflect (also routed into the TUN) are answered here, without the
//            server or MPPE: the cost of one TUN hop through this process, for reference.
//            stdin "stats" prints {"event":"stats",...} and resets them; SIGTERM ends.
//   churn  — N session setups and teardowns, at most C handshakes in flight: each session is
//            cleared (Call-Clear-Request, TCP close) as soon as it is up and a new one takes its
//            place (the soak). Prints only {"event":"result",...}.
//   flood  — bring one session up, then send worst-case MPPE frames on its call for --hold seconds
//            as fast as this process can (see runFlood), and go on after the server has ended the
//            session (an attacker does). {"event":"flooding"} when it starts.
// Every connection and GRE packet comes from --local, so that several generators in one namespace
// are several clients.
//   ping   — bring one session up, send --pings ICMP echo requests through it to --tunnel-peer
//            (the server's kernel answers at its TUN address), report the round trips and end.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { parseIpv4, formatIpv4 } from '../../config/Ipv4.js';
import { NativeTun } from '../../io/NativeTun.js';
import { RawGreSocket } from '../../io/RawGreSocket.js';
import type { OutgoingTunBatch } from '../../io/TunDevice.js';
import { REFLECT_ADDRESS, TUN_ADDRESS } from '../BenchLab.js';
import { ClientGre } from './ClientGre.js';
import { PptpClientSession } from './PptpClientSession.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'setup' },
    server: { type: 'string', default: '198.18.0.1' },
    local: { type: 'string', default: '198.18.0.2' },
    port: { type: 'string', default: '1723' },
    user: { type: 'string', default: 'bench' },
    password: { type: 'string', default: 'bench-password' },
    sessions: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '64' },
    stateless: { type: 'string', default: '1' },
    hold: { type: 'string', default: '30' },
    'echo-interval': { type: 'string', default: '5' },
    out: { type: 'string' },
    lcp: { type: 'string', default: 'passive' },
    tun: { type: 'string', default: 'pbctun0' },
    'tunnel-peer': { type: 'string', default: TUN_ADDRESS },
    reflect: { type: 'string', default: REFLECT_ADDRESS },
    pings: { type: 'string', default: '5' },
    'ping-interval-ms': { type: 'string', default: '200' },
  },
});

const N = Number(values.sessions);
const concurrency = Number(values.concurrency);
const serverAddr = parseIpv4(values.server!);
const gre = new ClientGre(RawGreSocket.open(parseIpv4(values.local!), { slots: 256 }));

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sessions: PptpClientSession[] = [];
const setupMs: number[] = [];
const rtts: number[] = [];
const failures = new Map<string, number>();
let up = 0;
let failed = 0;
let droppedAfterUp = 0;
let started = 0;
let inFlight = 0;
let t0 = 0;
/** Decrypted IPv4 packets of every session (tunnel mode). */
let onData: ((s: PptpClientSession, buf: Buffer, off: number, len: number) => void) | null = null;

/** The setup figures of the ramp and of the churn (setupMs sorted). */
function setupFigures(seconds: number) {
  return {
    sessions: N,
    up,
    failed,
    seconds,
    rate: up / seconds,
    setupMsP50: percentile(setupMs, 50),
    setupMsP99: percentile(setupMs, 99),
    failures: Object.fromEntries(failures),
  };
}

/** One client session's settings from the command line. */
function sessionOptions(callId: number): ConstructorParameters<typeof PptpClientSession>[0] {
  return {
    server: values.server!,
    serverAddr,
    port: Number(values.port),
    // The control connection leaves from --local too (GRE does already): one namespace may hold several client addresses.
    localAddress: values.local!,
    username: values.user!,
    password: values.password!,
    callId,
    stateless: values.stateless === '1',
    setupTimeoutMs: 30_000,
    lcpEager: values.lcp === 'eager',
  };
}

function ramp(): Promise<number> {
  return new Promise((resolve) => {
    const next = () => {
      while (inFlight < concurrency && started < N) {
        const s = new PptpClientSession(sessionOptions(started + 1), gre, {
          up: (sess) => {
            up++;
            inFlight--;
            setupMs.push(sess.upAt - sess.startedAt);
            check();
          },
          failed: (sess, reason) => {
            const key = reason.replace(/\d+/g, 'N');
            failures.set(key, (failures.get(key) ?? 0) + 1);
            if (sess.upAt > 0) {
              droppedAfterUp++;
              return;
            }
            failed++;
            inFlight--;
            check();
          },
          echoRtt: (_s, ms) => rtts.push(ms),
          data: (sess, buf, off, len) => onData?.(sess, buf, off, len),
        });
        sessions.push(s);
        started++;
        inFlight++;
        s.start();
      }
    };
    const check = () => {
      if (up + failed === N) resolve((performance.now() - t0) / 1000);
      else next();
    };
    t0 = performance.now();
    next();
  });
}

if (values.mode === 'churn') await runChurn();

const seconds = await ramp();
const rampCpu = process.cpuUsage();
setupMs.sort((a, b) => a - b);
const rampInfo = {
  event: 'ramped',
  ...setupFigures(seconds),
  rampCpuSeconds: (rampCpu.user + rampCpu.system) / 1e6,
};
emit(rampInfo);

async function finish(extra: Record<string, unknown>): Promise<void> {
  for (const s of sessions) s.stop();
  await new Promise((r) => setTimeout(r, 500));
  gre.close();
  const cpu = process.cpuUsage();
  emit({ ...rampInfo, ...extra, event: 'result', gre: gre.counters, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  process.exit(0);
}

if (values.mode === 'setup') {
  await finish({});
} else if (values.mode === 'hold') {
  // Each session sends an Echo-Request every echo-interval seconds, spread evenly over the interval.
  const interval = Number(values['echo-interval']) * 1000;
  const live = sessions.filter((s) => s.isUp);
  const tickMs = 10;
  const perTick = Math.max(1, Math.ceil((live.length * tickMs) / interval));
  let cursor = 0;
  const ticker = setInterval(() => {
    for (let k = 0; k < perTick && live.length > 0; k++) live[cursor++ % live.length]!.sendEcho();
  }, tickMs);
  await new Promise((r) => setTimeout(r, Number(values.hold) * 1000));
  clearInterval(ticker);
  emit({ event: 'holding-done' });
  await new Promise((r) => setTimeout(r, 200));
  rtts.sort((a, b) => a - b);
  await finish({
    stillUp: sessions.filter((s) => s.isUp).length,
    droppedAfterUp,
    echoes: rtts.length,
    echoRttMsP50: percentile(rtts, 50),
    echoRttMsP99: percentile(rtts, 99),
    echoRttMsMax: rtts.length ? rtts[rtts.length - 1] : NaN,
  });
} else if (values.mode === 'keys') {
  // One line per session: callId peerCallId address sendKeyHex recvKeyHex stateless nextGreSeq.
  // nextGreSeq: the blaster carries on the call's GRE numbering where the handshake left it; the
  // server refuses numbers it has already accepted (RFC 2637 §4.3), so restarting at 1 would cost
  // each session its first handshake-count packets (and a stateful MPPE resync: up to 256 more).
  const lines = sessions
    .filter((s) => s.isUp)
    .map((s) => `${s.callId} ${s.peerCallId} ${formatIpv4(s.address)} ${s.keys!.sendKey.toString('hex')} ${s.keys!.recvKey.toString('hex')} ${s.mppeStateless ? 1 : 0} ${nextGreSeq(s)}`);
  writeFileSync(values.out!, `${lines.join('\n')}\n`, { mode: 0o600 });
  // The data-plane tools take over GRE from here (the control connections stay with us).
  gre.close();
  emit({ event: 'keys', count: lines.length });
  process.on('SIGTERM', () => void finish({}));
  setInterval(() => {}, 1 << 30);
} else if (values.mode === 'tunnel') {
  await runTunnel();
} else if (values.mode === 'flood') {
  await runFlood();
} else if (values.mode === 'ping') {
  await runPing();
}

/** The sequence number the session's next GRE payload packet would carry (its sequencer starts at 1). */
function nextGreSeq(s: PptpClientSession): number {
  // biome-ignore lint/complexity/useLiteralKeys: reads a private field of the client on purpose (the bench's own code)
  return (s['sequencer'].counters.sent + 1) >>> 0;
}

/** Setups and teardowns: C handshakes in flight, each session cleared once up; exits with the result. */
async function runChurn(): Promise<never> {
  const seconds = await new Promise<number>((resolve) => {
    const next = () => {
      while (inFlight < concurrency && started < N) {
        const s = new PptpClientSession(
          // Our Call IDs only tell our sessions apart in ClientGre: round-robin, C of them live at a time.
          sessionOptions((started % 0xffff) + 1),
          gre,
          {
            up: (sess) => {
              setupMs.push(sess.upAt - sess.startedAt);
              sess.stop();
              up++;
              done();
            },
            failed: (_sess, reason) => {
              const key = reason.replace(/\d+/g, 'N');
              failures.set(key, (failures.get(key) ?? 0) + 1);
              failed++;
              done();
            },
          },
        );
        started++;
        inFlight++;
        s.start();
      }
    };
    const done = () => {
      inFlight--;
      if (up + failed === N) resolve((performance.now() - t0) / 1000);
      else next();
    };
    t0 = performance.now();
    next();
  });
  setupMs.sort((a, b) => a - b);
  // The last sessions' Call-Clear-Requests and TCP FINs leave before we exit.
  await new Promise((r) => setTimeout(r, 500));
  gre.close();
  const cpu = process.cpuUsage();
  emit({
    event: 'result',
    ...setupFigures(seconds),
    gre: gre.counters,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  });
  process.exit(0);
}

/**
 * Worst-case frames on the first session's call for --hold seconds: stateless MPPE (A and D set on
 * every frame, RFC 3078 §3.1) whose coherency count is each time 2048 ahead of the previous one, the
 * most a receiver accepts (RFC 3078 §7.1 and Linux: a jump of 1..2048 is a loss, more is a late
 * packet), so each frame asks for 2047 catch-up key changes (SHA-1 + RC4 setup each). The body is
 * junk: the cost is paid before decryption can tell. The GRE numbering carries on from the handshake
 * (the server refuses numbers it has seen), one frame after the other, 256 per sendmmsg.
 */
async function runFlood(): Promise<void> {
  const s = sessions.find((x) => x.isUp);
  if (!s) {
    emit({ event: 'result', error: 'no session up', failures: Object.fromEntries(failures) });
    process.exit(1);
  }
  const frameLen = 4 + 2 + 100; // FF 03 00 FD | MPPE header | body
  let seq = nextGreSeq(s);
  let cc = 0xfff; // the server's receiver starts one step behind count 0
  let sent = 0;
  emit({ event: 'flooding', callId: s.callId, peerCallId: s.peerCallId });
  const t0 = performance.now();
  const endAt = t0 + Number(values.hold) * 1000;
  while (performance.now() < endAt) {
    for (let k = 0; k < 256; k++) {
      const start = gre.slotFor();
      const buf = gre.buffer;
      cc = (cc + 2048) & 0xfff;
      buf.writeUInt32BE(0xff0300fd, start);
      buf[start + 4] = 0x90 | (cc >> 8); // A (flushed) | D (encrypted) | count high bits
      buf[start + 5] = cc & 0xff;
      buf.fill(0x5a, start + 6, start + frameLen);
      gre.commit(start, frameLen, s.peerCallId, seq, -1, serverAddr);
      seq = (seq + 1) >>> 0;
      sent++;
    }
    gre.flush();
    // One turn of the event loop: the session's control connection (the server's Echo-Requests, its
    // Call-Disconnect-Notify) is still served.
    await new Promise((r) => setImmediate(r));
  }
  const seconds = (performance.now() - t0) / 1000;
  await finish({ framesSent: sent, floodSeconds: seconds, framesPerSecond: sent / seconds, sessionEnded: !s.isUp });
}

/** ICMP echo identity (id << 16 | seq) of the IPv4 packet at buf[off, off+len), or -1. */
function icmpEchoKey(buf: Buffer, off: number, len: number, type: number): number {
  if (len < 28 || buf[off + 9] !== 1) return -1;
  const ihl = (buf[off]! & 0x0f) * 4;
  if (len < ihl + 8 || buf[off + ihl] !== type) return -1;
  return ((buf[off + ihl + 4]! << 24) | (buf[off + ihl + 5]! << 16) | (buf[off + ihl + 6]! << 8) | buf[off + ihl + 7]!) >>> 0;
}

/** RFC 1071 Internet checksum of buf[start, end) (its checksum field zeroed by the caller). */
function internetChecksum(buf: Buffer, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if ((end - start) & 1) sum += buf[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Turns the ICMP echo request at buf[off, off+len) into its reply in place (addresses swapped). */
function answerEcho(buf: Buffer, off: number, len: number): void {
  const src = buf.readUInt32BE(off + 12);
  buf.writeUInt32BE(buf.readUInt32BE(off + 16), off + 12); // the IPv4 checksum is unchanged by a swap
  buf.writeUInt32BE(src, off + 16);
  const icmp = off + (buf[off]! & 0x0f) * 4;
  buf[icmp] = 0;
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt16BE(internetChecksum(buf, icmp, off + len), icmp + 2);
}

/** An IPv4 ICMP echo request (RFC 792) from `src` to `dst` with 56 octets of data, as ping sends. */
function icmpEchoRequest(src: number, dst: number, id: number, seq: number): Buffer {
  const p = Buffer.alloc(20 + 8 + 56);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 1;
  p.writeUInt32BE(src, 12);
  p.writeUInt32BE(dst, 16);
  p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
  p[20] = 8;
  p.writeUInt16BE(id, 24);
  p.writeUInt16BE(seq, 26);
  p.writeUInt16BE(internetChecksum(p, 20, p.length), 22);
  return p;
}

/** One session through which --pings echo requests go to --tunnel-peer, one every --ping-interval-ms. */
async function runPing(): Promise<void> {
  const s = sessions.find((x) => x.isUp);
  if (!s) {
    emit({ event: 'result', error: 'no session up', failures: Object.fromEntries(failures) });
    process.exit(1);
  }
  const peer = parseIpv4(values['tunnel-peer']!);
  const id = process.pid & 0xffff;
  const sentAt = new Map<number, number>();
  const pingRtts: number[] = [];
  onData = (_sess, buf, off, len) => {
    const k = icmpEchoKey(buf, off, len, 0);
    const t = sentAt.get(k);
    if (t === undefined) return;
    sentAt.delete(k);
    pingRtts.push(performance.now() - t);
  };
  const count = Number(values.pings);
  for (let seq = 1; seq <= count; seq++) {
    sentAt.set(((id << 16) | seq) >>> 0, performance.now());
    s.sendIp(icmpEchoRequest(s.address, peer, id, seq));
    await new Promise((r) => setTimeout(r, Number(values['ping-interval-ms'])));
  }
  for (let waited = 0; sentAt.size > 0 && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  pingRtts.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  await finish({
    address: formatIpv4(s.address),
    pings: { sent: count, received: pingRtts.length, rttMsAvg: round(pingRtts.reduce((a, b) => a + b, 0) / pingRtts.length), rttMsMax: round(pingRtts[pingRtts.length - 1] ?? Number.NaN) },
  });
}

async function runTunnel(): Promise<void> {
  const s = sessions.find((x) => x.isUp);
  if (!s) {
    emit({ event: 'result', error: 'no session up', failures: Object.fromEntries(failures) });
    process.exit(1);
  }
  const tun = NativeTun.open(values.tun!, s.address, 32, 1400);
  tun.addRoute(parseIpv4(values['tunnel-peer']!), 32);
  const reflect = parseIpv4(values.reflect!);
  tun.addRoute(reflect, 32);
  gre.deferFlush = false;
  const toTun: OutgoingTunBatch = { buf: Buffer.alloc(0), offsets: new Uint32Array(1), lengths: new Uint32Array(1), count: 1 };
  const writeTun = (buf: Buffer, off: number, len: number) => {
    toTun.buf = buf;
    toTun.offsets[0] = off;
    toTun.lengths[0] = len;
    tun.writeBatch(toTun);
  };
  // Per echo: when its encrypted request left (after sendmmsg), and our own work in µs, split into
  // JavaScript (copy + MPPE + GRE/PPP headers; GRE parse + MPPE) and the syscall (sendmmsg; TUN write).
  const sentAt = new Map<number, number>();
  const fresh = () => ({ innerRtt: [] as number[], encrypt: [] as number[], send: [] as number[], decrypt: [] as number[], tunWrite: [] as number[] });
  let us = fresh();
  const keys: number[] = [];
  tun.onBatch((batch) => {
    const t0 = performance.now();
    keys.length = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      const k = icmpEchoKey(batch.buf, off, len, 8);
      if (k >= 0 && batch.buf.readUInt32BE(off + 16) === reflect) {
        answerEcho(batch.buf, off, len);
        writeTun(batch.buf, off, len);
        continue;
      }
      if (k >= 0) keys.push(k);
      s.sendIp(batch.buf, off, len);
    }
    const t1 = performance.now();
    gre.flush(); // not on setImmediate: the packet leaves now
    const t2 = performance.now();
    for (const k of keys) sentAt.set(k, t2);
    if (keys.length > 0) {
      us.encrypt.push(((t1 - t0) * 1000) / keys.length);
      us.send.push(((t2 - t1) * 1000) / keys.length);
    }
  });
  onData = (_sess, buf, off, len) => {
    const t0 = performance.now(); // decrypted
    const k = icmpEchoKey(buf, off, len, 0);
    writeTun(buf, off, len);
    if (k < 0) return;
    const arrived = gre.batchAt;
    us.decrypt.push((t0 - arrived) * 1000);
    us.tunWrite.push((performance.now() - t0) * 1000);
    const t = sentAt.get(k);
    if (t !== undefined) {
      sentAt.delete(k);
      us.innerRtt.push((arrived - t) * 1000);
    }
  };
  const summary = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return { n: v.length, p50: percentile(v, 50), p90: percentile(v, 90), p99: percentile(v, 99) };
  };
  const stats = () => {
    emit({
      event: 'stats',
      innerRttUs: summary(us.innerRtt),
      encryptUs: summary(us.encrypt),
      sendUs: summary(us.send),
      decryptUs: summary(us.decrypt),
      tunWriteUs: summary(us.tunWrite),
      counters: s.counters,
    });
    us = fresh();
    sentAt.clear();
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'stats') stats();
  });
  emit({ event: 'tunnel-ready', address: formatIpv4(s.address), mppeStateless: s.mppeStateless });
  process.on('SIGTERM', () => {
    tun.close();
    void finish({ counters: s.counters });
  });
  setInterval(() => {}, 1 << 30);
}
