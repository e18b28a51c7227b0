// The configuration file (config/PorticoConfig.ts loadConfig): YAML text → schema. Inputs are YAML
// documents built from the schema's keys with valid, boundary, wrong-type and unknown values, in block
// and flow style, plus YAML's own corners (anchors and aliases, merge keys, tags, multiple documents,
// duplicate keys, __proto__, odd scalars), mutated at the byte level.
// Documented: loadConfig throws ConfigError only, naming the key ("  key.path: problem" lines) or the
// file ("is not valid YAML", "cannot read"). Invariants: any other exception type is a finding; an
// accepted configuration validates again to the same value and satisfies the cross-key rules (pool
// not backwards, tunnel address outside the pool, pool clear of addresses never given to a client,
// RADIUS servers when the backend needs them, TLS on a non-loopback console).

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { lastAddress, NEVER_ALLOWED, parseNetwork } from '../../../config/AddressPolicy.js';
import { parseIpv4 } from '../../../config/Ipv4.js';
import { ConfigError, loadConfig, type PorticoConfig, validateConfig } from '../../../config/PorticoConfig.js';
import type { Prng } from '../Prng.js';
import { check, describeError, type FuzzTarget, InvariantError } from '../run.js';

const IPS = ['10.99.0.1', '198.18.0.1', '0.0.0.0', '255.255.255.255', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', ' 1.2.3.4', '::1', '', 'localhost', '10.99.0.20'];
const NUMS = [0, 1, -1, 1.5, 576, 1400, 1500, 1723, 65535, 65536, Number.POSITIVE_INFINITY, Number.NaN, '1723', null, true];
const STR = ['pptp0', 'x'.repeat(16), '', 'a b', 'portico', '../etc', '\u00e9'];

/** Candidate values per key path: valid ones, boundary ones, wrong types. */
const MENU_ENTRIES: ReadonlyArray<readonly [string, readonly unknown[]]> = Object.entries({
  listen: IPS,
  port: NUMS,
  dataDir: ['/var/lib/portico', '', 5, '/tmp/x'],
  serverName: STR,
  shutdownTimeout: [0, 1, 2.5, 5, 120, 121, '5'],
  'tun.name': STR,
  'tun.address': IPS,
  'tun.mtu': NUMS,
  'tun.queueLength': [16, 15, 1000, 65536, 65537, 'auto'],
  'pool.start': IPS,
  'pool.end': IPS,
  'pool.allowedStaticRanges': [[], ['198.18.5.0/24'], ['198.18.5.1/24'], ['127.0.0.0/8'], ['0.0.0.0/0'], ['198.18.5.0/33'], ['x'], '198.18.5.0/24', [5]],
  dns: [[], ['198.18.0.53'], ['1.1.1.1', '8.8.8.8', '9.9.9.9'], ['x'], '1.1.1.1', [5]],
  wins: [[], ['198.18.0.54'], [null]],
  'auth.backend': ['local', 'radius', 'radius-then-local', 'ldap', 1],
  'auth.protocols': [['mschapv2'], ['pap', 'chap'], [], ['eap'], 'mschapv2', ['mschapv2', 'mschapv2']],
  'mppe.required': [true, false, 'yes', 0],
  'mppe.keyLengths': [[128], [40, 56, 128], [], [64], ['128']],
  'mppe.mode': ['stateless', 'prefer-stateless', 'prefer-stateful', 'stateful'],
  'ppp.lcpEchoInterval': [0, 30, 3600, 3601, -1],
  'ppp.lcpEchoFailure': [0, 1, 4, 100, 101],
  'ppp.mru': [575, 576, 1500, 1501, null],
  'dataPlane.threads': [1, 8, 9, 0, 'auto', 'all'],
  'pptp.echoInterval': [0, 1, 60, 3601],
  'pptp.maxCalls': [0, 1, 65000, 65001],
  'radius.servers': [[], [{ address: '127.0.0.1', secret: 's' }], [{ address: '127.0.0.1' }], [{ address: 'radius.example', secret: 's' }], [{ address: '127.0.0.1', secret: 's', extra: 1 }], {}],
  'radius.timeout': [0, 0.1, 3, 60, 61],
  'radius.tries': [0, 1, 10, 11],
  'radius.deadTime': [0, 60, 3601],
  'radius.statusInterval': [0, 10, 3601],
  'radius.requireMessageAuthenticator': [true, false],
  'radius.nasIdentifier': ['portico', '', 'x'.repeat(254)],
  'radius.nasIpAddress': IPS,
  'radius.interimInterval': [0, 300, 86401],
  'radius.accounting': [true, false],
  'radius.accountingRetryMax': [0, 1, 60, 3601],
  'radius.das': [{ secret: 's' }, { secret: '' }, { listen: '0.0.0.0', port: 3799, secret: 's', clients: ['10.0.0.1'] }, { clients: ['x'] }, null],
  'admin.listen': ['127.0.0.1:8080', '0.0.0.0:443', '[::1]:8080', 'localhost:1', 'x', '127.0.0.1', '999.1.1.1:80'],
  'admin.enabled': [true, false],
  'admin.tls': [{ cert: 'c', key: 'k' }, { cert: '' }, null],
  'admin.metricsUsernames': [true, false],
  'log.level': ['info', 'debug', 'verbose', 5],
  bogus: [1, 'x', {}],
  'tun.bogus': [1],
} as Record<string, readonly unknown[]>).concat([['__proto__', [{ polluted: true }, 5]]]);
const MENU = new Map(MENU_ENTRIES);
const KEYS = MENU_ENTRIES.map(([k]) => k);

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = doc;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null || Array.isArray(o[p])) Object.defineProperty(o, p, { value: {}, enumerable: true, writable: true, configurable: true });
    o = o[p] as Record<string, unknown>;
  }
  Object.defineProperty(o, parts[parts.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

/** YAML's own corners, as raw text. */
const RAW_DOCS: readonly string[] = [
  'pool: &p { start: 10.0.0.10, end: 10.0.0.20 }\ntun: { address: 10.0.0.1 }\ndns: [*p]\n',
  'base: &b { mtu: 1400 }\ntun:\n  <<: *b\n  name: pptp1\n',
  'port: !!str 1723\n',
  'port: 0x6bb\n',
  'port: 1_723\n',
  'mppe: { keyLengths: [!!float 128] }\n',
  'tun: !!binary aGVsbG8=\n',
  'dns: !!set { 1.1.1.1, 8.8.8.8 }\n',
  'listen: !custom 1.2.3.4\n',
  'port: 1723\nport: 1724\n',
  '---\nport: 1\n---\nport: 2\n',
  'a: &a [*a]\n',
  `${'['.repeat(200)}${']'.repeat(200)}\n`,
  'x: &x [1, 2]\ny: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\nz: [*y, *y, *y, *y, *y, *y, *y, *y, *y, *y]\nw: [*z, *z, *z, *z, *z, *z, *z, *z, *z, *z]\n',
  '\ufeffport: 1723\n',
  'port:\t1723\n',
  '~\n',
  '[]\n',
  '"just a string"\n',
  '__proto__: { listen: 1.2.3.4 }\n',
  'constructor: { prototype: { x: 1 } }\n',
  'log: { level: .nan }\n',
  'tun: { mtu: .inf }\n',
  'pool: { start: 10.99.0.10, end: 10.99.0.10 }\ntun: { address: 10.99.0.10 }\n',
  'auth: { backend: radius }\n',
  'admin: { listen: "0.0.0.0:8443" }\n',
  '? [complex, key]\n: value\n',
  'port: 1723 # comment\n# only a comment\n',
  '%YAML 1.1\n---\nport: 0o3273\nmppe: { required: yes }\n',
];

function generateDoc(rng: Prng): string {
  if (rng.chance(0.2)) return rng.pick(RAW_DOCS);
  const doc: Record<string, unknown> = {};
  for (let n = rng.small(6); n >= 0; n--) {
    const key = rng.pick(KEYS);
    setPath(doc, key, rng.pick(MENU.get(key)!));
  }
  try {
    return stringify(doc, { collectionStyle: rng.chance(0.3) ? 'flow' : 'block' });
  } catch {
    return '{}\n';
  }
}

let dir = '';
let file = '';
let ordinal = 0;

function checkAccepted(c: PorticoConfig): void {
  // Through JSON (as a dump of the running config would go): -0 comes back as 0, which is the same setting.
  const again = validateConfig(JSON.parse(JSON.stringify(c)));
  check(JSON.stringify(again) === JSON.stringify(c), 'an accepted configuration does not validate to itself');
  const start = parseIpv4(c.pool.start);
  const end = parseIpv4(c.pool.end);
  const tun = parseIpv4(c.tun.address);
  check(start <= end, 'accepted a pool that runs backwards');
  check(tun < start || tun > end, 'accepted a tunnel address inside the pool');
  check(!NEVER_ALLOWED.some((n) => start <= lastAddress(n.network) && end >= n.network.address), 'accepted a pool that overlaps an address never given to a client');
  for (const range of c.pool.allowedStaticRanges) parseNetwork(range); // throws (a finding) if one slipped through
  check(c.auth.backend === 'local' || c.radius.servers.length > 0, 'accepted a RADIUS backend without servers');
  const host = c.admin.listen.replace(/:\d+$/, '');
  const loopback = host === 'localhost' || host.startsWith('127.') || host === '[::1]';
  check(!c.admin.enabled || loopback || c.admin.tls !== undefined, 'accepted a non-loopback console without TLS');
}

/** loadConfig's verdict on a file: the config, or the ConfigError's key list; anything else is a finding. */
function viaFile(text: Buffer): { config: PorticoConfig } | { error: ConfigError } {
  const path = `${file}.${ordinal++ % 2}`;
  writeFileSync(path, text);
  try {
    return { config: loadConfig(path).config };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new InvariantError(`loadConfig threw ${describeError(err)} (only ConfigError allowed)`);
    return { error: err };
  }
}

function viaDocument(doc: unknown): { config: PorticoConfig } | { error: ConfigError } {
  try {
    return { config: validateConfig(doc, 'fuzz') };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new InvariantError(`validateConfig threw ${describeError(err)} (only ConfigError allowed)`);
    return { error: err };
  }
}

function describe(r: { config: PorticoConfig } | { error: ConfigError }): string {
  if ('config' in r) {
    checkAccepted(r.config);
    return 'accepted';
  }
  const m = r.error.message;
  if (/is not valid YAML/.test(m)) return 'ConfigError: not YAML';
  const lines = m.split('\n');
  check(/ is invalid:$/.test(lines[0]!) && lines.length >= 2 && /^ {2}[^:]+: .+/.test(lines[1]!), () => `ConfigError message does not name a key: ${JSON.stringify(m.slice(0, 200))}`);
  const keys = lines
    .slice(1)
    .filter((l) => /^ {2}[^:]+: /.test(l))
    .map((l) => l.trim().split(':')[0]!.split('.')[0]);
  return `ConfigError: ${[...new Set(keys)].sort().slice(0, 2).join(',')}${keys.length > 2 ? ',…' : ''}`;
}

let savedEmitWarning: typeof process.emitWarning = process.emitWarning;

export const configTarget: FuzzTarget = {
  name: 'config',
  maxInputLength: 2000,
  knownBugs: [],

  setup() {
    // tmpfs when there is one: a write+read on ext4 cost more than the YAML parse.
    dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'portico-fuzz-config-'));
    file = join(dir, 'portico.yaml');
    // yaml reports unresolved tags through process.emitWarning: thousands of lines, and slow.
    savedEmitWarning = process.emitWarning;
    process.emitWarning = (() => {}) as typeof process.emitWarning;
  },
  teardown() {
    process.emitWarning = savedEmitWarning;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  },

  seedInputs() {
    const yaml = [
      'listen: 198.18.0.1\ntun: { name: pptp0, address: 198.18.100.1 }\npool: { start: 198.18.100.10, end: 198.18.100.200 }\ndns: [198.18.100.53, 198.18.100.54]\nauth:\n  backend: radius-then-local\n  protocols: [mschapv2, mschap]\nradius:\n  servers:\n    - { address: 127.0.0.1, secret: testing123 }\n  das: { secret: das-secret }\nmppe: { required: true, keyLengths: [128], mode: stateless }\n',
    ].map((t) => Buffer.concat([Buffer.from([0]), Buffer.from(t, 'utf8')]));
    const json = [
      {},
      { tun: { address: '10.0.0.1' }, pool: { start: '10.0.0.10', end: '10.0.0.20' }, dns: ['10.0.0.53'] },
      { auth: { backend: 'radius', protocols: ['mschapv2', 'pap'] }, radius: { servers: [{ address: '127.0.0.1', secret: 's' }], das: { secret: 'd' } } },
      { admin: { listen: '0.0.0.0:8443', tls: { cert: '/c.pem', key: '/k.pem' } }, log: { level: 'debug' }, ppp: { lcpEchoInterval: 10, mru: 1400 } },
      { mppe: { required: false, keyLengths: [40, 128], mode: 'prefer-stateful' }, dataPlane: { threads: 2 }, pptp: { maxCalls: 10 } },
      { listen: '198.18.0.1', port: 1723, tun: { name: 'pptp1', mtu: 1400, queueLength: 4096 }, wins: ['10.99.0.54'] },
      { radius: { servers: [{ address: '127.0.0.1', secret: 's', authPort: 18121 }], timeout: 0.5, tries: 2, nasIpAddress: '198.18.0.1', interimInterval: 300 } },
    ];
    return [...yaml, ...json.map((d) => Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(d), 'utf8')]))];
  },

  generate(rng) {
    // Mode octet: low three bits 0 = YAML text through loadConfig and a file (few: YAML parsing costs
    // ~5x the schema); otherwise a JSON document straight to validateConfig.
    if (rng.chance(0.05)) return Buffer.concat([Buffer.from([rng.byte() & 0xf8]), Buffer.from(generateDoc(rng), 'utf8')]);
    const doc: Record<string, unknown> = {};
    for (let n = rng.small(6); n >= 0; n--) {
      const key = rng.pick(KEYS);
      setPath(doc, key, rng.pick(MENU.get(key)!));
    }
    return Buffer.concat([Buffer.from([(rng.chance(1 / 32) ? 0xf8 : 0) | (1 + rng.int(7))]), Buffer.from(JSON.stringify(doc), 'utf8')]);
  },

  run(input) {
    if (input.length === 0) return 'empty';
    const text = input.subarray(1);
    if ((input[0]! & 7) === 0) return `yaml ${describe(viaFile(text))}`;
    let doc: unknown;
    try {
      doc = JSON.parse(text.toString('utf8'));
    } catch {
      return 'not JSON';
    }
    const direct = viaDocument(doc);
    const label = describe(direct);
    // JSON is YAML 1.2: now and then the same text through the file path must agree.
    if ((input[0]! & 0xf8) === 0xf8) {
      const viaYaml = viaFile(text);
      if (!('error' in viaYaml && /is not valid YAML/.test(viaYaml.error.message))) {
        check(
          'config' in direct === 'config' in viaYaml,
          () => `JSON text: validateConfig ${'config' in direct ? 'accepts' : 'refuses'} it, loadConfig ${'config' in viaYaml ? 'accepts' : 'refuses'} it`,
        );
        if ('config' in direct && 'config' in viaYaml)
          check(JSON.stringify(direct.config) === JSON.stringify(viaYaml.config), 'JSON text: loadConfig and validateConfig give different configurations');
      }
    }
    return `json ${label}`;
  },
};
