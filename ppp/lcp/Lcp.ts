// LCP (RFC 1661 §5-6, RFC 1570): the option automaton with the LCP option handlers, plus the link
// maintenance codes 8-13 and our Echo keepalive.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuthMethod } from '../auth/AuthMethod.js';
import { OptionAutomaton, type AutomatonLimits } from '../Automaton.js';
import { ControlCode, CONTROL_HEADER_LENGTH, encodeControlPacket, MalformedPacketError, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { OptionHandlerSet } from '../OptionHandlerSet.js';
import { printableText } from '../PrintableText.js';
import { type Framing, pppProtocolName, PppProtocol } from '../PppProtocol.js';
import { LcpKeepalive } from './LcpKeepalive.js';
import { AccmOption } from './options/Accm.js';
import { AcfcOption } from './options/Acfc.js';
import { AuthProtocolOption } from './options/AuthProtocol.js';
import { MagicNumberOption } from './options/MagicNumber.js';
import { MruOption } from './options/Mru.js';
import { PfcOption } from './options/Pfc.js';

export interface LcpConfig {
  /** Our MRU; requested only when set. */
  mru?: number | undefined;
  /** Seconds between our Echo-Requests; 0 = no keepalive. */
  echoInterval: number;
  /** Unanswered Echo-Requests before the link is declared dead; 0 = never. */
  echoFailure: number;
  /** Authentication methods to ask for, strongest first (default: MS-CHAPv2 only). */
  authMethods?: readonly AuthMethod[];
}

export interface LcpEvents {
  /** Send one LCP packet (Code..Data). */
  send(packet: Buffer): void;
  up(): void;
  down(): void;
  /** LCP finished (RFC 1661 tlf): why, and the text for the log. */
  finished(end: LcpEnd, reason: string): void;
  /** The peer Protocol-Rejected a protocol other than LCP. */
  protocolRejected(protocol: number): void;
}

export interface LcpDeps {
  log: Logger;
  random32?: () => number;
  limits?: Partial<AutomatonLimits> | undefined;
}

const MIN_PACKET = CONTROL_HEADER_LENGTH;
/** Until LCP is opened (and whenever it is not) frames go out uncompressed (RFC 1661 §6.5, §6.6). */
const NO_COMPRESSION: Framing = { acfc: false, pfc: false };

/**
 * Why LCP finished when its owner did not close it: the peer's Terminate-Request, our keepalive
 * giving up (RFC 1661 §5.8 Echo-Request unanswered), or negotiation that could not converge
 * (Max-Configure, or options the peer refuses).
 */
export type LcpEnd = 'peer-terminated' | 'peer-not-responding' | 'negotiation-failed';

export class Lcp {
  readonly automaton: OptionAutomaton;
  private readonly mru: MruOption;
  private readonly auth: AuthProtocolOption;
  private readonly magic: MagicNumberOption;
  private readonly pfc: PfcOption;
  private readonly acfc: AcfcOption;
  private readonly keepalive: LcpKeepalive;
  /**
   * What `framing` answers: set when the layer comes up and back to none when it goes down (the only
   * moments the acked options change), so the data plane's read per outgoing packet is one load and
   * allocates nothing.
   */
  private sendFraming: Framing = NO_COMPRESSION;
  /** Our keepalive gave up: the Close that follows is the peer's silence, not our decision. */
  private notResponding = false;
  private readonly log: Logger;

  constructor(
    config: LcpConfig,
    private readonly events: LcpEvents,
    deps: LcpDeps,
  ) {
    this.log = deps.log;
    const random32 = deps.random32 ?? (() => randomBytes(4).readUInt32BE(0));
    this.mru = new MruOption(config.mru);
    this.auth = new AuthProtocolOption(config.authMethods);
    this.magic = new MagicNumberOption(random32);
    this.pfc = new PfcOption();
    this.acfc = new AcfcOption();
    // Options 4 (quality), 13 (callback), 17/18/19 (multilink), 23 (link discriminator) and anything
    // else have no handler: Configure-Reject.
    const options = new OptionHandlerSet([this.mru, new AccmOption(), this.auth, this.magic, this.pfc, this.acfc]);
    this.automaton = new OptionAutomaton({
      name: 'LCP',
      optionSet: options,
      log: deps.log,
      limits: deps.limits,
      peerMru: () => this.peerMru,
      hooks: {
        send: (code, id, data) => this.events.send(encodeControlPacket(code, id, data)),
        thisLayerUp: () => {
          this.sendFraming = { acfc: this.acfc.enabled, pfc: this.pfc.enabled };
          this.keepalive.start();
          this.events.up();
        },
        thisLayerDown: () => {
          this.sendFraming = NO_COMPRESSION;
          this.keepalive.stop();
          this.events.down();
        },
        thisLayerStarted: () => {},
        thisLayerFinished: (reason) => {
          this.keepalive.stop();
          const end: LcpEnd = this.automaton.terminatedByPeer ? 'peer-terminated' : this.notResponding ? 'peer-not-responding' : 'negotiation-failed';
          this.notResponding = false;
          this.events.finished(end, reason);
        },
        extensionCode: (packet) => this.extensionCode(packet),
        sendEchoReply: (packet) => this.sendEchoReply(packet),
        codeRejected: (code) => {
          if (code === ControlCode.EchoRequest) this.keepalive.disable();
        },
        refused: (reason) => this.automaton.close(reason),
      },
    });
    this.keepalive = new LcpKeepalive(config.echoInterval, config.echoFailure, {
      sendEchoRequest: () => this.sendEchoRequest(),
      failed: (n) => {
        this.log.warn({ unanswered: n }, 'no answer to LCP Echo-Requests: link considered dead');
        this.notResponding = true;
        this.automaton.close(`peer not responding (${n} LCP Echo-Requests unanswered)`);
      },
    });
  }

  get isOpened(): boolean {
    return this.automaton.isOpened;
  }

  get peerMru(): number {
    return this.mru.peerMru;
  }

  get ourMagic(): number {
    return this.magic.ourMagic;
  }

  /** The authentication method the peer acked, or null. */
  get authMethod(): AuthMethod | null {
    return this.auth.agreed;
  }

  /** Compression we may use when sending (what the peer asked for and we acked). */
  get framing(): Framing {
    return this.sendFraming;
  }

  lowerUp(): void {
    this.automaton.up();
  }

  lowerDown(): void {
    this.keepalive.stop();
    this.automaton.down();
  }

  open(): void {
    this.automaton.open();
  }

  close(reason: string): void {
    this.automaton.close(reason);
  }

  /** One received LCP packet; malformed ones are dropped. */
  input(payload: Buffer): void {
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'malformed LCP packet discarded');
      return;
    }
    this.automaton.input(packet);
  }

  /** RFC 1661 §5.7: only in Opened; fresh Identifier; the copy is truncated to the peer's MRU. */
  sendProtocolReject(protocol: number, information: Buffer): void {
    if (!this.automaton.isOpened) return;
    const room = Math.max(0, this.peerMru - MIN_PACKET - 2);
    const info = information.subarray(0, room);
    const data = Buffer.allocUnsafe(2 + info.length);
    data.writeUInt16BE(protocol, 0);
    info.copy(data, 2);
    this.log.debug({ protocol: pppProtocolName(protocol) }, 'sending LCP Protocol-Reject');
    this.events.send(encodeControlPacket(ControlCode.ProtocolReject, this.automaton.nextIdentifier(), data));
  }

  private extensionCode(packet: ControlPacket): 'rxr' | 'handled' | 'unknown' {
    switch (packet.code) {
      case ControlCode.ProtocolReject:
        this.receiveProtocolReject(packet);
        return 'handled';
      case ControlCode.EchoRequest:
        return packet.data.length >= 4 ? 'rxr' : 'handled'; // too short to carry a magic: drop
      case ControlCode.EchoReply:
        this.receiveEchoReply(packet);
        return 'handled';
      case ControlCode.DiscardRequest:
        return 'handled';
      case ControlCode.Identification:
        // RFC 1570: no reply; Windows sends e.g. "MSRASV5.20". Do not Code-Reject it.
        if (packet.data.length >= 4) this.log.debug({ text: printableText(packet.data.subarray(4)) }, 'LCP Identification');
        return 'handled';
      case ControlCode.TimeRemaining:
        if (packet.data.length >= 8) this.log.info({ seconds: packet.data.readUInt32BE(4) }, 'LCP Time-Remaining');
        return 'handled';
      default:
        return 'unknown';
    }
  }

  private receiveProtocolReject(packet: ControlPacket): void {
    if (!this.automaton.isOpened) return; // RFC 1661 §5.7: only meaningful in Opened
    if (packet.data.length < 2) {
      this.log.debug({ err: new MalformedPacketError('Protocol-Reject without protocol').message }, 'discarded');
      return;
    }
    const protocol = packet.data.readUInt16BE(0);
    this.log.info({ protocol: pppProtocolName(protocol) }, 'peer sent Protocol-Reject');
    if (protocol === PppProtocol.LCP) {
      this.automaton.rejected(true, 'peer Protocol-Rejected LCP');
      return;
    }
    this.events.protocolRejected(protocol);
  }

  private sendEchoReply(request: ControlPacket): void {
    const peerMagic = request.data.readUInt32BE(0);
    const ours = this.ourMagic;
    if (ours !== 0 && peerMagic === ours) this.log.warn({}, 'LCP Echo-Request carries our own magic number: looped link?');
    const room = Math.max(4, this.peerMru - MIN_PACKET);
    const data = Buffer.from(request.data.subarray(0, room));
    data.writeUInt32BE(ours, 0);
    this.events.send(encodeControlPacket(ControlCode.EchoReply, request.identifier, data));
  }

  private receiveEchoReply(packet: ControlPacket): void {
    if (!this.automaton.isOpened || packet.data.length < 4) return;
    const magic = packet.data.readUInt32BE(0);
    if (magic !== 0 && magic === this.ourMagic) {
      this.log.warn({}, 'LCP Echo-Reply carries our own magic number: looped link, ignored');
      return;
    }
    this.keepalive.replyReceived();
  }

  private sendEchoRequest(): void {
    if (!this.automaton.isOpened) return;
    const data = Buffer.allocUnsafe(4);
    data.writeUInt32BE(this.ourMagic, 0);
    this.events.send(encodeControlPacket(ControlCode.EchoRequest, this.automaton.nextIdentifier(), data));
  }
}
