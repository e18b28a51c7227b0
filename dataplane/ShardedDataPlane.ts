// The data path spread over threads. Shard k carries the calls whose Call ID ≡ k (mod shards):
// the kernel hands it their GRE (a BPF filter on each shard's raw socket) and the packets for
// their addresses (an eBPF steering map on the multi-queue TUN, kept here). Shard 0 is the main
// thread's own DataPlane; the others run DataPlaneShard in worker threads. Call IDs are allocated
// round-robin, so consecutive calls land on alternate shards.
//
// Why threads rather than processes: the PPP control plane, authentication, accounting and the
// panel stay in one place with one view of every session; only packets move, and a session's
// packets never cross threads (its MPPE and GRE sequence state live where its packets are).
import type { Logger } from 'pino';
import { DATA_PLANE_COUNTER_NAMES, type DataMppe, type DataPlanePort, type DataPlane, type DataPlaneCounters, type DataSession } from './DataPlane.js';
import { type FromShard, type ShardChannel, type ToShard, exactCopy, planeCounterView } from './DataPlaneShard.js';
import { SESSION_COUNTER_NAMES, type SessionCounters, sessionCounterView } from './SessionCounters.js';

/** Which TUN queue takes packets for an address (TunSteering). */
export interface AddressSteering {
  set(address: number, queue: number): void;
  delete(address: number): void;
}

/** A session as the main thread sees it: where the PPP link takes its control frames. */
export interface ShardedSession extends DataSession {
  counters: SessionCounters;
}

export interface RemoteShard {
  channel: ShardChannel<FromShard, ToShard>;
  /** Its drop counters (newPlaneCounterCells). */
  planeCells: Float64Array;
}

export class ShardedDataPlane implements DataPlanePort {
  private readonly shards: number;
  private readonly remoteSessions = new Map<number, ShardedSession>();
  private readonly remoteCounters: DataPlaneCounters[];
  /** Each remote shard as it is now (replaceShard swaps a failed one). */
  private readonly remotes: RemoteShard[];
  private closedShards = 0;
  private onAllClosed: (() => void) | null = null;
  private readonly lostListeners: Array<(sessions: DataSession[]) => void> = [];
  private restarts = 0;

  constructor(
    private readonly local: DataPlane,
    remotes: RemoteShard[],
    private readonly steering: AddressSteering,
    /** Session counter rows by Call ID, shared with every remote shard. */
    private readonly sessionCells: Float64Array,
    private readonly log: Logger,
  ) {
    this.remotes = [...remotes];
    this.shards = remotes.length + 1;
    this.remoteCounters = remotes.map((r) => planeCounterView(r.planeCells));
    for (const r of remotes) this.listen(r);
  }

  private listen(r: RemoteShard): void {
    r.channel.on('message', (m) => {
      if (this.remotes.includes(r)) this.fromShard(m); // a replaced shard's last words are not heard
    });
  }

  onSessionsLost(listener: (sessions: DataSession[]) => void): void {
    this.lostListeners.push(listener);
  }

  get threadRestarts(): number {
    return this.restarts;
  }

  /**
   * Shard `k`'s thread failed and `replacement` (a new thread with its own GRE socket and TUN queue)
   * carries the shard from now on. The sessions the old thread carried lost their packet state with it:
   * they are forgotten here (their steering entries removed), handed to the onSessionsLost listeners to
   * be ended, and returned.
   */
  replaceShard(k: number, replacement: RemoteShard): DataSession[] {
    if (k < 1 || k > this.remotes.length) throw new RangeError(`replaceShard: no remote shard ${k}`);
    this.remotes[k - 1] = replacement;
    this.remoteCounters[k - 1] = planeCounterView(replacement.planeCells);
    this.listen(replacement);
    this.restarts++;
    const lost: ShardedSession[] = [];
    for (const [callId, session] of this.remoteSessions) {
      if (this.shardOf(callId) !== k) continue;
      this.remoteSessions.delete(callId);
      if (session.address !== null) this.steering.delete(session.address);
      session.dataReady = false;
      lost.push(session);
    }
    for (const listener of this.lostListeners) listener(lost);
    return lost;
  }

