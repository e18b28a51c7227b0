// VPN login throttling (aaa/ThrottledAuthenticator.ts), the ban list (aaa/AddressBans.ts) and the
// local store's answers without an oracle (aaa/LocalAuthenticator.ts). Time is Date only (faked).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AddressBans } from '../../aaa/AddressBans.js';
import { LocalAuthenticator } from '../../aaa/LocalAuthenticator.js';
import { LoginGuard, ThrottledAuthenticator } from '../../aaa/ThrottledAuthenticator.js';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import type { AuthResult, BasicAuthResult, ChapMd5Request, ExtendedAuthenticator, MsChapV1Request, MsChapV2Request, PapRequest } from '../../ppp/Authenticator.js';
import { offeredAuthMethods, type AuthServerEvents } from '../../ppp/auth/AuthMethod.js';
import { ChapMd5Server } from '../../ppp/auth/ChapMd5Server.js';
import * as crypto from '../../ppp/auth/MsChapCrypto.js';
import { MsChapV1Server } from '../../ppp/auth/MsChapV1Server.js';
import { MsChapV2Server } from '../../ppp/auth/MsChapV2Server.js';
import { encodeControlPacket } from '../../ppp/ControlPacket.js';
import { PapServer } from '../../ppp/auth/PapServer.js';
import { banPolicy, loginThrottlePolicy } from '../../server/Limits.js';

// Count the local store's cryptographic work without changing it (no-oracle tests).
vi.mock('../../ppp/auth/MsChapCrypto.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../ppp/auth/MsChapCrypto.js')>();
  return { ...real, verifyMsChapV2: vi.fn(real.verifyMsChapV2), ntChallengeResponseV1: vi.fn(real.ntChallengeResponseV1), ntPasswordHash: vi.fn(real.ntPasswordHash) };
});

const silent = pino({ level: 'silent' });
const RIGHT = 'the right passphrase';
const T0 = 1_800_000_000_000;

/** A backend whose every method says yes to RIGHT (PAP) or to a response of all 0x11 (the CHAPs), and counts what it was asked. */
class CountingBackend implements ExtendedAuthenticator {
  readonly asked: string[] = [];
  async verifyMsChapV2(r: MsChapV2Request): Promise<AuthResult> {
    this.asked.push(`MS-CHAPv2 ${r.username}`);
    return r.ntResponse.every((b) => b === 0x11)
      ? { ok: true, authenticatorResponse: `S=${'A'.repeat(40)}`, mppeKeys: { sendKey: Buffer.alloc(16), recvKey: Buffer.alloc(16) } }
      : { ok: false, errorCode: 691, message: 'wrong password' };
  }
  async verifyMsChapV1(r: MsChapV1Request): Promise<BasicAuthResult> {
    this.asked.push(`MS-CHAPv1 ${r.username}`);
    return { ok: false, errorCode: 691, message: 'wrong password' };
  }
  async verifyChapMd5(r: ChapMd5Request): Promise<BasicAuthResult> {
    this.asked.push(`CHAP-MD5 ${r.username}`);
    return { ok: false, errorCode: 691, message: 'wrong password' };
  }
  async verifyPap(r: PapRequest): Promise<BasicAuthResult> {
    this.asked.push(`PAP ${r.username}`);
    return r.password.toString() === RIGHT ? { ok: true } : { ok: false, errorCode: 691, message: 'wrong password' };
  }
}

function throttled(backend: ExtendedAuthenticator, throttle: Record<string, number> = {}) {
  const config = validateConfig({ auth: { throttle } });
  const bans = new AddressBans(banPolicy(config));
  const guard = new LoginGuard(loginThrottlePolicy(config), bans, silent);
  const root = new ThrottledAuthenticator(backend, guard);
  const from = (peer: string) => root.forSession({ sessionId: 's', callId: 1, peer, local: '198.18.0.1' });
  return { guard, bans, root, from };
}

const v2 = (username: string, right = false): MsChapV2Request => ({
  username,
  authenticatorChallenge: Buffer.alloc(16, 1),
  peerChallenge: Buffer.alloc(16, 2),
  ntResponse: Buffer.alloc(24, right ? 0x11 : 0x22),
});
const pap = (username: string, password = 'guess'): PapRequest => ({ username, password: Buffer.from(password) });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
});
afterEach(() => vi.useRealTimers());

