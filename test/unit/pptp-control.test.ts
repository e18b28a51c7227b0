import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ControlFormatError, type ControlMessage, ControlMessageType, ControlStreamReassembler, controlMessageLength, decodeControlMessage, encodeControlMessage } from '../../pptp/ControlMessage.js';
import { type CallHandler, type CallRequestInfo, ControlConnection, type ControlConnectionOptions, type ControlTransport } from '../../pptp/ControlConnection.js';
import { CallIdAllocator } from '../../pptp/CallIdAllocator.js';
import { outgoingCallRequest, startControlConnectionRequest } from '../../bench/client/ControlRequests.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const zeros = (n: number) => '00'.repeat(n);
const ascii = (s: string, size: number) => Buffer.from(s, 'latin1').toString('hex') + zeros(size - s.length);

/** SCCRQ as pptp-linux 1.10 sends it (its pptp_options.h defaults). */
const PPTP_LINUX_SCCRQ = hex(
  '009c 0001 1a2b3c4d 0001 0000' + // Length 156, control message, magic, type 1, reserved
    '0100 0000' + // version 1.0, reserved
    '00000003 00000003' + // framing: async|sync, bearer: analog|digital
    'ffff 0001' + // max channels 65535, firmware 1
    ascii('local', 64) +
    ascii('cananian', 64),
);

const T = ControlMessageType;

const SAMPLES: ControlMessage[] = [
  { type: T.StartControlConnectionRequest, protocolVersion: 0x0100, framingCapabilities: 1, bearerCapabilities: 2, maxChannels: 0, firmwareRevision: 0x1db1, hostName: '', vendor: 'Microsoft' },
  {
    type: T.StartControlConnectionReply,
    protocolVersion: 0x0100,
    resultCode: 1,
    errorCode: 0,
    framingCapabilities: 3,
    bearerCapabilities: 3,
    maxChannels: 1,
    firmwareRevision: 1,
    hostName: 'vpn.example',
    vendor: 'Portico',
  },
  { type: T.StopControlConnectionRequest, reason: 3 },
  { type: T.StopControlConnectionReply, resultCode: 2, errorCode: 6 },
  { type: T.EchoRequest, identifier: 0xdeadbeef },
  { type: T.EchoReply, identifier: 0xcafebabe, resultCode: 1, errorCode: 0 },
  {
    type: T.OutgoingCallRequest,
    callId: 0x8001,
    callSerialNumber: 17,
    minBps: 300,
    maxBps: 100_000_000,
    bearerType: 3,
    framingType: 3,
    recvWindowSize: 64,
    processingDelay: 0,
    phoneNumberLength: 4,
    phoneNumber: '1234',
    subaddress: Buffer.concat([hex('0f1e2d3c4b5a69788796a5b4c3d2e1f0'), Buffer.alloc(48)]),
  },
  {
    type: T.OutgoingCallReply,
    callId: 5,
    peerCallId: 0x8001,
    resultCode: 1,
    errorCode: 0,
    causeCode: 0x1234,
    connectSpeed: 100_000_000,
    recvWindowSize: 64,
    processingDelay: 7,
    physicalChannelId: 0xa0b0c0d0,
  },
  {
    type: T.IncomingCallRequest,
    callId: 9,
    callSerialNumber: 2,
    bearerType: 2,
    physicalChannelId: 77,
    dialedNumberLength: 3,
    dialingNumberLength: 5,
    dialedNumber: '555',
    dialingNumber: '12345',
    subaddress: Buffer.alloc(64, 0x41),
  },
  { type: T.IncomingCallReply, callId: 3, peerCallId: 9, resultCode: 1, errorCode: 0, recvWindowSize: 16, transmitDelay: 2 },
  { type: T.IncomingCallConnected, peerCallId: 3, connectSpeed: 64000, recvWindowSize: 8, transmitDelay: 1, framingType: 2 },
  { type: T.CallClearRequest, callId: 0x8001 },
  { type: T.CallDisconnectNotify, callId: 5, resultCode: 4, errorCode: 0, causeCode: 0, callStatistics: 'rx 10 tx 12' },
  { type: T.WanErrorNotify, peerCallId: 3, crcErrors: 1, framingErrors: 2, hardwareOverruns: 3, bufferOverruns: 4, timeoutErrors: 5, alignmentErrors: 0xffffffff },
  { type: T.SetLinkInfo, peerCallId: 5, sendAccm: 0xffffffff, recvAccm: 0 },
];

