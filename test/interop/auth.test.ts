// The weak authentication protocols against the real Linux client (pptp-linux + pppd + kernel MPPE in a
// QEMU VM): PAP and MS-CHAPv1 when the policy allows them, and PAP refused by the default policy.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Our own namespace unless the caller names one (Lab.ts reads the variable when it is imported).
vi.hoisted(() => {
  process.env.PORTICO_TEST_NETNS ??= 'portico-auth';
});

import { BASE_CONFIG, labDown, labUp, runClient, startServer, TUN_IP, type ServerHandle } from './Lab.js';

const inPool = (ip: string | null) => {
  const last = Number(ip?.split('.')[3]);
  return ip?.startsWith('198.18.100.') === true && last >= 10 && last <= 200;
};

describe('weak protocols allowed by the policy, MPPE optional', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    server = await startServer({ ...BASE_CONFIG, auth: { protocols: ['mschapv2', 'mschap', 'pap'] }, mppe: { required: false } }, [['labuser', 'lab-password']]);
  });

  afterAll(async () => {
    await server?.stop();
    labDown();
  });

  it('warns at start that weak protocols are allowed', () => {
    expect(server.logs().find((l) => l.msg === 'weak authentication protocols allowed (MS-CHAPv1, CHAP-MD5, PAP)')).toMatchObject({
      protocols: ['mschapv2', 'mschap', 'pap'],
    });
  });

  it('PAP without MPPE: the client Naks MS-CHAPv2 with PAP, connects and pings', async () => {
    const r = await runClient(['--auth', 'pap', '--mppe', 'none', '--pings', '5']);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.auth).toBe('PAP');
    expect(r.mppe).toBeNull();
    expect(inPool(r.local_ip)).toBe(true);
    expect(r.remote_ip).toBe(TUN_IP);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    expect(r.log_tail).toMatch(/rcvd \[PAP AuthAck id=0x[0-9a-f]+ "Access granted"\]/);
    expect(r.ok).toBe(true);
    const up = server
      .logs()
      .filter((l) => l.msg === 'session up')
      .pop();
    expect(up).toMatchObject({ user: 'labuser', address: r.local_ip, auth: 'PAP', mppe: 'none' });
  }, 180_000);

  it('MS-CHAPv1 with MPPE-128: connects encrypted and pings', async () => {
    const r = await runClient(['--auth', 'mschap', '--mppe', '128', '--pings', '5']);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.auth).toBe('MS-CHAP');
    expect(r.mppe).toBe('128-bit stateless');
    expect(inPool(r.local_ip)).toBe(true);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    expect(r.ok).toBe(true);
    const up = server
      .logs()
      .filter((l) => l.msg === 'session up')
      .pop();
    expect(up).toMatchObject({ user: 'labuser', address: r.local_ip, auth: 'MS-CHAPv1', mppe: 'MPPE-128 stateless' });
  }, 180_000);
});

describe('default policy (MS-CHAPv2 only, MPPE required)', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    server = await startServer(BASE_CONFIG, [['labuser', 'lab-password']]);
  });

  afterAll(async () => {
    await server?.stop();
    labDown();
  });

  it('a PAP-only client is refused during LCP, before any password is sent', async () => {
    const r = await runClient(['--auth', 'pap', '--mppe', 'none', '--pings', '0', '--expect-fail']);
    expect(r.connected).toBe(false);
    expect(r.log_tail).toMatch(/rcvd \[LCP TermReq id=0x[0-9a-f]+ "peer refused MS-CHAPv2 \(suggested PAP\)"\]/);
    expect(r.log_tail).not.toMatch(/sent \[PAP AuthReq/);
    expect(r.ok).toBe(true);
    expect(server.logs().find((l) => l.msg === 'negotiation refused by peer')).toMatchObject({
      protocol: 'LCP',
      reason: 'peer refused MS-CHAPv2 (suggested PAP)',
    });
    expect(server.logs().some((l) => l.msg === 'session up')).toBe(false);
  }, 120_000);
});
