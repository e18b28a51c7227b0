// Per-user DNS from the backend (RADIUS MS-Primary/Secondary-DNS-Server → authorization.dns) wins over
// the configured servers in IPCP options 129/131 (RFC 1877).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AuthResult, Authenticator, SessionAuthorization } from '../../ppp/Authenticator.js';
import { PppLink } from '../../ppp/PppLink.js';

const LCP = 0xc021;
const CHAP = 0xc223;
const IPCP = 0x8021;

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
const bytes = (n: number): number[] => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
function cp(code: number, id: number, data: number[] | Buffer = []): Buffer {
  const d = Buffer.from(data);
  const b = Buffer.alloc(4 + d.length);
  b[0] = code;
  b[1] = id;
  b.writeUInt16BE(4 + d.length, 2);
  d.copy(b, 4);
  return b;
}

const ASSIGNED = ip('198.18.100.10');
const CONFIGURED = [ip('198.18.100.53'), ip('198.18.100.54')];

/** Brings a link to IPCP and returns the server's answer to the client's <addr 0> <ms-dns1 0> <ms-dns2 0>. */
async function ipcpAnswer(authorization: SessionAuthorization | undefined): Promise<Buffer> {
  const sent: Array<{ protocol: number; payload: Buffer }> = [];
  const take = (protocol: number) => {
    const out = sent.filter((s) => s.protocol === protocol).map((s) => s.payload);
    for (let i = sent.length - 1; i >= 0; i--) if (sent[i]!.protocol === protocol) sent.splice(i, 1);
    return out;
  };
  const authenticator: Authenticator = {
    async verifyMsChapV2(): Promise<AuthResult> {
      return {
        ok: true,
        authenticatorResponse: `S=${'0'.repeat(40)}`,
        mppeKeys: { sendKey: Buffer.alloc(16, 1), recvKey: Buffer.alloc(16, 2) },
        ...(authorization ? { authorization } : {}),
      };
    },
  };
  const link = new PppLink(
    {
      serverName: 'portico',
      localAddress: ip('198.18.100.1'),
      dns: CONFIGURED,
      wins: [],
      mppe: { required: true, bits: [128], mode: 'prefer-stateless' },
      lcpEchoInterval: 0,
      lcpEchoFailure: 4,
    },
    {
      send: (protocol, payload) => sent.push({ protocol, payload: Buffer.from(payload) }),
      authenticator,
      assignAddress: () => ASSIGNED,
      networkUp: () => {},
      resetRequested: () => {},
      finished: () => {},
      log: pino({ level: 'silent' }),
    },
  );
  link.start();
  const [ours] = take(LCP);
  const peerOptions = [0x05, 0x06, 0x1a, 0x2b, 0x3c, 0x4d];
  link.input(LCP, cp(1, 1, peerOptions));
  link.input(LCP, cp(2, ours![1]!, ours!.subarray(4)));
  const [challenge] = take(CHAP);
  expect(challenge![0]).toBe(1);
  const value = Buffer.concat([Buffer.alloc(16, 0x21), Buffer.alloc(8), Buffer.alloc(24, 0x5a), Buffer.of(0)]);
  link.input(CHAP, cp(2, challenge![1]!, Buffer.concat([Buffer.of(49), value, Buffer.from('alice')])));
  for (let i = 0; i < 10; i++) await Promise.resolve();
  expect(link.phase).toBe('network');
  take(IPCP);
  link.input(IPCP, cp(1, 9, [0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0, 0x83, 0x06, 0, 0, 0, 0]));
  const [answer] = take(IPCP);
  return answer!;
}

describe('IPCP name servers per user', () => {
  it('without authorization.dns the configured servers are given', async () => {
    expect(await ipcpAnswer(undefined)).toEqual(cp(3, 9, [0x03, 0x06, ...bytes(ASSIGNED), 0x81, 0x06, ...bytes(CONFIGURED[0]!), 0x83, 0x06, ...bytes(CONFIGURED[1]!)]));
  });

  it("the user's two servers replace both configured ones", async () => {
    const mine = [ip('10.1.1.53'), ip('10.1.1.54')];
    expect(await ipcpAnswer({ dns: mine })).toEqual(cp(3, 9, [0x03, 0x06, ...bytes(ASSIGNED), 0x81, 0x06, ...bytes(mine[0]!), 0x83, 0x06, ...bytes(mine[1]!)]));
  });

  it('one server from the user: the secondary is not mixed in from the configuration (Rejected)', async () => {
    expect(await ipcpAnswer({ dns: [ip('10.1.1.53')] })).toEqual(cp(4, 9, [0x83, 0x06, 0, 0, 0, 0]));
  });
});
