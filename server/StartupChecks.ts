// Refusals at start that need the file system (the schema cannot see files): each names the key and
// the path, and stops `portico serve` before anything is opened, with one line and no stack trace.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/**
 * The PPTP port and the console's are free and the addresses are this host's, tried before the TUN
 * opens (binding for real comes last, once the sessions can be served): a clash or a copied example
 * address (EADDRNOTAVAIL) is one line naming the key, not a half-started server.
 */
export async function checkPorts(config: PorticoConfig): Promise<void> {
  await tryBind({ address: 'listen', port: 'port' }, config.listen, config.port);
  if (config.admin.enabled) {
    const m = /^(.*):(\d+)$/.exec(config.admin.listen)!; // the schema's host:port
    await tryBind({ address: 'admin.listen', port: 'admin.listen' }, m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]));
  }
}

/** `keys`: the config keys to name for an address problem and for a port problem. */
function tryBind(keys: { address: string; port: string }, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (e.code === 'EADDRINUSE') reject(new StartupRefusal(`${keys.port}: ${where} is in use by another program (another PPTP server or Portico?)`));
      else if (e.code === 'EADDRNOTAVAIL') reject(new StartupRefusal(`${keys.address}: ${host} is not an address of this host (EADDRNOTAVAIL)`));
      else if (e.code === 'EACCES') reject(new StartupRefusal(`${keys.port}: ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`));
      else reject(e);
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
