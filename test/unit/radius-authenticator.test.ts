// RadiusAuthenticator: what goes into the Access-Request and how the reply maps to the PPP verdict and
// the session's authorization; FallbackAuthenticator (radius-then-local); RadiusServices' BlastRADIUS warning.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { parseIpv4 } from '../../config/Ipv4.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import type { AuthResult, BasicAuthResult, ExtendedAuthenticator, MsChapV2Request } from '../../ppp/Authenticator.js';
import { getStartKeyV1 } from '../../ppp/mppe/MppeKeys.js';
import {
  addressAttribute,
  Attr,
  integerAttribute,
  MsAttr,
  readInteger,
  readText,
  taggedIntegerAttribute,
  textAttribute,
  TunnelType,
  VENDOR_MICROSOFT,
  vendorAttribute,
} from '../../radius/Dictionary.js';
import { RadiusNoResponseError, RadiusReply } from '../../radius/RadiusClient.js';
import { encodeMsChapMppeKeys, encryptMppeKey } from '../../radius/RadiusCrypto.js';
import { findAttribute, findVendorAttribute, isVendorAttribute, RadiusCode, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { FallbackAuthenticator } from '../../aaa/FallbackAuthenticator.js';
import { RadiusAuthenticator, RadiusUnavailableError, type RadiusAuthenticatorOptions } from '../../aaa/RadiusAuthenticator.js';
import { authenticatorForSession, type AuthSessionContext } from '../../aaa/SessionAuthContext.js';
import { createLogger } from '../../server/Logger.js';
import { RadiusServices, radiusSecurityWarnings } from '../../aaa/RadiusServices.js';

const SECRET = 'unit-secret-auth';
const SERVER = '192.0.2.5:1812';
const SEND_KEY = Buffer.from('8B7CDC149B993A1BA118CB153F56DCCB', 'hex');
const RECV_KEY = Buffer.from('D5F0E9521E3EA9589645E86051C82226', 'hex');
const SUCCESS = 'S=407a5589115fd0d6209f510fe9c04566932cda56';
const CONTEXT: AuthSessionContext = { sessionId: '18c0ffee-002a', callId: 42, peer: '203.0.113.7', local: '198.18.0.1' };

/** Tunnel 198.18.100.1 with the pool .10-.200; Framed-IP-Address may also lie in 198.19.0.0/24. */
const ADDRESSES = addressPolicyFor(
  validateConfig({ tun: { address: '198.18.100.1' }, pool: { start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.19.0.0/24'] }, dns: ['198.19.0.53'] }),
  [],
);

type Reply = { code: number; attributes: (requestAuthenticator: Buffer) => RadiusAttribute[] };

/** Records every Access-Request and answers with a RadiusReply built like RadiusClient builds one. */
class FakeAccessClient {
  readonly requests: RadiusAttribute[][] = [];
  constructor(public answer: Reply | Error) {}
  async access(attributes: RadiusAttribute[]): Promise<RadiusReply> {
    this.requests.push(attributes);
    if (this.answer instanceof Error) throw this.answer;
    const requestAuthenticator = randomBytes(16);
    return new RadiusReply(this.answer.code, 7, this.answer.attributes(requestAuthenticator), SERVER, requestAuthenticator, SECRET);
  }
}

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg?: string | undefined;
}
/** A real pino logger that also keeps what it wrote: the level's name, the logged object and the message. */
function memoryLog(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const write = (line: string) => {
    const { level, msg, ...obj } = JSON.parse(line) as { level: string; msg?: string } & Record<string, unknown>;
    lines.push({ level, obj, msg });
  };
  const log = pino({ level: 'debug', base: null, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, { write });
  return Object.assign(log, { lines });
}

function make(answer: Reply | Error, opts: Partial<RadiusAuthenticatorOptions> = {}) {
  const client = new FakeAccessClient(answer);
  const log = memoryLog();
  const auth = new RadiusAuthenticator({
    client,
    nas: { nasIdentifier: 'portico-test', nasIpAddress: '192.0.2.1' },
    mppe: { required: true, keyLengths: [128] },
    addresses: ADDRESSES,
    log,
    ...opts,
  });
  return { client, log, auth, bound: auth.forSession(CONTEXT) };
}

const ms = (type: number, value: Buffer): RadiusAttribute => vendorAttribute(VENDOR_MICROSOFT, type, value);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

function v2Request(username = 'alice'): MsChapV2Request {
  return {
    username,
    authenticatorChallenge: Buffer.alloc(16, 0xa1),
    peerChallenge: Buffer.alloc(16, 0xb2),
    ntResponse: Buffer.alloc(24, 0xc3),
  };
}

/** A FreeRADIUS-like MS-CHAPv2 Accept (radius README): Success, both keys, policy 2, types 4, plus `extra`. */
function v2Accept(extra: RadiusAttribute[] = [], omit: number[] = []): Reply {
  return {
    code: RadiusCode.AccessAccept,
    attributes: (ra) => [
      ...[
        { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) } as RadiusAttribute,
        ms(MsAttr.Chap2Success, Buffer.concat([Buffer.of(0), Buffer.from(SUCCESS, 'latin1')])),
        ms(MsAttr.MppeSendKey, encryptMppeKey(SEND_KEY, SECRET, ra, 0x8001)),
        ms(MsAttr.MppeRecvKey, encryptMppeKey(RECV_KEY, SECRET, ra, 0x8002)),
        ms(MsAttr.MppeEncryptionPolicy, u32(2)),
        ms(MsAttr.MppeEncryptionTypes, u32(4)),
      ].filter((a) => !(isVendorAttribute(a) && omit.includes(a.type))),
      ...extra,
    ],
  };
}

const reject = (attributes: RadiusAttribute[]): Reply => ({ code: RadiusCode.AccessReject, attributes: () => attributes });

describe('RadiusAuthenticator: MS-CHAPv2', () => {
  it('sends the PPP fields and the NAS attributes of the call (RFC 2548 §2.3, RFC 2865 §5)', async () => {
    const { client, bound } = make(v2Accept());
    const result = await bound.verifyMsChapV2(v2Request('CORP\\alice'));
    expect(result.ok).toBe(true);
    const req = client.requests[0]!;
    expect(readText(findAttribute(req, Attr.UserName)!)).toBe('CORP\\alice'); // as the peer sent it
    expect(findVendorAttribute(req, VENDOR_MICROSOFT, MsAttr.ChapChallenge)!.value).toEqual(Buffer.alloc(16, 0xa1));
    expect(findVendorAttribute(req, VENDOR_MICROSOFT, MsAttr.Chap2Response)!.value).toEqual(Buffer.concat([Buffer.of(0, 0), Buffer.alloc(16, 0xb2), Buffer.alloc(8), Buffer.alloc(24, 0xc3)]));
    const num = (t: number) => readInteger(findAttribute(req, t)!);
    const text = (t: number) => readText(findAttribute(req, t)!);
    expect(findAttribute(req, Attr.NasIpAddress)!.value).toEqual(Buffer.from([192, 0, 2, 1]));
    expect(text(Attr.NasIdentifier)).toBe('portico-test');
    expect(num(Attr.NasPort)).toBe(42);
    expect(num(Attr.NasPortType)).toBe(5); // Virtual
    expect(num(Attr.ServiceType)).toBe(2); // Framed
    expect(num(Attr.FramedProtocol)).toBe(1); // PPP
    expect(text(Attr.CallingStationId)).toBe('203.0.113.7');
    expect(text(Attr.CalledStationId)).toBe('198.18.0.1');
    expect(findAttribute(req, Attr.TunnelType)!.value).toEqual(Buffer.from([0, 0, 0, 1])); // tag 0, PPTP
    expect(findAttribute(req, Attr.TunnelMediumType)!.value).toEqual(Buffer.from([0, 0, 0, 1])); // IPv4
    expect(text(Attr.AcctSessionId)).toBe('18c0ffee-002a');
    expect(findAttribute(req, Attr.UserPassword)).toBeUndefined();
    expect(findAttribute(req, Attr.ProxyState)).toBeUndefined();
  });

  it('maps the Accept: S= response, decrypted master keys, address, timeouts, interim (≥ 60 s), every Class, DNS', async () => {
    const { bound, log } = make(
      v2Accept([
        addressAttribute(Attr.FramedIpAddress, '198.19.0.50'),
        integerAttribute(Attr.SessionTimeout, 3600),
        integerAttribute(Attr.IdleTimeout, 300),
        integerAttribute(Attr.AcctInterimInterval, 30),
        textAttribute(Attr.Class, 'pptp-class-alice'),
        { type: Attr.Class, value: Buffer.from([0, 1, 2, 0xff]) },
        ms(MsAttr.PrimaryDnsServer, Buffer.from([10, 0, 0, 53])),
        ms(MsAttr.SecondaryDnsServer, Buffer.from([10, 0, 0, 54])),
      ]),
    );
    const r = (await bound.verifyMsChapV2(v2Request())) as Extract<AuthResult, { ok: true }>;
    expect(r.ok).toBe(true);
    expect(r.authenticatorResponse).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
    expect(r.mppeKeys.sendKey).toEqual(SEND_KEY);
    expect(r.mppeKeys.recvKey).toEqual(RECV_KEY);
    expect(r.staticAddress).toBe(((198 << 24) | (19 << 16) | 50) >>> 0);
    expect(r.authorization).toEqual({
      source: `radius ${SERVER}`,
      sessionTimeout: 3600,
      idleTimeout: 300,
      interimInterval: 60,
      classes: [Buffer.from('pptp-class-alice'), Buffer.from([0, 1, 2, 0xff])],
      dns: [0x0a000035, 0x0a000036],
    });
    const accept = log.lines.find((l) => l.msg === 'RADIUS Access-Accept')!;
    expect(accept.obj).toMatchObject({ user: 'alice', staticAddress: '198.19.0.50', mppeKeys: true });
    // no key material in any log line
    const all = JSON.stringify(log.lines).toLowerCase();
    expect(all).not.toContain(SEND_KEY.toString('hex'));
    expect(all).not.toContain(RECV_KEY.toString('hex'));
  });

  it('Framed-IP-Address 255.255.255.254 (NAS assigns) gives no static address; no Session-Timeout means none', async () => {
    const { bound } = make(v2Accept([addressAttribute(Attr.FramedIpAddress, '255.255.255.254'), integerAttribute(Attr.SessionTimeout, 0)]));
    const r = (await bound.verifyMsChapV2(v2Request())) as Extract<AuthResult, { ok: true }>;
    expect(r.ok).toBe(true);
    expect(r.staticAddress).toBeUndefined();
    expect(r.authorization).toEqual({ source: `radius ${SERVER}` });
  });

  it('a Framed-IP-Address the address policy refuses refuses the login (E=691), with a log line naming the address and why', async () => {
    const refused: Array<[string, string, RegExp]> = [
      ['127.0.0.1', 'loopback', /^Framed-IP-Address 127\.0\.0\.1 is loopback \(127\.0\.0\.0\/8\)$/],
      ['224.0.0.1', 'multicast', /^Framed-IP-Address 224\.0\.0\.1 is multicast \(224\.0\.0\.0\/4\)$/],
      ['198.18.100.1', 'server', /^Framed-IP-Address 198\.18\.100\.1 is the server's tunnel address \(tun\.address\)$/],
      ['198.19.0.53', 'server', /^Framed-IP-Address 198\.19\.0\.53 is a DNS server given to clients \(dns\)$/],
      [
        '8.8.8.8',
        'outside',
        /^Framed-IP-Address 8\.8\.8\.8 is outside the pool \(198\.18\.100\.10-198\.18\.100\.200\), the tunnel network 198\.18\.100\.0\/24 and pool\.allowedStaticRanges \(198\.19\.0\.0\/24\)$/,
      ],
      ['198.20.0.50', 'outside', /is outside the pool/],
    ];
    for (const [address, rule, why] of refused) {
      const { bound, log } = make(v2Accept([addressAttribute(Attr.FramedIpAddress, address)]));
      const r = await bound.verifyMsChapV2(v2Request());
      expect(r, address).toMatchObject({ ok: false, errorCode: 691 });
      const line = log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused');
      expect(line?.level, address).toBe('warn');
      expect(line?.obj, address).toMatchObject({ user: 'alice', method: 'MS-CHAPv2', address, rule });
      expect(line?.obj.why, address).toMatch(why);
      expect((r as { message: string }).message).toBe(`refused Access-Accept from ${SERVER}: ${String(line?.obj.why)}`);
      expect(
        log.lines.some((l) => l.msg === 'RADIUS Access-Accept'),
        address,
      ).toBe(false);
    }
    // PAP and the other methods go through the same check.
    const pap = make({ code: RadiusCode.AccessAccept, attributes: () => [addressAttribute(Attr.FramedIpAddress, '169.254.1.1')] });
    expect(await pap.bound.verifyPap({ username: 'alice', password: Buffer.from('secret') })).toMatchObject({ ok: false, errorCode: 691 });
    expect(pap.log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused')?.obj).toMatchObject({ address: '169.254.1.1', rule: 'link-local' });
    // Inside the pool, the tunnel network or an allowed range: granted.
    for (const address of ['198.18.100.10', '198.18.100.200', '198.18.100.5', '198.19.0.1', '198.19.0.255']) {
      const { bound } = make(v2Accept([addressAttribute(Attr.FramedIpAddress, address)]));
      const r = await bound.verifyMsChapV2(v2Request());
      expect(r, address).toMatchObject({ ok: true, staticAddress: parseIpv4(address) });
    }
  });

  it('Access-Reject: E= from MS-CHAP-Error, else 691 with the Reply-Message', async () => {
    const withError = make(reject([ms(MsAttr.ChapError, Buffer.concat([Buffer.of(0), Buffer.from('E=648 R=0 C=00 V=3 M=expired')]))]));
    expect(await withError.bound.verifyMsChapV2(v2Request())).toEqual({ ok: false, errorCode: 648, message: `Access-Reject from ${SERVER}` });
    const plain = make(reject([textAttribute(Attr.ReplyMessage, 'carol is disabled')]));
    expect(await plain.bound.verifyMsChapV2(v2Request('carol'))).toEqual({
      ok: false,
      errorCode: 691,
      message: `Access-Reject from ${SERVER}: carol is disabled`,
    });
  });

  it('an Accept without MS-CHAP2-Success or without the MPPE keys is refused, with a log line saying why', async () => {
    const noSuccess = make(v2Accept([], [MsAttr.Chap2Success]));
    const a = await noSuccess.bound.verifyMsChapV2(v2Request());
    expect(a).toMatchObject({ ok: false, errorCode: 691 });
    expect(noSuccess.log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused')!.obj.why).toMatch(/MS-CHAP2-Success/);
    const noKeys = make(v2Accept([], [MsAttr.MppeRecvKey]));
    expect(await noKeys.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: false, errorCode: 691 });
    expect(noKeys.log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused')!.obj.why).toMatch(/MS-MPPE-Send-Key\/Recv-Key/);
  });

  it('never weakens our MPPE policy: 40-bit-only types or required encryption we would not enforce refuse the login', async () => {
    const only40 = make(v2Accept([ms(MsAttr.MppeEncryptionTypes, u32(2))], [MsAttr.MppeEncryptionTypes]));
    expect(await only40.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: false, errorCode: 691 });
    expect(only40.log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused')!.obj.why).toBe('RADIUS allows MPPE-40 (MS-MPPE-Encryption-Types 2), our policy requires MPPE-128');
    const none = make(v2Accept([ms(MsAttr.MppeEncryptionTypes, u32(0))], [MsAttr.MppeEncryptionTypes]));
    expect(await none.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: false });
    const requiredByRadius = make(v2Accept(), { mppe: { required: false, keyLengths: [128] } });
    expect(await requiredByRadius.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: false });
    expect(requiredByRadius.log.lines.find((l) => l.msg === 'RADIUS Access-Accept refused')!.obj.why).toMatch(/Encryption-Policy 2\) but mppe.required is false/);
    // 40+128 allowed by RADIUS, 128 required by us: fine; policy "allowed" never relaxes our "required"
    const both = make(v2Accept([ms(MsAttr.MppeEncryptionTypes, u32(6)), ms(MsAttr.MppeEncryptionPolicy, u32(1))], [MsAttr.MppeEncryptionTypes, MsAttr.MppeEncryptionPolicy]));
    expect(await both.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: true });
    // RADIUS narrower than our offer: logged, not silently ignored
    const narrower = make(v2Accept(), { mppe: { required: true, keyLengths: [40, 128] } });
    expect(await narrower.bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: true });
    expect(narrower.log.lines.some((l) => l.level === 'warn' && /narrower than mppe.keyLengths/.test(l.msg ?? ''))).toBe(true);
  });

  it('an Accept for another tunnel type only is a Reject (RFC 2868 §3.1)', async () => {
    const { bound } = make(v2Accept([taggedIntegerAttribute(Attr.TunnelType, TunnelType.L2tp)]));
    expect(await bound.verifyMsChapV2(v2Request())).toMatchObject({ ok: false, errorCode: 691 });
  });

  it('no server answered: E=691 with the reason, or RadiusUnavailableError for the fallback', async () => {
    const noAnswer = () =>
      new RadiusNoResponseError('access', [{ server: '127.0.0.1:18121', outcome: 'timeout', detail: '2 tries, last reply dropped: no Message-Authenticator (BlastRADIUS protection)' }]);
    const rejecting = make(noAnswer());
    const r = await rejecting.bound.verifyMsChapV2(v2Request());
    expect(r).toMatchObject({ ok: false, errorCode: 691 });
    expect((r as { message: string }).message).toMatch(/no Message-Authenticator \(BlastRADIUS protection\)/);
    const line = rejecting.log.lines.find((l) => l.msg === 'RADIUS login refused: no RADIUS server answered')!;
    expect(line.obj.why).toMatch(/BlastRADIUS/);
    const throwing = make(noAnswer(), { onUnavailable: 'throw' });
    await expect(throwing.bound.verifyMsChapV2(v2Request())).rejects.toBeInstanceOf(RadiusUnavailableError);
  });
});

describe('RadiusAuthenticator: PAP, CHAP-MD5, MS-CHAPv1', () => {
  it('PAP: User-Password in clear for the client to hide; Accept maps address and Class, no keys', async () => {
    const { client, bound } = make({
      code: RadiusCode.AccessAccept,
      attributes: () => [addressAttribute(Attr.FramedIpAddress, '198.19.0.50'), textAttribute(Attr.Class, 'c')],
    });
    const r = (await bound.verifyPap({ username: 'alice', password: Buffer.from('alice-pass') })) as Extract<BasicAuthResult, { ok: true }>;
    expect(r.ok).toBe(true);
    expect(r.mppeKeys).toBeUndefined();
    expect(r.staticAddress).toBe(0xc6130032);
    expect(r.authorization!.classes).toEqual([Buffer.from('c')]);
    expect(findAttribute(client.requests[0]!, Attr.UserPassword)!.value.toString()).toBe('alice-pass');
  });

  it('CHAP-MD5: CHAP-Password = Identifier ‖ Response and CHAP-Challenge (RFC 2865 §5.3, §5.40)', async () => {
    const { client, bound } = make(reject([]));
    const r = await bound.verifyChapMd5({ username: 'bob', identifier: 0x16, challenge: Buffer.alloc(16, 9), response: Buffer.alloc(16, 7) });
    expect(r).toEqual({ ok: false, errorCode: 691, message: `Access-Reject from ${SERVER}` });
    const req = client.requests[0]!;
    expect(findAttribute(req, Attr.ChapPassword)!.value).toEqual(Buffer.concat([Buffer.of(0x16), Buffer.alloc(16, 7)]));
    expect(findAttribute(req, Attr.ChapChallenge)!.value).toEqual(Buffer.alloc(16, 9));
  });

  it('MS-CHAPv1: MS-CHAP-Response = Ident · Flags · LM · NT; MS-CHAP-MPPE-Keys gives Get_Start_Key(challenge, NT-Key) both ways', async () => {
    const ntKey = Buffer.from('41c00c584bd2d91c4017a2a12fa59f3f', 'hex'); // PasswordHashHash of "clientPass"
    const challenge = Buffer.from('102db5df085d3041', 'hex');
    const { client, bound } = make({
      code: RadiusCode.AccessAccept,
      attributes: (ra) => [ms(MsAttr.ChapMppeKeys, encodeMsChapMppeKeys({ lmKey: Buffer.alloc(8), ntKey }, SECRET, ra))],
    });
    const r = (await bound.verifyMsChapV1({ username: 'bob', challenge, lmResponse: Buffer.alloc(24), ntResponse: Buffer.alloc(24, 0x4e), flags: 1 })) as Extract<BasicAuthResult, { ok: true }>;
    expect(r.ok).toBe(true);
    // RFC 3079 §2.5 InitialSessionKey for this challenge and password
    expect(r.mppeKeys!.sendKey.toString('hex')).toBe('a8947850cfc0acc1d1789fb62ddcddb0');
    expect(r.mppeKeys!.recvKey).toEqual(getStartKeyV1(challenge, ntKey));
    const req = client.requests[0]!;
    expect(findVendorAttribute(req, VENDOR_MICROSOFT, MsAttr.ChapChallenge)!.value).toEqual(challenge);
    expect(findVendorAttribute(req, VENDOR_MICROSOFT, MsAttr.ChapResponse)!.value).toEqual(Buffer.concat([Buffer.of(0, 1), Buffer.alloc(24), Buffer.alloc(24, 0x4e)]));
  });

  it('without a bound call the request still names the NAS (no port, no stations)', async () => {
    const { client, auth } = make(reject([]));
    await auth.verifyPap({ username: 'x', password: Buffer.from('y') });
    const req = client.requests[0]!;
    expect(findAttribute(req, Attr.NasIdentifier)).toBeDefined();
    expect(findAttribute(req, Attr.NasPort)).toBeUndefined();
    expect(findAttribute(req, Attr.CallingStationId)).toBeUndefined();
  });
});

class FakeLocal implements ExtendedAuthenticator {
  calls = 0;
  async verifyMsChapV2(): Promise<AuthResult> {
    this.calls++;
    return { ok: true, authenticatorResponse: `S=${'A'.repeat(40)}`, mppeKeys: { sendKey: Buffer.alloc(16, 1), recvKey: Buffer.alloc(16, 2) } };
  }
}

describe('FallbackAuthenticator (radius-then-local)', () => {
  const unavailable = new RadiusNoResponseError('access', [{ server: '127.0.0.1:18121', outcome: 'timeout', detail: '3 tries, no reply' }]);

  it('asks the local store only when no RADIUS server answered', async () => {
    const { auth } = make(unavailable, { onUnavailable: 'throw' });
    const local = new FakeLocal();
    const log = memoryLog();
    const fallback = new FallbackAuthenticator(auth, local, log).forSession(CONTEXT);
    const r = await fallback.verifyMsChapV2(v2Request());
    expect(r).toMatchObject({ ok: true, authorization: { source: 'local (RADIUS unavailable)' } });
    expect(local.calls).toBe(1);
    expect(log.lines.some((l) => l.msg === 'no RADIUS server answered: asking the local user store')).toBe(true);
  });

  it('an Access-Reject is final: the local store is not asked', async () => {
    const { auth, client } = make(reject([textAttribute(Attr.ReplyMessage, 'carol is disabled')]), { onUnavailable: 'throw' });
    const local = new FakeLocal();
    const fallback = new FallbackAuthenticator(auth, local, memoryLog()).forSession(CONTEXT);
    expect(await fallback.verifyMsChapV2(v2Request('carol'))).toMatchObject({ ok: false, errorCode: 691 });
    expect(local.calls).toBe(0);
    // the session context reached the RADIUS request through the fallback
    expect(readInteger(findAttribute(client.requests[0]!, Attr.NasPort)!)).toBe(42);
  });

  it('a protocol the local store lacks fails cleanly when RADIUS is down', async () => {
    const { auth } = make(unavailable, { onUnavailable: 'throw' });
    const fallback = new FallbackAuthenticator(auth, new FakeLocal(), memoryLog());
    expect(await fallback.verifyPap({ username: 'a', password: Buffer.from('b') })).toMatchObject({ ok: false, errorCode: 691 });
  });

  it('authenticatorForSession leaves a backend without forSession as it is', () => {
    const local = new FakeLocal();
    expect(authenticatorForSession(local, CONTEXT)).toBe(local);
  });
});

describe('RadiusServices', () => {
  const base = {
    auth: { backend: 'radius' },
    radius: { servers: [{ address: '127.0.0.1', authPort: 18121, acctPort: 18131, secret: 'testing123-pptp' }] },
  };

  it('warns loudly (BlastRADIUS) when requireMessageAuthenticator is false, and only then', async () => {
    expect(radiusSecurityWarnings(validateConfig(base))).toEqual([]);
    const relaxed = validateConfig({ ...base, radius: { ...base.radius, requireMessageAuthenticator: false } });
    expect(radiusSecurityWarnings(relaxed)).toHaveLength(1);
    expect(radiusSecurityWarnings(relaxed)[0]).toMatch(/BlastRADIUS, CVE-2024-3596/);

    const dir = mkdtempSync(join(tmpdir(), 'portico-radius-services-'));
    try {
      const lines: string[] = [];
      const sink = new Writable({
        write: (chunk, _e, cb) => {
          lines.push(String(chunk));
          cb();
        },
      });
      const log = createLogger('info', sink);
      const services = RadiusServices.create({ ...relaxed, dataDir: dir }, { local: new FakeLocal(), addresses: ADDRESSES, log })!;
      expect(services.authenticator).toBeInstanceOf(RadiusAuthenticator);
      await services.stop();
      await new Promise((r) => setTimeout(r, 20));
      const warn = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => /BlastRADIUS/.test(l.msg));
      expect(warn?.level).toBe(40); // pino warn
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds the backend per auth.backend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-radius-services-'));
    try {
      const log = createLogger('silent' as 'info', new Writable({ write: (_c, _e, cb) => cb() }));
      const fallback = RadiusServices.create(validateConfig({ ...base, dataDir: dir, auth: { backend: 'radius-then-local' } }), { local: new FakeLocal(), addresses: ADDRESSES, log })!;
      expect(fallback.authenticator).toBeInstanceOf(FallbackAuthenticator);
      await fallback.stop();
      const local = RadiusServices.create(validateConfig({ ...base, dataDir: dir, auth: { backend: 'local' } }), { local: new FakeLocal(), addresses: ADDRESSES, log })!;
      expect(local.authenticator).toBeNull(); // accounting only
      await local.stop();
      expect(RadiusServices.create(validateConfig({ dataDir: dir }), { local: new FakeLocal(), addresses: ADDRESSES, log })).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
