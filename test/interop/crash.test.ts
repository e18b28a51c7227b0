// Crash safety against real peers (issue 13 item 7): the real Linux client of the lab (one VM, three
// pppd + pptp-linux calls, each on its own control connection, redialling on loss: pppd `persist`)
// and a real FreeRADIUS inside our own namespace, Portico with RADIUS authentication and accounting.
// 1. kill -9 with the three sessions up, restart: FreeRADIUS's detail file gets Accounting-On, then three
//    Accounting-Stops with Acct-Terminate-Cause NAS-Reboot for the sessions that were up; the user store
//    is intact; the three calls redial and get addresses again (the pool and Call IDs start clean); traffic passes.
// 2. SIGTERM with the three new sessions up: the process exits within shutdownTimeout after LCP
//    Terminate-Request, Call-Disconnect-Notify and Stop-Control-Connection-Request to every call, with
//    Admin-Reboot Stops and Accounting-Off; each pppd logs the Terminate-Request, pptp-linux the CDN.
// 3. Started once more, the calls come back a third time and stay up until the client ends them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detail, freeradius, ofSession, statuses, until } from './FreeRadius.js';
import type { ServerHandle } from './Lab.js';

process.env.PORTICO_TEST_NETNS ??= 'portico-crash';
const { BASE_CONFIG, NETNS, cli, labDown, labUp, restartServer, runClient, startServer } = await import('./Lab.js');

const SECRET = 'testing123-pptp';
const RUN_DIR = mkdtempSync(join(tmpdir(), 'portico-it-crash-'));
const KEEP = join(RUN_DIR, 'client');
const ACCT_DETAIL = join(RUN_DIR, 'acct', 'detail');
const SESSIONS = 3;

const CONFIG = {
  ...BASE_CONFIG,
  auth: { backend: 'radius' },
  radius: { servers: [{ address: '127.0.0.1', authPort: 18121, acctPort: 18131, secret: SECRET }], timeout: 1, tries: 2, accountingRetryMax: 2 },
  shutdownTimeout: 5,
};

const acct = () => detail(ACCT_DETAIL);

