// PPTP control message codec (pptp/ControlMessage.ts): decodeControlMessage on one buffer, and the
// same bytes as a TCP stream through ControlStreamReassembler (whole and in input-derived chunks).
// Documented errors: ControlFormatError only (decoder and reassembler). Invariants: a decoded message
// re-encodes to the same fields (strings keep their terminating NUL, so at most size-1 characters);
// the reassembler returns a prefix of the stream cut at the Length fields, each with a sane header,
// holds at most one partial message after draining, and its failure is sticky; chunking changes
// nothing.

import { isDeepStrictEqual } from 'node:util';
import {
  CONTROL_HEADER_LENGTH,
  ControlFormatError,
  type ControlMessage,
  ControlMessageType,
  ControlStreamReassembler,
  controlMessageLength,
  decodeControlMessage,
  encodeControlMessage,
  MAX_CONTROL_MESSAGE_LENGTH,
  PPTP_MAGIC_COOKIE,
} from '../../../pptp/ControlMessage.js';
import { hashBytes, Prng } from '../Prng.js';
import { allowOnly, attempt, check, type FuzzTarget } from '../run.js';

const T = ControlMessageType;

function text(rng: Prng, max: number): string {
  if (rng.chance(0.3)) return '';
  const n = rng.chance(0.2) ? max : rng.int(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.9) ? rng.range(0x20, 0x7e) : rng.range(1, 0xff));
  return s;
}

function u16v(rng: Prng): number {
  return rng.chance(0.3) ? rng.pick([0, 1, 0x7fff, 0x8000, 0xffff]) : rng.int(0x10000);
}

function u32v(rng: Prng): number {
  return rng.chance(0.3) ? rng.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) : rng.u32();
}

/** A well-formed message of `type` (random when omitted) with random field values. */
export function randomControlMessage(rng: Prng, type: number = rng.range(1, 15), callId?: number): ControlMessage {
  const id = () => callId ?? (rng.chance(0.5) ? rng.int(4) : u16v(rng));
  const code = () => (rng.chance(0.7) ? rng.range(0, 7) : rng.byte());
  switch (type) {
    case T.StartControlConnectionRequest:
    case T.StartControlConnectionReply: {
      const common = {
        protocolVersion: rng.chance(0.8) ? 0x0100 : u16v(rng),
        framingCapabilities: u32v(rng),
        bearerCapabilities: u32v(rng),
        maxChannels: u16v(rng),
        firmwareRevision: u16v(rng),
        hostName: text(rng, 64),
        vendor: text(rng, 64),
      };
      return type === T.StartControlConnectionRequest
        ? { type: T.StartControlConnectionRequest, ...common }
        : { type: T.StartControlConnectionReply, resultCode: code(), errorCode: code(), ...common };
    }
    case T.StopControlConnectionRequest:
      return { type: T.StopControlConnectionRequest, reason: code() };
    case T.StopControlConnectionReply:
      return { type: T.StopControlConnectionReply, resultCode: code(), errorCode: code() };
    case T.EchoRequest:
      return { type: T.EchoRequest, identifier: u32v(rng) };
    case T.EchoReply:
      return { type: T.EchoReply, identifier: u32v(rng), resultCode: code(), errorCode: code() };
    case T.OutgoingCallRequest: {
      const phone = text(rng, 64);
      return {
        type: T.OutgoingCallRequest,
        callId: id(),
        callSerialNumber: u16v(rng),
        minBps: u32v(rng),
        maxBps: u32v(rng),
        bearerType: rng.range(0, 3),
        framingType: rng.range(0, 3),
        recvWindowSize: u16v(rng),
        processingDelay: u16v(rng),
        phoneNumberLength: rng.chance(0.8) ? Math.min(phone.length, 63) : u16v(rng),
        phoneNumber: phone,
        subaddress: rng.chance(0.5) ? Buffer.alloc(64) : rng.bytes(rng.int(65)),
      };
    }
    case T.OutgoingCallReply:
      return {
        type: T.OutgoingCallReply,
        callId: id(),
        peerCallId: id(),
        resultCode: code(),
        errorCode: code(),
        causeCode: u16v(rng),
        connectSpeed: u32v(rng),
        recvWindowSize: u16v(rng),
        processingDelay: u16v(rng),
        physicalChannelId: u32v(rng),
      };
    case T.IncomingCallRequest:
      return {
        type: T.IncomingCallRequest,
        callId: id(),
        callSerialNumber: u16v(rng),
        bearerType: u32v(rng),
        physicalChannelId: u32v(rng),
        dialedNumberLength: u16v(rng),
        dialingNumberLength: u16v(rng),
        dialedNumber: text(rng, 64),
        dialingNumber: text(rng, 64),
        subaddress: rng.bytes(rng.int(65)),
      };
    case T.IncomingCallReply:
      return { type: T.IncomingCallReply, callId: id(), peerCallId: id(), resultCode: code(), errorCode: code(), recvWindowSize: u16v(rng), transmitDelay: u16v(rng) };
    case T.IncomingCallConnected:
      return { type: T.IncomingCallConnected, peerCallId: id(), connectSpeed: u32v(rng), recvWindowSize: u16v(rng), transmitDelay: u16v(rng), framingType: u32v(rng) };
    case T.CallClearRequest:
      return { type: T.CallClearRequest, callId: id() };
    case T.CallDisconnectNotify:
      return { type: T.CallDisconnectNotify, callId: id(), resultCode: code(), errorCode: code(), causeCode: u16v(rng), callStatistics: text(rng, 128) };
    case T.WanErrorNotify:
      return {
        type: T.WanErrorNotify,
        peerCallId: id(),
        crcErrors: u32v(rng),
        framingErrors: u32v(rng),
        hardwareOverruns: u32v(rng),
        bufferOverruns: u32v(rng),
        timeoutErrors: u32v(rng),
        alignmentErrors: u32v(rng),
      };
    default:
      return { type: T.SetLinkInfo, peerCallId: id(), sendAccm: u32v(rng), recvAccm: u32v(rng) };
  }
}

