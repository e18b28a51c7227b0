// One PPP link (one PPTP call), server side: runs LCP, then the authentication protocol LCP agreed on
// (MS-CHAPv2, MS-CHAPv1, CHAP-MD5 or PAP), then IPCP and CCP/MPPE, and filters packets by phase
// (RFC 1661 §3.2). Pure: frames come in through input() and leave through hooks.send(); the session owns
// the sockets, the PPP header and the data path.

import type { Logger } from 'pino';
import type { ExtendedAuthenticator, MppeMasterKeys, SessionAuthorization } from './Authenticator.js';
import { AutomatonState } from './Automaton.js';
import { AUTH_METHOD_LABEL, mppeKeyLengthsFor, offeredAuthMethods, type AuthMethod, type AuthServer, type AuthServerEvents, type AuthSuccess } from './auth/AuthMethod.js';
import { ChapMd5Server } from './auth/ChapMd5Server.js';
import { MsChapV1Server } from './auth/MsChapV1Server.js';
import { MsChapV2Server, stripDomain } from './auth/MsChapV2Server.js';
import { PapServer } from './auth/PapServer.js';
import { Ccp } from './ccp/Ccp.js';
import type { MppePolicy, NegotiatedMppe } from './ccp/options/Mppe.js';
import type { MppeBits } from './mppe/MppeKeys.js';
import { Ipcp } from './ipcp/Ipcp.js';
import { type LcpEnd, Lcp } from './lcp/Lcp.js';
import { type Framing, isValidPppProtocol, pppProtocolName, PppProtocol } from './PppProtocol.js';

export interface PppLinkConfig {
  serverName: string;
  /** Our tunnel IPv4, host order u32. */
  localAddress: number;
  dns: number[];
  wins: number[];
  mru?: number;
  mppe: MppePolicy;
  lcpEchoInterval: number;
  lcpEchoFailure: number;
  authTimeoutMs?: number;
  /**
   * Authentication methods the policy allows (default: MS-CHAPv2 only). The link offers those the
   * authenticator also implements, strongest first, and falls back along that list on a Nak (RFC 1661 §6.2).
   */
  authProtocols?: readonly AuthMethod[];
}

export interface PppNetworkInfo {
  peerAddress: number;
  /** As the peer sent it (possibly "DOMAIN\\user"). */
  username: string;
  /**
   * `resume`: the network phase comes back (IPCP renegotiated) under the same MPPE keys and the same CCP
   * agreement, so the ciphers already running carry on. False: fresh keys from a new authentication.
   */
  mppe: { bits: MppeBits; stateless: boolean; keys: MppeMasterKeys; resume: boolean } | null;
}

export interface PppLinkHooks {
  /** Send one PPP frame: protocol + payload (the link builds neither FF 03 nor protocol; the session does, with acfc/pfc from `link.framing`). */
  send(protocol: number, payload: Buffer): void;
  authenticator: ExtendedAuthenticator;
  /** After successful auth: choose the peer's address (static or pool) or null if none is free (link then fails IPCP and closes). */
  assignAddress(username: string, staticAddress?: number): number | null;
  /** Network phase up: IPCP opened AND (if MPPE required) CCP opened. Carries what the data path needs. */
  networkUp(info: PppNetworkInfo): void;
  /**
   * The network phase went down again without the link finishing (peer renegotiated LCP, IPCP or CCP):
   * stop forwarding until the next networkUp (which then carries fresh MPPE state).
   */
  networkDown?(reason: string): void;
  /** CCP Reset-Request from the peer (stateful MPPE): reset the encryptor. */
  resetRequested(): void;
  /** The peer proved its identity (before the network phase); carries the backend's authorization. */
  authenticated?(info: { username: string; authorization?: SessionAuthorization | undefined }): void;
  /** Authentication failed; `reason` is for the log and the panel (never sent to the peer as is). */
  authFailed?(info: { username: string | null; reason: string }): void;
  /** The link is finished (LCP down after TermReq/TermAck, timeouts, auth failure, echo failure): why, and the text for the log. The session clears the call. */
  finished(end: LinkEnd, reason: string): void;
  log: Logger;
}

export type PppPhase = 'dead' | 'establish' | 'authenticate' | 'network' | 'terminate';

