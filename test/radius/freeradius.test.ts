// Interop with a real FreeRADIUS 3.2.1 (test/lab/radius/freeradius.sh): PAP, MS-CHAPv1/v2 with MPPE
// keys, Reject paths, accounting, BlastRADIUS policy, failover; radclient as Dynamic Authorization
// Client against our DasServer. Only 127.0.0.1 is used.

import { execFileSync, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RadiusClient, RadiusNoResponseError, type RadiusClientOptions } from '../../radius/RadiusClient.js';
import { DasServer, type DasRequest } from '../../radius/DasServer.js';
import {
  AcctStatusType,
  AcctTerminateCause,
  addressAttribute,
  Attr,
  integerAttribute,
  MsAttr,
  NasPortType,
  readAddress,
  readInteger,
  readText,
  ServiceType,
  textAttribute,
  VENDOR_MICROSOFT,
  vendorAttribute,
} from '../../radius/Dictionary.js';
import type { RadiusAttribute } from '../../radius/RadiusPacket.js';
import { generateAuthenticatorResponse, generateNtResponse, hashNtPasswordHash, ntChallengeResponseV1, ntPasswordHash, verifyMsChapV2 } from '../../ppp/auth/MsChapCrypto.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = path.join(REPO, 'test', 'lab', 'radius', 'freeradius.sh');
const SECRET = 'testing123-pptp';
const AUTH_PORT = 18121;
const ACCT_PORT = 18131;

const runDir = mkdtempSync(path.join(tmpdir(), 'portico-freeradius-'));
const baseEnv = { ...process.env, RADIUS_RUN_DIR: runDir, RADIUS_AUTH_PORT: String(AUTH_PORT), RADIUS_ACCT_PORT: String(ACCT_PORT) };

