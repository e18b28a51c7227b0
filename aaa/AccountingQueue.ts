// The accounting outbox (RFC 2866 §2: a NAS keeps an Accounting-Request until it is acknowledged).
// Every record is written to SQLite before anything is sent and deleted only after a server's
// Accounting-Response, so nothing is lost to a RADIUS outage or to our own restart. Records leave
// strictly one at a time in the order they were made: per session (Start before Interim before
// Stop) and overall (Accounting-Off before the next Accounting-On). A failed attempt waits with
// exponential back-off; Acct-Delay-Time (RFC 2866 §5.2) tells the server how late a record is.
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { privateFile } from '../config/DataDirectory.js';
import { Attr, integerAttribute } from '../radius/Dictionary.js';
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

const ACCOUNTING_FILE = 'accounting.db';

/** Where the queue lives inside the data directory (its own file: no lock contention with the user store). */
export function accountingQueueFile(dataDir: string): string {
  return privateFile(dataDir, ACCOUNTING_FILE);
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
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private closed = false;
  /** Consecutive failed attempts of the current head record (drives the back-off). */
  private failures = 0;
  private readonly drainWaiters = new Set<() => void>();

  constructor(private readonly options: AccountingQueueOptions) {
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxBackoffMs ?? 60_000);
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    // FULL: an acknowledged-by-us record must survive a power cut as well as a crash.
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS accounting_queue (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      session_id TEXT NOT NULL,
      status_type INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      attributes BLOB NOT NULL
    )`);
    this.insert = this.db.prepare('INSERT INTO accounting_queue (session_id, status_type, created_at, attributes) VALUES (?, ?, ?, ?)');
    this.head = this.db.prepare('SELECT * FROM accounting_queue ORDER BY seq LIMIT 1');
    this.remove = this.db.prepare('DELETE FROM accounting_queue WHERE seq = ?');
    this.bump = this.db.prepare('UPDATE accounting_queue SET attempts = attempts + 1 WHERE seq = ?');
    this.count = this.db.prepare('SELECT count(*) AS n FROM accounting_queue');
    const pending = this.size;
    if (pending > 0) options.log.info({ pending }, 'accounting records left from before the restart: sending them first');
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
   */
  enqueue(sessionId: string, statusType: number, attributes: RadiusAttribute[], createdAt = Date.now()): void {
    if (this.closed) throw new Error('accounting queue closed');
    const kept = attributes.filter((a) => isVendorAttribute(a) || a.type !== Attr.AcctDelayTime);
    // The attribute list is stored as a RADIUS packet body: the codec that sends it also checks it here.
    const body = encodePacket({ code: RadiusCode.AccountingRequest, identifier: 0, authenticator: Buffer.alloc(16), attributes: kept });
    this.insert.run(sessionId, statusType, createdAt, body);
    this.kick();
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

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
