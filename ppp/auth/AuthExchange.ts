// The exchange every PPP authentication server here runs once its first packet is out: take one request
// while waiting, ask the backend once (a throw or rejection counts as a failed login), answer Success/Ack
// or Failure/Nak, and give that same answer to every later request. The peer retransmits until it hears
// us, so ours may have been lost (RFC 1994 §4.1, RFC 1334 §2.2.1); a refused peer cannot try again.
// Subclasses say what a request is and word the answers: ChapServerBase (CHAP-MD5, MS-CHAPv1, MS-CHAPv2)
// and PapServer.

import type { Logger } from 'pino';
import type { AuthResult, BasicAuthResult } from '../Authenticator.js';
import { encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import type { AuthServer, AuthServerEvents } from './AuthMethod.js';

/** What a backend answers: MS-CHAPv2's AuthResult or the other protocols' BasicAuthResult. */
export type AuthVerdict = AuthResult | BasicAuthResult;
export type AuthAcceptance<V extends AuthVerdict> = Extract<V, { ok: true }>;
export type AuthRefusal = Extract<BasicAuthResult, { ok: false }>;

export type AuthExchangeState = 'idle' | 'waiting' | 'verifying' | 'succeeded' | 'failed' | 'stopped';

/** An answer's Code and Data; each repeat carries the Identifier of the request it answers. */
export interface AuthAnswer {
  code: number;
  data: Buffer;
}

export interface AuthExchangeConfig {
  log: Logger;
}

/** What a backend error or an unusable acceptance counts as: a plain failed login (E=691). */
export const AUTH_REFUSED: Readonly<AuthRefusal> = Object.freeze({ ok: false, errorCode: 691, message: 'Authentication failed' });

export abstract class AuthExchange<Request, V extends AuthVerdict> implements AuthServer {
  /** For logs about packets: "CHAP", "PAP". */
  protected abstract readonly protocolName: string;
  /** For logs about the decision: "CHAP-MD5", "MS-CHAPv2", "PAP". */
  protected abstract readonly methodName: string;
  /** Code of the peer's request: CHAP Response, PAP Authenticate-Request. */
  protected abstract readonly requestCode: number;

  abstract start(): void;
  /** A request's fields, or null when it is to be discarded (log why). Runs in every state. */
  protected abstract admit(packet: ControlPacket): Request | null;
  /** The first admitted request while waiting: decideOn() it, or discard it. */
  protected abstract receive(identifier: number, request: Request): void;
  protected abstract acceptAnswer(result: AuthAcceptance<V>): AuthAnswer;
  /** `text`: what the backend lets the peer see (printable ASCII, at most 200 characters), else the protocol's generic text. */
  protected abstract refuseAnswer(errorCode: number, text: string | undefined): AuthAnswer;

  private current: AuthExchangeState = 'idle';
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The decision as sent, repeated for every later request. */
  private answer: AuthAnswer | null = null;

  constructor(
    private readonly exchange: AuthExchangeConfig,
    protected readonly events: AuthServerEvents,
  ) {}

  protected get phase(): AuthExchangeState {
    return this.current;
  }

  /** Stop timers and forget any verification still running. */
  stop(): void {
    this.clearTimer();
    if (this.current !== 'succeeded' && this.current !== 'failed') this.current = 'stopped';
  }

  input(payload: Buffer): void {
    const log = this.exchange.log;
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      log.debug({ err: (err as Error).message }, `malformed ${this.protocolName} packet discarded`);
      return;
    }
    if (packet.code !== this.requestCode) {
      log.debug({ code: packet.code }, `${this.protocolName} packet ignored`);
      return;
    }
    const request = this.admit(packet);
    if (request === null) return;
    switch (this.current) {
      case 'waiting':
        this.receive(packet.identifier, request);
        return;
      case 'succeeded':
      case 'failed':
        if (this.answer) this.sendAnswer(packet.identifier, this.answer);
        return;
      default:
        return; // verifying: the answer is on its way; idle or stopped: not ours to answer
    }
  }

  /** Leave idle for waiting; false when already started. */
  protected begin(): boolean {
    if (this.current !== 'idle') return false;
    this.current = 'waiting';
    return true;
  }

  protected armTimer(ms: number, expired: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      expired();
    }, ms);
  }

  /** The peer never sent a usable request. */
  protected giveUp(reason: string): void {
    this.current = 'failed';
    this.events.failed(reason, null);
  }

  /** For a backend without this method (PPP does not offer it then; this is the safety net). */
  protected cannotVerify(): Promise<AuthRefusal> {
    return Promise.resolve({ ok: false, errorCode: 691, message: `backend cannot verify ${this.methodName}` });
  }

  /** Override to refuse an acceptance that is unusable (MS-CHAPv2: malformed authenticator response). */
  protected review(result: V): V | AuthRefusal {
    return result;
  }

  /** Ask the backend about the request from `identifier` and answer it; settles once the decision is sent. */
  protected decideOn(identifier: number, username: string, ask: () => Promise<V>): Promise<void> {
    this.clearTimer();
    this.current = 'verifying';
    let verification: Promise<V>;
    try {
      verification = ask();
    } catch (err) {
      verification = Promise.reject(err);
    }
    return verification
      .then(
        (result) => this.decide(identifier, username, result),
        (err: unknown) => {
          this.exchange.log.warn({ err: errorText(err) }, 'authenticator error');
          this.decide(identifier, username, AUTH_REFUSED);
        },
      )
      .catch((err: unknown) => {
        this.exchange.log.warn({ err: errorText(err) }, `error after ${this.methodName} decision`);
      });
  }

  private decide(identifier: number, username: string, verdict: V | AuthRefusal): void {
    if (this.current !== 'verifying') return; // link went away meanwhile
    const result = verdict.ok ? this.review(verdict) : verdict;
    if (result.ok) {
      this.current = 'succeeded';
      this.answer = this.acceptAnswer(result as AuthAcceptance<V>); // TS cannot narrow a generic union on `ok`
      this.sendAnswer(identifier, this.answer);
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
    const peerText = result.peerMessage?.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    this.answer = this.refuseAnswer(code, peerText);
    this.sendAnswer(identifier, this.answer);
    this.events.failed(`E=${code}: ${text}`, username);
  }

  private sendAnswer(identifier: number, answer: AuthAnswer): void {
    this.events.send(encodeControlPacket(answer.code, identifier, answer.data));
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