const FIXED = [0, 156, 156, 16, 16, 16, 20, 168, 32, 220, 24, 28, 16, 148, 40, 24];

describe('control message codec', () => {
  it('round-trips all 15 types at their fixed lengths', () => {
    expect(SAMPLES.map((m) => m.type)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    for (const msg of SAMPLES) {
      const buf = encodeControlMessage(msg);
      expect(buf.length).toBe(FIXED[msg.type]);
      expect(controlMessageLength(msg.type)).toBe(FIXED[msg.type]);
      expect(buf.readUInt16BE(0)).toBe(buf.length);
      expect(buf.subarray(2, 8)).toEqual(hex('0001 1a2b3c4d'));
      expect(buf.readUInt16BE(8)).toBe(msg.type);
      expect(decodeControlMessage(buf)).toEqual(msg);
    }
  });

  it('decodes the pptp-linux SCCRQ byte vector', () => {
    expect(PPTP_LINUX_SCCRQ.length).toBe(156);
    expect(decodeControlMessage(PPTP_LINUX_SCCRQ)).toEqual({
      type: T.StartControlConnectionRequest,
      protocolVersion: 0x0100,
      framingCapabilities: 3,
      bearerCapabilities: 3,
      maxChannels: 65535,
      firmwareRevision: 1,
      hostName: 'local',
      vendor: 'cananian',
    });
  });

  it('encodes an OCRP at the RFC 2637 offsets', () => {
    const msg = SAMPLES[7]!;
    expect(encodeControlMessage(msg)).toEqual(hex('0020 0001 1a2b3c4d 0008 0000  0005 8001 01 00 1234 05f5e100 0040 0007 a0b0c0d0'));
  });

  it('encodes a CDN with the statistics NUL-padded at offset 20', () => {
    const buf = encodeControlMessage(SAMPLES[12]!);
    expect(buf.subarray(12, 20)).toEqual(hex('0005 04 00 0000 0000'));
    expect(buf.subarray(20, 31).toString('latin1')).toBe('rx 10 tx 12');
    expect(buf.subarray(31).every((b) => b === 0)).toBe(true);
  });

  it('truncates over-long strings and keeps a terminating NUL', () => {
    const buf = encodeControlMessage({ ...(SAMPLES[1] as Extract<ControlMessage, { type: 2 }>), hostName: 'h'.repeat(100) });
    expect(buf[28 + 62]).toBe(0x68);
    expect(buf[28 + 63]).toBe(0);
    const decoded = decodeControlMessage(buf) as Extract<ControlMessage, { type: 2 }>;
    expect(decoded.hostName).toBe('h'.repeat(63));
  });

  it('keeps a binary subaddress (Windows correlation GUID) as octets', () => {
    const decoded = decodeControlMessage(encodeControlMessage(SAMPLES[6]!)) as Extract<ControlMessage, { type: 7 }>;
    expect(decoded.subaddress.length).toBe(64);
    expect(decoded.subaddress.subarray(0, 16)).toEqual(hex('0f1e2d3c4b5a69788796a5b4c3d2e1f0'));
  });

  describe('rejects malformed messages with ControlFormatError (Bad-Format)', () => {
    const expectBad = (buf: Buffer, pattern: RegExp) => {
      let error: unknown;
      try {
        decodeControlMessage(buf);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ControlFormatError);
      expect((error as ControlFormatError).generalError).toBe(2);
      expect((error as Error).message).toMatch(pattern);
    };
    it('shorter than the header', () => expectBad(hex('000c 0001 1a2b3c4d 0005'), /shorter/));
    it('bad magic', () => {
      const b = Buffer.from(PPTP_LINUX_SCCRQ);
      b[7] = 0x4e;
      expectBad(b, /Magic/);
    });
    it('PPTP message type 2 (management)', () => {
      const b = Buffer.from(PPTP_LINUX_SCCRQ);
      b[3] = 2;
      expectBad(b, /Message Type 2/);
    });
    it('Length field not matching the buffer', () => {
      const b = Buffer.from(PPTP_LINUX_SCCRQ);
      b.writeUInt16BE(155, 0);
      expectBad(b, /does not match/);
    });
    it('wrong length for the type', () => {
      const b = Buffer.concat([encodeControlMessage(SAMPLES[4]!), Buffer.alloc(4)]);
      b.writeUInt16BE(20, 0);
      expectBad(b, /must be 16/);
    });
    it('unknown control message type', () => {
      const b = encodeControlMessage(SAMPLES[4]!);
      b.writeUInt16BE(16, 8);
      expectBad(b, /unknown Control Message Type 16/);
    });
  });
});

describe('ControlStreamReassembler', () => {
  const stream = Buffer.concat(SAMPLES.map(encodeControlMessage));

  const drain = (r: ControlStreamReassembler, out: Buffer[]) => {
    for (let m = r.next(); m !== null; m = r.next()) out.push(m);
  };

  it('returns several messages pushed in one chunk', () => {
    const r = new ControlStreamReassembler();
    r.push(stream);
    const out: Buffer[] = [];
    drain(r, out);
    expect(out.map((b) => decodeControlMessage(b))).toEqual(SAMPLES);
    expect(r.bufferedBytes).toBe(0);
  });

  it('reassembles byte by byte', () => {
    const r = new ControlStreamReassembler();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      r.push(stream.subarray(i, i + 1));
      drain(r, out);
      expect(r.bufferedBytes).toBeLessThan(220);
    }
    expect(Buffer.concat(out)).toEqual(stream);
    expect(out.length).toBe(15);
  });

  it('reassembles across every two-way split and pseudo-random splits', () => {
    const two = Buffer.concat([encodeControlMessage(SAMPLES[6]!), encodeControlMessage(SAMPLES[4]!)]);
    for (let cut = 0; cut <= two.length; cut++) {
      const r = new ControlStreamReassembler();
      const out: Buffer[] = [];
      r.push(two.subarray(0, cut));
      drain(r, out);
      r.push(two.subarray(cut));
      drain(r, out);
      expect(out.length).toBe(2);
      expect(Buffer.concat(out)).toEqual(two);
    }
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed % 300) + 1;
    };
    for (let round = 0; round < 20; round++) {
      const r = new ControlStreamReassembler();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; ) {
        const n = rand();
        r.push(stream.subarray(i, i + n));
        drain(r, out);
        i += n;
      }
      expect(Buffer.concat(out)).toEqual(stream);
    }
  });

  it('returned messages do not alias the pushed chunk', () => {
    const chunk = Buffer.from(encodeControlMessage(SAMPLES[4]!));
    const r = new ControlStreamReassembler();
    r.push(chunk);
    const m = r.next()!;
    chunk.fill(0);
    expect(decodeControlMessage(m)).toEqual(SAMPLES[4]);
  });

  const outOfSync: Array<[string, Buffer]> = [
    ['Length below 12', hex('000b 0001 1a2b3c4d')],
    ['Length above 220', hex('00dd 0001 1a2b3c4d')],
    ['PPTP message type 2', hex('0010 0002 1a2b3c4d 0005 0000 00000001')],
    ['bad magic cookie', hex('0010 0001 1a2b3c4e 0005 0000 00000001')],
    ['HTTP request instead of PPTP', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
  ];
  for (const [name, bytes] of outOfSync) {
    it(`throws ControlFormatError on ${name}, before the message is complete, and stays failed`, () => {
      const r = new ControlStreamReassembler();
      r.push(bytes.subarray(0, 8));
      expect(() => r.next()).toThrow(ControlFormatError);
      expect(() => r.next()).toThrow(ControlFormatError);
      expect(() => r.push(encodeControlMessage(SAMPLES[4]!))).toThrow(ControlFormatError);
    });
  }

  it('waits for more octets while the header so far is valid', () => {
    const r = new ControlStreamReassembler();
    r.push(hex('00'));
    expect(r.next()).toBeNull();
    r.push(hex('10 0001 1a2b'));
    expect(r.next()).toBeNull();
    r.push(hex('3c4d 0005 0000 00000001'));
    expect(decodeControlMessage(r.next()!)).toEqual({ type: T.EchoRequest, identifier: 1 });
  });

  it('refuses to buffer more than its limit when not drained', () => {
    const r = new ControlStreamReassembler(1024);
    const echo = encodeControlMessage(SAMPLES[4]!);
    for (let i = 0; i < 64; i++) r.push(echo);
    expect(r.bufferedBytes).toBe(1024);
    expect(() => r.push(echo)).toThrow(ControlFormatError);
  });
});

