// The log for a person at a terminal (log.format pretty, or auto on a TTY): each of pino's JSON lines
// becomes "10:02:03.456 INFO  message key=value ...", an error's stack on the lines below it.
// Our own few lines rather than pino-pretty, which has 13 direct dependencies (a CLI, a config-file
// loader) for this (README, "Dependency notes"). Redaction has happened before: pino redacts as it
// serialises. What a peer or user chose (a user name, a message) may hold terminal control sequences:
// they are written escaped, never raw.
import type { DestinationStream } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** ANSI SGR colours of the level: grey, grey, green, yellow, red, magenta. */
const COLOURS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every line has (time, level, message) or that say nothing at a terminal (the base binding). */
const SHOWN_APART = new Set(['level', 'time', 'msg', 'app', 'pid', 'hostname']);
/** C0 and C1 controls, DEL, and the Unicode line separators and bidirectional overrides. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point (they are written escaped)
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A value shown without quotes: printable ASCII but space, `"`, `=` and `\`. */
const PLAIN = /^[\x21\x23-\x3c\x3e-\x5b\x5d-\x7e]+$/;

/** Where the formatted text goes (a SonicBoom on standard output, a test's sink). */
export interface TextSink {
  write(text: string): unknown;
  flush?(cb: (err?: Error | null) => void): void;
  flushSync?(): void;
}

/** A pino destination that writes each line formatted for a terminal. */
export class TerminalLog implements DestinationStream {
  constructor(
    private readonly out: TextSink,
    private readonly colours: boolean,
  ) {}

  write(line: string): void {
    this.out.write(formatLogLine(line, this.colours));
  }

  /** logger.flush() reaches the file descriptor (the graceful stop flushes before exit). */
  flush(cb: (err?: Error | null) => void): void {
    if (this.out.flush) this.out.flush(cb);
    else cb();
  }

  flushSync(): void {
    this.out.flushSync?.();
  }
}

/** One JSON log line as text for a person; anything that is not a JSON object passes through escaped. */
export function formatLogLine(line: string, colours = false): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return `${escaped(line.replace(/\n$/, ''))}\n`;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return `${escaped(line.replace(/\n$/, ''))}\n`;
  const fields = entry as Record<string, unknown>;
  const level = typeof fields.level === 'number' ? fields.level : 30;
  const label = (LEVELS[level] ?? `L${level}`).padEnd(5);
  const parts = [typeof fields.time === 'number' ? clock(new Date(fields.time)) : '-', colours ? `\u001b[${COLOURS[level] ?? '0'}m${label}\u001b[0m` : label];
  if (fields.msg !== undefined) parts.push(escaped(String(fields.msg)));
  let below = '';
  for (const [key, value] of Object.entries(fields)) {
    if (SHOWN_APART.has(key)) continue;
    if (key === 'err' && isError(value)) {
      parts.push(`err=${text(value.message)}`);
      for (const [k, v] of Object.entries(value)) if (k !== 'message' && k !== 'stack' && k !== 'type') parts.push(`err.${escaped(k)}=${text(v)}`);
      // The stack's first line repeats the message; the frames follow, indented.
      if (typeof value.stack === 'string')
        below = value.stack
          .split('\n')
          .slice(1)
          .map((frame) => `\n    ${escaped(frame.trim())}`)
          .join('');
      continue;
    }
    parts.push(`${escaped(key)}=${text(value)}`);
  }
  return `${parts.join(' ')}${below}\n`;
}

function isError(value: unknown): value is { message: string; stack?: unknown } & Record<string, unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string';
}

/** A value as key=value shows it: a plain ASCII word as is, any other string quoted (JSON), objects as JSON. */
function text(value: unknown): string {
  if (typeof value === 'string') return PLAIN.test(value) ? value : escaped(JSON.stringify(value));
  if (value !== null && typeof value === 'object') return escaped(JSON.stringify(value));
  return String(value);
}

function escaped(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Local time of day with milliseconds: a terminal shows what happens now (the JSON log keeps the whole timestamp). */
function clock(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
