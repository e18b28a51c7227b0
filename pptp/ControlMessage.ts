// PPTP control messages (RFC 2637 §2; Microsoft profile [MS-PTPT]): codec for all 15 types and the
// TCP stream reassembler. All 15 types are fixed-size (RFC 2637 §2; sizes as in accel-ppp pptp_prot.h),
// so a decoder demands the exact length. Reserved fields are written as 0 and ignored on receive
// ([MS-PTPT] asks receivers to be lenient there).

/** Magic Cookie of every control message (RFC 2637 §2.1). */
export const PPTP_MAGIC_COOKIE = 0x1a2b3c4d;
/** Protocol Version 1, revision 0 (RFC 2637 §2.2). */
export const PPTP_PROTOCOL_VERSION = 0x0100;
/** PPTP Message Type 1 = Control Message; 2 (Management) has no defined messages. */
export const PPTP_MESSAGE_TYPE_CONTROL = 1;
export const CONTROL_HEADER_LENGTH = 12;
/** Largest control message (Incoming-Call-Request). */
export const MAX_CONTROL_MESSAGE_LENGTH = 220;

export const ControlMessageType = {
  StartControlConnectionRequest: 1,
  StartControlConnectionReply: 2,
  StopControlConnectionRequest: 3,
  StopControlConnectionReply: 4,
  EchoRequest: 5,
  EchoReply: 6,
  OutgoingCallRequest: 7,
  OutgoingCallReply: 8,
  IncomingCallRequest: 9,
  IncomingCallReply: 10,
  IncomingCallConnected: 11,
  CallClearRequest: 12,
  CallDisconnectNotify: 13,
  WanErrorNotify: 14,
  SetLinkInfo: 15,
} as const;
export type ControlMessageType = (typeof ControlMessageType)[keyof typeof ControlMessageType];

/** Fixed total length of each control message type, header included (RFC 2637 §2.1–§2.15; accel-ppp pptp_prot.h). Index = type. */
const FIXED_LENGTH: readonly number[] = [0, 156, 156, 16, 16, 16, 20, 168, 32, 220, 24, 28, 16, 148, 40, 24];

export function controlMessageLength(type: number): number | undefined {
  return type >= 1 && type <= 15 ? FIXED_LENGTH[type] : undefined;
}

/** General Error Codes (RFC 2637 §2.16). */
export const GeneralError = {
  None: 0,
  NotConnected: 1,
  BadFormat: 2,
  BadValue: 3,
  NoResource: 4,
  BadCallId: 5,
  PacError: 6,
} as const;

/** Start-Control-Connection-Reply Result Code (RFC 2637 §2.2). */
export const StartControlResult = {
  Success: 1,
  GeneralError: 2,
  ChannelExists: 3,
  NotAuthorized: 4,
  VersionNotSupported: 5,
} as const;

/** Stop-Control-Connection-Request Reason (RFC 2637 §2.3). */
export const StopReason = { None: 1, StopProtocol: 2, LocalShutdown: 3 } as const;

/** Outgoing-Call-Reply Result Code (RFC 2637 §2.8). */
export const OutgoingCallResult = {
  Connected: 1,
  GeneralError: 2,
  NoCarrier: 3,
  Busy: 4,
  NoDialTone: 5,
  TimeOut: 6,
  DoNotAccept: 7,
} as const;

/** Call-Disconnect-Notify Result Code (RFC 2637 §2.13). */
export const CallDisconnectResult = { LostCarrier: 1, GeneralError: 2, AdminShutdown: 3, Request: 4 } as const;

/** Framing / bearer capability bits (RFC 2637 §2.1). */
export const FramingCapability = { Async: 1, Sync: 2 } as const;
export const BearerCapability = { Analog: 1, Digital: 2 } as const;

type T = typeof ControlMessageType;

export interface StartControlConnectionRequest {
  type: T['StartControlConnectionRequest'];
  protocolVersion: number;
  framingCapabilities: number;
  bearerCapabilities: number;
  maxChannels: number;
  firmwareRevision: number;
  hostName: string;
  vendor: string;
}

export interface StartControlConnectionReply {
  type: T['StartControlConnectionReply'];
  protocolVersion: number;
  resultCode: number;
  errorCode: number;
  framingCapabilities: number;
  bearerCapabilities: number;
  maxChannels: number;
  firmwareRevision: number;
  hostName: string;
  vendor: string;
}

