// The accounting outbox (RFC 2866 §2: a NAS keeps an Accounting-Request until it is acknowledged).
// Every record is written to SQLite before anything is sent and deleted only after a server's
// Accounting-Response, so nothing is lost to a RADIUS outage or to our own restart. Records leave
// strictly one at a time in the order they were made: per session (Start before Interim before
// Stop) and overall (Accounting-Off before the next Accounting-On). A failed attempt waits with
// exponential back-off; Acct-Delay-Time (RFC 2866 §5.2) tells the server how late a record is.
//
// The same file keeps what a Stop needs of every session whose Start is queued and whose Stop is not
// (OpenSession: written with the Start, rewritten with each Interim-Update, deleted in the same
// transaction that queues the Stop), and when the server was last known alive. After a kill -9 the
// next start finds those sessions there and queues their Stops (Accountant: NAS-Reboot); as the
// Stop and the deletion commit together, a crash at any moment gives each session exactly one Stop.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { privateFile } from '../config/DataDirectory.js';
import type { Schema } from '../config/SchemaMigrations.js';
import { openDatabase } from '../config/SqliteDatabase.js';
import { AcctStatusType, Attr, integerAttribute } from '../radius/Dictionary.js';
import { decodePacket, encodePacket, isVendorAttribute, RadiusCode, RadiusFormatError, type RadiusAttribute } from '../radius/RadiusPacket.js';

/** The part of RadiusClient the queue needs; resolves on an Accounting-Response, rejects otherwise. */
export interface AccountingTransport {
  accounting(attributes: RadiusAttribute[]): Promise<unknown>;
}

export interface AccountingQueueOptions {
  /** SQLite file (created with its directory); ':memory:' for tests that do not restart. */
  file: string;
  transport: AccountingTransport;
  log: Logger;
  /** First wait after a failed attempt. Default 1000 ms. */
  initialBackoffMs?: number;
  /** Longest wait between attempts. Default 60 000 ms. */
  maxBackoffMs?: number;
}

export interface QueuedRecord {
  seq: number;
  sessionId: string;
  /** Acct-Status-Type. */
  statusType: number;
  createdAt: number;
  attempts: number;
}

/**
 * What the Stop of a session needs when the process that ran it is gone: its identity (Acct-Session-Id,
 * User-Name, NAS-Port, Calling-Station-Id, Framed-IP-Address, Class) and the last counters read.
 */
export interface OpenSession {
  sessionId: string;
  user: string | null;
  callId: number;
  peer: string;
  address: string | null;
  classes: Buffer[];
  /** Network phase up (the Start). */
  upAt: number;
  counters: { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number };
  /** When the counters were read (the Start's or the latest Interim-Update's time). */
  at: number;
}

/** dataDir/accounting.db (config/SchemaMigrations.ts). */
export const ACCOUNTING_SCHEMA: Schema = {
  file: 'accounting.db',
  migrations: [
    // 1: the queue as it was before versions (a file of that time at version 0 passes unchanged).
    (db) => {
      db.exec(`CREATE TABLE IF NOT EXISTS accounting_queue (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      session_id TEXT NOT NULL,
      status_type INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      attributes BLOB NOT NULL
    )`);
      db.exec(`CREATE TABLE IF NOT EXISTS open_sessions (
      session_id TEXT PRIMARY KEY,
      state TEXT NOT NULL
    )`);
      db.exec('CREATE TABLE IF NOT EXISTS nas_alive (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)');
    },
  ],
};

/** Where the queue lives inside the data directory (its own file: no lock contention with the user store). */
export function accountingQueueFile(dataDir: string): string {
  return privateFile(dataDir, ACCOUNTING_SCHEMA.file);
}

interface Row {
  seq: number;
  session_id: string;
  status_type: number;
  created_at: number;
  attempts: number;
  attributes: Buffer;
}

export class AccountingQueue {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly head: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly bump: Database.Statement;
  private readonly count: Database.Statement;
  private readonly keepOpen: Database.Statement;
  private readonly forgetOpen: Database.Statement;
  private readonly allOpen: Database.Statement;
  private readonly setAlive: Database.Statement;
  private readonly getAlive: Database.Statement;
  private readonly store: (sessionId: string, statusType: number, createdAt: number, body: Buffer, open: OpenSession | undefined) => void;
  private readonly initialBackoffMs: number;
  private maxBackoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private closed = false;
  /** Consecutive failed attempts of the current head record (drives the back-off). */
  private failures = 0;
  private readonly drainWaiters = new Set<() => void>();