// ---- ControlConnection -------------------------------------------------------------------------

class FakeTransport implements ControlTransport {
  readonly peerAddress = '198.18.0.10';
  readonly written: Buffer[] = [];
  closed = 0;
  write(buf: Buffer): void {
    if (this.closed > 0) throw new Error('write after close');
    this.written.push(buf);
  }
  close(): void {
    this.closed++;
  }
  /** Decoded messages written since the last call. */
  take(): ControlMessage[] {
    const out = this.written.splice(0).map((b) => decodeControlMessage(b));
    return out;
  }
}

class FakeHandler implements CallHandler {
  readonly ids = new CallIdAllocator();
  readonly opened: CallRequestInfo[] = [];
  readonly cleared: Array<{ callId: number; reason: string }> = [];
  refuse: { resultCode: number; errorCode: number } | null = null;
  openCall(_conn: ControlConnection, info: CallRequestInfo) {
    if (this.refuse) return this.refuse;
    this.opened.push(info);
    return { callId: this.ids.allocate()! };
  }
  callCleared(_conn: ControlConnection, callId: number, reason: string): void {
    this.ids.release(callId);
    this.cleared.push({ callId, reason });
  }
}

const sccrq = (version = 0x0100) => encodeControlMessage(startControlConnectionRequest({ protocolVersion: version, firmwareRevision: 0, vendor: 'Microsoft' }));
const ocrq = (callId: number, serial = 1) => encodeControlMessage(outgoingCallRequest(callId, { callSerialNumber: serial }));
const ccrq = (callId: number) => encodeControlMessage({ type: T.CallClearRequest, callId });
const echoRq = (identifier: number) => encodeControlMessage({ type: T.EchoRequest, identifier });
const stopRq = (reason = 1) => encodeControlMessage({ type: T.StopControlConnectionRequest, reason });
const stopRp = () => encodeControlMessage({ type: T.StopControlConnectionReply, resultCode: 1, errorCode: 0 });

