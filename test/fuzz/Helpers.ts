// In-memory fakes shared by the fuzz targets: fake timers, a logger that keeps warnings, a reader
// that turns input bytes into choices (libFuzzer's FuzzedDataProvider), and a microtask flush.

import { type Logger, pino } from 'pino';
import { check } from './run.js';

interface ManualTimer {
  due: number;
  seq: number;
  callback: (...args: unknown[]) => void;
  args: unknown[];
  interval: number | null;
}

/**
 * The modules use the global timers (no clock seam): the fuzz run replaces setTimeout/setInterval with
 * manual ones while a target runs. Not vi.useFakeTimers(): @sinonjs/fake-timers costs ~4 µs per
 * setTimeout and was a third of the PPP link target's time. Targets install them in setup(), reset() them
 * at the start of every input (no timer crosses from one input to the next) and fire them one by one.
 * Handles are objects with unref()/ref() like Node's, so `timer.unref?.()` works.
 */
class ManualTimers {
  private readonly pendingTimers = new Map<object, ManualTimer>();
  private saved: Pick<typeof globalThis, 'setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval'> | null = null;
  private seq = 0;
  now = 0;

  install(): void {
    if (this.saved) return;
    const g = globalThis;
    this.saved = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval };
    const add = (callback: (...args: unknown[]) => void, ms: number | undefined, args: unknown[], interval: boolean): object => {
      const handle = {
        unref: () => handle,
        ref: () => handle,
        hasRef: () => false,
        refresh: () => handle,
      };
      const delay = Math.max(1, Number(ms) || 0);
      this.pendingTimers.set(handle, { due: this.now + delay, seq: this.seq++, callback, args, interval: interval ? delay : null });
      return handle;
    };
    const clear = (handle: unknown): void => {
      if (handle !== null && typeof handle === 'object') this.pendingTimers.delete(handle);
    };
    g.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => add(callback, ms, args, false)) as unknown as typeof setTimeout;
    g.setInterval = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => add(callback, ms, args, true)) as unknown as typeof setInterval;
    g.clearTimeout = clear as typeof clearTimeout;
    g.clearInterval = clear as typeof clearInterval;
  }

  uninstall(): void {
    if (!this.saved) return;
    Object.assign(globalThis, this.saved);
    this.saved = null;
    this.pendingTimers.clear();
  }

  reset(): void {
    this.pendingTimers.clear();
    this.now = 0;
  }

  get pending(): number {
    return this.pendingTimers.size;
  }

  /** Advance to the earliest pending timer and run it; false when none is pending. */
  fireNext(): boolean {
    let firstHandle: object | undefined;
    let first: ManualTimer | undefined;
    for (const [h, t] of this.pendingTimers) {
      if (first === undefined || t.due < first.due || (t.due === first.due && t.seq < first.seq)) {
        first = t;
        firstHandle = h;
      }
    }
    if (!first || !firstHandle) return false;
    this.now = Math.max(this.now, first.due);
    if (first.interval !== null) {
      first.due = this.now + first.interval;
      first.seq = this.seq++;
    } else this.pendingTimers.delete(firstHandle);
    first.callback(...first.args);
    return true;
  }
}

export const timers = new ManualTimers();

/**
 * One pino logger for every module (PPP, PPTP and RADIUS log through pino or a pino-shaped interface):
 * warnings and errors are kept, as "message (err: ...)" texts, until the next reset(). The modules log
 * the exceptions they swallow at warn level; the targets look for those.
 */
class WarningRecorder {
  readonly warnings: string[] = [];
  readonly logger: Logger;

  constructor() {
    this.logger = pino(
      { level: 'warn', base: null, timestamp: false },
      {
        write: (line: string) => {
          if (this.warnings.length >= 64) return;
          try {
            const o = JSON.parse(line) as { msg?: string; err?: unknown };
            this.warnings.push(o.err === undefined ? (o.msg ?? '') : `${o.msg ?? ''} (err: ${typeof o.err === 'string' ? o.err : JSON.stringify(o.err)})`);
          } catch {
            this.warnings.push(line);
          }
        },
      },
    );
  }

  reset(): void {
    this.warnings.length = 0;
  }
}

export const recorder = new WarningRecorder();

/** Fails when a warning matches `forbidden` (an exception a module caught and logged). */
export function checkNoWarning(warnings: readonly string[], forbidden: RegExp, where: string): void {
  const bad = warnings.find((w) => forbidden.test(w));
  check(bad === undefined, () => `${where} logged an internal error: ${bad}`);
}

/** Reads choices from input bytes; past the end every read returns 0. */
export class ByteReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    return this.pos < this.buf.length ? this.buf[this.pos++]! : 0;
  }

  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  u32(): number {
    return ((this.u16() << 16) | this.u16()) >>> 0;
  }

  /** Up to n octets (fewer at the end). */
  bytes(n: number): Buffer {
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += out.length;
    return out;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.u8() % items.length]!;
  }

  /** A reader over the next n octets (fewer at the end), skipped here: one script step's operands. */
  sub(n: number): ByteReader {
    return new ByteReader(this.bytes(n));
  }
}

/** Builds the bytes a ByteReader consumes (generators write, run() reads). */
export class ByteWriter {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  /** One script step: op, operand length, operands (what ByteReader.sub reads back). */
  step(op: number, operands: ByteWriter): this {
    const b = operands.toBuffer().subarray(0, 255);
    return this.u8(op).u8(b.length).bytes(b);
  }
  toBuffer(): Buffer {
    return Buffer.from(this.parts);
  }
}

/** Lets resolved promises' callbacks run (the auth servers' decideOn chain takes a few turns). */
export async function flushMicrotasks(turns = 8): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** A Code/Identifier/Length control packet (RFC 1661 §5). */
export function controlPacket(code: number, id: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4 + data.length);
  b[0] = code;
  b[1] = id;
  b.writeUInt16BE((4 + data.length) & 0xffff, 2);
  Buffer.from(data).copy(b, 4);
  return b;
}

/** An option list from [type, data] pairs (RFC 1661 §6). */
export function options(list: ReadonlyArray<readonly [number, Uint8Array]>): Buffer {
  return Buffer.concat(list.map(([t, d]) => Buffer.concat([Buffer.from([t, d.length + 2]), Buffer.from(d)])));
}

export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff, 0);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