/**
 * Why a link finished. `local-close`: the owner called close() and knows why; `lower-layer-down`:
 * the call or its control connection went first. The rest are the link's own verdicts.
 */
export type LinkEnd =
  | LcpEnd
  | 'local-close'
  | 'lower-layer-down'
  | 'auth-failed'
  | 'auth-timeout'
  /** The peer would not authenticate with any method we offer (Nak'd them all, or Protocol-Rejected it). */
  | 'auth-refused'
  | 'mppe-refused'
  | 'no-mppe-keys'
  | 'no-address'
  /** CCP renegotiated after data flowed under the same keys: MPPE would restart its key stream. */
  | 'ccp-renegotiated'
  /** An LCP renegotiation authenticated a different user than the session's. */
  | 'user-changed'
  /** IPCP could not come up (refused by the peer, or finished without opening). */
  | 'ncp-failed';

export const MPPE_REFUSED_REASON = 'MPPE required but peer refused';
export const NO_MPPE_KEYS_REASON = 'MPPE required but the authentication gave no key material';

const VALID_KEY_BITS: ReadonlySet<number> = new Set([40, 56, 128]);

/**
 * The authentication methods a link with this configuration offers, strongest first: allowed by
 * `authProtocols`, implemented by the authenticator, and, when MPPE is required, able to key it (so a
 * cleartext PAP password is never asked for on a link that could not come up anyway).
 */
export function linkAuthMethods(config: Pick<PppLinkConfig, 'authProtocols' | 'mppe'>, authenticator: ExtendedAuthenticator): AuthMethod[] {
  const offered = offeredAuthMethods(config.authProtocols ?? ['mschapv2'], authenticator);
  if (!config.mppe.required) return offered;
  return offered.filter((m) => mppeKeyLengthsFor(m, config.mppe.bits).length > 0);
}

export class PppLink {
  private readonly log: Logger;
  private readonly lcp: Lcp;
  private readonly ipcp: Ipcp;
  /** Rebuilt after authentication when the method limits the key lengths (MS-CHAPv1: 128 only; PAP/CHAP: none). */
  private ccp: Ccp | null;
  private ccpBits: readonly MppeBits[];
  private readonly authOffer: readonly AuthMethod[];
  private auth: AuthServer | null = null;
  /** PPP protocol of the running authentication (CHAP or PAP). */
  private authPppProtocol: number | null = null;
  private authenticatedWith: AuthMethod | null = null;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  private currentPhase: PppPhase = 'dead';
  private started = false;
  private done = false;
  private closeReason: string | null = null;
  private end: LinkEnd | null = null;
  private user: string | null = null;
  private keys: MppeMasterKeys | null = null;
  private assignedAddress: number | null = null;
  private networkIsUp = false;
  private networkHasMppe = false;
  /** Optional MPPE is off the table (refused, CCP finished, or the network came up without it). */
  private ccpGaveUp = false;
  /**
   * Keystream integrity (RFC 3078 §7.1: a key and coherency count are never used twice). The keys the
   * data path's ciphers were started with, and how many times CCP had come up by then.
   */
  private keysStarted: MppeMasterKeys | null = null;
  private ccpUpsAtStart = 0;
  private ccpUps = 0;

  constructor(
    private readonly config: PppLinkConfig,
    private readonly hooks: PppLinkHooks,
  ) {
    for (const b of config.mppe.bits) {
      if (!VALID_KEY_BITS.has(b)) throw new RangeError(`invalid MPPE key length ${String(b)}`);
    }
    if (config.mppe.required && config.mppe.bits.length === 0) {
      throw new RangeError('MPPE required but no key length allowed');
    }
    this.authOffer = linkAuthMethods(config, hooks.authenticator);
    if (this.authOffer.length === 0) {
      throw new RangeError('no authentication protocol is allowed, supported by the authenticator and able to key the required MPPE');
    }
    this.log = hooks.log;
    const peerMru = () => this.lcp.peerMru;

    this.lcp = new Lcp(
      { mru: config.mru, echoInterval: config.lcpEchoInterval, echoFailure: config.lcpEchoFailure, authMethods: this.authOffer },
      {
        send: (p) => this.sendFrame(PppProtocol.LCP, p),
        up: () => this.lcpUp(),
        down: () => this.lcpDown(),
        finished: (end, reason) => this.finish(end, reason),
        protocolRejected: (protocol) => this.protocolRejected(protocol),
      },
      { log: this.log },
    );

    this.ipcp = new Ipcp(
      { localAddress: config.localAddress, dns: config.dns, wins: config.wins },
      {
        send: (p) => this.sendFrame(PppProtocol.IPCP, p),
        up: () => this.checkNetworkUp(),
        down: () => this.networkGoneDown('IPCP down'),
        finished: (reason) => this.closeFor('ncp-failed', `no network protocol running (${reason})`),
        refused: (reason) => this.closeFor('ncp-failed', reason),
      },
      { log: this.log, peerMru },
    );

    this.ccpBits = config.mppe.bits;
    // No encryption offered: CCP is not run and gets a Protocol-Reject.
    this.ccp = config.mppe.bits.length === 0 ? null : this.createCcp(config.mppe.bits);
  }

