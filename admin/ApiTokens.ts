// API tokens for automation (scripts, Prometheus). Shown once at creation; stored as SHA-256.
// A "read" token may only GET; a "write" token may change things (no CSRF: it is not ambient).
import { createHash, randomBytes } from 'node:crypto';
import type { AdminDb } from './AdminDatabase.js';

export type TokenScope = 'read' | 'write';

export interface ApiTokenInfo {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: number;
  createdBy: string;
  lastUsed: number | null;
}

/** Recognisable in logs and secret scanners. */
const PREFIX = 'ptk_';
const digest = (token: string) => createHash('sha256').update(token).digest();

export class ApiTokens {
  constructor(private readonly db: AdminDb) {}

  create(name: string, scope: TokenScope, createdBy: string): { token: string; info: ApiTokenInfo } {
    const id = randomBytes(6).toString('hex');
    const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    this.db.prepare('INSERT INTO api_tokens (id, name, token_hash, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)').run(id, name, digest(token), scope, now, createdBy);
    return { token, info: { id, name, scope, createdAt: now, createdBy, lastUsed: null } };
  }

  list(): ApiTokenInfo[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as Row[]).map(toInfo);
  }

  revoke(id: string): boolean {
    return this.db.prepare('DELETE FROM api_tokens WHERE id = ?').run(id).changes > 0;
  }

  verify(token: string): ApiTokenInfo | null {
    if (!token.startsWith(PREFIX) || token.length > 128) return null;
    const row = this.db.prepare('SELECT * FROM api_tokens WHERE token_hash = ?').get(digest(token)) as Row | undefined;
    if (!row) return null;
    const now = Date.now();
    if (row.last_used === null || now - row.last_used > 60_000) this.db.prepare('UPDATE api_tokens SET last_used = ? WHERE id = ?').run(now, row.id);
    return toInfo(row);
  }
}

interface Row {
  id: string;
  name: string;
  scope: TokenScope;
  created_at: number;
  created_by: string;
  last_used: number | null;
}

function toInfo(r: Row): ApiTokenInfo {
  return { id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, createdBy: r.created_by, lastUsed: r.last_used };
}
