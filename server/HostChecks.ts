// What the host must give Portico, checked the same way by `portico doctor`, at every start (a fatal
// finding refuses the start with one line; warnings are logged and shown on the console's audit card)
// : the TUN device, the capabilities, a raw GRE socket, IP forwarding, the firewall, a route (or NAT)
// toward the network behind the server, DNS for clients, the pool inside the tunnel network, no other
// instance, a writable data directory. One function per check; everything read from the host goes
// through HostProbes, so that tests give fake hosts. Nothing here changes the host.
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, type Stats, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { formatNetwork, inNetwork, type Ipv4Network, networkMask, parseNetwork, tunnelNetwork } from '../config/AddressPolicy.js';
import { IP_FORWARD } from './NetworkSetup.js';
import { formatIpv4 } from '../config/Ipv4.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import { dataPlaneThreads } from '../dataplane/DataPlaneThreads.js';
import { loadPorticoIo } from '../io/PorticoIo.js';
import { acceptCommand, describeBlock, type FirewallChain, type FirewallTool, flowBlock, masqueradeOf, type PptpFlow, parseIptablesSave, parseNftRuleset } from './FirewallRuleset.js';
import { type DataDirHolder, dataDirHolder, dataDirInUse, probeTunName, type TunNameHolder, tunNameInUse } from './InstanceLock.js';
import { StartupRefusal } from './StartupChecks.js';

/** ok; warning: Portico runs but clients will miss something; fatal: it cannot run; unknown: could not inspect. */
export type HostCheckStatus = 'ok' | 'warning' | 'fatal' | 'unknown';

export type HostCheckName = 'capabilities' | 'tun-device' | 'raw-gre' | 'ip-forward' | 'firewall' | 'route' | 'dns' | 'pool' | 'instance' | 'data-dir';

export interface HostCheckResult {
  check: HostCheckName;
  status: HostCheckStatus;
  /** The configuration key or host setting at fault (dns, net.ipv4.ip_forward, firewall): the audit card names it. */
  setting: string;
  message: string;
  /** What to do: a command or a configuration key; absent when ok. */
  fix?: string;
}

/** A tool's run: not installed, failed (its first line of error), or its output. */
export type ToolRun = { status: 'missing' } | { status: 'failed'; message: string } | { status: 'ok'; stdout: string };

/** Where a data directory stands for this process's user. */
export type DataDirState =
  | { state: 'writable' }
  | { state: 'absent'; parent: string; parentWritable: boolean }
  | { state: 'not-a-directory' }
  | { state: 'other-owner'; owner: number }
  | { state: 'not-writable' };

/** Everything the checks read from the host. */
export interface HostProbes {
  /** This process's effective user. */
  uid(): number;
  /** A file's text, or null when it cannot be read (/proc/self/status, /proc/sys/net/ipv4/ip_forward, /proc/net/route). */
  readFile(path: string): string | null;
  /** Opens /dev/net/tun read-write and closes it: null, or the error code (ENOENT, EACCES, ...). */
  openTunDevice(): string | null;
  /** Opens a raw IPv4 socket for protocol 47 and closes it: null, or the error's message. */
  openRawGre(): string | null;
  /** `nft list ruleset`, `iptables-save`. */
  run(tool: string, args: string[]): ToolRun;
  /** Another process on the TUN name (server/InstanceLock.ts): false when free. */
  tunNameHolder(name: string): Promise<false | TunNameHolder>;
  /** Who holds the data directory (its lock, server/InstanceLock.ts), or null. */
  dataDirHolder(dataDir: string): DataDirHolder | null;
  dataDirState(dataDir: string): DataDirState;
}

/** What several checks share, read once per run. */
interface HostFacts {
  probes: HostProbes;
  firewall(): FirewallView;
  routes(): Route[] | null;
}

interface FirewallView {
  chains: FirewallChain[];
  /** The tools whose rules were read. */
  inspected: FirewallTool[];
  /** Why the others could not be: "nft: not installed". */
  notInspected: string[];
}

export interface Route {
  iface: string;
  destination: Ipv4Network;
  /** 0 when on-link. */
  gateway: number;
}

