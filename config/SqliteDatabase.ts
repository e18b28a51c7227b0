// Every SQLite database Portico keeps (the user store, the accounting queue, the console's) is opened
// here: write-ahead log, and each SQL text prepared once. better-sqlite3 13 keeps the memory of every
// prepared statement until its database closes: on Node 24, 200 000 prepares of one SELECT held
// 800 MiB after a collection, and the soak grew 13 KiB a login (the user lookup prepared per call).
// Reused, the same statement costs nothing more; so `db.prepare` hands out one per SQL text.
// Every database has a schema: opening one brings it to the schema's version (config/SchemaMigrations.ts).
import Database from 'better-sqlite3';
import { migrate, type Schema } from './SchemaMigrations.js';

/** SQL texts kept prepared: the code has a few dozen (searches build a bounded few more). */
const MAX_STATEMENTS = 512;

/** Opens `file` (':memory:' in tests) and migrates it to `schema`'s latest version; throws SchemaTooNewError when it is newer. */
export function openDatabase(file: string, schema: Schema): Database.Database {
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
  try {
    migrate(db, schema, file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
