// The temporary ban list of client addresses. A banned address is turned away where that costs the
// least: its new control connections are closed at accept and its new calls refused
// (server/ControlListener.ts, session/SessionManager.ts), before any PPP or authentication work.
// Bans come from refused logins (`banAfter` of them from one address within `windowMs`: off when
// 0) or from an operator in the console, and end by themselves after their duration or when the
// console clears them. Bounded: at most `maxEntries` bans and as many addresses counted.

export interface BanPolicy {
  /** Refused logins from one address within windowMs that ban it; 0: no automatic bans. */
  banAfter: number;
  windowMs: number;
  /** How long an automatic ban lasts. */
  durationMs: number;
  /** Bans and counted addresses at most (each table). */
  maxEntries: number;
}

export interface AddressBan {
  address: string;
  /** When the ban started and ends (ms since the epoch). */
  since: number;
  until: number;
  /** Why, in words: "25 refused logins in 600 s" or "by admin". */
  reason: string;
  /** Connections and calls turned away since the ban started. */
  refused: number;
}

export interface BanCounters {
  /** Bans placed, automatic or by an operator. */
  bans: number;
  /** Connections and calls turned away because their address was banned. */
  refused: number;
}

interface FailureWindow {
  since: number;
  count: number;
}

export class AddressBans {
  private readonly bans = new Map<string, AddressBan>();
  /** Refused logins per address in its current window; insertion order: the oldest window first. */
  private readonly failures = new Map<string, FailureWindow>();
  private readonly totals: BanCounters = { bans: 0, refused: 0 };

  constructor(
    private policy: BanPolicy,
    /** Told about every new ban (the log line). */
    private readonly banned: (ban: AddressBan) => void = () => undefined,
  ) {}

  /** A reloaded auth.throttle.ban*: bans in force keep their end, the next ones follow it. */
  reconfigure(policy: BanPolicy): void {
    this.policy = policy;
  }

  /** The ban of `address` when it is banned now (the refusal this means is counted), else null. */
  refuses(address: string): AddressBan | null {
    const ban = this.current(address);
    if (!ban) return null;
    ban.refused++;
    this.totals.refused++;
    return { ...ban };
  }

  /** True when `address` is banned now (nothing counted). */
  isBanned(address: string): boolean {
    return this.current(address) !== undefined;
  }

  /** A refused login from `address`: counts towards an automatic ban; the ban when this one placed it. */
  loginRefused(address: string): AddressBan | null {
    if (this.policy.banAfter <= 0 || this.isBanned(address)) return null;
    const now = Date.now();
    let w = this.failures.get(address);
    if (!w || now - w.since > this.policy.windowMs) {
      this.failures.delete(address);
      w = { since: now, count: 0 };
      while (this.failures.size >= this.policy.maxEntries) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(address, w);
    }
    if (++w.count < this.policy.banAfter) return null;
    this.failures.delete(address);
    return this.ban(address, this.policy.durationMs, `${w.count} refused logins in ${Math.round((now - w.since) / 1000)} s`);
  }

  /** Bans `address` for `durationMs` (a ban already there is replaced). */
  ban(address: string, durationMs: number, reason: string): AddressBan {
    const now = Date.now();
    this.bans.delete(address);
    this.prune(now);
    // Full of live bans: the one ending first goes (a flood of addresses must not grow memory).
    if (this.bans.size >= this.policy.maxEntries) {
      let first: AddressBan | null = null;
      for (const b of this.bans.values()) if (first === null || b.until < first.until) first = b;
      if (first) this.bans.delete(first.address);
    }
    const ban: AddressBan = { address, since: now, until: now + durationMs, reason, refused: 0 };
    this.bans.set(address, ban);
    this.totals.bans++;
    this.banned({ ...ban });
    return { ...ban };
  }

  /** Ends the ban of `address`; false when it had none. */
  unban(address: string): boolean {
    this.failures.delete(address);
    return this.isBanned(address) && this.bans.delete(address);
  }

  /** Ends every ban; how many there were. */
  clear(): number {
    this.prune(Date.now());
    const n = this.bans.size;
    this.bans.clear();
    this.failures.clear();
    return n;
  }

  /** Live bans, the newest first. */
  list(): AddressBan[] {
    this.prune(Date.now());
    return [...this.bans.values()].map((b) => ({ ...b })).sort((a, b) => b.since - a.since);
  }

  get counters(): BanCounters {
    return { ...this.totals };
  }

  private current(address: string): AddressBan | undefined {
    const ban = this.bans.get(address);
    if (ban && ban.until <= Date.now()) {
      this.bans.delete(address);
      return undefined;
    }
    return ban;
  }

  private prune(now: number): void {
    for (const [address, ban] of this.bans) if (ban.until <= now) this.bans.delete(address);
  }
}
