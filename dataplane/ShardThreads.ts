// The data-plane threads of a ShardedDataPlane and what happens when one dies. A thread that exits
// while the server runs (an exception in it, a native fault it survived long enough to report, its
// memory limit) is replaced at once by a new one for the same shard, and the sessions the dead one
// carried are ended (SessionManager: 'dataplane-failure', Acct-Terminate-Cause NAS-Error): their MPPE
// and GRE state lived in that thread, so they cannot go on, and they must not stay listed as up.
import type { Logger } from 'pino';
import type { AddressSteering, RemoteShard } from './ShardedDataPlane.js';
import { ShardedDataPlane } from './ShardedDataPlane.js';
import type { DataPlane } from './DataPlane.js';
import { newPlaneCounterCells } from './DataPlaneShard.js';

/** One data-plane thread as the supervisor sees it (a Worker in the server, anything in tests). */
export interface ShardThread {
  readonly remote: RemoteShard;
  onExit(listener: (code: number) => void): void;
  terminate(): Promise<unknown>;
  /** Frees what outlives the thread (its descriptors); called after it exited and its replacement started. */
  release(): void;
}

/** Starts the thread of `shard`; `planeCells` are its drop counters (a replacement keeps counting in them). */
export type StartShardThread = (shard: number, planeCells: Float64Array) => ShardThread;

/** How long to wait before trying again when a replacement thread cannot be started. */
const RETRY_MS = 1000;

export class ShardThreads {
  readonly dataPlane: ShardedDataPlane;
  private readonly threads = new Map<number, ShardThread>();
  private closing = false;

  constructor(
    local: DataPlane,
    count: number,
    steering: AddressSteering,
    sessionCells: Float64Array,
    private readonly start: StartShardThread,
    private readonly log: Logger,
  ) {
    const remotes: RemoteShard[] = [];
    for (let shard = 1; shard < count; shard++) remotes.push(this.launch(shard, newPlaneCounterCells()).remote);
    this.dataPlane = new ShardedDataPlane(local, remotes, steering, sessionCells, log);
  }

  /** Closes every shard (their sockets first), then ends the threads. */
  async close(): Promise<void> {
    this.closing = true;
    await this.dataPlane.closeAll();
    await Promise.all([...this.threads.values()].map((t) => t.terminate()));
  }

  private launch(shard: number, planeCells: Float64Array): ShardThread {
    const thread = this.start(shard, planeCells);
    this.threads.set(shard, thread);
    thread.onExit((code) => {
      if (this.closing || this.threads.get(shard) !== thread) return;
      this.log.error({ shard, code }, 'data-plane thread exited: restarting it; the sessions it carried end (dataplane-failure)');
      this.replace(shard, planeCells);
      thread.release();
    });
    return thread;
  }

  private replace(shard: number, planeCells: Float64Array): void {
    if (this.closing) return;
    let thread: ShardThread;
    try {
      thread = this.launch(shard, planeCells);
    } catch (err) {
      // Until a thread runs again the shard's sessions get no packets; they end when it does.
      this.log.error({ err, shard, retryInMs: RETRY_MS }, 'data-plane thread could not be restarted');
      setTimeout(() => this.replace(shard, planeCells), RETRY_MS).unref();
      return;
    }
    const lost = this.dataPlane.replaceShard(shard, thread.remote);
    this.log.warn({ shard, sessionsEnded: lost.length, restarts: this.dataPlane.threadRestarts }, 'data-plane thread restarted');
  }
}
