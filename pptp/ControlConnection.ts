// Server (PAC, TCP receiver) side of one PPTP control connection (RFC 2637 §3).
// Pure state machine: bytes in through feed(), bytes out through a ControlTransport, calls
// handed to a CallHandler. No sockets here.
//
// Decisions where the sources leave a choice:
// - Several calls per control connection are supported (pptp-linux --session-mode shared).
// - OCRQ whose peer Call ID is already live on this connection: OCRP result 2 (General Error),
//   error 5 (Bad-Call ID, "Call ID invalid in this context", RFC 2637 §2.16); the existing call is
//   left alone. Call IDs must be unique per tunnel (RFC 2637 §3.2.2), a duplicate would make CCRQ
//   ambiguous. Peer Call ID 0 is valid (pptp-linux numbers its calls from 0).
// - A message with intact framing but an unknown Control Message Type or a wrong length for its
//   type is a protocol violation: CDN for live calls, StopCCRQ reason 2 (Stop-Protocol), close
//   after StopCCRP or the stop timer. Before the control connection exists: close at once.
//   Broken framing (Length/Message Type/Magic): close at once, never resynchronise (RFC 2637 §1.4).
// - ICRQ/ICRP/ICCN/WEN, SCCRP/OCRP/CDN/StopCCRP-out-of-place from the client: logged and ignored
//   ([MS-PTPT] note <13>: answer an unexpected ICRP silently).
// - Peer CCRQ: CDN result 4 (Request); we do not stop the control connection ourselves then — the
//   client does (Windows: StopCCRQ; pptp-linux: closes TCP), and shared mode may open more calls.
// - Keepalive: any received message counts as a sign of life; Echo-Request after echoIntervalMs of
//   silence, close if still silent echoTimeoutMs later (RFC 2637 §3.1.4). echoIntervalMs <= 0 = off.
// - WAIT_SCCRQ: OCRQ gets OCRP result 2 / error 1 (Not-Connected) like accel-ppp; other messages
//   are ignored; the start timer closes the connection.

import type { Logger } from 'pino';
import {
  BearerCapability,
  CallDisconnectResult,
  ControlFormatError,
  type ControlMessage,
  ControlMessageType,
  ControlStreamReassembler,
  decodeControlMessage,
  encodeControlMessage,
  FramingCapability,
  GeneralError,
  type OutgoingCallRequest,
  OutgoingCallResult,
  PPTP_PROTOCOL_VERSION,
  StartControlResult,
  StopReason,
} from './ControlMessage.js';

export interface ControlTransport {
  /** Queue bytes on the TCP connection. */
  write(buf: Buffer): void;
  /** Graceful close: flush what was written, then FIN. Called at most once. */
  close(): void;
  readonly peerAddress: string;
}

export interface CallRequestInfo {
  peerCallId: number;
  serial: number;
  maxBps: number;
  minBps: number;
  recvWindow: number;
  processingDelay: number;
  phoneNumber: string;
}

export interface CallHandler {
  /**
   * OCRQ accepted by the state machine; return our Call ID (unique server-wide, e.g. from
   * CallIdAllocator), or a refusal (OCRP result code + error code). The OCRP is written right
   * after this returns, so PPP should start after it (the client drops GRE for unknown calls).
   */
  openCall(conn: ControlConnection, info: CallRequestInfo): { callId: number } | { resultCode: number; errorCode: number };
  /**
   * The call is gone (CCRQ from the peer, StopCCRQ, TCP loss, echo timeout, stop(), protocol error).
   * The session layer tears PPP down; no CDN is expected from it: the connection already sent what
   * the protocol needs. Not called for calls ended through disconnectCall().
   */
  callCleared(conn: ControlConnection, callId: number, end: CallEnd): void;
}

/**
 * Why a call was cleared without the session layer asking (RFC 2637 §3.1.4 states and timers):
 * the peer's Call-Clear-Request or Stop-Control-Connection-Request, or the connection failing.
 */
export type CallEnd =
  | 'peer-call-clear'
  | 'peer-stop'
  | 'transport-closed'
  | 'echo-timeout'
  | 'start-timeout'
  | 'stop-timeout'
  | 'protocol-error'
  | 'unsupported-version'
  /** stop() by our side: the server is shutting the connection. */
  | 'local-stop'
  /** The connection closed while the call handler was accepting the call. */
  | 'closed-during-open';

