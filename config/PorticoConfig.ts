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

/** Local users' VPN passwords: at least this long by default (auth.minPasswordLength). */
export const DEFAULT_MIN_PASSWORD_LENGTH = 8;

// Every key carries .describe(): `npm run docs:config` prints them as docs/configuration.md (config/ConfigReference.ts),
// and a unit test fails when that file and this schema disagree.
export const configSchema = z
  .object({
    listen: ipv4.default('0.0.0.0').describe('Address of the PPTP control listener (TCP) and of the raw GRE socket; 0.0.0.0: every address of this host.'),
    port: z.number().int().min(1).max(65535).default(1723).describe('TCP port of PPTP control connections (1723 is the port clients use, RFC 2637).'),
    dataDir: z
      .string()
      .min(1)
      .default('/var/lib/portico')
      .describe('Directory of the SQLite files (portico.db: users; admin.db: console; accounting.db: RADIUS accounting queue); kept 0700, its files 0600.'),
    serverName: z.string().min(1).max(63).default('portico').describe('Our name in CHAP/MS-CHAP challenges and the Host Name of PPTP Start-Control-Connection-Reply.'),
    shutdownTimeout: z
      .number()
      .min(1)
      .max(120)
      .default(5)
      .describe(
        'Seconds from SIGTERM/SIGINT to exit: clients get LCP Terminate, Call-Disconnect-Notify and Stop-Control-Connection, accounting its Stops and Accounting-Off, within this even if a peer or the RADIUS server does not answer (what accounting could not deliver is sent at the next start).',
      ),
    tun: z
      .object({
        name: interfaceName.default('pptp0').describe('Name of the one TUN interface all sessions share (one Portico per name).'),
        address: ipv4.default('10.99.0.1').describe("The server's address on the TUN and IPCP's local address; the TUN's prefix is the smallest network holding it and the pool (at most a /16)."),
        mtu: z.number().int().min(576).max(1500).default(1400).describe('MTU of the TUN interface.'),
        // DEFAULT_TUN_QUEUE_LENGTH says why 1000.
        queueLength: z
          .number()
          .int()
          .min(16)
          .max(65536)
          .default(DEFAULT_TUN_QUEUE_LENGTH)
          .describe('Packets the kernel queues on the TUN towards the data plane (txqueuelen; the kernel default of 500 is too few at 100 k packets/s).'),
      })
      .strict()
      .prefault({}),
    pool: z
      .object({
        start: ipv4.default('10.99.0.10').describe('First address of the pool clients get their tunnel address from.'),
        end: ipv4.default('10.99.0.250').describe('Last address of the pool.'),
        allowedStaticRanges: z
          .array(ipv4Network)
          .max(64)
          .default([])
          .describe('Networks (A.B.C.D/N) a static address or a RADIUS Framed-IP-Address may lie in besides the pool and the tunnel network; each such address gets a /32 route into the tunnel.'),
      })
      .strict()
      .prefault({}),
    dns: z.array(ipv4).max(2).default([]).describe('DNS servers given to clients in IPCP (RFC 1877), at most two.'),
    wins: z.array(ipv4).max(2).default([]).describe('WINS (NetBIOS name) servers given to clients in IPCP (RFC 1877), at most two.'),
    auth: z
      .object({
        backend: z
          .enum(['local', 'radius', 'radius-then-local'])
          .default('local')
          .describe('local: the built-in user store; radius: RADIUS only; radius-then-local: the store only when no RADIUS server answered.'),
        protocols: z
          .array(z.enum(['mschapv2', 'mschap', 'chap', 'pap']))
          .min(1)
          .default(['mschapv2'])
          .describe(
            'Authentication protocols the server may ask for, offered strongest first (MS-CHAPv2 > MS-CHAPv1 > CHAP-MD5 > PAP) and only when the backend can verify them; mschap, chap and pap are weak, and chap and pap give no MPPE keys (offered only when mppe.required is false).',
          ),
        minPasswordLength: z
          .number()
          .int()
          .min(1)
          .max(256)
          .default(DEFAULT_MIN_PASSWORD_LENGTH)
          .describe('Shortest VPN password the local store accepts when one is set (CLI, console, API); existing passwords keep working. MS-CHAPv2 allows 1-256 characters (RFC 2759 §8.1).'),
        // Login throttling (every method, every backend): after so many failures of a key (an address, a user
        // name at an address, a user name everywhere but where it logged in lately), the next attempt is refused
        // unchecked until a wait has passed: firstDelay, doubled with each further failure up to maxDelay.
        throttle: z
          .object({
            addressFailures: z.number().int().min(1).max(100000).default(20).describe('Failed logins from one address before that address waits.'),
            userAddressFailures: z.number().int().min(1).max(100000).default(5).describe('Failed logins of one user name from one address before that pair waits.'),
            userFailures: z
              .number()
              .int()
              .min(1)
              .max(100000)
              .default(100)
              .describe('Failed logins of one user name from every address before the name waits (addresses where that user logged in lately do not count).'),
            firstDelay: z.number().min(0.1).max(3600).default(1).describe('Seconds of the first wait; each further failure doubles it.'),
            maxDelay: z.number().min(1).max(86400).default(300).describe('Longest wait in seconds (not below firstDelay).'),
            forgetAfter: z
              .number()
              .int()
              .min(60)
              .max(7 * 86400)
              .default(3600)
              .describe('Seconds without a failure after which a key starts afresh.'),
            banAfter: z
              .number()
              .int()
              .min(0)
              .max(100000)
              .default(0)
              .describe('Refused logins from one address within banWindow that ban it for banDuration (connections closed at accept, calls refused); 0: no automatic bans.'),
            banWindow: z.number().int().min(1).max(86400).default(600).describe('Seconds over which banAfter counts refused logins.'),
            banDuration: z
              .number()
              .int()
              .min(1)
              .max(7 * 86400)
              .default(900)
              .describe('Seconds an automatic ban lasts.'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    mppe: z
      .object({
        required: z.boolean().default(true).describe('Sessions must be encrypted (MPPE); false lets a client run in clear (a start-up warning and an audit finding).'),
        keyLengths: z
          .array(z.union([z.literal(40), z.literal(56), z.literal(128)]))
          .min(1)
          .default([128])
          .describe('MPPE key lengths (bits) the server agrees to; 40 and 56 are weak.'),
        mode: z
          .enum(['stateless', 'prefer-stateless', 'prefer-stateful'])
          .default('prefer-stateless')
          .describe('stateless: only stateless MPPE (H bit); prefer-stateless: stateless unless the peer cannot; prefer-stateful: Nak towards stateful (which reuses keystream after losses).'),
      })
      .strict()
      .prefault({}),
    ppp: z
      .object({
        lcpEchoInterval: z.number().int().min(0).max(3600).default(30).describe('Seconds between our LCP Echo-Requests on a session; 0: no keepalive.'),
        lcpEchoFailure: z.number().int().min(1).max(100).default(4).describe('Unanswered LCP Echo-Requests after which the session is ended as dead.'),
        mru: z.number().int().min(576).max(1500).optional().describe('MRU we request in LCP; unset: none requested (the peer then sends up to 1500).'),
        setupTimeout: z
          .number()
          .int()
          .min(5)
          .max(600)
          .default(30)
          .describe('Seconds from the call to the network phase (LCP, authentication, IPCP, CCP), and again from a renegotiation back to it; renegotiating never extends it.'),
      })
      .strict()
      .prefault({}),
    dataPlane: z
      .object({
        threads: z
          .union([z.number().int().min(1).max(8), z.literal('auto')])
          .default('auto')
          .describe(
            "Threads carrying packets (GRE <-> MPPE <-> TUN), sessions spread over them by Call ID; 'auto': one per CPU this process may run on (at most 8). One thread where the kernel refuses TUN steering (no CAP_BPF/CAP_SYS_ADMIN).",
          ),
      })
      .strict()
      .prefault({}),
    pptp: z
      .object({
        echoInterval: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(60)
          .describe('Seconds without a message on a control connection before we send a PPTP Echo-Request (no reply: the connection is closed).'),
        maxCalls: z.number().int().min(1).max(65000).default(10000).describe('Calls (sessions) at once, overall.'),
        maxConnections: z.number().int().min(1).max(65000).default(4096).describe("Control connections at once (never more than the process's descriptor limit minus a reserve of 256)."),
        maxConnectionsPerAddress: z.number().int().min(1).max(65000).default(64).describe('Control connections from one address (a NAT hides many clients behind one).'),
        connectionsPerSecondPerAddress: z.number().int().min(1).max(10000).default(10).describe('New control connections a second from one address (a burst of twice this is allowed).'),
        maxCallsPerConnection: z.number().int().min(1).max(65000).default(16).describe('Calls on one control connection.'),
        maxUnauthenticatedCalls: z.number().int().min(1).max(65000).default(256).describe('Calls whose client has not authenticated yet, overall.'),
        maxUnauthenticatedCallsPerAddress: z.number().int().min(1).max(65000).default(16).describe('Calls whose client has not authenticated yet, from one address.'),
        startTimeout: z.number().int().min(1).max(60).default(10).describe('Seconds from TCP accept to the Start-Control-Connection-Request.'),
        callGrace: z.number().int().min(1).max(3600).default(30).describe('Seconds a connection may stay without a call (before its first and after its last).'),
        maxQueuedOutput: z
          .number()
          .int()
          .min(4096)
          .max(16 * 1024 * 1024)
          .default(65536)
          .describe('Bytes queued towards a peer that does not read: past this the connection stops being read, at four times it is closed.'),
      })
      .strict()
      .prefault({}),
    radius: z
      .object({
        servers: z
          .array(
            z
              .object({
                address: ipv4.describe("The RADIUS server's address."),
                authPort: z.number().int().min(1).max(65535).default(1812).describe('UDP port for Access-Request.'),
                acctPort: z.number().int().min(1).max(65535).default(1813).describe('UDP port for Accounting-Request.'),
                secret: z.string().min(1).describe('Shared secret (never logged; the audit flags short ones).'),
              })
              .strict(),
          )
          .default([])
          .describe('RADIUS servers, tried in order; failover after tries × timeout.'),
        timeout: z.number().min(0.1).max(60).default(3).describe('Seconds to wait for one reply.'),
        tries: z.number().int().min(1).max(10).default(3).describe('Transmissions per server (same ID and authenticator) before failing over.'),
        deadTime: z.number().int().min(0).max(3600).default(60).describe('Seconds a server that stopped answering is skipped.'),
        statusInterval: z.number().min(0).max(3600).default(10).describe('Seconds between Status-Server probes (RFC 5997) of a server inside its dead time; an answer ends it. 0: no probes.'),
        requireMessageAuthenticator: z.boolean().default(true).describe('BlastRADIUS protection (CVE-2024-3596): Access-* replies without a valid Message-Authenticator are dropped.'),
        nasIdentifier: z.string().min(1).max(253).default('portico').describe('NAS-Identifier sent in every request.'),
        nasIpAddress: ipv4.optional().describe('NAS-IP-Address sent in every request; unset: none.'),
        interimInterval: z.number().int().min(0).max(86400).default(0).describe('Accounting Interim-Update interval in seconds when the Access-Accept names none; 0: none.'),
        accounting: z.boolean().default(true).describe('Send RADIUS accounting (Start, Interim-Update, Stop, Accounting-On/Off) to the servers.'),
        accountingRetryMax: z.number().min(1).max(3600).default(60).describe('Longest wait in seconds between attempts to deliver a queued accounting record (back-off cap).'),
        das: z
          .object({
            listen: ipv4.default('127.0.0.1').describe('Address of the Disconnect/CoA listener (RFC 5176).'),
            port: z.number().int().min(1).max(65535).default(3799).describe('UDP port of the Disconnect/CoA listener.'),
            secret: z.string().min(1).describe('Shared secret of Disconnect/CoA clients.'),
            clients: z.array(ipv4).optional().describe('Source addresses allowed to send Disconnect/CoA; unset: the RADIUS servers.'),
            requireMessageAuthenticator: z.boolean().default(true).describe('Disconnect/CoA requests without a Message-Authenticator are dropped.'),
            requireEventTimestamp: z
              .boolean()
              .default(true)
              .describe(
                'Disconnect/CoA requests without an Event-Timestamp get NAK 402 (Missing-Attribute); false accepts them, and a captured request can then be replayed once the replay cache forgets it (300 s).',
              ),
          })
          .strict()
          .optional()
          .describe('Disconnect/CoA server (RFC 5176); unset: none.'),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        listen: z
          .string()
          .regex(/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8080')
          .default('127.0.0.1:8080')
          .describe('host:port of the web console; any address but loopback needs admin.tls.'),
        enabled: z.boolean().default(true).describe('Run the web console (REST API and /metrics included).'),
        tls: z
          .object({
            cert: z.string().min(1).describe('PEM certificate file of the console.'),
            key: z.string().min(1).describe('PEM private key file of the console.'),
          })
          .strict()
          .optional()
          .describe('HTTPS for the console; required when admin.listen is not a loopback address.'),
        metricsUsernames: z.boolean().default(false).describe('Prometheus metrics carry user names (portico_user_*) only when this is true.'),
        allowedHosts: z
          .array(z.string().max(261).regex(CONSOLE_HOST, 'a host name or address as browsers send it in Host, optionally with :port (e.g. portico.example.net or portico.example.net:8443)'))
          .max(64)
          .default([])
          .describe(
            'Host names the console answers to besides localhost, 127.0.0.1, [::1] and the listen address (DNS rebinding protection): a name alone also with the console port, name:port exactly so.',
          ),
      })
      .strict()
      .prefault({}),
    // Reaching the network behind the server (server/NetworkSetup.ts), each off by default.
    network: z
      .object({
        forwarding: z.boolean().default(false).describe('Set net.ipv4.ip_forward=1 at start so clients reach networks behind the server (host-wide, so left on at stop).'),
        masquerade: z
          .object({ interface: interfaceName.describe("Interface whose address clients' packets take as they leave (source NAT).") })
          .strict()
          .optional()
          .describe("Source NAT of the clients' addresses toward one interface, in an nftables table of our own (ip portico-<tun.name>) removed at stop; needs forwarding."),
        proxyArp: z
          .object({ interface: interfaceName.describe('LAN interface that answers ARP for the addresses sessions hold.') })
          .strict()
          .optional()
          .describe("Proxy ARP for each session's address while the session holds it (ip neigh proxy), for a pool inside the LAN's subnet; needs forwarding."),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('Least severe level written to the log.'),
        format: z
          .enum(['auto', 'json', 'pretty'])
          .default('auto')
          .describe(
            'json: one JSON object a line (pino), for journald, Docker and log shippers; pretty: time, level, message and key=value, for a person; auto: pretty when standard output is a terminal.',
          ),
      })
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

/** The source of a configuration read from no file. */
export const EMBEDDED_DEFAULTS = 'embedded defaults';

/** Loads FILE, or ./portico.yaml when present, or the embedded defaults (commands use chooseConfig first). */
export function loadConfig(file?: string): { config: PorticoConfig; source: string } {
  const path = file ?? (existsSync('portico.yaml') ? 'portico.yaml' : undefined);
  if (!path) return { config: validateConfig({}, EMBEDDED_DEFAULTS), source: EMBEDDED_DEFAULTS };
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