describe('login throttling', () => {
  it('300 guesses as fast as possible from one address: 20 checked, then at most 5 a second; the others get E=691 "retry in N s" unchecked', async () => {
    const backend = new CountingBackend();
    const { from, guard } = throttled(backend);
    const attacker = from('198.18.0.66');
    const checkedAt: number[] = [];
    const answers: AuthResult[] = [];
    for (let i = 0; i < 300; i++) {
      const before = backend.asked.length;
      answers.push(await attacker.verifyMsChapV2(v2(`user${i}`)));
      if (backend.asked.length > before) checkedAt.push(Date.now() - T0);
      vi.setSystemTime(Date.now() + 20); // 50 guesses a second, 6 s in all
    }
    expect(checkedAt.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i * 20)); // the first 20 are checked
    for (let second = 0; second < 6; second++) {
      const inSecond = checkedAt.slice(20).filter((t) => t >= second * 1000 && t < (second + 1) * 1000).length;
      expect(inSecond).toBeLessThanOrEqual(5);
    }
    console.log(`throttle unit figure: 300 guesses in 6 s, ${checkedAt.length} checked by the backend (${checkedAt.length - 20} after the first 20)`);
    const unchecked = answers.filter((a, i) => !a.ok && i >= 20 && a.message.startsWith('throttled'));
    expect(unchecked.length).toBe(300 - checkedAt.length);
    expect(unchecked[0]).toEqual({ ok: false, errorCode: 691, message: 'throttled: too many failed logins', peerMessage: 'too many failed logins; retry in 1 s' });
    expect(guard.counters.throttled).toBe(unchecked.length);
  });

  it('one user name at one address waits after 5 failures; other names there, and that name elsewhere, are still checked', async () => {
    const backend = new CountingBackend();
    const { from } = throttled(backend);
    const home = from('198.18.0.10');
    for (let i = 0; i < 5; i++) expect(await home.verifyPap!(pap('alice'))).toMatchObject({ ok: false, message: 'wrong password' });
    expect(await home.verifyPap!(pap('alice', RIGHT))).toMatchObject({ ok: false, message: 'throttled: too many failed logins', peerMessage: 'too many failed logins; retry in 1 s' });
    expect(await home.verifyPap!(pap('bob'))).toMatchObject({ message: 'wrong password' });
    expect(await from('198.18.0.11').verifyPap!(pap('ALICE', RIGHT))).toMatchObject({ ok: true }); // names are counted case-insensitively
    expect(backend.asked).toEqual(['PAP alice', 'PAP alice', 'PAP alice', 'PAP alice', 'PAP alice', 'PAP bob', 'PAP ALICE']);
    // The wait doubles with each further failure: 1 s, then 2 s.
    vi.setSystemTime(Date.now() + 1000);
    expect(await home.verifyPap!(pap('alice'))).toMatchObject({ message: 'wrong password' });
    expect(await home.verifyPap!(pap('alice'))).toMatchObject({ peerMessage: 'too many failed logins; retry in 2 s' });
    vi.setSystemTime(Date.now() + 2000);
    expect(await home.verifyPap!(pap('alice', RIGHT))).toMatchObject({ ok: true }); // and the right password clears it
    expect(await home.verifyPap!(pap('alice'))).toMatchObject({ message: 'wrong password' });
  });

  it('a flood guessing alice from one address does not keep alice out from her own address', async () => {
    const { users, local } = localStore();
    const { from } = throttled(local);
    const attacker = from('198.18.0.66');
    for (let i = 0; i < 300; i++) {
      await attacker.verifyMsChapV2(msChapV2('alice', `guess ${i}`));
      vi.setSystemTime(Date.now() + 10);
    }
    expect(await attacker.verifyMsChapV2(msChapV2('alice', RIGHT))).toMatchObject({ ok: false, message: 'throttled: too many failed logins' });
    expect(await from('198.18.0.20').verifyMsChapV2(msChapV2('alice', RIGHT))).toMatchObject({ ok: true });
    users.close();
  });

  it('the per-user bound over all addresses stops a guesser with many addresses, but not the user from an address she used before', async () => {
    const backend = new CountingBackend();
    const { from } = throttled(backend, { userFailures: 10 });
    expect(await from('198.18.1.1').verifyPap!(pap('alice', RIGHT))).toMatchObject({ ok: true });
    for (let i = 0; i < 10; i++) expect(await from(`198.18.2.${i}`).verifyPap!(pap('alice'))).toMatchObject({ message: 'wrong password' });
    expect(await from('198.18.2.200').verifyPap!(pap('alice', RIGHT))).toMatchObject({ ok: false, message: 'throttled: too many failed logins' });
    expect(await from('198.18.1.1').verifyPap!(pap('alice', RIGHT))).toMatchObject({ ok: true });
    expect(await from('198.18.2.200').verifyPap!(pap('bob'))).toMatchObject({ message: 'wrong password' });
  });

  it("an address shared by many users (a NAT): a success does not clear the others' failures", async () => {
    const backend = new CountingBackend();
    const { from } = throttled(backend, { addressFailures: 3, userAddressFailures: 100 });
    const nat = from('198.18.0.30');
    await nat.verifyPap!(pap('a'));
    await nat.verifyPap!(pap('b'));
    expect(await nat.verifyPap!(pap('c', RIGHT))).toMatchObject({ ok: true }); // not a failure: still 2
    expect(await nat.verifyPap!(pap('d'))).toMatchObject({ message: 'wrong password' }); // the third failure starts the wait
    expect(await nat.verifyPap!(pap('e', RIGHT))).toMatchObject({ message: 'throttled: too many failed logins' });
  });

  it('logins in flight are not failures: 40 users (or one user 40 times) logging in at once behind one NAT all get through', async () => {
    // A backend slow to answer (RADIUS): every login is in flight before the first verdict.
    let release = () => {};
    const answered = new Promise<void>((r) => {
      release = r;
    });
    const slow: ExtendedAuthenticator = {
      verifyPap: async (r) => {
        await answered;
        return r.password.toString() === RIGHT ? { ok: true } : { ok: false, errorCode: 691, message: 'wrong password' };
      },
      verifyMsChapV2: () => Promise.reject(new Error('not used')),
    };
    const { from } = throttled(slow);
    const nat = from('198.18.0.31');
    const logins = [...Array.from({ length: 40 }, (_, i) => nat.verifyPap!(pap(`user${i}`, RIGHT))), ...Array.from({ length: 40 }, () => nat.verifyPap!(pap('shared', RIGHT)))];
    release();
    expect((await Promise.all(logins)).filter((r) => r.ok)).toHaveLength(80);
  });

  it('once an address waits, a batch of parallel guesses arriving when the wait ends gets one of them checked', async () => {
    let release = () => {};
    const asked: string[] = [];
    const slow: ExtendedAuthenticator = {
      verifyPap: async (r) => {
        asked.push(r.username);
        if (asked.length > 20) await new Promise<void>((done) => (release = done));
        return { ok: false, errorCode: 691, message: 'wrong password' };
      },
      verifyMsChapV2: () => Promise.reject(new Error('not used')),
    };
    const { from } = throttled(slow, { userAddressFailures: 100 });
    const attacker = from('198.18.0.32');
    for (let i = 0; i < 20; i++) await attacker.verifyPap!(pap(`guess${i}`));
    vi.setSystemTime(T0 + 60_000); // the first wait is over
    const batch = Array.from({ length: 6 }, (_, i) => attacker.verifyPap!(pap(`batch${i}`)));
    await Promise.resolve();
    release();
    const answers = await Promise.all(batch);
    expect(asked).toHaveLength(21);
    expect(answers.filter((a) => a.message === 'throttled: too many failed logins')).toHaveLength(5);
  });

  it('a backend that fails (RADIUS unreachable) does not count against the peer', async () => {
    const broken: ExtendedAuthenticator = { verifyMsChapV2: () => Promise.reject(new Error('no RADIUS server answered')) };
    const { from } = throttled(broken, { addressFailures: 1, userAddressFailures: 1 });
    const peer = from('198.18.0.40');
    for (let i = 0; i < 3; i++) await expect(peer.verifyMsChapV2(v2('alice'))).rejects.toThrow('no RADIUS server answered');
  });

  it('every method is throttled, and only the methods the backend has are offered', async () => {
    const backend = new CountingBackend();
    const { from, root } = throttled(backend, { addressFailures: 1 });
    const peer = from('198.18.0.50');
    await peer.verifyPap!(pap('x'));
    const chap: ChapMd5Request = { username: 'x', identifier: 1, challenge: Buffer.alloc(16), response: Buffer.alloc(16) };
    const v1: MsChapV1Request = { username: 'x', challenge: Buffer.alloc(8), ntResponse: Buffer.alloc(24), lmResponse: Buffer.alloc(24), flags: 1 };
    const refused = { ok: false, errorCode: 691, message: 'throttled: too many failed logins', peerMessage: 'too many failed logins; retry in 1 s' };
    expect(await peer.verifyMsChapV2(v2('x'))).toEqual(refused);
    expect(await peer.verifyMsChapV1!(v1)).toEqual(refused);
    expect(await peer.verifyChapMd5!(chap)).toEqual(refused);
    expect(await peer.verifyPap!(pap('x'))).toEqual(refused);
    expect(backend.asked).toEqual(['PAP x']);
    const all = ['mschapv2', 'mschap', 'chap', 'pap'] as const;
    expect(offeredAuthMethods(all, root)).toEqual([...all]);
    const { local, users } = localStore();
    expect(offeredAuthMethods(all, throttled(local).root)).toEqual(['mschapv2', 'mschap', 'pap']); // the store cannot do CHAP-MD5
    users.close();
  });

  it('on the wire: MS-CHAPv2 M=, the PAP Nak and the CHAP-MD5 Failure say "retry in N s"; MS-CHAPv1 (no M= field) says E=691', async () => {
    const backend = new CountingBackend();
    const { from } = throttled(backend, { addressFailures: 1 });
    const peer = from('198.18.0.51');
    await peer.verifyPap!(pap('x')); // the one free failure
    const run = async (make: (events: AuthServerEvents) => { start(): void; input(p: Buffer): void }, response: Buffer) => {
      const sent: Buffer[] = [];
      const server = make({ send: (p) => sent.push(Buffer.from(p)), succeeded: () => undefined, failed: () => undefined });
      server.start();
      server.input(response);
      for (let i = 0; i < 10; i++) await Promise.resolve();
      return sent.at(-1)!.subarray(4).toString('latin1');
    };
    const random = (size: number) => (size === 1 ? Buffer.from([7]) : Buffer.alloc(size, 0xab));
    const chapResponse = (size: number) => encodeControlPacket(2, 7, Buffer.concat([Buffer.from([size]), Buffer.alloc(size, 0x22), Buffer.from('x')]));
    const v2Text = await run((e) => new MsChapV2Server({ serverName: 'portico', authenticator: peer, log: silent, randomBytes: random }, e), chapResponse(49));
    expect(v2Text).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=too many failed logins; retry in 1 s$/);
    const v1Text = await run((e) => new MsChapV1Server({ serverName: 'portico', authenticator: peer, log: silent, randomBytes: random }, e), chapResponse(49));
    expect(v1Text).toMatch(/^E=691 R=0 C=[0-9A-F]{16} V=2$/);
    expect(await run((e) => new ChapMd5Server({ serverName: 'portico', authenticator: peer, log: silent, randomBytes: random }, e), chapResponse(16))).toBe('too many failed logins; retry in 1 s');
    const papNak = await run((e) => new PapServer({ authenticator: peer, log: silent }, e), encodeControlPacket(1, 3, Buffer.from([1, 0x78, 1, 0x79])));
    const text = 'too many failed logins; retry in 1 s';
    expect(papNak).toBe(String.fromCharCode(text.length) + text);
    expect(backend.asked).toEqual(['PAP x']);
  });
});

