// Crash safety (issue 13 item 7), without root:
// - the open sessions the accounting file keeps for a crash: written with the Start, rewritten with each
//   Interim-Update, deleted with the Stop; after an unclean stop the next start queues Accounting-On and
//   one Stop with Acct-Terminate-Cause NAS-Reboot per session, and a second crash does not repeat or lose them;
// - a bounded stop: peers that never answer LCP, or never read at all, cannot hold it past its budget, and
//   each gets LCP Terminate-Request, then Call-Disconnect-Notify;
// - a data-plane thread that dies: it is replaced and its sessions end ('dataplane-failure', NAS-Error).
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Accountant, ALIVE_MS } from '../../aaa/Accountant.js';
import { AccountingQueue, accountingQueueFile, type AccountingTransport } from '../../aaa/AccountingQueue.js';
import { RadiusServices } from '../../aaa/RadiusServices.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { DataPlane, type DataPlaneCounters, type DataPlanePort, type DataSession } from '../../dataplane/DataPlane.js';
import { newSessionCounters, newSessionCounterCells } from '../../dataplane/SessionCounters.js';
import type { ShardedSession } from '../../dataplane/ShardedDataPlane.js';
import { type ShardThread, ShardThreads } from '../../dataplane/ShardThreads.js';
import { GreSequencer } from '../../gre/GreSequencer.js';
import { MemoryGreSocket } from '../../io/MemoryGreSocket.js';
import { MemoryTun } from '../../io/MemoryTun.js';
import { ControlCode, parseControlPacket } from '../../ppp/ControlPacket.js';
import { parsePppFrame, PppProtocol, type PppFrameView } from '../../ppp/PppProtocol.js';
import { GreHeaderView, GreParseResult, parseGreHeader } from '../../gre/GreHeader.js';
import { AcctStatusType, Attr, readAddress, readInteger, readText } from '../../radius/Dictionary.js';
import { RadiusNoResponseError } from '../../radius/RadiusClient.js';
import { findAllAttributes, findAttribute, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { runShutdown } from '../../server/Shutdown.js';
import type { SessionEvents, SessionSelector, SessionSummary } from '../../session/SessionManager.js';
import { CLIENTS, closeHarnesses, harness } from './SessionHarness.js';
import { ip } from './TestPackets.js';

const quiet = pino({ level: 'silent' });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-crash-'));
});
afterEach(async () => {
  vi.useRealTimers();
  await closeHarnesses();
  rmSync(dir, { recursive: true, force: true });
});

// ---- open sessions across an unclean stop --------------------------------------------------------

/** A RADIUS server that never answers, or one that acknowledges everything; records what it was sent. */
class Transport implements AccountingTransport {
  readonly sent: RadiusAttribute[][] = [];
  constructor(private readonly answers: boolean) {}
  async accounting(attributes: RadiusAttribute[]): Promise<unknown> {
    this.sent.push(attributes);
    if (!this.answers) throw new RadiusNoResponseError('accounting', [{ server: '127.0.0.1:18131', outcome: 'timeout', detail: 'no reply' }]);
    return {};
  }
}

class FakeServer extends EventEmitter<SessionEvents> {
  live: SessionSummary[] = [];
  findSessions(selector: SessionSelector): SessionSummary[] {
    return this.live.filter((s) => s.sessionId === selector.sessionId);
  }
}

const T0 = 1_700_000_000_000;

function up(n: number): SessionSummary {
  return {
    sessionId: `18c0ffee-000${n}`,
    callId: n,
    peerCallId: 90 + n,
    peer: `198.18.0.${10 + n}`,
    user: `user${n}`,
    address: `198.18.100.${20 + n}`,
    authMethod: 'MS-CHAPv2',
    mppe: 'MPPE-128 stateless',
    startedAt: T0,
    upAt: T0 + n * 1000,
    sessionTimeout: null,
    idleTimeout: null,
    classes: [Buffer.from(`class-${n}`)],
    interimInterval: 60,
    counters: newSessionCounters(),
    stuck: false,
  };
}