type HostCheck = (config: PorticoConfig, host: HostFacts) => HostCheckResult | Promise<HostCheckResult>;

// Capability bits (linux/capability.h).
const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

const has = (caps: bigint, bit: bigint) => ((caps >> bit) & 1n) === 1n;

/** CAP_NET_ADMIN (TUN, routes) and CAP_NET_RAW (the raw GRE socket) always; CAP_BPF for the TUN steering of several data-plane threads. */
export function checkCapabilities(config: PorticoConfig, { probes }: HostFacts): HostCheckResult {
  const status = probes.readFile('/proc/self/status');
  const hex = status && /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const result = (s: HostCheckStatus, message: string, fix?: string): HostCheckResult => ({ check: 'capabilities', status: s, setting: 'capabilities', message, ...(fix ? { fix } : {}) });
  if (!hex) return result('unknown', 'could not read CapEff in /proc/self/status', 'run Portico as root or with CAP_NET_ADMIN and CAP_NET_RAW');
  const caps = BigInt(`0x${hex}`);
  const needed: Array<[bigint, string]> = [
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
    [CAP_NET_RAW, 'CAP_NET_RAW'],
  ];
  const missing = needed.filter(([bit]) => !has(caps, bit)).map(([, name]) => name);
  const threads = dataPlaneThreads(config);
  const bpf = threads <= 1 || has(caps, CAP_BPF) || has(caps, CAP_SYS_ADMIN);
  if (missing.length > 0) {
    const all = bpf ? missing : [...missing, 'CAP_BPF'];
    return result(
      'fatal',
      `${and(missing)} ${missing.length > 1 ? 'are' : 'is'} missing (uid ${probes.uid()}): Portico cannot ${[...(missing.includes('CAP_NET_ADMIN') ? ['create its TUN'] : []), ...(missing.includes('CAP_NET_RAW') ? ['open its raw GRE socket'] : [])].join(' or ')}`,
      `run it as root, or grant ${all.join(' ')} (systemd AmbientCapabilities=${all.join(' ')}; docker ${all.map((c) => `--cap-add ${c.slice(4)}`).join(' ')})`,
    );
  }
  if (!bpf) {
    return {
      check: 'capabilities',
      status: 'warning',
      setting: 'dataPlane.threads',
      message: `CAP_BPF is missing: dataPlane.threads asks for ${threads} threads, whose TUN steering needs CAP_BPF (or CAP_SYS_ADMIN); the data plane will run on one thread`,
      fix: 'grant CAP_BPF (systemd AmbientCapabilities=CAP_BPF; docker --cap-add BPF), or set dataPlane.threads: 1',
    };
  }
  const steering = has(caps, CAP_BPF) ? 'CAP_BPF' : 'CAP_SYS_ADMIN';
  return result('ok', `CAP_NET_ADMIN and CAP_NET_RAW present${threads > 1 ? `, and ${steering} for the TUN steering of ${threads} data-plane threads` : ''}`);
}

export function checkTunDevice(_config: PorticoConfig, { probes }: HostFacts): HostCheckResult {
  const error = probes.openTunDevice();
  const result = (s: HostCheckStatus, message: string, fix?: string): HostCheckResult => ({ check: 'tun-device', status: s, setting: '/dev/net/tun', message, ...(fix ? { fix } : {}) });
  if (error === null) return result('ok', '/dev/net/tun opens');
  if (error === 'ENOENT' || error === 'ENODEV' || error === 'ENXIO') return result('fatal', `/dev/net/tun is missing (${error})`, 'modprobe tun; in a container: docker run --device /dev/net/tun');
  if (error === 'EACCES' || error === 'EPERM')
    return result('fatal', `/dev/net/tun cannot be opened (${error})`, 'run Portico as root, or give its user read-write access to /dev/net/tun (mode 0666 is the default)');
  return result('fatal', `/dev/net/tun cannot be opened (${error})`, 'modprobe tun, and check the device node (crw-rw-rw- 10,200)');
}

