// The panel's own SQLite file (dataDir/admin.db), apart from the user store: admin accounts,
// login sessions, API tokens and the events journal. The CLI opens it too (`portico admin passwd`).
import type Database from 'better-sqlite3';
import { privateFile } from '../config/DataDirectory.js';
import type { Schema } from '../config/SchemaMigrations.js';
import { openDatabase } from '../config/SqliteDatabase.js';

export type AdminDb = Database.Database;

/** dataDir/admin.db (config/SchemaMigrations.ts). */
export const ADMIN_SCHEMA: Schema = {
  file: 'admin.db',
  migrations: [
    // 1: the database as it was before versions (a file of that time at version 0 passes unchanged).
    (db) =>
      db.exec(`
    CREATE TABLE IF NOT EXISTS admin_accounts (
      name TEXT PRIMARY KEY COLLATE NOCASE,
      password_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      password_changed_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS login_sessions (
      id_hash BLOB PRIMARY KEY,
      account TEXT NOT NULL REFERENCES admin_accounts(name) ON DELETE CASCADE,
      csrf TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      client TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS api_tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      token_hash BLOB NOT NULL UNIQUE,
      scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
      created_at INTEGER NOT NULL,
      created_by TEXT NOT NULL,
      last_used INTEGER
    );
    CREATE TABLE IF NOT EXISTS events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      type TEXT NOT NULL,
      user TEXT,
      peer TEXT,
      address TEXT,
      message TEXT NOT NULL,
      detail TEXT
    );
    CREATE INDEX IF NOT EXISTS events_at ON events(at);
    CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
  `),
  ],
};

export function openAdminDatabase(dataDir: string): AdminDb {
  const db = openDatabase(privateFile(dataDir, ADMIN_SCHEMA.file), ADMIN_SCHEMA);
  db.pragma('busy_timeout = 2000');
  db.pragma('foreign_keys = ON');
  return db;
}
