import { describe, expect, it } from 'vitest';
import { GreHeaderView, GreParseResult, greHeaderLength, parseGreHeader, writeGreHeaderBefore } from '../../gre/GreHeader.js';
import { GreSequencer, MAX_FORWARD } from '../../gre/GreSequencer.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Packet with `headroom` octets before a payload, header written in place. */
function build(callId: number, payload: Buffer, seq: number, ack: number, headroom = 16) {
  const buf = Buffer.alloc(headroom + payload.length);
  payload.copy(buf, headroom);
  const start = writeGreHeaderBefore(buf, headroom, callId, payload.length, seq, ack);
  return { buf, start };
}

describe('GRE v1 header', () => {
  it('header lengths', () => {
    expect(greHeaderLength(false, false)).toBe(8);
    expect(greHeaderLength(true, false)).toBe(12);
    expect(greHeaderLength(false, true)).toBe(12);
    expect(greHeaderLength(true, true)).toBe(16);
  });

  it('data packet without ack: 30 01, 12-octet header, round trip', () => {
    const payload = hex('ff03c021 01010004');
    const { buf, start } = build(0x1234, payload, 0x01020304, -1);
    expect(start).toBe(4);
    expect(buf.subarray(start, 16)).toEqual(hex('3001 880b 0008 1234 01020304'));
    const v = new GreHeaderView();
    expect(parseGreHeader(buf, start, buf.length - start, v)).toBe(GreParseResult.Ok);
    expect(v).toMatchObject({ callId: 0x1234, payloadLength: 8, hasSeq: true, seq: 0x01020304, hasAck: false, headerLength: 12, payloadOffset: 16 });
    expect(buf.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)).toEqual(payload);
  });

  it('data packet with piggy-backed ack: 30 81, 16-octet header, round trip', () => {
    const payload = hex('0021 4500');
    const { buf, start } = build(7, payload, 0xfffffffe, 0xffffffff);
    expect(start).toBe(0);
    expect(buf.subarray(0, 16)).toEqual(hex('3081 880b 0004 0007 fffffffe ffffffff'));
    const v = new GreHeaderView();
    expect(parseGreHeader(buf, 0, buf.length, v)).toBe(GreParseResult.Ok);
    expect(v).toMatchObject({ callId: 7, payloadLength: 4, hasSeq: true, seq: 0xfffffffe, hasAck: true, ack: 0xffffffff, headerLength: 16, payloadOffset: 16 });
  });

  it('ack-only packet: 20 81, 12 octets, ack at offset 8', () => {
    const buf = Buffer.alloc(12);
    expect(writeGreHeaderBefore(buf, 12, 0xbeef, 0, -1, 42)).toBe(0);
    expect(buf).toEqual(hex('2081 880b 0000 beef 0000002a'));
    const v = new GreHeaderView();
    v.seq = 99; // stale value from a previous packet must be overwritten
    expect(parseGreHeader(buf, 0, 12, v)).toBe(GreParseResult.Ok);
    expect(v).toMatchObject({ callId: 0xbeef, payloadLength: 0, hasSeq: false, seq: 0, hasAck: true, ack: 42, headerLength: 12, payloadOffset: 12 });
  });

  it('parses the [MS-PTPT] style 0x3081 packet at an offset inside a larger buffer', () => {
    const pkt = hex('aaaa 3081 880b 0002 4000 00000005 00000003 c021 bbbb');
    const v = new GreHeaderView();
    expect(parseGreHeader(pkt, 2, pkt.length - 4, v)).toBe(GreParseResult.Ok);
    expect(v).toMatchObject({ callId: 0x4000, seq: 5, ack: 3, payloadLength: 2, payloadOffset: 18 });
  });

  it('ignores octets beyond Payload Length', () => {
    const pkt = hex('3001 880b 0002 0001 00000001 c021 deadbeef');
    const v = new GreHeaderView();
    expect(parseGreHeader(pkt, 0, pkt.length, v)).toBe(GreParseResult.Ok);
    expect(v.payloadLength).toBe(2);
  });

  it('throws when the headroom is too small', () => {
    expect(() => writeGreHeaderBefore(Buffer.alloc(20), 8, 1, 4, 1, 1)).toThrow(RangeError);
  });

  describe('rejects malformed packets', () => {
    const good = '3081 880b 0002 0001 00000001 00000000 c021';
    const cases: Array<[string, string, number]> = [
      ['shorter than 8 octets', '3001 880b 0000 01', GreParseResult.TooShort],
      ['S and A set but only 12 octets', '3081 880b 0000 0001 00000001', GreParseResult.TooShort],
      ['GRE version 0', '3080 880b 0002 0001 00000001 00000000 c021', GreParseResult.NotVersion1],
      ['GRE version 2', '3082 880b 0002 0001 00000001 00000000 c021', GreParseResult.NotVersion1],
      ['protocol IPv4 instead of PPP', '3081 0800 0002 0001 00000001 00000000 c021', GreParseResult.BadProtocol],
      ['C (checksum) set', 'b081 880b 0002 0001 00000001 00000000 c021', GreParseResult.BadFlags],
      ['R (routing) set', '7081 880b 0002 0001 00000001 00000000 c021', GreParseResult.BadFlags],
      ['s (strict source route) set', '3881 880b 0002 0001 00000001 00000000 c021', GreParseResult.BadFlags],
      ['Recur set', '3181 880b 0002 0001 00000001 00000000 c021', GreParseResult.BadFlags],
      ['Flags set', '3089 880b 0002 0001 00000001 00000000 c021', GreParseResult.BadFlags],
      ['K clear', '1081 880b 0002 0001 00000001 00000000 c021', GreParseResult.NoKey],
      ['Payload Length past the end', '3081 880b 0003 0001 00000001 00000000 c021', GreParseResult.Truncated],
    ];
    it('accepts the reference packet', () => {
      const b = hex(good);
      expect(parseGreHeader(b, 0, b.length, new GreHeaderView())).toBe(GreParseResult.Ok);
    });
    for (const [name, bytes, expected] of cases) {
      it(name, () => {
        const b = hex(bytes);
        expect(parseGreHeader(b, 0, b.length, new GreHeaderView())).toBe(expected);
      });
    }
    it('a len that runs past the buffer', () => {
      const b = hex(good);
      expect(parseGreHeader(b, 4, b.length, new GreHeaderView())).toBe(GreParseResult.TooShort);
    });
  });
});

