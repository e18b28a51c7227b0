// network.* with the real Linux client: a host "behind" the server (namespace portico-fw-behind, on a
// veth to the server's namespace) answers the client VM's pings in each mode, and does not when the
// option is off. The behind host and the pool share the LAN's /24 (198.18.60.0/24; the TUN's /26,
// 198.18.60.128/26, is more specific on the server), so the three modes need one configuration:
//   (a) forwarding, the behind host routes the TUN's /26 to the server;
//   (b) forwarding + masquerade, no route: the behind host sees the server's address as the source;
//   (c) forwarding + proxy ARP, no route: the behind host ARPs for the client and gets the server's MAC.
// Source addresses are counted by an nftables table of the test in the behind host's input hook.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG, labDown, labUp, NETNS, runClient, type ServerHandle, startServer } from './Lab.js';

const BEHIND_NS = 'portico-fw-behind';
const SERVER_LAN = 'fw-lan'; // the server's side of the veth, in NETNS
const BEHIND_IF = 'fw-host';
const SERVER_LAN_IP = '198.18.60.1';
const BEHIND_IP = '198.18.60.2';
const TUNNEL = '198.18.60.128/26';
const CONFIG = { ...BASE_CONFIG, tun: { name: 'pptp0', address: '198.18.60.129' }, pool: { start: '198.18.60.130', end: '198.18.60.190' }, dataPlane: { threads: 1 } };
const USERS: Array<[string, string]> = [['labuser', 'lab-password']];
const WATCH = 'portico-fw-watch';

