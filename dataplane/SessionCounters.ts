// Per-session traffic counters. A session carried by another data-plane thread keeps them in shared
// memory (one Float64Array row per Call ID): that thread writes, the main thread reads them for
// accounting, idle time-outs and the panel. One writer per row; an aligned float64 store is atomic
// on the platforms Node supports, so a reader never sees a torn value.

export interface SessionCounters {
  /**
   * GRE frames with a payload that reached this session's thread from its peer, before any check of
   * theirs: each one ends up delivered (rxPackets, rxControl) or in a drop counter. Frames arriving
   * while nothing is delivered is the "stuck" signal (SessionManager's sweep).
   */
  rxFrames: number;
  /** PPP control frames (LCP, auth, NCPs, CCP) handed to the control plane. */
  rxControl: number;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** IP packets from the client whose source is not its address (anti-spoofing, RFC 2827 spirit). */
  rxSpoofed: number;
  /** Data that could not be decrypted (stale coherency count, resync in progress). */
  rxUndecryptable: number;
  /** Data frames before the network phase was up, or without MPPE when MPPE is required. */
  rxNotReady: number;
  /** MPPE data refused because catching up on its coherency count would exceed the session's key-change budget. */
  rxRekeyLimited: number;
  /** Control frames beyond the session's control-frame budget (LCP Echo or CCP Reset-Request floods, ...). */
  rxControlLimited: number;
  txDropped: number;
}

export const SESSION_COUNTER_NAMES: ReadonlyArray<keyof SessionCounters> = [
  'rxFrames',
  'rxControl',
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'rxSpoofed',
  'rxUndecryptable',
  'rxNotReady',
  'rxRekeyLimited',
  'rxControlLimited',
  'txDropped',
];

/** Plain counters named `names`: zeros, or a copy of `from` (a shared-memory view keeps changing). */
export function plainCounters<T extends object>(names: ReadonlyArray<keyof T & string>, from?: T): T {
  return Object.fromEntries(names.map((n) => [n, from === undefined ? 0 : from[n]])) as T;
}

export function newSessionCounters(): SessionCounters {
  return plainCounters(SESSION_COUNTER_NAMES);
}

/** A plain copy, for events and snapshots. */
export function copySessionCounters(c: SessionCounters): SessionCounters {
  return plainCounters(SESSION_COUNTER_NAMES, c);
}

/**
 * A class whose named numeric properties live in `cells[base + i]`. The accessors sit on the
 * prototype, shared by every instance, so `counters.rxPackets++` on the hot path stays
 * monomorphic; toJSON gives log lines plain numbers.
 */
export function sharedCounterClass<T extends object>(names: ReadonlyArray<keyof T & string>): new (cells: Float64Array, base: number) => T {
  class View {
    constructor(
      readonly cells: Float64Array,
      readonly base: number,
    ) {}
    toJSON(): Record<string, number> {
      return Object.fromEntries(names.map((n, i) => [n, this.cells[this.base + i]!]));
    }
  }
  names.forEach((name, i) => {
    Object.defineProperty(View.prototype, name, {
      get(this: View) {
        return this.cells[this.base + i];
      },
      set(this: View, v: number) {
        this.cells[this.base + i] = v;
      },
    });
  });
  return View as unknown as new (
    cells: Float64Array,
    base: number,
  ) => T;
}

const SharedSessionCounters = sharedCounterClass<SessionCounters>(SESSION_COUNTER_NAMES);

/** Rows for every Call ID (0..65535) of one server: what ShardedDataPlane shares with its threads. */
export function newSessionCounterCells(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(65536 * SESSION_COUNTER_NAMES.length * 8));
}

export function sessionCounterView(cells: Float64Array, callId: number): SessionCounters {
  return new SharedSessionCounters(cells, callId * SESSION_COUNTER_NAMES.length);
}
