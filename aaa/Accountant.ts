// RADIUS accounting of the NAS (RFC 2866, RFC 2869 §2.1): Accounting-On when we start
// and Accounting-Off when we stop; per session Start when the network phase is up, Interim-Update
// every Acct-Interim-Interval, Stop with the cause, the counters and the session time. Records go
// into the AccountingQueue, which delivers them in order and keeps them until acknowledged.
//
// Crash safety: with each Start and Interim-Update the queue also keeps what the session's Stop would
// need (OpenSession), and every ALIVE_MS one row says the server was alive. A start that finds open
// sessions (the last run ended by kill -9, a crash, a power cut) queues Accounting-On and then, for each,
// the Stop a NAS sends after a reboot: Acct-Terminate-Cause NAS-Reboot (RFC 2866 §5.10), the last
// counters known, the session time up to the last moment the server was known alive.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AcctStatusType, AcctTerminateCause, addressAttribute, Attr, integerAttribute, stringAttribute, textAttribute, timeAttribute } from '../radius/Dictionary.js';
import type { RadiusAttribute } from '../radius/RadiusPacket.js';
import type { SessionEnded, SessionEvents, SessionSelector, SessionSummary } from '../session/SessionManager.js';
import { type TerminateCause, terminateCauseOf } from '../session/EndCause.js';
import type { OpenSession } from './AccountingQueue.js';
import { callAttributes, nasIdentityAttributes, type NasIdentity } from './NasAttributes.js';

/** What the accountant watches: PptpServer, or a fake in tests. */
export type SessionEventSource = Pick<EventEmitter<SessionEvents>, 'on' | 'off'> & {
  findSessions(selector: SessionSelector): SessionSummary[];
};

/** The part of AccountingQueue the accountant uses. */
export interface AccountingSink {
  /** `open`: what the session's Stop needs now (with a Start or Interim-Update); a Stop forgets it. */
  enqueue(sessionId: string, statusType: number, attributes: RadiusAttribute[], createdAt?: number, open?: OpenSession): void;
  /** Sessions with a Start and no Stop. */
  openSessions(): OpenSession[];
  /** Runs `work` as one transaction. */
  atomically(work: () => void): void;
  markAlive(at: number): void;
  lastAlive(): number | null;
}

/** How often the server notes it is alive while sessions are open: a NAS-Reboot Stop's session time is at most this short. */
export const ALIVE_MS = 30_000;

export interface AccountantOptions {
  server: SessionEventSource;
  queue: AccountingSink;
  nas: NasIdentity;
  /** Our listen address (Called-Station-Id). */
  local: string;
  /** Interim-Update period in seconds when the Access-Accept named none; 0 = no Interim-Updates. */
  interimInterval: number;
  /** Acct-Authentic for every session (RADIUS or Local), or undefined when it depends (radius-then-local). */
  authentic?: number;
  log: Logger;
}

/** RFC 2866 §5.10 values of the causes we report (session/EndCause.ts says which end is which). */
const ACCT_TERMINATE_CAUSE: Record<TerminateCause, number> = {
  'user-request': AcctTerminateCause.UserRequest,
  'lost-carrier': AcctTerminateCause.LostCarrier,
  'idle-timeout': AcctTerminateCause.IdleTimeout,
  'session-timeout': AcctTerminateCause.SessionTimeout,
  'admin-reset': AcctTerminateCause.AdminReset,
  'admin-reboot': AcctTerminateCause.AdminReboot,
  'nas-request': AcctTerminateCause.NasRequest,
  'nas-error': AcctTerminateCause.NasError,
  'nas-reboot': AcctTerminateCause.NasReboot,
  'user-error': AcctTerminateCause.UserError,
  'service-unavailable': AcctTerminateCause.ServiceUnavailable,
};

const TWO_32 = 2 ** 32;

interface Tracked {
  summary: SessionSummary;
  timer: NodeJS.Timeout | null;
}

/** What a Start, Interim-Update or Stop record is built from: a live session, or one an unclean stop left open. */
type AccountedSession = Pick<SessionSummary, 'sessionId' | 'callId' | 'peer' | 'user' | 'address' | 'classes' | 'upAt'> & {
  counters: OpenSession['counters'];
};

export class Accountant {
  private readonly sessions = new Map<string, Tracked>();
  /** Acct-Session-Id of the NAS's own On/Off records: unique per start. */
  private readonly nasSessionId: string;
  private running = false;
  private aliveTimer: NodeJS.Timeout | null = null;

