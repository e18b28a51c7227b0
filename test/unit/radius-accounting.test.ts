// AccountingQueue (SQLite outbox: persistence across restarts, strict order, back-off, Acct-Delay-Time)
// and Accountant (which records PptpServer's session events become).
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AcctStatusType, Attr, integerAttribute, readInteger, readText, textAttribute } from '../../radius/Dictionary.js';
import { RadiusNoResponseError } from '../../radius/RadiusClient.js';
import { findAllAttributes, findAttribute, RadiusFormatError, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { Accountant } from '../../aaa/Accountant.js';
import { END_CAUSES, type EndCause } from '../../session/EndCause.js';
import { AccountingQueue, accountingQueueFile, type AccountingTransport } from '../../aaa/AccountingQueue.js';
import type { SessionEnded, SessionEvents, SessionSelector, SessionSummary } from '../../session/SessionManager.js';
import { newSessionCounters } from '../../dataplane/SessionCounters.js';

const quiet = pino({ level: 'silent' });
const noAnswer = () => new RadiusNoResponseError('accounting', [{ server: '127.0.0.1:18131', outcome: 'timeout', detail: '2 tries, no reply' }]);

/** A transport that fails `failures` times, then acknowledges; records what was sent and when. */
class ScriptedTransport implements AccountingTransport {
  readonly sent: Array<{ attributes: RadiusAttribute[]; at: number }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(public failures = 0) {}
  async accounting(attributes: RadiusAttribute[]): Promise<unknown> {
    this.sent.push({ attributes, at: Date.now() });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await Promise.resolve();
    this.inFlight--;
    if (this.failures > 0) {
      this.failures--;
      throw noAnswer();
    }
    return {};
  }
  /** Acct-Session-Id and status of what was acknowledged: the sends after the last failure of each record. */
  ids(): string[] {
    return this.sent.map((s) => `${readText(findAttribute(s.attributes, Attr.AcctSessionId)!)}/${readInteger(findAttribute(s.attributes, Attr.AcctStatusType)!)}`);
  }
}

const rec = (session: string, status: number, extra: RadiusAttribute[] = []): RadiusAttribute[] => [
  integerAttribute(Attr.AcctStatusType, status),
  textAttribute(Attr.AcctSessionId, session),
  ...extra,
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-acct-'));
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('AccountingQueue', () => {
  it('keeps unacknowledged records across a restart and sends them first, oldest first, with Acct-Delay-Time', async () => {
    const file = accountingQueueFile(join(dir, 'data'));
    const down = new ScriptedTransport(Number.MAX_SAFE_INTEGER);
    vi.useFakeTimers({ toFake: ['Date'] }); // the clock stands still unless moved; the queue's timers stay real
    const t0 = 1_700_000_000_000;
    vi.setSystemTime(t0);
    const q1 = new AccountingQueue({ file, transport: down, log: quiet, initialBackoffMs: 60_000 });
    q1.enqueue('s1', AcctStatusType.Start, rec('s1', AcctStatusType.Start), t0);
    q1.enqueue('s1', AcctStatusType.Stop, rec('s1', AcctStatusType.Stop), t0 + 1000);
    q1.enqueue('nas', AcctStatusType.AccountingOff, rec('nas', AcctStatusType.AccountingOff), t0 + 2000);
    await vi.waitFor(() => expect(down.sent).toHaveLength(1)); // head tried once, then waits 60 s
    expect(q1.size).toBe(3);
    await q1.close();

    vi.setSystemTime(t0 + 7_000);
    const up = new ScriptedTransport();
    const q2 = new AccountingQueue({ file, transport: up, log: quiet });
    expect(q2.list().map((r) => [r.sessionId, r.statusType, r.attempts])).toEqual([
      ['s1', 1, 1],
      ['s1', 2, 0],
      ['nas', 8, 0],
    ]);
    q2.enqueue('nas2', AcctStatusType.AccountingOn, rec('nas2', AcctStatusType.AccountingOn));
    q2.start();
    expect(await q2.drain(2000)).toBe(true);
    expect(up.ids()).toEqual(['s1/1', 's1/2', 'nas/8', 'nas2/7']);
    const delays = up.sent.map((s) => findAttribute(s.attributes, Attr.AcctDelayTime));
    expect(delays.map((d) => d && readInteger(d))).toEqual([7, 6, 5, undefined]); // seconds waited; a fresh record has none
    expect(q2.size).toBe(0);
    await q2.close();
  });

  it('one record at a time, in enqueue order across sessions, even while retrying', async () => {
    const t = new ScriptedTransport(3);
    const q = new AccountingQueue({ file: ':memory:', transport: t, log: quiet, initialBackoffMs: 5, maxBackoffMs: 10 });
    q.enqueue('a', AcctStatusType.Start, rec('a', AcctStatusType.Start));
    q.enqueue('b', AcctStatusType.Start, rec('b', AcctStatusType.Start));
    q.enqueue('a', AcctStatusType.InterimUpdate, rec('a', AcctStatusType.InterimUpdate));
    q.enqueue('a', AcctStatusType.Stop, rec('a', AcctStatusType.Stop));
    q.enqueue('b', AcctStatusType.Stop, rec('b', AcctStatusType.Stop));
    expect(await q.drain(2000)).toBe(true);
    expect(t.ids()).toEqual(['a/1', 'a/1', 'a/1', 'a/1', 'b/1', 'a/3', 'a/2', 'b/2']);
    expect(t.maxInFlight).toBe(1);
    // retries of the head carry Acct-Delay-Time (a changed attribute: a new request each time, RFC 5080 §2.2.1)
    expect(t.sent.slice(1, 4).every((s) => findAttribute(s.attributes, Attr.AcctDelayTime) !== undefined)).toBe(true);
    await q.close();
  });

  it('backs off exponentially up to the cap after each failed attempt', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter
    const t = new ScriptedTransport(6);
    const q = new AccountingQueue({ file: ':memory:', transport: t, log: quiet, initialBackoffMs: 1000, maxBackoffMs: 5000 });
    const t0 = Date.now();
    q.enqueue('a', AcctStatusType.Start, rec('a', AcctStatusType.Start));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.sent.map((s) => s.at - t0)).toEqual([0, 1000, 3000, 7000, 12000, 17000, 22000]);
    expect(q.size).toBe(0);
    await q.close();
  });

  it('a record the codec refuses is refused at enqueue, not stored', async () => {
    const q = new AccountingQueue({ file: ':memory:', transport: new ScriptedTransport(), log: quiet });
    expect(() => q.enqueue('x', 1, [{ type: Attr.Class, value: Buffer.alloc(254) }])).toThrow(RadiusFormatError);
    expect(q.size).toBe(0);
    await q.close();
  });
});

