// Console accounts: a name and a scrypt hash. The first start creates `admin` with a random
// password that is shown once; `portico admin passwd` and the Account page change it.
import type { AdminDb } from './AdminDatabase.js';
import { hashPassword, randomPassword, verifyPassword } from './PasswordHash.js';

export const ADMIN_PASSWORD_MIN = 10;
const ACCOUNT_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

export class AdminAccountError extends Error {}

export class AdminAccounts {
  /** Verified against when the account does not exist, so that both cases take the same time. */
  private decoy: Promise<string> | null = null;

  constructor(private readonly db: AdminDb) {}

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM admin_accounts').get() as { n: number }).n;
  }

  exists(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM admin_accounts WHERE name = ?').get(name) !== undefined;
  }

  /** Creates `admin` with a random password when there is no account at all; returns that password once. */
  async createInitial(): Promise<string | null> {
    if (this.count() > 0) return null;
    const password = randomPassword();
    await this.set('admin', password);
    return password;
  }

  /** Sets (or creates) the account's password; its open login sessions end. */
  async set(name: string, password: string): Promise<void> {
    if (!ACCOUNT_NAME.test(name)) throw new AdminAccountError('account name: 1-64 letters, digits, _ . @ -');
    checkPassword(password);
    const hash = await hashPassword(password);
    const now = Date.now();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO admin_accounts (name, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash, password_changed_at = excluded.password_changed_at`,
        )
        .run(name, hash, now, now);
      this.db.prepare('DELETE FROM login_sessions WHERE account = ?').run(name);
    })();
  }

  /** The stored account name (its own spelling) when the password matches, else null. */
  async verify(name: string, password: string): Promise<string | null> {
    const row = this.db.prepare('SELECT name, password_hash FROM admin_accounts WHERE name = ?').get(name) as { name: string; password_hash: string } | undefined;
    if (!row) {
      this.decoy ??= hashPassword(randomPassword());
      await verifyPassword(password, await this.decoy);
      return null;
    }
    return (await verifyPassword(password, row.password_hash)) ? row.name : null;
  }
}

export function checkPassword(password: string): void {
  if (password.length < ADMIN_PASSWORD_MIN || password.length > 1024) {
    throw new AdminAccountError(`password: at least ${ADMIN_PASSWORD_MIN} characters`);
  }
}
