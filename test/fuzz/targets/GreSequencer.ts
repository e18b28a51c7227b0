// GRE sequence/acknowledgement state (gre/GreSequencer.ts) driven by a script of operations read from
// the input: acceptSeq with absolute numbers or numbers relative to the last accepted one (small steps,
// ±2^31, wrap-around), onAck, nextSeq, pendingAck. Documented: nothing throws. Checked after every
// operation against a model written from RFC 2637 §4.3 and RFC 1982 serial-number arithmetic: a
// number is delivered iff it is the first or lies 1..2^31-1 ahead of the last delivered one (and, when
// the module has the spoofing guard, a jump past MAX_FORWARD only once a second packet continues it);
// pendingAck/ackOnlyDue, lastReceivedSeq/lastAckReceived and unacknowledged all agree with the model.

import * as sequencerModule from '../../../gre/GreSequencer.js';
import { GreSequencer } from '../../../gre/GreSequencer.js';
import { ByteReader, ByteWriter } from '../Helpers.js';
import type { Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';

const OPS = 8;
/**
 * A jump further ahead than this is refused until a second packet continues it (spoofing guard), when
 * the module has the rule (exported MAX_FORWARD); plain RFC 1982 otherwise.
 */
const MAX_FORWARD = (sequencerModule as Record<string, unknown>).MAX_FORWARD as number | undefined;

class Model {
  haveReceived = false;
  last = 0;
  owed = false;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  gaps = 0;
  jumpsRefused = 0;
  resyncs = 0;
  candidate: number | null = null;
  acksSent = 0;
  acksReceived = 0;
  haveAck = false;
  ack = 0;
  sendSeq: number;
  lastSent = -1;
  sent = 0;

  constructor(first: number) {
    this.sendSeq = first >>> 0;
  }

  /** `jumpDecision`: what the module decided for a number past MAX_FORWARD (checked, not predicted). */
  accept(seq: number, jumpDecision: boolean): boolean {
    seq >>>= 0;
    if (this.haveReceived) {
      const ahead = (seq - this.last + 0x100000000) % 0x100000000; // RFC 1982: distance mod 2^32
      if (ahead === 0) {
        this.duplicates++;
        return false;
      }
      if (ahead >= 0x80000000) {
        this.outOfOrder++;
        return false;
      }
      if (MAX_FORWARD !== undefined && ahead > MAX_FORWARD) {
        // Believed only when a packet continues a refused jump closely (how closely is the module's
        // choice: at most MAX_FORWARD after it); refusing is always allowed.
        const after = this.candidate === null ? 0 : (seq - this.candidate + 0x100000000) % 0x100000000;
        if (!jumpDecision) {
          this.candidate = seq;
          this.jumpsRefused++;
          return false;
        }
        check(after >= 1 && after <= MAX_FORWARD, `a jump of ${ahead} was believed without a refused jump just before it (candidate ${this.candidate})`);
        this.resyncs++;
      }
      this.gaps += ahead - 1;
    }
    this.candidate = null;
    this.haveReceived = true;
    this.last = seq;
    this.owed = true;
    this.received++;
    return true;
  }

  onAck(ack: number): void {
    ack >>>= 0;
    this.acksReceived++;
    const ahead = (ack - this.ack + 0x100000000) % 0x100000000;
    if (!this.haveAck || (ahead !== 0 && ahead < 0x80000000)) {
      this.ack = ack;
      this.haveAck = true;
    }
  }

  next(): number {
    const s = this.sendSeq;
    this.sendSeq = (s + 1) % 0x100000000;
    this.lastSent = s;
    this.sent++;
    return s;
  }

  pendingAck(): number {
    if (!this.owed) return -1;
    this.owed = false;
    this.acksSent++;
    return this.last;
  }

  get unacknowledged(): number {
    if (this.lastSent < 0) return 0;
    if (!this.haveAck) return this.sent;
    const behind = (this.lastSent - this.ack + 0x100000000) % 0x100000000;
    return behind < 0x80000000 ? behind : 0;
  }
}

export const greSequencerTarget: FuzzTarget = {
  name: 'gre-sequencer',
  maxInputLength: 400,

  seedInputs() {
    // In-order run from 1, a wrap-around, a duplicate and a late packet.
    const w = new ByteWriter().u8(0);
    for (let i = 1; i <= 4; i++) w.u8(0).u32(i).u8(5).u32(0).u8(6).u32(0);
    w.u8(0).u32(0xfffffffe).u8(2).u32(1).u8(2).u32(1).u8(2).u32(0).u8(1).u32(0xffffffff).u8(3).u32(2).u8(7).u32(0);
    return [w.toBuffer()];
  },

  generate(rng: Prng) {
    const w = new ByteWriter();
    const custom = rng.chance(0.3);
    w.u8(custom ? 1 : 0);
    if (custom) w.u32(rng.pick([0, 1, 0x7fffffff, 0xffffffff, rng.u32()]));
    for (let n = rng.range(1, 40); n > 0; n--) {
      const op = rng.int(OPS);
      let v: number;
      if (op === 1) v = rng.pick([0, 1, 2, -1, -2, 4095, 4096, 4097, 5000, 0x10000, 0x7fffffff, -0x7fffffff, 0x80000000, 0x7ffffffe, rng.u32()]) >>> 0;
      else if (op === 2) v = rng.small(6);
      else v = rng.chance(0.3) ? rng.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) : rng.u32();
      w.u8(op).u32(v);
    }
    return w.toBuffer();
  },

  run(input) {
    const r = new ByteReader(input);
    const custom = (r.u8() & 1) === 1;
    const first = custom ? r.u32() : 1;
    const s = custom ? new GreSequencer({ firstSendSeq: first }) : new GreSequencer();
    const m = new Model(first);
    let delivered = 0;
    let ops = 0;
    let lastOffered = 0;
    while (!r.done) {
      const op = r.u8() % OPS;
      const v = r.u32();
      ops++;
      switch (op) {
        case 0:
        case 1:
        case 2: {
          // 0: absolute; 1: relative to the last delivered number; 2: a small step after the last offered one.
          const seq = op === 0 ? v : op === 1 ? (m.last + v) >>> 0 : (lastOffered + (v & 0xff)) >>> 0;
          lastOffered = seq;
          const got = s.acceptSeq(seq);
          const want = m.accept(seq, got);
          check(got === want, `acceptSeq(${seq}) = ${got} after ${s.lastReceivedSeq}; RFC 1982 says ${want}`);
          if (got) delivered++;
          break;
        }
        case 3:
        case 4: {
          const ack = op === 3 ? v : (m.lastSent + ((v & 0xff) - 128)) >>> 0;
          s.onAck(ack);
          m.onAck(ack);
          break;
        }
        case 5:
          check(s.nextSeq() === m.next(), 'nextSeq() out of step');
          break;
        case 6: {
          const got = s.pendingAck();
          const want = m.pendingAck();
          check(got === want, `pendingAck() = ${got}, expected ${want}`);
          break;
        }
        default:
          check(s.ackOnlyDue() === m.owed, 'ackOnlyDue() disagrees');
      }
      const c = s.counters;
      const jumps = c as unknown as { jumpsRefused?: number; resyncs?: number };
      check(
        c.received === m.received &&
          c.duplicates === m.duplicates &&
          c.outOfOrder === m.outOfOrder &&
          c.gaps === m.gaps &&
          c.sent === m.sent &&
          c.acksSent === m.acksSent &&
          c.acksReceived === m.acksReceived &&
          (jumps.jumpsRefused === undefined || jumps.jumpsRefused === m.jumpsRefused) &&
          (jumps.resyncs === undefined || jumps.resyncs === m.resyncs),
        () => `counters ${JSON.stringify(c)} differ from the model`,
      );
      check(s.lastReceivedSeq === (m.haveReceived ? m.last : -1), 'lastReceivedSeq disagrees');
      check(s.lastAckReceived === (m.haveAck ? m.ack : -1), 'lastAckReceived disagrees');
      check(s.unacknowledged === m.unacknowledged, `unacknowledged ${s.unacknowledged}, model ${m.unacknowledged}`);
    }
    return `${ops === 0 ? 'empty' : delivered === 0 ? 'nothing delivered' : delivered === ops ? 'all delivered' : 'some delivered'}${m.outOfOrder ? ', late' : ''}${m.duplicates ? ', duplicate' : ''}`;
  },
};
