// A budget that refills with time: up to `burst` at once, `perSecond` sustained. The data plane
// gives each session one for its MPPE catch-up key changes and one for its control frames, so
// what a peer makes the server do per second is bounded whatever it sends (and one hostile
// session cannot take a thread's time from the others).
export class TokenBucket {
  private tokens: number;
  private at = Date.now();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  /** Adds `n` tokens, up to the burst. */
  give(n: number): void {
    this.tokens = Math.min(this.burst, this.tokens + n);
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n = 1): boolean {
    const now = Date.now();
    if (now !== this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
    }
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }
}
