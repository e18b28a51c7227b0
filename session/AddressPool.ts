// Tunnel addresses for sessions: a contiguous pool plus per-user static addresses, each address
// owned by at most one live session. Freed pool addresses go to the back of the queue so that a
// reconnecting client does not inherit another user's address at once (stale routes, ARP-like caches).

export class AddressPool {
  private free: number[] = [];
  private readonly inUse = new Set<number>();

  constructor(
    private start: number,
    private end: number,
  ) {
    for (let a = start; a <= end; a++) this.free.push(a >>> 0);
  }

  /**
   * A reloaded pool range. Growing adds the new addresses at the back of the queue. Shrinking takes only
   * free addresses out: an address a live session holds stays that session's, and leaves the pool when
   * the session ends (release() returns only addresses inside the range).
   */
  resize(start: number, end: number): void {
    this.start = start;
    this.end = end;
    const free = this.free.filter((a) => this.inPool(a));
    const queued = new Set(free);
    for (let a = start; a <= end; a++) {
      const address = a >>> 0;
      if (!queued.has(address) && !this.inUse.has(address)) free.push(address);
    }
    this.free = free;
  }

  /** An address from the pool, or the static one if it is free; null when none can be had. */
  allocate(staticAddress?: number): number | null {
    if (staticAddress !== undefined) {
      if (this.inUse.has(staticAddress)) return null;
      this.inUse.add(staticAddress);
      const i = this.inPool(staticAddress) ? this.free.indexOf(staticAddress) : -1;
      if (i >= 0) this.free.splice(i, 1);
      return staticAddress;
    }
    while (this.free.length > 0) {
      const a = this.free.shift()!;
      if (!this.inUse.has(a)) {
        this.inUse.add(a);
        return a;
      }
    }
    return null;
  }

  release(address: number): void {
    if (!this.inUse.delete(address)) return;
    if (this.inPool(address)) this.free.push(address);
  }

  isInUse(address: number): boolean {
    return this.inUse.has(address);
  }

  get size(): { total: number; used: number } {
    return { total: this.end - this.start + 1, used: this.inUse.size };
  }

  private inPool(address: number): boolean {
    return address >= this.start && address <= this.end;
  }
}
