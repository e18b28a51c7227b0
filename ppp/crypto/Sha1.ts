// SHA-1 (FIPS 180-4 §6.1) without allocation, for the MPPE key change (RFC 3078 §7.3), which a stateless
// session runs once per data packet. node:crypto's one-shot hash costs ~1.25 µs for the 112-octet MPPE input
// and allocates its digest; this writes the digest into the caller's buffer at an offset (~0.7 µs).
// Not for general hashing: MS-CHAP and RADIUS keep node:crypto.

const W = new Int32Array(80);
const H = new Int32Array(5);
/** The last one or two blocks: message tail, 0x80, zeros, 64-bit big-endian bit length. */
const TAIL = new Uint8Array(128);

/** Writes SHA-1(data[off .. off+len)) to out[outOff .. outOff+20). Synchronous, so the shared scratch is safe. */
export function sha1Into(data: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void {
  if (off < 0 || len < 0 || off + len > data.length) throw new RangeError(`SHA-1 input [${off}, ${off + len}) outside buffer of ${data.length}`);
  if (outOff < 0 || outOff + 20 > out.length) throw new RangeError(`SHA-1 output at ${outOff} does not fit a buffer of ${out.length}`);
  H[0] = 0x67452301;
  H[1] = 0xefcdab89 | 0;
  H[2] = 0x98badcfe | 0;
  H[3] = 0x10325476;
  H[4] = 0xc3d2e1f0 | 0;
  const full = len & ~63;
  for (let p = off; p < off + full; p += 64) compress(data, p);

  const rest = len - full;
  for (let n = 0; n < rest; n++) TAIL[n] = data[off + full + n];
  TAIL[rest] = 0x80;
  const tailLen = rest < 56 ? 64 : 128;
  TAIL.fill(0, rest + 1, tailLen - 8);
  // Bit length as a 64-bit big-endian number (len < 2^29 here, so the high word is len >>> 29).
  const bitsHi = Math.floor(len / 0x20000000);
  const bitsLo = (len << 3) >>> 0;
  TAIL[tailLen - 8] = bitsHi >>> 24;
  TAIL[tailLen - 7] = (bitsHi >>> 16) & 0xff;
  TAIL[tailLen - 6] = (bitsHi >>> 8) & 0xff;
  TAIL[tailLen - 5] = bitsHi & 0xff;
  TAIL[tailLen - 4] = bitsLo >>> 24;
  TAIL[tailLen - 3] = (bitsLo >>> 16) & 0xff;
  TAIL[tailLen - 2] = (bitsLo >>> 8) & 0xff;
  TAIL[tailLen - 1] = bitsLo & 0xff;
  compress(TAIL, 0);
  if (tailLen === 128) compress(TAIL, 64);

  for (let i = 0; i < 5; i++) {
    const h = H[i];
    out[outOff + 4 * i] = h >>> 24;
    out[outOff + 4 * i + 1] = (h >>> 16) & 0xff;
    out[outOff + 4 * i + 2] = (h >>> 8) & 0xff;
    out[outOff + 4 * i + 3] = h & 0xff;
  }
}

// Four loops of 20 rounds instead of one with a branch per round: the round function and constant are
// fixed per loop (112-octet MPPE input: 665 -> 600-645 ns on a quiet machine, 1240 -> 920 ns on a busy one).
function compress(b: Uint8Array, p: number): void {
  const w = W;
  for (let t = 0; t < 16; t++, p += 4) w[t] = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = H[0];
  let bb = H[1];
  let c = H[2];
  let d = H[3];
  let e = H[4];
  let t = 0;
  for (; t < 20; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + w[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = temp;
  }
  for (; t < 40; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + w[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = temp;
  }
  for (; t < 60; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = temp;
  }
  for (; t < 80; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + (0xca62c1d6 | 0) + w[t]) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = temp;
  }
  H[0] = (H[0] + a) | 0;
  H[1] = (H[1] + bb) | 0;
  H[2] = (H[2] + c) | 0;
  H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0;
}
