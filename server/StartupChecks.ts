// Refusals at start that need the file system (the schema cannot see files): each names the key and
// the path, and stops `portico serve` before anything is opened, with one line and no stack trace.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PorticoConfig } from '../config/PorticoConfig.js';

/** `portico serve` must not start: the message is the one line the operator reads. */
export class StartupRefusal extends Error {}

/** The console's certificate and key (admin.tls) must be readable: a console that silently did not start is worse than none. */
export function checkConsoleCertificate(config: PorticoConfig): void {
  const tls = config.admin.tls;
  if (!config.admin.enabled || !tls) return;
  for (const key of ['cert', 'key'] as const) {
    let pem: Buffer;
    try {
      pem = readFileSync(tls[key]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'a directory' : err.message;
      throw new StartupRefusal(`admin.tls.${key}: cannot read ${tls[key]} (${why}); fix the path or set admin.enabled: false`);
    }
    try {
      if (key === 'cert') new X509Certificate(pem);
      else createPrivateKey(pem);
    } catch {
      throw new StartupRefusal(`admin.tls.${key}: ${tls[key]} is not a PEM ${key === 'cert' ? 'certificate' : 'private key'}`);
    }
  }
}
