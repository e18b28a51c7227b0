// Secrets at rest (config/DataDirectory.ts): the data directory 0700, nothing in it readable by group
// or other, the stores' SQLite files (with their -wal and -shm) 0600. Root runs these tests; the mode
// bits are what is checked.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountingQueue, accountingQueueFile } from '../../aaa/AccountingQueue.js';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { openAdminDatabase } from '../../admin/AdminDatabase.js';
import { DataDirectoryError, privateFile, secureDataDirectory } from '../../config/DataDirectory.js';

const root = mkdtempSync(join(tmpdir(), 'portico-datadir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let umask: number;
let dirs = 0;
beforeEach(() => {
  // The usual umask: what the directory call must not rely on having.
  umask = process.umask(0o022);
});
afterEach(() => {
  process.umask(umask);
});

const mode = (path: string): number => statSync(path).mode & 0o777;
const groupOther = (path: string): number => statSync(path).mode & 0o077;
const quiet = pino({ level: 'silent' });

function warnings(): { log: { warn(fields: object, message: string): void }; lines: Array<{ fields: object; message: string }> } {
  const lines: Array<{ fields: object; message: string }> = [];
  return { log: { warn: (fields, message) => lines.push({ fields, message }) }, lines };
}

/** A fresh directory with the given mode (chmod: mkdir's mode goes through the umask). */
function directory(dirMode: number): string {
  const dir = join(root, `d${++dirs}`);
  mkdirSync(dir);
  chmodSync(dir, dirMode);
  return dir;
}

/** Every file in `dir`, each 0600? (the SQLite ones only exist while their database is open). */
function expectAllPrivate(dir: string, expected: string[]): void {
  const names = readdirSync(dir).sort();
  expect(names).toEqual([...expected].sort());
  for (const name of names) expect(mode(join(dir, name)), `${name} is ${mode(join(dir, name)).toString(8)}`).toBe(0o600);
}

describe('secureDataDirectory', () => {
  it('a 0755 directory with a 0644 file: afterwards the directory is 0700 and no file is readable by group or other; the fixes are reported and logged', () => {
    const dir = directory(0o755);
    const file = join(dir, 'portico.db');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    const kept = join(dir, 'accounting.db');
    writeFileSync(kept, '');
    chmodSync(kept, 0o600);
    const { log, lines } = warnings();

    const report = secureDataDirectory(dir, log);
    expect(mode(dir)).toBe(0o700);
    for (const name of readdirSync(dir)) expect(groupOther(join(dir, name))).toBe(0);
    expect(mode(file)).toBe(0o600);
    expect(report).toEqual({ path: dir, created: false, fixed: [`${dir}: 0755 → 0700`, `${file}: 0644 → 0600`] });
    expect(lines).toHaveLength(1);
    expect(lines[0].message).toMatch(/^data directory was readable beyond its owner: permissions taken away/);
    expect(lines[0].fields).toEqual({ dataDir: dir, fixed: report.fixed });
    expect(process.umask()).toBe(0o077);

    // and again: nothing left to fix, nothing logged
    const again = warnings();
    expect(secureDataDirectory(dir, again.log).fixed).toEqual([]);
    expect(again.lines).toEqual([]);
  });

  it('then the stores opened in it create their databases with -wal and -shm, every one 0600', async () => {
    const dir = directory(0o755);
    secureDataDirectory(dir, quiet);
    const users = new UserStore(dir, addressPolicyFor(validateConfig({}), []));
    users.add('alice', 'alice-pass');
    const admin = openAdminDatabase(dir);
    admin.prepare('INSERT INTO events (at, type, message) VALUES (?, ?, ?)').run(Date.now(), 'test', 'written');
    const queue = new AccountingQueue({ file: accountingQueueFile(dir), transport: { accounting: async () => undefined }, log: quiet });
    try {
      expect(mode(dir)).toBe(0o700);
      expectAllPrivate(dir, ['portico.db', 'portico.db-wal', 'portico.db-shm', 'admin.db', 'admin.db-wal', 'admin.db-shm', 'accounting.db', 'accounting.db-wal', 'accounting.db-shm']);
    } finally {
      users.close();
      admin.close();
      await queue.close();
    }
  });

  it('the stores make their files 0600 even under a 022 umask (the database file is created first; SQLite gives -wal and -shm its mode)', () => {
    const dir = join(root, `d${++dirs}`, 'nested');
    const users = new UserStore(dir, addressPolicyFor(validateConfig({}), []));
    try {
      users.add('bob', 'bob-pass');
      expect(process.umask()).toBe(0o022);
      expect(mode(dir)).toBe(0o700);
      expectAllPrivate(dir, ['portico.db', 'portico.db-wal', 'portico.db-shm']);
    } finally {
      users.close();
    }
    // privateFile leaves an existing file as it is (secureDataDirectory is what fixes modes)
    expect(privateFile(dir, 'portico.db')).toBe(join(dir, 'portico.db'));
  });

  it('a missing directory is created 0700 with its parents, and reported as created', () => {
    const dir = join(root, `d${++dirs}`, 'a', 'b');
    const report = secureDataDirectory(dir, quiet);
    expect(report).toEqual({ path: dir, created: true, fixed: [] });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, '..'))).toBe(0o700);
  });

  it('a symbolic link inside is not followed: what it points to keeps its mode', () => {
    const dir = directory(0o700);
    const outside = join(root, `outside-${dirs}`);
    writeFileSync(outside, 'public');
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(dir, 'link'));
    expect(secureDataDirectory(dir, quiet).fixed).toEqual([]);
    expect(mode(outside)).toBe(0o644);
  });

  it.skipIf(process.geteuid?.() !== 0)('a directory owned by another user is refused with the reason, and left as it was', () => {
    const dir = directory(0o755);
    chownSync(dir, 4242, 4242);
    expect(() => secureDataDirectory(dir, quiet)).toThrow(DataDirectoryError);
    expect(() => secureDataDirectory(dir, quiet)).toThrow(
      `data directory ${dir} is owned by uid 4242, not by this process (uid 0): that user could read or replace the user database. chown it to uid 0, or run Portico as uid 4242`,
    );
    expect(mode(dir)).toBe(0o755);
  });

  it('a path that is not a directory is refused', () => {
    const file = join(root, `f${++dirs}`);
    writeFileSync(file, '');
    expect(() => secureDataDirectory(file, quiet)).toThrow(`data directory ${file} is not a directory`);
    expect(existsSync(file)).toBe(true);
  });
});
