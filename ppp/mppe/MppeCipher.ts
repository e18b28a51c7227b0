// MPPE packet cipher, one object per direction (RFC 3078 §3, §7, §8), following Linux ppp_mppe.c where the
// RFC is vague: CC starts at 4095 and is pre-incremented (first packet CC = 0); stateful senders do not set A
// on the first packet; every A packet is preceded by a full key change on both sides (Linux mppe_rekey).
// Hot path: no allocation per packet; the key change's SHA-1 writes into a preallocated digest buffer.

import { Rc4 } from '../crypto/Rc4.js';
import { sha1Into } from '../crypto/Sha1.js';
import { MPPE_PAD2, mppeKeyLength, reduceKey, type MppeBits } from './MppeKeys.js';

export type { MppeBits } from './MppeKeys.js';

/** Octets of the MPPE header (A/B/C/D bits + 12-bit coherency count) in front of the ciphertext. */
export const MPPE_HEADER_LEN = 2;
export const MPPE_DROP = -1;
export const MPPE_RESET = -2;
/** The packet would cost more catch-up key changes than the session's budget holds: dropped, state untouched. */
export const MPPE_LIMITED = -3;

/**
 * Catch-up key changes a receiver may spend (each is a SHA-1 and an RC4 key setup, ~1.4 µs): the ones a
 * packet costs beyond the single key change of a packet in order. Without a budget a peer whose counts
 * jump by 2048 costs ~2.8 ms per packet; the data plane gives each session one (dataplane/TokenBucket).
 */
export interface KeyChangeBudget {
  take(n: number): boolean;
  /** Every frame that reaches the decryptor earns one: a stream pays for its own losses, whatever its rate. */
  give(n: number): void;
}

const BIT_FLUSHED = 0x80; // A: RC4 re-keyed before this packet
const BIT_ENCRYPTED = 0x10; // D
const CC_MASK = 0xfff;
/**
 * Stateless receiver: a CC 1..2048 ahead is newer, anything else stale. Linux uses the same half-space rule but
 * lets an equal CC through (it then decrypts with a spent RC4 stream); we drop it.
 */
const CC_HALF_SPACE = 2048;

/**
 * Key state of one direction. The SHA-1 input StartKey ‖ pad1 ‖ SessionKey ‖ pad2 (RFC 3078 §7.3) lives in one
 * preallocated buffer and the current session key is kept inside it, so a key change rewrites it in place.
 */
class MppeKeySchedule {
  readonly rc4 = new Rc4();
  private readonly len: number;
  private readonly shaInput: Buffer;
  private readonly sessionOff: number;
  /** GetNewKeyFromSHA's digest, reused by every key change. */
  private readonly interim = Buffer.alloc(20);

  constructor(
    startKey: Buffer,
    private readonly bits: MppeBits,
  ) {
    const len = mppeKeyLength(bits);
    if (startKey.length < len) {
      throw new RangeError(`MPPE ${bits}-bit start key must be at least ${len} octets, got ${startKey.length}`);
    }
    this.len = len;
    this.sessionOff = len + 40;
    this.shaInput = Buffer.alloc(2 * len + 80); // pad1 (zeros) comes with alloc
    startKey.copy(this.shaInput, 0, 0, len);
    startKey.copy(this.shaInput, this.sessionOff, 0, len);
    MPPE_PAD2.copy(this.shaInput, this.sessionOff + len);

    // Initial session key (RFC 3079 §3.4 step 4): GetNewKeyFromSHA(start, start), reduced, no RC4 step.
    sha1Into(this.shaInput, 0, this.shaInput.length, this.interim, 0);
    this.interim.copy(this.shaInput, this.sessionOff, 0, len);
    reduceKey(this.shaInput, bits, this.sessionOff);
    this.rc4.setKey(this.shaInput, this.sessionOff, len);
  }

  /**
   * RFC 3078 §7.3 key change: interim = GetNewKeyFromSHA(start, session); session = RC4(interim, interim);
   * reduce; re-key the data RC4. `keyData` false leaves the data RC4 unusable (a later change must re-key it)
   * — a stateless receiver catching up several steps needs only the last one.
   */
  change(keyData: boolean): void {
    const len = this.len;
    const off = this.sessionOff;
    const input = this.shaInput;
    const interim = this.interim;
    sha1Into(input, 0, input.length, interim, 0);
    this.rc4.setKey(interim, 0, len);
    for (let n = 0; n < len; n++) input[off + n] = interim[n];
    this.rc4.process(this.shaInput, off, len);
    reduceKey(this.shaInput, this.bits, off);
    if (keyData) this.rc4.setKey(this.shaInput, off, len);
  }
}

export class MppeEncryptor {
  private readonly keys: MppeKeySchedule;
  private cc = CC_MASK; // pre-incremented: the first packet carries CC 0
  private flushPending = false;

  /** `masterKey`: this direction's start key (server: MasterSendKey), 16 octets; 40/56-bit use the first 8. */
  constructor(
    masterKey: Buffer,
    bits: MppeBits,
    private readonly stateless: boolean,
  ) {
    this.keys = new MppeKeySchedule(masterKey, bits);
  }

  /** Coherency count of the last packet sent (4095 before the first). */
  get coherencyCount(): number {
    return this.cc;
  }

