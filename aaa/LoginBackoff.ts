// Failed logins counted per key (a client address, a user name, a user at an address). After a few
// failures a key waits before its next attempt is even checked, and each further failure doubles
// the wait up to a ceiling. The console keys it by client address (admin/LoginThrottle.ts), the VPN
// logins by address, by user at address and by user (aaa/ThrottledAuthenticator.ts).
// The console counts an attempt as a failure from the moment it starts (begin: a burst of parallel
// guesses cannot all slip in before the first verdict; a correct login clears its key); the VPN
// logins count failures at their verdict (fail), their parallel attempts being bounded by the calls
// an address may hold unauthenticated.
// Memory stays bounded whatever the attacker sends: at most `maxEntries` keys, the least recently
// failed forgotten first (forgetting only ever lets a key try sooner, it never refuses anyone).

export interface BackoffPolicy {
  /** The failure of one key that reaches this count starts its first wait. */
  failuresBeforeWait: number;
  /** The first wait; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key without a failure for this long (at least maxDelayMs) starts afresh. */
  forgetMs: number;
  /** Keys tracked at most. */
  maxEntries: number;
}

interface Backoff {
  failures: number;
  lastFailure: number;
  /** No attempt is checked before this time. */
  until: number;
}

export class LoginBackoff {
  /** Iteration order is the order of the last failure: the front is the stalest. */
  private readonly entries = new Map<string, Backoff>();

  /** @param keyOf maps what callers pass to the key counted (the console: an IPv6 client by its /64). */
  constructor(
    private policy: BackoffPolicy,
    private readonly keyOf: (name: string) => string = (name) => name,
  ) {}

  /** A reloaded policy: counts are kept, waits already begun run out as they were set, the next ones follow it. */
  reconfigure(policy: BackoffPolicy): void {
    this.policy = policy;
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.entries.size;
  }

  /** Seconds `name` must still wait; 0 when its next attempt may be checked. */
  retryAfter(name: string): number {
    const r = this.current(this.keyOf(name));
    return r ? Math.max(0, Math.ceil((r.until - Date.now()) / 1000)) : 0;
  }

  /** Whether `name` has failed often enough to wait between attempts (its back-off has begun). */
  waiting(name: string): boolean {
    const r = this.current(this.keyOf(name));
    return r !== undefined && r.failures >= this.policy.failuresBeforeWait;
  }

  /**
   * One attempt of `name`: the seconds to wait (refused, nothing counted), or 0 when it may go
   * ahead — then it counts as a failure until succeed() clears the key.
   */
  begin(name: string): number {
    const wait = this.retryAfter(name);
    if (wait > 0) return wait;
    this.fail(name);
    return 0;
  }

  /**
   * One failure of `name`, counted at its verdict: for callers whose parallel attempts are bounded
   * elsewhere (the VPN logins: by the calls an address may hold unauthenticated), so that logins in
   * flight are not failures.
   */
  fail(name: string): void {
    const key = this.keyOf(name);
    const now = Date.now();
    const failures = (this.current(key)?.failures ?? 0) + 1;
    const beyond = failures - this.policy.failuresBeforeWait;
    const delay = beyond < 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(beyond, 40));
    // Re-inserted so that the map stays in order of last failure.
    this.entries.delete(key);
    this.makeRoom(now);
    this.entries.set(key, { failures, lastFailure: now, until: now + delay });
  }

  /** A correct password: the key starts afresh. */
  succeed(name: string): void {
    this.entries.delete(this.keyOf(name));
  }

  private current(key: string): Backoff | undefined {
    const r = this.entries.get(key);
    if (r && this.stale(r, Date.now())) {
      this.entries.delete(key);
      return undefined;
    }
    return r;
  }

  private stale(r: Backoff, now: number): boolean {
    return now - r.lastFailure > Math.max(this.policy.forgetMs, this.policy.maxDelayMs);
  }

  private makeRoom(now: number): void {
    for (const [key, r] of this.entries) {
      if (this.entries.size < this.policy.maxEntries || !this.stale(r, now)) break;
      this.entries.delete(key);
    }
    // Still full: the least recently failed key goes.
    for (const key of this.entries.keys()) {
      if (this.entries.size < this.policy.maxEntries) break;
      this.entries.delete(key);
    }
  }
}
