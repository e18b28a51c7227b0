// The real Linux PPTP client (pptp-linux + pppd + kernel MPPE, in a QEMU VM) against Portico running
// in a network namespace of its own: control connection, MS-CHAPv2, MPPE, addresses and traffic.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG, labDown, labUp, runClient, startInNetns, startServer, tmpPath, TUN_IP, type ServerHandle } from './Lab.js';

const inPool = (ip: string | null) => {
  const last = Number(ip?.split('.')[3]);
  return ip?.startsWith('198.18.100.') === true && last >= 10 && last <= 200;
};

describe('real Linux PPTP client against Portico, data plane on one thread', () => {
  let server: ServerHandle;
  let iperf: ChildProcess;
  let capture = '';

  beforeAll(async () => {
    labUp();
    // One thread on purpose: the default (auto) shards on this machine's two CPUs, as the other files run.
    server = await startServer({ ...BASE_CONFIG, dataPlane: { threads: 1 } }, [['labuser', 'lab-password']]);
    iperf = startInNetns('iperf3', ['-s', '-B', TUN_IP]);
  });

  afterAll(async () => {
    iperf?.kill('SIGTERM');
    await server?.stop();
    labDown();
  });

  it('(a) MS-CHAPv2 + MPPE-128 stateless: address, both DNS, 10/10 pings, iperf3 both ways', async () => {
    capture = tmpPath('a.pcapng');
    const r = await runClient(['--pings', '10', '--iperf', '5', '--capture', capture]);
    console.log(`(a) ${JSON.stringify({ local_ip: r.local_ip, ping: r.ping, throughput_mbps: r.throughput_mbps, connect_ms: r.connect_ms })}`);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.auth).toBe('MS-CHAPv2');
    expect(r.mppe).toBe('128-bit stateless');
    expect(inPool(r.local_ip)).toBe(true);
    expect(r.remote_ip).toBe(TUN_IP);
    expect(r.dns).toEqual(['198.18.100.53', '198.18.100.54']);
    expect(r.ping).toMatchObject({ sent: 10, received: 10 });
    expect(r.throughput_mbps.up).toBeGreaterThan(0);
    expect(r.throughput_mbps.down).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
    const up = server.logs().find((l) => l.msg === 'session up');
    expect(up).toMatchObject({ user: 'labuser', address: r.local_ip, mppe: 'MPPE-128 stateless' });
  }, 180_000);

  it('(g) tshark reads the capture of (a) with zero malformed packets', () => {
    const count = (filter: string) => {
      const t = spawnSync('tshark', ['-r', capture, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(t.status, t.stderr).toBe(0);
      return t.stdout.split('\n').filter((l) => l.trim() !== '').length;
    };
    expect(count('pptp')).toBeGreaterThan(3);
    expect(count('gre')).toBeGreaterThan(100);
    expect(count('_ws.malformed || _ws.expert.severity == error')).toBe(0);
  });

  it('(b) wrong password: refused with the MS-CHAPv2 failure', async () => {
    const r = await runClient(['--password', 'wrong', '--pings', '0', '--expect-fail']);
    expect(r.connected).toBe(false);
    // pppd prints the Failure it received (RFC 2759 §6), then drops the link.
    expect(r.log_tail).toMatch(/rcvd \[CHAP Failure id=0x[0-9a-f]+ "E=691 R=0 C=[0-9A-F]{32} V=3 M=Authentication failed"\]/);
    expect(r.log_tail).toMatch(/MS-CHAP authentication failed: Authentication failed/);
    // pppd: EXIT_AUTH_TOPEER_FAILED (19). EXIT_HANGUP (16) came once in eight runs when our
    // Call-Disconnect-Notify, sent as our LCP Terminate exchange ended, made pptp-linux close the pty
    // before pppd had read the last Terminate-Ack (its GRE and control processes race). The server now
    // waits for the client to hang up first (SessionManager CALL_LINGER_MS, unit-tested in
    // session-lifecycle); 16 stays accepted because this lab cannot force the race (no netem in the
    // kernel) to show it gone: 32 runs without it went 32 × 19, before and after.
    expect([19, 16]).toContain(r.pppd_exit);
    expect(r.ok).toBe(true);
    expect(server.logs().find((l) => l.msg === 'authentication failed')).toMatchObject({ user: 'labuser', reason: 'E=691: wrong password' });
  }, 120_000);

  it('(c) a client that refuses MPPE is refused', async () => {
    const r = await runClient(['--mppe', 'none', '--pings', '0', '--expect-fail']);
    expect(r.connected).toBe(false);
    expect(r.log_tail).toMatch(/MPPE required but peer refused/);
    expect(r.ok).toBe(true);
  }, 120_000);

  it('(d) 3 sessions on separate control connections: 3 distinct addresses, all ping', async () => {
    const before = server.logs().filter((l) => l.msg === 'control connection opened').length;
    const r = await runClient(['--sessions', '3', '--pings', '3']);
    expect(r.sessions_connected).toBe(3);
    const addresses = r.sessions!.map((s) => s.local_ip);
    expect(new Set(addresses).size).toBe(3);
    for (const s of r.sessions!) {
      expect(inPool(s.local_ip)).toBe(true);
      expect(s.ping).toMatchObject({ sent: 3, received: 3 });
    }
    expect(server.logs().filter((l) => l.msg === 'control connection opened').length - before).toBe(3);
    expect(r.ok).toBe(true);
  }, 180_000);

  it('(e) 3 calls on one control connection: all connected, all ping', async () => {
    const before = server.logs().filter((l) => l.msg === 'control connection opened').length;
    const r = await runClient(['--sessions', '3', '--session-mode', 'shared', '--pings', '3']);
    expect(r.sessions_connected).toBe(3);
    expect(new Set(r.sessions!.map((s) => s.local_ip)).size).toBe(3);
    for (const s of r.sessions!) expect(s.ping).toMatchObject({ sent: 3, received: 3 });
    expect(server.logs().filter((l) => l.msg === 'control connection opened').length - before).toBe(1);
    expect(r.ok).toBe(true);
  }, 180_000);

  it('no password or hash ever reaches the log, and sessions end with a cause', () => {
    const text = readFileSync(server.logFile, 'utf8');
    expect(text).toContain('"msg":"session closed"');
    for (const secret of ['lab-password', ntPasswordHash('lab-password').toString('hex'), ntPasswordHash('lab-password').toString('base64')]) {
      expect(text.toLowerCase()).not.toContain(secret.toLowerCase());
    }
    const closed = server.logs().filter((l) => l.msg === 'session closed');
    expect(closed.length).toBeGreaterThanOrEqual(9); // a, b, c, 3 in d, 3 in e
    expect(closed.every((l) => typeof l.cause === 'string')).toBe(true);
  });
});

describe('stateful MPPE when the configuration prefers it, data plane on two threads', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    server = await startServer({ ...BASE_CONFIG, mppe: { mode: 'prefer-stateful' }, dataPlane: { threads: 2 } }, [['labuser', 'lab-password']]);
    expect(server.logs().find((l) => l.msg === 'Portico ready')).toMatchObject({ dataPlaneThreads: 2 });
  });

  afterAll(async () => {
    await server?.stop();
    labDown();
  });

  it('(f) MPPE-128 stateful: connected and 10/10 pings', async () => {
    const r = await runClient(['--mppe', '128-stateful', '--pings', '10']);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.mppe).toBe('128-bit stateful');
    expect(r.ping).toMatchObject({ sent: 10, received: 10 });
    expect(server.logs().find((l) => l.msg === 'session up')).toMatchObject({ mppe: 'MPPE-128 stateful' });
  }, 180_000);

  it('(h) 4 sessions spread over both data-plane threads (Call IDs of both parities): all ping, counters reach the main thread', async () => {
    const r = await runClient(['--sessions', '4', '--pings', '3', '--mppe', '128-stateful']);
    expect(r.sessions_connected).toBe(4);
    for (const s of r.sessions!) expect(s.ping).toMatchObject({ sent: 3, received: 3 });
    const callIds = server
      .logs()
      .filter((l) => l.msg === 'session up')
      .map((l) => Number(l.callId));
    expect(new Set(callIds.map((c) => c % 2)).size).toBe(2);
    // Each session's own counters, kept by whichever thread carried it: at least the 3 pings each way.
    const allClosed = () => server.logs().filter((l) => l.msg === 'session closed');
    for (let i = 0; i < 50 && allClosed().length < 5; i++) await new Promise((res) => setTimeout(res, 100)); // (f) + these 4
    const closed = allClosed().slice(-4);
    expect(closed.length).toBe(4);
    for (const c of closed) {
      const k = c.counters as { rxPackets: number; txPackets: number };
      expect(k.rxPackets).toBeGreaterThanOrEqual(3);
      expect(k.txPackets).toBeGreaterThanOrEqual(3);
    }
    expect(r.ok).toBe(true);
  }, 180_000);
});
