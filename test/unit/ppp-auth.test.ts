import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../config/PorticoConfig.js';
import { AuthProtocolOption } from '../../ppp/lcp/options/AuthProtocol.js';
import type { AuthResult, BasicAuthResult, ChapMd5Request, ExtendedAuthenticator, MsChapV1Request, MsChapV2Request, PapRequest } from '../../ppp/Authenticator.js';
import { authMethodOfOption, offeredAuthMethods, type AuthServerEvents, type AuthSuccess } from '../../ppp/auth/AuthMethod.js';
import { ChapMd5Server } from '../../ppp/auth/ChapMd5Server.js';
import { ntChallengeResponseV1 } from '../../ppp/auth/MsChapCrypto.js';
import { MsChapV1Server } from '../../ppp/auth/MsChapV1Server.js';
import { MalformedPapRequestError, PapServer, parsePapRequest } from '../../ppp/auth/PapServer.js';
import { initialSessionKey } from '../../ppp/mppe/MppeKeys.js';
import { linkAuthMethods, NO_MPPE_KEYS_REASON, PppLink, type PppLinkConfig, type PppNetworkInfo } from '../../ppp/PppLink.js';
import { LocalAuthenticator } from '../../aaa/LocalAuthenticator.js';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';

const silent = pino({ level: 'silent' });
const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const LCP = 0xc021;
const PAP = 0xc023;
const CHAP = 0xc223;
const IPCP = 0x8021;
const CCP = 0x80fd;

/** RFC 2433 B.2 / RFC 3079 §2.5 challenge. */
const V1_CHALLENGE = hex('10 2D B5 DF 08 5D 30 41');

function cp(code: number, id: number, data: number[] | Buffer = []): Buffer {
  const d = Buffer.from(data);
  const b = Buffer.alloc(4 + d.length);
  b[0] = code;
  b[1] = id;
  b.writeUInt16BE(4 + d.length, 2);
  d.copy(b, 4);
  return b;
}

function papRequest(id: number, user: string, password: string): Buffer {
  const u = Buffer.from(user);
  const p = Buffer.from(password);
  return cp(1, id, Buffer.concat([Buffer.from([u.length]), u, Buffer.from([p.length]), p]));
}

function papReply(code: number, id: number, message: string): Buffer {
  return cp(code, id, Buffer.concat([Buffer.from([message.length]), Buffer.from(message)]));
}

/** MS-CHAPv1 Response value: LM-Response (zero) ‖ NT-Response ‖ Flags (RFC 2433 §4). */
function msChapV1Response(id: number, nt: Buffer, name: string, flags = 1): Buffer {
  return cp(2, id, Buffer.concat([Buffer.from([49]), Buffer.alloc(24), nt, Buffer.from([flags]), Buffer.from(name)]));
}

/** Fixed "random" source: 1 octet → the Identifier, 8/16 octets → the challenge, anything else → pattern. */
function fixedRandom(id: number, challenge: Buffer) {
  return (size: number): Buffer => {
    if (size === 1) return Buffer.from([id]);
    if (size === challenge.length) return Buffer.from(challenge);
    return Buffer.alloc(size, 0xab);
  };
}

function localStore(users: Array<[string, string]>): { users: UserStore; local: LocalAuthenticator } {
  // minPasswordLength 1: the RFC 2433 vectors' password is "MyPw".
  const store = new UserStore(mkdtempSync(join(tmpdir(), 'portico-auth-')), addressPolicyFor(validateConfig({}), []), 1);
  for (const [name, pw] of users) store.add(name, pw);
  return { users: store, local: new LocalAuthenticator(store) };
}

