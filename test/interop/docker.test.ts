// The Docker image (issue 14 item 2), built and run here with the real Linux client of the lab.
// The lab's own dockerd (test/lab/docker/dockerd.sh: its own data root and socket, no bridge, no
// iptables) builds the image from the repository's Dockerfile on a base made here
// (test/lab/docker/base-image.sh: debootstrap + Node 24, imported as node:24-bookworm-slim; no registry
// is reachable), from a clean export of the tree into which a host's node_modules, build/ and dist/ are
// planted: .dockerignore must keep them out. Containers run with --network none and the capabilities
// README gives; the test moves a veth from its own namespace's lab bridge into the container's namespace
// (198.18.0.1), so the client VM reaches it as it would a host-networked container, and nothing runs in
// the root namespace's network. The build alone uses the root namespace's network (npm registry, Debian).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './FreeRadius.js';

process.env.PORTICO_TEST_NETNS ??= 'portico-docker';
const { INTEROP, NETNS, REPO, SERVER_IP, TUN_IP, labDown, runClient } = await import('./Lab.js');

const DOCKER_DIR = join(INTEROP, 'docker');
const IMAGE = 'portico:interop-test';
const VOLUME = 'portico-interop-data';
const NAME = 'portico-interop';
/** The capabilities and device README's `docker run` line gives (never --privileged). */
const LEAST = ['--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--device', '/dev/net/tun'];
/**
 * BPF (multi-thread steering) where the engine knows the capability: Docker 23 and later. Docker 20.10
 * (Debian 12's docker.io) refuses `--cap-add BPF` ("unknown capability"); the data plane runs on one thread.
 */
let engineBpf = false;
const leastCaps = () => (engineBpf ? [...LEAST, '--cap-add', 'BPF'] : LEAST);
const RUN_DIR = mkdtempSync(join(tmpdir(), 'portico-it-docker-'));

interface Engine {
  docker: string;
  host: string;
  pid: number;
  /** This run started the daemon (and stops it by its PID at the end). */
  started: boolean;
}

/** The lab's dockerd, installed (docker.io) and started when needed; null with the reason when impossible. */
function startEngine(): Engine | string {
  const r = spawnSync('bash', [join(DOCKER_DIR, 'dockerd.sh'), 'start'], { encoding: 'utf8' });
  if (r.status !== 0) return `no container engine: ${(r.stderr || r.stdout).trim().split('\n').pop()}`;
  const value = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(r.stdout)?.[1] ?? '';
  return { docker: value('DOCKER'), host: value('DOCKER_HOST'), pid: Number(value('DOCKERD_PID')), started: value('STARTED') === '1' };
}

const engine = startEngine();
if (typeof engine === 'string') console.log(`docker image test skipped: ${engine}`);
const ready = typeof engine !== 'string';
const ENGINE = engine as Engine;

function run(cmd: string, args: string[], input?: string, env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, DOCKER: ENGINE.docker, DOCKER_HOST: ENGINE.host, DOCKER_BUILDKIT: '0', ...env },
    ...(input ? { input } : {}),
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}
const docker = (...args: string[]) => run(ENGINE.docker, args);
const dockerQuiet = (...args: string[]) => spawnSync(ENGINE.docker, args, { env: { ...process.env, DOCKER_HOST: ENGINE.host }, stdio: 'ignore' });

type LogLine = Record<string, unknown>;
/** The container's log: the server's JSON lines (standard output) and the command line's own lines (standard error). */
function containerLogs(name: string): { lines: LogLine[]; stderr: string } {
  const { stdout, stderr } = docker('logs', name);
  return {
    lines: stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine),
    stderr,
  };
}

const pidOf = (name: string) => Number(docker('inspect', '-f', '{{.State.Pid}}', name).stdout.trim());

