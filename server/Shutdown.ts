// A bounded, ordered stop (SIGTERM, SIGINT). Each step is given the time left until its share of
// the whole budget; a step still running then is left behind with a warning and the next one starts,
// so a peer or a RADIUS server that never answers cannot hold the process past the budget.
import type { Logger } from 'pino';

export interface ShutdownStep {
  name: string;
  /** Share of the whole budget, counted from the start, by which this step must be over (0..1]. */
  by: number;
  /** Gets the time it may take; may resolve earlier. */
  run(timeoutMs: number): Promise<void> | void;
}

export interface ShutdownResult {
  /** From the first step to the end of the last. */
  ms: number;
  /** Steps that did not finish in their time. */
  late: string[];
}

/** Runs `steps` in order within `budgetMs` (see the file comment); never rejects. */
export async function runShutdown(steps: ShutdownStep[], budgetMs: number, log: Logger): Promise<ShutdownResult> {
  const startedAt = Date.now();
  const late: string[] = [];
  for (const step of steps) {
    const timeoutMs = Math.max(0, Math.round(startedAt + step.by * budgetMs - Date.now()));
    // The step is told a little less than it has, so that one that keeps to its time is not called late.
    const given = Math.max(0, timeoutMs - Math.min(50, Math.round(timeoutMs / 10)));
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.resolve()
      .then(() => step.run(given))
      .then(
        () => true,
        (err: unknown) => {
          log.error({ err, step: step.name }, 'shutdown step failed');
          return true;
        },
      );
    const inTime = await Promise.race([finished, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    if (!inTime) {
      late.push(step.name);
      log.warn({ step: step.name, timeoutMs }, 'shutdown step did not finish in its time, going on');
    }
  }
  return { ms: Date.now() - startedAt, late };
}
