// Failed console logins, counted per client address (an IPv6 client by its /64) with the back-off
// of aaa/LoginBackoff.ts: after a few failures an address waits before its next attempt is even
// checked (429, before any scrypt work). Nothing is counted per account: a correct password from
// another address is never refused because of someone else's guesses (an account lock would hand
// anyone a denial of service on the administrator).
import { isIPv6 } from 'node:net';
import { type BackoffPolicy, LoginBackoff } from '../aaa/LoginBackoff.js';

export type { BackoffPolicy } from '../aaa/LoginBackoff.js';

export const DEFAULT_BACKOFF: BackoffPolicy = { failuresBeforeWait: 5, baseDelayMs: 1000, maxDelayMs: 15 * 60 * 1000, forgetMs: 24 * 60 * 60 * 1000, maxEntries: 10_000 };

/** The console's per-client back-off: keys are client addresses, counted by clientKey(). */
export class LoginThrottle extends LoginBackoff {
  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF) {
    super(policy, clientKey);
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
