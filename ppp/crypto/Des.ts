// Hand-written because Node's OpenSSL 3 (Node 20 to 24) offers DES only through the legacy provider.
// Single-block DES-ECB encryption (FIPS 46-3) as MS-CHAP uses it (RFC 2759 §8.5-8.6, RFC 2433): a handful of
// blocks per authentication, but one per session setup adds up at hundreds of setups per second: the FIPS tables
// are compiled at load time into octet-indexed permutation tables and combined S-box/P tables (the classic
// 32-bit-word DES layout), so a block costs table lookups, not per-bit arrays.

const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45,
  37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
const FP = [
  40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42,
  10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13,
  5, 28, 20, 12, 4,
];
const PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
// S-boxes, each 4 rows x 16 columns.
const SBOX: readonly (readonly number[])[] = [
  [
    14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11,
    3, 14, 10, 0, 6, 13,
  ],
  [
    15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6,
    7, 12, 0, 5, 14, 9,
  ],
  [
    10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15,
    14, 3, 11, 5, 2, 12,
  ],
  [
    7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4,
    5, 11, 12, 7, 2, 14,
  ],
  [
    2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15,
    0, 9, 10, 4, 5, 3,
  ],
  [
    12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14,
    1, 7, 6, 0, 8, 13,
  ],
  [
    4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5,
    0, 15, 14, 2, 3, 12,
  ],
  [
    13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12,
    9, 0, 3, 5, 6, 11,
  ],
];

/**
 * A FIPS bit permutation compiled to per-octet lookup tables: entry (octet i, value v) holds the
 * output bits that v's set bits map to, as two 32-bit words (output bits 1-32, 33-64). Applying it
 * is then 2 table reads and ORs per input octet instead of one step per bit.
 */
function compilePermutation(table: readonly number[], inOctets: number): Int32Array {
  const out = new Int32Array(inOctets * 256 * 2);
  for (let i = 0; i < inOctets; i++) {
    for (let v = 0; v < 256; v++) {
      let hi = 0;
      let lo = 0;
      for (let n = 0; n < table.length; n++) {
        const src = table[n] - 1;
        if (src >> 3 !== i || ((v >> (7 - (src & 7))) & 1) === 0) continue;
        if (n < 32) hi |= 1 << (31 - n);
        else lo |= 1 << (63 - n);
      }
      out[(i * 256 + v) * 2] = hi;
      out[(i * 256 + v) * 2 + 1] = lo;
    }
  }
  return out;
}

const IP_TABLE = compilePermutation(IP, 8);
const FP_TABLE = compilePermutation(FP, 8);
const PC1_TABLE = compilePermutation(PC1, 8);
const PC2_TABLE = compilePermutation(PC2, 7);

/** S-box b followed by P, indexed by b * 64 + the 6 input bits: the whole f function bar E and the key XOR. */
const SP = (() => {
  const sp = new Int32Array(8 * 64);
  for (let box = 0; box < 8; box++) {
    for (let x = 0; x < 64; x++) {
      const row = ((x >> 4) & 2) | (x & 1);
      const col = (x >> 1) & 0xf;
      const s = SBOX[box][row * 16 + col] << (28 - 4 * box);
      let f = 0;
      for (let n = 0; n < 32; n++) if ((s >>> (32 - P[n])) & 1) f |= 1 << (31 - n);
      sp[box * 64 + x] = f;
    }
  }
  return sp;
})();

// Scratch words for one permutation result; DES runs synchronously, so sharing them is safe.
let permHi = 0;
let permLo = 0;

