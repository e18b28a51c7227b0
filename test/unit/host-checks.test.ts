// The host checks of `portico doctor` and the start (server/HostChecks.ts) on fake hosts: each check's
// exact line for ok, warning, fatal and "could not inspect", the firewall rulesets as nft and
// iptables-save print them, /proc/net/route, and the start's refusal and log lines. Root-free.
import { describe, expect, it } from 'vitest';
import { type PorticoConfig, validateConfig } from '../../config/PorticoConfig.js';
import { flowBlock, masqueradeOf, parseIptablesSave, parseNftRuleset } from '../../server/FirewallRuleset.js';
import {
  ALL_HOST_CHECKS,
  checkCapabilities,
  checkDataDir,
  checkDns,
  checkFirewall,
  checkHostAtStart,
  checkInstance,
  checkIpForward,
  checkPool,
  checkRawGre,
  checkRoute,
  checkTunDevice,
  formatHostCheck,
  type HostProbes,
  parseRouteTable,
  runHostChecks,
  START_HOST_CHECKS,
  type ToolRun,
} from '../../server/HostChecks.js';
import { StartupRefusal } from '../../server/StartupChecks.js';

const ALL_CAPS = 'CapEff:\t000001ffffffffff\n';
/** /proc/net/route of a host with eth0 198.18.0.2/24 and a default route via 198.18.0.1 (little-endian hex). */
const ETH0_ROUTES = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
  'eth0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0',
  'eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  '',
].join('\n');
const HEADER_ONLY = `${ETH0_ROUTES.split('\n')[0]}\n`;

function host(over: Partial<HostProbes> & { files?: Record<string, string>; tools?: Record<string, ToolRun> } = {}): HostProbes {
  const files: Record<string, string> = { '/proc/self/status': ALL_CAPS, '/proc/sys/net/ipv4/ip_forward': '1\n', '/proc/net/route': ETH0_ROUTES, ...over.files };
  const { files: _f, tools, ...probes } = over;
  return {
    uid: () => 0,
    readFile: (path) => files[path] ?? null,
    openTunDevice: () => null,
    openRawGre: () => null,
    run: (tool) => tools?.[tool] ?? { status: 'missing' },
    tunNameHolder: async () => false,
    dataDirHolder: () => null,
    dataDirState: () => ({ state: 'writable' }),
    ...probes,
  };
}

function config(document: Record<string, unknown> = {}): PorticoConfig {
  return validateConfig({ dataDir: '/var/lib/portico', dns: ['198.18.0.53'], dataPlane: { threads: 1 }, ...document });
}

async function line(check: (typeof ALL_HOST_CHECKS)[number], probes: HostProbes, c = config()): Promise<string> {
  const [result] = await runHostChecks(c, probes, [check]);
  return formatHostCheck(result!);
}

const nft = (stdout: string): Record<string, ToolRun> => ({ nft: { status: 'ok', stdout } });
const iptables = (stdout: string): Record<string, ToolRun> => ({ 'iptables-save': { status: 'ok', stdout } });

const MASQUERADE_NFT = `table ip nat {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr 10.99.0.0/24 oifname "eth0" masquerade
\t}
}
`;

describe('host checks on a healthy host', () => {
  it('every check is ok, one line each', async () => {
    const results = await runHostChecks(config(), host({ tools: nft(MASQUERADE_NFT) }));
    expect(results.map(formatHostCheck)).toEqual([
      'ok      capabilities: CAP_NET_ADMIN and CAP_NET_RAW present',
      'ok      tun-device: /dev/net/tun opens',
      'ok      raw-gre: a raw socket for IP protocol 47 (GRE) opens',
      'ok      ip-forward: net.ipv4.ip_forward is 1',
      'ok      firewall: no rule or policy of nft drops 1723/tcp or IP protocol 47 (GRE)',
      'ok      route: default route via 198.18.0.1 (eth0); 10.99.0.0/24 is masqueraded (nft rule "ip saddr 10.99.0.0/24 oifname "eth0" masquerade")',
      'ok      dns: clients are given 198.18.0.53',
      'ok      pool: pool 10.99.0.10-10.99.0.250 lies in the tunnel network 10.99.0.0/24 of tun.address 10.99.0.1',
      'ok      instance: no other Portico on tun.name pptp0 or dataDir /var/lib/portico',
      'ok      data-dir: /var/lib/portico is writable',
    ]);
  });

  it('the start runs all but the instance and data-directory checks (the claims do those, with the same lines)', () => {
    expect(START_HOST_CHECKS).toEqual(ALL_HOST_CHECKS.filter((c) => c !== checkInstance && c !== checkDataDir));
  });
});

