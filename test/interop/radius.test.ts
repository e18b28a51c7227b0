// The real Linux PPTP client (test/lab VM) against Portico with auth.backend
// radius, and a real FreeRADIUS 3.2.1 (test/lab/radius) running INSIDE the test namespace so that the
// server reaches it on 127.0.0.1. radclient (also inside the namespace) plays the Dynamic Authorization
// Client. Five client VM runs: alice, carol, bob (Disconnect + RADIUS outage + server restart), dave
// (CoA shortens his Idle-Timeout), alice against replies without Message-Authenticator; then, without a VM,
// the Status-Server probes (RFC 5997) that end the dead-time those unsigned replies caused.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DetailRecord, detail, freeradius as startStopFreeradius, ofSession, statuses, until } from './FreeRadius.js';
import type { ClientResult, ServerHandle } from './Lab.js';

// Our own namespace: a describe-level default that PORTICO_TEST_NETNS overrides. Lab.ts
// reads the variable when it is loaded, hence the dynamic import.
process.env.PORTICO_TEST_NETNS ??= 'portico-radius';
const { BASE_CONFIG, NETNS, TUN_IP, labDown, labUp, restartServer, runClient, startServer } = await import('./Lab.js');

const SECRET = 'testing123-pptp';
const RUN_DIR = mkdtempSync(join(tmpdir(), 'portico-it-radius-'));
const ACCT_DETAIL = join(RUN_DIR, 'acct', 'detail');
const AUTH_DETAIL = join(RUN_DIR, 'auth', 'detail');
/** Seconds between Interim-Updates (FreeRADIUS gives no Acct-Interim-Interval, so the configured one is used). */
const INTERIM = 2;
const PING_IP_BYTES = 84; // 56 data + ICMP 8 + IPv4 20

const CONFIG = {
  ...BASE_CONFIG,
  // alice's Framed-IP-Address 198.19.0.50 lies outside the tunnel network: the address policy needs it listed.
  pool: { ...BASE_CONFIG.pool, allowedStaticRanges: ['198.19.0.0/24'] },
  auth: { backend: 'radius' },
  radius: {
    servers: [{ address: '127.0.0.1', authPort: 18121, acctPort: 18131, secret: SECRET }],
    timeout: 1,
    tries: 2,
    statusInterval: 1, // Status-Server probes of a dead server every second (last test)
    interimInterval: INTERIM,
    accountingRetryMax: 2,
    das: { listen: '127.0.0.1', port: 3799, secret: SECRET },
  },
};

/** FreeRADIUS inside the namespace (`start` also wipes its detail files). */
const freeradius = (cmd: 'start' | 'stop', env: Record<string, string> = {}): void => startStopFreeradius(NETNS, RUN_DIR, cmd, env);

/** radclient inside the namespace → our DAS on 127.0.0.1:3799, dated and signed as radius.das requires by default. */
function radclient(kind: 'disconnect' | 'coa', input: string): Promise<{ status: number | null; out: string }> {
  const ma = input.includes('Message-Authenticator') ? '' : ',Message-Authenticator=0x00';
  const dated = `${input},Event-Timestamp=${Math.floor(Date.now() / 1000)}${ma}`;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', NETNS, 'radclient', '-x', '-r', '2', '-t', '6', '127.0.0.1:3799', kind, SECRET], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out }));
    child.stdin.end(`${dated}\n`);
  });
}

const acct = () => detail(ACCT_DETAIL);
const hex = (s: string) => `0x${Buffer.from(s).toString('hex')}`;
const num = (r: DetailRecord | undefined, name: string) => Number(r?.get(name));

