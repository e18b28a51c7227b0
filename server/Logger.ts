// One pino root logger; every session gets a child with its call IDs, peer and user.
// Redaction is a safety net: no code path is meant to hand a secret to the logger at all.
import { isatty } from 'node:tty';
import { pino, type Logger } from 'pino';
import { TerminalLog } from './TerminalLog.js';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'portico' },
      redact: {
        paths: ['password', '*.password', 'ntHash', '*.ntHash', 'secret', '*.secret', 'key', '*.key', 'keys', '*.keys'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** log.format: JSON lines for machines, text for a person; auto decides by whether standard output is a terminal. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** What log.format means here: auto is pretty on a terminal (someone runs `portico serve` by hand) and JSON otherwise (journald, Docker, a file). */
export function chooseLogFormat(format: LogFormat, terminal: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (terminal ? 'pretty' : 'json') : format;
}

/**
 * Standard output in the configured format. isatty(1) rather than process.stdout.isTTY: data-plane
 * threads write to descriptor 1 too, and a worker's process.stdout is never a TTY. Colours only on a
 * terminal and without NO_COLOR (no-color.org).
 */
export function logDestination(format: LogFormat, terminal = isatty(1)): pino.DestinationStream {
  const out = pino.destination({ fd: 1, sync: false });
  return chooseLogFormat(format, terminal) === 'json' ? out : new TerminalLog(out, terminal && !process.env.NO_COLOR);
}
