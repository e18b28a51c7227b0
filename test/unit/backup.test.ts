// `portico backup` and `portico restore` (server/Backup.ts, server/TarArchive.ts), root-free. The
// backups are taken while another process writes the user store as fast as it can, in transactions
// of two rows: each snapshot must open, pass SQLite's integrity check, hold the users, and hold whole
// transactions only. The archive is what GNU tar reads, 0600 whatever the umask or an older file's
// mode. Restore is refused while another process holds the data directory, and refuses a damaged
// archive before touching anything.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UserStore } from '../../aaa/UserStore.js';
import { openAdminDatabase } from '../../admin/AdminDatabase.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { BackupError, restoreBackup, writeBackup } from '../../server/Backup.js';
import { type CliIo, runCli } from '../../server/CommandLine.js';
import { identity, PID_FILE } from '../../server/InstanceLock.js';
import { StartupRefusal } from '../../server/StartupChecks.js';
import { readTar } from '../../server/TarArchive.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const policy = addressPolicyFor(validateConfig({}), []);
const root = mkdtempSync(join(tmpdir(), 'portico-backup-t-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
let n = 0;

/** A data directory with alice and bob, and the console's database. */
function dataDir(): string {
  const dir = join(root, `d${++n}`);
  mkdirSync(dir, { mode: 0o700 });
  const users = new UserStore(dir, policy);
  users.add('alice', 'alice passphrase', '10.99.0.20');
  users.add('bob', 'bob passphrase');
  users.close();
  openAdminDatabase(dir).close();
  return dir;
}

/** The archive's databases written to a fresh directory. */
function unpack(file: string): { dir: string; names: string[] } {
  const dir = join(root, `x${++n}`);
  mkdirSync(dir);
  const entries = readTar(readFileSync(file));
  for (const e of entries) writeFileSync(join(dir, e.name), e.data);
  return { dir, names: entries.map((e) => e.name) };
}

function query<T>(file: string, sql: string): T {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).get() as T;
  } finally {
    db.close();
  }
}

/**
 * Another process inserting users into `dir`/portico.db in transactions of two (wNa, wNb) until
 * killed; resolves once it has committed some.
 */
async function writer(dir: string): Promise<ChildProcess> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv.at(-1), { timeout: 5000 });
    const insert = db.prepare('INSERT INTO users (name, nt_hash) VALUES (?, randomblob(16))');
    const pair = db.transaction((i) => { insert.run('w' + i + 'a'); insert.run('w' + i + 'b'); });
    let i = 0;
    const batch = () => { for (let k = 0; k < 50; k++) pair(i++); if (i === 50) console.log('writing'); setImmediate(batch); };
    batch();`;
  const child = spawn(process.execPath, ['-e', script, join(dir, 'portico.db')], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited (${code})`)));
  });
  return child;
}

const userCount = (file: string) => query<{ n: number }>(file, 'SELECT count(*) AS n FROM users').n;

