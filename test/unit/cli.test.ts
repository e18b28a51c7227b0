// The `portico` command line (server/CommandLine.ts), in-process with fake streams: help and version,
// usage mistakes (one line + usage, exit 2), config discovery and the line that names the choice,
// config errors as the user reads them (exact lines), the user commands' checks (the store's, as the
// REST API's) and the password sources.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { UserStore } from '../../aaa/UserStore.js';
import { addressPolicyFor } from '../../config/AddressPolicy.js';
import { chooseConfig, type PorticoConfig, SYSTEM_CONFIG, validateConfig } from '../../config/PorticoConfig.js';
import { ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';
import { type CliIo, runCli } from '../../server/CommandLine.js';
import type { HostCheckResult } from '../../server/HostChecks.js';
import type { PasswordInputStream } from '../../server/PasswordInput.js';

const root = mkdtempSync(join(tmpdir(), 'portico-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

/** A config file in a fresh directory (its dataDir there too unless the text sets one). */
function configFile(text: string): { file: string; dataDir: string } {
  const dir = join(root, `c${++files}`);
  const dataDir = join(dir, 'data');
  const file = join(root, `c${files}.yaml`);
  writeFileSync(file, /^dataDir:/m.test(text) ? text : `dataDir: ${dataDir}\n${text}`);
  return { file, dataDir };
}

function stdinOf(text: string | null, tty = false): PasswordInputStream & { modes: boolean[] } {
  const s = new PassThrough() as unknown as PasswordInputStream & { modes: boolean[] };
  s.modes = [];
  if (tty) {
    s.isTTY = true;
    s.setRawMode = (mode: boolean) => s.modes.push(mode);
  }
  if (text !== null) (s as unknown as PassThrough).write(text);
  if (!tty) (s as unknown as PassThrough).end();
  return s;
}

async function portico(argv: string[], options: { stdin?: PasswordInputStream; env?: NodeJS.ProcessEnv; exists?: (p: string) => boolean; hostChecks?: HostCheckResult[] } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const served: Array<{ config: PorticoConfig; source: string }> = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    stdin: options.stdin ?? stdinOf(''),
    env: options.env ?? {},
    exists: options.exists ?? (() => false),
    serve: async (config, source) => {
      served.push({ config, source });
    },
    checkHost: async (config) => {
      served.push({ config, source: 'doctor' });
      return options.hostChecks ?? [];
    },
  };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(''), stderr: err.join(''), served };
}

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await portico(['--version'])).toMatchObject({ code: 0, stdout: `portico ${pkg.version}\n`, stderr: '' });
  });

  it('help lists every command and the discovery order', async () => {
    const r = await portico(['help']);
    expect(r.code).toBe(0);
    for (const line of [
      '  portico serve [--config FILE]',
      '  portico user add NAME [--ip A.B.C.D] [--password-stdin | --password PW] [--config FILE]',
      '  portico user set NAME [--ip A.B.C.D | --no-ip] [--enable | --disable] [--config FILE]',
      '  portico admin passwd [NAME] [--password-stdin | --password PW] [--config FILE]',
      '  portico --version',
      'Configuration: --config FILE, else $PORTICO_CONFIG, else /etc/portico/portico.yaml, else ./portico.yaml,',
    ]) {
      expect(r.stdout.split('\n')).toContain(line);
    }
  });

  it('help VERB and VERB --help show the command with its options', async () => {
    const byHelp = await portico(['help', 'user', 'add']);
    const byFlag = await portico(['user', 'add', '--help']);
    expect(byHelp.stdout).toBe(byFlag.stdout);
    const lines = byHelp.stdout.split('\n');
    expect(lines[0]).toBe('usage: portico user add NAME [--ip A.B.C.D] [--password-stdin | --password PW] [--config FILE]');
    expect(lines).toContain('      --password-stdin  read the password from standard input (one line)');
    expect((await portico(['help', 'user'])).stdout).toMatch(/^ {2}portico user del NAME \[--config FILE\]$/m);
  });
});