describe('real Linux PPTP client, Portico with auth.backend radius, real FreeRADIUS', () => {
  let server: ServerHandle;
  const sessionUp = (user: string) => server.logs().find((l) => l.msg === 'session up' && l.user === user);
  /** The 'session closed' line of the session whose 'session up' line is `up` (Call IDs are reused). */
  const sessionClosed = (up: Record<string, unknown>) => {
    const logs = server.logs();
    const from = logs.findIndex((l) => l.msg === 'session up' && l.sessionId === up.sessionId);
    return logs.slice(from + 1).find((l) => l.msg === 'session closed' && l.callId === up.callId);
  };

  beforeAll(async () => {
    labUp();
    freeradius('start');
    server = await startServer(CONFIG, []); // no local users: every login below is RADIUS's decision
  });

  afterAll(async () => {
    await server?.stop();
    try {
      freeradius('stop');
    } finally {
      labDown();
      rmSync(RUN_DIR, { recursive: true, force: true });
    }
  });

  it('alice: MS-CHAPv2 via RADIUS, MPPE-128 keys from RADIUS, 198.19.0.50 from Framed-IP-Address, pings; Start/Interim/Stop with her Class and matching octets', async () => {
    const r: ClientResult = await runClient(['--user', 'alice', '--password', 'alice-pass', '--pings', '10', '--hold', '3']);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.auth).toBe('MS-CHAPv2');
    expect(r.mppe).toBe('128-bit stateless');
    expect(r.local_ip).toBe('198.19.0.50'); // outside the TUN prefix: reachable through the host route
    expect(r.remote_ip).toBe(TUN_IP);
    expect(r.ping).toMatchObject({ sent: 10, received: 10 });
    expect(r.ok).toBe(true);

    const up = sessionUp('alice')!;
    expect(up).toMatchObject({ address: '198.19.0.50', mppe: 'MPPE-128 stateless' });
    const sessionId = up.sessionId as string;
    expect(server.logs().find((l) => l.msg === 'RADIUS Access-Accept' && l.user === 'alice')).toMatchObject({
      method: 'MS-CHAPv2',
      server: '127.0.0.1:18121',
      staticAddress: '198.19.0.50',
      sessionTimeout: 3600,
      classes: 1,
      mppeKeys: true,
    });
    expect(server.logs().some((l) => l.msg === 'MPPE master keys taken from the RADIUS reply' && l.user === 'alice')).toBe(true);

    // What FreeRADIUS received: our Message-Authenticator, the MS-CHAP fields and the NAS's description of the call.
    const request = detail(AUTH_DETAIL).find((x) => x.get('User-Name') === 'alice')!;
    expect(request.get('Message-Authenticator')).toMatch(/^0x[0-9a-f]{32}$/);
    expect(request.get('MS-CHAP-Challenge')).toMatch(/^0x[0-9a-f]{32}$/);
    expect(request.get('MS-CHAP2-Response')).toMatch(/^0x[0-9a-f]{100}$/);
    expect(request.get('NAS-Identifier')).toBe('portico');
    expect(request.get('NAS-Port')).toBe(String(up.callId));
    expect(request.get('NAS-Port-Type')).toBe('Virtual');
    expect(request.get('Service-Type')).toBe('Framed-User');
    expect(request.get('Framed-Protocol')).toBe('PPP');
    expect(request.get('Calling-Station-Id')).toBe('198.18.0.10');
    expect(request.get('Called-Station-Id')).toBe('198.18.0.1');
    expect(request.text).toMatch(/Tunnel-Type(:0)? = PPTP/);
    expect(request.get('Acct-Session-Id')).toBe(sessionId);

    // Accounting: Accounting-On first, then Start, Interim-Update(s), Stop, each echoing Class.
    await until('alice Stop', () => ofSession(acct(), sessionId).some((x) => x.get('Acct-Status-Type') === 'Stop'), 15_000);
    const all = acct();
    expect(all[0]!.get('Acct-Status-Type')).toBe('Accounting-On');
    const records = ofSession(all, sessionId);
    const kinds = statuses(records);
    expect(kinds[0]).toBe('Start');
    expect(kinds.at(-1)).toBe('Stop');
    expect(kinds.filter((k) => k === 'Interim-Update').length).toBeGreaterThanOrEqual(1);
    expect(kinds.slice(1, -1).every((k) => k === 'Interim-Update')).toBe(true);
    for (const x of records) {
      expect(x.all('Class')).toEqual([hex('pptp-class-alice')]);
      expect(x.get('User-Name')).toBe('alice');
      expect(x.get('Framed-IP-Address')).toBe('198.19.0.50');
      expect(x.get('NAS-Port')).toBe(String(up.callId));
    }
    const stop = records.at(-1)!;
    expect(stop.get('Acct-Terminate-Cause')).toBe('User-Request');
    expect(num(stop, 'Acct-Session-Time')).toBeGreaterThanOrEqual(4);
    // Octets: input = what the client sent (its ppp0 tx), output = what it received (ppp0 rx); the 10
    // echo requests/replies are the floor, the client's own interface counters the ceiling.
    const bytes = r.s0_bytes as { rx: number; tx: number };
    const input = num(stop, 'Acct-Input-Octets');
    const output = num(stop, 'Acct-Output-Octets');
    expect(input).toBeGreaterThanOrEqual(10 * PING_IP_BYTES);
    expect(input).toBeLessThanOrEqual(bytes.tx);
    expect(output).toBeGreaterThanOrEqual(10 * PING_IP_BYTES);
    expect(output).toBeLessThanOrEqual(bytes.rx);
    expect(num(stop, 'Acct-Input-Packets')).toBeGreaterThanOrEqual(10);
    expect(num(stop, 'Acct-Output-Packets')).toBeGreaterThanOrEqual(10);
    expect(stop.get('Acct-Input-Gigawords')).toBe('0');
    console.log(`alice: client ppp0 tx ${bytes.tx} rx ${bytes.rx}; Acct-Input-Octets ${input}, Acct-Output-Octets ${output}; ${kinds.join(' ')}`);
    // Interim counters never run ahead of the Stop
    for (const x of records.slice(1, -1)) expect(num(x, 'Acct-Input-Octets')).toBeLessThanOrEqual(input);
  }, 180_000);

  it('carol: Access-Reject → MS-CHAPv2 Failure E=691, refused', async () => {
    const r = await runClient(['--user', 'carol', '--password', 'carol-pass', '--pings', '0', '--expect-fail']);
    expect(r.connected).toBe(false);
    expect(r.log_tail).toMatch(/rcvd \[CHAP Failure id=0x[0-9a-f]+ "E=691 R=0 C=[0-9A-F]{32} V=3 M=Authentication failed"\]/);
    expect(r.ok).toBe(true);
    const failure = server.logs().find((l) => l.msg === 'authentication failed' && l.user === 'carol')!;
    expect(failure.reason).toBe('E=691: Access-Reject from 127.0.0.1:18121: carol is disabled');
  }, 120_000);

  it('bob (NT hash only): connected; Disconnect-NAK for an unknown session; FreeRADIUS down while his session runs and is cut by radclient (Disconnect-ACK), our server restarted: every record arrives afterwards, in order', async () => {
    const client = runClient(['--user', 'bob', '--password', 'bob-pass', '--pings', '3', '--hold', '30']);
    try {
      const up = await until('bob session up', () => sessionUp('bob'), 90_000);
      const sessionId = up.sessionId as string;
      await until('bob Start delivered', () => ofSession(acct(), sessionId).length > 0, 10_000);

      const nak = await radclient('disconnect', 'Acct-Session-Id=no-such-session,NAS-IP-Address=127.0.0.1');
      expect(nak.out).toMatch(/Received Disconnect-NAK/);
      expect(nak.out).toMatch(/Error-Cause = Session-Context-Not-Found/);

      const before = acct();
      freeradius('stop');
      await new Promise((r) => setTimeout(r, (INTERIM * 2 + 1) * 1000)); // Interim-Updates pile up in the queue

      const ack = await radclient('disconnect', `User-Name=bob,Acct-Session-Id=${sessionId},Message-Authenticator=0x00`);
      expect(ack.out).toMatch(/Received Disconnect-ACK/);
      expect(sessionClosed(up)).toMatchObject({ cause: 'radius-disconnect', detail: expect.stringMatching(/^RADIUS Disconnect-Request from /) });

      await server.stop(); // Accounting-Off joins the queue; nothing can be delivered
      const kept = server.logs().find((l) => l.msg === 'accounting records not yet acknowledged: kept for the next start')!;
      const pending = kept.pending as number;
      expect(pending).toBeGreaterThanOrEqual(4); // ≥ 2 Interim-Updates, the Stop, Accounting-Off
      server = await restartServer(server);
      expect(server.logs().find((l) => l.msg === 'accounting records left from before the restart: sending them first')).toMatchObject({ pending });

      freeradius('start'); // a fresh detail file: everything in it was queued while FreeRADIUS was away
      await until('Accounting-On of the restarted server', () => acct().some((x) => x.get('Acct-Status-Type') === 'Accounting-On'), 30_000);
      const after = acct();
      expect(after).toHaveLength(pending + 1); // nothing lost, nothing twice
      const kinds = statuses(after);
      expect(kinds.slice(-3)).toEqual(['Stop', 'Accounting-Off', 'Accounting-On']);
      expect(kinds.slice(0, -3).every((k) => k === 'Interim-Update')).toBe(true);
      const bobs = after.slice(0, -2);
      expect(bobs.every((x) => x.get('Acct-Session-Id') === sessionId && x.all('Class').join() === hex('pptp-class-bob'))).toBe(true);
      expect(bobs.every((x) => num(x, 'Acct-Delay-Time') >= 1)).toBe(true);
      const times = bobs.map((x) => num(x, 'Acct-Session-Time'));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const stop = after.at(-3)!;
      expect(stop.get('Acct-Terminate-Cause')).toBe('Admin-Reset');
      expect(num(stop, 'Acct-Input-Octets')).toBeGreaterThanOrEqual(3 * PING_IP_BYTES);
      // with what arrived before the outage, bob's whole session: Start, Interim-Update…, Stop
      const whole = statuses([...ofSession(before, sessionId), ...bobs]);
      expect(whole[0]).toBe('Start');
      expect(whole.at(-1)).toBe('Stop');
      console.log(`bob: before the outage ${statuses(ofSession(before, sessionId)).join(' ')}; after: ${kinds.join(' ')} (${pending} kept across the restart)`);

      const r = await client;
      expect(r.connected, r.log_tail).toBe(true);
      expect(r.ping).toMatchObject({ sent: 3, received: 3 });
      expect(r.log_tail).toMatch(/rcvd \[LCP TermReq id=0x[0-9a-f]+ "RADIUS Disconnect-Request from 127\.0\.0\.1"\]/);
    } finally {
      await client.catch(() => undefined); // the VM must be gone before the next one takes its tap
    }
  }, 240_000);

  it('dave: RADIUS gives Idle-Timeout 300; a CoA-Request shortens it to 10 s and the idle session is cut', async () => {
    const client = runClient(['--user', 'dave', '--password', 'dave-pass', '--pings', '0', '--hold', '28']);
    try {
      const up = await until('dave session up', () => sessionUp('dave'), 90_000);
      expect(up.address).toBe('198.19.0.51');
      expect(server.logs().find((l) => l.msg === 'RADIUS Access-Accept' && l.user === 'dave')).toMatchObject({ idleTimeout: 300, sessionTimeout: 7200 });
      const coa = await radclient('coa', 'User-Name=dave,Idle-Timeout=10');
      expect(coa.out).toMatch(/Received CoA-ACK/);
      const t0 = Date.now();
      const closed = await until('dave cut', () => sessionClosed(up), 30_000);
      const seconds = (Date.now() - t0) / 1000;
      expect(closed).toMatchObject({ cause: 'idle-timeout', detail: 'Idle-Timeout of 10 s reached' });
      expect(seconds).toBeGreaterThan(9); // idle since the session came up (CoA-ACK ≤ 0.5 s later); the sweep runs every 5 s
      expect(seconds).toBeLessThan(17);
      const r = await client;
      expect(r.connected, r.log_tail).toBe(true);
      expect(r.local_ip).toBe('198.19.0.51');
      expect(r.log_tail).toMatch(/rcvd \[LCP TermReq id=0x[0-9a-f]+ "Idle-Timeout of 10 s reached"\]/);

      await until('dave Stop', () => ofSession(acct(), up.sessionId as string).some((x) => x.get('Acct-Status-Type') === 'Stop'), 15_000);
      const records = ofSession(acct(), up.sessionId as string);
      const kinds = statuses(records);
      expect(kinds[0]).toBe('Start');
      expect(kinds).toContain('Interim-Update');
      expect(kinds.at(-1)).toBe('Stop');
      expect(records.at(-1)!.get('Acct-Terminate-Cause')).toBe('Idle-Timeout');
      expect(records.every((x) => x.all('Class').length === 0)).toBe(true); // dave has none
      console.log(`dave: cut ${seconds.toFixed(1)} s after the CoA-ACK (Idle-Timeout 10, sweep every 5 s); ${kinds.join(' ')}`);
    } finally {
      await client.catch(() => undefined);
    }
  }, 180_000);

  it('replies without Message-Authenticator (RADIUS_REPLY_MA=no): the login fails and the log says why', async () => {
    freeradius('start', { RADIUS_REPLY_MA: 'no' });
    const r = await runClient(['--user', 'alice', '--password', 'alice-pass', '--pings', '0', '--expect-fail']);
    expect(r.connected).toBe(false);
    expect(r.log_tail).toMatch(/E=691/);
    expect(r.ok).toBe(true);
    const logs = server.logs();
    expect(logs.some((l) => l.msg === 'RADIUS reply dropped: no Message-Authenticator (BlastRADIUS protection)')).toBe(true);
    const refused = logs.find((l) => l.msg === 'RADIUS login refused: no RADIUS server answered' && l.user === 'alice')!;
    expect(refused.why).toMatch(/127\.0\.0\.1:18121 timeout \(2 tries, last reply dropped: no Message-Authenticator \(BlastRADIUS protection\)\)/);
    // FreeRADIUS did answer (Login OK): it is our policy that refused the unsigned Accept
    expect(readFileSync(join(RUN_DIR, 'radius.log'), 'utf8')).toMatch(/Login OK: \[alice/);
  }, 120_000);

  it('Status-Server (RFC 5997): the dead server is probed, its unsigned answers are refused, and the first signed one puts it back in use without a login', async () => {
    // The previous test left 127.0.0.1:18121 dead (every reply dropped) and FreeRADIUS answering unsigned.
    const AUTH = '127.0.0.1:18121';
    const unsigned = () => server.logs().filter((l) => l.msg === 'RADIUS reply dropped: no Message-Authenticator (BlastRADIUS protection)' && l.from === AUTH);
    const back = () => server.logs().filter((l) => l.msg === 'RADIUS server answered Status-Server: back in use' && l.server === AUTH);
    expect(server.logs().some((l) => l.msg === 'RADIUS server marked dead' && l.server === AUTH)).toBe(true);
    const before = unsigned().length;
    await until('an unsigned answer to a probe', () => unsigned().length > before, 10_000); // probes go on while dead
    expect(back()).toHaveLength(0);

    freeradius('stop');
    freeradius('start'); // signed replies again (RADIUS_REPLY_MA=yes, the default)
    const t0 = Date.now();
    await until('the server back in use', () => back().length > 0, 10_000);
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeLessThan(5); // one probe a second (statusInterval 1), against the 60 s dead-time
    expect(back()).toHaveLength(1); // probing stops once it answers
    await new Promise((r) => setTimeout(r, 2500));
    expect(back()).toHaveLength(1);
    console.log(`Status-Server: ${unsigned().length - before} unsigned answers refused while dead; back in use ${seconds.toFixed(1)} s after FreeRADIUS restarted`);
  }, 60_000);
});
