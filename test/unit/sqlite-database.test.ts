// config/SqliteDatabase.ts: one prepared statement per SQL text. better-sqlite3 13 keeps every
// statement's memory until the database closes, so the user lookup of every login must not prepare
// a new one (the soak grew 13 KiB a login before).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { openDatabase } from '../../config/SqliteDatabase.js';

describe('SQLite statements', () => {
  it('the same SQL text gives the same statement; another text another one', () => {
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'portico-sqlite-')), 'x.db'), { file: 'x.db', migrations: [(db) => db.exec('CREATE TABLE t (a INTEGER)')] });
    const select = db.prepare('SELECT a FROM t WHERE a = ?');
    expect(db.prepare('SELECT a FROM t WHERE a = ?')).toBe(select);
    expect(db.prepare('SELECT a FROM t')).not.toBe(select);
    db.prepare('INSERT INTO t VALUES (?)').run(7);
    expect(select.get(7)).toEqual({ a: 7 });
    db.close();
  });

  it('100 000 user lookups keep the process within a few MiB (a statement each held ~4 KiB)', () => {
    const users = new UserStore(mkdtempSync(join(tmpdir(), 'portico-sqlite-')), addressPolicyFor(validateConfig({}), []));
    users.add('alice', 'a long passphrase');
    for (let i = 0; i < 1000; i++) users.find('alice'); // warm
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 100_000; i++) expect(users.find('alice')?.name).toBe('alice');
    const grownMiB = (process.memoryUsage().rss - before) / 1048576;
    expect(grownMiB).toBeLessThan(100); // uncached: about 400
    users.close();
  });
});
