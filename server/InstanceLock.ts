// One `portico serve` per TUN name and per data directory, claimed before anything is opened: a
// second instance on the same TUN would silently join its queues (and re-attach the steering
// program); on the same data directory it would share the stores and the accounting queue.
// - TUN name: an abstract unix socket "\0portico-tun-NAME", bound for the process's life. The kernel
//   releases it when the process dies however it dies, and abstract names are per network namespace,
//   as TUN names are. The holder answers a connection with its PID and data directory.
// - Data directory: a kernel lock on DATADIR/portico.lock, SQLite's exclusive lock (POSIX record locks
//   through better-sqlite3, which the stores already use; Node has no flock). The kernel holds it for
//   the process's life and sees it from every process on the same kernel whatever its PID namespace:
//   two containers on one data volume, each PID 1 in its own namespace, cannot both take it (a PID
//   file alone cannot tell them apart). DATADIR/portico.pid, "PID STARTTIME BOOTID HOST", only names
//   the holder in the refusal; a live PID file without the lock is a Portico that predates the lock.
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StartupRefusal } from './StartupChecks.js';

export const PID_FILE = 'portico.pid';
export const LOCK_FILE = 'portico.lock';
/** How long a claim waits for the lock: rides over a `portico doctor` probe, refuses a holder soon. */
const LOCK_WAIT_MS = 250;
/** The locks this process holds: a collected connection would close and drop its lock, whoever forgot the claim. */
const heldLocks = new Set<Database.Database>();

/** A claim this instance holds; release() at a clean stop (a crash releases the socket, and leaves a stale PID file). */
export interface InstanceClaim {
  release(): Promise<void>;
}

/** Claims the TUN name for this process, or throws StartupRefusal naming the holder. `dataDir` is told to a second instance. */
export async function claimTunName(name: string, dataDir: string): Promise<InstanceClaim> {
  const server = createServer((peer) => peer.end(`${JSON.stringify({ pid: process.pid, dataDir })}\n`));
  server.unref(); // held for the process's life, never what keeps it alive
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: tunSocketName(name) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new StartupRefusal(tunNameInUse(name, (await askHolder(tunSocketName(name))) || null));
  }
  return { release: () => new Promise((resolve) => server.close(() => resolve())) };
}

export function tunSocketName(tunName: string): string {
  return `\0portico-tun-${tunName}`;
}

/** Who holds a TUN name: another Portico (its answer), null for a holder that gave none. */
export type TunNameHolder = { pid: number; dataDir: string } | null;

/** The line a second instance on `name` reads (claimTunName's refusal, `portico doctor`'s finding). */
export function tunNameInUse(name: string, holder: TunNameHolder): string {
  const who = holder ? `another Portico (PID ${holder.pid}, dataDir ${holder.dataDir})` : 'another process';
  return `tun.name ${name} is in use by ${who}; stop it or give this instance another tun.name`;
}

/** Whether another process holds the TUN name, without taking it (`portico doctor`): false when free. */
export function probeTunName(name: string): Promise<false | TunNameHolder> {
  return askHolder(tunSocketName(name));
}

/** The holder's answer; null when it gives none within a second; false when nobody listens (ECONNREFUSED). */
function askHolder(path: string): Promise<false | TunNameHolder> {
  return new Promise((resolve) => {
    let text = '';
    let connected = false;
    const peer = connect({ path });
    const done = (value: false | TunNameHolder) => {
      peer.destroy();
      resolve(value);
    };
    peer.once('connect', () => {
      connected = true;
    });
    peer.setTimeout(1000, () => done(null));
    peer.on('error', () => done(connected ? null : false));
    peer.on('data', (d) => {
      text += d;
      if (text.length > 4096) done(null);
    });
    peer.on('end', () => {
      try {
        const parsed = JSON.parse(text) as { pid?: unknown; dataDir?: unknown };
        done(typeof parsed.pid === 'number' && typeof parsed.dataDir === 'string' ? { pid: parsed.pid, dataDir: parsed.dataDir } : null);
      } catch {
        done(null);
      }
    });
  });
}

/** Who holds a data directory, from its PID file: the PID in the holder's own PID namespace, and its host when not ours. */
export interface DataDirHolder {
  pid: number | null;
  /** Another container's or machine's host name; null when it is this host's, or unknown. */
  host: string | null;
}

/** "PID 4242", "PID 1 on host 3f2a9c1d0b7e" (another container), "PID unknown". */
export function describeHolder(holder: DataDirHolder): string {
  const pid = holder.pid === null ? 'PID unknown' : `PID ${holder.pid}`;
  return holder.host === null ? pid : `${pid} on host ${holder.host}`;
}

