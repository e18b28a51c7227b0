// The server run the way contrib/systemd/portico.service runs it, where systemd is not PID 1: as the
// user portico (created as README's recipe does), with the unit's ambient and bounding capabilities
// and no new privileges (setpriv), its ExecStart's Node flags, a data directory 0700 owned by that
// user (StateDirectory=), in a namespace of this test (portico-sysd-t, 198.18.126.0/24). It must start,
// open its TUN and its raw GRE socket, serve the console's sign-in page, keep its files private, and
// stop on the unit's KillSignal. This machine's /dev/net/tun is 0600 (no udev; Debian's udev makes it
// 0666, which the unit relies on): the server gets a 0666 node of its own in a private mount namespace.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from './Lab.js';

const NS = 'portico-sysd-t';
const TUN = 'ptsysd0';
const CONSOLE = '127.0.0.1:18071';
const unit = readFileSync(join(REPO, 'contrib/systemd/portico.service'), 'utf8');
const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1] ?? '';
/** "CAP_NET_ADMIN CAP_NET_RAW" as setpriv writes it: "-all,+net_admin,+net_raw". */
const capSet = (list: string) => ['-all', ...list.split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
/** CapEff-style mask of the unit's capabilities (CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_BPF 39). */
const BITS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_BPF: 39 };
const mask = (list: string) => list.split(/\s+/).reduce((m, c) => m | (1n << BigInt(BITS[c]!)), 0n);

const root = mkdtempSync(join(tmpdir(), 'portico-sysd-t-'));
let server: ChildProcess | null = null;
let uid = -1;
let gid = -1;

beforeAll(() => {
  chmodSync(root, 0o755);
  const user = value('User');
  if (spawnSync('id', ['-u', user]).status !== 0) {
    // README's recipe line.
    expect(spawnSync('useradd', ['--system', '--home-dir', '/var/lib/portico', '--no-create-home', '--shell', '/usr/sbin/nologin', user]).status).toBe(0);
  }
  uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout);
  gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout);
  spawnSync('ip', ['netns', 'del', NS]);
  expect(spawnSync('ip', ['netns', 'add', NS]).status).toBe(0);
  expect(spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']).status).toBe(0);
});
afterAll(() => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(root, { recursive: true, force: true });
});

async function until(what: string, test: () => boolean, ms: number, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end || server?.exitCode !== null) throw new Error(`no ${what}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const inNs = (cmd: string[]) => spawnSync('ip', ['netns', 'exec', NS, ...cmd], { encoding: 'utf8' });

describe('the server as the systemd unit runs it', () => {
  it('as user portico with CAP_NET_ADMIN and CAP_NET_RAW only: starts, opens its TUN and raw GRE socket, serves the console, stops on SIGTERM', async () => {
    const dataDir = join(root, 'state');
    mkdirSync(dataDir, { mode: 0o700 }); // StateDirectory=portico, StateDirectoryMode=0700
    chownSync(dataDir, uid, gid);
    const config = join(root, 'portico.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        listen: '127.0.0.1',
        port: 17271,
        admin: { listen: CONSOLE },
        dataDir,
        tun: { name: TUN, address: '198.18.126.1' },
        pool: { start: '198.18.126.10', end: '198.18.126.20' },
        dataPlane: { threads: 1 },
      }),
      { mode: 0o644 },
    );

    // ExecStart with this repository's build and the node running the tests; the configuration by
    // PORTICO_CONFIG, so that the command line stays the unit's.
    const exec = value('ExecStart')
      .split(' ')
      .map((a) => (a === '/opt/node-24/bin/node' ? process.execPath : a === '/opt/portico/dist/server/cli.js' ? CLI : a));
    expect(exec.slice(-1)).toEqual(['serve']);
    const ambient = value('AmbientCapabilities');
    const bounding = value('CapabilityBoundingSet');
    const setpriv = [
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--init-groups',
      `--inh-caps=${capSet(ambient)}`,
      `--ambient-caps=${capSet(ambient)}`,
      `--bounding-set=${capSet(bounding)}`,
      ...(value('NoNewPrivileges') === 'yes' ? ['--no-new-privs'] : []),
      '--',
      ...exec,
    ];
    const devs = join(root, 'dev');
    mkdirSync(devs);
    const script = ['set -e', `mount -t tmpfs -o mode=0755 portico-dev ${devs}`, `mknod -m 0666 ${devs}/tun c 10 200`, `mount --bind ${devs}/tun /dev/net/tun`, `exec ip netns exec ${NS} "$@"`].join(
      '\n',
    );
    server = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...setpriv], {
      cwd: '/',
      env: { ...process.env, PORTICO_CONFIG: config },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stdout!.on('data', (d) => (log += d));
    server.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => server!.once('exit', (code) => r(code)));
    await until(
      'Portico ready',
      () => log.includes('"msg":"Portico ready"'),
      20_000,
      () => log,
    );
    const pid = server.pid!; // unshare, sh, ip netns exec and setpriv each exec the next: this is node

    // The process: user portico, the unit's capabilities and nothing else, no new privileges.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual(exec);
    expect(field('Uid').split(/\s+/)).toEqual([String(uid), String(uid), String(uid), String(uid)]);
    for (const set of ['CapEff', 'CapPrm', 'CapAmb']) expect(BigInt(`0x${field(set)}`)).toBe(mask(ambient));
    expect(BigInt(`0x${field('CapBnd')}`)).toBe(mask(bounding));
    expect(field('NoNewPrivs')).toBe('1');

    // Its TUN, and a raw IP-protocol-47 socket of its user (/proc/net/raw: local port = protocol).
    expect(inNs(['ip', 'link', 'show', TUN]).status).toBe(0);
    const raw = inNs(['cat', '/proc/net/raw'])
      .stdout.split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 7);
    expect(raw.some((f) => f[1]!.endsWith(':002F') && f[7] === String(uid))).toBe(true);

    // The console's sign-in page.
    const page = inNs([process.execPath, '-e', `fetch('http://${CONSOLE}/').then(async (r) => console.log(r.status, (await r.text()).includes('<title>Portico — sign in</title>')))`]);
    expect(page.stdout.trim()).toBe('200 true');

    // Its files: the user's, 0600, in a directory still 0700.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dataDir);
    expect(files).toEqual(expect.arrayContaining(['portico.db', 'admin.db', 'portico.pid']));
    for (const f of files) {
      const st = statSync(join(dataDir, f));
      expect([f, st.uid, st.mode & 0o777]).toEqual([f, uid, 0o600]);
    }

    // KillSignal=SIGTERM: the graceful stop, well within TimeoutStopSec.
    process.kill(pid, value('KillSignal') as NodeJS.Signals);
    expect(await exited).toBe(0);
    expect(log).toContain('"msg":"stopped"');
    expect(inNs(['ip', 'link', 'show', TUN]).status).not.toBe(0);
  }, 60_000);
});