// ---- Accountant -----------------------------------------------------------------------------

class FakeServer extends EventEmitter<SessionEvents> {
  live: SessionSummary[] = [];
  findSessions(selector: SessionSelector): SessionSummary[] {
    return this.live.filter((s) => s.sessionId === selector.sessionId);
  }
}

class CaptureQueue {
  readonly records: Array<{ sessionId: string; statusType: number; attributes: RadiusAttribute[]; at?: number | undefined }> = [];
  enqueue(sessionId: string, statusType: number, attributes: RadiusAttribute[], at?: number): void {
    this.records.push({ sessionId, statusType, attributes, at });
  }
  openSessions(): [] {
    return [];
  }
  markAlive(): void {}
  lastAlive(): null {
    return null;
  }
  atomically(work: () => void): void {
    work();
  }
}

function summary(over: Partial<SessionSummary> = {}): SessionSummary {
  return {
    sessionId: '18c0ffee-0007',
    callId: 7,
    peerCallId: 99,
    peer: '198.18.0.10',
    user: 'alice',
    address: '198.19.0.50',
    authMethod: 'MS-CHAPv2',
    mppe: 'MPPE-128 stateless',
    startedAt: 1_700_000_000_000,
    upAt: 1_700_000_001_000,
    sessionTimeout: 3600,
    idleTimeout: null,
    classes: [Buffer.from('pptp-class-alice')],
    interimInterval: null,
    counters: newSessionCounters(),
    stuck: false,
    ...over,
  };
}