function recorder() {
  const sent: Buffer[] = [];
  const successes: AuthSuccess[] = [];
  const failures: Array<{ reason: string; user: string | null }> = [];
  const events: AuthServerEvents = {
    send: (p) => sent.push(Buffer.from(p)),
    succeeded: (r) => successes.push(r),
    failed: (reason, user) => failures.push({ reason, user }),
  };
  return { sent, successes, failures, events };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('MS-CHAPv1 server with the local store (RFC 2433, RFC 3079 §2)', () => {
  it('RFC 2433 B.2: the NT-Response for "MyPw" is accepted and answered with Success', async () => {
    const { local } = localStore([['mypwuser', 'MyPw']]);
    const verify = vi.spyOn(local, 'verifyMsChapV1');
    const r = recorder();
    const server = new MsChapV1Server({ serverName: 'portico', authenticator: local, log: silent, randomBytes: fixedRandom(0x42, V1_CHALLENGE) }, r.events);
    server.start();
    // Challenge: Code 1, our Identifier, Value-Size 8, the challenge, our name.
    expect(r.sent.splice(0)).toEqual([cp(1, 0x42, Buffer.concat([Buffer.from([8]), V1_CHALLENGE, Buffer.from('portico')]))]);
    const nt = hex('4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61');
    server.input(msChapV1Response(0x42, nt, 'mypwuser'));
    await flush();
    expect(verify).toHaveBeenCalledTimes(1);
    const req = verify.mock.calls[0]![0];
    expect(req.challenge).toEqual(V1_CHALLENGE);
    expect(req.ntResponse).toEqual(nt);
    expect(req.flags).toBe(1);
    expect(r.sent.splice(0)).toEqual([cp(3, 0x42, Buffer.from('Access granted'))]);
    expect(r.successes).toHaveLength(1);
    expect(r.successes[0]!.username).toBe('mypwuser');
    expect(r.failures).toEqual([]);
    // A duplicate Response gets the same Success again, without a second verification.
    server.input(msChapV1Response(0x42, nt, 'mypwuser'));
    await flush();
    expect(r.sent.splice(0)).toEqual([cp(3, 0x42, Buffer.from('Access granted'))]);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('RFC 3079 §2.5: one 128-bit start key (Get_Start_Key) for both directions, session key 59 d1 59 bc …', async () => {
    const { local } = localStore([['ignored', 'clientPass']]);
    const r = recorder();
    const server = new MsChapV1Server({ serverName: '', authenticator: local, log: silent, randomBytes: fixedRandom(7, V1_CHALLENGE) }, r.events);
    server.start();
    r.sent.splice(0);
    const nt = ntChallengeResponseV1(V1_CHALLENGE, hex('44 eb ba 8d 53 12 b8 d6 11 47 44 11 f5 69 89 ae'));
    server.input(msChapV1Response(7, nt, 'BIGCO\\ignored'));
    await flush();
    expect(r.sent.splice(0).map((p) => p[0])).toEqual([3]);
    const keys = r.successes[0]!.mppeKeys!;
    const startKey = hex('a8 94 78 50 cf c0 ac c1 d1 78 9f b6 2d dc dd b0');
    expect(keys.sendKey).toEqual(startKey);
    expect(keys.recvKey).toEqual(startKey);
    expect(initialSessionKey(keys.sendKey, 128)).toEqual(hex('59 d1 59 bc 09 f7 6f 1d a2 a8 6a 28 ff ec 0b 1e'));
  });

  it('wrong NT-Response: Failure "E=691 R=0 C=<16 hex> V=2", reason in the log only', async () => {
    const { local } = localStore([['mypwuser', 'MyPw']]);
    const r = recorder();
    const server = new MsChapV1Server({ serverName: 'portico', authenticator: local, log: silent, randomBytes: fixedRandom(9, V1_CHALLENGE) }, r.events);
    server.start();
    r.sent.splice(0);
    server.input(msChapV1Response(9, Buffer.alloc(24, 0x11), 'mypwuser'));
    await flush();
    const [failure] = r.sent.splice(0);
    expect(failure![0]).toBe(4);
    expect(failure![1]).toBe(9);
    expect(failure!.subarray(4).toString()).toMatch(/^E=691 R=0 C=[0-9A-F]{16} V=2$/);
    expect(r.failures).toEqual([{ reason: 'E=691: wrong password', user: 'mypwuser' }]);
    expect(r.successes).toEqual([]);
  });

  it('LM-only response (Flags 0) is refused; a Response with Value-Size 16 is discarded', async () => {
    const { local } = localStore([['mypwuser', 'MyPw']]);
    const r = recorder();
    const server = new MsChapV1Server({ serverName: 'portico', authenticator: local, log: silent, randomBytes: fixedRandom(3, V1_CHALLENGE) }, r.events);
    server.start();
    r.sent.splice(0);
    server.input(cp(2, 3, Buffer.concat([Buffer.from([16]), Buffer.alloc(16), Buffer.from('mypwuser')])));
    await flush();
    expect(r.sent).toEqual([]);
    const nt = hex('4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61');
    server.input(msChapV1Response(3, nt, 'mypwuser', 0));
    await flush();
    expect(r.sent.splice(0).map((p) => p[0])).toEqual([4]);
    expect(r.failures).toEqual([{ reason: 'E=691: LAN Manager response not supported', user: 'mypwuser' }]);
  });
});

describe('PAP server (RFC 1334) with the local store', () => {
  function papHarness(requestTimeoutMs?: number) {
    const { users, local } = localStore([['alice', 'wonder land']]);
    const verify = vi.spyOn(local, 'verifyPap');
    const r = recorder();
    const server = new PapServer({ authenticator: local, log: silent, requestTimeoutMs }, r.events);
    server.start();
    return { users, verify, server, ...r };
  }

  it('parses Peer-ID and Password; lengths past the data are errors', () => {
    const f = parsePapRequest(Buffer.from([5, ...Buffer.from('alice'), 2, 0x61, 0x62, 0xff]));
    expect(f.peerId.toString()).toBe('alice');
    expect(f.password.toString()).toBe('ab');
    expect(() => parsePapRequest(Buffer.alloc(0))).toThrow(MalformedPapRequestError);
    expect(() => parsePapRequest(Buffer.from([5, 0x61, 0x62]))).toThrow(/Peer-ID of 5 octets/);
    expect(() => parsePapRequest(Buffer.from([1, 0x61, 3, 0x62]))).toThrow(/Password of 3 octets/);
  });

  it('right password: Authenticate-Ack; the retransmitted request gets the same Ack, verified once', async () => {
    const h = papHarness();
    expect(h.sent).toEqual([]); // PAP: the server sends nothing first
    h.server.input(papRequest(7, 'alice', 'wonder land'));
    h.server.input(papRequest(7, 'alice', 'wonder land')); // retransmission while verifying: no second check
    await flush();
    expect(h.sent.splice(0)).toEqual([papReply(2, 7, 'Access granted')]);
    expect(h.successes).toEqual([{ username: 'alice', authorization: { source: 'local' } }]); // no MPPE keys from PAP
    h.server.input(papRequest(7, 'alice', 'wonder land'));
    await flush();
    expect(h.sent.splice(0)).toEqual([papReply(2, 7, 'Access granted')]);
    expect(h.verify).toHaveBeenCalledTimes(1);
    const req: PapRequest = h.verify.mock.calls[0]![0];
    expect(req.username).toBe('alice');
    expect(req.password.every((b) => b === 0)).toBe(true); // the copy handed to the backend is wiped afterwards
  });

  it('wrong password: Authenticate-Nak, failed(); later requests get the same Nak, even with the right password', async () => {
    const h = papHarness();
    h.server.input(papRequest(1, 'alice', 'wrong'));
    await flush();
    expect(h.sent.splice(0)).toEqual([papReply(3, 1, 'Authentication failed')]);
    expect(h.failures).toEqual([{ reason: 'E=691: wrong password', user: 'alice' }]);
    h.server.input(papRequest(1, 'alice', 'wrong'));
    h.server.input(papRequest(2, 'alice', 'wonder land'));
    await flush();
    expect(h.sent.splice(0)).toEqual([papReply(3, 1, 'Authentication failed'), papReply(3, 2, 'Authentication failed')]);
    expect(h.verify).toHaveBeenCalledTimes(1);
    expect(h.successes).toEqual([]);
  });

  it('unknown and disabled users are refused like a wrong password (no oracle); only the log says why', async () => {
    const h = papHarness();
    h.server.input(papRequest(1, 'nobody', 'wonder land'));
    await flush();
    expect(h.failures).toEqual([{ reason: 'E=691: unknown user', user: 'nobody' }]);
    const h2 = papHarness();
    h2.users.setEnabled('alice', false);
    h2.server.input(papRequest(4, 'alice', 'wonder land'));
    await flush();
    expect(h2.sent).toEqual([papReply(3, 4, 'Authentication failed')]);
    expect(h2.failures).toEqual([{ reason: 'E=691: account disabled', user: 'alice' }]);
  });

  it('malformed requests and other codes are dropped; no request within the timeout fails', async () => {
    const h = papHarness(30_000);
    h.server.input(cp(1, 1, [9, 0x61]));
    h.server.input(cp(2, 1, [0]));
    h.server.input(Buffer.from([1, 1, 0]));
    await flush();
    expect(h.sent).toEqual([]);
    expect(h.verify).not.toHaveBeenCalled();
    vi.advanceTimersByTime(29_999);
    expect(h.failures).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.failures).toEqual([{ reason: 'no PAP Authenticate-Request within 30 s', user: null }]);
  });
});

describe('CHAP-MD5 server (RFC 1994) with a backend that holds the secret', () => {
  const CHALLENGE = Buffer.from([...Array(16).keys()]);

  class SecretBackend implements ExtendedAuthenticator {
    readonly requests: ChapMd5Request[] = [];
    async verifyMsChapV2(): Promise<AuthResult> {
      return { ok: false, errorCode: 691, message: 'n/a' };
    }
    async verifyChapMd5(request: ChapMd5Request): Promise<BasicAuthResult> {
      this.requests.push(request);
      const expected = createHash('md5')
        .update(Buffer.from([request.identifier]))
        .update('labpass')
        .update(request.challenge)
        .digest();
      return expected.equals(request.response) ? { ok: true } : { ok: false, errorCode: 691, message: 'wrong secret' };
    }
  }

  function md5Harness() {
    const backend = new SecretBackend();
    const r = recorder();
    const server = new ChapMd5Server({ serverName: 'portico', authenticator: backend, log: silent, randomBytes: fixedRandom(0x2a, CHALLENGE) }, r.events);
    server.start();
    return { backend, server, ...r };
  }

  const response = (id: number, value: Buffer, name = 'labuser') => cp(2, id, Buffer.concat([Buffer.from([value.length]), value, Buffer.from(name)]));

  it('MD5(Identifier ‖ secret ‖ Challenge) = e60ba862… is accepted', async () => {
    const h = md5Harness();
    expect(h.sent.splice(0)).toEqual([cp(1, 0x2a, Buffer.concat([Buffer.from([16]), CHALLENGE, Buffer.from('portico')]))]);
    const value = hex('e60ba8622632a0417ab2d12678e76aa4'); // computed independently (Python hashlib)
    h.server.input(response(0x2a, value));
    await flush();
    expect(h.backend.requests).toEqual([{ username: 'labuser', identifier: 0x2a, challenge: CHALLENGE, response: value }]);
    expect(h.sent.splice(0)).toEqual([cp(3, 0x2a, Buffer.from('Access granted'))]);
    expect(h.successes).toEqual([{ username: 'labuser' }]);
  });

  it('wrong response: Failure; Responses for another Identifier or of the wrong size are ignored', async () => {
    const h = md5Harness();
    h.sent.splice(0);
    h.server.input(response(0x2b, Buffer.alloc(16)));
    h.server.input(response(0x2a, Buffer.alloc(49)));
    await flush();
    expect(h.sent).toEqual([]);
    expect(h.backend.requests).toEqual([]);
    h.server.input(response(0x2a, Buffer.alloc(16, 1)));
    await flush();
    expect(h.sent.splice(0)).toEqual([cp(4, 0x2a, Buffer.from('Authentication failed'))]);
    expect(h.failures).toEqual([{ reason: 'E=691: wrong secret', user: 'labuser' }]);
  });

  it('retransmits the same Challenge every 3 s and gives up after 10', () => {
    const h = md5Harness();
    vi.advanceTimersByTime(27_000);
    expect(h.sent).toHaveLength(10);
    expect(new Set(h.sent.map((p) => p.toString('hex'))).size).toBe(1);
    vi.advanceTimersByTime(3_000);
    expect(h.failures).toEqual([{ reason: 'no CHAP Response after 10 challenges', user: null }]);
  });
});

describe('which protocols are offered (policy ∩ backend ∩ MPPE)', () => {
  const everything: ExtendedAuthenticator = {
    verifyMsChapV2: async () => ({ ok: false, errorCode: 691, message: 'x' }),
    verifyMsChapV1: async () => ({ ok: false, errorCode: 691, message: 'x' }),
    verifyChapMd5: async () => ({ ok: false, errorCode: 691, message: 'x' }),
    verifyPap: async () => ({ ok: false, errorCode: 691, message: 'x' }),
  };

  it('strongest first, only what the policy allows and the backend implements', () => {
    const { local } = localStore([]);
    expect(offeredAuthMethods(['pap', 'chap', 'mschapv2', 'mschap'], everything)).toEqual(['mschapv2', 'mschap', 'chap', 'pap']);
    expect(offeredAuthMethods(['pap', 'chap', 'mschapv2'], everything)).toEqual(['mschapv2', 'chap', 'pap']);
    // The local store has no clear password: never CHAP-MD5.
    expect('verifyChapMd5' in local).toBe(false);
    expect(offeredAuthMethods(['pap', 'chap', 'mschapv2', 'mschap'], local)).toEqual(['mschapv2', 'mschap', 'pap']);
    expect(offeredAuthMethods(['chap'], local)).toEqual([]);
  });

  it('required MPPE drops the keyless methods, and MS-CHAPv1 without 128-bit', () => {
    const all = ['mschapv2', 'mschap', 'chap', 'pap'] as const;
    expect(linkAuthMethods({ authProtocols: all, mppe: { required: false, bits: [128], mode: 'prefer-stateless' } }, everything)).toEqual(['mschapv2', 'mschap', 'chap', 'pap']);
    expect(linkAuthMethods({ authProtocols: all, mppe: { required: true, bits: [128], mode: 'prefer-stateless' } }, everything)).toEqual(['mschapv2', 'mschap']);
    expect(linkAuthMethods({ authProtocols: all, mppe: { required: true, bits: [40], mode: 'prefer-stateless' } }, everything)).toEqual(['mschapv2']);
    expect(linkAuthMethods({ mppe: { required: false, bits: [128], mode: 'prefer-stateless' } }, everything)).toEqual(['mschapv2']);
  });

  it('a link with nothing to offer cannot be built; the config accepts the four names only', () => {
    expect(() => makeLink({ authProtocols: ['pap'] })).toThrow(/no authentication protocol/);
    expect(validateConfig({ auth: { protocols: ['mschapv2', 'mschap', 'chap', 'pap'] } }).auth.protocols).toEqual(['mschapv2', 'mschap', 'chap', 'pap']);
    expect(validateConfig({}).auth.protocols).toEqual(['mschapv2']);
    expect(() => validateConfig({ auth: { protocols: ['eap'] } })).toThrow(/auth\.protocols\.0/);
  });

  it('option codec: PAP, CHAP-MD5, MS-CHAPv1/v2; anything else is unknown', () => {
    expect(authMethodOfOption(Buffer.from([0xc0, 0x23]))).toBe('pap');
    expect(authMethodOfOption(Buffer.from([0xc2, 0x23, 0x05]))).toBe('chap');
    expect(authMethodOfOption(Buffer.from([0xc2, 0x23, 0x80]))).toBe('mschap');
    expect(authMethodOfOption(Buffer.from([0xc2, 0x23, 0x81]))).toBe('mschapv2');
    expect(authMethodOfOption(Buffer.from([0xc2, 0x27]))).toBeNull();
    expect(authMethodOfOption(Buffer.from([0xc2, 0x23, 0x06]))).toBeNull();
    expect(authMethodOfOption(Buffer.from([0xc0, 0x23, 0x00]))).toBeNull();
    expect(authMethodOfOption(Buffer.from([0xc2]))).toBeNull();
  });
});

// ------------------------------------------------------------------ through PppLink

class AllMethods implements ExtendedAuthenticator {
  v1Keys = true;
  async verifyMsChapV2(_r: MsChapV2Request): Promise<AuthResult> {
    return { ok: false, errorCode: 691, message: 'not in these tests' };
  }
  async verifyPap(r: PapRequest): Promise<BasicAuthResult> {
    return r.password.toString() === 'labpass' ? { ok: true } : { ok: false, errorCode: 691, message: 'wrong password' };
  }
  async verifyMsChapV1(r: MsChapV1Request): Promise<BasicAuthResult> {
    if (!r.ntResponse.equals(Buffer.alloc(24, 0x5a))) return { ok: false, errorCode: 691, message: 'wrong password' };
    const k = Buffer.alloc(16, 0x77);
    return this.v1Keys ? { ok: true, mppeKeys: { sendKey: k, recvKey: Buffer.from(k) } } : { ok: true };
  }
  async verifyChapMd5(): Promise<BasicAuthResult> {
    return { ok: false, errorCode: 691, message: 'not in these tests' };
  }
}

function makeLink(overrides: Partial<PppLinkConfig> = {}, authenticator: ExtendedAuthenticator = new AllMethods()) {
  const sent: Array<{ protocol: number; payload: Buffer }> = [];
  const ups: PppNetworkInfo[] = [];
  const finished: string[] = [];
  const link = new PppLink(
    {
      serverName: 'portico',
      localAddress: 0xc6126401,
      dns: [],
      wins: [],
      mppe: { required: true, bits: [128], mode: 'prefer-stateless' },
      lcpEchoInterval: 0,
      lcpEchoFailure: 0,
      ...overrides,
    },
    {
      send: (protocol, payload) => sent.push({ protocol, payload: Buffer.from(payload) }),
      authenticator,
      assignAddress: () => 0xc612640a,
      networkUp: (i) => ups.push(i),
      resetRequested: () => {},
      finished: (r) => finished.push(r),
      log: silent,
    },
  );
  const take = (protocol: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < sent.length; ) {
      if (sent[i]!.protocol === protocol) out.push(sent.splice(i, 1)[0]!.payload);
      else i++;
    }
    return out;
  };
  return { link, sent, ups, finished, take };
}

const PEER_LCP = [0x05, 0x06, 0x1a, 0x2b, 0x3c, 0x4d, 0x07, 0x02, 0x08, 0x02];
/** Our LCP ConfReq's auth option (it comes first: no MRU configured). */
const authOptionOf = (req: Buffer) => req.subarray(4, 4 + req[5]!);

describe('LCP authentication option: Nak → the next acceptable protocol (RFC 1661 §6.2)', () => {
  const optional = { mppe: { required: false, bits: [128 as const], mode: 'prefer-stateless' as const } };

  it('a Nak suggesting PAP is followed when PAP is offered; the link then runs PAP to networkUp without MPPE', async () => {
    const h = makeLink({ ...optional, authProtocols: ['mschapv2', 'mschap', 'pap'] });
    h.link.start();
    const [req1] = h.take(LCP);
    expect(authOptionOf(req1!)).toEqual(Buffer.from([0x03, 0x05, 0xc2, 0x23, 0x81]));
    h.link.input(LCP, cp(3, req1![1]!, [0x03, 0x04, 0xc0, 0x23]));
    const [req2] = h.take(LCP);
    expect(req2![0]).toBe(1);
    expect(authOptionOf(req2!)).toEqual(Buffer.from([0x03, 0x04, 0xc0, 0x23]));
    h.link.input(LCP, cp(1, 1, PEER_LCP));
    h.link.input(LCP, cp(2, req2![1]!, req2!.subarray(4)));
    expect(h.take(LCP)).toEqual([cp(2, 1, PEER_LCP)]);
    expect(h.link.phase).toBe('authenticate');
    expect(h.link.authMethod).toBe('pap');
    expect(h.take(CHAP)).toEqual([]); // PAP: nothing sent first
    h.link.input(CHAP, cp(2, 1, [16, ...Buffer.alloc(16)])); // not the agreed protocol: dropped
    h.link.input(PAP, papRequest(5, 'labuser', 'labpass'));
    await flush();
    expect(h.take(PAP)).toEqual([papReply(2, 5, 'Access granted')]);
    expect(h.link.phase).toBe('network');
    const [ipcpReq] = h.take(IPCP);
    expect(h.take(CCP)).toEqual([]); // no keys: CCP is not started...
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    const [protRej] = h.take(LCP);
    expect(protRej!.subarray(0, 1)).toEqual(Buffer.from([8])); // ...and Protocol-Rejected
    expect(protRej!.subarray(4, 6)).toEqual(Buffer.from([0x80, 0xfd]));
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, 0xc6, 0x12, 0x64, 0x0a]));
    h.link.input(IPCP, cp(2, ipcpReq![1]!, ipcpReq!.subarray(4)));
    expect(h.ups).toEqual([{ peerAddress: 0xc612640a, username: 'labuser', mppe: null }]);
  });

  it('a suggestion we do not offer (EAP) moves down our list; running out ends the link', () => {
    const h = makeLink({ ...optional, authProtocols: ['pap', 'mschap', 'mschapv2'] });
    h.link.start();
    const [req1] = h.take(LCP);
    expect(authOptionOf(req1!)).toEqual(Buffer.from([0x03, 0x05, 0xc2, 0x23, 0x81]));
    const eap = [0x03, 0x04, 0xc2, 0x27];
    h.link.input(LCP, cp(3, req1![1]!, eap));
    const [req2] = h.take(LCP);
    expect(authOptionOf(req2!)).toEqual(Buffer.from([0x03, 0x05, 0xc2, 0x23, 0x80]));
    // Suggesting the one just refused (MS-CHAPv2) does not bring it back.
    h.link.input(LCP, cp(3, req2![1]!, [0x03, 0x05, 0xc2, 0x23, 0x81]));
    const [req3] = h.take(LCP);
    expect(authOptionOf(req3!)).toEqual(Buffer.from([0x03, 0x04, 0xc0, 0x23]));
    h.link.input(LCP, cp(3, req3![1]!, eap));
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('peer refused MS-CHAPv2, MS-CHAPv1, PAP (suggested 0xc227)');
  });

  it('the policy default (MS-CHAPv2 only) offers nothing else, whatever the backend implements', () => {
    const h = makeLink(optional);
    h.link.start();
    const [req1] = h.take(LCP);
    h.link.input(LCP, cp(3, req1![1]!, [0x03, 0x04, 0xc0, 0x23]));
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('peer refused MS-CHAPv2 (suggested PAP)');
  });

  it('option handler: Reject ends negotiation; a new negotiation starts again from the strongest', () => {
    const o = new AuthProtocolOption(['mschapv2', 'pap']);
    expect(o.request()).toEqual(Buffer.from([0xc2, 0x23, 0x81]));
    expect(o.nakReceived(Buffer.from([0xc0, 0x23]), true)).toBeUndefined();
    expect(o.request()).toEqual(Buffer.from([0xc0, 0x23]));
    o.ackReceived(Buffer.from([0xc0, 0x23]));
    expect(o.agreed).toBe('pap');
    expect(o.msChapV2Agreed).toBe(false);
    expect(o.rejectReceived()).toBe('peer refused to authenticate');
    o.reset();
    expect(o.agreed).toBeNull();
    expect(o.request()).toEqual(Buffer.from([0xc2, 0x23, 0x81]));
    expect(o.nakReceived(Buffer.from([0xc0, 0x23]), false)).toBeUndefined(); // not requested: ignored
    expect(o.request()).toEqual(Buffer.from([0xc2, 0x23, 0x81]));
  });
});