describe('capabilities (CapEff of /proc/self/status)', () => {
  it('without CAP_NET_ADMIN and CAP_NET_RAW: fatal, naming both and how to grant them', async () => {
    expect(await line(checkCapabilities, host({ uid: () => 1001, files: { '/proc/self/status': 'Name:\tnode\nCapEff:\t0000000000000000\n' } }))).toBe(
      'fatal   capabilities: CAP_NET_ADMIN and CAP_NET_RAW are missing (uid 1001): Portico cannot create its TUN or open its raw GRE socket; fix: run it as root, or grant CAP_NET_ADMIN CAP_NET_RAW (systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; docker --cap-add NET_ADMIN --cap-add NET_RAW)',
    );
    // Only CAP_NET_ADMIN (bit 12) held, two threads asked for: CAP_BPF is named too.
    expect(await line(checkCapabilities, host({ uid: () => 1001, files: { '/proc/self/status': 'CapEff:\t0000000000001000\n' } }), config({ dataPlane: { threads: 2 } }))).toBe(
      'fatal   capabilities: CAP_NET_RAW is missing (uid 1001): Portico cannot open its raw GRE socket; fix: run it as root, or grant CAP_NET_RAW CAP_BPF (systemd AmbientCapabilities=CAP_NET_RAW CAP_BPF; docker --cap-add NET_RAW --cap-add BPF)',
    );
  });

  it('CAP_BPF only when several data-plane threads are configured: a warning (one thread then)', async () => {
    const netOnly = host({ files: { '/proc/self/status': 'CapEff:\t0000000000003000\n' } });
    expect(await line(checkCapabilities, netOnly)).toBe('ok      capabilities: CAP_NET_ADMIN and CAP_NET_RAW present');
    expect(await line(checkCapabilities, netOnly, config({ dataPlane: { threads: 4 } }))).toBe(
      'warning capabilities: CAP_BPF is missing: dataPlane.threads asks for 4 threads, whose TUN steering needs CAP_BPF (or CAP_SYS_ADMIN); the data plane will run on one thread; fix: grant CAP_BPF (systemd AmbientCapabilities=CAP_BPF; docker --cap-add BPF), or set dataPlane.threads: 1',
    );
    // CAP_SYS_ADMIN (bit 21) will do as well; CAP_BPF is bit 39.
    expect(await line(checkCapabilities, host({ files: { '/proc/self/status': 'CapEff:\t0000000000203000\n' } }), config({ dataPlane: { threads: 4 } }))).toBe(
      'ok      capabilities: CAP_NET_ADMIN and CAP_NET_RAW present, and CAP_SYS_ADMIN for the TUN steering of 4 data-plane threads',
    );
    expect(await line(checkCapabilities, host({ files: { '/proc/self/status': 'CapEff:\t0000008000003000\n' } }), config({ dataPlane: { threads: 4 } }))).toBe(
      'ok      capabilities: CAP_NET_ADMIN and CAP_NET_RAW present, and CAP_BPF for the TUN steering of 4 data-plane threads',
    );
  });

  it('no /proc/self/status: could not inspect', async () => {
    expect(await line(checkCapabilities, host({ readFile: () => null }))).toBe(
      'unknown capabilities: could not read CapEff in /proc/self/status; fix: run Portico as root or with CAP_NET_ADMIN and CAP_NET_RAW',
    );
  });
});

