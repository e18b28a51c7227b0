// Reload without drops (SIGHUP, the console's Reload): the configuration file is read again and what
// can change in a running server is applied for the next logins, calls and RADIUS requests; live
// sessions keep what they negotiated. The file is refused whole when it is invalid (the same messages
// as at start), and then nothing changes. Keys that shaped what was bound, created or opened at start
// keep their running value, and the reply and the log line name them: "changed, needs a restart: ...".
// Users need no reload: the user store is read at every login (aaa/LocalAuthenticator.ts).
//
// Two steps: plan (pure: which keys changed, which apply, the configuration in force after it) and
// prepare (every subsystem's new part, built before anything is touched: a part that cannot be built
// refuses the reload), then one commit that hands each subsystem its part.
import type { Logger } from 'pino';
import type { AddressBans } from '../aaa/AddressBans.js';
import type { RadiusServices } from '../aaa/RadiusServices.js';
import type { LoginGuard } from '../aaa/ThrottledAuthenticator.js';
import { type AddressPolicy, addressPolicyOptions, formatNetwork, inNetwork, interfaceAddresses, type Ipv4Network, tunnelNetwork } from '../config/AddressPolicy.js';
import { parseIpv4 } from '../config/Ipv4.js';
import { ConfigError, type PorticoConfig, validateConfig } from '../config/PorticoConfig.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import type { SessionManager } from '../session/SessionManager.js';
import type { TunnelAddresses } from '../session/TunnelAddresses.js';
import type { ControlListener } from './ControlListener.js';
import { banPolicy, callLimits, connectionLimits, loginThrottlePolicy } from './Limits.js';
import { pppPolicy } from './PppPolicy.js';

/** Keys (dotted prefixes) a reload cannot apply, with what holds them since the start. */
export const RESTART_KEYS: Readonly<Record<string, string>> = {
  listen: 'the control listener and the raw GRE socket are bound to it',
  port: 'the control listener is bound to it',
  dataDir: 'the databases and the instance lock are open there',
  tun: 'the TUN interface was created with it',
  dataPlane: 'the data-plane threads were started with it',
  admin: 'the console was bound (and its TLS loaded) with it',
  log: 'every logger was made with it',
  'auth.backend': 'the user backend was built with it',
  'auth.minPasswordLength': 'the user store was opened with it',
  network: 'forwarding, the nftables table and the proxy ARP entries were set up with it',
  'radius.accounting': 'accounting was started (or not) with it',
  'radius.das': 'the Disconnect/CoA listener was bound with it',
  'radius.nasIdentifier': 'the NAS identity of every request was set with it',
  'radius.nasIpAddress': 'the NAS identity of every request was set with it',
};

/**
 * Keys (dotted prefixes) a reload applies: to the next logins and calls (the PPP policy, DNS/WINS, limits,
 * the pool) and the next RADIUS requests. The pool applies when it stays inside the TUN's network (else
 * it needs a restart): growing adds addresses; shrinking takes out only free ones, an address a live
 * session holds leaves the pool when that session ends. RADIUS servers apply unless RADIUS is turned on
 * or off (a restart).
 */
export const HOT_KEYS: readonly string[] = [
  'serverName',
  'shutdownTimeout',
  'pool',
  'dns',
  'wins',
  'auth.protocols',
  'auth.throttle',
  'mppe',
  'ppp',
  'pptp',
  'radius.servers',
  'radius.timeout',
  'radius.tries',
  'radius.deadTime',
  'radius.statusInterval',
  'radius.requireMessageAuthenticator',
  'radius.interimInterval',
  'radius.accountingRetryMax',
];

/** The prefix of the list that `key` falls under, or null. */
function prefixOf(key: string, prefixes: readonly string[]): string | null {
  return prefixes.find((p) => key === p || key.startsWith(`${p}.`)) ?? null;
}

/** Every leaf of a configuration by dotted key (lists are leaves), its value as JSON. */
export function configLeaves(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) configLeaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) out.set(prefix, JSON.stringify(value));
  return out;
}

/** Leaf keys whose value differs (present in one only counts), in the new file's order. */
export function changedKeys(before: PorticoConfig, after: PorticoConfig): string[] {
  const a = configLeaves(before);
  const b = configLeaves(after);
  return [...new Set([...b.keys(), ...a.keys()])].filter((k) => a.get(k) !== b.get(k));
}