  private createCcp(bits: readonly MppeBits[]): Ccp {
    return new Ccp(
      { required: this.config.mppe.required, bits, mode: this.config.mppe.mode },
      {
        send: (p) => this.sendFrame(PppProtocol.CCP, p),
        up: () => {
          this.ccpUps++;
          this.ipcp.automaton.retransmitUnanswered();
          this.checkNetworkUp();
        },
        down: () => {
          if (this.networkHasMppe) this.networkGoneDown('CCP down');
        },
        finished: (reason) => this.mppeUnavailable(reason),
        refused: (reason) => this.mppeUnavailable(reason),
        terminateRequested: () => this.mppeUnavailable('peer sent CCP Terminate-Request'),
        resetRequested: () => this.callHook('resetRequested', () => this.hooks.resetRequested()),
      },
      { log: this.log, peerMru: () => this.lcp.peerMru },
    );
  }

  get phase(): PppPhase {
    return this.currentPhase;
  }

  /** What we may use when sending: the peer's acked ACFC/PFC (RFC 1661 §6.5, §6.6); LCP ignores it. */
  get framing(): Framing {
    return this.lcp.framing;
  }

  /** Authenticated user name as sent by the peer (may include "DOMAIN\\"). */
  get username(): string | null {
    return this.user;
  }

  get peerMru(): number {
    return this.lcp.peerMru;
  }

  /** The authentication method that succeeded, else the one LCP agreed on, else null. */
  get authMethod(): AuthMethod | null {
    return this.authenticatedWith ?? this.lcp.authMethod;
  }

  /** Why the link is closing or closed, once the link or its owner decided (null: still up, or ended by the peer). */
  get closing(): { end: LinkEnd; reason: string } | null {
    return this.end === null ? null : { end: this.end, reason: this.closeReason ?? this.end };
  }

  /** PPTP call up: LCP Open + Up (our Configure-Request goes out). */
  start(): void {
    if (this.started || this.done) return;
    this.started = true;
    this.currentPhase = 'establish';
    this.lcp.open();
    this.lcp.lowerUp();
  }

  /** One received control frame (protocol already parsed; payload only). Never throws. */
  input(protocol: number, payload: Buffer): void {
    try {
      this.route(protocol, payload);
    } catch (err) {
      this.log.warn({ protocol: pppProtocolName(protocol), err: (err as Error).message }, 'error while handling a PPP frame');
    }
  }

  /** Server-side close (admin disconnect): LCP Terminate-Request carrying `reason`, then finished('local-close'). */
  close(reason: string): void {
    this.closeFor('local-close', reason);
  }

  private closeFor(end: LinkEnd, reason: string): void {
    if (this.done) return;
    this.end ??= end;
    if (!this.started) {
      this.finish(end, reason);
      return;
    }
    this.closeReason ??= reason;
    this.stopAuth();
    this.currentPhase = 'terminate';
    // Goes to Closing (Terminate-Request, finished on Terminate-Ack or after Max-Terminate), or straight
    // to tlf → finish() when LCP had not got going.
    this.lcp.close(reason);
  }

  /** Lower layer gone (call cleared / TCP lost): nothing more is sent; finished() is reported once. */
  lowerDown(): void {
    if (this.done) return;
    this.stopAuth();
    this.lcp.lowerDown();
    this.finish('lower-layer-down', this.closeReason ?? 'lower layer down');
  }