function accountant(server: FakeServer, queue: AccountingQueue): Accountant {
  return new Accountant({ server, queue, nas: { nasIdentifier: 'portico', nasIpAddress: '192.0.2.1' }, local: '198.18.0.1', interimInterval: 0, authentic: 1, log: quiet });
}

const statusOf = (a: RadiusAttribute[]) => readInteger(findAttribute(a, Attr.AcctStatusType)!);
const idOf = (a: RadiusAttribute[]) => readText(findAttribute(a, Attr.AcctSessionId)!);
const int = (a: RadiusAttribute[], t: number) => {
  const x = findAttribute(a, t);
  return x && readInteger(x);
};

describe('sessions open at a kill -9 (AccountingQueue + Accountant)', () => {
  it('Start writes, Interim-Update rewrites, Stop deletes; the next start sends Accounting-On, then one NAS-Reboot Stop per open session with its identity and last counters; a second crash neither loses nor repeats them', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] }); // the queue's retry timers stay real
    vi.setSystemTime(T0);
    const file = accountingQueueFile(join(dir, 'data'));

    // --- run 1: three sessions, then the process dies (no stop(): nothing more is written) ---
    const server = new FakeServer();
    const q1 = new AccountingQueue({ file, transport: new Transport(false), log: quiet, initialBackoffMs: 60_000 });
    const a1 = accountant(server, q1);
    a1.start();
    vi.setSystemTime(T0 + 5000);
    const [s1, s2, s3] = [up(1), up(2), up(3)];
    server.live = [s1, s2, s3];
    for (const s of server.live) server.emit('session-up', s);
    expect(q1.openSessions().map((o) => [o.sessionId, o.user, o.callId, o.peer, o.address, o.classes.map(String), o.upAt, o.counters.rxBytes, o.at])).toEqual([
      [s1.sessionId, 'user1', 1, '198.18.0.11', '198.18.100.21', ['class-1'], T0 + 1000, 0, T0 + 5000],
      [s2.sessionId, 'user2', 2, '198.18.0.12', '198.18.100.22', ['class-2'], T0 + 2000, 0, T0 + 5000],
      [s3.sessionId, 'user3', 3, '198.18.0.13', '198.18.100.23', ['class-3'], T0 + 3000, 0, T0 + 5000],
    ]);
    // Interim-Update (the sessions' Acct-Interim-Interval, 60 s): the rows follow the counters sent.
    server.live = server.live.map((s) => ({ ...s, counters: { ...s.counters, rxBytes: 1000 * s.callId, txBytes: 2000 * s.callId, rxPackets: 10 * s.callId, txPackets: 20 * s.callId } }));
    vi.advanceTimersByTime(60_000);
    expect(q1.openSessions().map((o) => [o.counters.rxBytes, o.counters.txBytes, o.counters.rxPackets, o.counters.txPackets, o.at])).toEqual([
      [1000, 2000, 10, 20, T0 + 65_000],
      [2000, 4000, 20, 40, T0 + 65_000],
      [3000, 6000, 30, 60, T0 + 65_000],
    ]);
    // s3 ends: its Stop is queued and its row goes with it.
    server.emit('session-down', { ...server.live[2]!, cause: 'peer-call-clear', detail: 'x', endedAt: Date.now() });
    server.live = server.live.slice(0, 2);
    expect(q1.openSessions().map((o) => o.sessionId)).toEqual([s1.sessionId, s2.sessionId]);
    // The alive mark, every ALIVE_MS (from the start, the clock having moved 5 s before) while sessions are open.
    vi.advanceTimersByTime(ALIVE_MS);
    const lastAlive = T0 + 5000 + 3 * ALIVE_MS;
    expect(q1.lastAlive()).toBe(lastAlive);
    const queuedBeforeCrash = q1.size; // On, 3 Starts, 3 Interims, 1 Stop: none acknowledged
    expect(queuedBeforeCrash).toBe(8);
    await q1.close(); // as a kill -9 leaves it: every record and row was committed when written

    // --- run 2 starts; RADIUS still away; it crashes again before anything is delivered ---
    vi.setSystemTime(lastAlive + 20_000);
    const q2 = new AccountingQueue({ file, transport: new Transport(false), log: quiet, initialBackoffMs: 60_000 });
    accountant(new FakeServer(), q2).start();
    expect(q2.openSessions()).toEqual([]); // turned into queued Stops, in the same transactions
    expect(q2.size).toBe(queuedBeforeCrash + 3); // + Accounting-On + two Stops
    await q2.close();

    // --- run 3: RADIUS answers; everything arrives once, in order ---
    vi.setSystemTime(lastAlive + 40_000);
    const radius = new Transport(true);
    const q3 = new AccountingQueue({ file, transport: radius, log: quiet });
    accountant(new FakeServer(), q3).start();
    q3.start();
    expect(await q3.drain(5000)).toBe(true);
    const kinds = radius.sent.map((a) => `${statusOf(a)}:${idOf(a).startsWith('nas-') ? 'nas' : idOf(a)}`);
    expect(kinds).toEqual([
      '7:nas', // run 1's Accounting-On
      `1:${s1.sessionId}`,
      `1:${s2.sessionId}`,
      `1:${s3.sessionId}`,
      `3:${s1.sessionId}`,
      `3:${s2.sessionId}`,
      `3:${s3.sessionId}`,
      `2:${s3.sessionId}`, // s3's own Stop
      '7:nas', // run 2: Accounting-On first (RFC 2866 §5.1), then the NAS-Reboot Stops
      `2:${s1.sessionId}`,
      `2:${s2.sessionId}`,
      '7:nas', // run 3: no Stop again
    ]);
    const stops = radius.sent.filter((a) => statusOf(a) === AcctStatusType.Stop);
    expect(stops.map((a) => int(a, Attr.AcctTerminateCause))).toEqual([1, 11, 11]); // User-Request; NAS-Reboot (RFC 2866 §5.10)
    for (const [stop, s] of [
      [stops[1]!, s1],
      [stops[2]!, s2],
    ] as const) {
      expect(readText(findAttribute(stop, Attr.UserName)!)).toBe(s.user);
      expect(int(stop, Attr.NasPort)).toBe(s.callId);
      expect(readText(findAttribute(stop, Attr.CallingStationId)!)).toBe(s.peer);
      expect(readAddress(findAttribute(stop, Attr.FramedIpAddress)!)).toBe(s.address);
      expect(findAllAttributes(stop, Attr.Class).map((c) => String(c.value))).toEqual([`class-${s.callId}`]);
      expect(readText(findAttribute(stop, Attr.NasIdentifier)!)).toBe('portico');
      expect(int(stop, Attr.AcctInputOctets)).toBe(1000 * s.callId); // the last Interim-Update's counters
      expect(int(stop, Attr.AcctOutputOctets)).toBe(2000 * s.callId);
      expect(int(stop, Attr.AcctInputPackets)).toBe(10 * s.callId);
      expect(int(stop, Attr.AcctOutputPackets)).toBe(20 * s.callId);
      // Up to the last moment the server was known alive; Event-Timestamp and Acct-Delay-Time agree on it.
      expect(int(stop, Attr.AcctSessionTime)).toBe(Math.round((lastAlive - s.upAt!) / 1000));
      expect(int(stop, Attr.EventTimestamp)).toBe(Math.floor(lastAlive / 1000));
      expect(int(stop, Attr.AcctDelayTime)).toBe(40);
    }
    expect(q3.openSessions()).toEqual([]);
    await q3.close();
  });

  it('local users only (no RADIUS accounting): nothing is kept, there is no queue to keep it in', () => {
    // RadiusServices opens the queue only with RADIUS servers and accounting on.
    const config = validateConfig({ dataDir: join(dir, 'data') });
    expect(RadiusServices.create(config, { local: {} as never, addresses: addressPolicyFor(config, []), log: quiet })).toBeNull();
    expect(existsSync(join(config.dataDir, 'accounting.db'))).toBe(false);
  });
});