export interface ControlConnectionOptions {
  /** WAIT_SCCRQ timer (RFC 2637 §3.1.4: 60 s; Windows uses 30 s). */
  startTimeoutMs?: number;
  /** Send Echo-Request after this long without any received message; <= 0 disables keepalive. */
  echoIntervalMs?: number;
  /** Close if nothing arrives this long after our Echo-Request. */
  echoTimeoutMs?: number;
  /** Wait for StopCCRP after our StopCCRQ (accel-ppp: 5 s). */
  stopReplyTimeoutMs?: number;
  hostName?: string;
  vendor?: string;
  /** Maximum Channels announced in SCCRP (informational; the PNS must not rely on it). */
  maxChannels?: number;
  /** Packet Recv. Window Size announced in OCRP. */
  recvWindow?: number;
  /**
   * An established connection without a live call this long is stopped (StopCCRQ): a client opens its
   * call right after the SCCRP, and an idle connection only holds a socket. Absent or <= 0: never.
   */
  callGraceMs?: number;
  /** This connection's logger, already bound to the peer (the listener binds `peer`: a field of the same name here would repeat the key). */
  log: Logger;
}

export const ControlConnectionState = {
  WaitStartRequest: 'wait-sccrq',
  Established: 'established',
  WaitStopReply: 'wait-stop-reply',
  Closed: 'closed',
} as const;
export type ControlConnectionState = (typeof ControlConnectionState)[keyof typeof ControlConnectionState];

const FIRMWARE_REVISION = 1;

type Timer = ReturnType<typeof setTimeout>;

export class ControlConnection {
  private stateValue: ControlConnectionState = ControlConnectionState.WaitStartRequest;
  private readonly reassembler = new ControlStreamReassembler();
  /** Our Call ID → what the client asked for. */
  private readonly callsById = new Map<number, CallRequestInfo>();
  /** Client's Call ID → our Call ID (CCRQ carries the client's ID). */
  private readonly callIdByPeer = new Map<number, number>();

  private readonly startTimeoutMs: number;
  private readonly echoIntervalMs: number;
  private readonly echoTimeoutMs: number;
  private readonly stopReplyTimeoutMs: number;
  private readonly hostName: string;
  private readonly vendor: string;
  private readonly maxChannels: number;
  private readonly recvWindow: number;
  private readonly log: Logger;

  private startTimer: Timer | null = null;
  private idleTimer: Timer | null = null;
  private echoTimer: Timer | null = null;
  private stopTimer: Timer | null = null;
  private noCallTimer: Timer | null = null;
  private readonly callGraceMs: number;
  private echoIdentifier = 0;

  constructor(
    private readonly transport: ControlTransport,
    private readonly handler: CallHandler,
    opts: ControlConnectionOptions,
  ) {
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.echoIntervalMs = opts.echoIntervalMs ?? 60_000;
    this.echoTimeoutMs = opts.echoTimeoutMs ?? 60_000;
    this.stopReplyTimeoutMs = opts.stopReplyTimeoutMs ?? 5_000;
    this.hostName = opts.hostName ?? 'portico';
    this.vendor = opts.vendor ?? 'Portico';
    this.maxChannels = opts.maxChannels ?? 0xffff;
    this.recvWindow = opts.recvWindow ?? 64;
    this.log = opts.log;
    this.callGraceMs = opts.callGraceMs ?? 0;
    this.startTimer = this.timer(this.startTimeoutMs, () => {
      this.log.warn('PPTP: no Start-Control-Connection-Request in time');
      this.closeNow('start-timeout');
    });
  }

  get state(): string {
    return this.stateValue;
  }

  get calls(): ReadonlyMap<number, CallRequestInfo> {
    return this.callsById;
  }

