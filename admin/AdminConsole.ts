// Starts the console on admin.listen (TLS when admin.tls is set) for `portico serve`.
import type { Logger } from 'pino';
import type { AdminConfig } from './AdminContext.js';
import type { AdminCore } from './AdminCore.js';
import { createAdminServer } from './AdminServer.js';

/** "127.0.0.1:8080" | "[::1]:8080" | "localhost:8080" → host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = listen.match(/^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new Error(`admin.listen ${listen}: expected host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Listens and returns the function that stops the console. */
export async function startAdmin(core: AdminCore, config: AdminConfig, log: Logger): Promise<() => Promise<void>> {
  const { host, port } = parseListen(config.admin.listen);
  const server = await createAdminServer(core, config, log);
  try {
    await server.app.listen({ host, port });
  } catch (err) {
    await server.close();
    throw err;
  }
  log.info({ listen: config.admin.listen, tls: config.admin.tls !== undefined }, 'admin console listening');
  return () => server.close();
}