describe('portico backup', () => {
  it('taken while another process writes: every snapshot opens, is intact, holds the users and whole transactions only, and the writes show up', async () => {
    const dir = dataDir();
    const child = await writer(dir);
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const file = join(root, `concurrent-${i}.tar`);
      const manifest = writeBackup(dir, file, '0.1.0');
      expect(manifest.databases.map((d) => [d.file, d.schemaVersion])).toEqual([
        ['portico.db', 1],
        ['admin.db', 1],
      ]);
      const { dir: out, names } = unpack(file);
      expect(names).toEqual(['portico-backup.json', 'portico.db', 'admin.db']);
      const db = join(out, 'portico.db');
      expect(query<{ integrity_check: string }>(db, 'PRAGMA integrity_check').integrity_check).toBe('ok');
      expect(query(db, 'PRAGMA user_version')).toEqual({ user_version: 1 });
      const users = new UserStore(out, policy);
      expect(users.find('alice')).toMatchObject({ name: 'alice', staticAddress: 0x0a630014 });
      expect(users.find('bob')?.name).toBe('bob');
      users.close();
      // Whole transactions: every wNa with its wNb.
      const torn = query<{ n: number }>(
        db,
        "SELECT count(*) AS n FROM users a WHERE a.name LIKE 'w%a' AND NOT EXISTS (SELECT 1 FROM users b WHERE b.name = substr(a.name, 1, length(a.name) - 1) || 'b')",
      ).n;
      expect(torn).toBe(0);
      counts.push(userCount(db));
      await new Promise((r) => setTimeout(r, 20)); // let the writer go on between backups
    }
    child.kill('SIGKILL');
    console.log(`users in the five backups taken during the writes: ${counts.join(', ')}`);
    expect(counts.every((c) => c % 2 === 0)).toBe(true); // alice, bob and pairs
    for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThanOrEqual(counts[i - 1]!);
    expect(counts.at(-1)!).toBeGreaterThan(counts[0]!); // the writer did write during the backups
  });

  it('the archive is 0600 whatever the umask, also over an older file of another mode, and GNU tar lists and extracts it', () => {
    const dir = dataDir();
    const file = join(root, 'mode.tar');
    writeFileSync(file, 'an older backup', { mode: 0o644 });
    chmodSync(file, 0o644);
    const umask = process.umask(0);
    try {
      writeBackup(dir, file, '0.1.0');
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(root).filter((f) => f.includes('.tmp'))).toEqual([]);
    const listed = spawnSync('tar', ['-tf', file], { encoding: 'utf8' });
    expect(listed.stdout.split('\n').filter(Boolean)).toEqual(['portico-backup.json', 'portico.db', 'admin.db']);
    const out = join(root, `tar${++n}`);
    mkdirSync(out);
    expect(spawnSync('tar', ['-xf', file, '-C', out]).status).toBe(0);
    expect(userCount(join(out, 'portico.db'))).toBe(2);
    const manifest = JSON.parse(readFileSync(join(out, 'portico-backup.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'portico-backup', portico: '0.1.0', dataDir: dir });
  });

  it('through the CLI: one line naming each file; a data directory that is not there is one line, exit 1, and not created', async () => {
    const dir = dataDir();
    const config = join(root, `c${++n}.yaml`);
    writeFileSync(config, `dataDir: ${dir}\n`);
    const file = join(root, 'cli.tar');
    const r = await portico(['backup', file, '--config', config]);
    expect(r).toEqual({ code: 0, stdout: `backup of ${dir} written to ${file}: portico.db (schema 1), admin.db (schema 1)\n`, stderr: `portico: config: ${config} (--config)\n` });
    const missing = join(root, 'no-such-dir');
    writeFileSync(config, `dataDir: ${missing}\n`);
    const m = await portico(['backup', file, '--config', config]);
    expect(m).toEqual({ code: 1, stdout: '', stderr: `portico: config: ${config} (--config)\nportico: dataDir ${missing} does not exist: nothing to back up\n` });
    expect(existsSync(missing)).toBe(false);
  });
});

describe('portico restore', () => {
  it('refused while another process holds the data directory; afterwards it puts the users back and drops the old write-ahead log', async () => {
    const dir = dataDir();
    const file = join(root, 'restore.tar');
    writeBackup(dir, file, '0.1.0');
    // After the backup: carol added, alice deleted, and a write-ahead log left as a kill -9 leaves it.
    const users = new UserStore(dir, policy);
    users.add('carol', 'carol passphrase');
    users.delete('alice');
    users.close();
    writeFileSync(join(dir, 'portico.db-wal'), 'a stale log');

    const server = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(server);
    await new Promise((r) => server.once('spawn', r));
    const pidFile = join(dir, PID_FILE);
    writeFileSync(pidFile, identity(server.pid!));
    await expect(restoreBackup(dir, file)).rejects.toThrow(new StartupRefusal(`dataDir ${dir} is in use by a running Portico (PID ${server.pid}, ${pidFile}); stop it before restoring`));
    expect(readFileSync(join(dir, 'portico.db-wal'), 'utf8')).toBe('a stale log'); // nothing touched
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGKILL');
    await exited;

    const result = await restoreBackup(dir, file);
    expect(result.restored).toEqual(['portico.db', 'admin.db']);
    expect(result.kept).toEqual([]);
    expect(existsSync(join(dir, 'portico.db-wal'))).toBe(false);
    expect(existsSync(pidFile)).toBe(false); // its own claim released
    expect(readdirSync(dir).filter((f) => f.startsWith('.restore-'))).toEqual([]);
    const restored = new UserStore(dir, policy);
    expect(restored.list().map((u) => u.name)).toEqual(['alice', 'bob']);
    restored.close();
    for (const f of ['portico.db', 'admin.db']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it('a damaged or foreign archive is refused with one line before anything is replaced', async () => {
    const dir = dataDir();
    const file = join(root, 'damaged.tar');
    writeBackup(dir, file, '0.1.0');
    const archive = readFileSync(file);
    const db = readTar(archive).find((e) => e.name === 'portico.db')!;
    db.data[db.data.length - 100]! ^= 0xff; // a byte of the user store (a view into `archive`)
    const damaged = join(root, 'damaged2.tar');
    writeFileSync(damaged, archive);
    await expect(restoreBackup(dir, damaged)).rejects.toThrow(new BackupError(`${damaged}: portico.db is damaged (its SHA-256 differs from the manifest's)`));
    const foreign = join(root, 'foreign.tar');
    writeFileSync(foreign, 'not a tar archive'.repeat(64));
    await expect(restoreBackup(dir, foreign)).rejects.toThrow(new BackupError(`${foreign} is not a Portico backup: not a tar archive, or damaged (header checksum at byte 0)`));
    expect(userCount(join(dir, 'portico.db'))).toBe(2);
  });
});

async function portico(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), stdin: process.stdin as never, env: {}, exists: () => false, serve: async () => undefined, checkHost: async () => [] };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
