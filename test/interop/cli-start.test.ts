// Start-up as an operator meets it (root: network namespaces; the server's refusals come before the
// TUN, so only the two-instance, host-warning and npm start cases open one): a second instance on the
// same TUN name or data directory, an unreadable console certificate, a data directory a non-root user
// cannot write, a non-root start (capabilities), `portico doctor` and the same host checks at start
// (IP forwarding off, no DNS, no route, a firewall dropping GRE, a pool outside the tunnel network),
// and SIGTERM to `npm start` (the server must not be left running as an orphan). Each refusal and
// warning is checked as the exact lines. Own namespace: portico-cli-t, with net.ipv4.ip_forward=0.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from './Lab.js';

const NS = 'portico-cli-t';
const NOBODY = 65534;
const root = mkdtempSync(join(tmpdir(), 'portico-cli-t-'));
chmodSync(root, 0o755); // readable by the non-root case
const started: ChildProcess[] = [];
/** Servers found by PID (npm's child): ended by PID should a case fail half-way. */
const serverPids: number[] = [];

beforeAll(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  expect(spawnSync('ip', ['netns', 'add', NS]).status).toBe(0);
  expect(spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']).status).toBe(0);
  // Per namespace (a new one starts at 0 anyway): the host checks must see it off.
  expect(spawnSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']).status).toBe(0);
});
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of serverPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(root, { recursive: true, force: true });
});

