// CHAP (RFC 1994) server with the MS-CHAPv2 algorithm 0x81 (RFC 2759). Moves the protocol's fields only:
// the Authenticator checks the NT-Response and builds the authenticator response and MPPE keys.

import { randomBytes } from 'node:crypto';
import type { AuthResult, Authenticator, MppeMasterKeys, SessionAuthorization } from '../Authenticator.js';
import type { Clock, TimerHandle } from '../Clock.js';
import { encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { printableText, type PppLogger } from '../PppLogger.js';

export const ChapCode = {
  Challenge: 1,
  Response: 2,
  Success: 3,
  Failure: 4,
  ChangePasswordV2: 7,
} as const;

/** RFC 2759 §6 M= texts by E= code (Windows shows its own text for the code anyway). */
const FAILURE_TEXT: Record<number, string> = {
  646: 'Restricted logon hours',
  647: 'Account disabled',
  648: 'Password expired',
  649: 'No dial-in permission',
  691: 'Authentication failed',
};
const CHALLENGE_SIZE = 16;
/** Peer-Challenge 16 | Reserved 8 | NT-Response 24 | Flags 1 (RFC 2759 §4). */
const RESPONSE_VALUE_SIZE = 49;
const MAX_NAME_LENGTH = 255;
const SUCCESS_TEXT = 'Access granted';
const AUTHENTICATOR_RESPONSE = /^S=[0-9A-F]{40}$/;

export interface MsChapV2ServerConfig {
  /** Name field of our Challenge. */
  serverName: string;
  authenticator: Authenticator;
  clock: Clock;
  log: PppLogger;
  /** Challenge retransmission interval (pppd chap.c: 3 s). */
  retransmitMs?: number;
  /** Challenges sent before giving up (pppd: 10). */
  maxChallenges?: number;
  randomBytes?: (size: number) => Buffer;
}

export interface MsChapV2Success {
  /** Name as the peer sent it, possibly "DOMAIN\\user". */
  username: string;
  mppeKeys: MppeMasterKeys;
  staticAddress?: number;
  authorization?: SessionAuthorization;
}

export interface MsChapV2ServerEvents {
  /** Send one CHAP packet (Code..Data). */
  send(packet: Buffer): void;
  succeeded(result: MsChapV2Success): void;
  /** Authentication failed (after the Failure packet was sent) or the peer never answered. */
  failed(reason: string, username: string | null): void;
}

export type MsChapV2ServerState = 'idle' | 'challenging' | 'verifying' | 'succeeded' | 'failed' | 'stopped';

/** "DOMAIN\\user" → "user" (RFC 2759 §4: the domain is not part of ChallengeHash). */
export function stripDomain(username: string): string {
  return username.slice(username.lastIndexOf('\\') + 1);
}

export class MsChapV2Server {
  private current: MsChapV2ServerState = 'idle';
  private challengeId = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private challengePacket: Buffer = Buffer.alloc(0);
  private challengesSent = 0;
  private timer: TimerHandle | null = null;
  /** The Success/Failure we sent: a duplicate Response gets the same one again (RFC 1994 §4.1). */
  private resultPacket: Buffer | null = null;
  private readonly retransmitMs: number;
  private readonly maxChallenges: number;
  private readonly random: (size: number) => Buffer;

  constructor(private readonly config: MsChapV2ServerConfig, private readonly events: MsChapV2ServerEvents) {
    this.retransmitMs = config.retransmitMs ?? 3000;
    this.maxChallenges = config.maxChallenges ?? 10;
    this.random = config.randomBytes ?? randomBytes;
  }

  get state(): MsChapV2ServerState {
    return this.current;
  }

  /** Send the first Challenge. */
  start(initialIdentifier?: number): void {
    if (this.current !== 'idle') return;
    this.current = 'challenging';
    this.challengeId = (initialIdentifier ?? this.random(1)[0]!) & 0xff;
    this.challenge = Buffer.from(this.random(CHALLENGE_SIZE));
    const name = Buffer.from(this.config.serverName, 'utf8').subarray(0, MAX_NAME_LENGTH);
    this.challengePacket = encodeControlPacket(
      ChapCode.Challenge,
      this.challengeId,
      Buffer.concat([Buffer.from([CHALLENGE_SIZE]), this.challenge, name]),
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
    if (packet.code !== ChapCode.Response) {
      // Change-Password (7) is only valid after E=648, which we never send; Success/Failure are ours.
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
        if (this.resultPacket) this.events.send(this.resultPacket); // our Success/Failure was lost
        return;
      default:
        return; // verifying (the answer is on its way), idle or stopped
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
    if (data.length < 1 + RESPONSE_VALUE_SIZE || data[0] !== RESPONSE_VALUE_SIZE) {
      this.config.log.debug({ length: data.length, valueSize: data[0] }, 'MS-CHAPv2 Response with wrong Value-Size discarded');
      return;
    }
    const value = data.subarray(1, 1 + RESPONSE_VALUE_SIZE);
    const nameBytes = data.subarray(1 + RESPONSE_VALUE_SIZE);
    if (nameBytes.length > MAX_NAME_LENGTH) {
      this.config.log.debug({ length: nameBytes.length }, 'MS-CHAPv2 Response with over-long Name discarded');
      return;
    }
    const username = nameBytes.toString('utf8');
    const flags = value[48]!;
    this.clearTimer();
    this.current = 'verifying';
    this.config.log.debug({ user: printableText(nameBytes), flags }, 'MS-CHAPv2 Response received');
    const request = {
      username,
      authenticatorChallenge: Buffer.from(this.challenge),
      peerChallenge: Buffer.from(value.subarray(0, 16)),
      ntResponse: Buffer.from(value.subarray(24, 48)),
    };
    let verification: Promise<AuthResult>;
    try {
      verification = this.config.authenticator.verifyMsChapV2(request);
    } catch (err) {
      verification = Promise.reject(err);
    }
    const id = packet.identifier;
    verification
      .then(
        (result) => this.decide(id, username, flags, result),
        (err: unknown) => {
          this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'authenticator error');
          this.decide(id, username, flags, { ok: false, errorCode: 691, message: 'Authentication failed' });
        },
      )
      .catch((err: unknown) => {
        this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'error after MS-CHAPv2 decision');
      });
  }

  private decide(id: number, username: string, flags: number, result: AuthResult): void {
    if (this.current !== 'verifying') return; // link went away meanwhile
    if (result.ok && !AUTHENTICATOR_RESPONSE.test(result.authenticatorResponse)) {
      this.config.log.warn({}, 'authenticator returned a malformed authenticator response: failing the login');
      result = { ok: false, errorCode: 691, message: 'Authentication failed' };
    }
    if (result.ok) {
      // Win98 sets Flags (0x04) and chokes on " M=" (pppd chap_ms.c): send the S= part only then.
      const message = flags === 0 ? `${result.authenticatorResponse} M=${SUCCESS_TEXT}` : result.authenticatorResponse;
      this.current = 'succeeded';
      this.resultPacket = encodeControlPacket(ChapCode.Success, id, Buffer.from(message, 'latin1'));
      this.events.send(this.resultPacket);
      this.events.succeeded({ username, mppeKeys: result.mppeKeys, staticAddress: result.staticAddress, authorization: result.authorization });
      return;
    }
    // RFC 2759 §6; R=0: no retry, the link is terminated. C= is a fresh challenge as required.
    const code = Number.isInteger(result.errorCode) && result.errorCode > 0 ? result.errorCode : 691;
    const nextChallenge = this.random(CHALLENGE_SIZE).toString('hex').toUpperCase();
    const text = result.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    // The peer learns only the class of failure: "unknown user" vs "wrong password" would let
    // anyone enumerate accounts. The precise reason goes to our log.
    const message = `E=${code} R=0 C=${nextChallenge} V=3 M=${FAILURE_TEXT[code] ?? 'Authentication failed'}`;
    this.current = 'failed';
    this.resultPacket = encodeControlPacket(ChapCode.Failure, id, Buffer.from(message, 'latin1'));
    this.events.send(this.resultPacket);
    this.events.failed(`E=${code}: ${text}`, username);
  }
}
