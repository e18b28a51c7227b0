// One `portico serve` per TUN name and per data directory, claimed before anything is opened: a
// second instance on the same TUN would silently join its queues (and re-attach the steering
// program); on the same data directory it would share the stores and the accounting queue.
// - TUN name: an abstract unix socket "\0portico-tun-NAME", bound for the process's life. The kernel
//   releases it when the process dies however it dies, and abstract names are per network namespace,
//   as TUN names are. The holder answers a connection with its PID and data directory.
// - Data directory: DATADIR/portico.pid holding "PID STARTTIME BOOTID"; stale when that process is
//   gone (or is another process under a reused PID: a container restarts as PID 1 again). Two instances
//   taking over one stale file at the same instant could both win; the TUN lock covers the usual case.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { StartupRefusal } from './StartupChecks.js';

export const PID_FILE = 'portico.pid';

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

/** The line a second instance on `dataDir` reads (claimDataDir's refusal, `portico doctor`'s finding). */
export function dataDirInUse(dataDir: string, pid: number): string {
  return `dataDir ${dataDir} is in use by another Portico (PID ${pid}, ${join(dataDir, PID_FILE)}); stop it or give this instance another dataDir`;
}

/** The PID of a live Portico holding DATADIR/portico.pid, without taking it (`portico doctor`); null when none. */
export function dataDirHolder(dataDir: string): number | null {
  let recorded: string;
  try {
    recorded = readFileSync(join(dataDir, PID_FILE), 'utf8');
  } catch {
    return null;
  }
  return isAlive(recorded) ? Number(recorded.split(' ')[0]) : null;
}

/**
 * Claims an existing data directory with DATADIR/portico.pid, or throws StartupRefusal naming the live
 * holder (`refusal` words it for a command other than serve, e.g. restore).
 */
export function claimDataDir(dataDir: string, refusal: (pid: number, pidFile: string) => string = (pid) => dataDirInUse(dataDir, pid)): InstanceClaim {
  const path = join(dataDir, PID_FILE);
  const mine = identity(process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      return {
        release: async () => {
          try {
            if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let recorded: string;
    try {
      recorded = readFileSync(path, 'utf8');
    } catch {
      continue; // removed meanwhile: try again
    }
    const pid = Number(recorded.split(' ')[0]);
    if (isAlive(recorded)) {
      throw new StartupRefusal(refusal(pid, path));
    }
    try {
      unlinkSync(path); // stale: its process is gone
    } catch {
      // removed meanwhile
    }
  }
  throw new StartupRefusal(`dataDir ${dataDir}: could not take ${path} (another instance starting at the same time?)`);
}

/** "PID STARTTIME BOOTID": the same PID after a reboot or a reuse is another process. */
export function identity(pid: number): string {
  return `${pid} ${startTime(pid) ?? '-'} ${bootId()}`;
}

function isAlive(recorded: string): boolean {
  const pid = Number(recorded.split(' ')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: gone
  }
  return identity(pid) === recorded.trim();
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
