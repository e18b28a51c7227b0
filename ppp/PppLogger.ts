// Logging seam (pino-compatible subset). Never pass secrets, hashes or keys in these objects.

export interface PppLogger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  debug(o: object, m?: string): void;
}

export const silentLogger: PppLogger = {
  info() {},
  warn() {},
  debug() {},
};

/** Peer-supplied text (TermReq reason, Identification, user names) made safe for a log line. */
export function printableText(buf: Buffer, max = 128): string {
  const s = buf.subarray(0, max).toString('latin1');
  return s.replace(/[^\x20-\x7e]/g, '.');
}
