#!/usr/bin/env node
// `portico` command line: the contract other tools drive the server with.
//   portico serve [--config FILE]
//   portico user add NAME --password PW [--ip A.B.C.D] [--config FILE]
//   portico user del NAME | user list [--json] | user passwd NAME --password PW | user set NAME [--ip A|--no-ip] [--enable|--disable]
//   portico admin passwd [NAME] [--password PW]   (console account; no --password: a random one is printed)
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/PorticoConfig.js';
import { formatIpv4 } from '../config/Ipv4.js';
import { addressPolicyFor, interfaceAddresses } from '../config/AddressPolicy.js';
import { UserStore, UserStoreError } from '../aaa/UserStore.js';
import { DataDirectoryError, secureDataDirectory } from '../config/DataDirectory.js';

const USAGE = `usage:
  portico serve [--config FILE]
  portico user add NAME --password PW [--ip A.B.C.D] [--config FILE]
  portico user del NAME [--config FILE]
  portico user list [--json] [--config FILE]
  portico user passwd NAME --password PW [--config FILE]
  portico user set NAME [--ip A.B.C.D | --no-ip] [--enable | --disable] [--config FILE]
  portico admin passwd [NAME] [--password PW] [--config FILE]
FILE defaults to ./portico.yaml when present, else the embedded defaults.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`portico: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      password: { type: 'string' },
      ip: { type: 'string' },
      'no-ip': { type: 'boolean' },
      enable: { type: 'boolean' },
      disable: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [verb, sub, name] = positionals;
  if (values.help || !verb) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { config, source } = loadConfig(values.config);

  if (verb === 'serve') {
    const { runServer } = await import('./main.js');
    await runServer(config, source);
    return;
  }
  // Before the user or admin database opens: the directory private, new files 0600 (serve does it in runServer).
  if (verb === 'user' || verb === 'admin') secureDataDirectory(config.dataDir, { warn: (_fields, message) => process.stderr.write(`portico: warning: ${message}\n`) });
  if (verb === 'admin') {
    const { runAdminCommand } = await import('../admin/AdminCli.js');
    process.exitCode = await runAdminCommand(config, sub, name, values.password);
    return;
  }
  if (verb !== 'user') fail(`unknown command ${verb}\n${USAGE}`);

  // --ip is checked against the same address policy as the server's (pool.allowedStaticRanges).
  const users = new UserStore(config.dataDir, addressPolicyFor(config, interfaceAddresses()));
  try {
    switch (sub) {
      case 'add':
        if (!name) fail('user add: NAME is required');
        if (values.password === undefined) fail('user add: --password is required');
        users.add(name, values.password, values.ip);
        process.stdout.write(`user ${name} added\n`);
        break;
      case 'del':
        if (!name) fail('user del: NAME is required');
        users.delete(name);
        process.stdout.write(`user ${name} deleted\n`);
        break;
      case 'passwd':
        if (!name) fail('user passwd: NAME is required');
        if (values.password === undefined) fail('user passwd: --password is required');
        users.setPassword(name, values.password);
        process.stdout.write(`password of ${name} changed\n`);
        break;
      case 'set':
        if (!name) fail('user set: NAME is required');
        if (values.ip !== undefined) users.setStaticAddress(name, values.ip);
        if (values['no-ip']) users.setStaticAddress(name, null);
        if (values.enable) users.setEnabled(name, true);
        if (values.disable) users.setEnabled(name, false);
        process.stdout.write(`user ${name} updated\n`);
        break;
      case 'list': {
        const list = users.list().map((u) => ({ ...u, staticAddress: u.staticAddress === null ? null : formatIpv4(u.staticAddress) }));
        if (values.json) process.stdout.write(`${JSON.stringify(list)}\n`);
        else for (const u of list) process.stdout.write(`${u.name}\t${u.staticAddress ?? 'pool'}\t${u.enabled ? 'enabled' : 'disabled'}\t${u.createdAt}\n`);
        break;
      }
      default:
        fail(`unknown user command ${sub ?? ''}\n${USAGE}`);
    }
  } finally {
    users.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UserStoreError || err instanceof DataDirectoryError) fail(err.message, 1);
  if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail(`${err.message}\n${USAGE}`);
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1);
});
