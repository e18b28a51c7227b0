// The Host names the console answers to (DNS rebinding: a page of the attacker's name, re-pointed at
// this machine, sends its own name as Host; it is turned away before anything else happens).
// Allowed: localhost, 127.0.0.1, [::1] and the host of admin.listen, each with or without the
// console's port, plus the names of admin.allowedHosts (a name alone also with or without the
// console's port; a name:port exactly so, e.g. behind a reverse proxy on another port).

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export interface HostSettings {
  listen: string;
  allowedHosts?: readonly string[] | undefined;
}

/** The allowed names in force (without the implied port variants), loopback names first. */
export function consoleHostNames(admin: HostSettings): string[] {
  const names = [...LOOPBACK_HOSTS, listenHost(admin.listen), ...(admin.allowedHosts ?? [])].map((n) => n.toLowerCase());
  return [...new Set(names)];
}

export class HostAllowList {
  private readonly exact = new Set<string>();

  constructor(admin: HostSettings) {
    const port = admin.listen.match(/:(\d+)$/)?.[1];
    for (const name of consoleHostNames(admin)) {
      this.exact.add(name);
      // A name without a port of its own is also allowed with the console's port.
      if (port !== undefined && !/:\d+$/.test(name)) this.exact.add(`${name}:${port}`);
    }
  }

  allows(host: string | undefined): boolean {
    return host !== undefined && this.exact.has(host.toLowerCase());
  }
}

function listenHost(listen: string): string {
  return listen.replace(/:\d+$/, '');
}
