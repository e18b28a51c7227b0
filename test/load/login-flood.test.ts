// The login flood of issue 13, against the real server with its default limits: `portico serve` in a
// namespace of its own, a client namespace with two addresses (RFC 2544 benchmarking range), and
// the load generator (bench/client) driving PPTP + PPP + MS-CHAPv2 as a client does. From the
// attacker's address, 300 logins with wrong passwords (alice's name and others), as fast as the server lets one
// address in (the generator opens one control connection per login; pptp.connectionsPerSecondPerAddress
// refuses the rest at accept, and the attacker simply tries again). Meanwhile alice logs in from
// another address. Asserted: the attempts the backend actually checked (the log's "authentication
// failed" lines with the backend's reason, not "throttled") are at most 5 in any second after the
// first 20; alice's login completes; the console answers and counts the throttled logins; the
// server's RSS grows by less than 100 MiB. Figures are printed for the closing note. Needs root and
// the built server and generator (./LoadBuild.ts); run under the lab lock:
// flock /tmp/portico-lab.lock npx vitest run test/load/login-flood.test.ts
import { spawnSync } from 'node:child_process';
import { buildLoadGenerator } from './LoadBuild.js';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BenchLab, CLI, CLIENT_IP, LOAD_GENERATOR, SERVER_IP } from '../../bench/BenchLab.js';

const ATTACKER_IP = '198.18.0.3';
const USER = 'alice';
const PASSWORD = 'alice has a long passphrase';
const ATTEMPTS = 300;
/** The attack gives up after this long whatever it reached (a server that refused everything at accept). */
const ATTACK_LIMIT_MS = 120_000;

interface LogLine {
  time: number;
  msg: string;
  peer?: string;
  user?: string;
  reason?: string;
}

let lab: BenchLab;

beforeAll(() => {
  buildLoadGenerator();
  lab = new BenchLab('lflood');
  lab.up();
  lab.exec(lab.clientNs, ['ip', 'addr', 'add', `${ATTACKER_IP}/24`, 'dev', lab.vethServer.replace(/s$/, 'c')]);
});

afterAll(async () => {
  await lab?.down();
});

/** One run of the generator from `local`: `sessions` logins of `user` with `password`; its result line. */
async function generator(local: string, sessions: number, user: string, password: string): Promise<Record<string, unknown>> {
  const options = { mode: 'setup', server: SERVER_IP, local, user, password, sessions: String(sessions), concurrency: '16' };
  const args = [process.execPath, LOAD_GENERATOR, ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, v])];
  const { events } = lab.spawnClient(args);
  let result: Record<string, unknown> = {};
  for await (const e of events) if (e.event === 'result') result = e;
  return result;
}

/** GETs on the console inside the server's namespace, logged in with the password the first start printed. */
function consoleGet(password: string, paths: string[]): Array<{ status: number; body: string }> {
  const script = `
    const base = 'http://127.0.0.1:8080';
    const login = await fetch(base + '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ${JSON.stringify(password)} }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
    const out = [{ status: login.status, body: '' }];
    for (const p of ${JSON.stringify(paths)}) { const r = await fetch(base + p, { headers: { cookie } }); out.push({ status: r.status, body: await r.text() }); }
    console.log(JSON.stringify(out));`;
  const output = lab.exec(lab.serverNs, [process.execPath, '--input-type=module', '-e', script]);
  return JSON.parse(output) as Array<{ status: number; body: string }>;
}