describe('portico doctor', () => {
  const ok: HostCheckResult = { check: 'tun-device', status: 'ok', setting: '/dev/net/tun', message: '/dev/net/tun opens' };
  const warning: HostCheckResult = {
    check: 'dns',
    status: 'warning',
    setting: 'dns',
    message: 'no DNS server for clients (dns is empty): clients connect and cannot resolve names',
    fix: 'set dns: [A.B.C.D] (the resolver clients should use)',
  };
  const fatal: HostCheckResult = {
    check: 'raw-gre',
    status: 'fatal',
    setting: 'capabilities',
    message: 'cannot open a raw socket for IP protocol 47 (GRE): EPERM',
    fix: 'run Portico as root or with CAP_NET_RAW',
  };

  it('one line per check with what to fix, then the count; exit 1 only when one is fatal', async () => {
    const { file } = configFile('dns: []\n');
    const fine = await portico(['doctor', '--config', file], { hostChecks: [ok, warning] });
    expect(fine).toMatchObject({
      code: 0,
      stderr: `portico: config: ${file} (--config)\n`,
      stdout: [
        'ok      tun-device: /dev/net/tun opens',
        'warning dns: no DNS server for clients (dns is empty): clients connect and cannot resolve names; fix: set dns: [A.B.C.D] (the resolver clients should use)',
        '0 fatal, 1 warning(s), 0 not inspected',
        '',
      ].join('\n'),
    });
    expect(fine.served[0]!.config.dns).toEqual([]); // the checks get the chosen configuration
    const broken = await portico(['doctor', '--config', file], { hostChecks: [ok, fatal] });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe(
      'ok      tun-device: /dev/net/tun opens\nfatal   raw-gre: cannot open a raw socket for IP protocol 47 (GRE): EPERM; fix: run Portico as root or with CAP_NET_RAW\n1 fatal, 0 warning(s), 0 not inspected\n',
    );
  });

  it('is in the help, and a configuration error stops it like any command', async () => {
    expect((await portico(['help'])).stdout.split('\n')).toContain('  portico doctor [--config FILE]');
    expect((await portico(['help', 'doctor'])).stdout).toMatch(/^usage: portico doctor \[--config FILE\]\ncheck this host for the server \(\/dev\/net\/tun, capabilities,/);
    const { file } = configFile('dns: 198.18.100.53\n');
    const r = await portico(['doctor', '--config', file]);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: `portico: config: ${file} (--config)\nportico: ${file}: dns: expected a list, got string "198.18.100.53" (write [198.18.100.53])\n` });
    expect(r.served).toEqual([]);
  });
});

describe('usage mistakes: one line, then the usage; exit 2; nothing read or written', () => {
  const cases: Array<[string[], string]> = [
    [['frob'], "portico: unknown command 'frob'"],
    [['user', 'frob'], "portico: unknown user command 'frob'"],
    [['user', 'list', '--ip', '10.99.0.9'], 'portico: user list: unknown option --ip'],
    [['user', 'add', 'alice', '--frob'], 'portico: user add: unknown option --frob'],
    [['user', 'add'], 'portico: user add: NAME is required'],
    [['user', 'add', 'alice', 'bob'], "portico: user add: unexpected argument 'bob'"],
    [['user', 'add', 'alice', '--ip'], 'portico: user add: --ip needs a value'],
    [['user', 'set', 'alice', '--enable', '--disable'], 'portico: user set: --enable and --disable exclude each other'],
    [['user', 'set', 'alice', '--ip', '10.99.0.9', '--no-ip'], 'portico: user set: --ip and --no-ip exclude each other'],
    [['user', 'add', 'alice', '--password', 'pw', '--password-stdin'], 'portico: user add: --password-stdin and --password exclude each other'],
    [['user', 'set', 'alice'], 'portico: user set: nothing to change (--ip, --no-ip, --enable or --disable)'],
  ];
  for (const [argv, line] of cases) {
    it(argv.join(' '), async () => {
      const { file, dataDir } = configFile('');
      const r = await portico([...argv, '--config', file]);
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n');
      expect(lines[0]).toBe(line);
      expect(lines[1]).toMatch(/^usage:/);
      expect(r.stdout).toBe('');
      expect(() => readFileSync(join(dataDir, 'portico.db'))).toThrow(/ENOENT/);
    });
  }
});

describe('config discovery', () => {
  const all = () => true;
  it('--config, then PORTICO_CONFIG, then /etc/portico/portico.yaml, then ./portico.yaml, else the embedded defaults', () => {
    expect(chooseConfig('x.yaml', { PORTICO_CONFIG: 'env.yaml' }, all)).toEqual({ path: 'x.yaml', from: '--config' });
    expect(chooseConfig(undefined, { PORTICO_CONFIG: 'env.yaml' }, all)).toEqual({ path: 'env.yaml', from: 'PORTICO_CONFIG' });
    expect(chooseConfig(undefined, {}, all)).toEqual({ path: SYSTEM_CONFIG, from: 'system file' });
    expect(chooseConfig(undefined, {}, (p) => p === 'portico.yaml')).toEqual({ path: 'portico.yaml', from: 'current directory' });
    expect(chooseConfig(undefined, {}, () => false)).toEqual({ path: null, from: 'no file found' });
  });

  it('every command names its choice on stderr; a named file that is missing is an error, not a fallback', async () => {
    const { file } = configFile('');
    const viaEnv = await portico(['user', 'list'], { env: { PORTICO_CONFIG: file } });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stderr).toBe(`portico: config: ${file} (PORTICO_CONFIG)\n`);
    const missing = join(root, 'nowhere.yaml');
    const r = await portico(['user', 'list'], { env: { PORTICO_CONFIG: missing }, exists: () => true });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`portico: config: ${missing} (PORTICO_CONFIG)\nportico: cannot read ${missing}: no such file\n`);
  });

  it('serve gets the chosen configuration', async () => {
    const { file } = configFile('tun: { name: ptest9 }\n');
    const r = await portico(['serve'], { env: { PORTICO_CONFIG: file } });
    expect(r.code).toBe(0);
    expect(r.served.map((s) => [s.source, s.config.tun.name])).toEqual([[file, 'ptest9']]);
  });
});

