// Hand-written because Node's OpenSSL 3 (Node 20 to 24) offers RC4 only through the legacy provider.
// RC4 stream cipher (the MPPE data cipher, RFC 3078 §3). Hot path: one preallocated 256-entry state,
// in-place processing, no allocation per call (except one view when `process` meets a new buffer);
// setKey re-initialises the same state (a stateless MPPE packet costs two key schedules, RFC 3078 §7.3).
//
// Speed notes (V8 on Node 20, bench/Rc4Bench.ts): the state is an Int32Array — measured faster than a
// Uint8Array for both key scheduling and keystream; it starts from an identity template copied with set()
// (a memcpy); the key schedule is unrolled by four; the keystream is XORed a 32-bit word at a time, i/j in
// locals written back once.

/** The identity permutation every key schedule starts from. */
const IDENTITY = new Int32Array(256);
for (let n = 0; n < 256; n++) IDENTITY[n] = n;

/** The word loop needs a little-endian host (x86, arm64): octet 0 of the keystream is the word's low octet. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Shorter regions (the key change's 16-octet step) take the octet loop: no alignment work, no view. */
const WORDS_MIN_LEN = 32;

export class Rc4 {
  private readonly s = new Int32Array(256);
  private i = 0;
  private j = 0;
  /** Int32Array over the memory of `wordsOf` (the last buffer the word loop ran on); keeps it alive. */
  private words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private wordsOf: Uint8Array | null = null;

  constructor(key?: Uint8Array) {
    if (key !== undefined) this.setKey(key);
  }

  /** Key-scheduling algorithm over key[keyOff .. keyOff+keyLen); resets the stream position. */
  setKey(key: Uint8Array, keyOff = 0, keyLen = key.length - keyOff): void {
    if (keyLen < 1 || keyLen > 256 || keyOff < 0 || keyOff + keyLen > key.length) {
      throw new RangeError(`RC4 key range invalid (offset ${keyOff}, length ${keyLen})`);
    }
    const s = this.s;
    s.set(IDENTITY);
    let j = 0;
    let n = 0;
    if ((keyLen & 3) === 0) {
      // MPPE keys are 8 or 16 octets: four swaps per turn, the key index restarting once per key length.
      const keyEnd = keyOff + keyLen;
      while (n < 256) {
        for (let k = keyOff; k < keyEnd && n < 256; k += 4, n += 4) {
          let t = s[n];
          j = (j + t + key[k]) & 0xff;
          s[n] = s[j];
          s[j] = t;
          t = s[n + 1];
          j = (j + t + key[k + 1]) & 0xff;
          s[n + 1] = s[j];
          s[j] = t;
          t = s[n + 2];
          j = (j + t + key[k + 2]) & 0xff;
          s[n + 2] = s[j];
          s[j] = t;
          t = s[n + 3];
          j = (j + t + key[k + 3]) & 0xff;
          s[n + 3] = s[j];
          s[j] = t;
        }
      }
    } else {
      while (n < 256) {
        const stop = Math.min(n + keyLen, 256);
        for (let k = keyOff; n < stop; n++, k++) {
          const t = s[n];
          j = (j + t + key[k]) & 0xff;
          s[n] = s[j];
          s[j] = t;
        }
      }
    }
    this.i = 0;
    this.j = 0;
  }

  /** XORs the keystream into buf[off .. off+len) in place (encryption and decryption are the same). */
  process(buf: Uint8Array, off: number, len: number): void {
    if (off < 0 || len < 0 || off + len > buf.length) {
      throw new RangeError(`RC4 range [${off}, ${off + len}) outside buffer of ${buf.length}`);
    }
    const s = this.s;
    let i = this.i;
    let j = this.j;
    let p = off;
    const end = off + len;
    const base = buf.byteOffset;
    if (len >= WORDS_MIN_LEN && LITTLE_ENDIAN && base + end <= 0x7fffffff) {
      // Payloads: four keystream octets make one 32-bit word XORed through an Int32Array view of the
      // buffer's memory (one load and store instead of four). Octets up to the first aligned address first.
      for (; ((base + p) & 3) !== 0; p++) {
        i = (i + 1) & 0xff;
        const si = s[i];
        j = (j + si) & 0xff;
        const sj = s[j];
        s[i] = sj;
        s[j] = si;
        buf[p] ^= s[(si + sj) & 0xff];
      }
      if (buf !== this.wordsOf) {
        // A view over all of buf's memory, made again only when the caller passes another buffer (the data
        // plane passes the same batch slab each time; the key change's 16 octets stay below WORDS_MIN_LEN).
        const ab = buf.buffer;
        this.words = new Int32Array(ab, 0, Math.floor(ab.byteLength / 4));
        this.wordsOf = buf;
      }
      const words = this.words;
      let w = (base + p) >> 2;
      const wEnd = (base + end) >> 2;
      let si = 0;
      let sj = 0;
      for (const wEnd2 = wEnd - 1; w < wEnd2; w += 2) {
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        let k = s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 8;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 16;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 24;
        words[w] ^= k;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        let m = s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        m |= s[(si + sj) & 0xff] << 8;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        m |= s[(si + sj) & 0xff] << 16;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        m |= s[(si + sj) & 0xff] << 24;
        words[w + 1] ^= m;
      }
      if (w < wEnd) {
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        let k = s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 8;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 16;
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        k |= s[(si + sj) & 0xff] << 24;
        words[w] ^= k;
        w++;
      }
      p = (w << 2) - base;
    } else {
      for (const end4 = end - 3; p < end4; p += 4) {
        i = (i + 1) & 0xff;
        let si = s[i];
        j = (j + si) & 0xff;
        let sj = s[j];
        s[i] = sj;
        s[j] = si;
        buf[p] ^= s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        buf[p + 1] ^= s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        buf[p + 2] ^= s[(si + sj) & 0xff];
        i = (i + 1) & 0xff;
        si = s[i];
        j = (j + si) & 0xff;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        buf[p + 3] ^= s[(si + sj) & 0xff];
      }
    }
    for (; p < end; p++) {
      i = (i + 1) & 0xff;
      const si = s[i];
      j = (j + si) & 0xff;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      buf[p] ^= s[(si + sj) & 0xff];
    }
    this.i = i;
    this.j = j;
  }
}