describe('MS-CHAPv1 through PppLink: 128-bit MPPE only, one key both ways', () => {
  async function authenticateV1(h: ReturnType<typeof makeLink>) {
    h.link.start();
    let [req2] = h.take(LCP);
    if (req2![8] === 0x81) {
      // pppd with refuse-mschap-v2 Naks MS-CHAPv2 with what it can do.
      h.link.input(LCP, cp(3, req2![1]!, [0x03, 0x05, 0xc2, 0x23, 0x80]));
      [req2] = h.take(LCP);
    }
    expect(authOptionOf(req2!)).toEqual(Buffer.from([0x03, 0x05, 0xc2, 0x23, 0x80]));
    h.link.input(LCP, cp(1, 1, PEER_LCP));
    h.link.input(LCP, cp(2, req2![1]!, req2!.subarray(4)));
    expect(h.take(LCP)).toEqual([cp(2, 1, PEER_LCP)]);
    const [challenge] = h.take(CHAP);
    expect(challenge![0]).toBe(1);
    expect(challenge![4]).toBe(8);
    h.link.input(CHAP, msChapV1Response(challenge![1]!, Buffer.alloc(24, 0x5a), 'labuser'));
    await flush();
    expect(h.take(CHAP).map((p) => p[0])).toEqual([3]);
  }

  it('configured 128 and 40: CCP asks for 128 only; networkUp carries the same start key for both directions', async () => {
    const h = makeLink({ authProtocols: ['mschapv2', 'mschap'], mppe: { required: true, bits: [40, 128], mode: 'prefer-stateless' } });
    await authenticateV1(h);
    expect(h.link.authMethod).toBe('mschap');
    const [ccpReq] = h.take(CCP);
    expect(ccpReq!.subarray(4)).toEqual(Buffer.from([0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    // A peer offering only 40-bit gets a Nak towards 128, never an Ack.
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x20]));
    expect(h.take(CCP)).toEqual([cp(3, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(1, 2, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(2, 2, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(2, ccpReq![1]!, ccpReq!.subarray(4)));
    const [ipcpReq] = h.take(IPCP);
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, 0xc6, 0x12, 0x64, 0x0a]));
    h.link.input(IPCP, cp(2, ipcpReq![1]!, ipcpReq!.subarray(4)));
    expect(h.ups).toHaveLength(1);
    const mppe = h.ups[0]!.mppe!;
    expect(mppe.bits).toBe(128);
    expect(mppe.keys.sendKey).toEqual(Buffer.alloc(16, 0x77));
    expect(mppe.keys.recvKey).toEqual(mppe.keys.sendKey);
  });

  it('a backend that returns no keys while MPPE is required: the link ends instead of coming up', async () => {
    const backend = new AllMethods();
    backend.v1Keys = false;
    const h = makeLink({ authProtocols: ['mschap'] }, backend);
    await authenticateV1(h);
    expect(h.take(IPCP)).toEqual([]);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe(NO_MPPE_KEYS_REASON);
    expect(h.ups).toEqual([]);
  });
});