describe('TUN device and raw GRE socket', () => {
  it('/dev/net/tun missing or refused: fatal with what to do', async () => {
    expect(await line(checkTunDevice, host({ openTunDevice: () => 'ENOENT' }))).toBe(
      'fatal   tun-device: /dev/net/tun is missing (ENOENT); fix: modprobe tun; in a container: docker run --device /dev/net/tun',
    );
    expect(await line(checkTunDevice, host({ openTunDevice: () => 'EACCES' }))).toBe(
      'fatal   tun-device: /dev/net/tun cannot be opened (EACCES); fix: run Portico as root, or give its user read-write access to /dev/net/tun (mode 0666 is the default)',
    );
  });

  it('a raw socket for protocol 47 refused, or the addon missing: fatal', async () => {
    expect(await line(checkRawGre, host({ openRawGre: () => 'openRawGre(0.0.0.0): EPERM (socket SOCK_RAW IPPROTO_GRE: Operation not permitted)' }))).toBe(
      'fatal   raw-gre: cannot open a raw socket for IP protocol 47 (GRE): openRawGre(0.0.0.0): EPERM (socket SOCK_RAW IPPROTO_GRE: Operation not permitted); fix: run Portico as root or with CAP_NET_RAW',
    );
    expect(await line(checkRawGre, host({ openRawGre: () => "Cannot find module '/x/build/Release/portico_io.node'" }))).toBe(
      "fatal   raw-gre: cannot open a raw socket for IP protocol 47 (GRE): Cannot find module '/x/build/Release/portico_io.node'; fix: build the native addon: npm ci (needs python3, make and g++)",
    );
  });
});