  /** Bytes from TCP. Never throws: broken framing closes, bad messages stop the connection. */
  feed(chunk: Buffer): void {
    if (this.isClosed()) return;
    try {
      this.reassembler.push(chunk);
      for (;;) {
        // A handler callback or the previous message may have closed us.
        if (this.isClosed()) return;
        const raw = this.reassembler.next();
        if (raw === null) return;
        let msg: ControlMessage;
        try {
          msg = decodeControlMessage(raw);
        } catch (err) {
          this.onMalformed(err);
          continue;
        }
        this.dispatch(msg);
      }
    } catch (err) {
      this.log.warn({ err: describe(err) }, err instanceof ControlFormatError ? 'PPTP: control stream out of sync, closing' : 'PPTP: control message failed, closing');
      this.closeNow('protocol-error');
    }
  }

  private isClosed(): boolean {
    return this.stateValue === ControlConnectionState.Closed;
  }

  /** TCP closed or reset by the peer: every call on it is gone ([MS-PTPT] §3.1.7.1). */
  transportClosed(): void {
    if (this.stateValue === ControlConnectionState.Closed) return;
    this.log.debug({ calls: this.callsById.size }, 'PPTP: control connection closed by peer');
    this.enterClosed();
    this.clearAllCalls('transport-closed');
  }

  /**
   * Server-side teardown of one call: CDN (default result 3 Admin Shutdown), forget the call
   * (callCleared is not called: the caller started this). When no call remains, StopCCRQ (reason 1)
   * and close after StopCCRP or the stop timer ([MS-PTPT] §3.2.4).
   */
  disconnectCall(callId: number, resultCode: number = CallDisconnectResult.AdminShutdown, statistics = ''): void {
    const info = this.callsById.get(callId);
    if (info === undefined || this.stateValue !== ControlConnectionState.Established) {
      this.log.debug({ callId }, 'PPTP: disconnectCall for a call that is not live');
      return;
    }
    this.forgetCall(callId, info);
    this.sendCallDisconnectNotify(callId, resultCode, statistics);
    this.log.debug({ callId, peerCallId: info.peerCallId, resultCode }, 'PPTP: call disconnected by server');
    if (this.callsById.size === 0) this.beginStop(StopReason.None);
  }

  /** Whole connection: CDN for each live call (callCleared for each), StopCCRQ, close. */
  stop(reason: number = StopReason.None): void {
    switch (this.stateValue) {
      case ControlConnectionState.WaitStartRequest:
        this.closeNow('local-stop');
        return;
      case ControlConnectionState.Established:
        this.disconnectAllCalls('local-stop');
        this.beginStop(reason);
        return;
      default:
        return;
    }
  }

  // ---- receive -------------------------------------------------------------------------------

  private dispatch(msg: ControlMessage): void {
    switch (this.stateValue) {
      case ControlConnectionState.WaitStartRequest:
        this.onWaitStartRequest(msg);
        return;
      case ControlConnectionState.Established:
        this.heardFromPeer();
        this.onEstablished(msg);
        return;
      case ControlConnectionState.WaitStopReply:
        this.onWaitStopReply(msg);
        return;
      default:
        return;
    }
  }

  private onWaitStartRequest(msg: ControlMessage): void {
    switch (msg.type) {
      case ControlMessageType.StartControlConnectionRequest: {
        this.log.debug({ version: msg.protocolVersion, hostName: msg.hostName, vendor: msg.vendor, firmware: msg.firmwareRevision }, 'PPTP: Start-Control-Connection-Request');
        this.clearTimer('startTimer');
        if (msg.protocolVersion !== PPTP_PROTOCOL_VERSION) {
          this.sendStartReply(StartControlResult.VersionNotSupported);
          this.closeNow('unsupported-version');
          return;
        }
        this.sendStartReply(StartControlResult.Success);
        this.stateValue = ControlConnectionState.Established;
        this.armNoCallTimer();
        this.heardFromPeer();
        return;
      }
      case ControlMessageType.OutgoingCallRequest:
        this.log.warn({ peerCallId: msg.callId }, 'PPTP: Outgoing-Call-Request before the control connection');
        this.sendOutgoingCallReply(0, msg.callId, OutgoingCallResult.GeneralError, GeneralError.NotConnected, 0);
        return;
      case ControlMessageType.StopControlConnectionRequest:
        this.send({ type: ControlMessageType.StopControlConnectionReply, resultCode: 1, errorCode: GeneralError.None });
        this.closeNow('peer-stop');
        return;
      default:
        this.log.debug({ type: msg.type }, 'PPTP: message before Start-Control-Connection-Request ignored');
    }
  }

