// Login throttling for VPN users, whatever the method (MS-CHAPv2, MS-CHAPv1, CHAP-MD5, PAP) and the
// backend (local store, RADIUS): a decorator around the user backend, bound to each call's peer
// address (SessionAuthContext). A throttled attempt is answered without asking the backend, with the
// protocol's failure (E=691, "too many failed logins; retry in N s" where the protocol carries a
// text) and one log line a minute at most, however many follow.
//
// Three back-offs (aaa/LoginBackoff.ts), each counting failures at their verdict (logins in flight are
// not failures: many users behind one NAT may log in at once; parallel guesses are bounded by
// pptp.maxUnauthenticatedCallsPerAddress, one verdict per call's authentication):
//  - per source address: one host guessing many names (or one) is slowed after `address` failures;
//  - per user name at one address: a user mistyping from home waits after a few failures, and a guesser
//    of that name from elsewhere changes nothing for them;
//  - per user name from all addresses, a looser bound against guessing one name from many addresses.
// Why this split: a per-user lock counted over all addresses would let anyone lock a user out by
// guessing their name. Here the real user from another address is held back only by the loose global
// bound, and not even by that from an address where they logged in before (remembered `trustMs`): a
// guesser cannot fill the real user's own (user, address) count, and one guessing address fills the
// global one only slowly because its own address back-off stops it first.
// A correct password clears its (user, address) count; the address and user counts keep their
// failures (an address shared by many users, a NAT, is not cleared by one user's success).
// Refused logins also count towards a temporary ban of the address (aaa/AddressBans.ts).
import type { Logger } from 'pino';
import type { AuthResult, BasicAuthResult, ChapMd5Request, ExtendedAuthenticator, MsChapV1Request, MsChapV2Request, PapRequest } from '../ppp/Authenticator.js';
import { stripDomain } from '../ppp/auth/MsChapV2Server.js';
import type { AddressBans } from './AddressBans.js';
import { type BackoffPolicy, LoginBackoff } from './LoginBackoff.js';
import { authenticatorForSession, type AuthSessionContext, type SessionAwareAuthenticator } from './SessionAuthContext.js';

/** RFC 2759 §6: E=691, authentication failure (the answer to every refused login, throttled or not). */
const E_AUTHENTICATION_FAILURE = 691;
/** At most one log line about throttled logins per this interval. */
const LOG_INTERVAL_MS = 60_000;
/** Key of a login whose call is not known (a backend used without a session): all such share one address key. */
const UNKNOWN_PEER = '0.0.0.0';

export interface LoginThrottlePolicy {
  /** Failures from one source address. */
  address: BackoffPolicy;
  /** Failures of one user name from one source address. */
  userAtAddress: BackoffPolicy;
  /** Failures of one user name from every address but those the user logged in from within trustMs. */
  user: BackoffPolicy;
  /** How long an address where a user logged in stays exempt from that user's global bound. */
  trustMs: number;
}

export interface LoginThrottleCounters {
  /** Logins answered without asking the backend (throttled or from a banned address). */
  throttled: number;
}

type Refusal = { ok: false; errorCode: number; message: string; peerMessage: string };

/** One admitted attempt, settled once the backend has answered. */
interface Attempt {
  user: string;
  peer: string;
  pair: string;
  /** The address is one where the user logged in lately: the user's global bound was not counted. */
  trusted: boolean;
  /** Its keys in `inFlight`, released when it is settled. */
  keys: string[];
}

/** The state every call's throttled backend shares: the back-offs, the trusted addresses, the ban list. */
export class LoginGuard {
  private readonly byAddress: LoginBackoff;
  private readonly byUserAtAddress: LoginBackoff;
  private readonly byUser: LoginBackoff;
  /** "user\naddress" → last successful login there; insertion order: the oldest first. */
  private readonly trusted = new Map<string, number>();
  /**
   * Attempts being checked, per back-off key. Failures count at their verdict, so a key whose back-off
   * has begun gets one attempt in flight at a time: otherwise a batch of parallel guesses arriving when
   * its wait ends would all be checked (up to pptp.maxUnauthenticatedCallsPerAddress at once).
   */
  private readonly inFlight = new Map<string, number>();
  private throttledTotal = 0;
  private throttledSinceLine = 0;
  private lineAt = 0;

  constructor(
    private policy: LoginThrottlePolicy,
    readonly bans: AddressBans,
    private readonly log: Logger,
  ) {
    this.byAddress = new LoginBackoff(policy.address);
    this.byUserAtAddress = new LoginBackoff(policy.userAtAddress);
    this.byUser = new LoginBackoff(policy.user);
  }

  /** A reloaded auth.throttle (server/ConfigReload.ts): failures counted so far are kept. */
  reconfigure(policy: LoginThrottlePolicy): void {
    this.policy = policy;
    this.byAddress.reconfigure(policy.address);
    this.byUserAtAddress.reconfigure(policy.userAtAddress);
    this.byUser.reconfigure(policy.user);
  }

  get counters(): LoginThrottleCounters {
    return { throttled: this.throttledTotal };
  }

