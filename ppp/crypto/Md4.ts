// Hand-written because Node's OpenSSL 3 (Node 20 to 24) offers MD4 only through the legacy provider.
// MD4 message digest, RFC 1320. Used for the NT password hash (RFC 2759 §8.3) — cold path.

const ROUND2 = 0x5a827999;
const ROUND3 = 0x6ed9eba1;
const ROUND3_ORDER = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];

function rotl(v: number, s: number): number {
  return (v << s) | (v >>> (32 - s));
}

/** MD4 digest (16 octets) of `data`. */
export function md4(data: Uint8Array): Buffer {
  const len = data.length;
  // Message + 0x80 + zeros + 64-bit little-endian bit length, to a multiple of 64 octets (RFC 1320 §3.1-3.2).
  const padded = Buffer.alloc((((len + 8) >>> 6) + 1) * 64);
  padded.set(data, 0);
  padded[len] = 0x80;
  padded.writeUInt32LE((len * 8) >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(len / 0x20000000) >>> 0, padded.length - 4);

  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  const x = new Int32Array(16);

  for (let block = 0; block < padded.length; block += 64) {
    for (let k = 0; k < 16; k++) x[k] = padded.readInt32LE(block + 4 * k);
    const aa = a,
      bb = b,
      cc = c,
      dd = d;

    // Round 1: F(x,y,z) = xy | ~x z
    for (let k = 0; k < 16; k += 4) {
      a = rotl((a + ((b & c) | (~b & d)) + x[k]) | 0, 3);
      d = rotl((d + ((a & b) | (~a & c)) + x[k + 1]) | 0, 7);
      c = rotl((c + ((d & a) | (~d & b)) + x[k + 2]) | 0, 11);
      b = rotl((b + ((c & d) | (~c & a)) + x[k + 3]) | 0, 19);
    }
    // Round 2: G(x,y,z) = xy | xz | yz
    for (let k = 0; k < 4; k++) {
      a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[k] + ROUND2) | 0, 3);
      d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[k + 4] + ROUND2) | 0, 5);
      c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[k + 8] + ROUND2) | 0, 9);
      b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[k + 12] + ROUND2) | 0, 13);
    }
    // Round 3: H(x,y,z) = x ^ y ^ z
    for (let k = 0; k < 16; k += 4) {
      a = rotl((a + (b ^ c ^ d) + x[ROUND3_ORDER[k]] + ROUND3) | 0, 3);
      d = rotl((d + (a ^ b ^ c) + x[ROUND3_ORDER[k + 1]] + ROUND3) | 0, 9);
      c = rotl((c + (d ^ a ^ b) + x[ROUND3_ORDER[k + 2]] + ROUND3) | 0, 11);
      b = rotl((b + (c ^ d ^ a) + x[ROUND3_ORDER[k + 3]] + ROUND3) | 0, 15);
    }

    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }

  const out = Buffer.allocUnsafe(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}