function freeradius(cmd: 'start' | 'stop', extraEnv: Record<string, string> = {}): void {
  execFileSync('bash', [SCRIPT, cmd], { env: { ...baseEnv, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
}

const clients: RadiusClient[] = [];
function client(opts: Partial<RadiusClientOptions> = {}): RadiusClient {
  const c = new RadiusClient({
    servers: [{ address: '127.0.0.1', authPort: AUTH_PORT, acctPort: ACCT_PORT, secret: SECRET }],
    timeoutMs: 1500,
    tries: 2,
    nasIdentifier: 'portico-test',
    log: pino({ level: 'silent' }),
    ...opts,
  });
  clients.push(c);
  return c;
}

const NAS: RadiusAttribute[] = [
  addressAttribute(Attr.NasIpAddress, '127.0.0.1'),
  integerAttribute(Attr.NasPortType, NasPortType.Virtual),
  integerAttribute(Attr.ServiceType, ServiceType.Framed),
  integerAttribute(Attr.FramedProtocol, 1),
];

function pap(user: string, password: string): RadiusAttribute[] {
  return [textAttribute(Attr.UserName, user), { type: Attr.UserPassword, value: Buffer.from(password) }, ...NAS];
}

/** An MS-CHAPv2 exchange as the PPP layer would relay it (RFC 2548 §2.3, VSA field order). */
function msChapV2(user: string, password: string, ident = 0x2a) {
  const authChallenge = randomBytes(16);
  const peerChallenge = randomBytes(16);
  const hash = ntPasswordHash(password);
  const ntResponse = generateNtResponse(authChallenge, peerChallenge, user, hash);
  const response = Buffer.concat([Buffer.of(ident, 0), peerChallenge, Buffer.alloc(8), ntResponse]);
  const attributes: RadiusAttribute[] = [
    textAttribute(Attr.UserName, user),
    vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapChallenge, authChallenge),
    vendorAttribute(VENDOR_MICROSOFT, MsAttr.Chap2Response, response),
    ...NAS,
  ];
  return { attributes, authChallenge, peerChallenge, ntResponse, hash, ident };
}

beforeAll(() => {
  freeradius('start');
});

afterAll(() => {
  for (const c of clients) c.close();
  try {
    freeradius('stop');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

describe('RadiusClient against FreeRADIUS 3.2.1', () => {
  it('PAP alice: Access-Accept with Framed-IP-Address 198.19.0.50, Class, Session-Timeout (reply MA verified)', async () => {
    const r = await client().access(pap('alice', 'alice-pass'));
    expect(r.isAccept).toBe(true);
    expect(readAddress(r.get(Attr.FramedIpAddress)!)).toBe('198.19.0.50');
    expect(readText(r.get(Attr.Class)!)).toBe('pptp-class-alice');
    expect(readInteger(r.get(Attr.SessionTimeout)!)).toBe(3600);
    expect(r.get(Attr.MessageAuthenticator)).toBeDefined();
    // what the server received: our Message-Authenticator (it requires one) and NAS attributes
    const detail = readFileSync(path.join(runDir, 'auth', 'detail'), 'utf8');
    expect(detail).toMatch(/User-Name = "alice"/);
    expect(detail).toMatch(/Message-Authenticator = 0x/);
    expect(detail).toMatch(/NAS-Identifier = "portico-test"/);
    expect(detail).toMatch(/NAS-Port-Type = Virtual/);
  });

  it('MS-CHAPv2 alice: MS-CHAP2-Success matches GenerateAuthenticatorResponse; MPPE keys equal the server-side master keys', async () => {
    const x = msChapV2('alice', 'alice-pass');
    const r = await client().access(x.attributes);
    expect(r.isAccept).toBe(true);
    const success = r.getVendor(VENDOR_MICROSOFT, MsAttr.Chap2Success)!.value;
    expect(success[0]).toBe(x.ident);
    expect(success.subarray(1).toString('ascii')).toBe(generateAuthenticatorResponse(x.hash, x.ntResponse, x.peerChallenge, x.authChallenge, 'alice'));

    const local = verifyMsChapV2(x.hash, x.authChallenge, x.peerChallenge, 'alice', x.ntResponse)!;
    expect(local).not.toBeNull();
    expect(r.mppeSendKey()!.toString('hex')).toBe(local.masterSendKey.toString('hex'));
    expect(r.mppeRecvKey()!.toString('hex')).toBe(local.masterRecvKey.toString('hex'));
    expect(r.getVendor(VENDOR_MICROSOFT, MsAttr.MppeSendKey)!.value.length).toBe(34);
    expect(readInteger(r.getVendor(VENDOR_MICROSOFT, MsAttr.MppeEncryptionPolicy)!)).toBe(2);
    expect(readInteger(r.getVendor(VENDOR_MICROSOFT, MsAttr.MppeEncryptionTypes)!)).toBe(4);
  });

  it('MS-CHAPv2 bob (NT hash only on the server): Accept with Class and MPPE keys', async () => {
    const x = msChapV2('bob', 'bob-pass', 7);
    const r = await client().access(x.attributes);
    expect(r.isAccept).toBe(true);
    expect(readText(r.get(Attr.Class)!)).toBe('pptp-class-bob');
    const local = verifyMsChapV2(x.hash, x.authChallenge, x.peerChallenge, 'bob', x.ntResponse)!;
    expect(r.mppeSendKey()!.equals(local.masterSendKey)).toBe(true);
    expect(r.mppeRecvKey()!.equals(local.masterRecvKey)).toBe(true);
  });

  it('MS-CHAPv1 bob: MS-CHAP-MPPE-Keys decodes to 8 zero octets + PasswordHashHash', async () => {
    const challenge = randomBytes(8);
    const hash = ntPasswordHash('bob-pass');
    const response = Buffer.concat([Buffer.of(3, 1), Buffer.alloc(24), ntChallengeResponseV1(challenge, hash)]);
    const r = await client().access([
      textAttribute(Attr.UserName, 'bob'),
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapChallenge, challenge),
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapResponse, response),
      ...NAS,
    ]);
    expect(r.isAccept).toBe(true);
    const keys = r.msChapMppeKeys()!;
    expect(keys.lmKey.equals(Buffer.alloc(8))).toBe(true);
    expect(keys.ntKey.equals(hashNtPasswordHash(hash))).toBe(true);
  });

  it('carol: Access-Reject with Reply-Message, nothing else leaks', async () => {
    const r = await client().access(pap('carol', 'carol-pass'));
    expect(r.isReject).toBe(true);
    expect(readText(r.get(Attr.ReplyMessage)!)).toBe('carol is disabled');
    expect(r.get(Attr.Class)).toBeUndefined();
  });

  it('wrong MS-CHAPv2 password: Access-Reject with MS-CHAP-Error E=691', async () => {
    const x = msChapV2('alice', 'not-alice-pass', 0x11);
    const r = await client().access(x.attributes);
    expect(r.isReject).toBe(true);
    const err = r.getVendor(VENDOR_MICROSOFT, MsAttr.ChapError)!.value;
    expect(err[0]).toBe(0x11);
    expect(err.subarray(1).toString('ascii')).toMatch(/^E=691 R=\d C=[0-9A-Fa-f]{32} V=3/);
  });

  it('Accounting Start and Stop are acknowledged and appear in the detail file', async () => {
    const c = client();
    const session = `portico-${Date.now()}`;
    const common = [
      textAttribute(Attr.AcctSessionId, session),
      textAttribute(Attr.UserName, 'alice'),
      ...NAS.slice(0, 2),
      addressAttribute(Attr.FramedIpAddress, '198.19.0.50'),
      textAttribute(Attr.Class, 'pptp-class-alice'),
    ];
    const start = await c.accounting([integerAttribute(Attr.AcctStatusType, AcctStatusType.Start), ...common]);
    expect(start.code).toBe(5);
    const stop = await c.accounting([
      integerAttribute(Attr.AcctStatusType, AcctStatusType.Stop),
      ...common,
      integerAttribute(Attr.AcctSessionTime, 42),
      integerAttribute(Attr.AcctInputOctets, 1234),
      integerAttribute(Attr.AcctOutputOctets, 5678),
      integerAttribute(Attr.AcctTerminateCause, AcctTerminateCause.UserRequest),
    ]);
    expect(stop.code).toBe(5);
    const records = readFileSync(path.join(runDir, 'acct', 'detail'), 'utf8')
      .split(/\n\n+/)
      .filter((r) => r.includes(`Acct-Session-Id = "${session}"`));
    expect(records).toHaveLength(2);
    expect(records[0]).toMatch(/Acct-Status-Type = Start/);
    expect(records[1]).toMatch(/Acct-Status-Type = Stop/);
    expect(records[1]).toMatch(/Acct-Session-Time = 42/);
    expect(records[1]).toMatch(/Acct-Terminate-Cause = User-Request/);
  });

  it('failover: a dead first server is skipped after its timeouts, the real one answers, the dead-time is honoured', async () => {
    const sink: Socket = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    let sunk = 0;
    sink.on('message', () => sunk++);
    try {
      const deadPort = sink.address().port;
      const c = client({
        servers: [
          { address: '127.0.0.1', authPort: deadPort, acctPort: deadPort, secret: SECRET },
          { address: '127.0.0.1', authPort: AUTH_PORT, acctPort: ACCT_PORT, secret: SECRET },
        ],
        timeoutMs: 200,
        tries: 2,
        deadTimeSec: 30,
      });
      const first = await c.access(pap('alice', 'alice-pass'));
      expect(first.isAccept).toBe(true);
      expect(first.server).toBe(`127.0.0.1:${AUTH_PORT}`);
      expect(sunk).toBe(2);
      expect(c.isServerDead('127.0.0.1', deadPort)).toBe(true);

      const t0 = Date.now();
      const second = await c.access(pap('dave', 'dave-pass'));
      expect(second.isAccept).toBe(true);
      expect(readInteger(second.get(Attr.IdleTimeout)!)).toBe(300);
      expect(Date.now() - t0).toBeLessThan(200);
      expect(sunk).toBe(2);
    } finally {
      await new Promise<void>((r) => sink.close(() => r()));
    }
  });
});

describe('radclient as Dynamic Authorization Client → DasServer', () => {
  it('Disconnect-Request with and without Message-Authenticator → Disconnect-ACK; unknown session → NAK 503', async () => {
    const seen: DasRequest[] = [];
    const das = new DasServer({
      clients: [{ address: '127.0.0.1', secret: SECRET }],
      bindAddress: '127.0.0.1',
      port: 0,
      handler: async (req) => {
        seen.push(req);
        return req.acctSessionId === 'pptp-0001' ? { ack: true } : { ack: false, errorCause: 503 };
      },
      // Relaxed to exercise both encodings; the defaults (both required) are test/radius/das-replay.test.ts's.
      requireMessageAuthenticator: false,
      requireEventTimestamp: false,
      log: pino({ level: 'silent' }),
    });
    const { port } = await das.listen();
    const radclient = (input: string, kind: 'disconnect' | 'coa') => runRadclient(['-x', '-r', '1', '-t', '2', `127.0.0.1:${port}`, kind, SECRET], input);
    try {
      const withMa = await radclient('User-Name=alice,Acct-Session-Id=pptp-0001,NAS-IP-Address=127.0.0.1,Message-Authenticator=0x00', 'disconnect');
      expect(withMa.out).toMatch(/Received Disconnect-ACK/);
      expect(withMa.status).toBe(0);
      const plain = await radclient('User-Name=alice,Acct-Session-Id=pptp-0001', 'disconnect');
      expect(plain.out).toMatch(/Received Disconnect-ACK/);
      const coa = await radclient('User-Name=alice,Acct-Session-Id=pptp-0001,Session-Timeout=120', 'coa');
      expect(coa.out).toMatch(/Received CoA-ACK/);
      const nak = await radclient('User-Name=alice,Acct-Session-Id=pptp-0404', 'disconnect');
      expect(nak.out).toMatch(/Received Disconnect-NAK/);
      expect(nak.out).toMatch(/Error-Cause = Session-Context-Not-Found/);
      expect(nak.status).not.toBe(0);
      expect(seen.map((r) => [r.kind, r.userName, r.acctSessionId, r.hasMessageAuthenticator])).toEqual([
        ['disconnect', 'alice', 'pptp-0001', true],
        ['disconnect', 'alice', 'pptp-0001', false],
        ['coa', 'alice', 'pptp-0001', false],
        ['disconnect', 'alice', 'pptp-0404', false],
      ]);
    } finally {
      await das.close();
    }
  });
});

describe('BlastRADIUS policy against stock replies (RADIUS_REPLY_MA=no)', () => {
  beforeAll(() => {
    freeradius('start', { RADIUS_REPLY_MA: 'no' });
  });

  it('an Access-Accept without Message-Authenticator is dropped by default (clear error) and accepted with requireMessageAuthenticator:false', async () => {
    const strict = client({ timeoutMs: 300, tries: 2 });
    const err = await strict.access(pap('alice', 'alice-pass')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RadiusNoResponseError);
    expect((err as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${AUTH_PORT} timeout \\(2 tries, last reply dropped: no Message-Authenticator`));

    const legacy = client({ requireMessageAuthenticator: false });
    const r = await legacy.access(pap('alice', 'alice-pass'));
    expect(r.isAccept).toBe(true);
    expect(r.get(Attr.MessageAuthenticator)).toBeUndefined();
    expect(readAddress(r.get(Attr.FramedIpAddress)!)).toBe('198.19.0.50');
  });
});

/** radclient without blocking the event loop (our DasServer must answer it from this process). */
function runRadclient(args: string[], input: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('radclient', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out }));
    child.stdin.end(`${input}\n`);
  });
}