  /** radius.interimInterval: the default when the Access-Accept names none. */
  private interimInterval: number;

  constructor(private readonly options: AccountantOptions) {
    this.interimInterval = options.interimInterval;
    this.nasSessionId = `nas-${Date.now().toString(16)}`;
  }

  /** A reloaded default interim interval, for sessions that start from now on (live ones keep theirs). */
  reconfigure(settings: { interimInterval: number }): void {
    this.interimInterval = settings.interimInterval;
  }

  /**
   * Accounting-On (RFC 2866 §5.1: the NAS starts; sessions the server thinks are open are not), then a
   * NAS-Reboot Stop for each session the last run left open, then follow sessions. Call before any session exists.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    const queue = this.options.queue;
    const left = queue.openSessions();
    const lastAlive = queue.lastAlive() ?? 0;
    // One transaction: thousands of Stops after a crash cost one disk sync, not one each.
    queue.atomically(() => {
      this.enqueue(this.nasSessionId, AcctStatusType.AccountingOn, this.nasRecord(AcctStatusType.AccountingOn));
      for (const s of left) {
        // The session was up at least until its last record and, its row being there, at the last alive mark.
        this.enqueueStop(s, 'nas-reboot', Math.max(s.at, lastAlive));
      }
    });
    if (left.length > 0) {
      this.options.log.warn(
        { sessions: left.length, sessionIds: left.slice(0, 20).map((s) => s.sessionId), lastAlive: lastAlive || undefined },
        'sessions left open by an unclean stop: Accounting-Stop (NAS-Reboot) queued for each',
      );
    }
    this.options.server.on('session-up', this.onUp);
    this.options.server.on('session-down', this.onDown);
    this.aliveTimer = setInterval(() => {
      if (this.sessions.size > 0) this.markAlive();
    }, ALIVE_MS);
    this.aliveTimer.unref();
    this.options.log.info({ interimInterval: this.interimInterval || undefined }, 'RADIUS accounting started (Accounting-On queued)');
  }

  /**
   * Stop for every session still open (the server is going away: cause 'shutdown', Admin-Reboot, as
   * SessionManager.stop gives the others), then Accounting-Off. The queue keeps whatever it cannot deliver now.
   */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.aliveTimer) clearInterval(this.aliveTimer);
    this.aliveTimer = null;
    this.options.server.off('session-up', this.onUp);
    this.options.server.off('session-down', this.onDown);
    const at = Date.now();
    for (const [sessionId, t] of this.sessions) {
      if (t.timer) clearInterval(t.timer);
      const live = this.options.server.findSessions({ sessionId })[0] ?? t.summary;
      this.enqueueStop(live, terminateCauseOf('shutdown'), at);
    }
    this.sessions.clear();
    this.enqueue(this.nasSessionId, AcctStatusType.AccountingOff, this.nasRecord(AcctStatusType.AccountingOff));
    this.options.log.info({}, 'RADIUS accounting stopped (Accounting-Off queued)');
  }

  /** Sessions with a Start sent and no Stop yet. */
  get openSessions(): number {
    return this.sessions.size;
  }

  private readonly onUp = (s: SessionSummary): void => {
    if (this.sessions.has(s.sessionId)) return;
    const interval = s.interimInterval ?? this.interimInterval;
    const tracked: Tracked = { summary: s, timer: null };
    this.sessions.set(s.sessionId, tracked);
    const now = Date.now();
    this.enqueue(s.sessionId, AcctStatusType.Start, this.sessionRecord(AcctStatusType.Start, s, now), now, openSession(s, now));
    if (interval > 0) {
      tracked.timer = setInterval(() => this.interim(s.sessionId), interval * 1000);
      tracked.timer.unref();
    }
    this.options.log.debug({ sessionId: s.sessionId, user: s.user, interimInterval: interval || undefined }, 'Accounting Start queued');
  };

  private readonly onDown = (s: SessionEnded): void => {
    const t = this.sessions.get(s.sessionId);
    if (!t) return; // never came up: no Start was sent, so no Stop either
    if (t.timer) clearInterval(t.timer);
    this.sessions.delete(s.sessionId);
    this.enqueueStop(s, terminateCauseOf(s.cause), s.endedAt);
    this.options.log.debug({ sessionId: s.sessionId, user: s.user, cause: s.cause }, 'Accounting Stop queued');
  };

  private interim(sessionId: string): void {
    const t = this.sessions.get(sessionId);
    if (!t) return;
    const live = this.options.server.findSessions({ sessionId })[0];
    if (!live) return; // ending: the Stop follows
    t.summary = live;
    const now = Date.now();
    this.enqueue(sessionId, AcctStatusType.InterimUpdate, this.sessionRecord(AcctStatusType.InterimUpdate, live, now), now, openSession(live, now));
  }

  private markAlive(): void {
    try {
      this.options.queue.markAlive(Date.now());
    } catch (e) {
      this.options.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not note that the server is alive');
    }
  }

  /** Stop with the cause; created at `endedAt`, so Acct-Delay-Time counts from the end (RFC 2866 §5.2). */
  private enqueueStop(s: AccountedSession, cause: TerminateCause, endedAt: number): void {
    const attributes = this.sessionRecord(AcctStatusType.Stop, s, endedAt);
    attributes.push(integerAttribute(Attr.AcctTerminateCause, ACCT_TERMINATE_CAUSE[cause]));
    this.enqueue(s.sessionId, AcctStatusType.Stop, attributes, endedAt);
  }

  private enqueue(sessionId: string, statusType: number, attributes: RadiusAttribute[], at = Date.now(), open?: OpenSession): void {
    try {
      this.options.queue.enqueue(sessionId, statusType, attributes, at, open);
    } catch (e) {
      // Only an unencodable record (a bug) or a closed queue gets here; the session itself goes on.
      this.options.log.warn({ sessionId, statusType, err: e instanceof Error ? e.message : String(e) }, 'accounting record could not be queued');
    }
  }

  private nasRecord(statusType: number): RadiusAttribute[] {
    return [
      integerAttribute(Attr.AcctStatusType, statusType),
      textAttribute(Attr.AcctSessionId, this.nasSessionId),
      ...nasIdentityAttributes(this.options.nas),
      timeAttribute(Attr.EventTimestamp, Math.floor(Date.now() / 1000)),
    ];
  }

  /**
   * Start / Interim-Update / Stop body (RFC 2866 §5.13, RFC 2869 §5.1-§5.3). Counters are the user's view:
   * input = octets received from the client (rx), output = sent to it (tx); Gigawords carry the 2^32 wraps.
   */
  private sessionRecord(statusType: number, s: AccountedSession, at: number): RadiusAttribute[] {
    const out: RadiusAttribute[] = [integerAttribute(Attr.AcctStatusType, statusType)];
    if (s.user) out.push(textAttribute(Attr.UserName, s.user));
    out.push(...callAttributes(this.options.nas, { sessionId: s.sessionId, callId: s.callId, peer: s.peer, local: this.options.local }));
    if (s.address) out.push(addressAttribute(Attr.FramedIpAddress, s.address));
    for (const c of s.classes) if (c.length > 0) out.push(stringAttribute(Attr.Class, c)); // RFC 2865 §5.25: unmodified
    if (this.options.authentic !== undefined) out.push(integerAttribute(Attr.AcctAuthentic, this.options.authentic));
    out.push(timeAttribute(Attr.EventTimestamp, Math.floor(at / 1000)));
    if (statusType === AcctStatusType.Start) return out;
    const c = s.counters;
    out.push(
      integerAttribute(Attr.AcctSessionTime, s.upAt === null ? 0 : Math.max(0, Math.round((at - s.upAt) / 1000))),
      integerAttribute(Attr.AcctInputOctets, c.rxBytes % TWO_32),
      integerAttribute(Attr.AcctOutputOctets, c.txBytes % TWO_32),
      integerAttribute(Attr.AcctInputGigawords, Math.floor(c.rxBytes / TWO_32)),
      integerAttribute(Attr.AcctOutputGigawords, Math.floor(c.txBytes / TWO_32)),
      integerAttribute(Attr.AcctInputPackets, c.rxPackets % TWO_32),
      integerAttribute(Attr.AcctOutputPackets, c.txPackets % TWO_32),
    );
    return out;
  }
}

/** What the Stop of `s` needs, read at `at`. */
function openSession(s: SessionSummary, at: number): OpenSession {
  const c = s.counters;
  return {
    sessionId: s.sessionId,
    user: s.user,
    callId: s.callId,
    peer: s.peer,
    address: s.address,
    classes: s.classes,
    upAt: s.upAt ?? at,
    counters: { rxBytes: c.rxBytes, txBytes: c.txBytes, rxPackets: c.rxPackets, txPackets: c.txPackets },
    at,
  };
}
