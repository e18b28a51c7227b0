// The CHAP exchange of RFC 1994 §4, shared by CHAP-MD5, MS-CHAPv1 and MS-CHAPv2: Challenge with
// retransmission (pppd chap.c: every 3 s, at most 10), a Response must carry the current Identifier,
// Success/Failure copy it, and a duplicate Response after the decision gets the same answer again (§4.1:
// ours may have been lost; AuthExchange). The algorithm subclass only sizes the values, asks the backend
// and words the messages. Other codes from the peer are ignored: Success/Failure are ours to send, and
// MS-CHAPv2 Change-Password (7) is only valid after E=648, which we never send.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BasicAuthResult, ExtendedAuthenticator } from '../Authenticator.js';
import { encodeControlPacket, type ControlPacket } from '../ControlPacket.js';
import { printableText } from '../PrintableText.js';
import type { AuthServerEvents } from './AuthMethod.js';
import { AuthExchange, type AuthAcceptance, type AuthAnswer, type AuthVerdict } from './AuthExchange.js';

export const ChapPacketCode = {
  Challenge: 1,
  Response: 2,
  Success: 3,
  Failure: 4,
} as const;

const MAX_NAME_LENGTH = 255;

export interface ChapServerConfig {
  /** Name field of our Challenge. */
  serverName: string;
  authenticator: ExtendedAuthenticator;
  log: Logger;
  /** Challenge retransmission interval (pppd chap.c: 3 s). */
  retransmitMs?: number;
  /** Challenges sent before giving up (pppd: 10). */
  maxChallenges?: number;
  randomBytes?: (size: number) => Buffer;
}

/** One Response as the algorithm sees it; the buffers are copies the backend may keep. */
export interface ChapResponse {
  identifier: number;
  challenge: Buffer;
  value: Buffer;
  /** Name field as received, possibly "DOMAIN\\user". */
  username: string;
}

export type ChapServerState = 'idle' | 'challenging' | 'verifying' | 'succeeded' | 'failed' | 'stopped';

/** `V`: what the backend answers (MS-CHAPv2's AuthResult, the others' BasicAuthResult). */
export abstract class ChapServerBase<V extends AuthVerdict = BasicAuthResult> extends AuthExchange<Buffer, V> {
  /** For logs: "CHAP-MD5", "MS-CHAPv1", "MS-CHAPv2". */
  protected abstract readonly algorithmName: string;
  protected abstract readonly challengeSize: number;
  protected abstract readonly responseValueSize: number;
  /** Ask the backend; a throw or rejection counts as a failed login. */
  protected abstract verify(response: ChapResponse): Promise<V>;
  /** Message of our Success packet. */
  protected abstract successMessage(result: AuthAcceptance<V>, response: ChapResponse): string;
  /** Message of our Failure packet (never the backend's reason: that goes to our log only; `text` is what the backend lets the peer see). */
  protected abstract failureMessage(errorCode: number, text: string | undefined): string;

  protected readonly protocolName = 'CHAP';
  protected readonly requestCode = ChapPacketCode.Response;
  private challengeId = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private challengePacket: Buffer = Buffer.alloc(0);
  private challengesSent = 0;
  /** The Response being (or last) verified: the Success message may depend on it. */
  private response: ChapResponse | null = null;
  private readonly retransmitMs: number;
  private readonly maxChallenges: number;
  protected readonly random: (size: number) => Buffer;

  constructor(
    protected readonly config: ChapServerConfig,
    events: AuthServerEvents,
  ) {
    super(config, events);
    this.retransmitMs = config.retransmitMs ?? 3000;
    this.maxChallenges = config.maxChallenges ?? 10;
    this.random = config.randomBytes ?? randomBytes;
  }

  protected get methodName(): string {
    return this.algorithmName;
  }

  get state(): ChapServerState {
    const phase = this.phase;
    return phase === 'waiting' ? 'challenging' : phase;
  }

  /** Send the first Challenge. */
  start(initialIdentifier?: number): void {
    if (!this.begin()) return;
    this.challengeId = (initialIdentifier ?? this.random(1)[0]!) & 0xff;
    this.challenge = Buffer.from(this.random(this.challengeSize));
    const name = Buffer.from(this.config.serverName, 'utf8').subarray(0, MAX_NAME_LENGTH);
    this.challengePacket = encodeControlPacket(ChapPacketCode.Challenge, this.challengeId, Buffer.concat([Buffer.from([this.challengeSize]), this.challenge, name]));
    this.sendChallenge();
  }

  /** Extra log fields for a received Response (never secrets). */
  protected describeResponse(_response: ChapResponse): object {
    return {};
  }

  protected admit(packet: ControlPacket): Buffer | null {
    if (packet.identifier !== this.challengeId) {
      this.config.log.debug({ id: packet.identifier, expected: this.challengeId }, 'CHAP Response for another challenge ignored');
      return null;
    }
    return packet.data;
  }

  protected receive(identifier: number, data: Buffer): void {
    const size = this.responseValueSize;
    if (data.length < 1 + size || data[0] !== size) {
      this.config.log.debug({ length: data.length, valueSize: data[0] }, `${this.algorithmName} Response with wrong Value-Size discarded`);
      return;
    }
    const nameBytes = data.subarray(1 + size);
    if (nameBytes.length > MAX_NAME_LENGTH) {
      this.config.log.debug({ length: nameBytes.length }, `${this.algorithmName} Response with over-long Name discarded`);
      return;
    }
    const response: ChapResponse = {
      identifier,
      challenge: Buffer.from(this.challenge),
      value: Buffer.from(data.subarray(1, 1 + size)),
      username: nameBytes.toString('utf8'),
    };
    this.response = response;
    this.config.log.debug({ user: printableText(nameBytes), ...this.describeResponse(response) }, `${this.algorithmName} Response received`);
    void this.decideOn(identifier, response.username, () => this.verify(response));
  }

  protected acceptAnswer(result: AuthAcceptance<V>): AuthAnswer {
    return { code: ChapPacketCode.Success, data: Buffer.from(this.successMessage(result, this.response!), 'latin1') };
  }

  protected refuseAnswer(errorCode: number, text: string | undefined): AuthAnswer {
    return { code: ChapPacketCode.Failure, data: Buffer.from(this.failureMessage(errorCode, text), 'latin1') };
  }

  private sendChallenge(): void {
    this.challengesSent++;
    this.events.send(this.challengePacket);
    this.armTimer(this.retransmitMs, () => this.challengeTimeout());
  }

  private challengeTimeout(): void {
    if (this.phase !== 'waiting') return;
    if (this.challengesSent >= this.maxChallenges) {
      this.giveUp(`no CHAP Response after ${this.challengesSent} challenges`);
      return;
    }
    this.sendChallenge(); // same Identifier and value: a late Response to an earlier copy still matches
  }
}
