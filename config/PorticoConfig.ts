// The one configuration file (YAML), validated by a schema whose errors name the key and the
// problem. Every key has an embedded default so that `portico serve` with no file starts a
// working server (MS-CHAPv2 only, MPPE-128 required: secure by default).
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatNetwork, inNetwork, type Ipv4Network, lastAddress, NEVER_ALLOWED, networkEdges, parseNetwork, tunnelNetwork } from './AddressPolicy.js';
import { formatIpv4, parseIpv4 } from './Ipv4.js';

const ipv4 = z.ipv4();

/** A Linux interface name (IFNAMSIZ: at most 15 characters). */
const interfaceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'an interface name of 1-15 letters, digits, _ . -');

/** A.B.C.D/N without host bits (pool.allowedStaticRanges). */
const ipv4Network = z.string().superRefine((text, ctx) => {
  try {
    parseNetwork(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

function addressOrNull(text: string | undefined): number | null {
  try {
    return text === undefined ? null : parseIpv4(text);
  } catch {
    return null;
  }
}

/**
 * txqueuelen of the TUN (the kernel gives a TUN 500, too few for one thread's 100-150 k packets/s across a
 * few ms of scheduling). 1000 is what the per-core figures were measured with; 4096 lost less still when a
 * data-plane thread shares its CPU (it waits up to 4-8 ms for it, perf sched), but was measured once only
 * and costs up to ~30 ms of queueing under sustained overload (BENCHMARKS.md, "TUN queue depth").
 */
export const DEFAULT_TUN_QUEUE_LENGTH = 1000;

/**
 * The TUN's prefix (tun.address with the pool) may be no wider than this: 65 536 addresses are more than
 * pptp.maxCalls can use, and a wider network swallows other routes (and costs memory: the pool is an array).
 */
export const MIN_TUNNEL_PREFIX = 16;

/** One Host value: a DNS name, an IPv4 address or a bracketed IPv6 address, optionally with :port (admin.allowedHosts). */
const CONSOLE_HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

export const configSchema = z
  .object({
    /** Address for PPTP control connections (TCP) and the raw GRE socket. */
    listen: ipv4.default('0.0.0.0'),
    port: z.number().int().min(1).max(65535).default(1723),
    dataDir: z.string().min(1).default('/var/lib/portico'),
    serverName: z.string().min(1).max(63).default('portico'),
    /**
     * Seconds from SIGTERM/SIGINT to exit: clients get LCP Terminate, Call-Disconnect-Notify and
     * Stop-Control-Connection, accounting its Stops and Accounting-Off, within this even if a peer or the
     * RADIUS server does not answer (what accounting could not deliver is sent at the next start).
     */
    shutdownTimeout: z.number().min(1).max(120).default(5),
    tun: z
      .object({
        name: interfaceName.default('pptp0'),
        address: ipv4.default('10.99.0.1'),
        mtu: z.number().int().min(576).max(1500).default(1400),
        /** Packets the kernel queues towards the data plane (see DEFAULT_TUN_QUEUE_LENGTH). */
        queueLength: z.number().int().min(16).max(65536).default(DEFAULT_TUN_QUEUE_LENGTH),
      })
      .strict()
      .prefault({}),
    pool: z
      .object({
        start: ipv4.default('10.99.0.10'),
        end: ipv4.default('10.99.0.250'),
        /**
         * Networks (A.B.C.D/N) a static address or a RADIUS Framed-IP-Address may lie in besides the pool and
         * the tunnel network (tun.address with the pool); each such address gets a /32 route into the tunnel.
         */
        allowedStaticRanges: z.array(ipv4Network).max(64).default([]),
      })
      .strict()
      .prefault({}),
    dns: z.array(ipv4).max(2).default([]),
    wins: z.array(ipv4).max(2).default([]),
    auth: z
      .object({
        /** local: the built-in store; radius: RADIUS only; radius-then-local: the store when no RADIUS server answers. */
        backend: z.enum(['local', 'radius', 'radius-then-local']).default('local'),
        /**
         * Authentication protocols the server may ask for, offered strongest first (MS-CHAPv2 > MS-CHAPv1 >
         * CHAP-MD5 > PAP) and only when the backend can verify them. mschap, chap and pap are weak; chap and
         * pap give no MPPE keys, so they are offered only when mppe.required is false.
         */
        protocols: z
          .array(z.enum(['mschapv2', 'mschap', 'chap', 'pap']))
          .min(1)
          .default(['mschapv2']),
        /**
         * Login throttling (every method, every backend): after this many failed logins from one source
         * address, of one user name from one address, or of one user name from all addresses (not counting
         * the addresses where that user logged in lately), the next attempt is refused unchecked until a
         * wait has passed: firstDelay seconds, doubled with each further failure up to maxDelay. A key
         * without failures for forgetAfter seconds starts afresh.
         */
        throttle: z
          .object({
            addressFailures: z.number().int().min(1).max(100000).default(20),
            userAddressFailures: z.number().int().min(1).max(100000).default(5),
            userFailures: z.number().int().min(1).max(100000).default(100),
            firstDelay: z.number().min(0.1).max(3600).default(1),
            maxDelay: z.number().min(1).max(86400).default(300),
            forgetAfter: z
              .number()
              .int()
              .min(60)
              .max(7 * 86400)
              .default(3600),
            /** Refused logins from one address within banWindow seconds that ban it for banDuration seconds; 0: no automatic bans. */
            banAfter: z.number().int().min(0).max(100000).default(0),
            banWindow: z.number().int().min(1).max(86400).default(600),
            banDuration: z
              .number()
              .int()
              .min(1)
              .max(7 * 86400)
              .default(900),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    mppe: z
      .object({
        required: z.boolean().default(true),
        keyLengths: z
          .array(z.union([z.literal(40), z.literal(56), z.literal(128)]))
          .min(1)
          .default([128]),
        /** stateless: only H=1; prefer-stateless: H=1 unless the peer cannot; prefer-stateful: Nak to H=0. */
        mode: z.enum(['stateless', 'prefer-stateless', 'prefer-stateful']).default('prefer-stateless'),
      })
      .strict()
      .prefault({}),
    ppp: z
      .object({
        lcpEchoInterval: z.number().int().min(0).max(3600).default(30),
        lcpEchoFailure: z.number().int().min(1).max(100).default(4),
        mru: z.number().int().min(576).max(1500).optional(),
        /**
         * Seconds from the call to the network phase (LCP, authentication, IPCP, CCP), and again from a
         * renegotiation to the network phase back up: renegotiating never extends it.
         */
        setupTimeout: z.number().int().min(5).max(600).default(30),
      })
      .strict()
      .prefault({}),
    dataPlane: z
      .object({
        /**
         * Threads carrying packets (GRE <-> MPPE <-> TUN). Sessions are spread over them by Call ID, each with its
         * own raw GRE socket and TUN queue; 'auto' = one per CPU (at most 8). Falls back to 1 where the kernel
         * refuses TUN steering (a container without CAP_BPF/CAP_SYS_ADMIN). 'auto' counts the CPUs this process may
         * run on (its affinity), so a server pinned to one CPU runs one thread.
         */
        threads: z.union([z.number().int().min(1).max(8), z.literal('auto')]).default('auto'),
      })
      .strict()
      .prefault({}),
    pptp: z
      .object({
        echoInterval: z.number().int().min(1).max(3600).default(60),
        maxCalls: z.number().int().min(1).max(65000).default(10000),
        /** Control connections at once, overall and from one address (a NAT hides many clients behind one). */
        maxConnections: z.number().int().min(1).max(65000).default(4096),
        maxConnectionsPerAddress: z.number().int().min(1).max(65000).default(64),
        /** New control connections a second from one address (a burst of twice this is allowed). */
        connectionsPerSecondPerAddress: z.number().int().min(1).max(10000).default(10),
        maxCallsPerConnection: z.number().int().min(1).max(65000).default(16),
        /** Calls not yet authenticated, overall and from one address. */
        maxUnauthenticatedCalls: z.number().int().min(1).max(65000).default(256),
        maxUnauthenticatedCallsPerAddress: z.number().int().min(1).max(65000).default(16),
        /** Seconds from TCP accept to the Start-Control-Connection-Request. */
        startTimeout: z.number().int().min(1).max(60).default(10),
        /** Seconds a connection may stay without a call (before its first and after its last). */
        callGrace: z.number().int().min(1).max(3600).default(30),
        /** Bytes queued towards a peer that does not read: past this the connection stops being read, at four times it is closed. */
        maxQueuedOutput: z
          .number()
          .int()
          .min(4096)
          .max(16 * 1024 * 1024)
          .default(65536),
      })
      .strict()
      .prefault({}),
    radius: z
      .object({
        servers: z
          .array(
            z
              .object({
                address: ipv4,
                authPort: z.number().int().min(1).max(65535).default(1812),
                acctPort: z.number().int().min(1).max(65535).default(1813),
                secret: z.string().min(1),
              })
              .strict(),
          )
          .default([]),
        /** Seconds to wait for one reply, and tries per server before failing over. */
        timeout: z.number().min(0.1).max(60).default(3),
        tries: z.number().int().min(1).max(10).default(3),
        /** Seconds a server that stopped answering is skipped. */
        deadTime: z.number().int().min(0).max(3600).default(60),
        /** Seconds between Status-Server probes (RFC 5997) of a server inside its dead-time; an answer ends it. 0 = no probes. */
        statusInterval: z.number().min(0).max(3600).default(10),
        /** BlastRADIUS protection: replies without a valid Message-Authenticator are dropped. */
        requireMessageAuthenticator: z.boolean().default(true),
        nasIdentifier: z.string().min(1).max(253).default('portico'),
        nasIpAddress: ipv4.optional(),
        /** Accounting Interim-Update interval in seconds when the reply names none; 0 = none. */
        interimInterval: z.number().int().min(0).max(86400).default(0),
        /** Send RADIUS accounting (Start/Interim/Stop, On/Off) to the servers. */
        accounting: z.boolean().default(true),
        /** Longest wait in seconds between attempts to deliver a queued accounting record (back-off cap). */
        accountingRetryMax: z.number().min(1).max(3600).default(60),
        das: z
          .object({
            listen: ipv4.default('127.0.0.1'),
            port: z.number().int().min(1).max(65535).default(3799),
            secret: z.string().min(1),
            /** Source addresses allowed to send Disconnect/CoA; default: the listen address's peers = the RADIUS servers. */
            clients: z.array(ipv4).optional(),
            /** Disconnect/CoA requests without a Message-Authenticator are dropped. */
            requireMessageAuthenticator: z.boolean().default(true),
            /**
             * Disconnect/CoA requests without an Event-Timestamp get NAK 402 (Missing-Attribute). false accepts them,
             * and then a captured request can be replayed once the replay cache forgets it (300 s after it arrived).
             */
            requireEventTimestamp: z.boolean().default(true),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** host:port of the web console; loopback by default. */
        listen: z
          .string()
          .regex(/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8080')
          .default('127.0.0.1:8080'),
        enabled: z.boolean().default(true),
        tls: z
          .object({ cert: z.string().min(1), key: z.string().min(1) })
          .strict()
          .optional(),
        /** Prometheus metrics carry user names only when this is true. */
        metricsUsernames: z.boolean().default(false),
        /**
         * Host names the console answers to besides localhost, 127.0.0.1, [::1] and the listen address
         * (DNS rebinding protection): a name alone also with the console's port, name:port exactly so.
         */
        allowedHosts: z
          .array(z.string().max(261).regex(CONSOLE_HOST, 'a host name or address as browsers send it in Host, optionally with :port (e.g. portico.example.net or portico.example.net:8443)'))
          .max(64)
          .default([]),
      })
      .strict()
      .prefault({}),
    /**
     * Reaching the network behind the server (server/NetworkSetup.ts), each off by default: IPv4 forwarding;
     * source NAT of the clients' addresses toward one interface (an nftables table of our own); proxy ARP for
     * each session's address on the LAN interface when the pool lies in the LAN's subnet.
     */
    network: z
      .object({
        /** net.ipv4.ip_forward=1 at start (host-wide, so left on at stop). */
        forwarding: z.boolean().default(false),
        /** Clients' packets leaving by this interface take its address (nftables table ip portico-<tun.name>). */
        masquerade: z.object({ interface: interfaceName }).strict().optional(),
        /** This interface answers ARP for each address a session holds (ip neigh proxy), while it holds it. */
        proxyArp: z.object({ interface: interfaceName }).strict().optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // zod runs this even when an address failed its format check (that issue already names the key).
    const [start, end, tun] = [c.pool.start, c.pool.end, c.tun.address].map(addressOrNull);
    if (start !== null && end !== null && start > end) ctx.addIssue({ code: 'custom', path: ['pool', 'end'], message: `must not be below pool.start (${c.pool.start})` });
    if (start !== null && end !== null && tun !== null && tun >= start && tun <= end) ctx.addIssue({ code: 'custom', path: ['tun', 'address'], message: 'must lie outside the pool' });
    if (c.auth.throttle.maxDelay < c.auth.throttle.firstDelay)
      ctx.addIssue({ code: 'custom', path: ['auth', 'throttle', 'maxDelay'], message: `must not be below auth.throttle.firstDelay (${c.auth.throttle.firstDelay})` });
    if (start !== null && end !== null && start <= end) {
      // Addresses that are never a client's (config/AddressPolicy.ts) must not be handed out from the pool either.
      for (const n of NEVER_ALLOWED) {
        if (start <= lastAddress(n.network) && end >= n.network.address)
          ctx.addIssue({ code: 'custom', path: ['pool', 'start'], message: `the pool ${c.pool.start}-${c.pool.end} overlaps ${formatNetwork(n.network)} (${n.what}), never a client's address` });
      }
      if (tun !== null) {
        const tunnel = tunnelNetwork(c);
        // The TUN gets this whole network as its route: a pool far from tun.address would route a /8 or
        // more (another LAN, at /0 the default route) into the tunnel.
        if (tunnel.prefix < MIN_TUNNEL_PREFIX)
          ctx.addIssue({
            code: 'custom',
            path: ['pool'],
            message: `${c.pool.start}-${c.pool.end} lies outside tun.address ${c.tun.address}'s /${MIN_TUNNEL_PREFIX}: together they span ${formatNetwork(tunnel)}, all of it routed into the tunnel; put the pool next to tun.address`,
          });
        else {
          for (const edge of networkEdges(tunnel)) {
            if (edge >= start && edge <= end)
              ctx.addIssue({
                code: 'custom',
                path: ['pool', edge === start ? 'start' : 'end'],
                message: `the pool holds ${formatIpv4(edge)}, the ${edge === tunnel.address ? 'network' : 'broadcast'} address of the tunnel network ${formatNetwork(tunnel)}`,
              });
          }
        }
      }
    }
    c.pool.allowedStaticRanges.forEach((text, i) => {
      let range: Ipv4Network;
      try {
        range = parseNetwork(text);
      } catch {
        return; // already an issue of its own
      }
      const inside = NEVER_ALLOWED.find((n) => n.network.prefix <= range.prefix && inNetwork(n.network, range.address));
      if (inside) ctx.addIssue({ code: 'custom', path: ['pool', 'allowedStaticRanges', i], message: `${text} lies in ${formatNetwork(inside.network)} (${inside.what}), never a client's address` });
    });
    if (c.auth.backend !== 'local' && c.radius.servers.length === 0) ctx.addIssue({ code: 'custom', path: ['radius', 'servers'], message: `auth.backend ${c.auth.backend} needs at least one server` });
    for (const key of ['masquerade', 'proxyArp'] as const) {
      const option = c.network[key];
      if (!option) continue;
      // Without IPv4 forwarding the kernel neither forwards the clients' packets nor answers for proxy entries.
      if (!c.network.forwarding) ctx.addIssue({ code: 'custom', path: ['network', key], message: 'needs network.forwarding: true (the kernel forwards nothing without it)' });
      if (option.interface === c.tun.name)
        ctx.addIssue({ code: 'custom', path: ['network', key, 'interface'], message: `${option.interface} is the tunnel itself (tun.name): name the interface toward the network behind the server` });
    }
    const host = c.admin.listen.replace(/:\d+$/, '');
    const loopback = host === 'localhost' || host.startsWith('127.') || host === '[::1]';
    if (c.admin.enabled && !loopback && !c.admin.tls) ctx.addIssue({ code: 'custom', path: ['admin', 'tls'], message: `required when admin.listen (${c.admin.listen}) is not a loopback address` });
  });

export type PorticoConfig = z.infer<typeof configSchema>;

/** One refused key: `key` is the dotted path ("tun.address", "radius.servers.0.secret"). */
export interface ConfigProblem {
  key: string;
  problem: string;
}

/**
 * The configuration cannot be used. `problems` lists each refused key (empty when the file itself could
 * not be read or parsed); the message is "SOURCE is invalid:" and one "  key: problem" line each.
 */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly ConfigProblem[] = [],
  ) {
    super(message);
  }
}

/** Validates a parsed document; the message lists every problem as `key.path: problem`. */
export function validateConfig(document: unknown, source = 'config'): PorticoConfig {
  const result = configSchema.safeParse(document ?? {});
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, document);
  throw new ConfigError(`${source} is invalid:\n${problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`, problems);
}

type Issue = z.core.$ZodIssue;

/**
 * zod's issues in the words of the file: one problem per key (a wrong type hides the checks that ran on
 * it anyway: `dns: 198.18.100.53` is "a list", not also "Too big: expected string to have <=2
 * characters"), unknown keys named one by one with the keys allowed there.
 */
function describeIssues(issues: readonly Issue[], document: unknown): ConfigProblem[] {
  const keyOf = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(top level)');
  const wrongType = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => keyOf(i.path)));
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const key = keyOf(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(issue.path);
      const hint = known.length ? ` (known here: ${known.join(', ')})` : '';
      for (const name of issue.keys) {
        // A name that is not a plain word ("mode:stateless", a missing space) is quoted after its parent's key.
        if (/^[\w-]+$/.test(name)) problems.push({ key: issue.path.length ? `${key}.${name}` : name, problem: `unknown key${hint}` });
        else problems.push({ key, problem: `unknown key ${JSON.stringify(name)}${hint}` });
      }
      continue;
    }
    if (wrongType.has(key) && issue.code !== 'invalid_type') continue;
    const value = valueAt(document, issue.path);
    if (issue.code === 'invalid_type')
      problems.push({ key, problem: `expected ${noun(issue.expected)}, got ${shown(value)}${issue.expected === 'array' && value !== undefined ? ` (write [${String(value)}])` : ''}` });
    else if (issue.code === 'invalid_format' && issue.format === 'ipv4') {
      const prefix = typeof value === 'string' && /^[\d.]+\/\d+$/.test(value);
      const text = typeof value === 'string' ? JSON.stringify(value) : shown(value);
      problems.push({
        key,
        problem: prefix
          ? `${text} is not an IPv4 address: write it without /N (the TUN's prefix is the smallest network holding tun.address and the pool)`
          : `${text} is not an IPv4 address (A.B.C.D)`,
      });
    } else problems.push({ key, problem: issue.message });
  }
  return problems;
}

function noun(type: string): string {
  return ({ array: 'a list', object: 'a mapping (key: value)', string: 'a string', number: 'a number', boolean: 'true or false' } as Record<string, string>)[type] ?? type;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let at = document;
  for (const step of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[step as string];
  }
  return at;
}

/** The keys the schema allows at `path` (an object's), for "unknown key" messages. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = configSchema;
  for (const step of [...path, null]) {
    // Through default/prefault/optional/pipe wrappers to the object or array inside.
    for (;;) {
      const def = schema?._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType } | undefined;
      if (def?.innerType) schema = def.innerType;
      else if (def?.type === 'pipe' && def.in) schema = def.in;
      else break;
    }
    if (step === null || schema === undefined) break;
    const def = schema._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    schema = def.type === 'object' ? def.shape?.[String(step)] : def.type === 'array' ? def.element : undefined;
  }
  const def = schema?._zod.def as { type: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** The system-wide configuration file, the third place looked at (after --config and PORTICO_CONFIG). */
export const SYSTEM_CONFIG = '/etc/portico/portico.yaml';

/** Which configuration a command uses, and why (printed on every command: "config: PATH (from --config)"). */
export interface ConfigChoice {
  /** The file, or null for the embedded defaults. */
  path: string | null;
  /** How it was chosen: '--config', 'PORTICO_CONFIG', 'system file', 'current directory' or 'no file found'. */
  from: string;
}

/**
 * Discovery: --config FILE, then $PORTICO_CONFIG, then /etc/portico/portico.yaml, then ./portico.yaml,
 * else the embedded defaults. A file named by --config or PORTICO_CONFIG must exist (a typo must not
 * fall through to another store); the other two are used when present.
 */
export function chooseConfig(flag: string | undefined, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): ConfigChoice {
  if (flag !== undefined) return { path: flag, from: '--config' };
  const fromEnv = env.PORTICO_CONFIG;
  if (fromEnv) return { path: fromEnv, from: 'PORTICO_CONFIG' };
  if (exists(SYSTEM_CONFIG)) return { path: SYSTEM_CONFIG, from: 'system file' };
  if (exists('portico.yaml')) return { path: 'portico.yaml', from: 'current directory' };
  return { path: null, from: 'no file found' };
}

/** Loads FILE, or ./portico.yaml when present, or the embedded defaults (commands use chooseConfig first). */
export function loadConfig(file?: string): { config: PorticoConfig; source: string } {
  const path = file ?? (existsSync('portico.yaml') ? 'portico.yaml' : undefined);
  if (!path) return { config: validateConfig({}, 'embedded defaults'), source: 'embedded defaults' };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return { config: validateConfig(document, path), source: path };
}
