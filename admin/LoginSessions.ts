// Browser login sessions. The cookie carries 32 random bytes; the database keeps only their
// SHA-256, so a copy of admin.db does not let anyone in. Each session has its own CSRF token.
import { createHash, randomBytes } from 'node:crypto';
import type { AdminDb } from './AdminDatabase.js';

/** A session ends after this long without a request... */
export const IDLE_LIMIT_MS = 60 * 60 * 1000;
/** ...and in any case this long after login. */
export const ABSOLUTE_LIMIT_MS = 12 * 60 * 60 * 1000;
/** last_seen is written at most this often (one write per minute, not per request). */
const TOUCH_EVERY_MS = 60 * 1000;

export interface LoginSession {
  account: string;
  csrf: string;
  createdAt: number;
}

const digest = (id: string) => createHash('sha256').update(id).digest();

export class LoginSessions {
  constructor(private readonly db: AdminDb) {}

  /** Returns the cookie value; it exists nowhere else. */
  create(account: string, client: string): { id: string; csrf: string } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const now = Date.now();
    this.db.prepare('INSERT INTO login_sessions (id_hash, account, csrf, created_at, last_seen, client) VALUES (?, ?, ?, ?, ?, ?)').run(digest(id), account, csrf, now, now, client);
    this.prune();
    return { id, csrf };
  }

  lookup(id: string): LoginSession | null {
    if (id.length === 0 || id.length > 128) return null;
    const key = digest(id);
    const row = this.db.prepare('SELECT account, csrf, created_at, last_seen FROM login_sessions WHERE id_hash = ?').get(key) as
      | { account: string; csrf: string; created_at: number; last_seen: number }
      | undefined;
    if (!row) return null;
    const now = Date.now();
    if (now - row.last_seen > IDLE_LIMIT_MS || now - row.created_at > ABSOLUTE_LIMIT_MS) {
      this.db.prepare('DELETE FROM login_sessions WHERE id_hash = ?').run(key);
      return null;
    }
    if (now - row.last_seen > TOUCH_EVERY_MS) this.db.prepare('UPDATE login_sessions SET last_seen = ? WHERE id_hash = ?').run(now, key);
    return { account: row.account, csrf: row.csrf, createdAt: row.created_at };
  }

  destroy(id: string): void {
    this.db.prepare('DELETE FROM login_sessions WHERE id_hash = ?').run(digest(id));
  }

  private prune(): void {
    const now = Date.now();
    this.db.prepare('DELETE FROM login_sessions WHERE last_seen < ? OR created_at < ?').run(now - IDLE_LIMIT_MS, now - ABSOLUTE_LIMIT_MS);
  }
}
