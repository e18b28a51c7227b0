import { describe, expect, it } from 'vitest';
import { md4 } from '../../ppp/crypto/Md4.js';
import { desEncryptBlock, expandDesKey } from '../../ppp/crypto/Des.js';
import { Rc4 } from '../../ppp/crypto/Rc4.js';
import {
  challengeHash,
  challengeResponse,
  generateAuthenticatorResponse,
  generateNtResponse,
  hashNtPasswordHash,
  ntChallengeResponseV1,
  ntPasswordHash,
  verifyMsChapV2,
} from '../../ppp/auth/MsChapCrypto.js';

const H = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('MD4 (RFC 1320 §A.5 test suite)', () => {
  const vectors: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of vectors) {
    it(`MD4("${input.length > 20 ? `${input.slice(0, 20)}…` : input}")`, () => {
      expect(md4(Buffer.from(input, 'ascii')).toString('hex')).toBe(digest);
    });
  }

  it('pads correctly around the block boundaries (values from OpenSSL md4, legacy provider)', () => {
    const expected: [number, string][] = [
      [55, 'c889c81dd86c4d2e025778944ea02881'],
      [56, 'd5f9a9e9257077a5f08b0b92f348b0ad'],
      [63, '7ea3da77432d44c323671097d1348fc8'],
      [64, '52f5076fabd22680234a3fa9f9dc5732'],
      [119, 'e65dd227ccef97fa1d34d70189120f76'],
      [120, 'b03ddbd470b47c013e0c7ab2ddd763db'],
      [1000, '5f1bf26a8067c9159b91f1440f7c9e8a'],
    ];
    for (const [n, digest] of expected) expect(md4(Buffer.alloc(n, 0x61)).toString('hex')).toBe(digest);
  });
});

describe('DES', () => {
  it('expands 7-octet keys with odd parity (RFC 2759 §9.3 / RFC 2433 B.3)', () => {
    expect(expandDesKey(H('FC 15 6A F7 ED CD 6C')).toString('hex').toUpperCase()).toBe('FD0B5B5E7F6E34D9');
    expect(expandDesKey(H('0E DD E3 33 7D 42 7F')).toString('hex').toUpperCase()).toBe('0E6E796737EA08FE');
  });

  it('encrypts the classic FIPS worked example (key 133457799BBCDFF1)', () => {
    // Pack the 8-octet key's 7 high bits per octet into the 56-bit form desEncryptBlock takes.
    const key8 = H('133457799BBCDFF1');
    let bits = 0n;
    for (const b of key8) bits = (bits << 7n) | BigInt(b >> 1);
    const key7 = Buffer.from(bits.toString(16).padStart(14, '0'), 'hex');
    expect(desEncryptBlock(key7, H('0123456789ABCDEF')).toString('hex').toUpperCase()).toBe('85E813540F0AB405');
  });

  it('rejects wrong key and block lengths with RangeError', () => {
    expect(() => desEncryptBlock(Buffer.alloc(8), Buffer.alloc(8))).toThrow(RangeError);
    expect(() => desEncryptBlock(Buffer.alloc(7), Buffer.alloc(7))).toThrow(RangeError);
  });
});

