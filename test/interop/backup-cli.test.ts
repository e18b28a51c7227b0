// `portico backup` and `portico restore` as an operator runs them (dist/server/cli.js), against a
// running `portico serve` in a namespace of this test (portico-bak-t, 198.18.127.0/24): the backup is
// taken while other `portico user add` commands write the store, exits 0 with its one line, is 0600,
// and GNU tar extracts databases that open with the users and the console account the server made.
// Restore is refused while the server runs (the exact line), and after the stop puts a deleted user
// back. A database newer than the code stops `serve` with one line before the TUN exists.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../server/NodeFlags.js';
import { CLI, REPO } from './Lab.js';

const NS = 'portico-bak-t';
const TUN = 'ptbak0';
const root = mkdtempSync(join(tmpdir(), 'portico-bak-t-'));
const dataDir = join(root, 'data');
const config = join(root, 'portico.yaml');
const started: ChildProcess[] = [];

beforeAll(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  expect(spawnSync('ip', ['netns', 'add', NS]).status).toBe(0);
  expect(spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']).status).toBe(0);
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1',
      port: 17270,
      admin: { listen: '127.0.0.1:18070' },
      dataDir,
      tun: { name: TUN, address: '198.18.127.1' },
      pool: { start: '198.18.127.10', end: '198.18.127.20' },
      dataPlane: { threads: 1 },
    }),
  );
});
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], input?: string): Run {
  const child = spawn(args[0]!, args.slice(1), { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  child.stdin!.end(input ?? '');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** `portico ARGS --config config` (the CLI needs no namespace: it opens files only). */
const portico = (args: string[], input?: string) => run([process.execPath, CLI, ...args, '--config', config], input);
/** `portico serve` in the namespace; `ip netns exec` execs node, so child.pid is the server's. */
const serve = () => run(['ip', 'netns', 'exec', NS, process.execPath, ...SERVER_NODE_FLAGS, CLI, 'serve', '--config', config]);
const configLine = `portico: config: ${config} (--config)\n`;

async function until(what: string, test: () => boolean, ms: number, r: Run): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end || r.child.exitCode !== null) throw new Error(`no ${what}:\n${r.stdout()}${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function read<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('portico backup and restore against a running server', () => {
  it('backup while the server runs and the store is written; restore refused while it runs, then puts a deleted user back', async () => {
    const add = portico(['user', 'add', 'alice', '--password-stdin'], 'alice passphrase\n');
    expect(await add.exited).toBe(0);
    const server = serve();
    await until('Portico ready', () => server.stdout().includes('"msg":"Portico ready"'), 20_000, server);

    // Backup, with five `user add` writing the store at the same moment.
    const file = join(root, 'nightly.tar');
    const writers = [1, 2, 3, 4, 5].map((i) => portico(['user', 'add', `u${i}`, '--password-stdin'], `passphrase ${i}\n`));
    const backup = portico(['backup', file]);
    expect(await backup.exited).toBe(0);
    expect(backup.stderr()).toBe(configLine);
    expect(backup.stdout()).toBe(`backup of ${dataDir} written to ${file}: portico.db (schema 1), admin.db (schema 1)\n`);
    for (const w of writers) expect(await w.exited).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const out = join(root, 'extracted');
    mkdirSync(out);
    expect(spawnSync('tar', ['-xf', file, '-C', out]).status).toBe(0);
    const names = read<{ name: string }>(join(out, 'portico.db'), 'SELECT name FROM users ORDER BY name').map((r) => r.name);
    expect(names[0]).toBe('alice');
    expect(names.slice(1).every((n) => /^u[1-5]$/.test(n))).toBe(true); // those committed before the snapshot
    expect(read(join(out, 'portico.db'), 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    expect(read<{ name: string }>(join(out, 'admin.db'), 'SELECT name FROM admin_accounts')).toEqual([{ name: 'admin' }]); // made by the server's first start
    console.log(`backup taken during 5 concurrent user adds held ${names.length - 1} of them; archive ${statSync(file).size} bytes`);

    const refused = portico(['restore', file]);
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toBe(`${configLine}portico: dataDir ${dataDir} is in use by a running Portico (PID ${server.child.pid}, ${dataDir}/portico.pid); stop it before restoring\n`);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(await portico(['user', 'del', 'alice']).exited).toBe(0);
    const restore = portico(['restore', file]);
    expect(await restore.exited).toBe(0);
    expect(restore.stdout()).toMatch(/^restored portico\.db, admin\.db into (\S+) from (\S+) \(made \S+Z by Portico \d+\.\d+\.\d+\)\n$/);
    expect(restore.stdout()).toContain(` into ${dataDir} from ${file} `);
    const list = portico(['user', 'list']);
    expect(await list.exited).toBe(0);
    expect(
      list
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]),
    ).toEqual(names);
  }, 90_000);

  it('a database newer than this Portico stops serve with one line, before the TUN exists', async () => {
    const db = new Database(join(dataDir, 'admin.db'), { fileMustExist: true });
    db.pragma('user_version = 9');
    db.close();
    const server = serve();
    expect(await server.exited).toBe(2);
    expect(server.stderr()).toBe(
      `${configLine}portico: ${dataDir}/admin.db is at schema version 9, newer than this Portico knows (1): a newer Portico wrote it; run that version, or restore a backup made with this one\n`,
    );
    expect(spawnSync('ip', ['-n', NS, 'link', 'show', TUN]).status).not.toBe(0);
  }, 30_000);
});