function applyPermutation(t: Int32Array, b0: number, b1: number, b2: number, b3: number, b4: number, b5: number, b6: number, b7: number): void {
  permHi = t[b0 * 2] | t[(256 + b1) * 2] | t[(512 + b2) * 2] | t[(768 + b3) * 2] | t[(1024 + b4) * 2] | t[(1280 + b5) * 2] | t[(1536 + b6) * 2];
  permLo = t[b0 * 2 + 1] | t[(256 + b1) * 2 + 1] | t[(512 + b2) * 2 + 1] | t[(768 + b3) * 2 + 1] | t[(1024 + b4) * 2 + 1] | t[(1280 + b5) * 2 + 1] | t[(1536 + b6) * 2 + 1];
  if (t.length > 7 * 512) {
    permHi |= t[(1792 + b7) * 2];
    permLo |= t[(1792 + b7) * 2 + 1];
  }
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
  const k = expandDesKey(key7);

  // Key schedule (parity bits are dropped by PC1): 16 subkeys, each as 8 six-bit groups.
  applyPermutation(PC1_TABLE, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
  let c = permHi >>> 4;
  let d = ((permHi & 0xf) << 24) | (permLo >>> 8);
  const subkeys = new Uint8Array(16 * 8);
  for (let round = 0; round < 16; round++) {
    const s = SHIFTS[round];
    c = ((c << s) | (c >>> (28 - s))) & 0xfffffff;
    d = ((d << s) | (d >>> (28 - s))) & 0xfffffff;
    applyPermutation(PC2_TABLE, c >>> 20, (c >>> 12) & 0xff, (c >>> 4) & 0xff, ((c & 0xf) << 4) | (d >>> 24), (d >>> 16) & 0xff, (d >>> 8) & 0xff, d & 0xff, 0);
    const o = round * 8;
    subkeys[o] = (permHi >>> 26) & 63;
    subkeys[o + 1] = (permHi >>> 20) & 63;
    subkeys[o + 2] = (permHi >>> 14) & 63;
    subkeys[o + 3] = (permHi >>> 8) & 63;
    subkeys[o + 4] = (permHi >>> 2) & 63;
    subkeys[o + 5] = ((permHi & 3) << 4) | (permLo >>> 28);
    subkeys[o + 6] = (permLo >>> 22) & 63;
    subkeys[o + 7] = (permLo >>> 16) & 63;
  }

  applyPermutation(IP_TABLE, block8[0], block8[1], block8[2], block8[3], block8[4], block8[5], block8[6], block8[7]);
  let left = permHi;
  let right = permLo;
  for (let round = 0; round < 16; round++) {
    // E expansion: group b is bits 4b .. 4b+5 of R (1-based, wrapping), i.e. the top 6 bits of R rotated left by 4b-1.
    const r = right;
    const o = round * 8;
    const f =
      SP[(((r << 31) | (r >>> 1)) >>> 26) ^ subkeys[o]] |
      SP[64 + ((((r << 3) | (r >>> 29)) >>> 26) ^ subkeys[o + 1])] |
      SP[128 + ((((r << 7) | (r >>> 25)) >>> 26) ^ subkeys[o + 2])] |
      SP[192 + ((((r << 11) | (r >>> 21)) >>> 26) ^ subkeys[o + 3])] |
      SP[256 + ((((r << 15) | (r >>> 17)) >>> 26) ^ subkeys[o + 4])] |
      SP[320 + ((((r << 19) | (r >>> 13)) >>> 26) ^ subkeys[o + 5])] |
      SP[384 + ((((r << 23) | (r >>> 9)) >>> 26) ^ subkeys[o + 6])] |
      SP[448 + ((((r << 27) | (r >>> 5)) >>> 26) ^ subkeys[o + 7])];
    right = left ^ f;
    left = r;
  }

  // Pre-output is R16 L16.
  applyPermutation(FP_TABLE, right >>> 24, (right >>> 16) & 0xff, (right >>> 8) & 0xff, right & 0xff, left >>> 24, (left >>> 16) & 0xff, (left >>> 8) & 0xff, left & 0xff);
  const out = Buffer.allocUnsafe(8);
  out.writeInt32BE(permHi, 0);
  out.writeInt32BE(permLo, 4);
  return out;
}