  shardOf(callId: number): number {
    return callId % this.shards;
  }

  private remote(session: DataSession): RemoteShard | null {
    const k = this.shardOf(session.callId);
    return k === 0 ? null : this.remotes[k - 1]!;
  }

  register(session: ShardedSession): void {
    const r = this.remote(session);
    if (r === null) return this.local.register(session);
    const base = session.callId * SESSION_COUNTER_NAMES.length;
    this.sessionCells.fill(0, base, base + SESSION_COUNTER_NAMES.length);
    session.counters = sessionCounterView(this.sessionCells, session.callId);
    this.remoteSessions.set(session.callId, session);
    r.channel.postMessage({ t: 'register', callId: session.callId, peerCallId: session.peerCallId, peerAddress: session.peerAddress, mppeRequired: session.mppeRequired });
  }

  unregister(session: DataSession): void {
    const r = this.remote(session);
    if (r === null) return this.local.unregister(session);
    if (this.remoteSessions.get(session.callId) !== session) return;
    this.remoteSessions.delete(session.callId);
    if (session.address !== null) this.steering.delete(session.address);
    r.channel.postMessage({ t: 'unregister', callId: session.callId });
  }

  sendControl(session: DataSession, protocol: number, payload: Buffer): void {
    const r = this.remote(session);
    if (r === null) return this.local.sendControl(session, protocol, payload);
    if (session.closed) return;
    r.channel.postMessage({ t: 'control', callId: session.callId, protocol, payload: exactCopy(payload), framing: { ...session.framing } });
  }

  startData(session: DataSession, address: number, mppe: DataMppe | null): void {
    const r = this.remote(session);
    if (r === null) return this.local.startData(session, address, mppe);
    if (session.closed) return;
    session.address = address;
    session.dataReady = true;
    // Steer first: from the thread's first packet on, the answers come back to its queue.
    this.steering.set(address, this.shardOf(session.callId));
    const keys = mppe === null ? null : { ...mppe, sendKey: exactCopy(mppe.sendKey), recvKey: exactCopy(mppe.recvKey) };
    r.channel.postMessage({ t: 'up', callId: session.callId, address, mppe: keys as DataMppe | null, framing: { ...session.framing } });
  }

  stopData(session: DataSession): void {
    const r = this.remote(session);
    if (r === null) return this.local.stopData(session);
    session.dataReady = false;
    r.channel.postMessage({ t: 'down', callId: session.callId });
  }

  mppeResetRequested(session: DataSession): void {
    const r = this.remote(session);
    if (r === null) return this.local.mppeResetRequested(session);
    r.channel.postMessage({ t: 'mppe-reset-requested', callId: session.callId });
  }

  private fromShard(m: FromShard): void {
    if (m.t === 'closed') {
      if (++this.closedShards === this.remotes.length) this.onAllClosed?.();
      return;
    }
    const s = this.remoteSessions.get(m.callId);
    if (s === undefined || s.closed) {
      if (m.t === 'control') this.local.countControlDropped(); // the call ended while the frame was on its way
      return;
    }
    if (m.t === 'control') s.deliverControl(m.protocol, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength));
    else s.requestMppeReset();
  }

  get counters(): DataPlaneCounters {
    const sum = { ...this.local.counters };
    for (const c of this.remoteCounters) for (const n of DATA_PLANE_COUNTER_NAMES) sum[n] += c[n];
    return sum;
  }

  /** Closes every shard; resolves once the threads have let go of their sockets. */
  closeAll(timeoutMs = 2000): Promise<void> {
    this.local.close();
    if (this.remotes.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.log.warn({ closed: this.closedShards, of: this.remotes.length }, 'data-plane threads did not confirm close');
        resolve();
      }, timeoutMs);
      this.onAllClosed = () => {
        clearTimeout(t);
        resolve();
      };
      for (const r of this.remotes) r.channel.postMessage({ t: 'close' });
    });
  }

  close(): void {
    void this.closeAll();
  }
}
