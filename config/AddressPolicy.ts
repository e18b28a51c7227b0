// Which tunnel address a client may be given when the address comes from outside the pool: a RADIUS
// Framed-IP-Address or a user's static address (console, REST API, write token, CLI). An address
// outside the tunnel network gets a /32 route into the tunnel (session/TunnelAddresses.ts), so a
// careless or hostile one would take traffic meant for the server itself, its DNS server or any host.
// One rule for every path: the user store checks it at input, RADIUS at the Access-Accept, and the
// session layer again at every login (the configuration may have changed since the input).
import { networkInterfaces } from 'node:os';
import { coveringPrefixLength, formatIpv4, parseIpv4 } from './Ipv4.js';
import type { PorticoConfig } from './PorticoConfig.js';

/** An IPv4 network: its first address and its prefix length. */
export interface Ipv4Network {
  address: number;
  prefix: number;
}

/** Why an address is refused, one word; `reason` says it for people ("is loopback (127.0.0.0/8)"). */
export type AddressRule = 'this-network' | 'loopback' | 'link-local' | 'multicast' | 'broadcast' | 'reserved' | 'server' | 'tunnel-network-edge' | 'outside';

export interface AddressRefusal {
  rule: AddressRule;
  /** Reads after the address: "10.99.0.1 is the server's tunnel address (tun.address)". */
  reason: string;
}

/** Never a client's address, whatever the configuration (RFC 6890 §2.2.2). Order matters: 255.255.255.255 before 240/4. */
export const NEVER_ALLOWED: ReadonlyArray<{ network: Ipv4Network; rule: AddressRule; what: string }> = [
  // RFC 1122 §3.2.1.3: "this host on this network", never a destination.
  { network: parseNetwork('0.0.0.0/8'), rule: 'this-network', what: '"this network"' },
  // RFC 1122 §3.2.1.3: loopback, never outside a host.
  { network: parseNetwork('127.0.0.0/8'), rule: 'loopback', what: 'loopback' },
  // RFC 3927 §2.1: link-local, never routed.
  { network: parseNetwork('169.254.0.0/16'), rule: 'link-local', what: 'link-local' },
  // RFC 5771: multicast groups, never a host.
  { network: parseNetwork('224.0.0.0/4'), rule: 'multicast', what: 'multicast' },
  // RFC 919 §7: the limited broadcast address.
  { network: parseNetwork('255.255.255.255/32'), rule: 'broadcast', what: 'the limited broadcast address' },
  // RFC 1112 §4: reserved for future use.
  { network: parseNetwork('240.0.0.0/4'), rule: 'reserved', what: 'reserved' },
];