export function checkRawGre(_config: PorticoConfig, { probes }: HostFacts): HostCheckResult {
  const error = probes.openRawGre();
  if (error === null) return { check: 'raw-gre', status: 'ok', setting: 'capabilities', message: 'a raw socket for IP protocol 47 (GRE) opens' };
  const fix = /\b(EPERM|EACCES)\b/.test(error)
    ? 'run Portico as root or with CAP_NET_RAW'
    : /addon|portico_io|Cannot find module/i.test(error)
      ? 'build the native addon: npm ci (needs python3, make and g++)'
      : 'check that this kernel has IPv4 raw sockets';
  return { check: 'raw-gre', status: 'fatal', setting: 'capabilities', message: `cannot open a raw socket for IP protocol 47 (GRE): ${error}`, fix };
}

export function checkIpForward(config: PorticoConfig, { probes }: HostFacts): HostCheckResult {
  const value = probes.readFile(IP_FORWARD)?.trim();
  const base = { check: 'ip-forward', setting: 'net.ipv4.ip_forward' } as const;
  if (value === '1') return { ...base, status: 'ok', message: 'net.ipv4.ip_forward is 1' };
  // serve sets it right after these checks (server/NetworkSetup.ts) and logs whether it could.
  if (config.network.forwarding) return { ...base, status: 'ok', message: `net.ipv4.ip_forward is ${value ?? 'unreadable'}; network.forwarding sets it to 1 at start` };
  if (value === '0')
    return {
      ...base,
      status: 'warning',
      message: 'net.ipv4.ip_forward is 0: clients reach this server and nothing behind it',
      fix: 'sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf)',
    };
  return { ...base, status: 'unknown', message: 'could not read /proc/sys/net/ipv4/ip_forward', fix: 'sysctl net.ipv4.ip_forward must be 1 for clients to reach anything behind this server' };
}

const FLOW_NAMES = (flow: PptpFlow) => (flow.kind === 'gre' ? 'IP protocol 47 (GRE)' : `${flow.port}/tcp`);

/** The PPTP port and GRE must not be visibly dropped on the way in (LCP timeouts at the client mean GRE is). */
export function checkFirewall(config: PorticoConfig, host: HostFacts): HostCheckResult {
  const view = host.firewall();
  const flows: PptpFlow[] = [{ kind: 'tcp', port: config.port }, { kind: 'gre' }];
  const base = { check: 'firewall', setting: 'firewall' } as const;
  if (view.inspected.length === 0)
    return {
      ...base,
      status: 'unknown',
      message: `could not inspect (${view.notInspected.join('; ')}): make sure ${config.port}/tcp and IP protocol 47 (GRE) reach this host`,
      fix: `allow ${config.port}/tcp and IP protocol 47 (GRE) in toward this host in every firewall on the way`,
    };
  const blocks = flows.flatMap((flow) => {
    const block = flowBlock(view.chains, flow);
    return block ? [{ flow, block }] : [];
  });
  if (blocks.length === 0) return { ...base, status: 'ok', message: `no rule or policy of ${view.inspected.join(' or ')} drops ${config.port}/tcp or IP protocol 47 (GRE)` };
  return {
    ...base,
    status: 'warning',
    message: `${blocks.map(({ flow, block }) => `${FLOW_NAMES(flow)} is dropped by ${describeBlock(block)}`).join('; ')}${blocks.some((b) => b.flow.kind === 'gre') ? ': clients connect, then time out in LCP' : ': clients cannot connect'}`,
    fix: blocks.map(({ flow, block }) => acceptCommand(block, flow)).join(' and '),
  };
}

const PRIVATE: Ipv4Network[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].map(parseNetwork);