describe('RC4', () => {
  const vectors: [string, string, string][] = [
    ['Key', 'Plaintext', 'BBF316E8D940AF0AD3'],
    ['Wiki', 'pedia', '1021BF0420'],
    ['Secret', 'Attack at dawn', '45A01F645FC35B383552544B9BF5'],
  ];
  for (const [key, plain, cipher] of vectors) {
    it(`RC4("${key}", "${plain}")`, () => {
      const buf = Buffer.from(plain, 'ascii');
      new Rc4(Buffer.from(key, 'ascii')).process(buf, 0, buf.length);
      expect(buf.toString('hex').toUpperCase()).toBe(cipher);
    });
  }

  it('keeps the stream across calls, honours offsets and re-keys from a key slice', () => {
    const rc4 = new Rc4();
    const keyHolder = Buffer.from('xxSecretyy', 'ascii');
    rc4.setKey(keyHolder, 2, 6);
    const buf = Buffer.concat([Buffer.from('..'), Buffer.from('Attack at dawn', 'ascii'), Buffer.from('..')]);
    rc4.process(buf, 2, 5);
    rc4.process(buf, 7, 9);
    expect(buf.subarray(2, 16).toString('hex').toUpperCase()).toBe('45A01F645FC35B383552544B9BF5');
    expect(buf.subarray(0, 2).toString()).toBe('..');
    expect(buf.subarray(16).toString()).toBe('..');

    // setKey restarts the stream: decrypting with the same key restores the plaintext.
    rc4.setKey(keyHolder, 2, 6);
    rc4.process(buf, 2, 14);
    expect(buf.subarray(2, 16).toString()).toBe('Attack at dawn');
  });

  it('matches a textbook RC4 over random keys (1..256 octets at offsets), lengths and call splits', () => {
    // Textbook RC4 (Schneier, Applied Cryptography §17.1): plain arrays, `%` for every index, one call.
    const referenceRc4 = (key: Uint8Array, data: Uint8Array): Uint8Array => {
      const s = Array.from({ length: 256 }, (_, n) => n);
      for (let n = 0, j = 0; n < 256; n++) {
        j = (j + s[n] + key[n % key.length]) % 256;
        [s[n], s[j]] = [s[j], s[n]];
      }
      const out = new Uint8Array(data.length);
      for (let p = 0, i = 0, j = 0; p < data.length; p++) {
        i = (i + 1) % 256;
        j = (j + s[i]) % 256;
        [s[i], s[j]] = [s[j], s[i]];
        out[p] = data[p] ^ s[(s[i] + s[j]) % 256];
      }
      return out;
    };
    let seed = 0x2545f491; // xorshift32: reproducible
    const rand = (below: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % below;
    };
    const rc4 = new Rc4(); // one object re-keyed every round: setKey must fully reset the state
    const keyLens = [1, 3, 4, 5, 7, 8, 12, 13, 16, 17, 32, 64, 100, 128, 255, 256];
    for (let round = 0; round < 300; round++) {
      const keyLen = round < keyLens.length ? keyLens[round] : 1 + rand(256);
      const keyOff = rand(8);
      const keyHolder = Buffer.alloc(keyOff + keyLen + rand(4));
      for (let n = 0; n < keyHolder.length; n++) keyHolder[n] = rand(256);
      const key = keyHolder.subarray(keyOff, keyOff + keyLen);
      const dataLen = rand(4) === 0 ? rand(8) : rand(3000);
      const plain = new Uint8Array(dataLen);
      for (let n = 0; n < dataLen; n++) plain[n] = rand(256);
      const expected = referenceRc4(key, plain);

      // Our RC4 over plain placed at an offset, in several calls of random length (0 included), in a buffer
      // that is a view at a random byteOffset (the word loop aligns on the underlying memory, not on buf[0]).
      const bufOff = rand(5);
      const viewOff = rand(8);
      const bufLen = bufOff + dataLen + 3;
      const memory = round % 2 === 0 ? Buffer.alloc(viewOff + bufLen + 5) : new Uint8Array(viewOff + bufLen + 5);
      const buf = memory.subarray(viewOff, viewOff + bufLen).fill(0x5a);
      buf.set(plain, bufOff);
      rc4.setKey(keyHolder, keyOff, keyLen);
      for (let done = 0; done < dataLen; ) {
        const step = Math.min(dataLen - done, rand(3) === 0 ? rand(4) : rand(700));
        rc4.process(buf, bufOff + done, step);
        done += step;
      }
      const what = `round ${round}, key ${keyLen} octets, ${dataLen} octets`;
      expect(Buffer.from(buf.subarray(bufOff, bufOff + dataLen)).equals(Buffer.from(expected)), what).toBe(true);
      expect([...buf.subarray(0, bufOff), ...buf.subarray(bufOff + dataLen)].every((b) => b === 0x5a)).toBe(true);
      expect([...memory.subarray(0, viewOff), ...memory.subarray(viewOff + bufLen)].every((b) => b === 0)).toBe(true);
    }
  });

  it('rejects empty keys and out-of-range regions', () => {
    expect(() => new Rc4(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => new Rc4(Buffer.from('k')).process(Buffer.alloc(4), 2, 3)).toThrow(RangeError);
  });
});

describe('MS-CHAPv2 (RFC 2759 §9.2)', () => {
  const authChallenge = H('5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28');
  const peerChallenge = H('21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E');
  const passwordHash = H('44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE');
  const ntResponse = H('82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF');

  it('NtPasswordHash hashes the UTF-16LE password', () => {
    expect(Buffer.from('clientPass', 'utf16le')).toEqual(H('63 00 6C 00 69 00 65 00 6E 00 74 00 50 00 61 00 73 00 73 00'));
    expect(ntPasswordHash('clientPass')).toEqual(passwordHash);
  });

  it('ChallengeHash, with and without a domain, as string or raw octets', () => {
    const challenge = H('D0 2E 43 86 BC E9 12 26');
    expect(Buffer.from('User')).toEqual(H('55 73 65 72'));
    expect(challengeHash(peerChallenge, authChallenge, 'User')).toEqual(challenge);
    expect(challengeHash(peerChallenge, authChallenge, 'BIGCO\\User')).toEqual(challenge);
    expect(challengeHash(peerChallenge, authChallenge, Buffer.from('BIGCO\\User'))).toEqual(challenge);
    expect(challengeHash(peerChallenge, authChallenge, 'A\\B\\User')).toEqual(challenge);
    expect(challengeHash(peerChallenge, authChallenge, 'user')).not.toEqual(challenge);
  });

  it('GenerateNTResponse from the NT hash', () => {
    expect(generateNtResponse(authChallenge, peerChallenge, 'User', passwordHash)).toEqual(ntResponse);
    expect(challengeResponse(H('D0 2E 43 86 BC E9 12 26'), passwordHash)).toEqual(ntResponse);
  });

  it('HashNtPasswordHash and GenerateAuthenticatorResponse', () => {
    expect(hashNtPasswordHash(passwordHash)).toEqual(H('41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F'));
    expect(generateAuthenticatorResponse(passwordHash, ntResponse, peerChallenge, authChallenge, 'User')).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
  });

  it('verifyMsChapV2 accepts the right response and returns the server master keys', () => {
    const ok = verifyMsChapV2(passwordHash, authChallenge, peerChallenge, 'BIGCO\\User', ntResponse);
    expect(ok).not.toBeNull();
    expect(ok!.authenticatorResponse).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
    // Server send = Magic3 (RFC 3079 §3.5.3), server receive = Magic2 (RFC 3079 §3.4; computed, not printed in the RFC).
    expect(ok!.masterSendKey).toEqual(H('8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB'));
    expect(ok!.masterRecvKey).toEqual(H('D5 F0 E9 52 1E 3E A9 58 96 45 E8 60 51 C8 22 26'));
  });

  it('verifyMsChapV2 returns null for a wrong password, a tampered response or malformed fields', () => {
    expect(verifyMsChapV2(ntPasswordHash('clientpass'), authChallenge, peerChallenge, 'User', ntResponse)).toBeNull();
    const tampered = Buffer.from(ntResponse);
    tampered[23] ^= 1;
    expect(verifyMsChapV2(passwordHash, authChallenge, peerChallenge, 'User', tampered)).toBeNull();
    expect(verifyMsChapV2(passwordHash, authChallenge, peerChallenge, 'Other', ntResponse)).toBeNull();
    expect(verifyMsChapV2(passwordHash, authChallenge, peerChallenge, 'User', ntResponse.subarray(0, 23))).toBeNull();
    expect(verifyMsChapV2(passwordHash, authChallenge.subarray(0, 8), peerChallenge, 'User', ntResponse)).toBeNull();
    expect(verifyMsChapV2(passwordHash.subarray(0, 15), authChallenge, peerChallenge, 'User', ntResponse)).toBeNull();
  });
});

describe('DES key parity example (RFC 2759 §9.3)', () => {
  it('NtPasswordHash("MyPw") and both parity-expanded keys', () => {
    const hash = ntPasswordHash('MyPw');
    expect(Buffer.from('MyPw', 'utf16le')).toEqual(H('4D 00 79 00 50 00 77 00'));
    expect(hash).toEqual(H('FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC'));
    expect(expandDesKey(hash.subarray(0, 7))).toEqual(H('FD 0B 5B 5E 7F 6E 34 D9'));
    expect(expandDesKey(hash.subarray(7, 14))).toEqual(H('0E 6E 79 67 37 EA 08 FE'));
  });
});

describe('MS-CHAPv1 (RFC 2433 B.2)', () => {
  it('NtChallengeResponse', () => {
    const hash = ntPasswordHash('MyPw');
    expect(hash).toEqual(H('FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC'));
    expect(ntChallengeResponseV1(H('10 2D B5 DF 08 5D 30 41'), hash)).toEqual(H('4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61'));
  });
});
