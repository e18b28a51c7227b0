import { describe, expect, it } from 'vitest';
import { encodeControlPacket, encodeOptions, MalformedPacketError, parseControlPacket, parseOptions } from '../../ppp/ControlPacket.js';
import { isValidPppProtocol, parsePppFrame, PppHeadroomError, writePppHeaderBefore, type PppFrameView } from '../../ppp/PppProtocol.js';

const view = (): PppFrameView => ({ protocol: -1, offset: -1, length: -1 });

describe('parsePppFrame', () => {
  it('strips FF 03 and reads a 2-octet protocol', () => {
    const buf = Buffer.from([0xaa, 0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04, 0xee]);
    const out = view();
    expect(parsePppFrame(buf, 1, 8, out)).toBe(true);
    expect(out).toEqual({ protocol: 0xc021, offset: 5, length: 4 });
  });

  it('accepts frames without FF 03 and with a 1-octet (PFC) protocol', () => {
    const out = view();
    expect(parsePppFrame(Buffer.from([0x21, 0x45, 0x00]), 0, 3, out)).toBe(true);
    expect(out).toEqual({ protocol: 0x0021, offset: 1, length: 2 });
    expect(parsePppFrame(Buffer.from([0xff, 0x03, 0xfd, 0x90, 0x00]), 0, 5, out)).toBe(true);
    expect(out).toEqual({ protocol: 0x00fd, offset: 3, length: 2 });
    expect(parsePppFrame(Buffer.from([0x80, 0x21, 0x01]), 0, 3, out)).toBe(true);
    expect(out).toEqual({ protocol: 0x8021, offset: 2, length: 1 });
  });

  it('rejects invalid protocol numbers, truncated headers and out-of-range slices', () => {
    const out = view();
    expect(parsePppFrame(Buffer.from([0xff, 0x03, 0x00, 0x20]), 0, 4, out)).toBe(false); // even low octet
    expect(parsePppFrame(Buffer.from([0xc0, 0x22, 0x01]), 0, 3, out)).toBe(false); // 0xc022: even low octet
    expect(parsePppFrame(Buffer.from([0xc1, 0x21, 0x00]), 0, 3, out)).toBe(true); // odd first octet: 1-octet 0x00c1
    expect(out).toEqual({ protocol: 0x00c1, offset: 1, length: 2 });
    expect(parsePppFrame(Buffer.from([0x99, 0x00, 0x21]), 1, 2, out)).toBe(true); // slice at an offset
    expect(out).toEqual({ protocol: 0x0021, offset: 3, length: 0 });
    expect(parsePppFrame(Buffer.from([0xff, 0x03]), 0, 2, out)).toBe(false);
    expect(parsePppFrame(Buffer.from([0xff, 0x03, 0xc0]), 0, 3, out)).toBe(false);
    expect(parsePppFrame(Buffer.from([0xc0, 0x21]), 0, 3, out)).toBe(false);
    expect(parsePppFrame(Buffer.from([0xc0, 0x21]), -1, 2, out)).toBe(false);
    expect(parsePppFrame(Buffer.alloc(0), 0, 0, out)).toBe(false);
  });

  it('isValidPppProtocol follows RFC 1661 §2', () => {
    expect([0x0021, 0x00fd, 0x8021, 0xc021, 0xc223, 0x8057].every(isValidPppProtocol)).toBe(true);
    expect([0x0020, 0x0121, 0xc121, 0x10000, -1].some(isValidPppProtocol)).toBe(false);
  });
});

describe('writePppHeaderBefore', () => {
  it('writes FF 03 + 2 octets by default', () => {
    const buf = Buffer.alloc(8);
    expect(writePppHeaderBefore(buf, 4, 0x0021, false, false)).toBe(0);
    expect(buf.subarray(0, 4)).toEqual(Buffer.from([0xff, 0x03, 0x00, 0x21]));
  });

  it('compresses with ACFC and PFC when the peer acked them', () => {
    const buf = Buffer.alloc(8);
    expect(writePppHeaderBefore(buf, 4, 0x00fd, true, true)).toBe(3);
    expect(buf[3]).toBe(0xfd);
    expect(writePppHeaderBefore(buf, 4, 0x8021, true, true)).toBe(2); // PFC only for protocols < 0x100
    expect(buf.subarray(2, 4)).toEqual(Buffer.from([0x80, 0x21]));
    expect(writePppHeaderBefore(buf, 4, 0x0021, false, true)).toBe(1);
    expect(buf.subarray(1, 4)).toEqual(Buffer.from([0xff, 0x03, 0x21]));
  });

  it('never compresses LCP', () => {
    const buf = Buffer.alloc(8);
    expect(writePppHeaderBefore(buf, 4, 0xc021, true, true)).toBe(0);
    expect(buf.subarray(0, 4)).toEqual(Buffer.from([0xff, 0x03, 0xc0, 0x21]));
  });

  it('throws without enough headroom', () => {
    expect(() => writePppHeaderBefore(Buffer.alloc(8), 3, 0x0021, false, false)).toThrow(PppHeadroomError);
  });
});

describe('control packet codec', () => {
  it('round-trips and ignores padding beyond Length', () => {
    const pkt = encodeControlPacket(1, 7, Buffer.from([0x05, 0x06, 1, 2, 3, 4]));
    expect(pkt).toEqual(Buffer.from([1, 7, 0, 10, 0x05, 0x06, 1, 2, 3, 4]));
    const padded = Buffer.concat([pkt, Buffer.from([0, 0, 0])]);
    const p = parseControlPacket(padded);
    expect(p.code).toBe(1);
    expect(p.identifier).toBe(7);
    expect(p.data).toEqual(Buffer.from([0x05, 0x06, 1, 2, 3, 4]));
    expect(p.raw).toEqual(pkt);
  });

  it('rejects short packets and bad Length fields', () => {
    expect(() => parseControlPacket(Buffer.from([1, 1, 0]))).toThrow(MalformedPacketError);
    expect(() => parseControlPacket(Buffer.from([1, 1, 0, 3]))).toThrow(MalformedPacketError);
    expect(() => parseControlPacket(Buffer.from([1, 1, 0, 6, 0]))).toThrow(MalformedPacketError);
  });

  it('parses option lists and refuses options of Length 0/1 or running past the end', () => {
    expect(parseOptions(Buffer.from([0x07, 0x02, 0x05, 0x06, 1, 2, 3, 4]))).toEqual([
      { type: 7, data: Buffer.alloc(0) },
      { type: 5, data: Buffer.from([1, 2, 3, 4]) },
    ]);
    expect(() => parseOptions(Buffer.from([0x07, 0x00]))).toThrow(MalformedPacketError);
    expect(() => parseOptions(Buffer.from([0x07, 0x01]))).toThrow(MalformedPacketError);
    expect(() => parseOptions(Buffer.from([0x05, 0x06, 1, 2]))).toThrow(MalformedPacketError);
    expect(() => parseOptions(Buffer.from([0x07, 0x02, 0x08]))).toThrow(MalformedPacketError);
    expect(encodeOptions([{ type: 3, data: Buffer.from([0xc2, 0x23, 0x81]) }])).toEqual(Buffer.from([3, 5, 0xc2, 0x23, 0x81]));
  });
});