  constructor(private readonly options: AccountingQueueOptions) {
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxBackoffMs ?? 60_000);
    this.db = openDatabase(options.file, ACCOUNTING_SCHEMA);
    // FULL: an acknowledged-by-us record must survive a power cut as well as a crash.
    this.db.pragma('synchronous = FULL');
    this.insert = this.db.prepare('INSERT INTO accounting_queue (session_id, status_type, created_at, attributes) VALUES (?, ?, ?, ?)');
    this.head = this.db.prepare('SELECT * FROM accounting_queue ORDER BY seq LIMIT 1');
    this.remove = this.db.prepare('DELETE FROM accounting_queue WHERE seq = ?');
    this.bump = this.db.prepare('UPDATE accounting_queue SET attempts = attempts + 1 WHERE seq = ?');
    this.count = this.db.prepare('SELECT count(*) AS n FROM accounting_queue');
    this.keepOpen = this.db.prepare('INSERT INTO open_sessions (session_id, state) VALUES (?, ?) ON CONFLICT (session_id) DO UPDATE SET state = excluded.state');
    this.forgetOpen = this.db.prepare('DELETE FROM open_sessions WHERE session_id = ?');
    this.allOpen = this.db.prepare('SELECT session_id, state FROM open_sessions ORDER BY rowid');
    this.setAlive = this.db.prepare('INSERT INTO nas_alive (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at');
    this.getAlive = this.db.prepare('SELECT at FROM nas_alive WHERE id = 1');
    // One transaction: the record and the open-session row it starts, renews or ends commit together.
    this.store = this.db.transaction((sessionId: string, statusType: number, createdAt: number, body: Buffer, open: OpenSession | undefined) => {
      this.insert.run(sessionId, statusType, createdAt, body);
      if (statusType === AcctStatusType.Stop) this.forgetOpen.run(sessionId);
      else if (open !== undefined) this.keepOpen.run(sessionId, encodeOpenSession(open));
    });
    const pending = this.size;
    if (pending > 0) options.log.info({ pending }, 'accounting records left from before the restart: sending them first');
  }

  /** A reloaded back-off cap, from the next failed attempt on; the queued records stay as they are. */
  reconfigure(settings: { maxBackoffMs: number }): void {
    this.maxBackoffMs = Math.max(this.initialBackoffMs, settings.maxBackoffMs);
  }

  /** Records not yet acknowledged. */
  get size(): number {
    return (this.count.get() as { n: number }).n;
  }

  /** Pending records, oldest first (panel, tests). */
  list(): QueuedRecord[] {
    return (this.db.prepare('SELECT seq, session_id, status_type, created_at, attempts FROM accounting_queue ORDER BY seq').all() as Row[]).map((r) => ({
      seq: r.seq,
      sessionId: r.session_id,
      statusType: r.status_type,
      createdAt: r.created_at,
      attempts: r.attempts,
    }));
  }

  /**
   * Stores one Accounting-Request (without Acct-Delay-Time: the queue adds it when sending) and
   * returns at once; the record goes out after every older one. RadiusFormatError if it cannot be encoded.
   * `open` (with a Start or Interim-Update) is what the session's Stop would need now; a Stop forgets it.
   */
  enqueue(sessionId: string, statusType: number, attributes: RadiusAttribute[], createdAt = Date.now(), open?: OpenSession): void {
    if (this.closed) throw new Error('accounting queue closed');
    const kept = attributes.filter((a) => isVendorAttribute(a) || a.type !== Attr.AcctDelayTime);
    // The attribute list is stored as a RADIUS packet body: the codec that sends it also checks it here.
    const body = encodePacket({ code: RadiusCode.AccountingRequest, identifier: 0, authenticator: Buffer.alloc(16), attributes: kept });
    this.store(sessionId, statusType, createdAt, body, open);
    this.kick();
  }

  /** Runs `work` (enqueues) as one transaction: one disk sync for all its records, all or none of them kept. */
  atomically(work: () => void): void {
    this.db.transaction(work)();
  }

  /** Sessions with a Start queued (or sent) and no Stop: at start, those an unclean stop left open. */
  openSessions(): OpenSession[] {
    const out: OpenSession[] = [];
    for (const r of this.allOpen.all() as Array<{ session_id: string; state: string }>) {
      try {
        out.push(decodeOpenSession(r.state));
      } catch (e) {
        // Cannot happen for rows we wrote; a damaged one must not stop the server from starting.
        this.options.log.error({ sessionId: r.session_id, err: errorText(e) }, 'open-session record unreadable, discarded');
        this.forgetOpen.run(r.session_id);
      }
    }
    return out;
  }

  /** Records that the server is alive at `at` (one row: bounded writes, see Accountant). */
  markAlive(at: number): void {
    if (this.closed) return;
    this.setAlive.run(at);
  }

  /** The last markAlive time, from this run or the one before; null if never. */
  lastAlive(): number | null {
    return (this.getAlive.get() as { at: number } | undefined)?.at ?? null;
  }

  /** Start (or resume after a restart) sending. Idempotent. */
  start(): void {
    this.kick();
  }

  /** Resolves when the queue is empty, or after `timeoutMs` (false then). */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.drainWaiters.delete(done);
        resolve(this.size === 0);
      };
      const t = setTimeout(done, timeoutMs);
      t.unref();
      this.drainWaiters.add(done);
    });
  }

  /** Stops sending and closes the file; unacknowledged records stay for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Close the transport first (RadiusServices does) so an attempt in flight ends at once; never wait long.
    if (this.sending) await Promise.race([this.sending.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    const left = this.size;
    if (left > 0) this.options.log.warn({ pending: left }, 'accounting records not yet acknowledged: kept for the next start');
    this.db.close();
    for (const w of [...this.drainWaiters]) w();
  }

  private kick(): void {
    if (this.closed || this.sending || this.timer) return;
    this.sending = this.sendHead().finally(() => {
      this.sending = null;
    });
  }

  private async sendHead(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const row = this.head.get() as Row | undefined;
      if (!row) {
        for (const w of [...this.drainWaiters]) w();
        return;
      }
      let attributes: RadiusAttribute[];
      try {
        attributes = decodePacket(row.attributes).attributes;
      } catch (e) {
        // Cannot happen for rows we wrote; a damaged row must not block every record behind it.
        this.options.log.error({ seq: row.seq, sessionId: row.session_id, err: errorText(e) }, 'accounting record unreadable, discarded');
        this.remove.run(row.seq);
        continue;
      }
      // RFC 2866 §5.2: seconds the record has waited. A changed value makes a new request (new
      // Identifier and authenticator, RFC 5080 §2.2.1), which RadiusClient does per call anyway.
      const delay = Math.max(0, Math.floor((Date.now() - row.created_at) / 1000));
      if (delay > 0 || row.attempts > 0) attributes.push(integerAttribute(Attr.AcctDelayTime, delay));
      this.bump.run(row.seq);
      try {
        await this.options.transport.accounting(attributes);
      } catch (e) {
        if (this.closed) return;
        if (e instanceof RadiusFormatError) {
          this.options.log.error({ seq: row.seq, sessionId: row.session_id, err: e.message }, 'accounting record cannot be encoded, discarded');
          this.remove.run(row.seq);
          continue;
        }
        this.failures++;
        const wait = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        const jittered = Math.round(wait * (0.9 + Math.random() * 0.2));
        this.options.log.warn(
          { seq: row.seq, sessionId: row.session_id, statusType: row.status_type, attempts: row.attempts + 1, retryInMs: jittered, pending: this.size, why: errorText(e) },
          'accounting record not acknowledged, will retry',
        );
        this.timer = setTimeout(() => {
          this.timer = null;
          this.kick();
        }, jittered);
        return;
      }
      if (this.closed) return; // the database is closed; the record is sent again next start (at-least-once)
      this.remove.run(row.seq);
      if (this.failures > 0) this.options.log.info({ seq: row.seq, sessionId: row.session_id, delaySec: delay }, 'accounting delivered again after failures');
      this.failures = 0;
      this.options.log.debug({ seq: row.seq, sessionId: row.session_id, statusType: row.status_type, delaySec: delay }, 'accounting record acknowledged');
    }
  }
}

function encodeOpenSession(s: OpenSession): string {
  return JSON.stringify({ ...s, classes: s.classes.map((c) => c.toString('base64')) });
}

function decodeOpenSession(text: string): OpenSession {
  const o = JSON.parse(text) as Omit<OpenSession, 'classes'> & { classes: string[] };
  return { ...o, classes: o.classes.map((c) => Buffer.from(c, 'base64')) };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