describe('IP forwarding', () => {
  it('0: a warning (clients reach the server only) with the sysctl', async () => {
    expect(await line(checkIpForward, host({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n' } }))).toBe(
      'warning ip-forward: net.ipv4.ip_forward is 0: clients reach this server and nothing behind it; fix: sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf)',
    );
  });

  it('0 with network.forwarding: ok, the server sets it at start', async () => {
    const c = config({ network: { forwarding: true } });
    expect(await line(checkIpForward, host({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n' } }), c)).toBe('ok      ip-forward: net.ipv4.ip_forward is 0; network.forwarding sets it to 1 at start');
  });

  it('unreadable: could not inspect', async () => {
    expect(await line(checkIpForward, host({ readFile: () => null }))).toBe(
      'unknown ip-forward: could not read /proc/sys/net/ipv4/ip_forward; fix: sysctl net.ipv4.ip_forward must be 1 for clients to reach anything behind this server',
    );
  });
});

describe('firewall (nft list ruleset, iptables-save)', () => {
  it('neither tool installed, or not allowed: could not inspect, saying why', async () => {
    expect(await line(checkFirewall, host())).toBe(
      'unknown firewall: could not inspect (nft: not installed; iptables-save: not installed): make sure 1723/tcp and IP protocol 47 (GRE) reach this host; fix: allow 1723/tcp and IP protocol 47 (GRE) in toward this host in every firewall on the way',
    );
    const denied: Record<string, ToolRun> = { nft: { status: 'failed', message: 'Operation not permitted (you must be root)' } };
    expect(await line(checkFirewall, host({ tools: denied }))).toMatch(/^unknown firewall: could not inspect \(nft: Operation not permitted \(you must be root\); iptables-save: not installed\)/);
  });

  it('nft: a default-drop input chain that accepts 1723 but not GRE warns about GRE (LCP timeouts)', async () => {
    const ruleset = `table inet filter {
\tset allowed {
\t\ttype ipv4_addr
\t\telements = { 198.18.0.7,
\t\t\t     198.18.0.8 }
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiif "lo" accept
\t\ttcp dport { 22, 1723 } accept
\t}
}
`;
    expect(await line(checkFirewall, host({ tools: nft(ruleset) }))).toBe(
      'warning firewall: IP protocol 47 (GRE) is dropped by the drop policy of nft chain inet filter input, and no rule accepts it: clients connect, then time out in LCP; fix: nft insert rule inet filter input meta l4proto gre accept',
    );
    const accepting = ruleset.replace('tcp dport { 22, 1723 } accept', 'tcp dport { 22, 1723 } accept\n\t\tip protocol gre accept');
    expect(await line(checkFirewall, host({ tools: nft(accepting) }))).toBe('ok      firewall: no rule or policy of nft drops 1723/tcp or IP protocol 47 (GRE)');
  });

  it('nft: an explicit drop of the port, and a catch-all reject with no accept before it', async () => {
    const ruleset = `table ip filter {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\ttcp dport 1723 counter packets 4 bytes 240 drop
\t\tmeta l4proto gre accept
\t\treject with icmp port-unreachable
\t}
}
`;
    expect(await line(checkFirewall, host({ tools: nft(ruleset) }))).toBe(
      'warning firewall: 1723/tcp is dropped by nft rule "tcp dport 1723 counter packets 4 bytes 240 drop" (ip filter input): clients cannot connect; fix: nft insert rule ip filter input tcp dport 1723 accept',
    );
    const catchAll = ruleset.replace('\t\ttcp dport 1723 counter packets 4 bytes 240 drop\n', '');
    expect(await line(checkFirewall, host({ tools: nft(catchAll) }))).toBe(
      'warning firewall: 1723/tcp is dropped by nft rule "reject with icmp port-unreachable" (ip filter input): clients cannot connect; fix: nft insert rule ip filter input tcp dport 1723 accept',
    );
  });

  it('iptables-save: policy DROP with both accepted (one in a jumped-to chain) is ok; an explicit REJECT of GRE warns', async () => {
    const saved = `# Generated by iptables-save v1.8.9
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:vpn - [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22,1700:1800 -j ACCEPT
-A INPUT -j vpn
-A vpn -p gre -j ACCEPT
COMMIT
`;
    expect(await line(checkFirewall, host({ tools: iptables(saved) }))).toBe('ok      firewall: no rule or policy of iptables drops 1723/tcp or IP protocol 47 (GRE)');
    const rejecting = saved.replace('-A vpn -p gre -j ACCEPT', '-A vpn -p gre -j REJECT --reject-with icmp-proto-unreachable');
    expect(await line(checkFirewall, host({ tools: iptables(rejecting) }))).toBe(
      'warning firewall: IP protocol 47 (GRE) is dropped by iptables rule "-p gre -j REJECT --reject-with icmp-proto-unreachable" (filter vpn): clients connect, then time out in LCP; fix: iptables -I vpn -p gre -j ACCEPT',
    );
    const noPort = saved.replace('22,1700:1800', '22');
    expect(await line(checkFirewall, host({ tools: iptables(noPort) }))).toBe(
      'warning firewall: 1723/tcp is dropped by the drop policy of iptables chain filter INPUT, and no rule accepts it: clients cannot connect; fix: iptables -I INPUT -p tcp --dport 1723 -j ACCEPT',
    );
  });

  it('the configured port is the one looked for; rules of other chains (output, forward) do not count', () => {
    const chains = parseNftRuleset(`table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\ttcp dport 1723 drop
\t}
\tchain output {
\t\ttype filter hook output priority filter; policy drop;
\t}
}
`);
    expect(flowBlock(chains, { kind: 'tcp', port: 1723 })).toEqual({ tool: 'nft', table: 'inet filter', chain: 'input', rule: 'tcp dport 1723 drop' });
    expect(flowBlock(chains, { kind: 'tcp', port: 11723 })).toBe(null);
    expect(flowBlock(chains, { kind: 'gre' })).toBe(null);
  });

  it('masquerade: a rule without a source, or with one holding the pool; a narrower source does not count', () => {
    const pool = { address: 0x0a630000, prefix: 24 }; // 10.99.0.0/24
    expect(masqueradeOf(parseNftRuleset(MASQUERADE_NFT), pool)).toEqual({ tool: 'nft', rule: 'ip saddr 10.99.0.0/24 oifname "eth0" masquerade' });
    expect(masqueradeOf(parseIptablesSave('*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n'), pool)).toEqual({ tool: 'iptables', rule: '-o eth0 -j MASQUERADE' });
    expect(masqueradeOf(parseIptablesSave('*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.99.0.128/25 -j SNAT --to-source 198.18.0.2\nCOMMIT\n'), pool)).toBe(null);
  });
});

describe('route or NAT toward the network behind the server', () => {
  it('no route but the tunnel: a warning', async () => {
    expect(await line(checkRoute, host({ files: { '/proc/net/route': HEADER_ONLY } }))).toBe(
      "warning route: no route besides pptp0's: clients reach this server and nothing behind it; fix: ip route add NETWORK/N via GATEWAY (the network behind this server), or a default route",
    );
  });

  it('a private pool without masquerade: a warning with both remedies; could not inspect NAT: said so', async () => {
    expect(await line(checkRoute, host({ tools: nft('') }))).toBe(
      "warning route: default route via 198.18.0.1 (eth0), but no masquerade or SNAT rule covers the pool's private network 10.99.0.0/24: hosts behind this server answer clients only if their router sends 10.99.0.0/24 back to this host; fix: route 10.99.0.0/24 to this host on that router, or masquerade it: iptables -t nat -A POSTROUTING -s 10.99.0.0/24 -o eth0 -j MASQUERADE",
    );
    expect(await line(checkRoute, host())).toBe(
      'unknown route: default route via 198.18.0.1 (eth0); could not inspect NAT (nft: not installed; iptables-save: not installed): unless the router behind this host sends 10.99.0.0/24 back to it, the pool needs masquerading; fix: route 10.99.0.0/24 to this host on that router, or masquerade it: iptables -t nat -A POSTROUTING -s 10.99.0.0/24 -o eth0 -j MASQUERADE',
    );
  });

  it("the server's own network.masquerade or network.proxyArp: no rule of the host's needed", async () => {
    const masquerading = config({ network: { forwarding: true, masquerade: { interface: 'eth0' } } });
    expect(await line(checkRoute, host({ tools: nft('') }), masquerading)).toBe('ok      route: default route via 198.18.0.1 (eth0); network.masquerade translates 10.99.0.0/24 toward eth0');
    const proxying = config({ network: { forwarding: true, proxyArp: { interface: 'eth1' } } });
    expect(await line(checkRoute, host(), proxying)).toBe("ok      route: default route via 198.18.0.1 (eth0); network.proxyArp answers for the sessions' addresses on eth1");
  });

  it('a public pool needs no NAT', async () => {
    const publicPool = config({ tun: { address: '198.18.50.1' }, pool: { start: '198.18.50.10', end: '198.18.50.20' } });
    expect(await line(checkRoute, host(), publicPool)).toBe("ok      route: default route via 198.18.0.1 (eth0); the pool's network 198.18.50.0/27 is not private (RFC 1918, RFC 6598): no NAT needed");
  });

  it('/proc/net/route: host byte order, the mask as a prefix, routes that are down left out', () => {
    const down = `${ETH0_ROUTES}eth1\t0000A8C0\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0\n`;
    expect(parseRouteTable(down, true)).toEqual([
      { iface: 'eth0', destination: { address: 0, prefix: 0 }, gateway: 0xc6120001 },
      { iface: 'eth0', destination: { address: 0xc6120000, prefix: 24 }, gateway: 0 },
    ]);
  });
});

describe('DNS and the pool', () => {
  it('no dns: clients connect and cannot resolve names', async () => {
    expect(await line(checkDns, host(), config({ dns: [] }))).toBe(
      'warning dns: no DNS server for clients (dns is empty): clients connect and cannot resolve names; fix: set dns: [A.B.C.D] (the resolver clients should use)',
    );
    const radius = config({ dns: [], auth: { backend: 'radius' }, radius: { servers: [{ address: '198.18.0.9', secret: 'a-long-enough-secret' }] } });
    expect(await line(checkDns, host(), radius)).toBe(
      'warning dns: no DNS server for clients (dns is empty): unless RADIUS replies carry MS-Primary-DNS-Server, clients connect and cannot resolve names; fix: set dns: [A.B.C.D] (the resolver clients should use)',
    );
  });

  it("a tunnel network that overlaps another interface's route: a warning", async () => {
    const onLan = config({ tun: { address: '198.18.0.129' }, pool: { start: '198.18.0.130', end: '198.18.0.140' } });
    expect(await line(checkPool, host(), onLan)).toBe(
      'warning pool: pool 198.18.0.130-198.18.0.140 lies in the tunnel network 198.18.0.128/28 of tun.address 198.18.0.129, which overlaps 198.18.0.0/24 on eth0: hosts there in 198.18.0.128/28 become unreachable; fix: move tun.address and pool to a network this host does not use',
    );
  });

  it('a pool far from tun.address never gets this far: the configuration names the key', () => {
    expect(() => config({ tun: { address: '198.18.50.1' }, pool: { start: '198.19.60.10', end: '198.19.60.20' } })).toThrow(
      "pool: 198.19.60.10-198.19.60.20 lies outside tun.address 198.18.50.1's /16: together they span 198.18.0.0/15, all of it routed into the tunnel; put the pool next to tun.address",
    );
  });
});

describe('another instance, the data directory', () => {
  it("a TUN name or data directory in use: fatal, with the start's own lines", async () => {
    const busy = host({ tunNameHolder: async () => ({ pid: 4242, dataDir: '/srv/other' }), dataDirHolder: () => ({ pid: 4343, host: null }) });
    expect(await line(checkInstance, busy)).toBe(
      'fatal   instance: tun.name pptp0 is in use by another Portico (PID 4242, dataDir /srv/other); stop it or give this instance another tun.name; dataDir /var/lib/portico is in use by another Portico (PID 4343, /var/lib/portico/portico.pid); stop it or give this instance another dataDir',
    );
    expect(await line(checkInstance, host({ tunNameHolder: async () => null }))).toBe('fatal   instance: tun.name pptp0 is in use by another process; stop it or give this instance another tun.name');
  });

  it("a data directory that cannot be created, is another user's or is read-only: fatal", async () => {
    const as1001 = (state: ReturnType<HostProbes['dataDirState']>) => host({ uid: () => 1001, dataDirState: () => state });
    expect(await line(checkDataDir, as1001({ state: 'absent', parent: '/var/lib', parentWritable: false }))).toBe(
      'fatal   data-dir: /var/lib/portico cannot be created: /var/lib is not writable by uid 1001; fix: mkdir -m 0700 /var/lib/portico && chown 1001 /var/lib/portico, or set dataDir',
    );
    expect(await line(checkDataDir, as1001({ state: 'absent', parent: '/var/lib', parentWritable: true }))).toBe('ok      data-dir: /var/lib/portico will be created (/var/lib is writable)');
    expect(await line(checkDataDir, as1001({ state: 'other-owner', owner: 0 }))).toBe(
      'fatal   data-dir: /var/lib/portico is owned by uid 0, not by this user (uid 1001): that user could read or replace the user database; fix: chown -R 1001 /var/lib/portico, or run Portico as uid 0',
    );
    expect(await line(checkDataDir, as1001({ state: 'not-writable' }))).toBe('fatal   data-dir: /var/lib/portico is not writable by uid 1001; fix: chmod u+rwx /var/lib/portico');
  });
});

describe('at start', () => {
  it('the first fatal finding refuses the start with one line', async () => {
    const log = { warn: () => expect.fail('no warning before a refusal'), info: () => {} };
    const nonRoot = host({
      uid: () => 1001,
      files: { '/proc/self/status': 'CapEff:\t0000000000000000\n' },
      openRawGre: () => 'openRawGre(0.0.0.0): EPERM (socket SOCK_RAW IPPROTO_GRE: Operation not permitted)',
    });
    await expect(checkHostAtStart(config(), nonRoot, log)).rejects.toThrow(
      new StartupRefusal(
        'capabilities: CAP_NET_ADMIN and CAP_NET_RAW are missing (uid 1001): Portico cannot create its TUN or open its raw GRE socket; fix: run it as root, or grant CAP_NET_ADMIN CAP_NET_RAW (systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; docker --cap-add NET_ADMIN --cap-add NET_RAW)',
      ),
    );
  });

  it('warnings are logged with the key and the fix, "could not inspect" at info; the warnings are returned for the audit card', async () => {
    const logged: Array<[string, object, string]> = [];
    const log = { warn: (f: object, m: string) => logged.push(['warn', f, m]), info: (f: object, m: string) => logged.push(['info', f, m]) };
    // The instance check is not run at start: a holder here changes nothing.
    const probes = host({ files: { '/proc/sys/net/ipv4/ip_forward': '0\n', '/proc/net/route': HEADER_ONLY }, tunNameHolder: async () => ({ pid: 1, dataDir: '/x' }) });
    const warnings = await checkHostAtStart(config({ dns: [] }), probes, log);
    expect(warnings.map((w) => w.check)).toEqual(['ip-forward', 'route', 'dns']);
    expect(logged).toEqual([
      [
        'warn',
        { check: 'ip-forward', setting: 'net.ipv4.ip_forward', fix: 'sysctl -w net.ipv4.ip_forward=1 (and net.ipv4.ip_forward = 1 in /etc/sysctl.d/99-portico.conf)' },
        'ip-forward: net.ipv4.ip_forward is 0: clients reach this server and nothing behind it',
      ],
      [
        'info',
        { check: 'firewall', setting: 'firewall', fix: 'allow 1723/tcp and IP protocol 47 (GRE) in toward this host in every firewall on the way' },
        'firewall: could not inspect (nft: not installed; iptables-save: not installed): make sure 1723/tcp and IP protocol 47 (GRE) reach this host',
      ],
      [
        'warn',
        { check: 'route', setting: 'routes', fix: 'ip route add NETWORK/N via GATEWAY (the network behind this server), or a default route' },
        "route: no route besides pptp0's: clients reach this server and nothing behind it",
      ],
      [
        'warn',
        { check: 'dns', setting: 'dns', fix: 'set dns: [A.B.C.D] (the resolver clients should use)' },
        'dns: no DNS server for clients (dns is empty): clients connect and cannot resolve names',
      ],
    ]);
  });
});