let files = 0;
function config(extra: Record<string, unknown> = {}): { file: string; dataDir: string } {
  const dir = join(root, `s${++files}`);
  mkdirSync(dir, { mode: 0o755 });
  const dataDir = join(dir, 'data');
  const file = join(dir, 'portico.yaml');
  // Ports of its own: a failed case must not hold the next one's.
  const base = {
    listen: '127.0.0.1',
    port: 17230 + files,
    admin: { listen: `127.0.0.1:${18080 + files}` },
    dataDir,
    tun: { name: 'ptcli0', address: '198.18.120.1' },
    pool: { start: '198.18.120.10', end: '198.18.120.20' },
    dataPlane: { threads: 1 },
  };
  writeFileSync(file, JSON.stringify({ ...base, ...extra }), { mode: 0o644 });
  return { file, dataDir };
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(cmd: string, args: string[], cwd = REPO): Run {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** `portico serve` in the namespace; `ip netns exec` execs it, so child.pid is the server's. */
const serve = (file: string) => run('ip', ['netns', 'exec', NS, process.execPath, CLI, 'serve', '--config', file]);

async function until(what: string, test: () => boolean, ms: number, r?: Run): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${r ? `:\n${r.stdout()}${r.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The capability check's finding for a user without any (server/HostChecks.ts). */
const missingCapabilities = (uid: number) =>
  `CAP_NET_ADMIN and CAP_NET_RAW are missing (uid ${uid}): Portico cannot create its TUN or open its raw GRE socket; fix: run it as root, or grant CAP_NET_ADMIN CAP_NET_RAW (systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; docker --cap-add NET_ADMIN --cap-add NET_RAW)`;

const ready = (r: Run) => r.stdout().includes('"msg":"Portico ready"');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const tunExists = (name: string) => spawnSync('ip', ['-n', NS, 'link', 'show', name]).status === 0;

describe('portico serve start-up', () => {
  it('one instance per TUN name and per data directory: the second exits with one line naming the first', async () => {
    const first = config();
    const a = serve(first.file);
    await until('the first instance', () => ready(a) || a.child.exitCode !== null, 20_000);
    expect(ready(a)).toBe(true);
    const pid = a.child.pid!;

    const sameTun = config();
    const b = serve(sameTun.file);
    expect(await b.exited).toBe(2);
    expect(b.stderr()).toBe(
      `portico: config: ${sameTun.file} (--config)\nportico: tun.name ptcli0 is in use by another Portico (PID ${pid}, dataDir ${first.dataDir}); stop it or give this instance another tun.name\n`,
    );
    // Refused before its data directory was touched.
    expect(existsSync(sameTun.dataDir)).toBe(false);

    const sameDir = join(root, `s${++files}.yaml`);
    writeFileSync(
      sameDir,
      JSON.stringify({
        listen: '127.0.0.1',
        port: 17299,
        admin: { listen: '127.0.0.1:18099' },
        dataDir: first.dataDir,
        tun: { name: 'ptcli1', address: '198.18.121.1' },
        pool: { start: '198.18.121.10', end: '198.18.121.20' },
      }),
    );
    const c = serve(sameDir);
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toBe(
      `portico: config: ${sameDir} (--config)\nportico: dataDir ${first.dataDir} is in use by another Portico (PID ${pid}, ${first.dataDir}/portico.pid); stop it or give this instance another dataDir\n`,
    );
    expect(tunExists('ptcli1')).toBe(false);
    expect(a.child.exitCode).toBe(null);

    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(existsSync(join(first.dataDir, 'portico.pid'))).toBe(false);
    // Free again: the same TUN name and data directory start.
    const again = serve(first.file);
    await until('the restarted instance', () => ready(again) || again.child.exitCode !== null, 20_000);
    expect(ready(again)).toBe(true);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('an unreadable console certificate refuses the start before the TUN exists', async () => {
    const { file } = config({
      tun: { name: 'ptcli2', address: '198.18.122.1' },
      pool: { start: '198.18.122.10', end: '198.18.122.20' },
      admin: { tls: { cert: `${root}/none.pem`, key: `${root}/none.key` } },
    });
    const r = serve(file);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toBe(`portico: config: ${file} (--config)\nportico: admin.tls.cert: cannot read ${root}/none.pem (no such file); fix the path or set admin.enabled: false\n`);
    expect(tunExists('ptcli2')).toBe(false);
  });

  it('a port in use or an address not of this host refuses the start before the TUN exists', async () => {
    const tun = { name: 'ptcli4', address: '198.18.124.1' };
    const pool = { start: '198.18.124.10', end: '198.18.124.20' };
    const taken = config({ tun, pool });
    const port = 17230 + files;
    const holder = run('ip', ['netns', 'exec', NS, process.execPath, '-e', `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('listening'))`]);
    await until('the port holder', () => holder.stdout().includes('listening'), 5000);
    const clash = serve(taken.file);
    expect(await clash.exited).toBe(2);
    expect(clash.stderr()).toBe(`portico: config: ${taken.file} (--config)\nportico: port: 127.0.0.1:${port} is in use by another program (another PPTP server or Portico?)\n`);
    holder.child.kill('SIGTERM');
    expect(tunExists('ptcli4')).toBe(false);

    const elsewhere = config({ tun, pool, listen: '198.18.0.1' });
    const r = serve(elsewhere.file);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toBe(`portico: config: ${elsewhere.file} (--config)\nportico: listen: 198.18.0.1 is not an address of this host (EADDRNOTAVAIL)\n`);
    expect(tunExists('ptcli4')).toBe(false);
  });

  it('a data directory a non-root user cannot create or write names the path', async () => {
    const parent = join(root, 'root-owned');
    mkdirSync(parent, { mode: 0o755 });
    const uncreatable = config({ dataDir: join(parent, 'portico') });
    const asNobody = (...args: string[]) => run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...args], root);
    const list = asNobody('user', 'list', '--config', uncreatable.file);
    expect(await list.exited).toBe(2);
    const line = `portico: dataDir ${parent}/portico cannot be created (EACCES: permission denied): run Portico as root or as the owner of its parent, or set dataDir to a directory this user may write`;
    expect(list.stderr()).toBe(`portico: config: ${uncreatable.file} (--config)\n${line}\n`);
    // serve names what is missing first: without CAP_NET_ADMIN and CAP_NET_RAW no data directory would help.
    const serveAsNobody = run('ip', ['netns', 'exec', NS, 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, 'serve', '--config', uncreatable.file], root);
    expect(await serveAsNobody.exited).toBe(2);
    expect(serveAsNobody.stderr()).toBe(`portico: config: ${uncreatable.file} (--config)\nportico: capabilities: ${missingCapabilities(NOBODY)}\n`);

    const readOnly = join(root, 'read-only');
    mkdirSync(readOnly, { mode: 0o500 });
    chownSync(readOnly, NOBODY, NOBODY);
    const unwritable = config({ dataDir: readOnly });
    const r = asNobody('user', 'list', '--config', unwritable.file);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toBe(
      `portico: config: ${unwritable.file} (--config)\nportico: dataDir ${readOnly} is not writable (EACCES: permission denied): give its owner (uid ${NOBODY}) write permission on it\n`,
    );
  });

  it("SIGTERM to `npm start` stops the server: it is npm's child, not an orphan holding the ports and the TUN", async () => {
    const { file, dataDir } = config({ tun: { name: 'ptcli3', address: '198.18.123.1' }, pool: { start: '198.18.123.10', end: '198.18.123.20' } });
    const npm = run('ip', ['netns', 'exec', NS, 'npm', 'start', '--', '--config', file]);
    await until('npm start', () => ready(npm) || npm.child.exitCode !== null, 90_000);
    expect(ready(npm), `${npm.stdout()}${npm.stderr()}`).toBe(true);
    const serverPid = Number(readFileSync(join(dataDir, 'portico.pid'), 'utf8').split(' ')[0]);
    serverPids.push(serverPid);
    expect(serverPid).not.toBe(npm.child.pid);
    const stat = readFileSync(`/proc/${serverPid}/stat`, 'utf8');
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])).toBe(npm.child.pid); // the parent is npm, no shell between

    npm.child.kill('SIGTERM');
    await npm.exited;
    await until('the server to exit', () => !alive(serverPid), 10_000);
    expect(npm.stdout()).toMatch(/"signal":"SIGTERM".*"msg":"shutting down"/);
    expect(tunExists('ptcli3')).toBe(false);
  }, 120_000);
});

describe('portico doctor and the same checks at start', () => {
  const tun = { name: 'ptcli5', address: '198.18.125.1' };
  const pool = { start: '198.18.125.10', end: '198.18.125.20' };
  const doctor = (file: string) => run('ip', ['netns', 'exec', NS, process.execPath, CLI, 'doctor', '--config', file]);
  const nftInstalled = spawnSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin command -v nft']).status === 0;
  const iptablesInstalled = spawnSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin command -v iptables-save']).status === 0;
  const WARNINGS = {
    ipForward: {
      msg: 'ip-forward: net.ipv4.ip_forward is 0: clients reach this server and nothing behind it',
      fix: 'sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf)',
    },
    route: { msg: "route: no route besides ptcli5's: clients reach this server and nothing behind it", fix: 'ip route add NETWORK/N via GATEWAY (the network behind this server), or a default route' },
    dns: { msg: 'dns: no DNS server for clients (dns is empty): clients connect and cannot resolve names', fix: 'set dns: [A.B.C.D] (the resolver clients should use)' },
    gre: {
      msg: 'firewall: IP protocol 47 (GRE) is dropped by nft rule "meta l4proto gre drop" (inet portico_doc input): clients connect, then time out in LCP',
      fix: 'nft insert rule inet portico_doc input meta l4proto gre accept',
    },
  };
  const line = (status: string, w: { msg: string; fix: string }) => `${status.padEnd(8)}${w.msg}; fix: ${w.fix}`;

  beforeAll(() => {
    // A firewall in the namespace that drops GRE (when nft is there to set one up and read it back).
    if (nftInstalled) {
      const rules = 'table inet portico_doc {\n chain input {\n  type filter hook input priority filter; policy accept;\n  tcp dport 1723 accept\n  meta l4proto gre drop\n }\n}\n';
      expect(spawnSync('ip', ['netns', 'exec', NS, 'sh', '-c', 'PATH=$PATH:/usr/sbin:/sbin nft -f -'], { input: rules }).status).toBe(0);
    }
  });

  it('as root with ip_forward=0, no DNS, no route: doctor prints every check, the warnings with their fix; exit 0', async () => {
    const { file, dataDir } = config({ tun, pool });
    const r = doctor(file);
    expect(await r.exited).toBe(0);
    // Without nft there is no rule dropping GRE: iptables-save finds nothing, and without either nothing is inspected.
    const firewall = nftInstalled
      ? line('warning', WARNINGS.gre)
      : iptablesInstalled
        ? 'ok      firewall: no rule or policy of iptables drops 1723/tcp or IP protocol 47 (GRE)'
        : `unknown firewall: could not inspect (nft: not installed; iptables-save: not installed): make sure 1723/tcp and IP protocol 47 (GRE) reach this host; fix: allow 1723/tcp and IP protocol 47 (GRE) in toward this host in every firewall on the way`;
    expect(r.stdout()).toBe(
      [
        'ok      capabilities: CAP_NET_ADMIN and CAP_NET_RAW present',
        'ok      tun-device: /dev/net/tun opens',
        'ok      raw-gre: a raw socket for IP protocol 47 (GRE) opens',
        line('warning', WARNINGS.ipForward),
        firewall,
        line('warning', WARNINGS.route),
        line('warning', WARNINGS.dns),
        'ok      pool: pool 198.18.125.10-198.18.125.20 lies in the tunnel network 198.18.125.0/27 of tun.address 198.18.125.1',
        `ok      instance: no other Portico on tun.name ptcli5 or dataDir ${dataDir}`,
        `ok      data-dir: ${dataDir} will be created (${dirname(dataDir)} is writable)`,
        `0 fatal, ${nftInstalled ? 4 : 3} warning(s), ${nftInstalled || iptablesInstalled ? 0 : 1} not inspected`,
        '',
      ].join('\n'),
    );
    expect(r.stderr()).toBe(`portico: config: ${file} (--config)\n`);
    // Nothing was touched: no TUN, no data directory.
    expect(tunExists('ptcli5')).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('the server starts with the same warnings as log lines (key and fix); doctor then names it as another instance', async () => {
    const { file, dataDir } = config({ tun, pool });
    const s = serve(file);
    await until('the server', () => ready(s) || s.child.exitCode !== null, 20_000, s);
    expect(ready(s)).toBe(true);
    const warnings = s
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"check"'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; check: string; setting: string; fix: string })
      .filter((l) => l.level === 40)
      .map(({ msg, fix, setting }) => ({ msg, fix, setting }));
    expect(warnings).toEqual([
      { ...WARNINGS.ipForward, setting: 'net.ipv4.ip_forward' },
      ...(nftInstalled ? [{ ...WARNINGS.gre, setting: 'firewall' }] : []),
      { ...WARNINGS.route, setting: 'routes' },
      { ...WARNINGS.dns, setting: 'dns' },
    ]);
    const again = doctor(file);
    expect(await again.exited).toBe(1);
    expect(again.stdout()).toContain(
      `fatal   instance: tun.name ptcli5 is in use by another Portico (PID ${s.child.pid}, dataDir ${dataDir}); stop it or give this instance another tun.name; dataDir ${dataDir} is in use by another Portico (PID ${s.child.pid}, ${dataDir}/portico.pid); stop it or give this instance another dataDir\n`,
    );
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 30_000);

  it('a pool outside the tunnel network: doctor and serve stop at the configuration, naming the key', async () => {
    const { file } = config({ tun: { name: 'ptcli6', address: '198.18.126.1' }, pool: { start: '198.19.126.10', end: '198.19.126.20' } });
    const expected = `portico: config: ${file} (--config)\nportico: ${file}: pool: 198.19.126.10-198.19.126.20 lies outside tun.address 198.18.126.1's /16: together they span 198.18.0.0/15, all of it routed into the tunnel; put the pool next to tun.address\n`;
    for (const r of [doctor(file), serve(file)]) {
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toBe(expected);
    }
    expect(tunExists('ptcli6')).toBe(false);
  });

  it('as a user without capabilities: doctor names what is missing (exit 1); serve refuses with that line', async () => {
    const uid = Number(spawnSync('id', ['-u', 'tester'], { encoding: 'utf8' }).stdout.trim());
    const { file } = config({ tun, pool });
    const asTester = (verb: string) => run('ip', ['netns', 'exec', NS, 'su', 'tester', '-s', '/bin/sh', '-c', `'${process.execPath}' '${CLI}' ${verb} --config '${file}'`], root);
    const d = asTester('doctor');
    expect(await d.exited).toBe(1);
    const lines = d.stdout().split('\n');
    expect(lines[0]).toBe(`fatal   capabilities: ${missingCapabilities(uid)}`);
    expect(lines[2]).toBe(
      'fatal   raw-gre: cannot open a raw socket for IP protocol 47 (GRE): openRawGre(0.0.0.0): EPERM (socket SOCK_RAW IPPROTO_GRE: Operation not permitted); fix: run Portico as root or with CAP_NET_RAW',
    );
    const s = asTester('serve');
    expect(await s.exited).toBe(2);
    expect(s.stderr()).toBe(`portico: config: ${file} (--config)\nportico: capabilities: ${missingCapabilities(uid)}\n`);
    expect(tunExists('ptcli5')).toBe(false);
  });
});