export function networkMask(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

export function inNetwork(network: Ipv4Network, address: number): boolean {
  return (address & networkMask(network.prefix)) >>> 0 === network.address;
}

export function lastAddress(network: Ipv4Network): number {
  return (network.address | ~networkMask(network.prefix)) >>> 0;
}

export function formatNetwork(network: Ipv4Network): string {
  return `${formatIpv4(network.address)}/${network.prefix}`;
}

/** "A.B.C.D/N" with no host bits set; throws an Error saying what is wrong. */
export function parseNetwork(text: string): Ipv4Network {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new Error(`not a network A.B.C.D/N (N 0-32): ${JSON.stringify(text)}`);
  const prefix = Number(m[2]);
  let address: number;
  try {
    address = parseIpv4(m[1]!);
  } catch {
    throw new Error(`not a network A.B.C.D/N (N 0-32): ${JSON.stringify(text)}`);
  }
  const network = (address & networkMask(prefix)) >>> 0;
  if (network !== address) throw new Error(`host bits set in ${text} (the network is ${formatIpv4(network)}/${prefix})`);
  return { address, prefix };
}

/** The TUN interface's network: its address with the longest prefix that also holds the whole pool. */
export function tunnelNetwork(config: { tun: { address: string }; pool: { start: string; end: string } }): Ipv4Network & { tunAddress: number } {
  const tunAddress = parseIpv4(config.tun.address);
  const prefix = coveringPrefixLength([tunAddress, parseIpv4(config.pool.start), parseIpv4(config.pool.end)]);
  return { address: (tunAddress & networkMask(prefix)) >>> 0, prefix, tunAddress };
}

/** The network and broadcast addresses of a network that has them (prefix 30 or shorter; RFC 3021 /31s have none). */
export function networkEdges(network: Ipv4Network): number[] {
  return network.prefix <= 30 ? [network.address, lastAddress(network)] : [];
}

export interface AddressPolicyOptions {
  pool: { start: number; end: number };
  /** The TUN's network (tunnelNetwork): routed into the tunnel already, so its addresses need no route of their own. */
  tunnel: Ipv4Network;
  /** Networks besides the pool and the tunnel network (pool.allowedStaticRanges). */
  allowedRanges: Ipv4Network[];
  /** The server's own addresses and those of the hosts it points clients or itself to, each with what it is. */
  serverAddresses: Array<{ address: number; what: string }>;
}

export class AddressPolicy {
  private server: Map<number, string>;

  constructor(private options: AddressPolicyOptions) {
    this.server = serverAddressMap(options);
  }

  /**
   * A reloaded pool, allowed ranges, DNS/WINS and RADIUS servers (server/ConfigReload.ts): every holder of
   * this policy (the user store, RADIUS, the session layer, the console) applies it from the next check on.
   */
  reconfigure(options: AddressPolicyOptions): void {
    this.options = options;
    this.server = serverAddressMap(options);
  }

  /** Null when `address` may be a client's, else why not. */
  refusal(address: number): AddressRefusal | null {
    const a = address >>> 0;
    for (const n of NEVER_ALLOWED) if (inNetwork(n.network, a)) return { rule: n.rule, reason: n.rule === 'broadcast' ? `is ${n.what}` : `is ${n.what} (${formatNetwork(n.network)})` };
    const own = this.server.get(a);
    if (own !== undefined) return { rule: 'server', reason: `is ${own}` };
    const { pool, tunnel, allowedRanges } = this.options;
    const edge = networkEdges(tunnel).indexOf(a);
    if (edge >= 0) return { rule: 'tunnel-network-edge', reason: `is the ${edge === 0 ? 'network' : 'broadcast'} address of the tunnel network ${formatNetwork(tunnel)}` };
    if ((a >= pool.start && a <= pool.end) || inNetwork(tunnel, a) || allowedRanges.some((n) => inNetwork(n, a))) return null;
    return { rule: 'outside', reason: `is outside the ${this.allowedText()}` };
  }

  /** What may be given, for logs and the console. */
  describe(): { allowed: string[]; never: string[] } {
    const { pool, tunnel, allowedRanges } = this.options;
    return {
      allowed: [`pool ${formatIpv4(pool.start)}-${formatIpv4(pool.end)}`, `tunnel network ${formatNetwork(tunnel)}`, ...allowedRanges.map(formatNetwork)],
      never: [
        ...NEVER_ALLOWED.map((n) => `${formatNetwork(n.network)} (${n.what})`),
        ...networkEdges(tunnel).map((a, i) => `${formatIpv4(a)} (${i === 0 ? 'network' : 'broadcast'} address of the tunnel network)`),
        ...[...this.server].map(([a, what]) => `${formatIpv4(a)} (${what})`),
      ],
    };
  }

  private allowedText(): string {
    const { pool, tunnel, allowedRanges } = this.options;
    const ranges = allowedRanges.length ? allowedRanges.map(formatNetwork).join(', ') : 'none';
    return `pool (${formatIpv4(pool.start)}-${formatIpv4(pool.end)}), the tunnel network ${formatNetwork(tunnel)} and pool.allowedStaticRanges (${ranges})`;
  }
}

function serverAddressMap(options: AddressPolicyOptions): Map<number, string> {
  const server = new Map<number, string>();
  for (const { address, what } of options.serverAddresses) if (!server.has(address)) server.set(address, what);
  return server;
}

/** IPv4 addresses of this host's interfaces (lo's are loopback anyway), for AddressPolicy's server addresses. */
export function interfaceAddresses(): Array<{ address: string; interface: string }> {
  return Object.entries(networkInterfaces()).flatMap(([name, list]) => (list ?? []).filter((i) => i.family === 'IPv4' && !i.internal).map((i) => ({ address: i.address, interface: name })));
}

/**
 * The policy the configuration asks for. `hostAddresses`: this host's own addresses (interfaceAddresses();
 * tests pass none). The server's own addresses include those it hands to clients (dns, wins) and talks
 * to (RADIUS): a client holding one would receive every other client's traffic to it.
 */
export function addressPolicyFor(config: PorticoConfig, hostAddresses: ReadonlyArray<{ address: string; interface: string }>): AddressPolicy {
  return new AddressPolicy(addressPolicyOptions(config, hostAddresses));
}

/** addressPolicyFor's options (a reload gives them to AddressPolicy.reconfigure). */
export function addressPolicyOptions(config: PorticoConfig, hostAddresses: ReadonlyArray<{ address: string; interface: string }>): AddressPolicyOptions {
  const tunnel = tunnelNetwork(config);
  const named: Array<[string | undefined, string]> = [
    [config.tun.address, "the server's tunnel address (tun.address)"],
    [config.listen, "the server's listen address (listen)"],
    [config.radius.nasIpAddress, "the server's NAS-IP-Address (radius.nasIpAddress)"],
    [config.radius.das?.listen, "the server's Disconnect/CoA address (radius.das.listen)"],
    [/^\d+\.\d+\.\d+\.\d+(?=:)/.exec(config.admin.listen)?.[0], "the console's address (admin.listen)"],
    ...config.dns.map((a): [string, string] => [a, 'a DNS server given to clients (dns)']),
    ...config.wins.map((a): [string, string] => [a, 'a WINS server given to clients (wins)']),
    ...config.radius.servers.map((s): [string, string] => [s.address, 'a RADIUS server (radius.servers)']),
    ...hostAddresses.map((h): [string, string] => [h.address, `an address of this host (${h.interface})`]),
  ];
  return {
    pool: { start: parseIpv4(config.pool.start), end: parseIpv4(config.pool.end) },
    tunnel,
    allowedRanges: config.pool.allowedStaticRanges.map(parseNetwork),
    // 0.0.0.0 (listen on every address) is refused as "this network" already.
    serverAddresses: named.filter((n): n is [string, string] => n[0] !== undefined).map(([a, what]) => ({ address: parseIpv4(a), what })),
  };
}
