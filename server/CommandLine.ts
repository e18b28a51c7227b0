// The `portico` command line: the contract operators and tools drive the server with. Every command
// says on standard error which configuration it uses (so `portico user add` never writes another
// store unnoticed); usage mistakes, configuration errors and start-up refusals are one line and exit 2.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UserStore, UserStoreError } from '../aaa/UserStore.js';
import { addressPolicyFor, interfaceAddresses } from '../config/AddressPolicy.js';
import { DataDirectoryError, secureDataDirectory } from '../config/DataDirectory.js';
import { formatIpv4 } from '../config/Ipv4.js';
import { SchemaTooNewError } from '../config/SchemaMigrations.js';
import { ConfigError, chooseConfig, loadConfig, type PorticoConfig, SYSTEM_CONFIG } from '../config/PorticoConfig.js';
import type { HostCheckResult } from './HostChecks.js';
import { type PasswordInputStream, PasswordInputError, promptNewPassword, readPasswordFromStdin } from './PasswordInput.js';
import { BackupError, restoreBackup, writeBackup } from './Backup.js';
import { StartupRefusal } from './StartupChecks.js';

/** What a command reads and writes; the process's own by default, fakes in tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdin: PasswordInputStream;
  env: NodeJS.ProcessEnv;
  /** File existence, for config discovery. */
  exists(path: string): boolean;
  /** `portico serve` (server/main.ts runServer). */
  serve(config: PorticoConfig, source: string): Promise<void>;
  /** `portico doctor`: every host check (server/HostChecks.ts) on this host. */
  checkHost(config: PorticoConfig): Promise<HostCheckResult[]>;
}

type OptionName = 'config' | 'password' | 'password-stdin' | 'ip' | 'no-ip' | 'enable' | 'disable' | 'json' | 'help' | 'version';

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in help (string options). */
  value?: string;
  help: string;
}