let veths = 0;
/** The container's namespace gets a veth on our lab bridge, named eth0 there, with 198.18.0.1/24. */
function plugIntoLab(name: string): number {
  const pid = pidOf(name);
  const outside = `pd-br${veths}`;
  const inside = `pd-ct${veths++}`;
  run('ip', ['-n', NETNS, 'link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
  run('ip', ['-n', NETNS, 'link', 'set', outside, 'master', 'lab-br0', 'up']);
  run('ip', ['-n', NETNS, 'link', 'set', inside, 'netns', String(pid)]);
  const inNs = (...args: string[]) => run('nsenter', ['-t', String(pid), '-n', 'ip', ...args]);
  inNs('link', 'set', inside, 'name', 'eth0');
  inNs('addr', 'add', `${SERVER_IP}/24`, 'dev', 'eth0');
  inNs('link', 'set', 'eth0', 'up');
  return pid;
}

/** docker run -d with README's capabilities, our volume and, unless `config` is null, a mounted configuration. */
function startContainer(name: string, options: { config: string | null; caps?: string[]; volume?: string }): void {
  docker(
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'none',
    ...(options.caps ?? leastCaps()),
    '-v',
    `${options.volume ?? VOLUME}:/var/lib/portico`,
    ...(options.config ? ['-v', `${options.config}:/etc/portico/portico.yaml:ro`] : []),
    IMAGE,
  );
}

const readyLine = (name: string) => containerLogs(name).lines.find((l) => l.msg === 'Portico ready');

/** GET on the console from inside the container's network namespace (it listens on its 127.0.0.1:8080). */
function consoleGet(pid: number, path: string): { status: number; body: string } {
  const script = `const r = await fetch('http://127.0.0.1:8080${path}'); console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const { stdout } = run('nsenter', ['-t', String(pid), '-n', process.execPath, '--input-type=module', '-e', script]);
  return JSON.parse(stdout) as { status: number; body: string };
}

const health = (name: string) => docker('inspect', '-f', '{{.State.Health.Status}}', name).stdout.trim();

/** The kept console of the client VM: its pppd log and the syslog lines of pptp-linux. */
function clientLogs(keep: string): { pppd: string; pptp: string } {
  const text = readFileSync(join(keep, 'console.txt'), 'utf8');
  const section = (name: string) => new RegExp(`^@@PPTPLAB-LOG-BEGIN ${name}@@\\n([\\s\\S]*?)^@@PPTPLAB-LOG-END@@`, 'm').exec(text)?.[1] ?? '';
  return { pppd: section('pppd.0'), pptp: section('pptp') };
}

describe.skipIf(!ready)('Docker image: built from a clean tree on a local base, run with the least capabilities, the real client through it', () => {
  let context = '';

  beforeAll(async () => {
    run('bash', [join(INTEROP, 'build-vm.sh'), '--quiet']);
    // Our namespace and bridge; the bridge's own address is not the server's: the container owns 198.18.0.1.
    run('bash', [join(INTEROP, 'lab-net.sh'), 'up'], undefined, { LAB_NETNS: NETNS, LAB_WAN_ADDR: '198.18.0.254/24' });
    for (const n of [NAME, `${NAME}-2`, `${NAME}-defaults`]) dockerQuiet('rm', '-f', n);
    dockerQuiet('volume', 'rm', VOLUME, `${VOLUME}-defaults`);

    run('bash', [join(DOCKER_DIR, 'base-image.sh')]);

    // A clean tree (what git tracks, and new files not ignored), plus what a developer's tree holds and
    // the image must not: node_modules, build/ (a host-built addon), dist/, .git, test-output.
    context = join(RUN_DIR, 'context');
    const files = run('git', ['-C', REPO, 'ls-files', '-co', '--exclude-standard']).stdout.split('\n').filter(Boolean);
    for (const f of files) {
      try {
        cpSync(join(REPO, f), join(context, f));
      } catch {
        // deleted in the working tree
      }
    }
    const plant = (path: string, content: string) => {
      mkdirSync(join(context, path, '..'), { recursive: true });
      writeFileSync(join(context, path), content);
    };
    plant('node_modules/.host-marker', 'host node_modules');
    plant('build/Release/portico_io.node', 'host-built addon');
    plant('dist/.host-marker', 'host dist');
    plant('.git/HEAD', 'ref: refs/heads/host\n');
    plant('test-output/.host-marker', 'host test output');

    const t0 = Date.now();
    const build = run(ENGINE.docker, ['build', '--force-rm', '--network', 'host', '-t', IMAGE, context]);
    const buildS = (Date.now() - t0) / 1000;
    const sent = /Sending build context to Docker daemon\s+(\S+)/.exec(build.stdout)?.[1];
    const steps = (build.stdout.match(/^Step \d+\/\d+ :/gm) ?? []).length;
    const cached = (build.stdout.match(/Using cache/g) ?? []).length;
    const size = Number(docker('image', 'inspect', '-f', '{{.Size}}', IMAGE).stdout.trim());
    console.log(`docker build: ${buildS.toFixed(1)} s (${cached} of ${steps} steps from the cache), context ${sent}, image ${(size / 1e6).toFixed(0)} MB`);
    // Untagged images of older builds, a week old: the build stage's images are untagged too and are the
    // build cache, so the recent ones stay.
    dockerQuiet('image', 'prune', '-f', '--filter', 'until=168h');
    engineBpf = dockerQuiet('run', '--rm', '--network', 'none', '--cap-add', 'BPF', '--entrypoint', 'true', IMAGE).status === 0;
    console.log(`engine: ${docker('version', '-f', '{{.Server.Version}}').stdout.trim()}, --cap-add BPF ${engineBpf ? 'accepted' : 'refused (unknown capability): one data-plane thread'}`);
  }, 1_800_000);

  afterAll(() => {
    if (!ready) return;
    for (const n of [NAME, `${NAME}-2`, `${NAME}-defaults`]) dockerQuiet('rm', '-f', n);
    dockerQuiet('volume', 'rm', VOLUME, `${VOLUME}-defaults`);
    try {
      labDown();
    } finally {
      rmSync(RUN_DIR, { recursive: true, force: true });
      if (ENGINE.started) run('bash', [join(DOCKER_DIR, 'dockerd.sh'), 'stop']);
    }
  });

  it('the image holds what it built itself: none of the planted host node_modules, build/, dist/, .git or test-output; `portico` on the PATH', () => {
    const { stdout } = docker(
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      IMAGE,
      '-c',
      'cd /app; echo "LS $(ls -A | tr "\\n" " ")"; for f in node_modules/.host-marker dist/.host-marker .git test-output; do [ -e "$f" ] && echo "LEAKED $f"; done; ' +
        'head -c 4 build/Release/portico_io.node | od -An -c | tr -d " "; ' +
        'command -v portico; portico --version',
    );
    expect(stdout).not.toContain('LEAKED');
    expect(stdout).toContain('LS admin-ui build dist node_modules package.json \n');
    // The addon is the ELF object node-gyp built in the image, not the planted text.
    expect(stdout).toMatch(/^177ELF$/m);
    expect(stdout).toContain('/usr/local/bin/portico');
    expect(stdout).toMatch(/^portico \d+\.\d+\.\d+$/m);
  });

  it('no configuration mounted: embedded defaults, the console answers, healthy; without BPF multi-thread steering is refused in one line; a second container on the same volume is refused', async () => {
    const name = `${NAME}-defaults`;
    // No veth: the defaults' 10.99.0.0/24 stays in the container's own empty namespace.
    startContainer(name, { config: null, caps: LEAST, volume: `${VOLUME}-defaults` });
    const ready = await until('Portico ready', () => readyLine(name), 30_000);
    const { lines, stderr } = containerLogs(name);
    expect(stderr).toContain('portico: config: embedded defaults (no file found)');
    expect(lines.find((l) => l.msg === 'Portico starting')).toMatchObject({ config: 'embedded defaults', dataDir: '/var/lib/portico' });
    expect(ready).toMatchObject({ tun: 'pptp0', address: '10.99.0.1/24', pool: { start: '10.99.0.10', end: '10.99.0.250' }, dataPlaneThreads: 1 });
    const refused = lines.filter((l) => String(l.msg).startsWith('TUN steering refused'));
    if (availableParallelism() > 1) {
      expect(refused).toHaveLength(1);
      expect(refused[0]!.msg).toContain('CAP_BPF');
      expect(JSON.stringify(refused[0])).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
      console.log(`without BPF: ${JSON.stringify(refused[0])}`);
    }
    const page = consoleGet(pidOf(name), '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<form id="login-form"');
    await until('healthy', () => health(name) === 'healthy', 40_000);

    // A second container on the same volume: PID 1 in a PID namespace of its own and a network namespace
    // of its own (no TUN name to share), so only the data directory's kernel lock can refuse it.
    const host = docker('inspect', '-f', '{{.Config.Hostname}}', name).stdout.trim();
    const t0 = Date.now();
    const secondName = `${name}-second`;
    const second = spawnSync(ENGINE.docker, ['run', '--rm', '--name', secondName, '--network', 'none', ...LEAST, '-v', `${VOLUME}-defaults:/var/lib/portico`, IMAGE], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_HOST: ENGINE.host },
      timeout: 60_000,
    });
    dockerQuiet('rm', '-f', secondName); // one that started (the refusal missing) must not outlive the test
    expect(second.status, second.stderr).toBe(2);
    expect(second.stderr).toContain(
      `portico: dataDir /var/lib/portico is in use by another Portico (PID 1 on host ${host}, /var/lib/portico/portico.pid); stop it or give this instance another dataDir`,
    );
    expect(health(name)).toBe('healthy');
    console.log(`a second container on the same volume: refused in ${Date.now() - t0} ms (docker run included), the first still healthy`);
    docker('rm', '-f', name);
  }, 150_000);

  it('the real client connects through the container, pings; docker stop: LCP Terminate-Request and Call-Disconnect-Notify; a new container on the same volume keeps the user', async () => {
    const config = join(RUN_DIR, 'portico.yaml');
    // JSON is YAML. The lab's tunnel addresses; two data-plane threads, which need BPF (steering).
    writeFileSync(config, JSON.stringify({ tun: { address: TUN_IP }, pool: { start: '198.18.100.10', end: '198.18.100.200' }, dns: ['198.18.100.53'], dataPlane: { threads: 2 } }));
    startContainer(NAME, { config });
    const pid = plugIntoLab(NAME);
    const ready = await until('Portico ready', () => readyLine(NAME), 30_000);
    // Two threads need the steering program, which needs BPF; without it, one line and one thread.
    expect(ready).toMatchObject({ address: `${TUN_IP}/24`, dataPlaneThreads: engineBpf ? 2 : 1 });
    expect(containerLogs(NAME).lines.filter((l) => String(l.msg).startsWith('TUN steering refused'))).toHaveLength(engineBpf ? 0 : 1);
    expect(containerLogs(NAME).stderr).toContain('portico: config: /etc/portico/portico.yaml (system file)');
    const added = run(ENGINE.docker, ['exec', '-i', NAME, 'portico', 'user', 'add', 'dockeruser', '--password-stdin'], 'docker pass 1\n');
    expect(added.stdout).toBe('user dockeruser added\n');
    // The server (PID 1) holds exactly those capabilities: CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_BPF (39) where given.
    const capEff = /^CapEff:\s+([0-9a-f]+)$/m.exec(docker('exec', NAME, 'cat', '/proc/1/status').stdout)?.[1];
    expect(BigInt(`0x${capEff}`)).toBe((1n << 12n) | (1n << 13n) | (engineBpf ? 1n << 39n : 0n));
    expect(added.stderr).toContain('portico: config: /etc/portico/portico.yaml (system file)');
    expect(consoleGet(pid, '/').status).toBe(200);
    const healthy = until('healthy', () => health(NAME) === 'healthy', 40_000);

    const keep = join(RUN_DIR, 'client-1');
    const client = runClient(['--user', 'dockeruser', '--password', 'docker pass 1', '--pings', '5', '--hold', '12', '--keep', keep]);
    const up = await until('session up', () => containerLogs(NAME).lines.find((l) => l.msg === 'session up'), 90_000);
    expect(up).toMatchObject({ user: 'dockeruser' });
    await new Promise((r) => setTimeout(r, 5000)); // the client's 5 pings (0.2 s apart)
    await healthy;
    const t0 = Date.now();
    docker('stop', NAME);
    const stopMs = Date.now() - t0;
    const r = await client;
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    expect(r.local_ip).toMatch(/^198\.18\.100\.\d+$/);
    expect(r.remote_ip).toBe(TUN_IP);

    // The graceful stop: SIGTERM reached node (PID 1), which ended the session and exited 0 within docker stop's 10 s.
    expect(docker('inspect', '-f', '{{.State.ExitCode}}', NAME).stdout.trim()).toBe('0');
    const { lines } = containerLogs(NAME);
    expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM', sessions: 1 });
    expect(lines.filter((l) => l.msg === 'session closed').map((l) => l.cause)).toEqual(['shutdown']);
    expect(lines.find((l) => l.msg === 'stopped')).toMatchObject({ signal: 'SIGTERM' });
    const { pppd, pptp } = clientLogs(keep);
    expect(pppd).toMatch(/rcvd \[LCP TermReq id=0x[0-9a-f]+ "server shutting down"\]/);
    expect(pptp).toContain('Call disconnect notification received');
    expect(pptp).toContain("Result code is 3 'Administrative Shutdown'");
    console.log(
      `docker stop: ${stopMs} ms; client ${r.local_ip} pinged ${r.ping.received}/${r.ping.sent} through the container (avg ${r.ping.avg_rtt_ms} ms), ` +
        'then logged the LCP Terminate-Request and the Call-Disconnect-Notify (Administrative Shutdown)',
    );

    // A new container on the same volume: the user store survived; the same client logs in again.
    docker('rm', NAME);
    const second = `${NAME}-2`;
    startContainer(second, { config });
    plugIntoLab(second);
    await until('Portico ready', () => readyLine(second), 30_000);
    const users = JSON.parse(docker('exec', second, 'portico', 'user', 'list', '--json').stdout) as Array<{ name: string }>;
    expect(users.map((u) => u.name)).toEqual(['dockeruser']);
    const again = await runClient(['--user', 'dockeruser', '--password', 'docker pass 1', '--pings', '3']);
    expect(again.connected, again.log_tail).toBe(true);
    expect(again.ping).toMatchObject({ sent: 3, received: 3 });
    expect(again.ok).toBe(true);
    docker('stop', second);
    console.log(`after docker rm and a new container on ${VOLUME}: user list ${JSON.stringify(users.map((u) => u.name))}, the client logged in again and pinged 3/3`);
  }, 300_000);
});
