// Every SQLite database of the data directory, with its schema (config/SchemaMigrations.ts): what
// `portico serve` checks before it opens any, and what a backup holds (server/Backup.ts).
import { ACCOUNTING_SCHEMA } from '../aaa/AccountingQueue.js';
import { USER_SCHEMA } from '../aaa/UserStore.js';
import { ADMIN_SCHEMA } from '../admin/AdminDatabase.js';
import type { Schema } from '../config/SchemaMigrations.js';

export const DATA_SCHEMAS: readonly Schema[] = [USER_SCHEMA, ADMIN_SCHEMA, ACCOUNTING_SCHEMA];