/** The line a second instance on `dataDir` reads (claimDataDir's refusal, `portico doctor`'s finding). */
export function dataDirInUse(dataDir: string, holder: DataDirHolder): string {
  return `dataDir ${dataDir} is in use by another Portico (${describeHolder(holder)}, ${join(dataDir, PID_FILE)}); stop it or give this instance another dataDir`;
}

/** Who holds `dataDir`, without taking it (`portico doctor`); null when nobody does. */
export function dataDirHolder(dataDir: string): DataDirHolder | null {
  const recorded = readRecord(join(dataDir, PID_FILE));
  return lockIsHeld(join(dataDir, LOCK_FILE)) ? holderOf(recorded) : unlockedHolder(recorded);
}

/** Whether another process holds the lock: a shared lock is refused while it is held exclusive. False when there is no lock file (fileMustExist), or it cannot be read. */
function lockIsHeld(file: string): boolean {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return false;
    } finally {
      db.close();
    }
  } catch (err) {
    return isBusy(err);
  }
}

/**
 * Claims a data directory: takes DATADIR/portico.lock and writes DATADIR/portico.pid, or throws
 * StartupRefusal naming the holder (`refusal` words it for a command other than serve, e.g. restore).
 */
export function claimDataDir(dataDir: string, refusal: (holder: DataDirHolder, pidFile: string) => string = (holder) => dataDirInUse(dataDir, holder)): InstanceClaim {
  const pidFile = join(dataDir, PID_FILE);
  const lock = takeLock(join(dataDir, LOCK_FILE));
  if (lock === null) throw new StartupRefusal(refusal(holderOf(readRecord(pidFile)), pidFile));
  const older = unlockedHolder(readRecord(pidFile));
  if (older !== null) {
    dropLock(lock);
    throw new StartupRefusal(refusal(older, pidFile));
  }
  const mine = identity(process.pid);
  try {
    writeFileSync(pidFile, mine, { mode: 0o600 });
  } catch (err) {
    dropLock(lock);
    throw err;
  }
  return {
    release: async () => {
      try {
        if (readFileSync(pidFile, 'utf8') === mine) unlinkSync(pidFile);
      } catch {
        // already gone
      }
      dropLock(lock); // the lock file stays: removing it could let a waiter lock an unlinked inode
    },
  };
}

/** The exclusive lock on `file`, kept until the returned handle closes; null while another process holds it. */
function takeLock(file: string): Database.Database | null {
  closeSync(openSync(file, 'a', 0o600)); // SQLite would create it 0644
  const db = new Database(file, { timeout: LOCK_WAIT_MS });
  try {
    db.pragma('journal_mode = MEMORY'); // no journal file beside it
    db.pragma('locking_mode = EXCLUSIVE'); // a lock once taken is kept until close
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    heldLocks.add(db);
    return db;
  } catch (err) {
    db.close();
    if (isBusy(err)) return null;
    throw err;
  }
}

function dropLock(lock: Database.Database): void {
  heldLocks.delete(lock);
  lock.close();
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/** The PID file's text; null when there is none. */
function readRecord(pidFile: string): string | null {
  try {
    return readFileSync(pidFile, 'utf8');
  } catch {
    return null;
  }
}

/** A PID file's fields, "PID STARTTIME BOOTID HOST" (HOST absent in a file from before the lock). */
function parseRecord(recorded: string): { pid: number | null; start?: string; boot?: string; host?: string } {
  const [pidText, start, boot, host] = recorded.trim().split(' ');
  const pid = Number(pidText);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, start, boot, host };
}

/** The holder a PID file names (any text: a holder still writing it names nobody yet). */
function holderOf(recorded: string | null): DataDirHolder {
  const { pid, host } = parseRecord(recorded ?? '');
  return { pid, host: host !== undefined && host !== hostname() ? host : null };
}

/** A holder that took no lock (a Portico from before the lock): its PID file names a live process of this host. */
function unlockedHolder(recorded: string | null): DataDirHolder | null {
  return recorded !== null && isAlive(recorded) ? holderOf(recorded) : null;
}

/** "PID STARTTIME BOOTID HOST": the same PID after a reboot or a reuse is another process. */
export function identity(pid: number): string {
  return `${pid} ${startTime(pid) ?? '-'} ${bootId()} ${hostname()}`;
}

/** Whether the PID file names a live process of this host: same PID, start time and boot (a host field, when there is one, is ours). */
function isAlive(recorded: string): boolean {
  const { pid, start, boot, host } = parseRecord(recorded);
  if (pid === null || pid === process.pid) return false;
  if (host !== undefined && host !== hostname()) return false; // another container's PID namespace: not ours to check
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: gone
  }
  return start === (startTime(pid) ?? '-') && boot === bootId();
}

/** Field 22 of /proc/PID/stat: the start time in clock ticks since boot. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '-';
  }
}
