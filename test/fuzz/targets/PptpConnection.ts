// The PAC side of a PPTP control connection (pptp/ControlConnection.ts) fed through feed(): the input
// is the client's TCP byte stream. Documented behaviour: feed() never throws; broken framing closes,
// bad messages stop the connection; an exception from inside the state machine is caught and logged
// ("control message failed, closing"): that log line is a finding here.
// Invariants: the outputs are valid control messages, at most a few per input message; no call is
// opened before an SCCRP with result 1 was written; nothing is written or opened after close(), which
// comes at most once; every call that went live is cleared exactly once by the end; and the same
// stream cut into any TCP reads gives the same trace (events and written octets) and the same state.

import { outgoingCallRequest, startControlConnectionRequest } from '../../../bench/client/ControlRequests.js';
import { type CallHandler, type CallRequestInfo, ControlConnection } from '../../../pptp/ControlConnection.js';
import { ControlMessageType, decodeControlMessage, encodeControlMessage } from '../../../pptp/ControlMessage.js';
import { checkNoWarning, recorder, timers } from '../Helpers.js';
import { hashBytes, Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';
import { corruptHeader, randomControlMessage } from './PptpCodec.js';

const T = ControlMessageType;

interface Trace {
  /** Written messages (octets) and handler/transport events, in order. */
  events: (string | Buffer)[];
  state: string;
  liveCalls: number[];
  cleared: Map<number, number>;
  connected: Set<number>;
  opensBeforeStart: number;
  writesAfterClose: number;
  closes: number;
  warnings: string[];
}

/** Feeds `chunks` to a fresh connection, then (per `stopAfter`) stop(), then transportClosed(). */
function drive(chunks: readonly Buffer[], stopAfter: boolean, validate = true): Trace {
  recorder.reset();
  timers.reset();
  const trace: Trace = {
    events: [],
    state: '',
    liveCalls: [],
    cleared: new Map(),
    connected: new Set(),
    opensBeforeStart: 0,
    writesAfterClose: 0,
    closes: 0,
    warnings: [],
  };
  let started = false;
  let nextId = 1;
  const live = new Set<number>();
  const transport = {
    peerAddress: '192.0.2.7',
    write(buf: Buffer) {
      if (trace.closes > 0) trace.writesAfterClose++;
      if (validate) decodeControlMessage(buf); // our own output must decode
      const type = buf.readUInt16BE(8);
      if (type === T.StartControlConnectionReply && buf[14] === 1) started = true;
      if (type === T.OutgoingCallReply && buf[16] === 1) {
        trace.connected.add(buf.readUInt16BE(12));
        live.add(buf.readUInt16BE(12));
      }
      trace.events.push(buf);
    },
    close() {
      trace.closes++;
      trace.events.push('close');
    },
  };
  const handler: CallHandler = {
    openCall(conn: ControlConnection, info: CallRequestInfo) {
      if (!started || trace.closes > 0) trace.opensBeforeStart++;
      const k = info.peerCallId % 23;
      let decision: ReturnType<CallHandler['openCall']>;
      if (k === 3) decision = { resultCode: 7, errorCode: 0 };
      else if (k === 5) decision = { callId: 0 };
      else if (k === 6 && live.size > 0)
        decision = { callId: [...live][0]! }; // already live: must be refused
      else if (k === 8) {
        trace.events.push(`open ${info.peerCallId} throws`);
        throw new Error('call handler refuses by throwing');
      } else decision = { callId: nextId++ };
      trace.events.push(`open ${info.peerCallId} -> ${JSON.stringify(decision)}`);
      if (k === 9) conn.stop();
      return decision;
    },
    callCleared(_conn, callId, reason) {
      trace.cleared.set(callId, (trace.cleared.get(callId) ?? 0) + 1);
      live.delete(callId);
      trace.events.push(`cleared ${callId} ${reason}`);
    },
  };
  const conn = new ControlConnection(transport, handler, { log: recorder.logger });
  for (const c of chunks) conn.feed(c);
  trace.state = conn.state;
  trace.liveCalls = [...conn.calls.keys()];
  if (stopAfter) conn.stop();
  conn.transportClosed();
  check(conn.state === 'closed', 'connection not closed after transportClosed()');
  check(timers.pending === 0, `${timers.pending} timers left after the connection closed`);
  trace.warnings = [...recorder.warnings];
  return trace;
}

function sameEvent(a: string | Buffer | undefined, b: string | Buffer | undefined): boolean {
  return typeof a === 'string' || typeof b === 'string' || a === undefined || b === undefined ? a === b : a.equals(b);
}

function sameTrace(a: Trace, b: Trace): boolean {
  return a.state === b.state && a.events.length === b.events.length && a.events.every((e, i) => sameEvent(e, b.events[i]));
}

const show = (e: string | Buffer | undefined) => (e === undefined ? '(none)' : typeof e === 'string' ? e : `wrote ${e.toString('hex')}`);

function checkTrace(t: Trace, input: Buffer): void {
  checkNoWarning(t.warnings, /control message failed|callCleared handler failed|control write failed|transport close failed/, 'ControlConnection');
  check(t.closes <= 1, `transport.close() called ${t.closes} times`);
  check(t.writesAfterClose === 0, `${t.writesAfterClose} writes after close()`);
  check(t.opensBeforeStart === 0, 'openCall() before a successful Start-Control-Connection-Reply (or after close)');
  const writes = t.events.filter((e) => typeof e !== 'string').length;
  const bound = 2 * Math.floor(input.length / 12) + 4;
  check(writes <= bound, `${writes} messages written for ${input.length} input octets (bound ${bound})`);
  for (const id of t.connected) check(t.cleared.get(id) === 1, `call ${id} went live but was cleared ${t.cleared.get(id) ?? 0} times`);
  for (const [id, n] of t.cleared) check(n === 1, `call ${id} cleared ${n} times`);
}

/** The same stream in one read and in `chunks` must give the same trace. */
function checkSplit(reference: Trace, chunks: Buffer[], stopAfter: boolean, how: string): void {
  const t = drive(chunks, stopAfter, false);
  check(sameTrace(reference, t), () => {
    const i = reference.events.findIndex((e, k) => !sameEvent(e, t.events[k]));
    return `stream split ${how} differs from the unsplit stream at event ${i}: ${show(t.events[i])} vs ${show(reference.events[i])}; state ${t.state} vs ${reference.state}`;
  });
}

/** Every single cut of `stream` into two TCP reads (exported for the exhaustive test of the valid streams). */
export function checkEveryBoundary(stream: Buffer, pairs = false): number {
  const reference = drive([stream], false);
  checkTrace(reference, stream);
  let runs = 0;
  for (let b = 1; b < stream.length; b++) {
    checkSplit(reference, [stream.subarray(0, b), stream.subarray(b)], false, `at ${b}`);
    runs++;
    if (pairs) {
      for (let c = b + 1; c < stream.length; c++) {
        checkSplit(reference, [stream.subarray(0, b), stream.subarray(b, c), stream.subarray(c)], false, `at ${b} and ${c}`);
        runs++;
      }
    }
  }
  // And one octet per read.
  checkSplit(
    reference,
    [...stream].map((x) => Buffer.from([x])),
    false,
    'into single octets',
  );
  return runs + 1;
}

// pptp-linux's values (the lab's trace).
const SCCRQ = (version = 0x0100) =>
  encodeControlMessage(startControlConnectionRequest({ protocolVersion: version, framingCapabilities: 3, bearerCapabilities: 3, maxChannels: 0xffff, hostName: 'local', vendor: 'cananian' }));
const OCRQ = (callId: number) => encodeControlMessage(outgoingCallRequest(callId, { callSerialNumber: 1, minBps: 2400, maxBps: 10_000_000 }));
const SLI = (callId: number) => encodeControlMessage({ type: T.SetLinkInfo, peerCallId: callId, sendAccm: 0xffffffff, recvAccm: 0xffffffff });
const ECHO = (id: number) => encodeControlMessage({ type: T.EchoRequest, identifier: id });
const CCRQ = (callId: number) => encodeControlMessage({ type: T.CallClearRequest, callId });
const STOP = () => encodeControlMessage({ type: T.StopControlConnectionRequest, reason: 1 });

/** Valid conversations: pptp-linux, Windows (call ID 0x8001), shared mode with two calls. */
export const VALID_STREAMS: readonly Buffer[] = [
  Buffer.concat([SCCRQ(), OCRQ(0), SLI(0), ECHO(1), CCRQ(0), STOP()]),
  Buffer.concat([SCCRQ(), OCRQ(0x8001), SLI(0x8001), CCRQ(0x8001), STOP()]),
  Buffer.concat([SCCRQ(), OCRQ(1), OCRQ(2), ECHO(7), CCRQ(2), OCRQ(3), CCRQ(1)]),
  Buffer.concat([SCCRQ(), OCRQ(4)]),
];

export const pptpConnectionTarget: FuzzTarget = {
  name: 'pptp-connection',
  maxInputLength: 2400,
  setup: () => timers.install(),
  teardown: () => timers.uninstall(),

  seedInputs() {
    return [...VALID_STREAMS, SCCRQ(0x0200), Buffer.concat([OCRQ(5), SCCRQ(), STOP()])];
  },

  generate(rng) {
    const parts: Buffer[] = [];
    const ids = [0, 1, 2, 3, 9, 26, 28, 31, 32, 0x8001, rng.int(0x10000)];
    if (rng.chance(0.85)) parts.push(SCCRQ(rng.chance(0.9) ? 0x0100 : rng.int(0x10000)));
    for (let n = rng.range(1, 9); n > 0; n--) {
      const r = rng.float();
      let m: Buffer;
      if (r < 0.3) m = OCRQ(rng.pick(ids));
      else if (r < 0.45) m = CCRQ(rng.pick(ids));
      else if (r < 0.55) m = ECHO(rng.u32());
      else if (r < 0.6) m = SLI(rng.pick(ids));
      else if (r < 0.65) m = STOP();
      else if (r < 0.7) m = SCCRQ();
      else if (r < 0.85) m = encodeControlMessage(randomControlMessage(rng, undefined, rng.pick(ids)));
      else m = corruptHeader(rng, encodeControlMessage(randomControlMessage(rng)));
      parts.push(m);
    }
    return Buffer.concat(parts);
  },

  run(input) {
    const h = hashBytes(input);
    const stopAfter = (h & 7) === 0;
    const whole = drive([input], stopAfter);
    checkTrace(whole, input);

    // Random TCP reads (sizes from the input's hash), and now and then every single boundary.
    const rng = new Prng(h);
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const n = 1 + (rng.chance(0.4) ? rng.int(12) : rng.int(400));
      chunks.push(input.subarray(at, at + n));
      at += n;
    }
    checkSplit(whole, chunks, stopAfter, `into ${chunks.length} reads`);
    // Every sixteenth input: eight single cuts too (the valid streams get every cut in their own test).
    if (((h >>> 8) & 15) === 0) {
      for (let n = 0; n < 8 && input.length > 1; n++) {
        const b = 1 + rng.int(input.length - 1);
        checkSplit(whole, [input.subarray(0, b), input.subarray(b)], stopAfter, `at ${b}`);
      }
    }
    const closedBy = whole.events.includes('close') ? 'closed' : 'open';
    return `${whole.state}/${closedBy}, ${whole.connected.size > 0 ? 'calls' : 'no calls'}`;
  },
};