// ---- bounded stop ------------------------------------------------------------------------------

describe('bounded stop (SIGTERM/SIGINT)', () => {
  it('shutdownTimeout: 5 s by default; out of range is refused naming the key', () => {
    expect(validateConfig({}).shutdownTimeout).toBe(5);
    expect(validateConfig({ shutdownTimeout: 1.5 }).shutdownTimeout).toBe(1.5);
    expect(() => validateConfig({ shutdownTimeout: 0 })).toThrow(/shutdownTimeout: /);
    expect(() => validateConfig({ shutdownTimeout: 121 })).toThrow(/shutdownTimeout: /);
  });

  it('runShutdown: a step that never ends is left behind at its share of the budget; the steps after it still run', async () => {
    const ran: string[] = [];
    const t0 = performance.now();
    const r = await runShutdown(
      [
        { name: 'quick', by: 0.3, run: () => void ran.push('quick') },
        { name: 'hangs', by: 0.6, run: () => new Promise<void>(() => ran.push('hangs')) },
        { name: 'throws', by: 0.8, run: () => Promise.reject(new Error('boom')).finally(() => ran.push('throws')) },
        { name: 'last', by: 1, run: (ms) => void ran.push(`last ${ms > 0 ? 'with time' : 'without time'}`) },
      ],
      400,
      quiet,
    );
    const ms = performance.now() - t0;
    expect(ran).toEqual(['quick', 'hangs', 'throws', 'last with time']);
    expect(r.late).toEqual(['hangs']);
    expect(ms).toBeLessThan(400 + 100);
    console.log(`runShutdown: budget 400 ms, a step that never ends: done in ${ms.toFixed(0)} ms`);
  });

  it('three live sessions, one client answers, one never answers PPP, one reads nothing at all: each gets LCP Terminate-Request, the silent ones Call-Disconnect-Notify, all end (shutdown) within the budget', async () => {
    const h = await harness({ poolEnd: '198.18.100.12' });
    const [a, b, c] = await Promise.all([h.connect(0), h.connect(1, 'bob'), h.connect(2, 'carol')]);
    b.session.hang(); // no PPP answers: the Terminate-Request is never acknowledged
    c.session.hang();
    c.session.stopReading(); // nor any PPTP answer: no Stop-Control-Connection-Reply, no close
    const sentBefore = h.serverGre.sent.length;
    const budget = 1000;
    const t0 = performance.now();
    const r = await runShutdown(
      [
        { name: 'sessions', by: 0.4, run: (ms) => h.sessions.stop(ms) },
        { name: 'control connections', by: 0.6, run: (ms) => h.listener.stop(ms) },
      ],
      budget,
      quiet,
    );
    const ms = performance.now() - t0;
    console.log(`bounded stop: 3 sessions (1 answering, 1 silent on PPP, 1 not reading) stopped in ${ms.toFixed(0)} ms of a ${budget} ms budget`);
    expect(r.late).toEqual([]);
    expect(ms).toBeLessThan(budget + 100);
    expect(h.sessions.sessionCount).toBe(0);
    expect(h.downs[0]).toMatchObject({ user: 'alice', cause: 'shutdown' }); // on its Terminate-Ack, before the control connections stopped
    expect(h.downs.map((d) => [d.user, d.cause]).sort()).toEqual([
      ['alice', 'shutdown'],
      ['bob', 'shutdown'],
      ['carol', 'shutdown'],
    ]);
    // Each client got an LCP Terminate-Request (code 5) over GRE.
    const isLcpTerminateRequest = (data: Buffer): boolean => {
      const gre = new GreHeaderView();
      const ppp: PppFrameView = { protocol: 0, offset: 0, length: 0 };
      if (parseGreHeader(data, 0, data.length, gre) !== GreParseResult.Ok || gre.payloadLength === 0) return false;
      if (!parsePppFrame(data, gre.payloadOffset, gre.payloadLength, ppp) || ppp.protocol !== PppProtocol.LCP) return false;
      return parseControlPacket(data.subarray(ppp.offset, ppp.offset + ppp.length)).code === ControlCode.TerminateRequest;
    };
    const lcpTerminateTo = new Set(
      h.serverGre.sent
        .slice(sentBefore)
        .filter((p) => isLcpTerminateRequest(p.data))
        .map((p) => p.to),
    );
    expect([...lcpTerminateTo].sort()).toEqual(CLIENTS.map(ip).sort());
    expect(await a.ended).toBe('server sent LCP Terminate-Request');
    expect(await b.ended).toBe('server ended the call (message type 13)'); // Call-Disconnect-Notify (RFC 2637 §2.13)
    // The one that read nothing was closed from our side when its time ran out; what it finds in its
    // socket buffer once it reads again is the Call-Disconnect-Notify, sent before that.
    c.session.resumeReading();
    expect(await c.ended).toBe('server ended the call (message type 13)');
  });
});

