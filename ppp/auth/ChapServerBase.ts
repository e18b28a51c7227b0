// The CHAP exchange of RFC 1994 §4, shared by CHAP-MD5 and MS-CHAPv1: Challenge with retransmission
// (pppd chap.c: every 3 s, at most 10), a Response must carry the current Identifier, Success/Failure copy
// it, and a duplicate Response after the decision gets the same answer again (§4.1: ours may have been
// lost). The algorithm subclass only sizes the values, asks the backend and words the messages.
// (MsChapV2Server predates this and keeps its own copy of the exchange.)

import { randomBytes } from 'node:crypto';
import type { BasicAuthResult, ExtendedAuthenticator } from '../Authenticator.js';
import type { Clock, TimerHandle } from '../Clock.js';
import { encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { printableText, type PppLogger } from '../PppLogger.js';
import type { AuthServer, AuthServerEvents } from './AuthMethod.js';

export const ChapPacketCode = {
  Challenge: 1,
  Response: 2,
  Success: 3,
  Failure: 4,
} as const;

const MAX_NAME_LENGTH = 255;
const FAILED: BasicAuthResult = { ok: false, errorCode: 691, message: 'Authentication failed' };

export interface ChapServerConfig {
  /** Name field of our Challenge. */
  serverName: string;
  authenticator: ExtendedAuthenticator;
  clock: Clock;
  log: PppLogger;
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

export abstract class ChapServerBase implements AuthServer {
  /** For logs: "CHAP-MD5", "MS-CHAPv1". */
  protected abstract readonly algorithmName: string;
  protected abstract readonly challengeSize: number;
  protected abstract readonly responseValueSize: number;
  /** Ask the backend; a throw or rejection counts as a failed login. */
  protected abstract verify(response: ChapResponse): Promise<BasicAuthResult>;
  /** Message of our Success packet. */
  protected abstract successMessage(): string;
  /** Message of our Failure packet (never the backend's reason: that goes to our log only). */
  protected abstract failureMessage(errorCode: number): string;

  private current: ChapServerState = 'idle';
  private challengeId = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private challengePacket: Buffer = Buffer.alloc(0);
  private challengesSent = 0;
  private timer: TimerHandle | null = null;
  private resultPacket: Buffer | null = null;
  private readonly retransmitMs: number;
  private readonly maxChallenges: number;
  protected readonly random: (size: number) => Buffer;

  constructor(protected readonly config: ChapServerConfig, private readonly events: AuthServerEvents) {
    this.retransmitMs = config.retransmitMs ?? 3000;
    this.maxChallenges = config.maxChallenges ?? 10;
    this.random = config.randomBytes ?? randomBytes;
  }

  get state(): ChapServerState {
    return this.current;
  }

  /** Send the first Challenge. */
  start(initialIdentifier?: number): void {
    if (this.current !== 'idle') return;
    this.current = 'challenging';
    this.challengeId = (initialIdentifier ?? this.random(1)[0]!) & 0xff;
    this.challenge = Buffer.from(this.random(this.challengeSize));
    const name = Buffer.from(this.config.serverName, 'utf8').subarray(0, MAX_NAME_LENGTH);
    this.challengePacket = encodeControlPacket(
      ChapPacketCode.Challenge,
      this.challengeId,
      Buffer.concat([Buffer.from([this.challengeSize]), this.challenge, name]),
    );
    this.sendChallenge();
  }

  /** Stop timers and forget any verification still running. */
  stop(): void {
    this.clearTimer();
    if (this.current !== 'succeeded' && this.current !== 'failed') this.current = 'stopped';
  }

  input(payload: Buffer): void {
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      this.config.log.debug({ err: (err as Error).message }, 'malformed CHAP packet discarded');
      return;
    }
    if (packet.code !== ChapPacketCode.Response) {
      this.config.log.debug({ code: packet.code }, 'CHAP packet ignored');
      return;
    }
    if (packet.identifier !== this.challengeId) {
      this.config.log.debug({ id: packet.identifier, expected: this.challengeId }, 'CHAP Response for another challenge ignored');
      return;
    }
    switch (this.current) {
      case 'challenging':
        this.receiveResponse(packet);
        return;
      case 'succeeded':
      case 'failed':
        if (this.resultPacket) this.events.send(this.resultPacket);
        return;
      default:
        return;
    }
  }

  private sendChallenge(): void {
    this.challengesSent++;
    this.events.send(this.challengePacket);
    this.timer = this.config.clock.setTimeout(() => this.challengeTimeout(), this.retransmitMs);
  }

  private challengeTimeout(): void {
    this.timer = null;
    if (this.current !== 'challenging') return;
    if (this.challengesSent >= this.maxChallenges) {
      this.current = 'failed';
      this.events.failed(`no CHAP Response after ${this.challengesSent} challenges`, null);
      return;
    }
    this.sendChallenge(); // same Identifier and value: a late Response to an earlier copy still matches
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.config.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private receiveResponse(packet: ControlPacket): void {
    const data = packet.data;
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
    const username = nameBytes.toString('utf8');
    this.clearTimer();
    this.current = 'verifying';
    this.config.log.debug({ user: printableText(nameBytes) }, `${this.algorithmName} Response received`);
    const response: ChapResponse = {
      identifier: packet.identifier,
      challenge: Buffer.from(this.challenge),
      value: Buffer.from(data.subarray(1, 1 + size)),
      username,
    };
    let verification: Promise<BasicAuthResult>;
    try {
      verification = this.verify(response);
    } catch (err) {
      verification = Promise.reject(err);
    }
    verification
      .then(
        (result) => this.decide(packet.identifier, username, result),
        (err: unknown) => {
          this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'authenticator error');
          this.decide(packet.identifier, username, FAILED);
        },
      )
      .catch((err: unknown) => {
        this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, `error after ${this.algorithmName} decision`);
      });
  }

  private decide(id: number, username: string, result: BasicAuthResult): void {
    if (this.current !== 'verifying') return; // link went away meanwhile
    if (result.ok) {
      this.current = 'succeeded';
      this.resultPacket = encodeControlPacket(ChapPacketCode.Success, id, Buffer.from(this.successMessage(), 'latin1'));
      this.events.send(this.resultPacket);
      this.events.succeeded({
        username,
        ...(result.mppeKeys ? { mppeKeys: result.mppeKeys } : {}),
        ...(result.staticAddress !== undefined ? { staticAddress: result.staticAddress } : {}),
        ...(result.authorization ? { authorization: result.authorization } : {}),
      });
      return;
    }
    const code = Number.isInteger(result.errorCode) && result.errorCode > 0 ? result.errorCode : 691;
    const text = result.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    this.current = 'failed';
    this.resultPacket = encodeControlPacket(ChapPacketCode.Failure, id, Buffer.from(this.failureMessage(code), 'latin1'));
    this.events.send(this.resultPacket);
    this.events.failed(`E=${code}: ${text}`, username);
  }
}
