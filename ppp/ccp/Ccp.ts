// CCP (RFC 1962) carrying only MPPE (RFC 3078): every other compression option is Rejected. Adds the
// Reset-Request/Reset-Ack codes used by stateful MPPE.

import type { Logger } from 'pino';
import { OptionAutomaton, type AutomatonLimits } from '../Automaton.js';
import { ControlCode, encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { OptionHandlerSet } from '../OptionHandlerSet.js';
import { MppeOption, type MppePolicy, type NegotiatedMppe } from './options/Mppe.js';

export interface CcpEvents {
  send(packet: Buffer): void;
  /** CCP Opened with MPPE agreed in both directions (null: opened without MPPE, only when not required). */
  up(mppe: NegotiatedMppe | null): void;
  down(): void;
  finished(reason: string): void;
  /** MPPE cannot be agreed (peer rejected/refused option 18 or the directions disagree). */
  refused(reason: string): void;
  /** The peer sent a CCP Terminate-Request. */
  terminateRequested(): void;
  /** Reset-Request from the peer (stateful MPPE lost sync): reset the encryptor. */
  resetRequested(): void;
}

export interface CcpDeps {
  log: Logger;
  peerMru: () => number;
  limits?: Partial<AutomatonLimits> | undefined;
}

const EMPTY = Buffer.alloc(0);

export class Ccp {
  readonly automaton: OptionAutomaton;
  private readonly mppe: MppeOption;
  private agreed: NegotiatedMppe | null = null;
  private up = false;
  private heardFromPeer = false;

  constructor(
    private readonly policy: MppePolicy,
    private readonly events: CcpEvents,
    private readonly deps: CcpDeps,
  ) {
    this.mppe = new MppeOption(policy);
    this.automaton = new OptionAutomaton({
      name: 'CCP',
      optionSet: new OptionHandlerSet([this.mppe]),
      log: deps.log,
      limits: deps.limits,
      peerMru: deps.peerMru,
      hooks: {
        send: (code, id, data) => this.events.send(encodeControlPacket(code, id, data)),
        thisLayerUp: () => this.layerUp(),
        thisLayerDown: () => {
          const wasUp = this.up;
          this.up = false;
          this.agreed = null;
          if (wasUp) this.events.down();
        },
        thisLayerStarted: () => {},
        thisLayerFinished: (reason) => this.events.finished(reason),
        extensionCode: (packet) => this.extensionCode(packet),
        // A Code-Reject of Reset-Request/Reset-Ack only means the peer does not do resets.
        isFatalCodeReject: (code) => code >= 1 && code <= 7,
        refused: (reason) => this.events.refused(reason),
      },
    });
  }

  /** CCP Opened and (when MPPE was negotiated) agreed. */
  get isOpened(): boolean {
    return this.up;
  }

  get negotiated(): NegotiatedMppe | null {
    return this.agreed;
  }

  /** The peer has sent CCP packets: it is negotiating compression/encryption with us. */
  get peerActive(): boolean {
    return this.heardFromPeer;
  }

  lowerUp(): void {
    this.automaton.up();
  }

  lowerDown(): void {
    this.automaton.down();
  }

  open(): void {
    this.automaton.open();
  }

  close(reason: string): void {
    this.automaton.close(reason);
  }

  /** The peer Protocol-Rejected CCP. */
  rejected(): void {
    this.automaton.rejected(true, 'peer Protocol-Rejected CCP');
  }

  input(payload: Buffer): void {
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'malformed CCP packet discarded');
      return;
    }
    this.heardFromPeer = true;
    this.automaton.input(packet);
    if (packet.code === ControlCode.TerminateRequest) this.events.terminateRequested();
  }

  /** Stateful MPPE decryptor saw a gap (RFC 3078 §8): ask the peer to resynchronise. */
  sendResetRequest(): void {
    if (!this.up) return;
    this.events.send(encodeControlPacket(ControlCode.ResetRequest, this.automaton.nextIdentifier(), EMPTY));
  }

  private extensionCode(packet: ControlPacket): 'rxr' | 'handled' | 'unknown' {
    if (packet.code === ControlCode.ResetRequest) {
      if (this.up) {
        this.events.resetRequested();
        // RFC 1962 §2.3 wants a Reset-Ack with the same Identifier (RFC 3078 says MPPE needs none).
        this.events.send(encodeControlPacket(ControlCode.ResetAck, packet.identifier, EMPTY));
      }
      return 'handled';
    }
    if (packet.code === ControlCode.ResetAck) return 'handled'; // ignored, as Linux does
    return 'unknown';
  }

  private layerUp(): void {
    const agreed = this.mppe.negotiated;
    if (!agreed && this.policy.required) {
      this.events.refused('MPPE not agreed in both directions');
      return;
    }
    this.agreed = agreed;
    this.up = true;
    this.events.up(agreed);
  }
}