const OPTIONS: Record<OptionName, OptionSpec> = {
  config: { type: 'string', short: 'c', value: 'FILE', help: 'the configuration file (see "Configuration" below)' },
  password: { type: 'string', value: 'PW', help: 'the password on the command line: visible to every local user in ps; prefer the prompt or --password-stdin' },
  'password-stdin': { type: 'boolean', help: 'read the password from standard input (one line)' },
  ip: { type: 'string', value: 'A.B.C.D', help: 'a static tunnel address for this user' },
  'no-ip': { type: 'boolean', help: 'no static address: one from the pool' },
  enable: { type: 'boolean', help: 'the user may log in' },
  disable: { type: 'boolean', help: 'the user may not log in (their live sessions end when the server notices)' },
  json: { type: 'boolean', help: 'one JSON array instead of tab-separated lines' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', short: 'V', help: "Portico's version" },
};

interface Command {
  name: string;
  /** Positional arguments in usage; NAME required unless in brackets. */
  args: string;
  summary: string;
  options: OptionName[];
  /** Reads the configuration (and says which). */
  configured: boolean;
}

const PASSWORD_OPTIONS: OptionName[] = ['password-stdin', 'password'];

const COMMANDS: Command[] = [
  { name: 'serve', args: '', summary: 'run the server (root: TUN, raw GRE socket)', options: ['config'], configured: true },
  { name: 'user add', args: 'NAME', summary: 'add a VPN user; without --password(-stdin) the password is asked at the terminal', options: ['ip', ...PASSWORD_OPTIONS, 'config'], configured: true },
  { name: 'user del', args: 'NAME', summary: 'delete a VPN user', options: ['config'], configured: true },
  { name: 'user list', args: '', summary: 'list the VPN users: name, static address or "pool", enabled, created', options: ['json', 'config'], configured: true },
  { name: 'user passwd', args: 'NAME', summary: "change a VPN user's password (asked at the terminal without --password(-stdin))", options: [...PASSWORD_OPTIONS, 'config'], configured: true },
  { name: 'user set', args: 'NAME', summary: "change a VPN user's static address or whether they may log in", options: ['ip', 'no-ip', 'enable', 'disable', 'config'], configured: true },
  {
    name: 'admin passwd',
    args: '[NAME]',
    summary: "set a console account's password (NAME defaults to admin; created when absent); without --password(-stdin) a random one is printed",
    options: [...PASSWORD_OPTIONS, 'config'],
    configured: true,
  },
  {
    name: 'doctor',
    args: '',
    summary:
      'check this host for the server (/dev/net/tun, capabilities, raw GRE socket, IP forwarding, firewall, route or NAT, DNS, pool, another instance, data directory), changing nothing: one line each, ok, warning, fatal or unknown, with what to fix; exit 1 when one is fatal. serve runs the same checks at start',
    options: ['config'],
    configured: true,
  },
  {
    name: 'backup',
    args: 'FILE',
    summary:
      'write a consistent copy of every database of dataDir (users, console, accounting queue) to FILE, a tar archive readable only by its owner; safe while the server runs (run it as the owner of dataDir)',
    options: ['config'],
    configured: true,
  },
  { name: 'restore', args: 'FILE', summary: "replace dataDir's databases with those of a backup FILE (checked whole first); refused while the server runs", options: ['config'], configured: true },
  { name: 'help', args: '[COMMAND]', summary: 'this help, or one command with its options', options: [], configured: false },
];

const GROUPS = ['user', 'admin'];

/** Options that exclude each other, shown as [--a | --b]. */
const EXCLUSIVE: ReadonlyArray<readonly [OptionName, OptionName]> = [
  ['enable', 'disable'],
  ['ip', 'no-ip'],
  ['password-stdin', 'password'],
];

function usageLine(c: Command): string {
  const shown = (o: OptionName) => `--${o}${OPTIONS[o].value ? ` ${OPTIONS[o].value}` : ''}`;
  const options: string[] = [];
  for (const o of c.options) {
    const pair = EXCLUSIVE.find(([a, b]) => (a === o || b === o) && c.options.includes(a) && c.options.includes(b));
    if (!pair) options.push(`[${shown(o)}]`);
    else if (pair[0] === o) options.push(`[${shown(pair[0])} | ${shown(pair[1])}]`);
  }
  return ['portico', c.name, c.args, ...options].filter(Boolean).join(' ');
}

const DISCOVERY = `Configuration: --config FILE, else $PORTICO_CONFIG, else ${SYSTEM_CONFIG}, else ./portico.yaml,
else the embedded defaults; every command says on standard error which one it uses.`;

export function usage(): string {
  return `usage:\n${COMMANDS.map((c) => `  ${usageLine(c)}`).join('\n')}\n  portico --version\n${DISCOVERY}`;
}

function commandHelp(c: Command): string {
  const width = Math.max(...c.options.map((o) => `--${o}${OPTIONS[o].value ? ` ${OPTIONS[o].value}` : ''}`.length), 0);
  const lines = c.options.map((o) => {
    const spec = OPTIONS[o];
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${o}${spec.value ? ` ${spec.value}` : ''}`;
    return `  ${left.padEnd(width + 6)}${spec.help}`;
  });
  const exclusive = [
    c.options.includes('enable') ? '--enable and --disable exclude each other; so do --ip and --no-ip.' : '',
    c.options.includes('password-stdin') ? '--password and --password-stdin exclude each other.' : '',
  ].filter(Boolean);
  return [`usage: ${usageLine(c)}`, c.summary, ...(lines.length ? ['options:', ...lines] : []), ...exclusive, ...(c.configured ? [DISCOVERY] : [])].join('\n');
}

function groupHelp(group: string): string {
  return `usage:\n${COMMANDS.filter((c) => c.name.startsWith(`${group} `))
    .map((c) => `  ${usageLine(c)}\n      ${c.summary}`)
    .join('\n')}\n"portico help ${group} COMMAND" shows one with its options.`;
}

/** Portico's version, from the package.json above this module (dist/server or server/). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'portico' && pkg.version) return pkg.version;
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** A usage mistake: one line, then the usage it concerns; exit 2. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
  }
}

const ALL_OPTIONS = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type, ...(v.short ? { short: v.short } : {}) }]));

/** The command the positionals name ("user add"), or a UsageError. */
function findCommand(positionals: string[]): { command: Command | null; group: string | null; rest: string[] } {
  const [verb, sub] = positionals;
  if (verb === undefined) return { command: null, group: null, rest: [] };
  if (GROUPS.includes(verb)) {
    if (sub === undefined) return { command: null, group: verb, rest: [] };
    const command = COMMANDS.find((c) => c.name === `${verb} ${sub}`);
    if (!command) throw new UsageError(`unknown ${verb} command '${sub}'`, groupHelp(verb));
    return { command, group: verb, rest: positionals.slice(2) };
  }
  const command = COMMANDS.find((c) => c.name === verb);
  if (!command) throw new UsageError(`unknown command '${verb}'`, usage());
  return { command, group: null, rest: positionals.slice(1) };
}

/** Runs one command line; resolves with the exit code (serve resolves once the server runs). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    return report(err, io);
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  // First pass: which command, whatever the options' order (`portico --config F user add x`).
  const first = parseArgs({ args: argv, allowPositionals: true, strict: false, options: ALL_OPTIONS });
  const { command, group, rest } = findCommand(first.positionals);
  if (first.values.version && !command) {
    io.stdout(`portico ${version()}\n`);
    return 0;
  }
  if (!command) {
    io.stdout(`${group ? groupHelp(group) : usage()}\n`);
    return 0;
  }
  if (command.name === 'help') return help(rest, io);
  // Second pass: only this command's options.
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: Record<string, { type: 'string' | 'boolean'; short?: string }> }>>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: Object.fromEntries([...command.options, 'help'].map((o) => [o, ALL_OPTIONS[o]!])) as Record<string, { type: 'string' | 'boolean'; short?: string }>,
    });
  } catch (err) {
    throw new UsageError(parseArgsProblem(err, command), commandHelp(command));
  }
  const values = parsed.values as Partial<Record<OptionName, string | boolean>>;
  if (values.help) {
    io.stdout(`${commandHelp(command)}\n`);
    return 0;
  }
  const name = rest[0];
  const required = command.args !== '' && !command.args.startsWith('[');
  if (required && name === undefined) throw new UsageError(`${command.name}: ${command.args} is required`, commandHelp(command));
  const maxArgs = command.args === '' ? 0 : 1;
  if (rest.length > maxArgs) throw new UsageError(`${command.name}: unexpected argument '${rest[maxArgs]}'`, commandHelp(command));
  for (const [a, b] of EXCLUSIVE) {
    if (values[a] !== undefined && values[b] !== undefined) throw new UsageError(`${command.name}: --${a} and --${b} exclude each other`, commandHelp(command));
  }
  if (command.name === 'user set' && ['ip', 'no-ip', 'enable', 'disable'].every((o) => values[o as OptionName] === undefined)) {
    throw new UsageError('user set: nothing to change (--ip, --no-ip, --enable or --disable)', commandHelp(command));
  }

  const choice = chooseConfig(values.config as string | undefined, io.env, io.exists);
  io.stderr(`portico: config: ${choice.path ?? 'embedded defaults'} (${choice.from})\n`);
  const { config, source } = loadConfig(choice.path ?? undefined);
  if (command.name === 'serve') {
    await io.serve(config, source);
    return 0;
  }
  if (command.name === 'doctor') {
    const results = await io.checkHost(config);
    const { formatHostCheck } = await import('./HostChecks.js');
    for (const r of results) io.stdout(`${formatHostCheck(r)}\n`);
    const count = (status: string) => results.filter((r) => r.status === status).length;
    io.stdout(`${count('fatal')} fatal, ${count('warning')} warning(s), ${count('unknown')} not inspected\n`);
    return count('fatal') > 0 ? 1 : 0;
  }
  // A backup reads the data directory: one that is not there is a mistaken configuration, not one to create.
  if (command.name === 'backup' && !existsSync(config.dataDir)) throw new BackupError(`dataDir ${config.dataDir} does not exist: nothing to back up`);
  // Before the user or admin database opens: the directory private, new files 0600 (serve does it in runServer).
  secureDataDirectory(config.dataDir, { warn: (_fields, message) => io.stderr(`portico: warning: ${message}\n`) });
  if (command.name === 'backup' || command.name === 'restore') return backupCommand(command.name, name!, config, io);
  if (values.password !== undefined) io.stderr('portico: warning: --password is visible to every local user (ps, /proc); use --password-stdin or the prompt\n');

  if (command.name === 'admin passwd') {
    const password = values['password-stdin'] ? await readPasswordFromStdin(io.stdin) : (values.password as string | undefined);
    const { runAdminCommand } = await import('../admin/AdminCli.js');
    return runAdminCommand(config, 'passwd', name, password);
  }
  return userCommand(command.name, name, values, config, io);
}

async function userCommand(command: string, name: string | undefined, values: Partial<Record<OptionName, string | boolean>>, config: PorticoConfig, io: CliIo): Promise<number> {
  const users = openUserStore(config);
  try {
    switch (command) {
      case 'user add': {
        // The REST API's checks: the store's (name, password length, static address) after the API's normalisation.
        const password = await passwordFor(name!, values, io, users);
        users.add(name!, password, values.ip as string | undefined);
        io.stdout(`user ${name} added\n`);
        return 0;
      }
      case 'user del':
        users.delete(name!);
        io.stdout(`user ${name} deleted\n`);
        return 0;
      case 'user passwd':
        if (!users.find(name!)) throw new UserStoreError('name', `no user ${name}`, 'unknown'); // before asking for a password
        users.setPassword(name!, await passwordFor(name!, values, io, users));
        io.stdout(`password of ${name} changed\n`);
        return 0;
      case 'user set':
        if (values.ip !== undefined) users.setStaticAddress(name!, values.ip as string);
        if (values['no-ip']) users.setStaticAddress(name!, null);
        if (values.enable) users.setEnabled(name!, true);
        if (values.disable) users.setEnabled(name!, false);
        io.stdout(`user ${name} updated\n`);
        return 0;
      default: {
        const list = users.list().map((u) => ({ ...u, staticAddress: u.staticAddress === null ? null : formatIpv4(u.staticAddress) }));
        if (values.json) io.stdout(`${JSON.stringify(list)}\n`);
        else for (const u of list) io.stdout(`${u.name}\t${u.staticAddress ?? 'pool'}\t${u.enabled ? 'enabled' : 'disabled'}\t${u.createdAt}\n`);
        return 0;
      }
    }
  } finally {
    users.close();
  }
}

async function backupCommand(command: 'backup' | 'restore', file: string, config: PorticoConfig, io: CliIo): Promise<number> {
  const list = (files: string[]) => files.join(', ');
  if (command === 'backup') {
    const manifest = writeBackup(config.dataDir, file, version());
    io.stdout(`backup of ${config.dataDir} written to ${file}: ${list(manifest.databases.map((d) => `${d.file} (schema ${d.schemaVersion})`))}\n`);
    return 0;
  }
  const { manifest, restored, kept } = await restoreBackup(config.dataDir, file);
  io.stdout(`restored ${list(restored)} into ${config.dataDir} from ${file} (made ${manifest.createdAt} by Portico ${manifest.portico})\n`);
  if (kept.length > 0) io.stdout(`kept ${list(kept)}: not in the backup\n`);
  return 0;
}

/** The user store of config.dataDir; SQLite's "unable to open database file" gets the path. */
function openUserStore(config: PorticoConfig): UserStore {
  try {
    // --ip is checked against the same address policy as the server's (pool.allowedStaticRanges).
    return new UserStore(config.dataDir, addressPolicyFor(config, interfaceAddresses()), config.auth.minPasswordLength);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('SQLITE_')) throw new DataDirectoryError(`dataDir ${config.dataDir}: cannot open portico.db (${(err as Error).message})`);
    throw err;
  }
}

/** --password, --password-stdin, or the no-echo prompt on a terminal (a password the store would refuse is refused before it is asked again). */
async function passwordFor(user: string, values: Partial<Record<OptionName, string | boolean>>, io: CliIo, users: UserStore): Promise<string> {
  if (typeof values.password === 'string') return values.password;
  if (values['password-stdin']) return readPasswordFromStdin(io.stdin);
  if (!io.stdin.isTTY) throw new PasswordInputError('no password: give --password-stdin, or run on a terminal to be asked');
  return promptNewPassword(io.stdin, io.stderr, user, (password) => users.checkPassword(password));
}

function parseArgsProblem(err: unknown, command: Command): string {
  const e = err as { code?: string; message?: string };
  const option = /'(--?[\w-]+)/.exec(e.message ?? '')?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `${command.name}: unknown option ${option ?? ''}`.trimEnd();
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `${command.name}: ${option ?? 'an option'} ${/argument missing|ambiguous/.test(e.message ?? '') ? 'needs a value' : 'takes no value'}`;
  return `${command.name}: ${e.message ?? String(err)}`;
}

function help(rest: string[], io: CliIo): number {
  if (rest.length === 0) {
    io.stdout(`${usage()}\n`);
    return 0;
  }
  const { command, group } = findCommand(rest);
  io.stdout(`${command ? commandHelp(command) : groupHelp(group!)}\n`);
  return 0;
}

/** One line on standard error for each refusal we know; the exit code says whose mistake it is. */
function report(err: unknown, io: CliIo): number {
  const line = (text: string) => io.stderr(`portico: ${text}\n`);
  if (err instanceof UsageError) {
    line(err.message);
    io.stderr(`${err.help}\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    const source = /^(.*) is invalid:/.exec(err.message)?.[1];
    if (err.problems.length && source) for (const p of err.problems) line(`${source}: ${p.key}: ${p.problem}`);
    else line(err.message);
    return 2;
  }
  if (err instanceof StartupRefusal || err instanceof DataDirectoryError || err instanceof SchemaTooNewError) {
    line(err.message);
    return 2;
  }
  if (err instanceof UserStoreError || err instanceof PasswordInputError || err instanceof BackupError) {
    line(err.message);
    return 1;
  }
  const e = err as Error;
  line(`${e?.message ?? String(err)}${io.env.PORTICO_DEBUG ? `\n${e?.stack ?? ''}` : ' (PORTICO_DEBUG=1 shows where)'}`);
  return 1;
}

/** The process's own streams and files. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: process.stdin as PasswordInputStream,
    env: process.env,
    exists: existsSync,
    serve: async (config, source) => {
      const { runServer } = await import('./main.js');
      await runServer(config, source);
    },
    checkHost: async (config) => {
      const { runHostChecks, systemProbes } = await import('./HostChecks.js');
      return runHostChecks(config, systemProbes());
    },
  };
}
