// `portico backup FILE` and `portico restore FILE`. A backup is one tar archive (server/TarArchive.ts)
// holding every database of the data directory — portico.db (users and their NT hashes), admin.db
// (console accounts, API tokens, events), accounting.db (the accounting queue, when RADIUS accounting
// has run) — and a manifest: Portico's version, each file's schema version and SHA-256. One file
// because it is what an operator copies off the host and what one `chmod` keeps private (it holds
// password hashes: it is written 0600, by rename, so a reader never sees half a backup); tar because
// any `tar -xf` restores it by hand too. Each database is copied with VACUUM INTO: one read
// transaction, so a consistent snapshot of that file, taken while the server (WAL mode) keeps writing.
// The files are independent (no row refers to another file's), so a snapshot per file is enough.
// Restore replaces the databases in place and is refused while a Portico holds the data directory
// (its PID file, server/InstanceLock.ts), which it claims itself for the time it writes.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fsyncSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { errnoReason } from '../config/DataDirectory.js';
import { latestVersion, type Schema, schemaVersion } from '../config/SchemaMigrations.js';
import { DATA_SCHEMAS } from './DataSchemas.js';
import { claimDataDir, describeHolder } from './InstanceLock.js';
import { readTar, TarFormatError, writeTar } from './TarArchive.js';

const MANIFEST = 'portico-backup.json';
const FORMAT = 'portico-backup';

export interface BackupManifest {
  format: typeof FORMAT;
  /** Portico's version that wrote it. */
  portico: string;
  createdAt: string;
  dataDir: string;
  databases: Array<{ file: string; schemaVersion: number; bytes: number; sha256: string }>;
}

/** A backup cannot be written or read: the one line the operator reads. */
export class BackupError extends Error {}

/** Writes the backup of `dataDir` (a private directory that exists) to `target`; returns its manifest. */
export function writeBackup(dataDir: string, target: string, porticoVersion: string): BackupManifest {
  const present = DATA_SCHEMAS.filter((s) => existsSync(join(dataDir, s.file)));
  if (present.length === 0) throw new BackupError(`dataDir ${dataDir} holds no database (${DATA_SCHEMAS.map((s) => s.file).join(', ')}): nothing to back up`);
  const staging = mkdtempSync(join(tmpdir(), 'portico-backup-')); // 0700
  try {
    const manifest: BackupManifest = { format: FORMAT, portico: porticoVersion, createdAt: new Date().toISOString(), dataDir, databases: [] };
    const entries = present.map((schema) => {
      const copy = join(staging, schema.file);
      snapshot(join(dataDir, schema.file), copy);
      const data = readFileSync(copy);
      manifest.databases.push({ file: schema.file, schemaVersion: versionOf(copy), bytes: data.length, sha256: sha256(data) });
      return { name: schema.file, data };
    });
    const archive = writeTar([{ name: MANIFEST, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) }, ...entries]);
    // Beside the target and renamed over it: a failed or interrupted backup leaves the previous one.
    const temp = `${target}.${process.pid}.tmp`;
    try {
      writePrivate(temp, archive);
      renameSync(temp, target);
    } catch (err) {
      rmSync(temp, { force: true });
      throw new BackupError(`cannot write ${target} (${errnoReason(err)})`);
    }
    return manifest;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** A consistent copy of the database `source` (which others may be writing) into the new file `copy`. */
function snapshot(source: string, copy: string): void {
  // Read-only: the backup never writes the live file; `timeout`: waits out a writer's checkpoint.
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    db.prepare('VACUUM INTO ?').run(copy);
  } finally {
    db.close();
  }
}

function versionOf(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return schemaVersion(db);
  } finally {
    db.close();
  }
}

export interface RestoreResult {
  manifest: BackupManifest;
  /** Databases replaced by the backup's. */
  restored: string[];
  /** Databases of the data directory the backup does not hold, left as they were. */
  kept: string[];
}

/**
 * Replaces the databases of `dataDir` (a private directory) with those of the backup `source`, after
 * checking the whole archive (manifest, checksums, SQLite integrity, schema versions this code knows).
 * Throws StartupRefusal while a Portico holds the data directory, BackupError for a bad archive.
 */
