// Every SQLite database Portico keeps (the user store, the accounting queue, the console's) is opened
// here: write-ahead log, and each SQL text prepared once. better-sqlite3 13 keeps the memory of every
// prepared statement until its database closes: on Node 24, 200 000 prepares of one SELECT held
// 800 MiB after a collection, and the soak grew 13 KiB a login (the user lookup prepared per call).
// Reused, the same statement costs nothing more; so `db.prepare` hands out one per SQL text.
import Database from 'better-sqlite3';

/** SQL texts kept prepared: the code has a few dozen (searches build a bounded few more). */
const MAX_STATEMENTS = 512;

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const prepare = db.prepare.bind(db);
  const prepared = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = prepared.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (prepared.size < MAX_STATEMENTS) prepared.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
  return db;
}
