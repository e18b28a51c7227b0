// Hand-written because Node 20's OpenSSL 3 offers RC4 only through the legacy provider.
// RC4 stream cipher (the MPPE data cipher, RFC 3078 §3). Hot path: one preallocated 256-octet state,
// in-place processing, no allocation per call; setKey re-initialises the same state (MPPE re-keys often).

export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key?: Uint8Array) {
    if (key !== undefined) this.setKey(key);
  }

  /** Key-scheduling algorithm over key[keyOff .. keyOff+keyLen); resets the stream position. */
  setKey(key: Uint8Array, keyOff = 0, keyLen = key.length - keyOff): void {
    if (keyLen < 1 || keyLen > 256 || keyOff < 0 || keyOff + keyLen > key.length) {
      throw new RangeError(`RC4 key range invalid (offset ${keyOff}, length ${keyLen})`);
    }
    const s = this.s;
    for (let n = 0; n < 256; n++) s[n] = n;
    let j = 0;
    let k = keyOff;
    const keyEnd = keyOff + keyLen;
    for (let n = 0; n < 256; n++) {
      const t = s[n];
      j = (j + t + key[k]) & 0xff;
      s[n] = s[j];
      s[j] = t;
      if (++k === keyEnd) k = keyOff;
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
    for (let p = off, end = off + len; p < end; p++) {
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
