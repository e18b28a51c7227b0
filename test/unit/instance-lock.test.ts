// One instance per TUN name and data directory (server/InstanceLock.ts) and the console certificate
// check (server/StartupChecks.ts): the exact lines a second instance or a broken admin.tls gives.
// Root-free: abstract unix sockets and files in a temporary directory. Other holders are child
// processes of this test (a PID that is not ours), ended by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/PorticoConfig.js';
import { claimDataDir, claimTunName, dataDirHolder, identity, LOCK_FILE, PID_FILE, probeTunName } from '../../server/InstanceLock.js';
import { checkConsoleCertificate, StartupRefusal } from '../../server/StartupChecks.js';

const root = mkdtempSync(join(tmpdir(), 'portico-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A unique TUN name (abstract socket names are per network namespace: this machine's) and a fresh data directory. */
function instance(): { tun: { name: string }; dataDir: string } {
  const dataDir = join(root, `d${++n}`);
  mkdirSync(dataDir);
  return { tun: { name: `plk${process.pid % 10000}x${n}` }, dataDir };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StartupRefusal);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

/** A process that is not us and stays until killed. */
async function otherProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => setTimeout(r, 200));
  return child;
}

describe('instance lock', () => {
  it('a second claim of the same TUN name is refused, naming the holder; release frees it', async () => {
    const a = instance();
    const claim = await claimTunName(a.tun.name, a.dataDir);
    expect(await refusal(claimTunName(a.tun.name, '/elsewhere'))).toBe(
      `tun.name ${a.tun.name} is in use by another Portico (PID ${process.pid}, dataDir ${a.dataDir}); stop it or give this instance another tun.name`,
    );
    await claim.release();
    await (await claimTunName(a.tun.name, '/elsewhere')).release();
  });

  it('a clean release removes the PID file', async () => {
    const a = instance();
    const claim = claimDataDir(a.dataDir);
    expect(readFileSync(join(a.dataDir, PID_FILE), 'utf8')).toBe(identity(process.pid));
    await claim.release();
    expect(existsSync(join(a.dataDir, PID_FILE))).toBe(false);
  });

  it('a data directory whose PID file names a live process is refused; a gone one is stale', async () => {
    const a = instance();
    const other = await otherProcess();
    const pidFile = join(a.dataDir, PID_FILE);
    writeFileSync(pidFile, identity(other.pid!));
    expect(await refusal(Promise.resolve().then(() => claimDataDir(a.dataDir)))).toBe(
      `dataDir ${a.dataDir} is in use by another Portico (PID ${other.pid}, ${pidFile}); stop it or give this instance another dataDir`,
    );
    const exited = new Promise((r) => other.once('exit', r));
    other.kill('SIGKILL');
    await exited;
    const claim = claimDataDir(a.dataDir);
    expect(readFileSync(pidFile, 'utf8')).toBe(identity(process.pid));
    await claim.release();
  });

  it('the lock decides, whatever the PID file says: a holder whose PID file names PID 1 on another host (a container) is refused, named', async () => {
    const a = instance();
    const first = claimDataDir(a.dataDir);
    expect(statSync(join(a.dataDir, LOCK_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(a.dataDir, PID_FILE)).mode & 0o777).toBe(0o600);
    // What another container's server writes: PID 1 of its namespace, its own host name. Checked as a
    // PID here it would be this host's init, or nothing: only the lock can tell.
    const [, , boot] = identity(process.pid).split(' ');
    writeFileSync(join(a.dataDir, PID_FILE), `1 42 ${boot} 3f2a9c1d0b7e`);
    const pidFile = join(a.dataDir, PID_FILE);
    expect(await refusal(Promise.resolve().then(() => claimDataDir(a.dataDir)))).toBe(
      `dataDir ${a.dataDir} is in use by another Portico (PID 1 on host 3f2a9c1d0b7e, ${pidFile}); stop it or give this instance another dataDir`,
    );
    expect(dataDirHolder(a.dataDir)).toEqual({ pid: 1, host: '3f2a9c1d0b7e' });
    await first.release();
    expect(dataDirHolder(a.dataDir)).toBe(null);
    const second = claimDataDir(a.dataDir);
    expect(readFileSync(pidFile, 'utf8')).toBe(identity(process.pid));
    await second.release();
    // The lock file stays (a waiter must never lock an unlinked one), and nothing else is left beside it.
    expect(readdirSync(a.dataDir)).toEqual([LOCK_FILE]);
  });

  it('a live PID with another start time is a reused PID: stale (a restarted container is PID 1 again)', async () => {
    const a = instance();
    const other = await otherProcess();
    const [pid, , boot] = identity(other.pid!).split(' ');
    writeFileSync(join(a.dataDir, PID_FILE), `${pid} 1 ${boot}`);
    await claimDataDir(a.dataDir).release();
  });
});

describe('probes without taking the lock (portico doctor)', () => {
  it('a TUN name: false when free, the holder when claimed, and the probe leaves it claimed', async () => {
    const a = instance();
    expect(await probeTunName(a.tun.name)).toBe(false);
    const claim = await claimTunName(a.tun.name, a.dataDir);
    expect(await probeTunName(a.tun.name)).toEqual({ pid: process.pid, dataDir: a.dataDir });
    expect(await refusal(claimTunName(a.tun.name, '/elsewhere'))).toMatch(/^tun\.name .* is in use by another Portico/);
    await claim.release();
    expect(await probeTunName(a.tun.name)).toBe(false);
  });

  it('a data directory held by a Portico from before the lock (a live PID file, no lock): its PID; null when none or stale; the PID file stays', async () => {
    const a = instance();
    expect(dataDirHolder(a.dataDir)).toBe(null);
    const other = await otherProcess();
    const pidFile = join(a.dataDir, PID_FILE);
    writeFileSync(pidFile, identity(other.pid!));
    expect(dataDirHolder(a.dataDir)).toEqual({ pid: other.pid, host: null });
    const exited = new Promise((r) => other.once('exit', r));
    other.kill('SIGKILL');
    await exited;
    expect(dataDirHolder(a.dataDir)).toBe(null);
    expect(existsSync(pidFile)).toBe(true);
  });
});

describe('console certificate (admin.tls)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'key.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const config = (cert: string, key = keyFile) => validateConfig({ admin: { tls: { cert, key } } });

  it('a missing certificate refuses the start, naming the key and the path', () => {
    expect(() => checkConsoleCertificate(config(join(dir, 'missing.pem')))).toThrow(
      new StartupRefusal(`admin.tls.cert: cannot read ${dir}/missing.pem (no such file); fix the path or set admin.enabled: false`),
    );
  });

  it('a file that is not a certificate', () => {
    expect(() => checkConsoleCertificate(config(keyFile))).toThrow(new StartupRefusal(`admin.tls.cert: ${keyFile} is not a PEM certificate`));
  });

  it('no TLS, or a disabled console: nothing to check', () => {
    expect(() => checkConsoleCertificate(validateConfig({}))).not.toThrow();
    expect(() => checkConsoleCertificate(validateConfig({ admin: { enabled: false, tls: { cert: '/nonexistent', key: '/nonexistent' } } }))).not.toThrow();
  });
});