/** A route toward the network behind the server (any but the TUN's), and NAT when the pool is private. */
export function checkRoute(config: PorticoConfig, host: HostFacts): HostCheckResult {
  const routes = host.routes();
  const base = { check: 'route', setting: 'routes' } as const;
  if (routes === null) return { ...base, status: 'unknown', message: 'could not read /proc/net/route', fix: 'ip route: this host needs a route toward the network its clients should reach' };
  const out = routes.filter((r) => r.iface !== config.tun.name && r.iface !== 'lo');
  if (out.length === 0)
    return {
      ...base,
      status: 'warning',
      message: `no route besides ${config.tun.name}'s: clients reach this server and nothing behind it`,
      fix: 'ip route add NETWORK/N via GATEWAY (the network behind this server), or a default route',
    };
  const fallback = out.find((r) => r.destination.prefix === 0);
  const egress = fallback ? `default route via ${formatIpv4(fallback.gateway)} (${fallback.iface})` : `routes via ${[...new Set(out.map((r) => r.iface))].join(', ')} (no default route)`;
  const tunnel = tunnelNetwork(config);
  const pool = formatNetwork(tunnel);
  if (!PRIVATE.some((n) => n.prefix <= tunnel.prefix && inNetwork(n, tunnel.address)))
    return { ...base, status: 'ok', message: `${egress}; the pool's network ${pool} is not private (RFC 1918, RFC 6598): no NAT needed` };
  // The server's own options (server/NetworkSetup.ts): its nftables table or proxy entries exist only while it runs.
  if (config.network.masquerade) return { ...base, status: 'ok', message: `${egress}; network.masquerade translates ${pool} toward ${config.network.masquerade.interface}` };
  if (config.network.proxyArp) return { ...base, status: 'ok', message: `${egress}; network.proxyArp answers for the sessions' addresses on ${config.network.proxyArp.interface}` };
  const outIface = (fallback ?? out[0]!).iface;
  const nat = `iptables -t nat -A POSTROUTING -s ${pool} -o ${outIface} -j MASQUERADE`;
  const view = host.firewall();
  if (view.inspected.length === 0)
    return {
      ...base,
      status: 'unknown',
      message: `${egress}; could not inspect NAT (${view.notInspected.join('; ')}): unless the router behind this host sends ${pool} back to it, the pool needs masquerading`,
      fix: `route ${pool} to this host on that router, or masquerade it: ${nat}`,
    };
  const masquerade = masqueradeOf(view.chains, tunnel);
  if (masquerade) return { ...base, status: 'ok', message: `${egress}; ${pool} is masqueraded (${masquerade.tool} rule "${masquerade.rule}")` };
  return {
    ...base,
    status: 'warning',
    setting: 'NAT',
    message: `${egress}, but no masquerade or SNAT rule covers the pool's private network ${pool}: hosts behind this server answer clients only if their router sends ${pool} back to this host`,
    fix: `route ${pool} to this host on that router, or masquerade it: ${nat}`,
  };
}

export function checkDns(config: PorticoConfig): HostCheckResult {
  const base = { check: 'dns', setting: 'dns' } as const;
  if (config.dns.length > 0) return { ...base, status: 'ok', message: `clients are given ${config.dns.join(', ')}` };
  const radius = config.auth.backend !== 'local';
  return {
    ...base,
    status: 'warning',
    message: `no DNS server for clients (dns is empty): ${radius ? 'unless RADIUS replies carry MS-Primary-DNS-Server, ' : ''}clients connect and cannot resolve names`,
    fix: 'set dns: [A.B.C.D] (the resolver clients should use)',
  };
}

const overlap = (a: Ipv4Network, b: Ipv4Network) => (a.prefix <= b.prefix ? inNetwork(a, b.address) : inNetwork(b, a.address));

/** The pool lies in the TUN's network (the schema sees to it), and that network is no other interface's. */
export function checkPool(config: PorticoConfig, host: HostFacts): HostCheckResult {
  const tunnel = tunnelNetwork(config);
  const base = { check: 'pool', setting: 'pool' } as const;
  const inside = `pool ${config.pool.start}-${config.pool.end} lies in the tunnel network ${formatNetwork(tunnel)} of tun.address ${config.tun.address}`;
  const clash = (host.routes() ?? []).find((r) => r.iface !== config.tun.name && r.destination.prefix > 0 && overlap(r.destination, tunnel));
  if (!clash) return { ...base, status: 'ok', message: inside };
  return {
    ...base,
    status: 'warning',
    message: `${inside}, which overlaps ${formatNetwork(clash.destination)} on ${clash.iface}: hosts there in ${formatNetwork(tunnel)} become unreachable`,
    fix: 'move tun.address and pool to a network this host does not use',
  };
}