function setup(opts: Partial<ControlConnectionOptions> = {}) {
  const transport = new FakeTransport();
  const handler = new FakeHandler();
  const conn = new ControlConnection(transport, handler, { hostName: 'portico-test', log: pino({ level: 'silent' }), ...opts });
  return { transport, handler, conn };
}

function established(opts: Partial<ControlConnectionOptions> = {}) {
  const s = setup(opts);
  s.conn.feed(sccrq());
  s.transport.take();
  return s;
}

describe('ControlConnection', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('happy path: SCCRQ → SCCRP, OCRQ → OCRP, CCRQ → CDN', () => {
    const { transport, handler, conn } = setup();
    expect(conn.state).toBe('wait-sccrq');

    conn.feed(PPTP_LINUX_SCCRQ);
    expect(conn.state).toBe('established');
    const sccrp = encodeControlMessage(transport.take()[0]!);
    expect(sccrp.subarray(0, 28)).toEqual(hex('009c 0001 1a2b3c4d 0002 0000  0100 01 00  00000003 00000003 ffff 0001'));
    expect(decodeControlMessage(sccrp)).toMatchObject({ hostName: 'portico-test', vendor: 'Portico' });

    conn.feed(ocrq(0)); // pptp-linux numbers its first call 0
    expect(handler.opened).toEqual([{ peerCallId: 0, serial: 1, maxBps: 100_000_000, minBps: 300, recvWindow: 64, processingDelay: 0, phoneNumber: '' }]);
    expect(transport.take()).toEqual([
      { type: T.OutgoingCallReply, callId: 1, peerCallId: 0, resultCode: 1, errorCode: 0, causeCode: 0, connectSpeed: 100_000_000, recvWindowSize: 64, processingDelay: 0, physicalChannelId: 0 },
    ]);
    expect([...conn.calls.keys()]).toEqual([1]);

    conn.feed(ccrq(0));
    expect(transport.take()).toEqual([{ type: T.CallDisconnectNotify, callId: 1, resultCode: 4, errorCode: 0, causeCode: 0, callStatistics: '' }]);
    expect(handler.cleared).toEqual([{ callId: 1, reason: 'peer-call-clear' }]);
    expect(conn.calls.size).toBe(0);
    expect(transport.closed).toBe(0);

    conn.feed(stopRq());
    expect(transport.take()).toEqual([{ type: T.StopControlConnectionReply, resultCode: 1, errorCode: 0 }]);
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
  });

  it('a connection without a call for callGraceMs is stopped (StopCCRQ), before its first call and after its last', () => {
    const a = established({ callGraceMs: 5000 });
    vi.advanceTimersByTime(4999);
    expect(a.transport.take()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(a.transport.take().map((m) => m.type)).toEqual([T.StopControlConnectionRequest]);

    const b = established({ callGraceMs: 5000 });
    b.conn.feed(ocrq(7));
    vi.advanceTimersByTime(10_000); // a live call: no limit
    b.conn.feed(ccrq(7));
    b.transport.take();
    vi.advanceTimersByTime(5000);
    expect(b.transport.take().map((m) => m.type)).toEqual([T.StopControlConnectionRequest]);
  });

  it('three OCRQs on one connection get three distinct calls', () => {
    const { transport, handler, conn } = established();
    conn.feed(Buffer.concat([ocrq(0, 1), ocrq(1, 2), ocrq(2, 3)]));
    const replies = transport.take();
    expect(replies).toHaveLength(3);
    const pairs = replies.map((m) => {
      expect(m.type).toBe(T.OutgoingCallReply);
      const r = m as Extract<ControlMessage, { type: 8 }>;
      expect(r.resultCode).toBe(1);
      return [r.callId, r.peerCallId];
    });
    expect(pairs).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
    ]);
    expect(new Set(conn.calls.keys()).size).toBe(3);
    expect(handler.opened.map((i) => i.serial)).toEqual([1, 2, 3]);

    conn.feed(ccrq(1));
    expect(transport.take()).toEqual([{ type: T.CallDisconnectNotify, callId: 2, resultCode: 4, errorCode: 0, causeCode: 0, callStatistics: '' }]);
    expect([...conn.calls.keys()]).toEqual([1, 3]);
  });

  it('refuses an OCRQ that reuses a live peer Call ID (result 2, Bad-Call ID)', () => {
    const { transport, handler, conn } = established();
    conn.feed(ocrq(5));
    transport.take();
    conn.feed(ocrq(5));
    expect(transport.take()).toEqual([
      { type: T.OutgoingCallReply, callId: 0, peerCallId: 5, resultCode: 2, errorCode: 5, causeCode: 0, connectSpeed: 0, recvWindowSize: 0, processingDelay: 0, physicalChannelId: 0 },
    ]);
    expect(handler.opened).toHaveLength(1);
    expect(conn.calls.size).toBe(1);
  });

  it('passes a handler refusal on in the OCRP', () => {
    const { transport, handler, conn } = established();
    handler.refuse = { resultCode: 2, errorCode: 4 };
    conn.feed(ocrq(9));
    expect(transport.take()[0]).toMatchObject({ type: T.OutgoingCallReply, callId: 0, peerCallId: 9, resultCode: 2, errorCode: 4 });
    expect(conn.calls.size).toBe(0);
  });

  it('answers OCRQ before SCCRQ with result 2 / Not-Connected', () => {
    const { transport, handler, conn } = setup();
    conn.feed(ocrq(3));
    expect(transport.take()[0]).toMatchObject({ type: T.OutgoingCallReply, callId: 0, peerCallId: 3, resultCode: 2, errorCode: 1 });
    expect(handler.opened).toHaveLength(0);
    expect(conn.state).toBe('wait-sccrq');
  });

  it('answers an unsupported version with SCCRP result 5 and closes', () => {
    const { transport, conn } = setup();
    conn.feed(sccrq(0x0200));
    expect(transport.take()[0]).toMatchObject({ type: T.StartControlConnectionReply, resultCode: 5, protocolVersion: 0x0100 });
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
  });

  it('answers a second SCCRQ with result 3', () => {
    const { transport, conn } = established();
    conn.feed(sccrq());
    expect(transport.take()[0]).toMatchObject({ type: T.StartControlConnectionReply, resultCode: 3 });
    expect(conn.state).toBe('established');
  });

  it('StopCCRQ from the client clears every call and closes', () => {
    const { transport, handler, conn } = established();
    conn.feed(Buffer.concat([ocrq(10), ocrq(11)]));
    transport.take();
    conn.feed(stopRq(1));
    expect(transport.take()).toEqual([{ type: T.StopControlConnectionReply, resultCode: 1, errorCode: 0 }]);
    expect(handler.cleared.map((c) => c.callId).sort()).toEqual([1, 2]);
    expect(handler.cleared.every((c) => c.reason === 'peer-stop')).toBe(true);
    expect(conn.calls.size).toBe(0);
    expect(transport.closed).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('answers Echo-Request with the same identifier', () => {
    const { transport, conn } = established();
    conn.feed(echoRq(0x01020304));
    const reply = transport.written[0]!;
    expect(reply).toEqual(hex('0014 0001 1a2b3c4d 0006 0000 01020304 01 00 0000'));
  });

  it('ignores SLI, ICRQ/ICRP/ICCN/WEN and CCRQ for an unknown call', () => {
    const { transport, conn } = established();
    conn.feed(ocrq(1));
    transport.take();
    for (const i of [8, 9, 10, 13, 14]) conn.feed(encodeControlMessage(SAMPLES[i]!));
    conn.feed(ccrq(999));
    expect(transport.take()).toEqual([]);
    expect(conn.calls.size).toBe(1);
    expect(conn.state).toBe('established');
  });

  it('keepalive: Echo-Request after the idle interval, closes when unanswered', () => {
    const { transport, handler, conn } = established({ echoIntervalMs: 60_000, echoTimeoutMs: 60_000 });
    conn.feed(ocrq(4));
    transport.take();
    vi.advanceTimersByTime(59_999);
    expect(transport.written).toHaveLength(0);
    vi.advanceTimersByTime(1);
    const echo = transport.take();
    expect(echo).toHaveLength(1);
    expect(echo[0]!.type).toBe(T.EchoRequest);
    vi.advanceTimersByTime(59_999);
    expect(transport.closed).toBe(0);
    vi.advanceTimersByTime(1);
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
    expect(handler.cleared).toEqual([{ callId: 1, reason: 'echo-timeout' }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keepalive: an Echo-Reply (any message) keeps the connection', () => {
    const { transport, conn } = established({ echoIntervalMs: 1000, echoTimeoutMs: 500 });
    vi.advanceTimersByTime(1000);
    const rq = transport.take()[0] as Extract<ControlMessage, { type: 5 }>;
    conn.feed(encodeControlMessage({ type: T.EchoReply, identifier: rq.identifier, resultCode: 1, errorCode: 0 }));
    vi.advanceTimersByTime(999);
    expect(transport.closed).toBe(0);
    expect(transport.written).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(transport.take()[0]!.type).toBe(T.EchoRequest);
    expect(conn.state).toBe('established');
  });

  it('closes when no SCCRQ arrives in time', () => {
    const { transport, conn } = setup({ startTimeoutMs: 30_000 });
    vi.advanceTimersByTime(30_000);
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
  });

  it('disconnectCall: CDN; for the last call also StopCCRQ, then close on StopCCRP', () => {
    const { transport, handler, conn } = established();
    conn.feed(Buffer.concat([ocrq(20), ocrq(21)]));
    transport.take();

    conn.disconnectCall(1);
    expect(transport.take()).toEqual([{ type: T.CallDisconnectNotify, callId: 1, resultCode: 3, errorCode: 0, causeCode: 0, callStatistics: '' }]);
    expect(conn.state).toBe('established');

    conn.disconnectCall(2, 1, 'lcp echo lost');
    expect(transport.take()).toEqual([
      { type: T.CallDisconnectNotify, callId: 2, resultCode: 1, errorCode: 0, causeCode: 0, callStatistics: 'lcp echo lost' },
      { type: T.StopControlConnectionRequest, reason: 1 },
    ]);
    expect(conn.state).toBe('wait-stop-reply');
    expect(handler.cleared).toEqual([]); // the caller started it
    expect(transport.closed).toBe(0);

    conn.feed(stopRp());
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
  });

  it('disconnectCall of the last call closes after the stop timer without StopCCRP', () => {
    const { transport, conn } = established({ stopReplyTimeoutMs: 5000 });
    conn.feed(ocrq(1));
    conn.disconnectCall(1);
    vi.advanceTimersByTime(4999);
    expect(transport.closed).toBe(0);
    vi.advanceTimersByTime(1);
    expect(transport.closed).toBe(1);
  });

  it('stop(): CDN for each call, StopCCRQ with the reason, callCleared for each', () => {
    const { transport, handler, conn } = established();
    conn.feed(Buffer.concat([ocrq(1), ocrq(2)]));
    transport.take();
    conn.stop(3);
    expect(transport.take().map((m) => m.type)).toEqual([T.CallDisconnectNotify, T.CallDisconnectNotify, T.StopControlConnectionRequest]);
    expect(handler.cleared.map((c) => c.reason)).toEqual(['local-stop', 'local-stop']);
    conn.feed(stopRp());
    expect(transport.closed).toBe(1);
  });

  it('transportClosed clears every call and stops all timers', () => {
    const { handler, conn, transport } = established();
    conn.feed(Buffer.concat([ocrq(1), ocrq(2)]));
    conn.transportClosed();
    expect(handler.cleared).toEqual([
      { callId: 1, reason: 'transport-closed' },
      { callId: 2, reason: 'transport-closed' },
    ]);
    expect(conn.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
    transport.take();
    conn.feed(echoRq(1)); // after close: nothing
    expect(transport.written).toHaveLength(0);
  });

  it('garbage bytes: closes, clears calls, never throws', () => {
    const { transport, handler, conn } = established();
    conn.feed(ocrq(1));
    transport.take();
    expect(() => conn.feed(Buffer.from('\x00\x05garbage garbage garbage', 'latin1'))).not.toThrow();
    expect(transport.closed).toBe(1);
    expect(conn.state).toBe('closed');
    expect(handler.cleared).toEqual([{ callId: 1, reason: 'protocol-error' }]);
    expect(transport.written).toHaveLength(0);
    expect(() => conn.feed(echoRq(1))).not.toThrow();
    expect(transport.written).toHaveLength(0);
  });

  it('unknown control type with intact framing: CDN + StopCCRQ (Stop-Protocol)', () => {
    const { transport, handler, conn } = established();
    conn.feed(ocrq(1));
    transport.take();
    const bad = echoRq(1);
    bad.writeUInt16BE(42, 8);
    conn.feed(bad);
    expect(transport.take()).toEqual([
      { type: T.CallDisconnectNotify, callId: 1, resultCode: 3, errorCode: 0, causeCode: 0, callStatistics: '' },
      { type: T.StopControlConnectionRequest, reason: 2 },
    ]);
    expect(handler.cleared).toEqual([{ callId: 1, reason: 'protocol-error' }]);
    expect(conn.state).toBe('wait-stop-reply');
  });

  it('survives a throwing handler', () => {
    const { transport, conn } = established();
    const handler = (conn as unknown as { handler: CallHandler }).handler;
    handler.openCall = () => {
      throw new Error('boom');
    };
    expect(() => conn.feed(ocrq(1))).not.toThrow();
    expect(transport.take()[0]).toMatchObject({ type: T.OutgoingCallReply, resultCode: 2, errorCode: 6 });
    expect(conn.state).toBe('established');
  });
});
