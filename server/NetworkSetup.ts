// Reaching the network behind the server: what `network` in the configuration asks the host for, each
// option off by default and applied by the server itself. IPv4 forwarding; source NAT (masquerade) of
// the clients' addresses toward one interface, in an nftables table of our own so that no other rule is
// ever touched; proxy ARP for each address a session holds on the LAN interface, when the pool lies in
// the LAN's subnet. A failure is one log line naming the key and the server keeps serving (clients
// then reach this host only); what was applied is undone by stop() (forwarding excepted, see below).
//
// Proxy ARP is one neighbour proxy entry per session address (what `ip neigh replace proxy ADDR dev IF`
// makes), removed when the session ends, set with one ioctl of the addon (io/native/neigh.c, ~4 µs):
// an `ip` process would cost the event loop ~2 ms at every login and logout. Not the interface-wide
// net.ipv4.conf.IF.proxy_arp: that one answers for every address the host routes out of another
// interface, idle pool addresses and whatever else the routing table holds included, so it can take
// over a LAN host's address; the entries answer only for addresses clients hold now, and go with them.
// The kernel answers for an entry only on an interface that forwards (net/ipv4/arp.c, arp_process),
// hence network.forwarding is required.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { formatNetwork, type Ipv4Network, inNetwork, networkMask, tunnelNetwork } from '../config/AddressPolicy.js';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import { loadPorticoIo } from '../io/PorticoIo.js';
import type { LanNeighbours } from '../session/TunnelAddresses.js';

export const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** A command's end: `missing` when the program is not installed; `message` is its first line of complaint. */
export type CommandOutcome = { ok: true } | { ok: false; missing: boolean; message: string };

/** What the setup asks of the host (the unit tests give a fake one). */
export interface HostControl {
  /** Runs a program without a shell, `input` on its standard input. */
  run(program: string, args: readonly string[], input?: string): Promise<CommandOutcome>;
  readSysctl(path: string): string;
  writeSysctl(path: string, value: string): void;
  /** The interface's IPv4 networks, or null when the host has no such interface. */
  interfaceNetworks(name: string): Ipv4Network[] | null;
  /** Adds (again: no error) or removes the proxy ARP entry for `address` (host order) on `iface`; throws the system's error. */
  proxyArp(action: 'add' | 'del', address: number, iface: string): void;
}

export interface NetworkSetupOptions {
  forwarding: boolean;
  /** Source NAT of `sources` (A.B.C.D/N) leaving by `interface`, in nftables table ip `table`. */
  masquerade?: { interface: string; table: string; sources: string[] };
  /** Proxy ARP on `interface` for the addresses sessions hold; the pool only for the warning at start. */
  proxyArp?: { interface: string; pool: { start: number; end: number } };
}

/** The options of `config.network`: the clients' addresses are the tunnel network and pool.allowedStaticRanges. */
export function networkSetupOptions(config: PorticoConfig): NetworkSetupOptions {
  const { masquerade, proxyArp } = config.network;
  return {
    forwarding: config.network.forwarding,
    ...(masquerade
      ? { masquerade: { interface: masquerade.interface, table: `portico-${config.tun.name}`, sources: [formatNetwork(tunnelNetwork(config)), ...config.pool.allowedStaticRanges] } }
      : {}),
    ...(proxyArp ? { proxyArp: { interface: proxyArp.interface, pool: { start: parseIpv4(config.pool.start), end: parseIpv4(config.pool.end) } } } : {}),
  };
}

/**
 * `nft -f -` input: our table, replaced as a whole in one transaction (declaring it first makes the
 * delete succeed when a crash left none behind), with one rule masquerading the sources toward the interface.
 */