  /** Stateful MPPE: the decryptor lost sync. */
  sendCcpResetRequest(): void {
    if (this.done) return;
    this.ccp?.sendResetRequest();
  }

  private route(protocol: number, payload: Buffer): void {
    if (!this.started || this.done) return;
    if (protocol === PppProtocol.LCP) {
      this.lcp.input(payload);
      return;
    }
    // RFC 1661 §3.2: before LCP is Opened only LCP counts; the rest is silently discarded.
    if (!this.lcp.isOpened) return;
    switch (protocol) {
      case PppProtocol.CHAP:
      case PppProtocol.PAP:
        // Only the protocol LCP agreed on; the other one is silently discarded (pppd does the same).
        if ((this.currentPhase === 'authenticate' || this.currentPhase === 'network') && this.authPppProtocol === protocol) {
          this.auth?.input(payload);
        }
        return;
      case PppProtocol.IPCP:
        if (this.currentPhase === 'network') this.ipcp.input(payload);
        return;
      case PppProtocol.CCP:
        if (!this.ccp) break;
        if (this.currentPhase === 'network') this.ccp.input(payload);
        return;
      case PppProtocol.IPv4:
      case PppProtocol.Mppe:
        return; // data: the session's business, never the control plane's
    }
    if (!isValidPppProtocol(protocol)) return;
    this.log.debug({ protocol: pppProtocolName(protocol) }, 'protocol not run here: Protocol-Reject');
    this.lcp.sendProtocolReject(protocol, payload);
  }

  private sendFrame(protocol: number, payload: Buffer): void {
    if (this.done) return;
    this.callHook('send', () => this.hooks.send(protocol, payload));
  }