function logLines(): LogLine[] {
  return lab
    .serverLog()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('300 wrong MS-CHAPv2 logins from one address (default limits)', () => {
  it('the attacker is checked at most 5 times a second after the first 20; alice logs in from elsewhere meanwhile; the console answers; RSS < +100 MiB', async () => {
    writeFileSync(
      lab.configFile,
      [
        `listen: ${SERVER_IP}`,
        `dataDir: ${lab.dir}`,
        'tun: { name: pftun0, address: 198.19.0.1 }',
        'pool: { start: 198.19.0.10, end: 198.19.0.250 }',
        'dataPlane: { threads: 1 }',
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    const added = spawnSync(process.execPath, [CLI, 'user', 'add', USER, '--password', PASSWORD, '--config', lab.configFile], { encoding: 'utf8' });
    expect(added.status, added.stderr).toBe(0);
    await lab.startServer({});
    const adminPassword = /with password (\S+) /.exec(lab.serverLog())?.[1] ?? '';
    expect(adminPassword).not.toBe('');
    const rssBefore = lab.serverRssKiB();

    const fromAttacker = () => logLines().filter((l) => l.msg === 'authentication failed' && l.peer === ATTACKER_IP);
    const t0 = Date.now();
    // alice, 2 s into the attack, from her own address.
    const legit = new Promise<{ result: Record<string, unknown>; startedAt: number }>((resolve) =>
      setTimeout(() => {
        const startedAt = Date.now();
        void generator(CLIENT_IP, 1, USER, PASSWORD).then((result) => resolve({ result, startedAt }));
      }, 2000),
    );
    let batches = 0;
    while (fromAttacker().length < ATTEMPTS && Date.now() - t0 < ATTACK_LIMIT_MS) {
      // alice's name every other batch, other names between: both the per-user and the per-address back-off are hit.
      await generator(ATTACKER_IP, Math.min(32, ATTEMPTS - fromAttacker().length), batches % 2 === 0 ? USER : `user${batches}`, 'wrong guess');
      batches++;
    }
    const attackMs = Date.now() - t0;
    const { result: alice } = await legit;
    const consoleAnswers = consoleGet(adminPassword, ['/', '/metrics', '/api/events?type=auth-failure&limit=1000', '/api/bans']);
    const rssAfter = lab.serverRssKiB();

    const attempts = fromAttacker();
    const checked = attempts.filter((l) => !l.reason?.includes('throttled')).map((l) => l.time);
    const throttled = attempts.length - checked.length;
    // The most checks in any one second (sliding window) after the first 20.
    const after20 = checked.slice(20);
    let worstSecond = 0;
    for (let i = 0; i < after20.length; i++) worstSecond = Math.max(worstSecond, after20.filter((t) => t >= after20[i]! && t < after20[i]! + 1000).length);
    const checkedSpan = (after20.at(-1)! - (checked[19] ?? t0)) / 1000;
    const metrics = consoleAnswers[2]!.body;
    const throttledMetric = Number(/^portico_login_throttled_total (\d+)$/m.exec(metrics)?.[1]);
    const journal = JSON.parse(consoleAnswers[3]!.body) as { events: Array<{ peer: string | null; detail: { count?: number } | null }> };
    const journalRows = journal.events.filter((e) => e.peer === ATTACKER_IP);
    const journalCount = journalRows.reduce((n, e) => n + (e.detail?.count ?? 1), 0);

    console.log(
      JSON.stringify({
        loginFlood: {
          attempts: attempts.length,
          batches,
          attackSeconds: attackMs / 1000,
          attemptsPerSecond: Math.round((attempts.length / (attackMs / 1000)) * 10) / 10,
          checkedByBackend: checked.length,
          throttled,
          checkedAfterFirst20: after20.length,
          checkedAfterFirst20PerSecond: checkedSpan > 0 ? Math.round((after20.length / checkedSpan) * 100) / 100 : 0,
          worstSecondAfterFirst20: worstSecond,
          attackerUsers: [...new Set(attempts.map((l) => l.user))].length,
          legitLogin: {
            up: alice.up,
            setupMs: alice.setupMsP50,
            failures: alice.failures,
            refusedBecause: logLines()
              .filter((l) => l.msg === 'authentication failed' && l.peer === CLIENT_IP)
              .map((l) => l.reason),
          },
          console: consoleAnswers.map((a) => a.status),
          throttledMetric,
          journal: { rows: journalRows.length, refusals: journalCount },
          rssMiB: { before: Math.round(rssBefore / 1024), after: Math.round(rssAfter / 1024), growth: Math.round((rssAfter - rssBefore) / 1024) },
        },
      }),
    );

    expect(attempts.length).toBeGreaterThanOrEqual(ATTEMPTS);
    expect(checked.length).toBeGreaterThanOrEqual(5); // the backend did check the first ones
    expect(worstSecond).toBeLessThanOrEqual(5);
    expect(alice.up).toBe(1);
    expect(consoleAnswers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(throttledMetric).toBe(throttled);
    expect(journalCount).toBe(attempts.length); // every refusal counted, in a few rows
    expect(journalRows.length).toBeLessThan(attempts.length / 10);
    expect(rssAfter - rssBefore).toBeLessThan(100 * 1024);
  }, 240_000);
});