export function masqueradeRuleset(table: string, iface: string, sources: readonly string[]): string {
  return [
    `table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr { ${sources.join(', ')} } oifname "${iface}" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function deleteTableArgs(table: string): string[] {
  return ['delete', 'table', 'ip', table];
}

/** The host's network settings this server applied; publish/withdraw keep the proxy ARP entries (session/TunnelAddresses.ts). */
export class NetworkSetup implements LanNeighbours {
  /** Addresses published and not withdrawn (stop() removes what is left). */
  private readonly published = new Set<number>();
  private stopped = false;

  private constructor(
    private readonly options: NetworkSetupOptions,
    private readonly host: HostControl,
    private readonly log: Logger,
    /** Our nftables table, when it was created. */
    private readonly table: string | null,
  ) {}

  /** Applies forwarding and masquerade; never rejects (each failure is one error line naming its key). */
  static async start(options: NetworkSetupOptions, log: Logger, host: HostControl = systemHost): Promise<NetworkSetup> {
    if (options.forwarding) enableForwarding(host, log);
    const table = options.masquerade ? await createMasquerade(options.masquerade, host, log) : null;
    if (options.proxyArp) checkProxyArpInterface(options.proxyArp, host, log);
    return new NetworkSetup(options, host, log, table);
  }

  publish(address: number): void {
    const proxyArp = this.options.proxyArp;
    if (!proxyArp || this.stopped) return;
    this.published.add(address);
    this.changeEntry('add', address, proxyArp.interface, 'network.proxyArp: cannot add the proxy ARP entry; LAN hosts cannot reach this client');
  }

  withdraw(address: number): void {
    const proxyArp = this.options.proxyArp;
    if (!proxyArp || !this.published.delete(address)) return;
    this.changeEntry('del', address, proxyArp.interface, 'network.proxyArp: cannot remove the proxy ARP entry');
  }

  private changeEntry(action: 'add' | 'del', address: number, iface: string, failed: string): void {
    try {
      this.host.proxyArp(action, address, iface);
    } catch (err) {
      this.log.warn({ configKey: 'network.proxyArp', address: formatIpv4(address), interface: iface, error: (err as Error).message }, failed);
    }
  }

  /** Removes the proxy entries still published and our nftables table; never rejects. Forwarding stays on (host-wide). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const left = [...this.published];
    if (left.length > 0) this.log.info({ configKey: 'network.proxyArp', entries: left.length }, `network.proxyArp: removing the proxy ARP entries of the sessions still up (${left.length})`);
    for (const address of left) this.withdraw(address);
    this.stopped = true;
    if (this.table !== null) {
      const r = await this.host.run('nft', deleteTableArgs(this.table));
      if (r.ok) this.log.info({ configKey: 'network.masquerade', table: `ip ${this.table}` }, `network.masquerade: nftables table ip ${this.table} deleted`);
      else
        this.log.error(
          { configKey: 'network.masquerade', table: `ip ${this.table}`, error: r.message },
          `network.masquerade: cannot delete nftables table ip ${this.table}; remove it with: nft delete table ip ${this.table}`,
        );
    }
  }
}

/**
 * net.ipv4.ip_forward=1 (every interface forwards IPv4). Left on at stop: the switch is the host's,
 * and containers, routing or another instance may rely on it the moment it is on.
 */
function enableForwarding(host: HostControl, log: Logger): void {
  const key = 'network.forwarding';
  try {
    const was = host.readSysctl(IP_FORWARD).trim();
    if (was === '1') {
      log.info({ configKey: key }, 'network.forwarding: net.ipv4.ip_forward is already 1');
      return;
    }
    host.writeSysctl(IP_FORWARD, '1');
    log.info({ configKey: key, was }, `network.forwarding: set net.ipv4.ip_forward=1 (was ${was}); it stays on after the server stops`);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.error(
      { configKey: key, error: e.code ?? e.message },
      `network.forwarding: cannot set net.ipv4.ip_forward=1 (${e.code ?? e.message}${e.code === 'EROFS' ? ': /proc/sys is read-only here, as in a container' : ''}); set it on the host (sysctl -w net.ipv4.ip_forward=1): until then clients reach this host only`,
    );
  }
}

/** Our table with the masquerade rule; its name, or null when it could not be created (said in one line). */
async function createMasquerade(masquerade: NonNullable<NetworkSetupOptions['masquerade']>, host: HostControl, log: Logger): Promise<string | null> {
  const key = 'network.masquerade';
  const { interface: iface, table, sources } = masquerade;
  if (host.interfaceNetworks(iface) === null)
    log.warn({ configKey: `${key}.interface`, interface: iface }, `network.masquerade.interface: no interface ${iface} on this host (yet); the rule applies once it exists`);
  const r = await host.run('nft', ['-f', '-'], masqueradeRuleset(table, iface, sources));
  if (!r.ok) {
    const why = r.missing ? 'the nft command is not installed (Debian: apt-get install nftables)' : `nft refused the table: ${r.message}`;
    log.error({ configKey: key, interface: iface, error: why }, `network.masquerade: ${why}; clients' packets toward ${iface} keep their own addresses`);
    return null;
  }
  log.info({ configKey: key, interface: iface, sources, table: `ip ${table}` }, `network.masquerade: clients' packets toward ${iface} take its address (nftables table ip ${table})`);
  return table;
}