/** True when a TCP connection from our namespace to `address` port 9 is refused (an RST came back) within 3 s. */
function tcpRefused(address: string): boolean {
  const r = spawnSync('ip', ['netns', 'exec', NETNS, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/9`], { encoding: 'utf8' });
  return /Connection refused/.test(r.stderr);
}
type LogLine = Record<string, unknown>;

/** The kept console of the client VM: one pppd log per call and the syslog lines of pptp-linux. */
function clientLogs(): { pppd: string[]; pptp: string } {
  const console = readFileSync(join(KEEP, 'console.txt'), 'utf8');
  const section = (name: string) => {
    const m = new RegExp(`^@@PPTPLAB-LOG-BEGIN ${name}@@\\n([\\s\\S]*?)^@@PPTPLAB-LOG-END@@`, 'm').exec(console);
    return m?.[1] ?? '';
  };
  return { pppd: Array.from({ length: SESSIONS }, (_, i) => section(`pppd.${i}`)), pptp: section('pptp') };
}

describe('crash safety: kill -9 and SIGTERM with three live sessions of the real client, real FreeRADIUS', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    freeradius(NETNS, RUN_DIR, 'start');
    server = await startServer(CONFIG, [['erin', 'erin local password']]); // a local user: the store must survive
  });

  afterAll(async () => {
    await server?.stop();
    try {
      freeradius(NETNS, RUN_DIR, 'stop');
    } finally {
      labDown();
      rmSync(RUN_DIR, { recursive: true, force: true });
    }
  });

  it('kill -9 → restart: Accounting-On, one NAS-Reboot Stop per session, users intact, the calls redial and get addresses; then SIGTERM: bounded stop, Terminate and CDN seen by every call', async () => {
    // Three calls of bob (RADIUS: pool addresses); each redials 2 s after losing its call, however often.
    const client = runClient([
      ...['--user', 'bob', '--password', 'bob-pass', '--sessions', String(SESSIONS), '--pings', '2', '--hold', '60'],
      ...['--pppd-opt', 'persist', '--pppd-opt', 'maxfail 0', '--pppd-opt', 'holdoff 2', '--keep', KEEP],
    ]);
    try {
      const ups = (from: number) =>
        server
          .logs()
          .slice(from)
          .filter((l) => l.msg === 'session up' && l.user === 'bob');
      const first = await until('three sessions up', () => ups(0).length >= SESSIONS && ups(0), 120_000);
      const firstIds = first.map((l) => l.sessionId as string);
      await until('their Starts at FreeRADIUS', () => firstIds.every((id) => ofSession(acct(), id).length > 0), 15_000);
      cli(server.configFile, 'user', 'add', 'frank', '--password', 'frank local password'); // written while the server runs

      // --- kill -9 ---
      const exited = new Promise((r) => server.process.once('exit', r));
      server.process.kill('SIGKILL');
      await exited;
      const linesBefore = server.logs().length;
      const t0 = Date.now();
      server = await restartServer(server);
      const restartMs = Date.now() - t0;
      const recovered = server.logs().find((l) => l.msg === 'sessions left open by an unclean stop: Accounting-Stop (NAS-Reboot) queued for each');
      expect(recovered).toMatchObject({ sessions: SESSIONS });

      const stopsOf = (ids: string[]) => ids.map((id) => ofSession(acct(), id).find((r) => r.get('Acct-Status-Type') === 'Stop'));
      const stops = await until('three NAS-Reboot Stops', () => stopsOf(firstIds).every((s) => s !== undefined) && stopsOf(firstIds), 20_000);
      expect(stops.map((s) => s!.get('Acct-Terminate-Cause'))).toEqual(['NAS-Reboot', 'NAS-Reboot', 'NAS-Reboot']);
      const records = acct();
      const kinds = statuses(records);
      const on = kinds.lastIndexOf('Accounting-On');
      expect(on).toBeGreaterThan(0);
      const firstStop = records.findIndex((r) => r.get('Acct-Status-Type') === 'Stop' && firstIds.includes(r.get('Acct-Session-Id') ?? ''));
      expect(firstStop).toBeGreaterThan(on); // Accounting-On first (RFC 2866 §5.1)
      for (const [i, stop] of stops.entries()) {
        const up = first[i]!;
        expect(stop!.get('User-Name')).toBe('bob');
        expect(stop!.get('NAS-Port')).toBe(String(up.callId));
        expect(stop!.get('Framed-IP-Address')).toBe(up.address);
        expect(stop!.get('Calling-Station-Id')).toBe(up.peer);
        expect(stop!.all('Class')).toEqual([`0x${Buffer.from('pptp-class-bob').toString('hex')}`]);
        expect(Number(stop!.get('Acct-Session-Time'))).toBeGreaterThanOrEqual(0);
      }
      expect(ofSession(records, firstIds[0]!).filter((r) => r.get('Acct-Status-Type') === 'Stop')).toHaveLength(1);

      // The user store: both local users, the one written while the killed server ran included.
      const users = JSON.parse(cli(server.configFile, 'user', 'list', '--json')) as Array<{ name: string }>;
      expect(users.map((u) => u.name).sort()).toEqual(['erin', 'frank']);

      // The calls redial: three new sessions with addresses from the pool, distinct.
      const second = await until('three sessions up again', () => ups(linesBefore).length >= SESSIONS && ups(linesBefore), 60_000);
      const reconnectMs = Date.now() - t0;
      const addresses = second.map((l) => l.address as string);
      expect(new Set(addresses).size).toBe(SESSIONS);
      for (const a of addresses) expect(a).toMatch(/^198\.18\.100\.(\d+)$/);
      // Traffic through the reconnected tunnels: a TCP connection attempt to each client address, which the
      // VM's kernel refuses (RST) if the SYN reached it and the answer came back. It answers through the ppp
      // interface holding its one route to 198.18.100.1 (the three calls share that peer address), so at
      // least that session answers; the others' answers leave through it too and are dropped as spoofed.
      const answering = addresses.filter((a) => tcpRefused(a));
      expect(answering.length).toBeGreaterThanOrEqual(1);
      console.log(
        `kill -9 with ${SESSIONS} sessions: restart ${restartMs} ms, ${stops.length} NAS-Reboot Stops at FreeRADIUS, ` +
          `${SESSIONS} calls back up ${(reconnectMs / 1000).toFixed(1)} s after the restart began (${addresses.join(', ')}), TCP answered through ${answering.join(', ')}`,
      );

      // --- SIGTERM with the three sessions up ---
      const secondIds = second.map((l) => l.sessionId as string);
      const beforeTerm = server.logs().length;
      const gone = new Promise((r) => server.process.once('exit', r));
      const t1 = Date.now();
      server.process.kill('SIGTERM');
      await gone;
      const stopMs = Date.now() - t1;
      const logs: LogLine[] = server.logs().slice(beforeTerm);
      const stopped = logs.find((l) => l.msg === 'stopped')!;
      expect(stopped).toBeDefined();
      expect(server.process.exitCode).toBe(0);
      expect(stopMs).toBeLessThan(CONFIG.shutdownTimeout * 1000 + 1000);
      const closed = logs.filter((l) => l.msg === 'session closed');
      expect(closed.map((l) => l.cause)).toEqual(['shutdown', 'shutdown', 'shutdown']);
      const termStops = await until(
        'three Admin-Reboot Stops',
        () => {
          const s = secondIds.map((id) => ofSession(acct(), id).find((r) => r.get('Acct-Status-Type') === 'Stop'));
          return s.every((x) => x !== undefined) && s;
        },
        5000,
      );
      expect(termStops.map((s) => s!.get('Acct-Terminate-Cause'))).toEqual(['Admin-Reboot', 'Admin-Reboot', 'Admin-Reboot']);
      expect(statuses(acct()).at(-1)).toBe('Accounting-Off');
      console.log(
        `SIGTERM with ${SESSIONS} sessions: exit ${stopMs} ms after the signal (server's own count ${stopped.ms} ms, budget ${CONFIG.shutdownTimeout} s); ` +
          `${termStops.length} Admin-Reboot Stops and Accounting-Off at FreeRADIUS`,
      );

      // Started again, the calls come back once more (and stay up, quietly, until the client ends them).
      const beforeThird = server.logs().length;
      server = await restartServer(server);
      await until('three sessions up a third time', () => ups(beforeThird).length >= SESSIONS, 60_000);
    } finally {
      await client.catch(() => undefined);
    }

    // What the client saw (its logs once the VM is done).
    const r = await client;
    expect(r.sessions_connected, r.log_tail).toBe(SESSIONS);
    const { pppd, pptp } = clientLogs();
    for (const log of pppd) {
      expect(log).toMatch(/rcvd \[LCP TermReq id=0x[0-9a-f]+ "server shutting down"\]/);
      expect(log.match(/local {2}IP address 198\.18\.100\.\d+/g)?.length ?? 0).toBe(3); // before the kill, after it, after the SIGTERM
    }
    // pptp-linux logs each CDN and its result: 3 (Admin Shutdown) is ours at the SIGTERM; the client's own
    // hang-ups at the end get 4 (Request). Then our Stop-Control-Connection-Request. One process per
    // control connection, their lines interleaved: grouped by process id.
    const byProcess = new Map<string, string[]>();
    for (const line of pptp.split('\n')) {
      const m = /pptp\[(\d+)\]: (.*)$/.exec(line);
      if (m) byProcess.set(m[1]!, [...(byProcess.get(m[1]!) ?? []), m[2]!]);
    }
    const stoppedByUs = [...byProcess.values()].filter((lines) => {
      const cdn = lines.findIndex((l) => l.includes('Call disconnect notification received'));
      const after = lines.slice(cdn);
      // Our Stop-Control-Connection-Request follows the CDN; when both arrive in one read, pptp-linux closes the
      // connection on the CDN ("Closing connection (call state)") before it dispatches the request, so either line counts.
      const ended = (l: string) => l.includes('Received Stop Control Connection Request.') || l.includes('Closing connection (call state)');
      return cdn >= 0 && after.some((l) => l.includes("Result code is 3 'Administrative Shutdown'")) && after.some(ended);
    });
    expect(stoppedByUs, pptp).toHaveLength(SESSIONS);
    console.log(
      `client: each of ${SESSIONS} pppd logged the LCP Terminate-Request; ${stoppedByUs.length} pptp-linux control connections logged a Call-Disconnect-Notify (Administrative Shutdown), then our Stop-Control-Connection-Request or its own close on it`,
    );
  }, 300_000);
});
