// What happened, for the Events page: client logins, failed logins with their reason, session
// ends, and what operators did in the console. Kept in admin.db, bounded to the newest rows.
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

const KEEP = 20_000;
const PRUNE_EVERY = 500;

export class EventJournal {
  private inserts = 0;
  private detach: (() => void) | null = null;

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
    const failure = guarded((f: AdminAuthFailure) =>
      this.record({
        type: 'auth-failure',
        user: f.user,
        peer: f.peer,
        address: null,
        message: `login of ${f.user ?? '(no name)'} from ${f.peer} refused: ${f.reason}`,
        detail: { reason: f.reason },
        at: f.at,
      }),
    );
    core.on('session-up', up);
    core.on('session-down', down);
    core.on('auth-failure', failure);
    this.detach = () => {
      core.off('session-up', up);
      core.off('session-down', down);
      core.off('auth-failure', failure);
    };
  }

  record(e: { type: EventType; message: string; user?: string | null; peer?: string | null; address?: string | null; detail?: Record<string, unknown> | null; at?: number }): void {
    this.db
      .prepare('INSERT INTO events (at, type, user, peer, address, message, detail) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.at ?? Date.now(), e.type, e.user ?? null, e.peer ?? null, e.address ?? null, e.message, e.detail ? JSON.stringify(e.detail) : null);
    if (++this.inserts % PRUNE_EVERY === 0) {
      this.db.prepare('DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?').run(KEEP);
    }
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
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return (this.db.prepare(sql).all(...args) as Row[]).map((r) => ({
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