/** Warns when the interface is missing or its subnet does not hold the pool (then LAN hosts do not ARP for clients). */
function checkProxyArpInterface(proxyArp: NonNullable<NetworkSetupOptions['proxyArp']>, host: HostControl, log: Logger): void {
  const { interface: iface, pool } = proxyArp;
  const networks = host.interfaceNetworks(iface);
  if (networks === null) {
    log.error({ configKey: 'network.proxyArp.interface', interface: iface }, `network.proxyArp.interface: no interface ${iface} on this host; its proxy ARP entries fail until it exists`);
    return;
  }
  if (!networks.some((n) => inNetwork(n, pool.start) && inNetwork(n, pool.end))) {
    const pooled = `${formatIpv4(pool.start)}-${formatIpv4(pool.end)}`;
    log.warn(
      { configKey: 'network.proxyArp', interface: iface, pool: pooled, networks: networks.map(formatNetwork) },
      `network.proxyArp: the pool ${pooled} is not in ${iface}'s subnet: hosts there reach it through a router, not by ARP (give them a route to the server, or use network.masquerade)`,
    );
  }
  log.info({ configKey: 'network.proxyArp', interface: iface }, `network.proxyArp: ${iface} answers ARP for each session's address while the session holds it`);
}

/** The real host: programs by PATH (with the sbin directories, where ip and nft live), /proc/sys, the interface list. */
export const systemHost: HostControl = {
  run(program, args, input) {
    return new Promise((resolve) => {
      const child = execFile(program, args, { timeout: 10_000, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } }, (err, _stdout, stderr) => {
        if (!err) return resolve({ ok: true });
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const message = (stderr.trim().split('\n')[0] ?? '') || err.message.split('\n')[0]!;
        resolve({ ok: false, missing, message });
      });
      child.stdin?.on('error', () => {}); // a program that exits before reading: its exit status says why
      child.stdin?.end(input ?? '');
    });
  },
  readSysctl: (path) => readFileSync(path, 'utf8'),
  writeSysctl: (path, value) => writeFileSync(path, value),
  interfaceNetworks(name) {
    if (!existsSync(`/sys/class/net/${name}`)) return null;
    return (networkInterfaces()[name] ?? []).filter((a) => a.family === 'IPv4' && a.cidr !== null).map((a) => networkOf(a.cidr!));
  },
  proxyArp(action, address, iface) {
    const io = loadPorticoIo();
    if (action === 'add') io.addProxyArp(iface, address);
    else io.delProxyArp(iface, address);
  },
};

/** "198.18.60.1/24" -> the network 198.18.60.0/24. */
function networkOf(cidr: string): Ipv4Network {
  const [address, prefix] = cidr.split('/') as [string, string];
  return { address: (parseIpv4(address) & networkMask(Number(prefix))) >>> 0, prefix: Number(prefix) };
}