/** A header-level corruption of an encoded message: what the stream and decoder checks look at. */
export function corruptHeader(rng: Prng, msg: Buffer): Buffer {
  const b = Buffer.from(msg);
  switch (rng.int(6)) {
    case 0:
      b.writeUInt16BE(rng.pick([0, 11, 12, 13, 155, 157, 219, 220, 221, 0xffff, b.length - 1, b.length + 1]) & 0xffff, 0);
      return b;
    case 1:
      b.writeUInt16BE(rng.pick([0, 2, 0x100, 0xffff]), 2);
      return b;
    case 2:
      b.writeUInt32BE((PPTP_MAGIC_COOKIE ^ (1 << rng.int(32))) >>> 0, 4);
      return b;
    case 3:
      b.writeUInt16BE(rng.pick([0, 16, 17, 0xff, 0x100, 0xffff]), 8);
      return b;
    case 4: {
      // Another type's fixed length: framing intact, wrong length for the type.
      const other = rng.range(1, 15);
      const len = controlMessageLength(other)!;
      const out = Buffer.alloc(len);
      b.copy(out, 0, 0, Math.min(b.length, len));
      out.writeUInt16BE(len, 0);
      return out;
    }
    default:
      return Buffer.from(b.subarray(0, rng.range(0, b.length - 1)));
  }
}

/** Strings as decode(encode(m)) gives them back: NUL-terminated fields keep at most size-1 characters. */
function normalise(msg: ControlMessage): ControlMessage {
  const cut = (s: string, size: number) => {
    const nul = s.indexOf('\0');
    return (nul >= 0 ? s.slice(0, nul) : s).slice(0, size - 1);
  };
  switch (msg.type) {
    case T.StartControlConnectionRequest:
    case T.StartControlConnectionReply:
      return { ...msg, hostName: cut(msg.hostName, 64), vendor: cut(msg.vendor, 64) };
    case T.OutgoingCallRequest:
      return { ...msg, phoneNumber: cut(msg.phoneNumber, 64) };
    case T.IncomingCallRequest:
      return { ...msg, dialedNumber: cut(msg.dialedNumber, 64), dialingNumber: cut(msg.dialingNumber, 64) };
    case T.CallDisconnectNotify:
      return { ...msg, callStatistics: cut(msg.callStatistics, 128) };
    default:
      return msg;
  }
}

interface StreamResult {
  messages: Buffer[];
  error: ControlFormatError | null;
  buffered: number;
}