export interface ReloadPlan {
  /** The configuration in force after the reload: the file's, with the restart keys' running values. */
  effective: PorticoConfig;
  /** Changed keys that apply now. */
  applied: string[];
  /** Changed keys that keep their running value until a restart, some with why ("pool.end (...)"). */
  needsRestart: string[];
}

/**
 * Which changed keys apply and the configuration in force after the reload; `tunnel`: the TUN's network
 * (the pool must stay inside it). Throws ConfigError when the file's values, together with the running
 * values kept until a restart, are not a valid configuration.
 */
export function planReload(running: PorticoConfig, next: PorticoConfig, tunnel: Ipv4Network): ReloadPlan {
  const changed = changedKeys(running, next);
  // A key in neither list (a new one not classified yet) is kept until a restart: never applied half-way.
  const needsRestart = changed.filter((k) => prefixOf(k, HOT_KEYS) === null);
  const kept = new Set(needsRestart.map((k) => prefixOf(k, Object.keys(RESTART_KEYS)) ?? k));
  let effective = withValuesOf(next, running, [...kept]);
  // The pool is routed by the TUN's prefix, set at start: a pool beyond that network needs a restart.
  const outside = (['start', 'end'] as const).filter((end) => !inNetwork(tunnel, parseIpv4(effective.pool[end])));
  if (outside.length > 0) {
    const pool = changed.filter((k) => k === 'pool.start' || k === 'pool.end');
    effective = withValuesOf(effective, running, pool);
    needsRestart.push(...pool.map((k) => `${k} (the pool would leave the TUN's network ${formatNetwork(tunnel)})`));
  }
  // RADIUS on or off means building or dropping the client, the backend and accounting: a restart.
  if (running.radius.servers.length > 0 !== effective.radius.servers.length > 0) {
    effective = withValuesOf(effective, running, ['radius.servers']);
    needsRestart.push(`radius.servers (RADIUS turned ${running.radius.servers.length > 0 ? 'off' : 'on'})`);
  }
  const restartKeys = new Set(needsRestart.map((k) => k.split(' ')[0]!));
  const applied = changed.filter((k) => !restartKeys.has(k));
  if (needsRestart.length > 0) {
    // The kept values must still fit the new ones (tun.address outside a new pool, say).
    try {
      effective = validateConfig(effective, 'the file with the values kept until a restart');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const note = ` (with the values kept until a restart: ${needsRestart.join(', ')})`;
      throw new ConfigError(
        `${err.message}\n ${note}`,
        err.problems.map((p) => ({ key: p.key, problem: `${p.problem}${note}` })),
      );
    }
  }
  return { effective, applied, needsRestart };
}