  private onEstablished(msg: ControlMessage): void {
    switch (msg.type) {
      case ControlMessageType.StartControlConnectionRequest:
        this.log.warn('PPTP: second Start-Control-Connection-Request');
        this.sendStartReply(StartControlResult.ChannelExists);
        return;
      case ControlMessageType.OutgoingCallRequest:
        this.onOutgoingCallRequest(msg);
        return;
      case ControlMessageType.CallClearRequest:
        this.onCallClearRequest(msg.callId);
        return;
      case ControlMessageType.EchoRequest:
        this.send({ type: ControlMessageType.EchoReply, identifier: msg.identifier, resultCode: 1, errorCode: GeneralError.None });
        return;
      case ControlMessageType.EchoReply:
        // heardFromPeer() already cleared the outstanding echo.
        return;
      case ControlMessageType.SetLinkInfo:
        // ACCMs mean nothing on GRE (no async framing); pppd/pptpd and accel-ppp ignore SLI too.
        this.log.debug({ callId: msg.peerCallId, sendAccm: msg.sendAccm, recvAccm: msg.recvAccm }, 'PPTP: Set-Link-Info ignored');
        return;
      case ControlMessageType.StopControlConnectionRequest:
        this.log.debug({ reason: msg.reason, calls: this.callsById.size }, 'PPTP: Stop-Control-Connection-Request');
        this.send({ type: ControlMessageType.StopControlConnectionReply, resultCode: 1, errorCode: GeneralError.None });
        this.closeNow('peer-stop');
        return;
      default:
        // ICRQ/ICRP/ICCN/WEN (not part of the VPN profile), and PAC-to-PNS messages sent back at us.
        this.log.info({ type: msg.type }, 'PPTP: unexpected control message ignored');
    }
  }

  private onWaitStopReply(msg: ControlMessage): void {
    switch (msg.type) {
      case ControlMessageType.StopControlConnectionReply:
        this.closeNow('local-stop');
        return;
      case ControlMessageType.StopControlConnectionRequest:
        // Both sides stopping at once: answer and finish.
        this.send({ type: ControlMessageType.StopControlConnectionReply, resultCode: 1, errorCode: GeneralError.None });
        this.closeNow('local-stop');
        return;
      default:
        this.log.debug({ type: msg.type }, 'PPTP: message while stopping ignored');
    }
  }

  private onOutgoingCallRequest(msg: OutgoingCallRequest): void {
    const info: CallRequestInfo = {
      peerCallId: msg.callId,
      serial: msg.callSerialNumber,
      maxBps: msg.maxBps,
      minBps: msg.minBps,
      recvWindow: msg.recvWindowSize,
      processingDelay: msg.processingDelay,
      phoneNumber: msg.phoneNumber,
    };
    // Subaddress: Windows' correlation GUID, logged for matching client-side traces.
    const logFields = { peerCallId: msg.callId, serial: msg.callSerialNumber, subaddress: trimmedHex(msg.subaddress) };

    if (this.callIdByPeer.has(msg.callId)) {
      this.log.warn(logFields, 'PPTP: Outgoing-Call-Request reuses a live peer Call ID');
      this.sendOutgoingCallReply(0, msg.callId, OutgoingCallResult.GeneralError, GeneralError.BadCallId, 0);
      return;
    }

    let decision: ReturnType<CallHandler['openCall']>;
    try {
      decision = this.handler.openCall(this, info);
    } catch (err) {
      this.log.warn({ ...logFields, err: describe(err) }, 'PPTP: call handler failed');
      decision = { resultCode: OutgoingCallResult.GeneralError, errorCode: GeneralError.PacError };
    }
    if (this.stateValue !== ControlConnectionState.Established) {
      // The handler stopped this connection meanwhile: no OCRP; hand an accepted ID back.
      if ('callId' in decision) this.notifyCleared(decision.callId, 'closed-during-open');
      return;
    }

    if ('callId' in decision) {
      const callId = decision.callId;
      if (!Number.isInteger(callId) || callId < 1 || callId > 0xffff || this.callsById.has(callId)) {
        this.log.warn({ ...logFields, callId }, 'PPTP: call handler returned an unusable Call ID');
        this.sendOutgoingCallReply(0, msg.callId, OutgoingCallResult.GeneralError, GeneralError.PacError, 0);
        return;
      }
      this.callsById.set(callId, info);
      this.clearTimer('noCallTimer');
      this.callIdByPeer.set(msg.callId, callId);
      this.sendOutgoingCallReply(callId, msg.callId, OutgoingCallResult.Connected, GeneralError.None, msg.maxBps);
      this.log.debug({ ...logFields, callId, calls: this.callsById.size }, 'PPTP: call open');
    } else {
      this.log.info({ ...logFields, resultCode: decision.resultCode, errorCode: decision.errorCode }, 'PPTP: call refused');
      this.sendOutgoingCallReply(0, msg.callId, decision.resultCode, decision.errorCode, 0);
    }
  }

