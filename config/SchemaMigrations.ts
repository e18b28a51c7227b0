// Schema versions of Portico's SQLite databases. Each file records the version of its schema in its
// header (PRAGMA user_version, 0 in a new file) and each store lists its migrations in order:
// migration i takes a database from version i to i + 1, and they all run at open, together with the
// new version number, in one transaction: an upgrade that fails half-way leaves the file as it was.
// Migration 1 is the schema as it stood before versions were recorded, written so that it also accepts
// a file of that time (CREATE ... IF NOT EXISTS): such a file, at version 0, becomes version 1 untouched.
// A file at a version this code does not know was written by a newer Portico: it is refused, never
// "migrated" down or opened as if it were ours.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DataDirectoryError } from './DataDirectory.js';

/** Brings a database from the version before it to the next; runs inside the migration's transaction. */
export type Migration = (db: Database.Database) => void;

export interface Schema {
  /** The file's name in the data directory (portico.db). */
  file: string;
  /** In order: the one at index i takes the database from version i to i + 1. */
  migrations: readonly Migration[];
}

/** The database was written by a newer Portico; the message is the one line the operator reads. */
export class SchemaTooNewError extends Error {}

/** The version this code writes: the number of its migrations. */
export function latestVersion(schema: Schema): number {
  return schema.migrations.length;
}

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function tooNew(path: string, version: number, schema: Schema): SchemaTooNewError {
  return new SchemaTooNewError(
    `${path} is at schema version ${version}, newer than this Portico knows (${latestVersion(schema)}): a newer Portico wrote it; run that version, or restore a backup made with this one`,
  );
}

/**
 * Brings `db` (the file `path`) to the schema's latest version, or throws SchemaTooNewError. The
 * write lock is taken first (BEGIN IMMEDIATE) and the version read again under it, so that the server
 * and a CLI command opening the same file at once migrate it once.
 */
export function migrate(db: Database.Database, schema: Schema, path: string): void {
  const latest = latestVersion(schema);
  const current = schemaVersion(db);
  if (current > latest) throw tooNew(path, current, schema);
  if (current === latest) return;
  db.transaction(() => {
    const from = schemaVersion(db);
    if (from > latest) throw tooNew(path, from, schema);
    for (let v = from; v < latest; v++) schema.migrations[v]!(db);
    // A pragma takes no parameter; `latest` is our own integer.
    if (from < latest) db.pragma(`user_version = ${latest}`);
  }).immediate();
}

/**
 * Refuses, before anything opens, a data directory holding a database newer than this code: the
 * stores migrate at open, but some open late (the console's, once the TUN is up) and must not be the
 * first to find out. Files not there yet are fine (the stores create them).
 */
export function refuseNewerSchemas(dataDir: string, schemas: readonly Schema[]): void {
  for (const schema of schemas) {
    const path = join(dataDir, schema.file);
    if (!existsSync(path)) continue;
    let version: number;
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        version = schemaVersion(db);
      } finally {
        db.close();
      }
    } catch (err) {
      throw new DataDirectoryError(`${path} is not a readable SQLite database (${(err as Error).message}); restore it from a backup (portico restore)`);
    }
    if (version > latestVersion(schema)) throw tooNew(path, version, schema);
  }
}