export async function checkInstance(config: PorticoConfig, { probes }: HostFacts): Promise<HostCheckResult> {
  const tun = await probes.tunNameHolder(config.tun.name);
  const dataHolder = probes.dataDirHolder(config.dataDir);
  const found = [...(tun === false ? [] : [tunNameInUse(config.tun.name, tun)]), ...(dataHolder === null ? [] : [dataDirInUse(config.dataDir, dataHolder)])];
  const base = { check: 'instance', setting: tun !== false ? 'tun.name' : 'dataDir' } as const;
  if (found.length === 0) return { ...base, status: 'ok', message: `no other Portico on tun.name ${config.tun.name} or dataDir ${config.dataDir}` };
  // The lines are the start's refusals, which end with what to do.
  return { ...base, status: 'fatal', message: found.join('; ') };
}

export function checkDataDir(config: PorticoConfig, { probes }: HostFacts): HostCheckResult {
  const dir = config.dataDir;
  const state = probes.dataDirState(dir);
  const uid = probes.uid();
  const base = { check: 'data-dir', setting: 'dataDir' } as const;
  const fatal = (message: string, fix: string): HostCheckResult => ({ ...base, status: 'fatal', message, fix });
  switch (state.state) {
    case 'writable':
      return { ...base, status: 'ok', message: `${dir} is writable` };
    case 'absent':
      return state.parentWritable
        ? { ...base, status: 'ok', message: `${dir} will be created (${state.parent} is writable)` }
        : fatal(`${dir} cannot be created: ${state.parent} is not writable by uid ${uid}`, `mkdir -m 0700 ${dir} && chown ${uid} ${dir}, or set dataDir`);
    case 'not-a-directory':
      return fatal(`${dir} is not a directory`, 'set dataDir to a directory');
    case 'other-owner':
      return fatal(
        `${dir} is owned by uid ${state.owner}, not by this user (uid ${uid}): that user could read or replace the user database`,
        `chown -R ${uid} ${dir}, or run Portico as uid ${state.owner}`,
      );
    case 'not-writable':
      return fatal(`${dir} is not writable by uid ${uid}`, `chmod u+rwx ${dir}`);
  }
}

/** Every check, in the order `portico doctor` prints them. */
export const ALL_HOST_CHECKS: readonly HostCheck[] = [checkCapabilities, checkTunDevice, checkRawGre, checkIpForward, checkFirewall, checkRoute, checkDns, checkPool, checkInstance, checkDataDir];

/** At start the instance and data-directory checks are the claims themselves (InstanceLock, DataDirectory), with the same lines. */
export const START_HOST_CHECKS: readonly HostCheck[] = ALL_HOST_CHECKS.filter((c) => c !== checkInstance && c !== checkDataDir);

export async function runHostChecks(config: PorticoConfig, probes: HostProbes, checks: readonly HostCheck[] = ALL_HOST_CHECKS): Promise<HostCheckResult[]> {
  const host = hostFacts(probes);
  const results: HostCheckResult[] = [];
  for (const check of checks) results.push(await check(config, host));
  return results;
}

/** One line of `portico doctor`: "warning ip-forward: ...; fix: ...". */
export function formatHostCheck(r: HostCheckResult): string {
  return `${r.status.padEnd(8)}${r.check}: ${r.message}${r.fix ? `; fix: ${r.fix}` : ''}`;
}

export interface HostCheckLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * The checks at start: the first fatal finding refuses the start (StartupRefusal: one line, no stack
 * trace), warnings are logged; returns the warnings for the console's audit card.
 */
export async function checkHostAtStart(config: PorticoConfig, probes: HostProbes, log: HostCheckLog): Promise<HostCheckResult[]> {
  const results = await runHostChecks(config, probes, START_HOST_CHECKS);
  const fatal = results.find((r) => r.status === 'fatal');
  if (fatal) throw new StartupRefusal(`${fatal.check}: ${fatal.message}${fatal.fix ? `; fix: ${fatal.fix}` : ''}`);
  for (const r of results) {
    const fields = { check: r.check, setting: r.setting, ...(r.fix ? { fix: r.fix } : {}) };
    if (r.status === 'warning') log.warn(fields, `${r.check}: ${r.message}`);
    else if (r.status === 'unknown') log.info(fields, `${r.check}: ${r.message}`);
  }
  return results.filter((r) => r.status === 'warning');
}

