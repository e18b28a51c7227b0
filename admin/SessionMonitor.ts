// Samples the live sessions once a second: current rate per direction, a two-minute rate history
// per session for its chart, and a push to every open live view (server-sent events).
import type { AdminCore, AdminSessionView } from './AdminCore.js';

export interface LiveSession extends AdminSessionView {
  /** Bits per second over the last sample interval; rx: from the client. */
  rxRate: number;
  txRate: number;
}

export interface LiveSnapshot {
  at: number;
  sessions: LiveSession[];
}

export interface RateSample {
  at: number;
  rxRate: number;
  txRate: number;
}

export const HISTORY_SAMPLES = 120;

interface Track {
  lastAt: number;
  lastRx: number;
  lastTx: number;
  rxRate: number;
  txRate: number;
  /** Index of the first tick this session was sampled at. */
  firstTick: number;
  /** Rates in bits/s, ring-indexed like `tickTimes`: [rx0, tx0, rx1, tx1, ...]. */
  rates: Float64Array;
}

export class SessionMonitor {
  private readonly tracks = new Map<string, Track>();
  private readonly listeners = new Set<(snapshot: LiveSnapshot) => void>();
  /** Shared ring of sample times; every track writes the same slot at each tick. */
  private readonly tickTimes = new Float64Array(HISTORY_SAMPLES);
  private tick = 0;
  private timer: NodeJS.Timeout | null = null;
  private pushQueued = false;
  private readonly onChange = () => this.queuePush();

  constructor(
    private readonly core: AdminCore,
    private readonly intervalMs = 1000,
    /** A fault here must not reach the PPTP server's event loop as an uncaught exception. */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => {
      try {
        this.sample();
      } catch (err) {
        this.onError(err);
      }
    }, this.intervalMs);
    this.timer.unref();
    this.core.on('session-up', this.onChange);
    this.core.on('session-down', this.onChange);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.core.off('session-up', this.onChange);
    this.core.off('session-down', this.onChange);
    this.listeners.clear();
  }

  /** The sessions as of now, with the rates of the last sample. */
  snapshot(): LiveSnapshot {
    const sessions = this.core.sessions().map((s) => {
      const t = this.tracks.get(s.sessionId);
      return { ...s, rxRate: t?.rxRate ?? 0, txRate: t?.txRate ?? 0 };
    });
    return { at: Date.now(), sessions };
  }

  /** Oldest first; null for an unknown session. */
  history(sessionId: string): RateSample[] | null {
    const t = this.tracks.get(sessionId);
    if (!t) return null;
    const out: RateSample[] = [];
    const first = Math.max(t.firstTick, this.tick - HISTORY_SAMPLES);
    for (let k = first; k < this.tick; k++) {
      const i = k % HISTORY_SAMPLES;
      out.push({ at: this.tickTimes[i]!, rxRate: t.rates[2 * i]!, txRate: t.rates[2 * i + 1]! });
    }
    return out;
  }

  subscribe(listener: (snapshot: LiveSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private sample(): void {
    const now = Date.now();
    const slot = this.tick % HISTORY_SAMPLES;
    this.tickTimes[slot] = now;
    const seen = new Set<string>();
    for (const s of this.core.sessions()) {
      seen.add(s.sessionId);
      let t = this.tracks.get(s.sessionId);
      if (!t) {
        t = { lastAt: now, lastRx: s.rxBytes, lastTx: s.txBytes, rxRate: 0, txRate: 0, firstTick: this.tick, rates: new Float64Array(2 * HISTORY_SAMPLES) };
        this.tracks.set(s.sessionId, t);
      } else {
        const seconds = (now - t.lastAt) / 1000;
        if (seconds > 0) {
          t.rxRate = (Math.max(0, s.rxBytes - t.lastRx) * 8) / seconds;
          t.txRate = (Math.max(0, s.txBytes - t.lastTx) * 8) / seconds;
        }
        t.lastAt = now;
        t.lastRx = s.rxBytes;
        t.lastTx = s.txBytes;
      }
      t.rates[2 * slot] = t.rxRate;
      t.rates[2 * slot + 1] = t.txRate;
    }
    for (const id of this.tracks.keys()) if (!seen.has(id)) this.tracks.delete(id);
    this.tick++;
    if (this.listeners.size > 0) this.push();
  }

  /** A session came or went: tell the views now rather than at the next tick. */
  private queuePush(): void {
    if (this.pushQueued || this.listeners.size === 0) return;
    this.pushQueued = true;
    setImmediate(() => {
      this.pushQueued = false;
      this.push();
    });
  }

  private push(): void {
    try {
      const snapshot = this.snapshot();
      for (const listener of this.listeners) listener(snapshot);
    } catch (err) {
      this.onError(err);
    }
  }
}
