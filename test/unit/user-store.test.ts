import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserStore, UserStoreError } from '../../aaa/UserStore.js';
import { LocalAuthenticator } from '../../aaa/LocalAuthenticator.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { generateNtResponse, ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

/** Tunnel network 198.18.100.0/24 (pool .10-.200), plus 198.18.5.0/24 for static addresses. */
const CONFIG = validateConfig({ tun: { address: '198.18.100.1' }, pool: { start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.18.5.0/24'] }, dns: ['198.18.5.53'] });

function store() {
  const dir = mkdtempSync(join(tmpdir(), 'portico-users-'));
  return { dir, users: new UserStore(dir, addressPolicyFor(CONFIG, [])) };
}

describe('UserStore', () => {
  it('keeps only the NT hash, never the password', () => {
    const { dir, users } = store();
    users.add('alice', 'clientPass', '198.18.100.7');
    const u = users.find('alice')!;
    expect(u.ntHash.equals(hex('44EBBA8D5312B8D611474411F56989AE'))).toBe(true); // RFC 2759 §9.2
    expect(u.staticAddress).toBe(0xc6126407);
    users.close();
    const raw = readFileSync(join(dir, 'portico.db'));
    expect(raw.includes(Buffer.from('clientPass'))).toBe(false);
    expect(raw.includes(Buffer.from('clientPass', 'utf16le'))).toBe(false);
  });

  it('add, passwd, set, list, del, with clear errors', () => {
    const { users } = store();
    users.add('bob', 'password one');
    expect(() => users.add('BOB', 'password two')).toThrow(UserStoreError);
    expect(() => users.add('BOB', 'password two')).toThrow(expect.objectContaining({ field: 'name', kind: 'taken', message: 'user BOB already exists' }));
    expect(() => users.add('bad name', 'long enough')).toThrow(expect.objectContaining({ field: 'name', kind: 'invalid', message: expect.stringMatching(/^user name: 1-64 characters/) }));
    const tooShort = 'at least 8 characters (auth.minPasswordLength)';
    expect(() => users.add('carol', '')).toThrow(expect.objectContaining({ field: 'password', problem: tooShort, message: `password: ${tooShort}` }));
    expect(() => users.add('carol', 'seven77')).toThrow(expect.objectContaining({ field: 'password', kind: 'invalid', problem: tooShort }));
    expect(() => users.add('carol', 'x'.repeat(257))).toThrow(expect.objectContaining({ field: 'password', problem: 'at most 256 characters (RFC 2759)' }));
    expect(() => users.setPassword('bob', 'short')).toThrow(expect.objectContaining({ field: 'password', problem: tooShort }));
    expect(() => users.add('carol', 'long enough', '1.2.3')).toThrow(expect.objectContaining({ field: 'staticAddress', kind: 'invalid', problem: '"1.2.3" is not an IPv4 address' }));
    users.add('carol', 'eight888', '198.18.100.9');
    expect(() => users.add('dave', 'long enough', '198.18.100.9')).toThrow(
      expect.objectContaining({ field: 'staticAddress', kind: 'taken', message: expect.stringMatching(/already belongs to carol/) }),
    );
    expect(() => users.setLimits('bob', { idleTimeout: -1 })).toThrow(expect.objectContaining({ field: 'idleTimeout', message: 'idleTimeout: whole seconds from 0 to 2678400' }));
    expect(() => users.setLimits('bob', { sessionTimeout: 1.5 })).toThrow(expect.objectContaining({ field: 'sessionTimeout' }));
    users.setPassword('bob', 'password three');
    expect(users.find('bob')!.ntHash.equals(ntPasswordHash('password three'))).toBe(true);
    users.setEnabled('bob', false);
    expect(users.list().map((u) => [u.name, u.enabled])).toEqual([
      ['bob', false],
      ['carol', true],
    ]);
    users.delete('carol');
    expect(users.find('carol')).toBeNull();
    expect(() => users.delete('carol')).toThrow(expect.objectContaining({ field: 'name', kind: 'unknown', message: 'no user carol' }));
  });

  it('takes shorter passwords only where auth.minPasswordLength says so; stored ones keep working', () => {
    const { dir, users } = store();
    users.add('User', 'clientPass');
    users.close();
    const strict = new UserStore(dir, addressPolicyFor(CONFIG, []), 12);
    expect(() => strict.add('eve', 'elevenchars')).toThrow(expect.objectContaining({ field: 'password', problem: 'at least 12 characters (auth.minPasswordLength)' }));
    expect(strict.find('User')!.ntHash.equals(ntPasswordHash('clientPass'))).toBe(true);
    strict.close();
    const lax = new UserStore(dir, addressPolicyFor(CONFIG, []), 1);
    lax.add('pin', 'x');
    expect(lax.find('pin')!.ntHash.equals(ntPasswordHash('x'))).toBe(true);
    lax.close();
  });
});

describe('LocalAuthenticator (MS-CHAPv2 against the store)', () => {
  // RFC 2759 §9.2 vector: user "User", password "clientPass".
  const authenticatorChallenge = hex('5B5D7C7D7B3F2F3E3C2C602132262628');
  const peerChallenge = hex('21402324255E262A28295F2B3A337C7E');
  const ntResponse = hex('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF');

  it('accepts the RFC vector with the RFC authenticator response and MPPE keys', async () => {
    const { users } = store();
    users.add('User', 'clientPass');
    const r = await new LocalAuthenticator(users).verifyMsChapV2({ username: 'BIGCO\\User', authenticatorChallenge, peerChallenge, ntResponse });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.authenticatorResponse).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
    // RFC 3079 §3.5.3: server send start key, 128-bit (Magic3); the receive start key (Magic2) is computed from the same inputs
    expect(r.mppeKeys.sendKey.equals(hex('8B7CDC149B993A1BA118CB153F56DCCB'))).toBe(true);
    expect(r.mppeKeys.recvKey.equals(hex('D5F0E9521E3EA9589645E86051C82226'))).toBe(true);
  });

  it("carries the user's stored limits in the authorization, as RADIUS would, so they apply with or without the console", async () => {
    const { users } = store();
    users.add('User', 'clientPass');
    const auth = new LocalAuthenticator(users);
    const before = await auth.verifyMsChapV2({ username: 'User', authenticatorChallenge, peerChallenge, ntResponse });
    expect(before).toMatchObject({ ok: true, authorization: { source: 'local' } });
    expect(before.ok && before.authorization).not.toHaveProperty('idleTimeout');
    users.setLimits('User', { sessionTimeout: 3600, idleTimeout: 600 });
    const after = await auth.verifyMsChapV2({ username: 'User', authenticatorChallenge, peerChallenge, ntResponse });
    expect(after).toMatchObject({ ok: true, authorization: { source: 'local', sessionTimeout: 3600, idleTimeout: 600 } });
    users.add('pap', 'a long passphrase');
    users.setLimits('pap', { idleTimeout: 30 });
    const pap = await auth.verifyPap({ username: 'pap', password: Buffer.from('a long passphrase') });
    expect(pap).toMatchObject({ ok: true, authorization: { source: 'local', idleTimeout: 30 } });
  });

  it('refuses a wrong password, an unknown user and a disabled account alike (E=691; the reason is for the log)', async () => {
    const { users } = store();
    users.add('User', 'otherPass');
    users.add('off', 'clientPass');
    users.setEnabled('off', false);
    const auth = new LocalAuthenticator(users);
    expect(await auth.verifyMsChapV2({ username: 'User', authenticatorChallenge, peerChallenge, ntResponse })).toEqual({ ok: false, errorCode: 691, message: 'wrong password' });
    expect(await auth.verifyMsChapV2({ username: 'nobody', authenticatorChallenge, peerChallenge, ntResponse })).toEqual({ ok: false, errorCode: 691, message: 'unknown user' });
    const offResponse = generateNtResponse(authenticatorChallenge, peerChallenge, 'off', ntPasswordHash('clientPass'));
    expect(await auth.verifyMsChapV2({ username: 'off', authenticatorChallenge, peerChallenge, ntResponse: offResponse })).toEqual({ ok: false, errorCode: 691, message: 'account disabled' });
  });
});
