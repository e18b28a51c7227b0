// One pino root logger; every session gets a child with its call IDs, peer and user.
// Redaction is a safety net: no code path is meant to hand a secret to the logger at all.
import { pino, type Logger } from 'pino';

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