// ---- a data-plane thread that dies -------------------------------------------------------------

/** A session as ShardedDataPlane needs it (no PPP behind it). */
class StubSession implements ShardedSession {
  readonly sequencer = new GreSequencer();
  address: number | null = null;
  closed = false;
  dataReady = false;
  mppeRequired = false;
  encryptor = null;
  decryptor = null;
  ackSince = 0;
  counters = newSessionCounters();
  readonly framing = { acfc: false, pfc: false };
  readonly control: number[] = [];
  constructor(
    readonly callId: number,
    readonly peerCallId = 7,
    readonly peerAddress = ip('198.18.0.10'),
  ) {}
  deliverControl(protocol: number): void {
    this.control.push(protocol);
  }
  requestMppeReset(): void {}
}

/**
 * A data-plane thread stand-in, a real worker thread: it answers each registration with one control
 * frame (so the test sees which thread a session went to), and dies of an uncaught exception on a
 * CCP Reset-Request, as a thread dies of a bug.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.t === 'register') parentPort.postMessage({ t: 'control', callId: m.callId, protocol: 0xc021 + workerData.generation, payload: new Uint8Array([9, 1, 0, 4]) });
  if (m.t === 'mppe-reset-requested') throw new Error('data-plane thread fault');
  if (m.t === 'close') parentPort.postMessage({ t: 'closed' });
});
`;

describe('a data-plane thread that dies', () => {
  it('is replaced by a new thread; the sessions it carried are handed over to be ended, the others stay; counted in threadRestarts', async () => {
    const log = pino({ level: 'silent' });
    const local = new DataPlane(new MemoryGreSocket(ip('198.18.0.1')), new MemoryTun(), log);
    const steered = new Map<number, number>();
    const steering = { set: (a: number, q: number) => steered.set(a, q), delete: (a: number) => steered.delete(a) };
    const started: number[] = [];
    let released = 0;
    const start = (shard: number, planeCells: Float64Array): ShardThread => {
      const worker = new Worker(WORKER, { eval: true, workerData: { generation: started.length } });
      worker.on('error', () => {}); // the fault below is the point; 'exit' follows it
      started.push(shard);
      return {
        remote: { channel: { postMessage: (m) => worker.postMessage(m), on: (_e, l) => worker.on('message', l) }, planeCells },
        onExit: (l) => worker.on('exit', l),
        terminate: () => worker.terminate(),
        release: () => void released++,
      };
    };
    const threads = new ShardThreads(local, 2, steering, newSessionCounterCells(), start, log);
    const dp = threads.dataPlane;
    const lost: DataSession[][] = [];
    dp.onSessionsLost((s) => lost.push(s));

    const [odd1, odd2, even] = [new StubSession(0x101), new StubSession(0x103), new StubSession(0x102)];
    for (const s of [odd1, odd2, even]) dp.register(s);
    dp.startData(odd1, ip('198.18.100.21'), null);
    await vi.waitFor(() => expect([odd1.control, odd2.control]).toEqual([[0xc021], [0xc021]])); // thread 1, first generation
    expect(steered.get(ip('198.18.100.21'))).toBe(1);

    dp.mppeResetRequested(odd1); // the thread throws and exits
    await vi.waitFor(() => expect(lost).toHaveLength(1));
    expect(lost[0]!.map((s) => s.callId).sort()).toEqual([0x101, 0x103]); // the even one lives in the main thread
    expect(started).toEqual([1, 1]);
    expect(released).toBe(1);
    expect(dp.threadRestarts).toBe(1);
    expect(steered.has(ip('198.18.100.21'))).toBe(false); // its address no longer steered to the dead queue
    expect(odd1.dataReady).toBe(false);

    // The replacement carries the shard from now on.
    const next = new StubSession(0x105);
    dp.register(next);
    await vi.waitFor(() => expect(next.control).toEqual([0xc022])); // second generation
    await threads.close();
    expect(lost).toHaveLength(1); // closing is no failure
  });

  it('the session layer ends the lost sessions (dataplane-failure): Call-Disconnect-Notify to the client, Acct-Terminate-Cause NAS-Error, Call ID and address free again', async () => {
    let losing: LosingDataPlane | null = null;
    const h = await harness({
      wrapDataPlane: (plane) => {
        losing = new LosingDataPlane(plane);
        return losing;
      },
    });
    const stops: number[] = [];
    const acct = new Accountant({
      server: h.sessions,
      queue: {
        enqueue: (_id, statusType, attributes) => {
          if (statusType === AcctStatusType.Stop) stops.push(readInteger(findAttribute(attributes, Attr.AcctTerminateCause)!));
        },
        openSessions: () => [],
        markAlive: () => {},
        lastAlive: () => null,
        atomically: (work) => work(),
      },
      nas: { nasIdentifier: 'portico' },
      local: '127.0.0.2',
      interimInterval: 0,
      log: quiet,
    });
    acct.start();
    const [a, b] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    const lostOne = h.sessions.findSessions({ user: 'alice' })[0]!;
    const down = h.nextDown();
    losing!.lose(lostOne.callId);
    const ended = await down;
    expect([ended.user, ended.cause, ended.detail]).toEqual(['alice', 'dataplane-failure', 'the data-plane thread carrying the session failed']);
    expect(await a.ended).toBe('server ended the call (message type 13)'); // CDN at once: no LCP could reach it
    expect(stops).toEqual([9]); // RFC 2866 §5.10 NAS-Error
    expect(h.sessions.findSessions({ user: 'bob' })).toHaveLength(1); // the other session is untouched
    expect(b.session.isUp).toBe(true);
    // The pool has two addresses: the lost session's came back, so a third client gets it.
    const c = await h.connect(2, 'carol');
    expect(c.session.address).toBe(ip(lostOne.address!));
    acct.stop();
  });
});

/** The one-thread DataPlane, plus what a failed thread would report: `lose` hands a session over as lost. */
class LosingDataPlane implements DataPlanePort {
  private readonly listeners: Array<(s: DataSession[]) => void> = [];
  private readonly sessions = new Map<number, DataSession>();
  threadRestarts = 0;
  constructor(private readonly plane: DataPlane) {}
  lose(callId: number): void {
    const s = this.sessions.get(callId)!;
    this.plane.unregister(s);
    this.threadRestarts++;
    for (const l of this.listeners) l([s]);
  }
  onSessionsLost(listener: (s: DataSession[]) => void): void {
    this.listeners.push(listener);
  }
  register(s: DataSession): void {
    this.sessions.set(s.callId, s);
    this.plane.register(s);
  }
  unregister(s: DataSession): void {
    this.sessions.delete(s.callId);
    this.plane.unregister(s);
  }
  sendControl(s: DataSession, protocol: number, payload: Buffer): void {
    this.plane.sendControl(s, protocol, payload);
  }
  startData(...args: Parameters<DataPlane['startData']>): void {
    this.plane.startData(...args);
  }
  stopData(s: DataSession): void {
    this.plane.stopData(s);
  }
  mppeResetRequested(s: DataSession): void {
    this.plane.mppeResetRequested(s);
  }
  get counters(): DataPlaneCounters {
    return this.plane.counters;
  }
  close(): void {
    this.plane.close();
  }
}