  private onCallClearRequest(peerCallId: number): void {
    const callId = this.callIdByPeer.get(peerCallId);
    if (callId === undefined) {
      this.log.info({ peerCallId }, 'PPTP: Call-Clear-Request for an unknown call ignored');
      return;
    }
    const info = this.callsById.get(callId)!;
    this.forgetCall(callId, info);
    this.sendCallDisconnectNotify(callId, CallDisconnectResult.Request, '');
    this.log.debug({ callId, peerCallId }, 'PPTP: call cleared by client');
    this.notifyCleared(callId, 'peer-call-clear');
  }

  private onMalformed(err: unknown): void {
    const fields = { err: describe(err) };
    if (this.stateValue === ControlConnectionState.Established) {
      this.log.warn(fields, 'PPTP: malformed control message, stopping the control connection');
      this.disconnectAllCalls('protocol-error');
      this.beginStop(StopReason.StopProtocol);
    } else {
      this.log.warn(fields, 'PPTP: malformed control message, closing');
      this.closeNow('protocol-error');
    }
  }

  // ---- keepalive (RFC 2637 §3.1.4) -------------------------------------------------------------

  private heardFromPeer(): void {
    this.clearTimer('echoTimer');
    this.clearTimer('idleTimer');
    if (this.echoIntervalMs <= 0 || this.stateValue !== ControlConnectionState.Established) return;
    this.idleTimer = this.timer(this.echoIntervalMs, () => this.onIdle());
  }

  private onIdle(): void {
    this.idleTimer = null;
    this.echoIdentifier = (this.echoIdentifier + 1) >>> 0;
    this.send({ type: ControlMessageType.EchoRequest, identifier: this.echoIdentifier });
    this.echoTimer = this.timer(this.echoTimeoutMs, () => {
      this.log.warn({ calls: this.callsById.size }, 'PPTP: no answer to Echo-Request, closing');
      this.closeNow('echo-timeout');
    });
  }

  // ---- teardown --------------------------------------------------------------------------------

  /** CDN + callCleared for every live call. */
  private disconnectAllCalls(reason: CallEnd): void {
    for (const [callId, info] of [...this.callsById]) {
      if (!this.callsById.has(callId)) continue; // a handler callback removed it meanwhile
      this.forgetCall(callId, info);
      this.sendCallDisconnectNotify(callId, CallDisconnectResult.AdminShutdown, '');
      this.notifyCleared(callId, reason);
    }
  }

  private beginStop(reason: number): void {
    if (this.stateValue !== ControlConnectionState.Established) return;
    this.stateValue = ControlConnectionState.WaitStopReply;
    this.clearTimer('idleTimer');
    this.clearTimer('echoTimer');
    this.send({ type: ControlMessageType.StopControlConnectionRequest, reason });
    this.stopTimer = this.timer(this.stopReplyTimeoutMs, () => {
      this.log.info('PPTP: no Stop-Control-Connection-Reply, closing');
      this.closeNow('stop-timeout');
    });
  }