export interface StopControlConnectionRequest {
  type: T['StopControlConnectionRequest'];
  reason: number;
}

export interface StopControlConnectionReply {
  type: T['StopControlConnectionReply'];
  resultCode: number;
  errorCode: number;
}

export interface EchoRequest {
  type: T['EchoRequest'];
  identifier: number;
}

export interface EchoReply {
  type: T['EchoReply'];
  identifier: number;
  resultCode: number;
  errorCode: number;
}

export interface OutgoingCallRequest {
  type: T['OutgoingCallRequest'];
  /** The sender's (client's) Call ID. */
  callId: number;
  callSerialNumber: number;
  minBps: number;
  maxBps: number;
  bearerType: number;
  framingType: number;
  recvWindowSize: number;
  /** 1/10 s units. */
  processingDelay: number;
  phoneNumberLength: number;
  phoneNumber: string;
  /** 64 octets as received; Windows puts a binary 16-octet correlation GUID here ([MS-PTPT] note <10>). */
  subaddress: Buffer;
}

export interface OutgoingCallReply {
  type: T['OutgoingCallReply'];
  /** The sender's (server's) Call ID. */
  callId: number;
  peerCallId: number;
  resultCode: number;
  errorCode: number;
  causeCode: number;
  connectSpeed: number;
  recvWindowSize: number;
  processingDelay: number;
  physicalChannelId: number;
}

export interface IncomingCallRequest {
  type: T['IncomingCallRequest'];
  callId: number;
  callSerialNumber: number;
  bearerType: number;
  physicalChannelId: number;
  dialedNumberLength: number;
  dialingNumberLength: number;
  dialedNumber: string;
  dialingNumber: string;
  subaddress: Buffer;
}

export interface IncomingCallReply {
  type: T['IncomingCallReply'];
  callId: number;
  peerCallId: number;
  resultCode: number;
  errorCode: number;
  recvWindowSize: number;
  transmitDelay: number;
}

export interface IncomingCallConnected {
  type: T['IncomingCallConnected'];
  peerCallId: number;
  connectSpeed: number;
  recvWindowSize: number;
  transmitDelay: number;
  framingType: number;
}

export interface CallClearRequest {
  type: T['CallClearRequest'];
  /** The sender's (client's) own Call ID (RFC 2637 §2.12). */
  callId: number;
}

export interface CallDisconnectNotify {
  type: T['CallDisconnectNotify'];
  /** The sender's (server's) own Call ID (RFC 2637 §2.13, [MS-PTPT] §4 capture). */
  callId: number;
  resultCode: number;
  errorCode: number;
  causeCode: number;
  callStatistics: string;
}

export interface WanErrorNotify {
  type: T['WanErrorNotify'];
  peerCallId: number;
  crcErrors: number;
  framingErrors: number;
  hardwareOverruns: number;
  bufferOverruns: number;
  timeoutErrors: number;
  alignmentErrors: number;
}

export interface SetLinkInfo {
  type: T['SetLinkInfo'];
  peerCallId: number;
  sendAccm: number;
  recvAccm: number;
}

export type ControlMessage =
  | StartControlConnectionRequest
  | StartControlConnectionReply
  | StopControlConnectionRequest
  | StopControlConnectionReply
  | EchoRequest
  | EchoReply
  | OutgoingCallRequest
  | OutgoingCallReply
  | IncomingCallRequest
  | IncomingCallReply
  | IncomingCallConnected
  | CallClearRequest
  | CallDisconnectNotify
  | WanErrorNotify
  | SetLinkInfo;