/** Pushes `chunks` through a reassembler, draining after each; checks the per-step invariants. */
function reassemble(chunks: Buffer[]): StreamResult {
  const r = new ControlStreamReassembler();
  const messages: Buffer[] = [];
  let error: ControlFormatError | null = null;
  for (const chunk of chunks) {
    const name = allowOnly(
      [ControlFormatError],
      () => {
        r.push(chunk);
        for (let m = r.next(); m !== null; m = r.next()) {
          check(m.length >= CONTROL_HEADER_LENGTH && m.length <= MAX_CONTROL_MESSAGE_LENGTH, `reassembler returned a ${m.length}-octet message`);
          check(m.readUInt16BE(0) === m.length, 'reassembler message length differs from its Length field');
          check(m.readUInt16BE(2) === 1 && m.readUInt32BE(4) === PPTP_MAGIC_COOKIE, 'reassembler returned a message with a bad header');
          messages.push(m);
          check(messages.length <= 4096, 'reassembler returned more messages than octets allow');
        }
        check(r.bufferedBytes < MAX_CONTROL_MESSAGE_LENGTH, `reassembler holds ${r.bufferedBytes} octets after draining`);
      },
      'ControlStreamReassembler',
    );
    if (name !== null) {
      try {
        r.next();
      } catch (e) {
        error = e as ControlFormatError;
      }
      check(error instanceof ControlFormatError, 'reassembler failure is not sticky (next() after the failure did not throw it)');
      let again: unknown = null;
      try {
        r.push(Buffer.from([0]));
      } catch (e) {
        again = e;
      }
      check(again === error, 'reassembler push() after a failure did not throw the same error');
      break;
    }
  }
  return { messages, error, buffered: r.bufferedBytes };
}

export const pptpCodecTarget: FuzzTarget = {
  name: 'pptp-codec',
  maxInputLength: 1200,

  seedInputs() {
    const rng = new Prng(0xc0dec);
    const out: Buffer[] = [];
    for (let type = 1; type <= 15; type++) out.push(encodeControlMessage(randomControlMessage(rng, type)));
    // The pptp-linux SCCRQ then OCRQ as one stream.
    out.push(Buffer.concat([out[0]!, out[6]!, out[4]!]));
    return out;
  },

  generate(rng) {
    const one = () => {
      const m = encodeControlMessage(randomControlMessage(rng));
      return rng.chance(0.25) ? corruptHeader(rng, m) : m;
    };
    if (rng.chance(0.7)) return one();
    const parts: Buffer[] = [];
    for (let n = rng.range(2, 5); n > 0; n--) parts.push(one());
    return Buffer.concat(parts);
  },

  run(input) {
    // 1. One message.
    let label = '';
    const decoded = attempt([ControlFormatError], () => decodeControlMessage(input), 'decodeControlMessage');
    if (!decoded.ok) {
      label = 'decode error';
    } else {
      const msg = decoded.value;
      check(input.length === controlMessageLength(msg.type), 'decoded a message whose length is not its type\u2019s fixed length');
      check(msg.type === input.readUInt16BE(8), 'decoded type differs from the Control Message Type field');
      const again = decodeControlMessage(encodeControlMessage(msg));
      check(isDeepStrictEqual(again, normalise(msg)), () => `decode(encode(m)) != m: ${JSON.stringify(again)} vs ${JSON.stringify(msg)}`);
      label = `decoded type ${msg.type}`;
    }

    // 2. The same octets as a TCP stream: whole, then in chunks cut where the input's hash says.
    const whole = reassemble([input]);
    const rng = new Prng(hashBytes(input));
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const n = 1 + (rng.chance(0.5) ? rng.int(4) : rng.int(300));
      chunks.push(input.subarray(at, at + n));
      at += n;
    }
    const split = reassemble(chunks);
    let total = 0;
    for (const m of whole.messages) {
      check(m.equals(input.subarray(total, total + m.length)), 'reassembled messages are not a prefix of the stream');
      total += m.length;
    }
    if (whole.error === null) check(whole.buffered === input.length - total, 'reassembler lost or invented octets');
    check(whole.messages.length === split.messages.length && whole.messages.every((m, i) => m.equals(split.messages[i]!)), 'chunked stream gives other messages than the whole stream');
    check((whole.error === null) === (split.error === null), 'chunked stream fails differently from the whole stream');
    return `${label}; stream ${whole.error ? 'error' : 'ok'}`;
  },
};
