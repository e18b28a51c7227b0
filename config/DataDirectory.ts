// The data directory holds secrets at rest: the user store (NT hashes, password-equivalent for
// MS-CHAP), the admin database (console password hashes, session and API token hashes) and the
// accounting queue (who was online, from where). It is ours alone: the directory 0700, every file in
// it 0600. secureDataDirectory runs once at start, before any store opens: it sets the umask so that
// nothing created later (SQLite's -wal and -shm files included) is readable by group or other, creates
// the directory or takes group/other permissions off it and its entries (each fix logged), and refuses
// a directory another user owns. privateFile is how the stores create their files, 0600 whatever the umask.
import { accessSync, chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** What secureDataDirectory found and did, for the log and the console's security audit. */
export interface DataDirectoryReport {
  path: string;
  /** The directory did not exist and was created 0700. */
  created: boolean;
  /** Each permission taken away, as "path: 0755 → 0700". Empty when everything was already private. */
  fixed: string[];
}

/** The directory cannot be made private: the message says why and what to do. */
export class DataDirectoryError extends Error {}

/** The warning sink: pino's Logger fits, and so does a CLI's stderr writer. */
export interface DataDirectoryLog {
  warn(fields: object, message: string): void;
}

const GROUP_OTHER = 0o077;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/**
 * Makes `dir` private to this process's user (see the file comment). Throws DataDirectoryError when it
 * is not a directory, is owned by another user, or a permission cannot be taken away.
 */
export function secureDataDirectory(dir: string, log: DataDirectoryLog): DataDirectoryReport {
  // Process-wide and inherited by what the process creates from now on; workers cannot set it, nor need to.
  if (isMainThread) process.umask(0o077);
  const report: DataDirectoryReport = { path: dir, created: false, fixed: [] };
  const uid = process.geteuid?.();

  let stat = statOrNull(dir);
  if (stat === null) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new DataDirectoryError(`dataDir ${dir} cannot be created (${errnoReason(e)}): run Portico as root or as the owner of its parent, or set dataDir to a directory this user may write`);
    }
    report.created = true;
    stat = statSync(dir);
  }
  if (!stat.isDirectory()) throw new DataDirectoryError(`data directory ${dir} is not a directory`);
  if (uid !== undefined && stat.uid !== uid) {
    throw new DataDirectoryError(
      `data directory ${dir} is owned by uid ${stat.uid}, not by this process (uid ${uid}): that user could read or replace the user database. ` +
        `chown it to uid ${uid}, or run Portico as uid ${stat.uid}`,
    );
  }
  // An existing directory keeps whatever mode it had.
  if ((stat.mode & GROUP_OTHER) !== 0) takeAway(dir, stat.mode, 0o700, report);
  try {
    // SQLite would say only "unable to open database file", without the path.
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new DataDirectoryError(`dataDir ${dir} is not writable (${errnoReason(e)}): give its owner (uid ${stat.uid}) write permission on it`);
  }

  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const entry = lstatSync(path);
    // A symbolic link's own mode means nothing, and chmod would follow it out of the directory.
    if (entry.isSymbolicLink() || (entry.mode & GROUP_OTHER) === 0) continue;
    takeAway(path, entry.mode, entry.mode & 0o700, report);
  }
  if (report.fixed.length > 0) {
    log.warn({ dataDir: dir, fixed: report.fixed }, `data directory was readable beyond its owner: permissions taken away (${report.fixed.join(', ')})`);
  }
  return report;
}

/** join(dir, name), created empty with mode 0600 if absent (dir created 0700 if absent); SQLite then gives its -wal/-shm files the same mode. */
export function privateFile(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, name);
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    // open applies the umask to the mode; a laxer umask than 077 can only take bits away, never add them.
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return path;
}

function takeAway(path: string, mode: number, to: number, report: DataDirectoryReport): void {
  try {
    chmodSync(path, to);
  } catch (e) {
    throw new DataDirectoryError(`${path} is ${octal(mode)} (readable beyond its owner) and could not be changed to ${octal(to)}: ${(e as Error).message}`);
  }
  report.fixed.push(`${path}: ${octal(mode)} → ${octal(to)}`);
}

/** "EACCES: permission denied" from a Node error, without the syscall and path it repeats. */
export function errnoReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '')}` : String(e);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
