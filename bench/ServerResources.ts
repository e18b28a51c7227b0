// What a running `portico serve` holds, read from outside as an operator would: its memory and open
// descriptors (/proc), the routes of its namespace (`ip route`), and from its status dump (SIGUSR2) the
// sessions and the Call IDs, tunnel addresses and host routes their allocators count. The soak compares
// these before and after many setups and teardowns: with no session left, anything above the
// baseline is a leak.
import { closeSync, openSync, readdirSync, readSync, readFileSync, statSync } from 'node:fs';
import type { BenchLab } from './BenchLab.js';

export interface ServerResources {
  /** VmRSS of the server process. */
  rssKiB: number;
  /** V8 heap in use in the main thread, after a collection when the server runs with --expose-gc. */
  heapUsedKiB: number;
  /** Entries of /proc/PID/fd. */
  fds: number;
  /** Lines of `ip route show table all`, IPv4 and IPv6, in the server's namespace. */
  routes: number;
  sessions: number;
  callIds: number;
  addresses: number;
  hostRoutes: number;
  /** Log lines since the server started: sessions that reached the network phase, sessions ended and why. */
  sessionsUp: number;
  sessionsClosed: number;
  endCauses: Record<string, number>;
}

interface StatusLine {
  msg?: string;
  sessionCount?: number;
  held?: { callIds: number; addresses: number; hostRoutes: number };
  memory?: { heapUsedKiB: number };
}

export class ServerResourceProbe {
  /** Where the next status line is looked for in the server's log (it grows by some lines per session). */
  private logOffset = 0;
  private sessionsUp = 0;
  private sessionsClosed = 0;
  private readonly endCauses: Record<string, number> = {};

  constructor(private readonly lab: BenchLab) {}

  /** One reading: asks the server for a status dump and waits for it in the log. */
  async read(): Promise<ServerResources> {
    const pid = this.lab.serverPid();
    const status = await this.statusDump(pid);
    const routes = ['-4', '-6'].reduce((n, family) => n + countLines(this.lab.exec(this.lab.serverNs, ['ip', family, 'route', 'show', 'table', 'all'])), 0);
    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return {
      rssKiB: rss ? Number(rss[1]) : Number.NaN,
      heapUsedKiB: status.memory?.heapUsedKiB ?? Number.NaN,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      routes,
      sessions: status.sessionCount ?? Number.NaN,
      callIds: status.held?.callIds ?? Number.NaN,
      addresses: status.held?.addresses ?? Number.NaN,
      hostRoutes: status.held?.hostRoutes ?? Number.NaN,
      sessionsUp: this.sessionsUp,
      sessionsClosed: this.sessionsClosed,
      endCauses: { ...this.endCauses },
    };
  }

  /**
   * A reading once the server has let go of the last teardowns: no session, no Call ID, and the
   * descriptor count unchanged over one more reading (closing connections finish within a few turns).
   * Gives the last reading after `timeoutMs` whatever it shows: the caller's comparison tells the leak.
   */
  async settled(timeoutMs = 20_000): Promise<ServerResources> {
    const deadline = Date.now() + timeoutMs;
    let previous = await this.read();
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await this.read();
      if ((r.sessions === 0 && r.callIds === 0 && r.fds === previous.fds) || Date.now() > deadline) return r;
      previous = r;
    }
  }

  private async statusDump(pid: number): Promise<StatusLine> {
    process.kill(pid, 'SIGUSR2');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const lines = this.readNewLog().split('\n');
      lines.pop(); // the text ends with a newline
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.includes('"msg":"session up"')) this.sessionsUp++;
        else if (line.includes('"msg":"session closed"')) {
          this.sessionsClosed++;
          const cause = /"cause":"([^"]*)"/.exec(line)?.[1] ?? 'none';
          this.endCauses[cause] = (this.endCauses[cause] ?? 0) + 1;
        } else if (line.includes('"msg":"status"')) {
          // Lines after the status line (none are expected at rest) are read again next time.
          for (const rest of lines.slice(i + 1)) this.logOffset -= Buffer.byteLength(rest) + 1;
          return JSON.parse(line) as StatusLine;
        }
      }
      if (Date.now() > deadline) throw new Error('the server logged no status line after SIGUSR2');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whole lines of the log written since the last call. */
  private readNewLog(): string {
    const size = statSync(this.lab.logFile).size;
    if (size <= this.logOffset) return '';
    const buf = Buffer.alloc(size - this.logOffset);
    const fd = openSync(this.lab.logFile, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.logOffset);
    } finally {
      closeSync(fd);
    }
    const end = buf.lastIndexOf(0x0a) + 1; // a line being written is read next time
    this.logOffset += end;
    return buf.subarray(0, end).toString('utf8');
  }
}

function countLines(text: string): number {
  return text.split('\n').filter((l) => l.trim() !== '').length;
}
