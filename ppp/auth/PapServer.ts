// PAP (RFC 1334 §2): the peer sends Authenticate-Request (Peer-ID + Password in clear) and retransmits it
// until answered; we answer Ack or Nak. Once decided, every further request gets the same answer with its
// own Identifier (pppd upap.c): a lost Ack is repaired, and a Nak'd peer cannot try another password.
// Without key material: PAP can only bring up a link whose MPPE is optional.

import type { BasicAuthResult, ExtendedAuthenticator } from '../Authenticator.js';
import type { Clock, TimerHandle } from '../Clock.js';
import { encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { printableText, type PppLogger } from '../PppLogger.js';
import type { AuthServer, AuthServerEvents } from './AuthMethod.js';

export const PapCode = {
  AuthenticateRequest: 1,
  AuthenticateAck: 2,
  AuthenticateNak: 3,
} as const;

const ACK_MESSAGE = 'Access granted';
const NAK_MESSAGE = 'Authentication failed';

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
  clock: Clock;
  log: PppLogger;
  /** How long to wait for the first Authenticate-Request (pppd pap-timeout default: 30 s). */
  requestTimeoutMs?: number;
}

export type PapServerState = 'idle' | 'waiting' | 'verifying' | 'succeeded' | 'failed' | 'stopped';

export class PapServer implements AuthServer {
  private current: PapServerState = 'idle';
  private timer: TimerHandle | null = null;
  /** The answer given (Ack or Nak); repeated for every later request. */
  private decided: { code: number; message: Buffer } | null = null;
  private readonly requestTimeoutMs: number;

  constructor(private readonly config: PapServerConfig, private readonly events: AuthServerEvents) {
    this.requestTimeoutMs = config.requestTimeoutMs ?? 30_000;
  }

  get state(): PapServerState {
    return this.current;
  }

  /** The server sends nothing first (RFC 1334 §2.1): wait for the peer's request. */
  start(): void {
    if (this.current !== 'idle') return;
    this.current = 'waiting';
    this.timer = this.config.clock.setTimeout(() => {
      this.timer = null;
      if (this.current !== 'waiting') return;
      this.current = 'failed';
      this.events.failed(`no PAP Authenticate-Request within ${this.requestTimeoutMs / 1000} s`, null);
    }, this.requestTimeoutMs);
  }

  stop(): void {
    this.clearTimer();
    if (this.current !== 'succeeded' && this.current !== 'failed') this.current = 'stopped';
  }

  input(payload: Buffer): void {
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      this.config.log.debug({ err: (err as Error).message }, 'malformed PAP packet discarded');
      return;
    }
    if (packet.code !== PapCode.AuthenticateRequest) {
      this.config.log.debug({ code: packet.code }, 'PAP packet ignored');
      return;
    }
    let fields: PapRequestFields;
    try {
      fields = parsePapRequest(packet.data);
    } catch (err) {
      this.config.log.debug({ err: (err as Error).message }, 'malformed PAP Authenticate-Request discarded');
      return;
    }
    switch (this.current) {
      case 'waiting':
        this.verify(packet.identifier, fields);
        return;
      case 'succeeded':
      case 'failed':
        if (this.decided) this.reply(this.decided.code, packet.identifier, this.decided.message);
        return;
      default:
        return; // verifying: the answer is on its way; idle or stopped: not ours to answer
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.config.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private reply(code: number, identifier: number, message: Buffer): void {
    const data = Buffer.allocUnsafe(1 + message.length);
    data[0] = message.length;
    message.copy(data, 1);
    this.events.send(encodeControlPacket(code, identifier, data));
  }

  private verify(identifier: number, fields: PapRequestFields): void {
    this.clearTimer();
    this.current = 'verifying';
    const username = fields.peerId.toString('utf8');
    this.config.log.debug({ user: printableText(fields.peerId) }, 'PAP Authenticate-Request received');
    // A copy for the backend, wiped once it has answered.
    const password = Buffer.from(fields.password);
    const backend = this.config.authenticator;
    let verification: Promise<BasicAuthResult>;
    try {
      verification = backend.verifyPap
        ? backend.verifyPap({ username, password })
        : Promise.resolve({ ok: false, errorCode: 691, message: 'backend cannot verify PAP' });
    } catch (err) {
      verification = Promise.reject(err);
    }
    verification
      .then(
        (result) => this.decide(identifier, username, result),
        (err: unknown) => {
          this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'authenticator error');
          this.decide(identifier, username, { ok: false, errorCode: 691, message: 'Authentication failed' });
        },
      )
      .catch((err: unknown) => {
        this.config.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'error after PAP decision');
      })
      .finally(() => password.fill(0));
  }

  private decide(identifier: number, username: string, result: BasicAuthResult): void {
    if (this.current !== 'verifying') return; // link went away meanwhile
    if (result.ok) {
      this.current = 'succeeded';
      this.decided = { code: PapCode.AuthenticateAck, message: Buffer.from(ACK_MESSAGE, 'latin1') };
      this.reply(this.decided.code, identifier, this.decided.message);
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
    // The peer learns only that it failed; the reason goes to our log.
    this.decided = { code: PapCode.AuthenticateNak, message: Buffer.from(NAK_MESSAGE, 'latin1') };
    this.reply(this.decided.code, identifier, this.decided.message);
    this.events.failed(`E=${code}: ${text}`, username);
  }
}
