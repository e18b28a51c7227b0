// Schema versions (config/SchemaMigrations.ts) and the stores' migrations. The fixture
// test/unit/fixtures/schema-v1 is a data directory written by the stores as they were before schema
// versions (commit c2be2d0; its README says what it holds): every file at user_version 0. Today's code
// must take it as version 1 without losing a row or changing a table, refuse a file newer than it
// knows with one line, and run its migrations in order and all-or-nothing.
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountingQueue, accountingQueueFile } from '../../aaa/AccountingQueue.js';
import { UserStore } from '../../aaa/UserStore.js';
import { AdminAccounts } from '../../admin/AdminAccounts.js';
import { openAdminDatabase } from '../../admin/AdminDatabase.js';
import { ApiTokens } from '../../admin/ApiTokens.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { DataDirectoryError } from '../../config/DataDirectory.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { type Migration, refuseNewerSchemas, type Schema, SchemaTooNewError } from '../../config/SchemaMigrations.js';
import { openDatabase } from '../../config/SqliteDatabase.js';
import { ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';
import { runCli } from '../../server/CommandLine.js';
import { DATA_SCHEMAS } from '../../server/DataSchemas.js';

const FIXTURE = fileURLToPath(new URL('fixtures/schema-v1', import.meta.url));
const FILES = ['portico.db', 'admin.db', 'accounting.db'];
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;
const policy = addressPolicyFor(validateConfig({}), []);

const root = mkdtempSync(join(tmpdir(), 'portico-schema-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => mkdtempSync(join(root, `d${++dirs}-`));

/** A copy of the fixture (the committed files are never opened: opening migrates). */
function fixtureCopy(): string {
  const dir = freshDir();
  // 0600 as the stores write them (git checks the fixture out 0644).
  for (const f of FILES) {
    copyFileSync(join(FIXTURE, f), join(dir, f));
    chmodSync(join(dir, f), 0o600);
  }
  return dir;
}

/** Opens `file` without migrating it (creating it when `create`). */
function raw<T>(file: string, read: (db: Database.Database) => T, create = false): T {
  const db = new Database(file, { fileMustExist: !create });
  try {
    return read(db);
  } finally {
    db.close();
  }
}
const versionOf = (file: string) => raw(file, (db) => db.pragma('user_version', { simple: true }) as number);
/** Every table, index and trigger with its SQL text: the schema as SQLite keeps it. */
const schemaOf = (file: string) => raw(file, (db) => db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all());

/** Each store opened once on `dir` (creating or migrating its file), then closed. */
async function openEveryStore(dir: string): Promise<void> {
  new UserStore(dir, policy).close();
  openAdminDatabase(dir).close();
  await new AccountingQueue({ file: accountingQueueFile(dir), transport: { accounting: async () => undefined }, log: quiet }).close();
}

describe('schema versions', () => {
  it('the fixture is a data directory from before versions: every file at user_version 0', () => {
    expect(
      readdirSync(FIXTURE)
        .filter((f) => f.endsWith('.db'))
        .sort(),
    ).toEqual([...FILES].sort());
    for (const f of FILES) expect(versionOf(join(FIXTURE, f))).toBe(0);
  });

  it('a data directory of the schema before versions opens as version 1 with every row, and its tables are exactly those version 1 creates', async () => {
    const dir = fixtureCopy();
    const users = new UserStore(dir, policy);
    expect(users.list().map((u) => [u.name, u.staticAddress, u.enabled])).toEqual([
      ['alice', 0x0a630014, true],
      ['bob', null, false],
    ]);
    expect(users.find('alice')?.ntHash).toEqual(ntPasswordHash('alice passphrase'));
    expect(users.getLimits('alice')).toEqual({ sessionTimeout: 3600, idleTimeout: 600 });
    users.close();

    const admin = openAdminDatabase(dir);
    expect(await new AdminAccounts(admin).verify('admin', 'console passphrase')).toBe('admin');
    expect(new ApiTokens(admin).list().map((t) => [t.name, t.scope])).toEqual([['monitoring', 'read']]);
    expect(admin.prepare('SELECT account, client FROM login_sessions').all()).toEqual([{ account: 'admin', client: '198.18.0.2' }]);
    expect(admin.prepare('SELECT type, message FROM events').all()).toEqual([{ type: 'admin', message: 'user alice added' }]);
    admin.close();

    const queue = new AccountingQueue({ file: accountingQueueFile(dir), transport: { accounting: async () => undefined }, log: quiet });
    expect(queue.list().map((r) => [r.sessionId, r.statusType])).toEqual([['0000000000000001', 1]]);
    expect(queue.openSessions().map((o) => [o.sessionId, o.user, o.address, o.classes.map(String)])).toEqual([['0000000000000001', 'alice', '10.99.0.20', ['class-1']]]);
    expect(queue.lastAlive()).toBe(1_764_900_030_000);
    await queue.close();

    const fresh = freshDir();
    await openEveryStore(fresh);
    for (const f of FILES) {
      expect(versionOf(join(dir, f))).toBe(1);
      expect(versionOf(join(fresh, f))).toBe(1);
      expect(schemaOf(join(dir, f))).toEqual(schemaOf(join(fresh, f)));
    }
  });

  it('a user store from before the per-user limits gains their columns in migration 1, its users kept', () => {
    const dir = freshDir();
    raw(
      join(dir, 'portico.db'),
      (db) => {
        db.exec(`CREATE TABLE users (
      name TEXT PRIMARY KEY COLLATE NOCASE,
      nt_hash BLOB NOT NULL CHECK (length(nt_hash) = 16),
      static_address INTEGER,
      enabled INTEGER NOT NULL DEFAULT 1,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )`);
        db.prepare('INSERT INTO users (name, nt_hash) VALUES (?, ?)').run('carol', ntPasswordHash('carol passphrase'));
      },
      true,
    );
    const users = new UserStore(dir, policy);
    expect(users.find('carol')).toMatchObject({ name: 'carol', enabled: true, ntHash: ntPasswordHash('carol passphrase'), limits: { sessionTimeout: null, idleTimeout: null } });
    users.setLimits('carol', { idleTimeout: 300 });
    expect(users.getLimits('carol')).toEqual({ sessionTimeout: null, idleTimeout: 300 });
    users.close();
    expect(versionOf(join(dir, 'portico.db'))).toBe(1);
  });

  it('migrations run in order from the file version, all in one transaction: one that fails leaves the file at its version, untouched', () => {
    const file = join(freshDir(), 't.db');
    const ran: number[] = [];
    const step =
      (n: number, sql: string): Migration =>
      (db) => {
        ran.push(n);
        db.exec(sql);
      };
    const v1 = step(1, 'CREATE TABLE t (a INTEGER)');
    const v2 = step(2, 'ALTER TABLE t ADD COLUMN b INTEGER');
    const failing = step(3, 'INSERT INTO t (a) VALUES (99); SELECT * FROM no_such_table');
    const schema = (...migrations: Migration[]): Schema => ({ file: 't.db', migrations });
    const columns = () => raw(file, (db) => (db.prepare('PRAGMA table_info(t)').all() as Array<{ name: string }>).map((c) => c.name));

    const db = openDatabase(file, schema(v1));
    db.prepare('INSERT INTO t (a) VALUES (1)').run();
    db.close();
    expect(ran).toEqual([1]);

    expect(() => openDatabase(file, schema(v1, v2, failing))).toThrow('no such table: no_such_table');
    expect(ran).toEqual([1, 2, 3]);
    expect(versionOf(file)).toBe(1);
    expect(columns()).toEqual(['a']); // version 2's column went with the failed transaction
    expect(raw(file, (d) => d.prepare('SELECT a FROM t').all())).toEqual([{ a: 1 }]);

    openDatabase(file, schema(v1, v2)).close();
    expect(ran).toEqual([1, 2, 3, 2]); // from version 1: migration 1 does not run again
    expect(versionOf(file)).toBe(2);
    expect(columns()).toEqual(['a', 'b']);
    openDatabase(file, schema(v1, v2)).close();
    expect(ran).toEqual([1, 2, 3, 2]); // at its version: nothing runs
  });

  it('a database newer than the code is refused with one line: by its store, by the check serve makes before opening any, and by the CLI (exit 2, no stack trace)', async () => {
    const dir = fixtureCopy();
    raw(join(dir, 'portico.db'), (db) => db.pragma('user_version = 2'));
    const line = `${dir}/portico.db is at schema version 2, newer than this Portico knows (1): a newer Portico wrote it; run that version, or restore a backup made with this one`;
    expect(() => new UserStore(dir, policy)).toThrow(new SchemaTooNewError(line));
    expect(() => refuseNewerSchemas(dir, DATA_SCHEMAS)).toThrow(new SchemaTooNewError(line));

    const config = join(root, `c${dirs}.yaml`);
    writeFileSync(config, `dataDir: ${dir}\n`);
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t), stdin: process.stdin, env: {}, exists: () => false, serve: async () => undefined, checkHost: async () => [] };
    expect(await runCli(['user', 'list', '--config', config], io)).toBe(2);
    expect(err.join('')).toBe(`portico: config: ${config} (--config)\nportico: ${line}\n`);
    expect(out).toEqual([]);
    expect(versionOf(join(dir, 'portico.db'))).toBe(2); // not touched

    // The console's file, which the server opens last, is found before anything opens.
    raw(join(dir, 'portico.db'), (db) => db.pragma('user_version = 1'));
    raw(join(dir, 'admin.db'), (db) => db.pragma('user_version = 7'));
    expect(() => refuseNewerSchemas(dir, DATA_SCHEMAS)).toThrow(
      new SchemaTooNewError(`${dir}/admin.db is at schema version 7, newer than this Portico knows (1): a newer Portico wrote it; run that version, or restore a backup made with this one`),
    );
    expect(versionOf(join(dir, 'admin.db'))).toBe(7);

    // Not a database at all: the path, and what to do.
    writeFileSync(join(dir, 'accounting.db'), 'x'.repeat(4096));
    raw(join(dir, 'admin.db'), (db) => db.pragma('user_version = 1'));
    expect(() => refuseNewerSchemas(dir, DATA_SCHEMAS)).toThrow(
      new DataDirectoryError(`${dir}/accounting.db is not a readable SQLite database (file is not a database); restore it from a backup (portico restore)`),
    );
  });
});