describe('config errors: one line per key, exit 2, no stack trace', () => {
  const cases: Array<[string, string, string]> = [
    [
      'an address with a prefix length',
      'tun: { address: 10.99.0.1/24 }\n',
      `tun.address: "10.99.0.1/24" is not an IPv4 address: write it without /N (the TUN's prefix is the smallest network holding tun.address and the pool)`,
    ],
    ['a string where a list is expected', 'dns: 198.18.100.53\n', 'dns: expected a list, got string "198.18.100.53" (write [198.18.100.53])'],
    [
      'a pool outside the TUN prefix',
      'pool: { start: 10.200.0.10, end: 10.200.0.20 }\n',
      "pool: 10.200.0.10-10.200.0.20 lies outside tun.address 10.99.0.1's /16: together they span 10.0.0.0/8, all of it routed into the tunnel; put the pool next to tun.address",
    ],
    ['an unknown key inside a section', 'tun: { name: pptp0, adress: 10.99.0.1 }\n', 'tun.adress: unknown key (known here: name, address, mtu, queueLength)'],
    ['a number as a string', 'port: "1723x"\n', 'port: expected a number, got string "1723x"'],
  ];
  for (const [what, text, problem] of cases) {
    it(what, async () => {
      const { file } = configFile(text);
      const r = await portico(['serve', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`portico: config: ${file} (--config)\nportico: ${file}: ${problem}\n`);
      expect(r.served).toEqual([]);
    });
  }

  it('an unknown top-level key', async () => {
    const { file } = configFile('bogus: 1\n');
    const r = await portico(['user', 'list', '--config', file]);
    expect(r.stderr.split('\n')[1]).toBe(
      `portico: ${file}: bogus: unknown key (known here: listen, port, dataDir, serverName, shutdownTimeout, tun, pool, dns, wins, auth, mppe, ppp, dataPlane, pptp, radius, admin, network, log)`,
    );
  });

  it('YAML that does not parse: the file and the position', async () => {
    const { file } = configFile('tun: { name: [\n');
    const r = await portico(['user', 'list', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(3);
    expect(r.stderr.split('\n')[1]).toMatch(new RegExp(`^portico: ${file} is not valid YAML: .* at line \\d+, column \\d+:$`));
  });

  it('a data directory that is a file names the path', async () => {
    const { file } = configFile(`dataDir: ${root}/c1.yaml\n`);
    const r = await portico(['user', 'list', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[1]).toBe(`portico: data directory ${root}/c1.yaml is not a directory`);
  });
});

describe('user commands', () => {
  it('refuse what the REST API refuses, naming the field (exit 1)', async () => {
    const { file } = configFile('');
    const add = (name: string, password: string, ...more: string[]) => portico(['user', 'add', name, '--password-stdin', ...more, '--config', file], { stdin: stdinOf(`${password}\n`) });
    expect((await add('a b', 'long enough')).stderr.split('\n')[1]).toBe('portico: user name: 1-64 characters, no spaces, slashes, backslashes or colons');
    expect((await add('ann', '')).stderr.split('\n')[1]).toBe('portico: password: at least 8 characters (auth.minPasswordLength)');
    expect((await add('ann', 'seven77')).stderr.split('\n')[1]).toBe('portico: password: at least 8 characters (auth.minPasswordLength)');
    expect((await add('ann', 'x'.repeat(257))).stderr.split('\n')[1]).toBe('portico: password: at most 256 characters (RFC 2759)');
    const ip = await add('ann', 'long enough', '--ip', '10.1.2');
    expect(ip).toMatchObject({ code: 1 });
    expect(ip.stderr.split('\n')[1]).toBe('portico: static address: "10.1.2" is not an IPv4 address');
    expect(await add('ann', 'long enough')).toMatchObject({ code: 0, stdout: 'user ann added\n' });
    expect((await add('ANN', 'long enough')).stderr.split('\n')[1]).toBe('portico: user ANN already exists');
    const missing = await portico(['user', 'passwd', 'nobody', '--config', file]);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr.split('\n')[1]).toBe('portico: no user nobody');
  });

  it('auth.minPasswordLength sets the shortest password the store takes', async () => {
    const { file } = configFile('auth: { minPasswordLength: 4 }\n');
    const add = (name: string, password: string) => portico(['user', 'add', name, '--password-stdin', '--config', file], { stdin: stdinOf(`${password}\n`) });
    expect(await add('ann', 'four')).toMatchObject({ code: 0, stdout: 'user ann added\n' });
    const short = await add('bea', 'two');
    expect(short.code).toBe(1);
    expect(short.stderr.split('\n')[1]).toBe('portico: password: at least 4 characters (auth.minPasswordLength)');
  });

  it('a password too short at the prompt is refused before it is asked again', async () => {
    const { file } = configFile('');
    const r = await portico(['user', 'add', 'hal', '--config', file], { stdin: stdinOf('short\rshort\r', true) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`portico: config: ${file} (--config)\nNew password for hal: \nportico: password: at least 8 characters (auth.minPasswordLength)\n`);
    expect((await portico(['user', 'list', '--config', file])).stdout).toBe('');
  });

  it('--password-stdin takes one line; more is refused', async () => {
    const { file, dataDir } = configFile('');
    expect(await portico(['user', 'add', 'bob', '--password-stdin', '--config', file], { stdin: stdinOf('pass word\r\n') })).toMatchObject({ code: 0 });
    const two = await portico(['user', 'passwd', 'bob', '--password-stdin', '--config', file], { stdin: stdinOf('one\ntwo\n') });
    expect(two.code).toBe(1);
    expect(two.stderr.split('\n')[1]).toBe('portico: --password-stdin: standard input holds more than one line');
    const users = new UserStore(dataDir, addressPolicyFor(validateConfig({}), []));
    expect(users.find('bob')?.ntHash).toEqual(ntPasswordHash('pass word'));
    users.close();
  });

  it('on a terminal the password is asked twice without echo (Backspace works)', async () => {
    const { file, dataDir } = configFile('');
    const stdin = stdinOf('s3cr\u007fret-word\rs3cret-word\r', true);
    const r = await portico(['user', 'add', 'carol', '--config', file], { stdin });
    expect(r).toMatchObject({ code: 0, stdout: 'user carol added\n' });
    expect(r.stderr).toBe(`portico: config: ${file} (--config)\nNew password for carol: \nAgain: \n`);
    expect(stdin.modes).toEqual([true, false, true, false]);
    const users = new UserStore(dataDir, addressPolicyFor(validateConfig({}), []));
    expect(users.find('carol')?.ntHash).toEqual(ntPasswordHash('s3cret-word'));
    users.close();
  });

  it('two different answers at the prompt change nothing', async () => {
    const { file } = configFile('');
    const r = await portico(['user', 'add', 'dave', '--config', file], { stdin: stdinOf('first-try\rsecond-try\r', true) });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').at(-2)).toBe('portico: the two passwords differ');
    expect((await portico(['user', 'list', '--config', file])).stdout).toBe('');
  });

  it('no terminal and no --password-stdin: refused with what to do', async () => {
    const { file } = configFile('');
    const r = await portico(['user', 'add', 'erin', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[1]).toBe('portico: no password: give --password-stdin, or run on a terminal to be asked');
  });

  it('--password still works and warns that ps shows it', async () => {
    const { file } = configFile('');
    const r = await portico(['user', 'add', 'fay', '--password', 'on the command line', '--config', file]);
    expect(r).toMatchObject({ code: 0, stdout: 'user fay added\n' });
    expect(r.stderr.split('\n')[1]).toBe('portico: warning: --password is visible to every local user (ps, /proc); use --password-stdin or the prompt');
  });

  it('set, list --json and del', async () => {
    const { file } = configFile('');
    await portico(['user', 'add', 'gil', '--password', 'long enough', '--config', file]);
    expect(await portico(['user', 'set', 'gil', '--disable', '--ip', '10.99.0.77', '--config', file])).toMatchObject({ code: 0, stdout: 'user gil updated\n' });
    const list = JSON.parse((await portico(['user', 'list', '--json', '--config', file])).stdout) as Array<{ name: string; staticAddress: string; enabled: boolean }>;
    expect(list).toMatchObject([{ name: 'gil', staticAddress: '10.99.0.77', enabled: false }]);
    expect(await portico(['user', 'del', 'gil', '--config', file])).toMatchObject({ code: 0, stdout: 'user gil deleted\n' });
    expect(await portico(['user', 'del', 'gil', '--config', file])).toMatchObject({ code: 1 });
  });
});
