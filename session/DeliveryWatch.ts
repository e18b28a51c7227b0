// Flags a session that receives GRE from its client but delivers nothing: frames keep arriving
// (SessionCounters.rxFrames) while neither IP packets nor control frames come out of them. Every
// such frame is in some drop counter, but a counter among thousands is easy to miss; a session row
// marked "stuck" and one log line are not (a session that receives but never delivers cuts its user off silently).

/** Sweeps in a row with frames arriving and nothing delivered before a session counts as stuck. */
export const STUCK_SWEEPS = 2;

export type DeliveryChange = 'stuck' | 'recovered' | null;

export class DeliveryWatch {
  private frames = 0;
  private delivered = 0;
  private quietSweeps = 0;
  stuck = false;

  /** One sweep's reading of the session's counters; says when the verdict changes. */
  observe(frames: number, delivered: number): DeliveryChange {
    const arriving = frames !== this.frames;
    const delivering = delivered !== this.delivered;
    this.frames = frames;
    this.delivered = delivered;
    this.quietSweeps = arriving && !delivering ? this.quietSweeps + 1 : 0;
    if (!this.stuck && this.quietSweeps >= STUCK_SWEEPS) {
      this.stuck = true;
      return 'stuck';
    }
    if (this.stuck && delivering) {
      this.stuck = false;
      return 'recovered';
    }
    return null;
  }
}