function hostFacts(probes: HostProbes): HostFacts {
  let firewall: FirewallView | undefined;
  let routes: Route[] | null | undefined;
  return {
    probes,
    firewall: () => {
      firewall ??= readFirewall(probes);
      return firewall;
    },
    routes: () => {
      if (routes === undefined) {
        const text = probes.readFile('/proc/net/route');
        routes = text === null ? null : parseRouteTable(text);
      }
      return routes;
    },
  };
}

function readFirewall(probes: HostProbes): FirewallView {
  const view: FirewallView = { chains: [], inspected: [], notInspected: [] };
  const sources: Array<[FirewallTool, string, string[], (text: string) => FirewallChain[]]> = [
    ['nft', 'nft', ['list', 'ruleset'], parseNftRuleset],
    ['iptables', 'iptables-save', [], parseIptablesSave],
  ];
  for (const [tool, command, args, parse] of sources) {
    const run = probes.run(command, args);
    if (run.status === 'ok') {
      view.chains.push(...parse(run.stdout));
      view.inspected.push(tool);
    } else view.notInspected.push(`${command}: ${run.status === 'missing' ? 'not installed' : run.message}`);
  }
  return view;
}

/** /proc/net/route: hexadecimal addresses in the host's byte order; only routes that are up (RTF_UP). */
export function parseRouteTable(text: string, littleEndian = endianness() === 'LE'): Route[] {
  const address = (hex: string) => {
    const n = Number.parseInt(hex, 16) >>> 0;
    return littleEndian ? (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | (n >>> 24)) >>> 0 : n;
  };
  const routes: Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || (Number.parseInt(f[3]!, 16) & 1) === 0) continue;
    const mask = address(f[7]!);
    const prefix = Math.clz32(~mask >>> 0); // a contiguous mask: its leading ones
    routes.push({ iface: f[0]!, destination: { address: (address(f[1]!) & networkMask(prefix)) >>> 0, prefix }, gateway: address(f[2]!) });
  }
  return routes;
}

function and(list: string[]): string {
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list.at(-1)}` : (list[0] ?? '');
}

/** The real host. */
export function systemProbes(): HostProbes {
  const uid = process.geteuid?.() ?? -1;
  return {
    uid: () => uid,
    readFile: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return null;
      }
    },
    openTunDevice: () => {
      try {
        closeSync(openSync('/dev/net/tun', 'r+'));
        return null;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      }
    },
    openRawGre: () => {
      try {
        const io = loadPorticoIo();
        io.close(io.openRawGre(0));
        return null;
      } catch (e) {
        // The addon's "openRawGre(0.0.0.0): EPERM (socket SOCK_RAW IPPROTO_GRE: Operation not permitted)", or why it did not load.
        return (e as Error).message.split('\n')[0]!;
      }
    },
    run: (tool, args) => {
      // sbin is not on every user's PATH.
      const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 5000, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, LC_ALL: 'C' } });
      if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return { status: 'missing' };
      if (r.error || r.status !== 0) return { status: 'failed', message: (r.stderr?.trim().split('\n')[0] || r.error?.message || `exit ${r.status}`).slice(0, 200) };
      return { status: 'ok', stdout: r.stdout };
    },
    tunNameHolder: probeTunName,
    dataDirHolder,
    dataDirState: (dir) => {
      const st = statOrNull(dir);
      if (st === null) {
        let parent = dirname(dir);
        while (statOrNull(parent) === null && parent !== dirname(parent)) parent = dirname(parent);
        return { state: 'absent', parent, parentWritable: accessible(parent) };
      }
      if (!st.isDirectory()) return { state: 'not-a-directory' };
      if (st.uid !== uid) return { state: 'other-owner', owner: st.uid };
      return accessible(dir) ? { state: 'writable' } : { state: 'not-writable' };
    },
  };
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function accessible(dir: string): boolean {
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