/** A copy of `target` with the values `source` has at `keys` (dotted; absent in `source`: removed). */
function withValuesOf(target: PorticoConfig, source: PorticoConfig, keys: readonly string[]): PorticoConfig {
  const copy = structuredClone(target) as unknown as Record<string, unknown>;
  for (const key of keys) {
    const path = key.split('.');
    let from: unknown = source;
    for (const step of path) from = (from as Record<string, unknown> | undefined)?.[step];
    let at = copy;
    for (const step of path.slice(0, -1)) {
      at[step] ??= {};
      at = at[step] as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    if (from === undefined) delete at[last];
    else at[last] = structuredClone(from);
  }
  return copy as unknown as PorticoConfig;
}

/** What a reload answered (the console's reply, the log line). */
export type ReloadOutcome = { ok: true; source: string; applied: string[]; needsRestart: string[]; message: string } | { ok: false; source: string; problems: string[]; message: string };

/** The subsystems that hold configuration, each with its small apply method. */
export interface ReloadTargets {
  sessions: Pick<SessionManager, 'reconfigure'>;
  listener: Pick<ControlListener, 'reconfigure'>;
  logins: Pick<LoginGuard, 'reconfigure'>;
  bans: Pick<AddressBans, 'reconfigure'>;
  addressPolicy: Pick<AddressPolicy, 'reconfigure'>;
  addresses: Pick<TunnelAddresses, 'resizePool'>;
  radius: Pick<RadiusServices, 'reconfigure'> | null;
  /** The user backend in force: which auth.protocols can be offered (server/PppPolicy.ts). */
  authenticator: ExtendedAuthenticator;
}

export interface ConfigReloaderOptions {
  /** The configuration the server started with. */
  config: PorticoConfig;
  /** Where it came from (a path, or "embedded defaults"), in every reload line. */
  source: string;
  /** Reads and validates the file again (ConfigError when it cannot be used). */
  read(): PorticoConfig;
  targets: ReloadTargets;
  /** This host's addresses, never a client's (config/AddressPolicy.ts); default: the interfaces' now. */
  hostAddresses?: () => ReadonlyArray<{ address: string; interface: string }>;
  log: Logger;
}

/** The configuration in force, and reload() that replaces it. */
export class ConfigReloader {
  private running: PorticoConfig;
  /** The TUN's network, from the configuration it was created with: the pool must stay inside it. */
  private readonly tunnel: Ipv4Network;

  constructor(private readonly options: ConfigReloaderOptions) {
    this.running = options.config;
    this.tunnel = tunnelNetwork(options.config);
  }

  /** The configuration in force (the console's settings page, the shutdown budget). */
  get current(): PorticoConfig {
    return this.running;
  }

  /** Reads the file and applies it, or refuses it whole; `by`: who asked ("SIGHUP", "console: admin"). One log line either way. */
  reload(by: string): ReloadOutcome {
    const { source, log } = this.options;
    let plan: ReloadPlan;
    let parts: ReturnType<ConfigReloader['prepare']>;
    try {
      plan = planReload(this.running, this.options.read(), this.tunnel);
      parts = this.prepare(plan.effective);
    } catch (err) {
      // Nothing has changed yet, whatever went wrong: the running configuration stays whole.
      const problems = err instanceof ConfigError && err.problems.length > 0 ? err.problems.map((p) => `${p.key}: ${p.problem}`) : [(err as Error).message];
      const message = `configuration reload refused, the running configuration stays: ${problems.join('; ')}`;
      log.warn({ by, config: source, problems }, 'configuration reload refused: the running configuration stays');
      return { ok: false, source, problems, message };
    }
    const { applied, needsRestart } = plan;
    if (applied.length > 0) this.commit(parts, applied);
    this.running = plan.effective;
    const message = [
      `configuration reloaded: ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'nothing to apply'}`,
      ...(needsRestart.length > 0 ? [`changed, needs a restart: ${needsRestart.join(', ')}`] : []),
    ].join('; ');
    log.info({ by, config: source, applied, needsRestart }, message);
    return { ok: true, source, applied, needsRestart, message };
  }

  /** Every subsystem's new part, built before anything changes (pppPolicy refuses protocols the backend cannot offer). */
  private prepare(config: PorticoConfig) {
    const { targets, log } = this.options;
    return {
      // The tunnel network stays the TUN's: a smaller pool must not make its edges or the rest of it look foreign.
      addressPolicy: { ...addressPolicyOptions(config, (this.options.hostAddresses ?? interfaceAddresses)()), tunnel: this.tunnel },
      pool: { start: parseIpv4(config.pool.start), end: parseIpv4(config.pool.end) },
      sessions: { link: pppPolicy(config, targets.authenticator, log), limits: callLimits(config) },
      listener: { echoIntervalMs: config.pptp.echoInterval * 1000, hostName: config.serverName, limits: connectionLimits(config) },
      logins: loginThrottlePolicy(config),
      bans: banPolicy(config),
      config,
    };
  }

  private commit(parts: ReturnType<ConfigReloader['prepare']>, applied: readonly string[]): void {
    const { targets } = this.options;
    // The address policy first: the pool and the static addresses of the next logins are checked against it.
    targets.addressPolicy.reconfigure(parts.addressPolicy);
    targets.addresses.resizePool(parts.pool.start, parts.pool.end);
    targets.sessions.reconfigure(parts.sessions);
    targets.listener.reconfigure(parts.listener);
    targets.logins.reconfigure(parts.logins);
    targets.bans.reconfigure(parts.bans);
    if (applied.some((k) => k.startsWith('radius.') || k.startsWith('mppe.'))) targets.radius?.reconfigure(parts.config);
  }
}
