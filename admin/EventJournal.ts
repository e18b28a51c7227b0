// What happened, for the Events page: client logins, failed logins with their reason, session
// ends, and what operators did in the console. Kept in admin.db, bounded to the newest rows, the
// operators' actions apart from the rest so that a flood of anything else cannot push them out.
// Refused logins are counted per user, address and minute in one row that each further refusal
// updates: a guesser adds at most a few rows a minute, however fast it guesses.
import type { AdminCore, AdminSessionEnded, AdminSessionView, AdminAuthFailure } from './AdminCore.js';
import type { AdminDb } from './AdminDatabase.js';

export const EVENT_TYPES = ['login', 'auth-failure', 'disconnect', 'admin'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface JournalEvent {
  id: number;
  at: number;
  type: EventType;
  user: string | null;
  peer: string | null;
  address: string | null;
  message: string;
  detail: Record<string, unknown> | null;
}

export interface EventQuery {
  /** Case-insensitive substring of the user, peer, address or message. */
  q?: string;
  type?: EventType;
  /** Only events with a smaller id (paging backwards). */
  before?: number;
  limit?: number;
}

/** Rows kept of client events (logins, refused logins, disconnects), and of console actions apart. */
const KEEP = 20_000;
const KEEP_ADMIN = 20_000;
const PRUNE_EVERY = 500;
/** Refused logins of distinct users from one address in one minute with a row each; beyond, one row for "several users". */
const USERS_PER_ADDRESS = 10;
/** Rows of refused logins in one minute, whatever the addresses; beyond, one row for "other addresses". */
const FAILURE_ROWS_PER_MINUTE = 1000;
/** Distinct reasons counted in one row's detail. */
const REASONS_PER_ROW = 10;

/** One row of refused logins being counted this minute. */
interface FailureRow {
  id: number;
  count: number;
  reasons: Record<string, number>;
}

export class EventJournal {
  private inserts = 0;
  private detach: (() => void) | null = null;
  /** The minute being counted and its rows of refused logins by "user\naddress". */
  private failureMinute = -1;
  private readonly failureRows = new Map<string, FailureRow>();
  private readonly usersPerAddress = new Map<string, number>();

  constructor(private readonly db: AdminDb) {}

  /**
   * Journals the core's session events until close(). The core emits from inside its session
   * handling: a journal fault (disk full) is reported to `onError`, never thrown back into it.
   */
  follow(core: AdminCore, onError: (err: unknown) => void = () => undefined): void {
    const guarded =
      <T>(f: (x: T) => void) =>
      (x: T) => {
        try {
          f(x);
        } catch (err) {
          onError(err);
        }
      };
    const up = guarded((s: AdminSessionView) =>
      this.record({
        type: 'login',
        user: s.user,
        peer: s.peer,
        address: s.address,
        message: `${s.user ?? '?'} connected from ${s.peer} as ${s.address ?? '-'} (${s.authMethod}, ${s.mppe})`,
        detail: { sessionId: s.sessionId, callId: s.callId, peerCallId: s.peerCallId },
        at: s.upAt ?? Date.now(),
      }),
    );
    const down = guarded((s: AdminSessionEnded) =>
      this.record({
        type: 'disconnect',
        user: s.user,
        peer: s.peer,
        address: s.address,
        message: `${s.user ?? '?'} disconnected: ${s.reason} (${s.cause})`,
        detail: {
          sessionId: s.sessionId,
          cause: s.cause,
          seconds: Math.round((s.endedAt - (s.upAt ?? s.startedAt)) / 1000),
          rxBytes: s.rxBytes,
          txBytes: s.txBytes,
        },
        at: s.endedAt,
      }),
    );
    const failure = guarded((f: AdminAuthFailure) => this.recordFailure(f));
    core.on('session-up', up);
    core.on('session-down', down);
    core.on('auth-failure', failure);
    this.detach = () => {
      core.off('session-up', up);
      core.off('session-down', down);
      core.off('auth-failure', failure);
    };
  }

  /** Appends one event; its id. */
  record(e: { type: EventType; message: string; user?: string | null; peer?: string | null; address?: string | null; detail?: Record<string, unknown> | null; at?: number }): number {
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO events (at, type, user, peer, address, message, detail) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.at ?? Date.now(), e.type, e.user ?? null, e.peer ?? null, e.address ?? null, e.message, e.detail ? JSON.stringify(e.detail) : null);
    if (++this.inserts % PRUNE_EVERY === 0) {
      // Each kind keeps its own newest rows: the console's actions are never pushed out by client events.
      const prune = (kind: string, keep: number) => this.db.prepare(`DELETE FROM events WHERE ${kind} AND id <= (SELECT id FROM events WHERE ${kind} ORDER BY id DESC LIMIT 1 OFFSET ?)`).run(keep);
      prune("type <> 'admin'", KEEP);
      prune("type = 'admin'", KEEP_ADMIN);
    }
    return Number(lastInsertRowid);
  }

  /** A refused login: a new row for its user, address and minute, or one more in that row. */
  recordFailure(f: AdminAuthFailure): void {
    const minute = Math.floor(f.at / 60_000);
    if (minute !== this.failureMinute) {
      this.failureMinute = minute;
      this.failureRows.clear();
      this.usersPerAddress.clear();
    }
    let user = f.user;
    let peer: string | null = f.peer;
    let who = `${user ?? '(no name)'} from ${peer}`;
    let key = `user:${user ?? ''}\n${peer}`;
    if (!this.failureRows.has(key)) {
      // Bounded rows a minute: many names from one address, then many addresses, share a row.
      const users = this.usersPerAddress.get(f.peer) ?? 0;
      if (users >= USERS_PER_ADDRESS) [user, key, who] = [null, `several\n${peer}`, `several users from ${peer}`];
      else if (this.failureRows.size >= FAILURE_ROWS_PER_MINUTE) [user, peer, key, who] = [null, null, 'several\n', 'several users from other addresses'];
      else this.usersPerAddress.set(f.peer, users + 1);
    }
    const row = this.failureRows.get(key);
    if (!row) {
      const reasons = { [f.reason]: 1 };
      const id = this.record({ type: 'auth-failure', user, peer, address: null, message: `login of ${who} refused: ${f.reason}`, detail: { reason: f.reason, count: 1, reasons }, at: f.at });
      this.failureRows.set(key, { id, count: 1, reasons });
      return;
    }
    row.count++;
    if (f.reason in row.reasons || Object.keys(row.reasons).length < REASONS_PER_ROW) row.reasons[f.reason] = (row.reasons[f.reason] ?? 0) + 1;
    this.db
      .prepare('UPDATE events SET at = ?, message = ?, detail = ? WHERE id = ?')
      .run(f.at, `login of ${who} refused ${row.count} times this minute (last: ${f.reason})`, JSON.stringify({ reason: f.reason, count: row.count, reasons: row.reasons }), row.id);
  }

  /** Newest first. */
  search(query: EventQuery = {}): JournalEvent[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (query.type) {
      where.push('type = ?');
      args.push(query.type);
    }
    if (query.before !== undefined) {
      where.push('id < ?');
      args.push(query.before);
    }
    const q = query.q?.trim();
    if (q) {
      // LIKE with our own escape character: the operator's % and _ are literal.
      const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(`(lower(coalesce(user, '')) LIKE ? ESCAPE '\\' OR coalesce(peer, '') LIKE ? ESCAPE '\\' OR coalesce(address, '') LIKE ? ESCAPE '\\' OR lower(message) LIKE ? ESCAPE '\\')`);
      args.push(pattern, pattern, pattern, pattern);
    }
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, limit) as Row[]).map((r) => ({
      id: r.id,
      at: r.at,
      type: r.type,
      user: r.user,
      peer: r.peer,
      address: r.address,
      message: r.message,
      detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
    }));
  }

  close(): void {
    this.detach?.();
    this.detach = null;
  }
}

interface Row {
  id: number;
  at: number;
  type: EventType;
  user: string | null;
  peer: string | null;
  address: string | null;
  message: string;
  detail: string | null;
}