describe('GreSequencer', () => {
  it('numbers sent packets from 1 and wraps at 2^32', () => {
    const s = new GreSequencer();
    expect([s.nextSeq(), s.nextSeq()]).toEqual([1, 2]);
    const w = new GreSequencer({ firstSendSeq: 0xfffffffe });
    expect([w.nextSeq(), w.nextSeq(), w.nextSeq(), w.nextSeq()]).toEqual([0xfffffffe, 0xffffffff, 0, 1]);
    expect(w.counters.sent).toBe(4);
  });

  it('accepts any first sequence number, then only newer ones', () => {
    const s = new GreSequencer();
    expect(s.lastReceivedSeq).toBe(-1);
    expect(s.acceptSeq(0x80000000)).toBe(true);
    expect(s.acceptSeq(0x80000001)).toBe(true);
    expect(s.lastReceivedSeq).toBe(0x80000001);
  });

  it('counts duplicates and late packets, accepts gaps', () => {
    const s = new GreSequencer();
    expect(s.acceptSeq(5)).toBe(true);
    expect(s.acceptSeq(5)).toBe(false);
    expect(s.acceptSeq(7)).toBe(true); // 6 lost or late
    expect(s.acceptSeq(6)).toBe(false); // reordered: never deliver older after newer
    expect(s.acceptSeq(8)).toBe(true);
    expect(s.counters).toMatchObject({ received: 3, duplicates: 1, outOfOrder: 1, gaps: 1 });
  });

  it('handles the wrap at 2^32 with serial-number arithmetic', () => {
    const s = new GreSequencer();
    expect(s.acceptSeq(0xfffffffe)).toBe(true);
    expect(s.acceptSeq(0xffffffff)).toBe(true);
    expect(s.acceptSeq(0)).toBe(true);
    expect(s.acceptSeq(1)).toBe(true);
    expect(s.acceptSeq(0xffffffff)).toBe(false);
    expect(s.acceptSeq(3)).toBe(true);
    expect(s.counters).toMatchObject({ received: 5, outOfOrder: 1, gaps: 1 });
    // Half the number space ahead counts as behind (int32 difference -2^31).
    expect(s.acceptSeq(3 + 0x80000000)).toBe(false);
  });

  it('a number far ahead is not believed from one packet: refused and counted, then believed when the next packet continues it', () => {
    const s = new GreSequencer();
    expect(s.acceptSeq(100)).toBe(true);
    expect(s.acceptSeq(100 + MAX_FORWARD)).toBe(true); // a loss burst of 4095: within reach
    const far = 100 + MAX_FORWARD + 0x7000_0000; // a spoofed packet that would make every genuine one look old
    expect(s.acceptSeq(far)).toBe(false);
    expect(s.lastRefusalWasJump).toBe(true);
    expect(s.acceptSeq(101 + MAX_FORWARD)).toBe(true); // the genuine peer goes on undisturbed
    expect(s.lastReceivedSeq).toBe(101 + MAX_FORWARD);
    // A real jump (the peer's counter after a long outage): the second packet that continues it is the evidence.
    const jump = 5_000_000;
    expect(s.acceptSeq(jump)).toBe(false);
    expect(s.acceptSeq(jump + 2)).toBe(true);
    expect(s.acceptSeq(jump + 1)).toBe(false); // older than the resynchronised number
    expect(s.lastRefusalWasJump).toBe(false);
    expect(s.counters).toMatchObject({ jumpsRefused: 2, resyncs: 1, outOfOrder: 1 });
  });

  it('pendingAck: -1 until something arrives, once per accepted number', () => {
    const s = new GreSequencer();
    expect(s.pendingAck()).toBe(-1);
    expect(s.ackOnlyDue()).toBe(false);
    s.acceptSeq(10);
    s.acceptSeq(11);
    expect(s.ackOnlyDue()).toBe(true);
    expect(s.pendingAck()).toBe(11); // one ack covers everything up to 11
    expect(s.ackOnlyDue()).toBe(false);
    expect(s.pendingAck()).toBe(-1);
    s.acceptSeq(11); // duplicate: nothing new to ack
    expect(s.pendingAck()).toBe(-1);
    s.acceptSeq(12);
    expect(s.pendingAck()).toBe(12);
    expect(s.counters.acksSent).toBe(2);
  });

  it('pendingAck can return ack 0 (distinct from "no ack")', () => {
    const s = new GreSequencer();
    s.acceptSeq(0);
    expect(s.pendingAck()).toBe(0);
  });

  it('onAck keeps the highest ack modulo 2^32', () => {
    const s = new GreSequencer({ firstSendSeq: 0xfffffffe });
    for (let i = 0; i < 4; i++) s.nextSeq(); // fffffffe, ffffffff, 0, 1
    expect(s.lastAckReceived).toBe(-1);
    expect(s.unacknowledged).toBe(4);
    s.onAck(0xffffffff);
    expect(s.unacknowledged).toBe(2);
    s.onAck(0);
    s.onAck(0xfffffffe); // late, older ack
    expect(s.lastAckReceived).toBe(0);
    expect(s.unacknowledged).toBe(1);
    expect(s.counters.acksReceived).toBe(3);
  });
});