  /**
   * Encrypts buf[off .. off+len) (inner protocol + payload) in place and writes the MPPE header at
   * buf[off-2 .. off). Key change before every packet (stateless), on flag packets (CC & 0xFF = 0xFF) and on
   * the first packet after a Reset-Request (stateful); those packets carry A.
   */
  encrypt(buf: Buffer, off: number, len: number): void {
    if (!(off >= MPPE_HEADER_LEN && len >= 0 && off + len <= buf.length)) {
      throw new RangeError(`MPPE encrypt range [${off}, ${off + len}) invalid for buffer of ${buf.length}`);
    }
    const cc = (this.cc + 1) & CC_MASK;
    this.cc = cc;
    let flags = BIT_ENCRYPTED;
    if (this.stateless || (cc & 0xff) === 0xff || this.flushPending) {
      this.keys.change(true);
      this.flushPending = false;
      flags |= BIT_FLUSHED;
    }
    buf[off - 2] = flags | (cc >> 8);
    buf[off - 1] = cc & 0xff;
    this.keys.rc4.process(buf, off, len);
  }

  /** CCP Reset-Request received: the next packet goes out after a key change, with A set (Linux mppe_comp_reset). */
  onResetRequest(): void {
    this.flushPending = true;
  }
}

export class MppeDecryptor {
  /** `catchUp`: key changes spent catching up on lost packets; `limited`: packets refused by the budget. */
  readonly counters = { dropped: 0, resets: 0 };
  /** Frames that reached the decryptor since the budget was last paid: each earns one key change. */
  private earned = 0;
  private readonly keys: MppeKeySchedule;
  private cc = CC_MASK; // "last received"; the first packet (CC 0) is one step ahead
  private discarding = false;

  /** `masterKey`: this direction's start key (server: MasterRecvKey), 16 octets; 40/56-bit use the first 8. */
  constructor(
    masterKey: Buffer,
    bits: MppeBits,
    private readonly stateless: boolean,
    private readonly budget: KeyChangeBudget | null = null,
  ) {
    this.keys = new MppeKeySchedule(masterKey, bits);
  }

  /**
   * buf[off .. off+len) = MPPE header + ciphertext; decrypts in place. Returns the plaintext length (plaintext
   * at off+2, starting with the inner protocol), MPPE_DROP, or MPPE_RESET (stateful gap: send a CCP
   * Reset-Request; packets are then dropped until one with A arrives).
   *
   * Stateless: a packet is accepted when (CC − last) mod 4096 is in 1..2048 — that many key changes are made
   * (Linux rule; at most 2048 per packet). A repeated CC or one behind (more than 2048 "ahead") is a
   * duplicate/late packet: dropped with the state untouched (RC4 keys only move forward). The key changes
   * beyond the first come out of the budget; a packet it cannot pay for is MPPE_LIMITED, state untouched.
   */
  decrypt(buf: Buffer, off: number, len: number): number {
    if (!(off >= 0 && len >= MPPE_HEADER_LEN + 1 && off + len <= buf.length)) return this.drop();
    const b0 = buf[off];
    const cc = ((b0 & 0x0f) << 8) | buf[off + 1];
    const flushed = (b0 & BIT_FLUSHED) !== 0;
    if ((b0 & BIT_ENCRYPTED) === 0) return this.drop();

    if (this.stateless) {
      if (!flushed) return this.drop(); // RFC 3078 §3.1: A on every stateless packet
      const steps = (cc - this.cc) & CC_MASK;
      if (steps === 0 || steps > CC_HALF_SPACE) return this.drop();
      // Each frame earns one key change (paid in spend()): a refused frame's debt carries over to the next
      // one, so without it a fast stream that once ran over the budget would never catch up again.
      this.earned++;
      if (steps > 1 && !this.spend(steps - 1)) return MPPE_LIMITED;
      for (let n = 1; n < steps; n++) this.keys.change(false);
      this.keys.change(true);
      this.cc = cc;
    } else {
      if ((cc & 0xff) === 0xff && !flushed) return this.drop(); // a flag packet always carries A
      if (!this.discarding) {
        this.cc = (this.cc + 1) & CC_MASK;
        if (cc !== this.cc) {
          // RFC 3078 §8.2: loss detected; the peer must re-key after our Reset-Request.
          this.discarding = true;
          this.counters.resets++;
          return MPPE_RESET;
        }
      } else {
        if (!flushed) return this.drop();
        this.earned++;
        // One key change per flag packet we missed (the sender changed key on each), as Linux does.
        if (!this.spend(((cc >> 8) - (this.cc >> 8)) & 0xf)) return MPPE_LIMITED;
        while ((cc & 0xf00) !== (this.cc & 0xf00)) {
          this.keys.change(false);
          this.cc = (this.cc + 0x100) & CC_MASK;
        }
        this.discarding = false;
        this.cc = cc;
      }
      if (flushed) this.keys.change(true);
    }

    this.keys.rc4.process(buf, off + MPPE_HEADER_LEN, len - MPPE_HEADER_LEN);
    return len - MPPE_HEADER_LEN;
  }

  private spend(keyChanges: number): boolean {
    if (keyChanges === 0 || this.budget === null) return true;
    if (this.earned > 0) {
      this.budget.give(this.earned);
      this.earned = 0;
    }
    return this.budget.take(keyChanges);
  }

  private drop(): number {
    this.counters.dropped++;
    return MPPE_DROP;
  }
}