describe('ban list', () => {
  it('bans an address after banAfter refused logins (throttled ones count); its logins are refused unchecked until unbanned or expired', async () => {
    const backend = new CountingBackend();
    const { from, bans, guard } = throttled(backend, { banAfter: 8, banWindow: 60, banDuration: 120, addressFailures: 5 });
    const peer = from('198.18.0.70');
    for (let i = 0; i < 7; i++) await peer.verifyPap!(pap(`u${i}`));
    expect(bans.isBanned('198.18.0.70')).toBe(false);
    await peer.verifyPap!(pap('u7'));
    expect(bans.list()).toEqual([{ address: '198.18.0.70', since: T0, until: T0 + 120_000, reason: '8 refused logins in 0 s', refused: 0 }]);
    expect(backend.asked).toHaveLength(5);
    expect(await peer.verifyPap!(pap('u8', RIGHT))).toMatchObject({ ok: false, message: 'throttled: address banned', peerMessage: 'too many failed logins; retry in 120 s' });
    expect(bans.refuses('198.18.0.70')).toMatchObject({ address: '198.18.0.70', refused: 2 });
    expect(bans.refuses('198.18.0.71')).toBeNull();
    expect(bans.counters).toEqual({ bans: 1, refused: 2 });
    expect(guard.counters.throttled).toBe(4); // 3 throttled + 1 banned
    expect(bans.unban('198.18.0.70')).toBe(true);
    expect(bans.unban('198.18.0.70')).toBe(false);
    vi.setSystemTime(Date.now() + 600_000); // the back-off has passed too
    expect(await peer.verifyPap!(pap('u9', RIGHT))).toMatchObject({ ok: true });
    // By hand, and expiry.
    bans.ban('198.18.0.80', 1000, 'by admin');
    expect(bans.isBanned('198.18.0.80')).toBe(true);
    vi.setSystemTime(Date.now() + 1001);
    expect(bans.isBanned('198.18.0.80')).toBe(false);
    expect(bans.list()).toEqual([]);
  });

  it('off by default (banAfter 0), and bounded: the ban ending first makes room', async () => {
    const { from, bans } = throttled(new CountingBackend());
    for (let i = 0; i < 200; i++) await from('198.18.0.90').verifyPap!(pap(`u${i}`));
    expect(bans.list()).toEqual([]);
    const small = new AddressBans({ banAfter: 1, windowMs: 1000, durationMs: 10_000, maxEntries: 3 });
    for (let i = 0; i < 5; i++) {
      small.ban(`198.18.3.${i}`, 10_000, 'test');
      vi.setSystemTime(Date.now() + 1);
    }
    expect(small.list().map((b) => b.address)).toEqual(['198.18.3.4', '198.18.3.3', '198.18.3.2']);
  });
});

