// Failed console logins, counted per client address and per account name over a sliding window.
// Past the limit every attempt is refused (429) before any password is checked, so guessing
// stops and the scrypt work is not spent. An attempt counts as a failure from the moment it
// starts (a burst of parallel guesses cannot all slip in before the first verdict); a correct
// login takes its count back and clears its address.

export interface ThrottleLimits {
  /** Failures from one client address within the window. */
  perClient: number;
  /** Failures against one account name from anywhere (address rotation). */
  perAccount: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = { perClient: 5, perAccount: 20, windowMs: 15 * 60 * 1000 };
/** Bounded memory whatever the attacker sends. */
const MAX_KEYS = 10_000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: ThrottleLimits = DEFAULT_THROTTLE) {}

  /** Seconds until an attempt from `client` for `account` is allowed; 0 when it is. */
  retryAfter(client: string, account: string): number {
    const wait = Math.max(this.wait(`c:${client}`, this.limits.perClient), this.wait(`a:${account.toLowerCase()}`, this.limits.perAccount));
    return Math.ceil(wait / 1000);
  }

  fail(client: string, account: string): void {
    if (this.failures.size >= MAX_KEYS) this.prune();
    for (const key of [`c:${client}`, `a:${account.toLowerCase()}`]) {
      const list = this.recent(key);
      list.push(Date.now());
      this.failures.set(key, list);
    }
  }

  /** A correct login: its address starts afresh and its own attempt no longer counts against the account. */
  succeed(client: string, account: string): void {
    this.failures.delete(`c:${client}`);
    this.failures.get(`a:${account.toLowerCase()}`)?.pop();
  }

  private recent(key: string): number[] {
    const since = Date.now() - this.limits.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }

  private wait(key: string, limit: number): number {
    const list = this.recent(key);
    if (list.length < limit) return 0;
    // Allowed again when enough of the failures have left the window.
    return list[list.length - limit]! + this.limits.windowMs - Date.now();
  }

  private prune(): void {
    for (const key of this.failures.keys()) if (this.recent(key).length === 0) this.failures.delete(key);
    // Still full: forget the oldest entries (Map iteration order is insertion order).
    for (const key of this.failures.keys()) {
      if (this.failures.size < MAX_KEYS) break;
      this.failures.delete(key);
    }
  }
}
