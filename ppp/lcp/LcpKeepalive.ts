// Our LCP keepalive (pppd lcp-echo-interval / lcp-echo-failure, not in the RFC): an Echo-Request every
// interval while LCP is Opened; the link is declared dead after `failures` unanswered requests.

export interface LcpKeepaliveHooks {
  sendEchoRequest(): void;
  failed(unanswered: number): void;
}

export class LcpKeepalive {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pending = 0;
  private disabled = false;

  constructor(
    private readonly intervalSeconds: number,
    private readonly failures: number,
    private readonly hooks: LcpKeepaliveHooks,
  ) {}

  start(): void {
    this.stop();
    this.pending = 0;
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Any Echo-Reply proves the peer alive. */
  replyReceived(): void {
    this.pending = 0;
  }

  /** The peer Code-Rejected Echo-Request: stop asking. */
  disable(): void {
    this.disabled = true;
    this.stop();
  }

  private schedule(): void {
    if (this.disabled || !(this.intervalSeconds > 0)) return;
    this.timer = setTimeout(() => this.tick(), this.intervalSeconds * 1000);
  }

  private tick(): void {
    this.timer = null;
    if (this.failures > 0 && this.pending >= this.failures) {
      this.hooks.failed(this.pending);
      return;
    }
    this.pending++;
    this.hooks.sendEchoRequest();
    this.schedule();
  }
}