describe('no oracle in the local store', () => {
  it('a wrong password, an unknown user and a disabled one: the same work, the same answer on the wire; the log alone tells them apart', async () => {
    const { users, local } = localStore();
    users.add('off', RIGHT);
    users.setEnabled('off', false);
    const verify = vi.mocked(crypto.verifyMsChapV2);
    const answers: string[] = [];
    const reasons: string[] = [];
    for (const [name, password] of [
      ['alice', 'wrong one'],
      ['nobody', RIGHT],
      ['off', RIGHT],
    ] as const) {
      verify.mockClear();
      const sent: Buffer[] = [];
      const random = (size: number) => (size === 1 ? Buffer.from([9]) : Buffer.alloc(size, 0x5a));
      const server = new MsChapV2Server(
        { serverName: 'portico', authenticator: local, log: silent, randomBytes: random },
        { send: (p) => sent.push(Buffer.from(p)), succeeded: () => undefined, failed: (reason) => reasons.push(reason) },
      );
      server.start();
      const r = msChapV2(name, password, Buffer.alloc(16, 0x5a));
      server.input(encodeControlPacket(2, 9, Buffer.concat([Buffer.from([49]), r.peerChallenge, Buffer.alloc(8), r.ntResponse, Buffer.from([0]), Buffer.from(name)])));
      for (let i = 0; i < 10; i++) await Promise.resolve();
      expect(verify).toHaveBeenCalledTimes(1); // one full MS-CHAPv2 verification each
      expect(verify.mock.calls[0]![0]).toHaveLength(16);
      answers.push(sent.at(-1)!.toString('hex'));
    }
    expect(new Set(answers).size).toBe(1);
    expect(reasons).toEqual(['E=691: wrong password', 'E=691: unknown user', 'E=691: account disabled']);
    // MS-CHAPv1 and PAP: the same.
    const v1 = vi.mocked(crypto.ntChallengeResponseV1);
    const challenge = Buffer.alloc(8, 3);
    const rightV1 = crypto.ntChallengeResponseV1(challenge, crypto.ntPasswordHash(RIGHT));
    const wrongV1 = crypto.ntChallengeResponseV1(challenge, crypto.ntPasswordHash('wrong one'));
    for (const [name, ntResponse] of [
      ['alice', wrongV1],
      ['nobody', rightV1],
      ['off', rightV1],
    ] as const) {
      v1.mockClear();
      expect(await local.verifyMsChapV1({ username: name, challenge, ntResponse, lmResponse: Buffer.alloc(24), flags: 1 })).toMatchObject({ ok: false, errorCode: 691 });
      expect(v1).toHaveBeenCalledTimes(1);
    }
    for (const name of ['nobody', 'off']) expect(await local.verifyPap({ username: name, password: Buffer.from(RIGHT) })).toMatchObject({ ok: false, errorCode: 691 });
    users.close();
  });
});

function localStore(): { users: UserStore; local: LocalAuthenticator } {
  const users = new UserStore(mkdtempSync(join(tmpdir(), 'portico-throttle-')), addressPolicyFor(validateConfig({}), []));
  users.add('alice', RIGHT);
  return { users, local: new LocalAuthenticator(users) };
}

/** An MS-CHAPv2 Response of `username` with `password` to `challenge` (RFC 2759 §8.1 GenerateNTResponse). */
function msChapV2(username: string, password: string, challenge = Buffer.alloc(16, 1)): MsChapV2Request {
  const peerChallenge = Buffer.alloc(16, 2);
  return { username, authenticatorChallenge: challenge, peerChallenge, ntResponse: crypto.generateNtResponse(challenge, peerChallenge, username, crypto.ntPasswordHash(password)) };
}