export async function restoreBackup(dataDir: string, source: string): Promise<RestoreResult> {
  let archive: Buffer;
  try {
    archive = readFileSync(source);
  } catch (err) {
    throw new BackupError(`cannot read ${source} (${errnoReason(err)})`);
  }
  const { manifest, databases } = parseBackup(archive, source);
  const claim = claimDataDir(dataDir, (holder, pidFile) => `dataDir ${dataDir} is in use by a running Portico (${describeHolder(holder)}, ${pidFile}); stop it before restoring`);
  const staging = mkdtempSync(join(dataDir, '.restore-'));
  try {
    for (const { schema, data } of databases) {
      const file = join(staging, schema.file);
      writePrivate(file, data);
      checkDatabase(file, schema, source, manifest);
    }
    for (const { schema } of databases) {
      const live = join(dataDir, schema.file);
      // The old write-ahead log first: left beside the new file, SQLite would replay it into it.
      for (const suffix of ['-wal', '-shm']) rmSync(`${live}${suffix}`, { force: true });
      renameSync(join(staging, schema.file), live);
    }
    fsyncDirectory(dataDir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
    await claim.release();
  }
  const restored = databases.map((d) => d.schema.file);
  const kept = DATA_SCHEMAS.map((s) => s.file).filter((f) => !restored.includes(f) && existsSync(join(dataDir, f)));
  return { manifest, restored, kept };
}

/** The manifest and each database of a backup, every checksum verified; BackupError naming `source` otherwise. */
function parseBackup(archive: Buffer, source: string): { manifest: BackupManifest; databases: Array<{ schema: Schema; data: Buffer }> } {
  const bad = (why: string) => new BackupError(`${source} is not a Portico backup: ${why}`);
  let entries: ReturnType<typeof readTar>;
  try {
    entries = readTar(archive);
  } catch (err) {
    if (err instanceof TarFormatError) throw bad(err.message);
    throw err;
  }
  const manifestEntry = entries.find((e) => e.name === MANIFEST);
  if (!manifestEntry) throw bad(`no ${MANIFEST}`);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(manifestEntry.data.toString('utf8')) as BackupManifest;
  } catch {
    throw bad(`${MANIFEST} is not JSON`);
  }
  if (manifest?.format !== FORMAT || !Array.isArray(manifest.databases)) throw bad(`${MANIFEST} is not a Portico backup manifest`);
  const databases: Array<{ schema: Schema; data: Buffer }> = [];
  for (const entry of entries) {
    if (entry.name === MANIFEST) continue;
    const schema = DATA_SCHEMAS.find((s) => s.file === entry.name);
    const listed = manifest.databases.find((d) => d.file === entry.name);
    if (!schema || !listed || databases.some((d) => d.schema === schema)) throw bad(`unexpected member ${entry.name}`);
    if (sha256(entry.data) !== listed.sha256) throw new BackupError(`${source}: ${entry.name} is damaged (its SHA-256 differs from the manifest's)`);
    databases.push({ schema, data: entry.data });
  }
  const missing = manifest.databases.find((d) => !databases.some((x) => x.schema.file === d.file));
  if (missing) throw new BackupError(`${source}: ${missing.file} is listed in the manifest but missing (truncated?)`);
  if (databases.length === 0) throw bad('no database in it');
  return { manifest, databases };
}

/** The restored file opens, passes SQLite's integrity check and has a schema this code can migrate. */
function checkDatabase(file: string, schema: Schema, source: string, manifest: BackupManifest): void {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new BackupError(`${source}: ${schema.file} does not open as SQLite (${(err as Error).message})`);
  }
  try {
    const problems = db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    if (problems[0]?.integrity_check !== 'ok') throw new BackupError(`${source}: ${schema.file} fails SQLite's integrity check (${problems[0]?.integrity_check ?? 'no answer'})`);
    const version = schemaVersion(db);
    if (version > latestVersion(schema)) {
      throw new BackupError(
        `${source}: ${schema.file} is at schema version ${version}, newer than this Portico knows (${latestVersion(schema)}): restore it with the Portico that made it (${manifest.portico})`,
      );
    }
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(`${source}: ${schema.file} is not a readable database (${(err as Error).message})`);
  } finally {
    db.close();
  }
}

/** `data` into the new file `path`, 0600 whatever the umask, on disk before it returns. */
function writePrivate(path: string, data: Buffer): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The renames themselves on disk. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
