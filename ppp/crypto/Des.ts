// Hand-written because Node 20's OpenSSL 3 offers DES only through the legacy provider.
// Single-block DES-ECB encryption (FIPS 46-3) as MS-CHAP uses it (RFC 2759 §8.5-8.6, RFC 2433): a handful of
// blocks per authentication, so this favours clarity (bit arrays driven by the FIPS tables) over speed.

const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32,
  24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47,
  39, 31, 23, 15, 7,
];
const FP = [
  40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53,
  21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1,
  41, 9, 49, 17, 57, 25,
];
const E = [
  32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20, 21, 20, 21,
  22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, 63, 55,
  47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30,
  40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
// S-boxes, each 4 rows x 16 columns.
const SBOX: readonly (readonly number[])[] = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
   4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
   0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
   13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
   10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
   4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
   9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
   1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
   7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

/** Octets → bits, most significant bit of octet 0 first. */
function toBits(bytes: Uint8Array, count: number): number[] {
  const bits = new Array<number>(count);
  for (let n = 0; n < count; n++) bits[n] = (bytes[n >> 3] >> (7 - (n & 7))) & 1;
  return bits;
}

/** FIPS permutation: output bit n = input bit table[n] (tables are 1-based). */
function permute(bits: readonly number[], table: readonly number[]): number[] {
  return table.map((pos) => bits[pos - 1]);
}

function rotateLeft(bits: number[], n: number): number[] {
  return bits.slice(n).concat(bits.slice(0, n));
}

/**
 * Spreads 56 key bits over 8 octets, 7 bits each in the high bits, bit 0 = odd parity
 * (RFC 2759 §8.6 / RFC 2433 B.3 "DES key parity"). `FC156AF7EDCD6C` → `FD0B5B5E7F6E34D9`.
 */
export function expandDesKey(key7: Uint8Array): Buffer {
  if (key7.length !== 7) throw new RangeError(`DES key must be 7 octets, got ${key7.length}`);
  const out = Buffer.allocUnsafe(8);
  for (let i = 0; i < 8; i++) {
    const bit = 7 * i;
    const window = (key7[bit >> 3] << 8) | ((bit >> 3) + 1 < 7 ? key7[(bit >> 3) + 1] : 0);
    const seven = (window >> (9 - (bit & 7))) & 0x7f;
    let ones = 0;
    for (let v = seven; v !== 0; v >>= 1) ones += v & 1;
    out[i] = (seven << 1) | ((ones & 1) ^ 1); // odd parity: total number of 1 bits is odd
  }
  return out;
}

/** DES-ECB encryption of one 8-octet block with a 7-octet (56-bit) key, as MS-CHAP's DesEncrypt. */
export function desEncryptBlock(key7: Uint8Array, block8: Uint8Array): Buffer {
  if (block8.length !== 8) throw new RangeError(`DES block must be 8 octets, got ${block8.length}`);
  const key = toBits(expandDesKey(key7), 64);

  // Key schedule (parity bits are dropped by PC1).
  const cd = permute(key, PC1);
  let c = cd.slice(0, 28);
  let d = cd.slice(28);
  const subkeys: number[][] = [];
  for (const shift of SHIFTS) {
    c = rotateLeft(c, shift);
    d = rotateLeft(d, shift);
    subkeys.push(permute(c.concat(d), PC2));
  }

  const ip = permute(toBits(block8, 64), IP);
  let left = ip.slice(0, 32);
  let right = ip.slice(32);
  for (const subkey of subkeys) {
    const x = permute(right, E).map((bit, n) => bit ^ subkey[n]);
    const sOut: number[] = [];
    for (let box = 0; box < 8; box++) {
      const six = x.slice(6 * box, 6 * box + 6);
      const row = (six[0] << 1) | six[5];
      const col = (six[1] << 3) | (six[2] << 2) | (six[3] << 1) | six[4];
      const v = SBOX[box][row * 16 + col];
      sOut.push((v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1);
    }
    const f = permute(sOut, P);
    const next = left.map((bit, n) => bit ^ f[n]);
    left = right;
    right = next;
  }

  const outBits = permute(right.concat(left), FP);
  const out = Buffer.alloc(8);
  for (let n = 0; n < 64; n++) out[n >> 3] |= outBits[n] << (7 - (n & 7));
  return out;
}