  /** Close TCP now; calls still live are cleared without CDN (the connection is going away). */
  private closeNow(reason: CallEnd): void {
    if (this.stateValue === ControlConnectionState.Closed) return;
    this.log.debug({ reason }, 'PPTP: closing control connection');
    this.enterClosed();
    try {
      this.transport.close();
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'PPTP: transport close failed');
    }
    this.clearAllCalls(reason);
  }

  private enterClosed(): void {
    this.stateValue = ControlConnectionState.Closed;
    this.clearTimer('startTimer');
    this.clearTimer('idleTimer');
    this.clearTimer('echoTimer');
    this.clearTimer('stopTimer');
    this.clearTimer('noCallTimer');
  }

  private clearAllCalls(reason: CallEnd): void {
    for (const [callId, info] of [...this.callsById]) {
      if (!this.callsById.has(callId)) continue;
      this.forgetCall(callId, info);
      this.notifyCleared(callId, reason);
    }
  }

  private forgetCall(callId: number, info: CallRequestInfo): void {
    this.callsById.delete(callId);
    if (this.callIdByPeer.get(info.peerCallId) === callId) this.callIdByPeer.delete(info.peerCallId);
    this.armNoCallTimer();
  }

  private armNoCallTimer(): void {
    if (this.callGraceMs <= 0 || this.callsById.size > 0 || this.stateValue !== ControlConnectionState.Established) return;
    this.clearTimer('noCallTimer');
    this.noCallTimer = this.timer(this.callGraceMs, () => {
      this.noCallTimer = null;
      if (this.callsById.size > 0) return;
      this.log.info({ graceMs: this.callGraceMs }, 'PPTP: no call on this connection in time, stopping it');
      this.stop(StopReason.None);
    });
  }

  private notifyCleared(callId: number, reason: CallEnd): void {
    try {
      this.handler.callCleared(this, callId, reason);
    } catch (err) {
      this.log.warn({ callId, err: describe(err) }, 'PPTP: callCleared handler failed');
    }
  }

  // ---- send ------------------------------------------------------------------------------------

  private send(msg: ControlMessage): void {
    try {
      this.transport.write(encodeControlMessage(msg));
    } catch (err) {
      this.log.warn({ type: msg.type, err: describe(err) }, 'PPTP: control write failed');
    }
  }

  private sendStartReply(resultCode: number): void {
    this.send({
      type: ControlMessageType.StartControlConnectionReply,
      protocolVersion: PPTP_PROTOCOL_VERSION,
      resultCode,
      errorCode: GeneralError.None,
      framingCapabilities: FramingCapability.Async | FramingCapability.Sync,
      bearerCapabilities: BearerCapability.Analog | BearerCapability.Digital,
      maxChannels: this.maxChannels,
      firmwareRevision: FIRMWARE_REVISION,
      hostName: this.hostName,
      vendor: this.vendor,
    });
  }

  private sendOutgoingCallReply(callId: number, peerCallId: number, resultCode: number, errorCode: number, connectSpeed: number): void {
    const connected = resultCode === OutgoingCallResult.Connected;
    this.send({
      type: ControlMessageType.OutgoingCallReply,
      callId,
      peerCallId,
      resultCode,
      errorCode,
      causeCode: 0,
      connectSpeed,
      recvWindowSize: connected ? this.recvWindow : 0,
      processingDelay: 0,
      physicalChannelId: 0,
    });
  }

  private sendCallDisconnectNotify(callId: number, resultCode: number, statistics: string): void {
    this.send({
      type: ControlMessageType.CallDisconnectNotify,
      callId,
      resultCode,
      errorCode: GeneralError.None,
      causeCode: 0,
      callStatistics: statistics,
    });
  }

  // ---- timers ----------------------------------------------------------------------------------

  private timer(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, ms);
    // Timers must not keep the process alive on shutdown.
    t.unref?.();
    return t;
  }

  private clearTimer(name: 'startTimer' | 'idleTimer' | 'echoTimer' | 'stopTimer' | 'noCallTimer'): void {
    const t = this[name];
    if (t !== null) {
      clearTimeout(t);
      this[name] = null;
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Hex of the buffer without trailing zero octets ('' when all zero). */
function trimmedHex(buf: Buffer): string {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return buf.toString('hex', 0, end);
}