const int = (attrs: RadiusAttribute[], t: number) => {
  const a = findAttribute(attrs, t);
  return a && readInteger(a);
};
const txt = (attrs: RadiusAttribute[], t: number) => {
  const a = findAttribute(attrs, t);
  return a && readText(a);
};

function accountant(interimInterval = 0) {
  const server = new FakeServer();
  const queue = new CaptureQueue();
  const acct = new Accountant({
    server,
    queue,
    nas: { nasIdentifier: 'portico', nasIpAddress: '192.0.2.1' },
    local: '198.18.0.1',
    interimInterval,
    authentic: 1,
    log: quiet,
  });
  return { server, queue, acct };
}

describe('Accountant', () => {
  it('Accounting-On, Start with the session attributes and every Class echoed, Stop with cause, counters, gigawords, session time', () => {
    const { server, queue, acct } = accountant();
    acct.start();
    expect(queue.records[0]!.statusType).toBe(AcctStatusType.AccountingOn);
    expect(txt(queue.records[0]!.attributes, Attr.NasIdentifier)).toBe('portico');
    expect(txt(queue.records[0]!.attributes, Attr.AcctSessionId)).toMatch(/^nas-/);

    const up = summary({ classes: [Buffer.from('pptp-class-alice'), Buffer.from([1, 2, 3])] });
    server.emit('session-up', up);
    const start = queue.records[1]!;
    expect(start.statusType).toBe(AcctStatusType.Start);
    const a = start.attributes;
    expect(txt(a, Attr.AcctSessionId)).toBe('18c0ffee-0007');
    expect(txt(a, Attr.UserName)).toBe('alice');
    expect(int(a, Attr.NasPort)).toBe(7);
    expect(int(a, Attr.NasPortType)).toBe(5);
    expect(findAttribute(a, Attr.FramedIpAddress)!.value).toEqual(Buffer.from([198, 19, 0, 50]));
    expect(txt(a, Attr.CallingStationId)).toBe('198.18.0.10');
    expect(txt(a, Attr.CalledStationId)).toBe('198.18.0.1');
    expect(findAllAttributes(a, Attr.Class).map((c) => c.value)).toEqual([Buffer.from('pptp-class-alice'), Buffer.from([1, 2, 3])]);
    expect(int(a, Attr.AcctAuthentic)).toBe(1);
    expect(int(a, Attr.EventTimestamp)).toBeGreaterThan(1_600_000_000);
    expect(int(a, Attr.AcctInputOctets)).toBeUndefined(); // Start carries no counters

    const ended: SessionEnded = {
      ...up,
      counters: { ...up.counters, rxBytes: 5 * 2 ** 32 + 123, txBytes: 4567, rxPackets: 10, txPackets: 11 },
      cause: 'idle-timeout',
      detail: 'Idle-Timeout of 10 s reached',
      endedAt: up.upAt! + 42_400,
    };
    server.emit('session-down', ended);
    const stop = queue.records[2]!;
    expect(stop.statusType).toBe(AcctStatusType.Stop);
    expect(stop.at).toBe(ended.endedAt);
    const s = stop.attributes;
    expect(int(s, Attr.AcctTerminateCause)).toBe(4);
    expect(int(s, Attr.AcctInputOctets)).toBe(123); // input = from the client (rx)
    expect(int(s, Attr.AcctInputGigawords)).toBe(5);
    expect(int(s, Attr.AcctOutputOctets)).toBe(4567);
    expect(int(s, Attr.AcctOutputGigawords)).toBe(0);
    expect(int(s, Attr.AcctInputPackets)).toBe(10);
    expect(int(s, Attr.AcctOutputPackets)).toBe(11);
    expect(int(s, Attr.AcctSessionTime)).toBe(42);
    expect(findAllAttributes(s, Attr.Class)).toHaveLength(2);
    expect(acct.openSessions).toBe(0);
  });

  it('Interim-Update every Acct-Interim-Interval of the reply (over the configured one) with live counters', async () => {
    vi.useFakeTimers();
    const { server, queue, acct } = accountant(300);
    acct.start();
    const up = summary({ interimInterval: 60 });
    server.live = [up];
    server.emit('session-up', up);
    server.live = [{ ...up, counters: { ...up.counters, rxBytes: 1000, txBytes: 2000 } }];
    await vi.advanceTimersByTimeAsync(60_000);
    server.live = [{ ...up, counters: { ...up.counters, rxBytes: 3000, txBytes: 4000 } }];
    await vi.advanceTimersByTimeAsync(60_000);
    const interims = queue.records.filter((r) => r.statusType === AcctStatusType.InterimUpdate);
    expect(interims.map((r) => [int(r.attributes, Attr.AcctInputOctets), int(r.attributes, Attr.AcctOutputOctets)])).toEqual([
      [1000, 2000],
      [3000, 4000],
    ]);
    server.emit('session-down', { ...server.live[0]!, cause: 'peer-call-clear', detail: 'x', endedAt: Date.now() });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(queue.records.filter((r) => r.statusType === AcctStatusType.InterimUpdate)).toHaveLength(2); // timer stopped
    expect(queue.records.at(-1)!.statusType).toBe(AcctStatusType.Stop);
  });

  it('a session that never came up gets no Stop; stop() closes open sessions (Admin-Reboot) then Accounting-Off', () => {
    const { server, queue, acct } = accountant();
    acct.start();
    server.emit('session-down', { ...summary({ sessionId: 'never-up', upAt: null }), cause: 'auth-failed', detail: 'auth', endedAt: Date.now() });
    expect(queue.records).toHaveLength(1);
    const up = summary();
    server.emit('session-up', up);
    acct.stop();
    expect(queue.records.map((r) => r.statusType)).toEqual([7, 1, 2, 8]);
    expect(int(queue.records[2]!.attributes, Attr.AcctTerminateCause)).toBe(7); // RFC 2866 §5.10 Admin-Reboot
    server.emit('session-down', { ...up, cause: 'shutdown', detail: 'late', endedAt: Date.now() });
    expect(queue.records).toHaveLength(4); // unsubscribed: no second Stop
  });

  it('gives every end cause its RFC 2866 §5.10 Acct-Terminate-Cause in the Stop record', () => {
    const { server, queue, acct } = accountant();
    acct.start();
    const stopCause = (cause: EndCause): number | undefined => {
      const up = summary({ sessionId: `s-${cause}` });
      server.emit('session-up', up);
      server.emit('session-down', { ...up, cause, detail: cause, endedAt: Date.now() });
      return int(queue.records.at(-1)!.attributes, Attr.AcctTerminateCause);
    };
    const got = Object.fromEntries(END_CAUSES.map((c) => [c, stopCause(c)]));
    expect(got).toEqual({
      'admin-disconnect': 6, // Admin-Reset, whether from the console or a RADIUS Disconnect-Request
      'radius-disconnect': 6,
      'session-timeout': 5,
      'idle-timeout': 4,
      shutdown: 7, // Admin-Reboot: an administrator stops the server (SIGTERM)
      flood: 17,
      'setup-timeout': 17,
      'address-refused': 15, // Service-Unavailable: the static address the store or RADIUS named is not allowed
      'dataplane-failure': 9, // NAS-Error
      'peer-call-clear': 1, // User-Request
      'peer-stop': 1,
      'transport-closed': 2, // Lost-Carrier
      'echo-timeout': 2,
      'start-timeout': 2,
      'stop-timeout': 2,
      'closed-during-open': 2,
      'protocol-error': 9, // NAS-Error
      'unsupported-version': 9,
      'local-stop': 10,
      'peer-terminated': 1,
      'peer-not-responding': 2,
      'lower-layer-down': 2,
      'negotiation-failed': 9,
      'local-close': 10,
      'auth-failed': 17, // User-Error
      'auth-timeout': 17,
      'auth-refused': 17,
      'mppe-refused': 17,
      'no-mppe-keys': 9,
      'no-address': 15, // Service-Unavailable
      'ccp-renegotiated': 17,
      'user-changed': 17,
      'ncp-failed': 9,
    });
  });
});
