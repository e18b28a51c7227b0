// `portico admin passwd [NAME] [--password PW]`: sets a console account's password (creating the
// account when it does not exist) and ends its logins. Without --password a random one is made
// and printed once — on the operator's terminal, never in the log.
import type { AdminConfig } from './AdminContext.js';
import { AdminAccountError, AdminAccounts } from './AdminAccounts.js';
import { openAdminDatabase } from './AdminDatabase.js';
import { randomPassword } from './PasswordHash.js';

export const ADMIN_USAGE = '  portico admin passwd [NAME] [--password PW] [--config FILE]   (NAME defaults to admin; no --password: a random one is printed)';

export async function runAdminCommand(config: AdminConfig, sub: string | undefined, name: string | undefined, password: string | undefined): Promise<number> {
  if (sub !== 'passwd') {
    process.stderr.write(`portico: unknown admin command ${sub ?? ''}\nusage:\n${ADMIN_USAGE}\n`);
    return 2;
  }
  const account = name ?? 'admin';
  const db = openAdminDatabase(config.dataDir);
  try {
    const accounts = new AdminAccounts(db);
    const existed = accounts.exists(account);
    const chosen = password ?? randomPassword();
    await accounts.set(account, chosen);
    const what = existed ? `password of console account ${account} changed; its logins have ended` : `console account ${account} created`;
    process.stdout.write(password === undefined ? `${what}. New password: ${chosen}\n` : `${what}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof AdminAccountError)) throw err;
    process.stderr.write(`portico: ${err.message}\n`);
    return 1;
  } finally {
    db.close();
  }
}