function sh(cmd: string, args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function must(cmd: string, args: string[], input?: string): string {
  const r = sh(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.out}`);
  return r.out;
}

const inServerNs = (cmd: string, ...args: string[]) => sh('ip', ['netns', 'exec', NETNS, cmd, ...args]);
const ipForward = () => must('ip', ['netns', 'exec', NETNS, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim();
/** Echo requests the behind host received from the server's address and from the clients' /26 so far. */
function echoSources(): { server: number; clients: number } {
  const count = (name: string) => Number(/packets (\d+)/.exec(must('ip', ['netns', 'exec', BEHIND_NS, 'nft', 'list', 'counter', 'ip', WATCH, name]))?.[1]);
  return { server: count('from_server'), clients: count('from_clients') };
}
const proxyEntries = () => must('ip', ['-n', NETNS, 'neigh', 'show', 'proxy', 'dev', SERVER_LAN]).trim();
const hasOurTable = () => inServerNs('nft', 'list', 'table', 'ip', 'portico-pptp0').status === 0;
const pingBehind = (pings: number, ...more: string[]) => runClient(['--pings', String(pings), '--ping-target', BEHIND_IP, ...more]);

async function until(what: string, test: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the network behind the server: forwarding, masquerade, proxy ARP', () => {
  let server: ServerHandle | undefined;

  const start = async (network: Record<string, unknown> | undefined) => {
    await stop(); // one left by a failed step
    server = await startServer({ ...CONFIG, ...(network ? { network } : {}) }, USERS);
    return server;
  };
  const stop = async () => {
    await server?.stop();
    server = undefined;
  };

  beforeAll(() => {
    expect(sh('nft', ['--version']).status, 'the nft command (Debian package nftables) is needed').toBe(0);
    labUp();
    if (
      sh('ip', ['netns', 'list'])
        .out.split('\n')
        .some((l) => l.split(' ')[0] === BEHIND_NS)
    )
      must('ip', ['netns', 'del', BEHIND_NS]);
    must('ip', ['netns', 'add', BEHIND_NS]);
    must('ip', ['-n', NETNS, 'link', 'add', SERVER_LAN, 'type', 'veth', 'peer', 'name', BEHIND_IF, 'netns', BEHIND_NS]);
    must('ip', ['-n', NETNS, 'addr', 'add', `${SERVER_LAN_IP}/24`, 'dev', SERVER_LAN]);
    must('ip', ['-n', NETNS, 'link', 'set', SERVER_LAN, 'up']);
    must('ip', ['-n', BEHIND_NS, 'addr', 'add', `${BEHIND_IP}/24`, 'dev', BEHIND_IF]);
    must('ip', ['-n', BEHIND_NS, 'link', 'set', BEHIND_IF, 'up']);
    must('ip', ['-n', BEHIND_NS, 'link', 'set', 'lo', 'up']);
    // A new namespace takes the root namespace's IPv4 settings: forwarding starts off here, whatever the host has.
    must('ip', ['netns', 'exec', NETNS, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    must(
      'ip',
      ['netns', 'exec', BEHIND_NS, 'nft', '-f', '-'],
      [
        `table ip ${WATCH} {`,
        '  counter from_server {}',
        '  counter from_clients {}',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    ip saddr ${SERVER_LAN_IP} icmp type echo-request counter name "from_server"`,
        `    ip saddr ${TUNNEL} icmp type echo-request counter name "from_clients"`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await stop();
    sh('ip', ['netns', 'del', BEHIND_NS]);
    labDown();
  });

  it('off: with no network options the behind host is not reached, even with its route back', async () => {
    must('ip', ['-n', BEHIND_NS, 'route', 'add', TUNNEL, 'via', SERVER_LAN_IP]);
    await start(undefined);
    const r = await pingBehind(2);
    expect(r.connected, r.log_tail).toBe(true);
    expect(r.ping).toMatchObject({ sent: 2, received: 0 });
    expect(ipForward()).toBe('0');
    expect(server!.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('network.'))).toBe(false);
    await stop();
  }, 120_000);

  it('(a) forwarding + a route on the behind host: pings answered, the source is the client; without the route they are not', async () => {
    await start({ forwarding: true });
    expect(server!.logs().find((l) => l.configKey === 'network.forwarding')?.msg).toBe('network.forwarding: set net.ipv4.ip_forward=1 (was 0); it stays on after the server stops');
    expect(ipForward()).toBe('1');
    const before = echoSources();
    const r = await pingBehind(5);
    console.log(`(a) ${JSON.stringify({ local_ip: r.local_ip, ping: r.ping })}`);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    const after = echoSources();
    expect(after.clients - before.clients).toBeGreaterThanOrEqual(5);
    expect(after.server - before.server).toBe(0);
    // Forwarding alone, no route back: nothing comes back (this is what (b) and (c) add).
    must('ip', ['-n', BEHIND_NS, 'route', 'del', TUNNEL]);
    const noRoute = await pingBehind(2);
    expect(noRoute.connected, noRoute.log_tail).toBe(true);
    expect(noRoute.ping).toMatchObject({ sent: 2, received: 0 });
    await stop();
    expect(ipForward()).toBe('1'); // host-wide: left on (README)
  }, 180_000);

  it('(b) forwarding + masquerade, no route: pings answered, the behind host sees the server as the source; the table goes at stop', async () => {
    await start({ forwarding: true, masquerade: { interface: SERVER_LAN } });
    expect(server!.logs().find((l) => l.configKey === 'network.masquerade')?.msg).toBe(`network.masquerade: clients' packets toward ${SERVER_LAN} take its address (nftables table ip portico-pptp0)`);
    expect(hasOurTable()).toBe(true);
    const before = echoSources();
    const r = await pingBehind(5);
    console.log(`(b) ${JSON.stringify({ local_ip: r.local_ip, ping: r.ping })}`);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    const after = echoSources();
    expect(after.server - before.server).toBeGreaterThanOrEqual(5);
    expect(after.clients - before.clients).toBe(0);
    const stopping = server!;
    await stop();
    expect(stopping.logs().some((l) => l.msg === 'network.masquerade: nftables table ip portico-pptp0 deleted')).toBe(true);
    expect(hasOurTable()).toBe(false);
    expect(must('ip', ['netns', 'exec', NETNS, 'nft', 'list', 'tables'])).not.toContain('portico');
  }, 180_000);

  it('(c) forwarding + proxy ARP, no route: pings answered, the client address resolves to the server MAC; entries go with the session and at stop', async () => {
    await start({ forwarding: true, proxyArp: { interface: SERVER_LAN } });
    expect(server!.logs().find((l) => l.configKey === 'network.proxyArp')?.msg).toBe(`network.proxyArp: ${SERVER_LAN} answers ARP for each session's address while the session holds it`);
    const r = await pingBehind(5);
    console.log(`(c) ${JSON.stringify({ local_ip: r.local_ip, ping: r.ping })}`);
    expect(r.ping).toMatchObject({ sent: 5, received: 5 });
    const serverMac = (JSON.parse(must('ip', ['-n', NETNS, '-j', 'link', 'show', SERVER_LAN])) as Array<{ address: string }>)[0]!.address;
    const neighbour = JSON.parse(must('ip', ['-n', BEHIND_NS, '-j', 'neigh', 'show', r.local_ip!, 'dev', BEHIND_IF])) as Array<{ lladdr?: string }>;
    expect(neighbour[0]?.lladdr).toBe(serverMac);
    // The session ended: its entry is gone.
    await until('the proxy entry of the ended session to go', () => proxyEntries() === '');

    // A session still up at stop: its entry is there while it lasts, and the server removes it as it stops.
    const holding = runClient(['--pings', '0', '--hold', '8']);
    // The entry comes with IPCP's address, before the client's link is up: wait for the session itself.
    const upBefore = server!.logs().filter((l) => l.msg === 'session up').length;
    await until('the held session up with its proxy entry', () => server!.logs().filter((l) => l.msg === 'session up').length > upBefore && proxyEntries() !== '', 60_000);
    expect(proxyEntries()).toMatch(/^198\.18\.60\.(1[3-8]\d|190) proxy$/);
    await stop();
    expect(proxyEntries()).toBe('');
    const h = await holding;
    expect(h.connected, h.log_tail).toBe(true);
  }, 180_000);
});
