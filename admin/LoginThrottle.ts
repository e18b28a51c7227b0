// Failed console logins, counted per client address (an IPv6 client by its /64). After a few
// failures an address waits before its next attempt is even checked (429, before any scrypt work),
// and each further failure doubles the wait up to a ceiling. Nothing is counted per account: a
// correct password from another address is never refused because of someone else's guesses (an
// account lock would hand anyone a denial of service on the administrator).
// An attempt counts as a failure from the moment it starts (a burst of parallel guesses cannot all
// slip in before the first verdict); a correct login clears its address. Memory stays bounded
// whatever the attacker sends: at most `maxClients` addresses, the least recently failed forgotten
// first (forgetting only ever lets an address try sooner, it never refuses anyone).
import { isIPv6 } from 'node:net';

export interface BackoffPolicy {
  /** The failure from one address that reaches this count starts its first wait. */
  failuresBeforeWait: number;
  /** The first wait; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** An address without a failure for this long (at least maxDelayMs) starts afresh. */
  forgetMs: number;
  /** Addresses tracked at most. */
  maxClients: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { failuresBeforeWait: 5, baseDelayMs: 1000, maxDelayMs: 15 * 60 * 1000, forgetMs: 24 * 60 * 60 * 1000, maxClients: 10_000 };

interface Backoff {
  failures: number;
  lastFailure: number;
  /** No attempt is checked before this time. */
  until: number;
}

export class LoginThrottle {
  /** Iteration order is the order of the last failure: the front is the stalest. */
  private readonly clients = new Map<string, Backoff>();

  constructor(private readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  /** Addresses currently tracked. */
  get size(): number {
    return this.clients.size;
  }

  /** Seconds `client` must still wait; 0 when its next attempt may be checked. */
  retryAfter(client: string): number {
    const r = this.current(clientKey(client));
    return r ? Math.max(0, Math.ceil((r.until - Date.now()) / 1000)) : 0;
  }

  /**
   * One attempt from `client`: the seconds to wait (refused, nothing counted), or 0 when it may
   * go ahead — then it counts as a failure until succeed() takes it back.
   */
  begin(client: string): number {
    const wait = this.retryAfter(client);
    if (wait > 0) return wait;
    const key = clientKey(client);
    const now = Date.now();
    const failures = (this.current(key)?.failures ?? 0) + 1;
    const beyond = failures - this.policy.failuresBeforeWait;
    const delay = beyond < 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(beyond, 40));
    // Re-inserted so that the map stays in order of last failure.
    this.clients.delete(key);
    this.makeRoom(now);
    this.clients.set(key, { failures, lastFailure: now, until: now + delay });
    return 0;
  }

  /** A correct password: the address starts afresh. */
  succeed(client: string): void {
    this.clients.delete(clientKey(client));
  }

  private current(key: string): Backoff | undefined {
    const r = this.clients.get(key);
    if (r && this.stale(r, Date.now())) {
      this.clients.delete(key);
      return undefined;
    }
    return r;
  }

  private stale(r: Backoff, now: number): boolean {
    return now - r.lastFailure > Math.max(this.policy.forgetMs, this.policy.maxDelayMs);
  }

  private makeRoom(now: number): void {
    for (const [key, r] of this.clients) {
      if (this.clients.size < this.policy.maxClients || !this.stale(r, now)) break;
      this.clients.delete(key);
    }
    // Still full: the least recently failed address goes.
    for (const key of this.clients.keys()) {
      if (this.clients.size < this.policy.maxClients) break;
      this.clients.delete(key);
    }
  }
}

/** What one client is: its IPv4 address (also when IPv4-mapped), or the /64 of its IPv6 address (one host usually has the whole /64). */
export function clientKey(address: string): string {
  const mapped = address.match(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