  private callHook(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ hook: name, err: (err as Error).message }, 'PPP link hook threw');
    }
  }

  private lcpUp(): void {
    if (this.done) return;
    const method = this.lcp.authMethod;
    if (method === null) {
      this.closeFor('auth-refused', 'peer did not agree to authenticate');
      return;
    }
    this.currentPhase = 'authenticate';
    this.stopAuth();
    const events: AuthServerEvents = {
      send: (p) => this.sendFrame(method === 'pap' ? PppProtocol.PAP : PppProtocol.CHAP, p),
      succeeded: (result) => this.authSucceeded(server, method, result),
      failed: (reason, user) => this.authFailed(server, reason, user),
    };
    const server = this.createAuthServer(method, events);
    this.auth = server;
    this.authPppProtocol = method === 'pap' ? PppProtocol.PAP : PppProtocol.CHAP;
    this.log.debug({ method: AUTH_METHOD_LABEL[method] }, 'authentication phase');
    if (this.config.authTimeoutMs && this.config.authTimeoutMs > 0) {
      this.authTimer = setTimeout(() => {
        this.authTimer = null;
        if (this.currentPhase !== 'authenticate' || this.auth !== server) return;
        server.stop();
        this.log.info({}, 'authentication timed out');
        this.closeFor('auth-timeout', 'authentication timed out');
      }, this.config.authTimeoutMs);
    }
    server.start();
  }

  private createAuthServer(method: AuthMethod, events: AuthServerEvents): AuthServer {
    const chapConfig = { serverName: this.config.serverName, authenticator: this.hooks.authenticator, log: this.log };
    switch (method) {
      case 'mschapv2':
        return new MsChapV2Server(chapConfig, events);
      case 'mschap':
        return new MsChapV1Server(chapConfig, events);
      case 'chap':
        return new ChapMd5Server(chapConfig, events);
      case 'pap':
        return new PapServer({ authenticator: this.hooks.authenticator, log: this.log }, events);
    }
  }

  private lcpDown(): void {
    this.stopAuth();
    this.networkGoneDown('LCP down');
    this.ipcp.lowerDown();
    this.ccp?.lowerDown();
    if (this.done) return;
    const s = this.lcp.automaton.state;
    this.currentPhase = s === AutomatonState.Closing || s === AutomatonState.Stopping ? 'terminate' : 'establish';
  }

  private stopAuth(): void {
    if (this.authTimer !== null) {
      clearTimeout(this.authTimer);
      this.authTimer = null;
    }
    this.auth?.stop();
  }

  private authSucceeded(server: AuthServer, method: AuthMethod, result: AuthSuccess): void {
    if (this.done || this.auth !== server || this.currentPhase !== 'authenticate') return;
    if (this.authTimer !== null) {
      clearTimeout(this.authTimer);
      this.authTimer = null;
    }
    if (this.user !== null && stripDomain(this.user).toLowerCase() !== stripDomain(result.username).toLowerCase()) {
      this.closeFor('user-changed', 'LCP renegotiation authenticated another user');
      return;
    }
    this.user = result.username;
    this.keys = result.mppeKeys ?? null;
    this.authenticatedWith = method;
    this.log.debug({ user: stripDomain(result.username), method: AUTH_METHOD_LABEL[method] }, 'peer authenticated');
    if (!this.planMppe(method)) return;
    this.callHook('authenticated', () => this.hooks.authenticated?.({ username: result.username, authorization: result.authorization }));
    if (this.done) return;
    let address = this.assignedAddress;
    if (address === null) {
      try {
        address = this.hooks.assignAddress(result.username, result.staticAddress);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'assignAddress threw');
        address = null;
      }
    }
    if (address === null || address === undefined) {
      this.closeFor('no-address', 'no IP address available for the peer');
      return;
    }
    this.assignedAddress = address >>> 0;
    this.currentPhase = 'network';
    this.ipcp.assignPeerAddress(this.assignedAddress);
    // The user's own DNS servers (RADIUS MS-Primary/Secondary-DNS-Server) win over the configured ones.
    if (result.authorization?.dns?.length) this.ipcp.setDns(result.authorization.dns);
    this.ipcp.open();
    this.ipcp.lowerUp();
    if (this.ccp) {
      this.ccp.open();
      this.ccp.lowerUp();
    }
  }

  /**
   * Fit CCP to what this authentication can key: MS-CHAPv1 only 128-bit (one start key for both
   * directions, RFC 3079 §2), PAP/CHAP-MD5 (or a backend that returned no keys) nothing. Required
   * MPPE without keys ends the link here (the offer already avoids that); optional MPPE goes without CCP.
   */
  private planMppe(method: AuthMethod): boolean {
    if (this.config.mppe.bits.length === 0) return true;
    const bits = this.keys ? mppeKeyLengthsFor(method, this.config.mppe.bits) : [];
    if (bits.length === 0) {
      if (this.config.mppe.required) {
        this.log.info({ method: AUTH_METHOD_LABEL[method] }, NO_MPPE_KEYS_REASON);
        this.closeFor('no-mppe-keys', NO_MPPE_KEYS_REASON);
        return false;
      }
      this.log.info({ method: AUTH_METHOD_LABEL[method] }, 'no MPPE key material from this authentication: continuing without MPPE');
    }
    if (bits.length !== this.ccpBits.length || bits.some((b, i) => b !== this.ccpBits[i])) {
      // The old CCP never left Initial/Starting (it is opened only below, after authentication).
      this.ccp = bits.length === 0 ? null : this.createCcp(bits);
      this.ccpBits = bits;
    }
    return true;
  }

  private authFailed(server: AuthServer, reason: string, user: string | null): void {
    if (this.done || this.auth !== server) return;
    this.log.info({ user: user === null ? undefined : stripDomain(user), reason }, 'authentication failed');
    this.callHook('authFailed', () => this.hooks.authFailed?.({ username: user === null ? null : stripDomain(user), reason }));
    if (user === null) this.closeFor('auth-timeout', 'authentication timed out');
    else this.closeFor('auth-failed', 'authentication failed');
  }

  private protocolRejected(protocol: number): void {
    switch (protocol) {
      case PppProtocol.IPCP:
        this.closeFor('ncp-failed', 'peer rejected IPCP');
        return;
      case PppProtocol.CHAP:
        this.closeFor('auth-refused', 'peer rejected CHAP');
        return;
      case PppProtocol.PAP:
        this.closeFor('auth-refused', 'peer rejected PAP');
        return;
      case PppProtocol.CCP:
        if (!this.ccp) return;
        this.mppeUnavailable('peer Protocol-Rejected CCP');
        if (!this.done && this.currentPhase !== 'terminate') this.ccp.rejected();
        return;
      default:
        this.log.debug({ protocol: pppProtocolName(protocol) }, 'Protocol-Reject for a protocol we do not use');
    }
  }

  /** MPPE cannot be (or stay) agreed. Required ⇒ end the link (RFC 3078 §2); optional ⇒ go on without. */
  private mppeUnavailable(detail: string): void {
    if (this.done) return;
    if (this.config.mppe.required) {
      this.log.info({ detail }, MPPE_REFUSED_REASON);
      this.closeFor('mppe-refused', MPPE_REFUSED_REASON);
      return;
    }
    if (this.ccpGaveUp) return;
    this.log.info({ detail }, 'continuing without MPPE');
    this.ccpGaveUp = true;
    const s = this.ccp?.automaton.state;
    if (s !== undefined && s >= AutomatonState.ReqSent) this.ccp!.close('MPPE not agreed');
    this.checkNetworkUp();
  }

  private checkNetworkUp(): void {
    if (this.done || this.networkIsUp || this.currentPhase !== 'network') return;
    const peerAddress = this.ipcp.peerAddress;
    if (!this.ipcp.isOpened || peerAddress === null || this.user === null) return;
    let mppe: NegotiatedMppe | null = null;
    const ccp = this.ccp;
    if (ccp) {
      if (ccp.isOpened) mppe = ccp.negotiated;
      // RFC 3078 §9: no user data before encryption is up when it is required. When it is optional,
      // wait while the peer is negotiating CCP, so encryption never starts in the middle of a session.
      else if (this.config.mppe.required || (ccp.peerActive && !this.ccpGaveUp)) return;
    }
    if (this.config.mppe.required && !mppe) return;
    if (mppe && !this.keys) {
      this.closeFor('no-mppe-keys', 'no MPPE key material');
      return;
    }
    let resume = false;
    if (mppe && this.keys === this.keysStarted) {
      // The same master keys as the running ciphers. After an IPCP renegotiation (CCP untouched) they
      // carry on. CCP renegotiated would restart both directions from the start keys and repeat
      // keystream already sent, which Linux ppp_mppe.c (pppd) does; we end the session instead. An LCP
      // renegotiation re-authenticates first (fresh challenges, fresh keys: RFC 3079 §3), so it never
      // reaches here with the old keys.
      if (this.ccpUps !== this.ccpUpsAtStart) {
        this.closeFor('ccp-renegotiated', 'CCP renegotiated after data: MPPE would reuse its keystream');
        return;
      }
      resume = true;
    } else if (mppe) {
      this.keysStarted = this.keys;
      this.ccpUpsAtStart = this.ccpUps;
    }
    if (ccp && !mppe && !this.ccpGaveUp) {
      this.ccpGaveUp = true;
      if (ccp.automaton.state >= AutomatonState.ReqSent) ccp.close('network up without encryption');
    }
    this.networkIsUp = true;
    this.networkHasMppe = mppe !== null;
    const info: PppNetworkInfo = {
      peerAddress,
      username: this.user,
      mppe: mppe ? { bits: mppe.bits, stateless: mppe.stateless, keys: this.keys!, resume } : null,
    };
    this.log.debug({ peerAddress, mppe: mppe ? `${mppe.bits}${mppe.stateless ? ' stateless' : ' stateful'}` : 'none' }, 'network phase up');
    this.callHook('networkUp', () => this.hooks.networkUp(info));
  }

  private networkGoneDown(reason: string): void {
    if (!this.networkIsUp) return;
    this.networkIsUp = false;
    this.networkHasMppe = false;
    this.callHook('networkDown', () => this.hooks.networkDown?.(reason));
  }

  /** `end` applies unless a close already said why (LCP then finishes because we closed it). */
  private finish(end: LinkEnd, reason: string): void {
    if (this.done) return;
    this.end ??= end;
    this.done = true;
    this.currentPhase = 'dead';
    this.stopAuth();
    this.networkGoneDown(reason);
    const why = this.end;
    this.log.debug({ end: why, reason }, 'PPP link finished');
    this.callHook('finished', () => this.hooks.finished(why, reason));
  }
}