/** A control message (or the stream carrying it) violates RFC 2637 framing. */
export class ControlFormatError extends Error {
  override readonly name = 'ControlFormatError';
  constructor(
    message: string,
    /** General Error Code (RFC 2637 §2.16) describing the problem; Bad-Format for length/magic/type. */
    readonly generalError: number = GeneralError.BadFormat,
    /** Control Message Type of the offending message when the header was readable. */
    readonly controlMessageType?: number,
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);
const HOST_NAME_SIZE = 64;
const VENDOR_SIZE = 64;
const PHONE_SIZE = 64;
const SUBADDRESS_SIZE = 64;
const CALL_STATISTICS_SIZE = 128;

/** Field up to its first NUL, as latin1 (ASCII on the wire; latin1 never throws on 8-bit bytes). */
function readString(buf: Buffer, off: number, size: number): string {
  let end = off;
  const limit = off + size;
  while (end < limit && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

/** NUL-padded field; keeps at least one terminating NUL because C peers (pptp-linux) print it with %s. */
function writeString(buf: Buffer, off: number, size: number, value: string): void {
  if (value.length > 0) buf.write(value, off, size - 1, 'latin1');
}

function writeBytes(buf: Buffer, off: number, size: number, value: Buffer): void {
  value.copy(buf, off, 0, Math.min(value.length, size));
}

/** Decodes exactly one control message; buf.length must equal its Length field. */
export function decodeControlMessage(buf: Buffer): ControlMessage {
  if (buf.length < CONTROL_HEADER_LENGTH) {
    throw new ControlFormatError(`control message shorter than its header (${buf.length} octets)`);
  }
  const length = buf.readUInt16BE(0);
  if (length !== buf.length) {
    throw new ControlFormatError(`Length field ${length} does not match the ${buf.length} octets given`);
  }
  const messageType = buf.readUInt16BE(2);
  if (messageType !== PPTP_MESSAGE_TYPE_CONTROL) {
    throw new ControlFormatError(`PPTP Message Type ${messageType} is not a control message`);
  }
  const magic = buf.readUInt32BE(4);
  if (magic !== PPTP_MAGIC_COOKIE) {
    throw new ControlFormatError(`bad Magic Cookie 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const type = buf.readUInt16BE(8);
  const expected = controlMessageLength(type);
  if (expected === undefined) {
    throw new ControlFormatError(`unknown Control Message Type ${type}`, GeneralError.BadFormat, type);
  }
  if (length !== expected) {
    throw new ControlFormatError(`Control Message Type ${type} must be ${expected} octets, got ${length}`, GeneralError.BadFormat, type);
  }

  switch (type) {
    case ControlMessageType.StartControlConnectionRequest:
      return {
        type,
        protocolVersion: buf.readUInt16BE(12),
        framingCapabilities: buf.readUInt32BE(16),
        bearerCapabilities: buf.readUInt32BE(20),
        maxChannels: buf.readUInt16BE(24),
        firmwareRevision: buf.readUInt16BE(26),
        hostName: readString(buf, 28, HOST_NAME_SIZE),
        vendor: readString(buf, 92, VENDOR_SIZE),
      };
    case ControlMessageType.StartControlConnectionReply:
      return {
        type,
        protocolVersion: buf.readUInt16BE(12),
        resultCode: buf[14]!,
        errorCode: buf[15]!,
        framingCapabilities: buf.readUInt32BE(16),
        bearerCapabilities: buf.readUInt32BE(20),
        maxChannels: buf.readUInt16BE(24),
        firmwareRevision: buf.readUInt16BE(26),
        hostName: readString(buf, 28, HOST_NAME_SIZE),
        vendor: readString(buf, 92, VENDOR_SIZE),
      };
    case ControlMessageType.StopControlConnectionRequest:
      return { type, reason: buf[12]! };
    case ControlMessageType.StopControlConnectionReply:
      return { type, resultCode: buf[12]!, errorCode: buf[13]! };
    case ControlMessageType.EchoRequest:
      return { type, identifier: buf.readUInt32BE(12) };
    case ControlMessageType.EchoReply:
      return { type, identifier: buf.readUInt32BE(12), resultCode: buf[16]!, errorCode: buf[17]! };
    case ControlMessageType.OutgoingCallRequest:
      return {
        type,
        callId: buf.readUInt16BE(12),
        callSerialNumber: buf.readUInt16BE(14),
        minBps: buf.readUInt32BE(16),
        maxBps: buf.readUInt32BE(20),
        bearerType: buf.readUInt32BE(24),
        framingType: buf.readUInt32BE(28),
        recvWindowSize: buf.readUInt16BE(32),
        processingDelay: buf.readUInt16BE(34),
        phoneNumberLength: buf.readUInt16BE(36),
        phoneNumber: readString(buf, 40, PHONE_SIZE),
        subaddress: Buffer.from(buf.subarray(104, 104 + SUBADDRESS_SIZE)),
      };
    case ControlMessageType.OutgoingCallReply:
      return {
        type,
        callId: buf.readUInt16BE(12),
        peerCallId: buf.readUInt16BE(14),
        resultCode: buf[16]!,
        errorCode: buf[17]!,
        causeCode: buf.readUInt16BE(18),
        connectSpeed: buf.readUInt32BE(20),
        recvWindowSize: buf.readUInt16BE(24),
        processingDelay: buf.readUInt16BE(26),
        physicalChannelId: buf.readUInt32BE(28),
      };
    case ControlMessageType.IncomingCallRequest:
      return {
        type,
        callId: buf.readUInt16BE(12),
        callSerialNumber: buf.readUInt16BE(14),
        bearerType: buf.readUInt32BE(16),
        physicalChannelId: buf.readUInt32BE(20),
        dialedNumberLength: buf.readUInt16BE(24),
        dialingNumberLength: buf.readUInt16BE(26),
        dialedNumber: readString(buf, 28, PHONE_SIZE),
        dialingNumber: readString(buf, 92, PHONE_SIZE),
        subaddress: Buffer.from(buf.subarray(156, 156 + SUBADDRESS_SIZE)),
      };
    case ControlMessageType.IncomingCallReply:
      return {
        type,
        callId: buf.readUInt16BE(12),
        peerCallId: buf.readUInt16BE(14),
        resultCode: buf[16]!,
        errorCode: buf[17]!,
        recvWindowSize: buf.readUInt16BE(18),
        transmitDelay: buf.readUInt16BE(20),
      };
    case ControlMessageType.IncomingCallConnected:
      return {
        type,
        peerCallId: buf.readUInt16BE(12),
        connectSpeed: buf.readUInt32BE(16),
        recvWindowSize: buf.readUInt16BE(20),
        transmitDelay: buf.readUInt16BE(22),
        framingType: buf.readUInt32BE(24),
      };
    case ControlMessageType.CallClearRequest:
      return { type, callId: buf.readUInt16BE(12) };
    case ControlMessageType.CallDisconnectNotify:
      return {
        type,
        callId: buf.readUInt16BE(12),
        resultCode: buf[14]!,
        errorCode: buf[15]!,
        causeCode: buf.readUInt16BE(16),
        callStatistics: readString(buf, 20, CALL_STATISTICS_SIZE),
      };
    case ControlMessageType.WanErrorNotify:
      return {
        type,
        peerCallId: buf.readUInt16BE(12),
        crcErrors: buf.readUInt32BE(16),
        framingErrors: buf.readUInt32BE(20),
        hardwareOverruns: buf.readUInt32BE(24),
        bufferOverruns: buf.readUInt32BE(28),
        timeoutErrors: buf.readUInt32BE(32),
        alignmentErrors: buf.readUInt32BE(36),
      };
    case ControlMessageType.SetLinkInfo:
      return {
        type,
        peerCallId: buf.readUInt16BE(12),
        sendAccm: buf.readUInt32BE(16),
        recvAccm: buf.readUInt32BE(20),
      };
    default:
      // Unreachable: controlMessageLength() admitted only 1..15.
      throw new ControlFormatError(`unknown Control Message Type ${type}`, GeneralError.BadFormat, type);
  }
}

/** Encodes one control message into a fresh Buffer of its fixed length (reserved fields 0). */
export function encodeControlMessage(msg: ControlMessage): Buffer {
  const length = FIXED_LENGTH[msg.type]!;
  const buf = Buffer.alloc(length);
  buf.writeUInt16BE(length, 0);
  buf.writeUInt16BE(PPTP_MESSAGE_TYPE_CONTROL, 2);
  buf.writeUInt32BE(PPTP_MAGIC_COOKIE, 4);
  buf.writeUInt16BE(msg.type, 8);

  switch (msg.type) {
    case ControlMessageType.StartControlConnectionRequest:
    case ControlMessageType.StartControlConnectionReply:
      buf.writeUInt16BE(msg.protocolVersion, 12);
      if (msg.type === ControlMessageType.StartControlConnectionReply) {
        buf[14] = msg.resultCode;
        buf[15] = msg.errorCode;
      }
      buf.writeUInt32BE(msg.framingCapabilities >>> 0, 16);
      buf.writeUInt32BE(msg.bearerCapabilities >>> 0, 20);
      buf.writeUInt16BE(msg.maxChannels, 24);
      buf.writeUInt16BE(msg.firmwareRevision, 26);
      writeString(buf, 28, HOST_NAME_SIZE, msg.hostName);
      writeString(buf, 92, VENDOR_SIZE, msg.vendor);
      break;
    case ControlMessageType.StopControlConnectionRequest:
      buf[12] = msg.reason;
      break;
    case ControlMessageType.StopControlConnectionReply:
      buf[12] = msg.resultCode;
      buf[13] = msg.errorCode;
      break;
    case ControlMessageType.EchoRequest:
      buf.writeUInt32BE(msg.identifier >>> 0, 12);
      break;
    case ControlMessageType.EchoReply:
      buf.writeUInt32BE(msg.identifier >>> 0, 12);
      buf[16] = msg.resultCode;
      buf[17] = msg.errorCode;
      break;
    case ControlMessageType.OutgoingCallRequest:
      buf.writeUInt16BE(msg.callId, 12);
      buf.writeUInt16BE(msg.callSerialNumber, 14);
      buf.writeUInt32BE(msg.minBps >>> 0, 16);
      buf.writeUInt32BE(msg.maxBps >>> 0, 20);
      buf.writeUInt32BE(msg.bearerType >>> 0, 24);
      buf.writeUInt32BE(msg.framingType >>> 0, 28);
      buf.writeUInt16BE(msg.recvWindowSize, 32);
      buf.writeUInt16BE(msg.processingDelay, 34);
      buf.writeUInt16BE(msg.phoneNumberLength, 36);
      writeString(buf, 40, PHONE_SIZE, msg.phoneNumber);
      writeBytes(buf, 104, SUBADDRESS_SIZE, msg.subaddress);
      break;
    case ControlMessageType.OutgoingCallReply:
      buf.writeUInt16BE(msg.callId, 12);
      buf.writeUInt16BE(msg.peerCallId, 14);
      buf[16] = msg.resultCode;
      buf[17] = msg.errorCode;
      buf.writeUInt16BE(msg.causeCode, 18);
      buf.writeUInt32BE(msg.connectSpeed >>> 0, 20);
      buf.writeUInt16BE(msg.recvWindowSize, 24);
      buf.writeUInt16BE(msg.processingDelay, 26);
      buf.writeUInt32BE(msg.physicalChannelId >>> 0, 28);
      break;
    case ControlMessageType.IncomingCallRequest:
      buf.writeUInt16BE(msg.callId, 12);
      buf.writeUInt16BE(msg.callSerialNumber, 14);
      buf.writeUInt32BE(msg.bearerType >>> 0, 16);
      buf.writeUInt32BE(msg.physicalChannelId >>> 0, 20);
      buf.writeUInt16BE(msg.dialedNumberLength, 24);
      buf.writeUInt16BE(msg.dialingNumberLength, 26);
      writeString(buf, 28, PHONE_SIZE, msg.dialedNumber);
      writeString(buf, 92, PHONE_SIZE, msg.dialingNumber);
      writeBytes(buf, 156, SUBADDRESS_SIZE, msg.subaddress);
      break;
    case ControlMessageType.IncomingCallReply:
      buf.writeUInt16BE(msg.callId, 12);
      buf.writeUInt16BE(msg.peerCallId, 14);
      buf[16] = msg.resultCode;
      buf[17] = msg.errorCode;
      buf.writeUInt16BE(msg.recvWindowSize, 18);
      buf.writeUInt16BE(msg.transmitDelay, 20);
      break;
    case ControlMessageType.IncomingCallConnected:
      buf.writeUInt16BE(msg.peerCallId, 12);
      buf.writeUInt32BE(msg.connectSpeed >>> 0, 16);
      buf.writeUInt16BE(msg.recvWindowSize, 20);
      buf.writeUInt16BE(msg.transmitDelay, 22);
      buf.writeUInt32BE(msg.framingType >>> 0, 24);
      break;
    case ControlMessageType.CallClearRequest:
      buf.writeUInt16BE(msg.callId, 12);
      break;
    case ControlMessageType.CallDisconnectNotify:
      buf.writeUInt16BE(msg.callId, 12);
      buf[14] = msg.resultCode;
      buf[15] = msg.errorCode;
      buf.writeUInt16BE(msg.causeCode, 16);
      writeString(buf, 20, CALL_STATISTICS_SIZE, msg.callStatistics);
      break;
    case ControlMessageType.WanErrorNotify:
      buf.writeUInt16BE(msg.peerCallId, 12);
      buf.writeUInt32BE(msg.crcErrors >>> 0, 16);
      buf.writeUInt32BE(msg.framingErrors >>> 0, 20);
      buf.writeUInt32BE(msg.hardwareOverruns >>> 0, 24);
      buf.writeUInt32BE(msg.bufferOverruns >>> 0, 28);
      buf.writeUInt32BE(msg.timeoutErrors >>> 0, 32);
      buf.writeUInt32BE(msg.alignmentErrors >>> 0, 36);
      break;
    case ControlMessageType.SetLinkInfo:
      buf.writeUInt16BE(msg.peerCallId, 12);
      buf.writeUInt32BE(msg.sendAccm >>> 0, 16);
      buf.writeUInt32BE(msg.recvAccm >>> 0, 20);
      break;
  }
  return buf;
}

/**
 * Splits the TCP byte stream into control messages by their Length field.
 *
 * Length (12..220), PPTP Message Type (1) and Magic Cookie are checked as soon as their octets
 * arrive, before a message is returned: a mismatch means the stream is out of sync and RFC 2637
 * §1.4 gives no way to resynchronise, so the error is sticky and the connection must close.
 * Control Message Type and its fixed length are left to decodeControlMessage(), because framing
 * is still intact there and the connection may answer with Stop-Control-Connection-Request.
 *
 * Memory: after next() has drained, at most one partial message (< 220 octets) stays buffered;
 * push() refuses to hold more than maxBufferedBytes undrained octets.
 */
export class ControlStreamReassembler {
  private pending: Buffer = EMPTY;
  private offset = 0;
  private failure: ControlFormatError | null = null;

  /** Default leaves room for a full 64 KiB socket read on top of a partial message. */
  constructor(private readonly maxBufferedBytes = 256 * 1024) {}

  /** Octets received but not yet returned as a message. */
  get bufferedBytes(): number {
    return this.pending.length - this.offset;
  }

  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    const buffered = this.bufferedBytes;
    if (buffered + chunk.length > this.maxBufferedBytes) {
      this.failure = new ControlFormatError(`control stream reassembler over its ${this.maxBufferedBytes}-octet limit (next() not drained)`, GeneralError.NoResource);
      throw this.failure;
    }
    if (buffered === 0) {
      this.pending = chunk;
    } else {
      this.pending = Buffer.concat([this.pending.subarray(this.offset), chunk]);
    }
    this.offset = 0;
  }

  /** The next complete message (a copy, safe to keep), or null until more octets arrive. */
  next(): Buffer | null {
    if (this.failure) throw this.failure;
    const buf = this.pending;
    const off = this.offset;
    const available = buf.length - off;
    if (available < 2) return null;

    const length = buf.readUInt16BE(off);
    if (length < CONTROL_HEADER_LENGTH || length > MAX_CONTROL_MESSAGE_LENGTH) {
      return this.fail(`control message Length ${length} outside ${CONTROL_HEADER_LENGTH}..${MAX_CONTROL_MESSAGE_LENGTH}`);
    }
    if (available >= 4) {
      const messageType = buf.readUInt16BE(off + 2);
      if (messageType !== PPTP_MESSAGE_TYPE_CONTROL) {
        return this.fail(`PPTP Message Type ${messageType} is not a control message`);
      }
    }
    if (available >= 8) {
      const magic = buf.readUInt32BE(off + 4);
      if (magic !== PPTP_MAGIC_COOKIE) {
        return this.fail(`bad Magic Cookie 0x${magic.toString(16).padStart(8, '0')}`);
      }
    }
    if (available < length) return null;

    const message = Buffer.from(buf.subarray(off, off + length));
    this.offset = off + length;
    if (this.offset === buf.length) {
      // Drop the reference so a large socket chunk is not kept alive by an empty remainder.
      this.pending = EMPTY;
      this.offset = 0;
    }
    return message;
  }

  private fail(reason: string): never {
    this.failure = new ControlFormatError(`control stream out of sync: ${reason}`);
    this.pending = EMPTY;
    this.offset = 0;
    throw this.failure;
  }
}
