import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha1Into } from '../../ppp/crypto/Sha1.js';

function digest(data: Buffer): string {
  const out = Buffer.alloc(20);
  sha1Into(data, 0, data.length, out, 0);
  return out.toString('hex');
}

describe('sha1Into', () => {
  it('matches the FIPS 180 examples', () => {
    expect(digest(Buffer.from('abc'))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(digest(Buffer.alloc(0))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    // 56 octets: the length no longer fits the first padded block, so a second one is needed.
    expect(digest(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe('84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  });

  it('matches node:crypto for every length 0..200 and reads only its range', () => {
    for (let len = 0; len <= 200; len++) {
      const data = randomBytes(len + 7);
      const out = Buffer.alloc(26, 0xee);
      sha1Into(data, 3, len, out, 3);
      expect(out.subarray(3, 23).toString('hex')).toBe(
        createHash('sha1')
          .update(data.subarray(3, 3 + len))
          .digest('hex'),
      );
      expect(out.subarray(0, 3).equals(Buffer.alloc(3, 0xee)) && out.subarray(23).equals(Buffer.alloc(3, 0xee))).toBe(true);
    }
  });

  it('refuses ranges outside its buffers', () => {
    expect(() => sha1Into(Buffer.alloc(10), 5, 6, Buffer.alloc(20), 0)).toThrow(RangeError);
    expect(() => sha1Into(Buffer.alloc(10), 0, 10, Buffer.alloc(20), 1)).toThrow(RangeError);
  });
});
