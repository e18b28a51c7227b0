// PAP (RFC 1334 §2): the peer sends Authenticate-Request (Peer-ID + Password in clear) and retransmits it
// until answered; we answer Ack or Nak. Once decided, every further request gets the same answer with its
// own Identifier (pppd upap.c): a lost Ack is repaired, and a Nak'd peer cannot try another password.
// Without key material: PAP can only bring up a link whose MPPE is optional.

import type { Logger } from 'pino';
import type { BasicAuthResult, ExtendedAuthenticator } from '../Authenticator.js';
import type { ControlPacket } from '../ControlPacket.js';
import { printableText } from '../PrintableText.js';
import type { AuthServerEvents } from './AuthMethod.js';
import { AuthExchange, type AuthAnswer } from './AuthExchange.js';

export const PapCode = {
  AuthenticateRequest: 1,
  AuthenticateAck: 2,
  AuthenticateNak: 3,
} as const;

/** Ack/Nak data (RFC 1334 §2.2.2): Msg-Length, Message. */
function papMessage(text: string): Buffer {
  const message = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from([message.length]), message]);
}

const ACK_DATA = papMessage('Access granted');
/** The peer learns only that it failed; the reason goes to our log. */
const NAK_DATA = papMessage('Authentication failed');

export class MalformedPapRequestError extends Error {
  override readonly name = 'MalformedPapRequestError';
}

export interface PapRequestFields {
  peerId: Buffer;
  password: Buffer;
}

/** RFC 1334 §2.2.1 Authenticate-Request data: Peer-ID Length, Peer-ID, Passwd-Length, Password (views, no copy). */
export function parsePapRequest(data: Buffer): PapRequestFields {
  if (data.length < 1) throw new MalformedPapRequestError('Authenticate-Request without Peer-ID Length');
  const idLength = data[0]!;
  if (1 + idLength + 1 > data.length) throw new MalformedPapRequestError(`Peer-ID of ${idLength} octets runs past the request`);
  const pwLength = data[1 + idLength]!;
  const pwStart = 2 + idLength;
  if (pwStart + pwLength > data.length) throw new MalformedPapRequestError(`Password of ${pwLength} octets runs past the request`);
  return { peerId: data.subarray(1, 1 + idLength), password: data.subarray(pwStart, pwStart + pwLength) };
}

export interface PapServerConfig {
  authenticator: ExtendedAuthenticator;
  log: Logger;
  /** How long to wait for the first Authenticate-Request (pppd pap-timeout default: 30 s). */
  requestTimeoutMs?: number | undefined;
}

export type PapServerState = 'idle' | 'waiting' | 'verifying' | 'succeeded' | 'failed' | 'stopped';

export class PapServer extends AuthExchange<PapRequestFields, BasicAuthResult> {
  protected readonly protocolName = 'PAP';
  protected readonly methodName = 'PAP';
  protected readonly requestCode = PapCode.AuthenticateRequest;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly config: PapServerConfig,
    events: AuthServerEvents,
  ) {
    super(config, events);
    this.requestTimeoutMs = config.requestTimeoutMs ?? 30_000;
  }

  get state(): PapServerState {
    return this.phase;
  }

  /** The server sends nothing first (RFC 1334 §2.1): wait for the peer's request. */
  start(): void {
    if (!this.begin()) return;
    this.armTimer(this.requestTimeoutMs, () => {
      if (this.phase === 'waiting') this.giveUp(`no PAP Authenticate-Request within ${this.requestTimeoutMs / 1000} s`);
    });
  }

  /** A malformed request is discarded even after the decision: it gets no answer. */
  protected admit(packet: ControlPacket): PapRequestFields | null {
    try {
      return parsePapRequest(packet.data);
    } catch (err) {
      this.config.log.debug({ err: (err as Error).message }, 'malformed PAP Authenticate-Request discarded');
      return null;
    }
  }

  protected receive(identifier: number, fields: PapRequestFields): void {
    const username = fields.peerId.toString('utf8');
    this.config.log.debug({ user: printableText(fields.peerId) }, 'PAP Authenticate-Request received');
    // A copy for the backend, wiped once it has answered.
    const password = Buffer.from(fields.password);
    const backend = this.config.authenticator;
    const ask = () => (backend.verifyPap ? backend.verifyPap({ username, password }) : this.cannotVerify());
    void this.decideOn(identifier, username, ask).finally(() => password.fill(0));
  }

  protected acceptAnswer(): AuthAnswer {
    return { code: PapCode.AuthenticateAck, data: ACK_DATA };
  }

  /** RFC 1334 §2.2.2: Msg is free text; the generic one unless the backend gives one meant for the peer. */
  protected refuseAnswer(_errorCode: number, text: string | undefined): AuthAnswer {
    return { code: PapCode.AuthenticateNak, data: text === undefined ? NAK_DATA : papMessage(text) };
  }
}