  /** The attempt to check against the backend, or the refusal to answer without asking it. */
  admit(username: string, peer: string, method: string): Attempt | Refusal {
    const user = stripDomain(username).toLowerCase();
    const pair = `${user}\n${peer}`;
    const ban = this.bans.refuses(peer);
    if (ban !== null) return this.throttled(user, peer, method, Math.max(1, Math.ceil((ban.until - Date.now()) / 1000)), 'address banned');
    const trusted = this.isTrusted(pair);
    const wait = Math.max(this.byAddress.retryAfter(peer), this.byUserAtAddress.retryAfter(pair), trusted ? 0 : this.byUser.retryAfter(user));
    const checks: Array<[LoginBackoff, string, string]> = [
      [this.byAddress, peer, `a\n${peer}`],
      [this.byUserAtAddress, pair, `p\n${pair}`],
      ...(trusted ? [] : [[this.byUser, user, `u\n${user}`] as [LoginBackoff, string, string]]),
    ];
    const busy = checks.some(([backoff, name, key]) => backoff.waiting(name) && this.inFlight.has(key));
    if (wait > 0 || busy) {
      this.bans.loginRefused(peer);
      return this.throttled(user, peer, method, Math.max(1, wait), 'too many failed logins');
    }
    const keys = checks.map(([, , key]) => key);
    for (const key of keys) this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    return { user, peer, pair, trusted, keys };
  }

  /** The backend's verdict: granted, refused, or none (it failed: nothing counted, the peer is not to blame). */
  settle(attempt: Attempt, verdict: 'granted' | 'refused' | 'none'): void {
    for (const key of attempt.keys) {
      const n = (this.inFlight.get(key) ?? 1) - 1;
      if (n > 0) this.inFlight.set(key, n);
      else this.inFlight.delete(key);
    }
    if (verdict === 'refused') {
      this.bans.loginRefused(attempt.peer);
      this.byAddress.fail(attempt.peer);
      this.byUserAtAddress.fail(attempt.pair);
      if (!attempt.trusted) this.byUser.fail(attempt.user);
    } else if (verdict === 'granted') {
      this.byUserAtAddress.succeed(attempt.pair);
      this.trust(attempt.pair);
    }
  }

  private throttled(user: string, peer: string, method: string, wait: number, why: string): Refusal {
    this.throttledTotal++;
    this.throttledSinceLine++;
    const now = Date.now();
    if (now - this.lineAt >= LOG_INTERVAL_MS) {
      this.log.warn(
        { user: user.replace(/[^\x20-\x7e]/g, '.').slice(0, 64), peer, method, retryAfter: wait, throttled: this.throttledSinceLine },
        `login refused without checking it: ${why} (auth.throttle; further refusals are counted, one line a minute)`,
      );
      this.throttledSinceLine = 0;
      this.lineAt = now;
    }
    return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: `throttled: ${why}`, peerMessage: `too many failed logins; retry in ${wait} s` };
  }

  private isTrusted(pair: string): boolean {
    const at = this.trusted.get(pair);
    if (at === undefined) return false;
    if (Date.now() - at <= this.policy.trustMs) return true;
    this.trusted.delete(pair);
    return false;
  }

  private trust(pair: string): void {
    this.trusted.delete(pair);
    // Bounded like the back-offs: forgetting an address only subjects it to the global bound again.
    while (this.trusted.size >= this.policy.user.maxEntries) this.trusted.delete(this.trusted.keys().next().value!);
    this.trusted.set(pair, Date.now());
  }
}

/** The user backend behind the throttle; the session layer binds it to each call (forSession) to know the peer. */
export class ThrottledAuthenticator implements ExtendedAuthenticator, SessionAwareAuthenticator {
  // Only the methods the backend has: PPP offers a method only when its backend can verify it.
  readonly verifyPap?: (request: PapRequest) => Promise<BasicAuthResult>;
  readonly verifyChapMd5?: (request: ChapMd5Request) => Promise<BasicAuthResult>;
  readonly verifyMsChapV1?: (request: MsChapV1Request) => Promise<BasicAuthResult>;

  constructor(
    private readonly inner: ExtendedAuthenticator,
    private readonly guard: LoginGuard,
    private readonly peer: string = UNKNOWN_PEER,
  ) {
    const { verifyPap, verifyChapMd5, verifyMsChapV1 } = inner;
    if (verifyPap) this.verifyPap = (r) => this.guarded('PAP', r.username, () => verifyPap.call(inner, r));
    if (verifyChapMd5) this.verifyChapMd5 = (r) => this.guarded('CHAP-MD5', r.username, () => verifyChapMd5.call(inner, r));
    if (verifyMsChapV1) this.verifyMsChapV1 = (r) => this.guarded('MS-CHAPv1', r.username, () => verifyMsChapV1.call(inner, r));
  }

  forSession(context: AuthSessionContext): ThrottledAuthenticator {
    return new ThrottledAuthenticator(authenticatorForSession(this.inner, context), this.guard, context.peer);
  }

  verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    return this.guarded('MS-CHAPv2', request.username, () => this.inner.verifyMsChapV2(request));
  }

  /** A refusal is a failure of either result type (AuthResult, BasicAuthResult). */
  private async guarded<R extends AuthResult | BasicAuthResult>(method: string, username: string, verify: () => Promise<R>): Promise<R | Refusal> {
    const attempt = this.guard.admit(username, this.peer, method);
    if ('ok' in attempt) return attempt;
    let result: R;
    try {
      result = await verify();
    } catch (err) {
      this.guard.settle(attempt, 'none');
      throw err;
    }
    this.guard.settle(attempt, result.ok ? 'granted' : 'refused');
    return result;
  }
}
