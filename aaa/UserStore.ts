// The built-in user store (SQLite via better-sqlite3).
// Passwords are kept only as NT hashes (MD4 of UTF-16LE): MS-CHAPv2 needs exactly that value
// and nothing weaker, and the clear password is never written anywhere.
import type Database from 'better-sqlite3';
import { ntPasswordHash } from '../ppp/auth/MsChapCrypto.js';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import { privateFile } from '../config/DataDirectory.js';
import { openDatabase } from '../config/SqliteDatabase.js';
import type { Schema } from '../config/SchemaMigrations.js';
import type { AddressPolicy } from '../config/AddressPolicy.js';
import { DEFAULT_MIN_PASSWORD_LENGTH } from '../config/PorticoConfig.js';

export interface UserRecord {
  name: string;
  /** Static tunnel address, host-order u32, or null for one from the pool. */
  staticAddress: number | null;
  enabled: boolean;
  createdAt: string;
}

export interface StoredUser extends UserRecord {
  ntHash: Buffer;
  limits: UserLimits;
}

export interface UserLimits {
  /** Seconds from the network phase to a forced disconnect; null: none. */
  sessionTimeout: number | null;
  /** Seconds without traffic to a forced disconnect; null: none. */
  idleTimeout: number | null;
}

/** The user field a refusal concerns (the console's form fields have the same names). */
export type UserField = 'name' | 'password' | 'staticAddress' | 'sessionTimeout' | 'idleTimeout';

/** invalid: a malformed value; unknown: no such user; taken: the name or address is another user's. */
export type UserStoreErrorKind = 'invalid' | 'unknown' | 'taken';

const FIELD_LABEL: Record<UserField, string> = {
  name: 'user name',
  password: 'password',
  staticAddress: 'static address',
  sessionTimeout: 'sessionTimeout',
  idleTimeout: 'idleTimeout',
};

/**
 * A refused change, with the field it concerns. `problem` reads next to that field; the message
 * reads alone (for an invalid value it starts with the field's name: "password: at least 8 characters (auth.minPasswordLength)").
 */
export class UserStoreError extends Error {
  constructor(
    readonly field: UserField,
    readonly problem: string,
    readonly kind: UserStoreErrorKind = 'invalid',
  ) {
    super(kind === 'invalid' ? `${FIELD_LABEL[field]}: ${problem}` : problem);
  }
}

const noUser = (name: string) => new UserStoreError('name', `no user ${name}`, 'unknown');

/** 31 days: longer limits are a mistake, not a policy. */
const MAX_LIMIT_SECONDS = 31 * 86400;

/** dataDir/portico.db (config/SchemaMigrations.ts). */
export const USER_SCHEMA: Schema = {
  file: 'portico.db',
  migrations: [
    // 1: the store as it was before versions, byte for byte (a store of that time at version 0 passes unchanged).
    (db) => {
      db.exec(`CREATE TABLE IF NOT EXISTS users (
      name TEXT PRIMARY KEY COLLATE NOCASE,
      nt_hash BLOB NOT NULL CHECK (length(nt_hash) = 16),
      static_address INTEGER,
      enabled INTEGER NOT NULL DEFAULT 1,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )`);
      // Per-user limits came later: older stores gain the columns in place.
      const columns = new Set((db.prepare('PRAGMA table_info(users)').all() as Array<{ name: string }>).map((c) => c.name));
      for (const column of ['session_timeout', 'idle_timeout']) {
        if (!columns.has(column)) db.exec(`ALTER TABLE users ADD COLUMN ${column} INTEGER`);
      }
    },
  ],
};

/** RFC 2759 §8.1. */
const MAX_PASSWORD_LENGTH = 256;

const USER_NAME = /^[^\s\\/:]{1,64}$/;

export class UserStore {
  private readonly db: Database.Database;

  /**
   * `addresses`: which static addresses may be stored (the login checks them again: the configuration may change).
   * `minPasswordLength` (auth.minPasswordLength): passwords set from now on; stored ones keep working.
   */
  constructor(
    dataDir: string,
    private readonly addresses: AddressPolicy,
    private readonly minPasswordLength = DEFAULT_MIN_PASSWORD_LENGTH,
  ) {
    this.db = openDatabase(privateFile(dataDir, USER_SCHEMA.file), USER_SCHEMA);
  }

  add(name: string, password: string, staticAddress?: string): void {
    this.checkName(name);
    this.checkPassword(password);
    const address = staticAddress === undefined ? null : this.allowedAddress(staticAddress);
    if (address !== null) this.checkAddressFree(address, name);
    try {
      this.db.prepare('INSERT INTO users (name, nt_hash, static_address) VALUES (?, ?, ?)').run(name, ntPasswordHash(password), address);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new UserStoreError('name', `user ${name} already exists`, 'taken');
      throw err;
    }
  }

  setPassword(name: string, password: string): void {
    this.checkPassword(password);
    const r = this.db.prepare('UPDATE users SET nt_hash = ? WHERE name = ?').run(ntPasswordHash(password), name);
    if (r.changes === 0) throw noUser(name);
  }

  setStaticAddress(name: string, staticAddress: string | null): void {
    const address = staticAddress === null ? null : this.allowedAddress(staticAddress);
    if (address !== null) this.checkAddressFree(address, name);
    const r = this.db.prepare('UPDATE users SET static_address = ? WHERE name = ?').run(address, name);
    if (r.changes === 0) throw noUser(name);
  }

  setEnabled(name: string, enabled: boolean): void {
    const r = this.db.prepare('UPDATE users SET enabled = ? WHERE name = ?').run(enabled ? 1 : 0, name);
    if (r.changes === 0) throw noUser(name);
  }

  delete(name: string): void {
    const r = this.db.prepare('DELETE FROM users WHERE name = ?').run(name);
    if (r.changes === 0) throw noUser(name);
  }

  find(name: string): StoredUser | null {
    const row = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
    return row ? { ...toRecord(row), ntHash: row.nt_hash, limits: toLimits(row) } : null;
  }

  list(): UserRecord[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as Row[]).map(toRecord);
  }

  /** Per-user limits in seconds (null: none), as RADIUS Session-Timeout / Idle-Timeout would give them. */
  getLimits(name: string): UserLimits | null {
    const row = this.db.prepare('SELECT session_timeout, idle_timeout FROM users WHERE name = ?').get(name) as LimitRow | undefined;
    return row ? toLimits(row) : null;
  }

  /** Limits of every user, keyed by the stored name. */
  listLimits(): Map<string, UserLimits> {
    const rows = this.db.prepare('SELECT name, session_timeout, idle_timeout FROM users').all() as Array<LimitRow & { name: string }>;
    return new Map(rows.map((r) => [r.name, toLimits(r)]));
  }

  /** Sets the given limits (undefined: unchanged, null or 0: none). */
  setLimits(name: string, limits: Partial<UserLimits>): void {
    for (const key of ['sessionTimeout', 'idleTimeout'] as const) {
      const value = limits[key];
      if (value !== null && value !== undefined && (!Number.isInteger(value) || value < 0 || value > MAX_LIMIT_SECONDS)) {
        throw new UserStoreError(key, `whole seconds from 0 to ${MAX_LIMIT_SECONDS}`);
      }
    }
    const current = this.getLimits(name);
    if (!current) throw noUser(name);
    const next = { ...current, ...limits };
    this.db.prepare('UPDATE users SET session_timeout = ?, idle_timeout = ? WHERE name = ?').run(next.sessionTimeout || null, next.idleTimeout || null, name);
  }

  close(): void {
    this.db.close();
  }

  private checkName(name: string): void {
    if (!USER_NAME.test(name)) throw new UserStoreError('name', '1-64 characters, no spaces, slashes, backslashes or colons');
  }

  /** Refuses a password this store would not take (add and setPassword check it; the CLI asks before the second prompt). */
  checkPassword(password: string): void {
    // A one-character password falls to the first guesses whatever the login throttle does.
    if (password.length < this.minPasswordLength) throw new UserStoreError('password', `at least ${this.minPasswordLength} characters (auth.minPasswordLength)`);
    // RFC 2759 §8.1: the NT password is at most 256 Unicode characters.
    if (password.length > MAX_PASSWORD_LENGTH) throw new UserStoreError('password', `at most ${MAX_PASSWORD_LENGTH} characters (RFC 2759)`);
  }

  /** The address in `text`, if it is one the policy allows. */
  private allowedAddress(text: string): number {
    let address: number;
    try {
      address = parseIpv4(text);
    } catch {
      throw new UserStoreError('staticAddress', `${JSON.stringify(text)} is not an IPv4 address`);
    }
    const refusal = this.addresses.refusal(address);
    if (refusal) throw new UserStoreError('staticAddress', `${text} ${refusal.reason}`);
    return address;
  }

  private checkAddressFree(address: number, name: string): void {
    const owner = this.db.prepare('SELECT name FROM users WHERE static_address = ? AND name <> ?').get(address, name) as { name: string } | undefined;
    if (owner) throw new UserStoreError('staticAddress', `static address ${formatIpv4(address)} already belongs to ${owner.name}`, 'taken');
  }
}

interface Row extends LimitRow {
  name: string;
  nt_hash: Buffer;
  static_address: number | null;
  enabled: number;
  created_at: string;
}

interface LimitRow {
  session_timeout: number | null;
  idle_timeout: number | null;
}

function toLimits(row: LimitRow): UserLimits {
  return { sessionTimeout: row.session_timeout, idleTimeout: row.idle_timeout };
}

function toRecord(row: Row): UserRecord {
  return { name: row.name, staticAddress: row.static_address, enabled: row.enabled === 1, createdAt: row.created_at };
}
