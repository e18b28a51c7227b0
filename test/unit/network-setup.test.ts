// network.* (server/NetworkSetup.ts) without root: the command lines and nftables input it builds, what it
// runs against a fake host, the lines it logs when something is missing, and the config's refusals.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../config/AddressPolicy.js';
import { formatIpv4, parseIpv4 } from '../../config/Ipv4.js';
import { ConfigError, validateConfig } from '../../config/PorticoConfig.js';
import { type CommandOutcome, deleteTableArgs, type HostControl, IP_FORWARD, masqueradeRuleset, NetworkSetup, type NetworkSetupOptions, networkSetupOptions } from '../../server/NetworkSetup.js';
import { createLogger } from '../../server/Logger.js';
import { TunnelAddresses } from '../../session/TunnelAddresses.js';

interface Ran {
  program: string;
  args: readonly string[];
  input?: string;
}

/** A host whose ip_forward, interfaces and program outcomes the test sets; it records what was run and written. */
function fakeHost(opts: { forward?: string; interfaces?: Record<string, string[]>; outcome?: (r: Ran) => CommandOutcome; readOnly?: boolean; proxyArpError?: string } = {}) {
  const ran: Ran[] = [];
  /** Proxy ARP changes, "add|del ADDR IF", in call order. */
  const proxied: string[] = [];
  const sysctl = new Map([[IP_FORWARD, `${opts.forward ?? '0'}\n`]]);
  const host: HostControl = {
    async run(program, args, input) {
      const r: Ran = { program, args, ...(input === undefined ? {} : { input }) };
      ran.push(r);
      return opts.outcome?.(r) ?? { ok: true };
    },
    readSysctl: (path) => sysctl.get(path)!,
    writeSysctl(path, value) {
      if (opts.readOnly) throw Object.assign(new Error(`EROFS: read-only file system, open '${path}'`), { code: 'EROFS' });
      sysctl.set(path, value);
    },
    interfaceNetworks(name) {
      const nets = (opts.interfaces ?? { lan0: ['198.18.60.0/24'] })[name];
      if (!nets) return null;
      return nets.map((n) => ({ address: parseIpv4(n.split('/')[0]!), prefix: Number(n.split('/')[1]) }));
    },
    proxyArp(action, address, iface) {
      proxied.push(`${action} ${formatIpv4(address)} ${iface}`);
      if (opts.proxyArpError) throw Object.assign(new Error(opts.proxyArpError), { code: 'ENODEV' });
    },
  };
  return { host, ran, sysctl, proxied };
}

function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write: (chunk, _e, done) => {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: createLogger('debug', sink), lines }; // the server's own logger (its redaction included)
}

const LAN = { tun: { address: '198.18.60.129' }, pool: { start: '198.18.60.130', end: '198.18.60.190' } };

describe('network setup: what it builds', () => {
  it('the masquerade table replaces ours as a whole and matches only the clients toward the interface', () => {
    expect(masqueradeRuleset('portico-pptp0', 'eth0', ['198.18.100.0/24', '198.18.120.0/24'])).toBe(
      [
        'table ip portico-pptp0',
        'delete table ip portico-pptp0',
        'table ip portico-pptp0 {',
        '  chain postrouting {',
        '    type nat hook postrouting priority srcnat; policy accept;',
        '    ip saddr { 198.18.100.0/24, 198.18.120.0/24 } oifname "eth0" masquerade',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(deleteTableArgs('portico-pptp0')).toEqual(['delete', 'table', 'ip', 'portico-pptp0']);
  });

  it('options from the config: off by default; the clients are the tunnel network and pool.allowedStaticRanges; the table is named after the TUN', () => {
    expect(networkSetupOptions(validateConfig({}))).toEqual({ forwarding: false });
    const c = validateConfig({
      tun: { name: 'vpn1', address: '198.18.100.1' },
      pool: { start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.18.120.0/24'] },
      network: { forwarding: true, masquerade: { interface: 'eth0' }, proxyArp: { interface: 'eth1' } },
    });
    expect(networkSetupOptions(c)).toEqual({
      forwarding: true,
      masquerade: { interface: 'eth0', table: 'portico-vpn1', sources: ['198.18.100.0/24', '198.18.120.0/24'] },
      proxyArp: { interface: 'eth1', pool: { start: parseIpv4('198.18.100.10'), end: parseIpv4('198.18.100.200') } },
    });
  });

  it('the config refuses masquerade or proxy ARP without forwarding, the TUN as their interface, and a bad name, naming the key', () => {
    const problems = (network: unknown) => {
      try {
        validateConfig({ ...LAN, network });
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.key}: ${p.problem}`);
      }
      return [];
    };
    expect(problems({ masquerade: { interface: 'eth0' } })).toEqual(['network.masquerade: needs network.forwarding: true (the kernel forwards nothing without it)']);
    expect(problems({ proxyArp: { interface: 'eth1' } })).toEqual(['network.proxyArp: needs network.forwarding: true (the kernel forwards nothing without it)']);
    expect(problems({ forwarding: true, proxyArp: { interface: 'pptp0' } })).toEqual([
      'network.proxyArp.interface: pptp0 is the tunnel itself (tun.name): name the interface toward the network behind the server',
    ]);
    expect(problems({ forwarding: true, masquerade: { interface: 'eth0; drop' } })).toEqual(['network.masquerade.interface: an interface name of 1-15 letters, digits, _ . -']);
    expect(problems({ forwarding: 'yes' })).toEqual(['network.forwarding: expected true or false, got string "yes"']);
    expect(problems({ masquerade: 'eth0', forwarding: true })[0]).toMatch(/^network\.masquerade: expected a mapping/);
    expect(problems({ forwarding: true, nat: true })[0]).toMatch(/^network\.nat: unknown key \(known here: forwarding, masquerade, proxyArp\)/);
    expect(() => validateConfig({ ...LAN, network: { forwarding: true, masquerade: { interface: 'eth0' }, proxyArp: { interface: 'lan0' } } })).not.toThrow(ConfigError);
  });
});

describe('network setup: what it does to a (fake) host', () => {
  const full: NetworkSetupOptions = {
    forwarding: true,
    masquerade: { interface: 'lan0', table: 'portico-pptp0', sources: ['198.18.60.128/26'] },
    proxyArp: { interface: 'lan0', pool: { start: parseIpv4('198.18.60.130'), end: parseIpv4('198.18.60.190') } },
  };

  it('nothing asked, nothing done', async () => {
    const { host, ran, sysctl } = fakeHost();
    const { log, lines } = capturingLog();
    const setup = await NetworkSetup.start({ forwarding: false }, log, host);
    setup.publish(parseIpv4('198.18.60.131'));
    await setup.stop();
    expect(ran).toEqual([]);
    expect(sysctl.get(IP_FORWARD)).toBe('0\n');
    expect(lines).toEqual([]);
  });

  it('forwarding: sets ip_forward and says so; already on: says that and writes nothing', async () => {
    const off = fakeHost({ forward: '0' });
    const a = capturingLog();
    await (await NetworkSetup.start({ forwarding: true }, a.log, off.host)).stop();
    expect(off.sysctl.get(IP_FORWARD)).toBe('1');
    expect(a.lines.map((l) => l.msg)).toEqual(['network.forwarding: set net.ipv4.ip_forward=1 (was 0); it stays on after the server stops']);
    const on = fakeHost({ forward: '1' });
    const b = capturingLog();
    await NetworkSetup.start({ forwarding: true }, b.log, on.host);
    expect(on.sysctl.get(IP_FORWARD)).toBe('1\n');
    expect(b.lines.map((l) => l.msg)).toEqual(['network.forwarding: net.ipv4.ip_forward is already 1']);
  });

  it('forwarding on a read-only /proc/sys: one error line naming the key, no throw', async () => {
    const { host } = fakeHost({ readOnly: true });
    const { log, lines } = capturingLog();
    await NetworkSetup.start({ forwarding: true }, log, host);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, configKey: 'network.forwarding' });
    expect(lines[0]!.msg).toBe(
      'network.forwarding: cannot set net.ipv4.ip_forward=1 (EROFS: /proc/sys is read-only here, as in a container); set it on the host (sysctl -w net.ipv4.ip_forward=1): until then clients reach this host only',
    );
  });

  it('masquerade: the table at start through nft -f -, deleted at stop', async () => {
    const { host, ran } = fakeHost();
    const { log, lines } = capturingLog();
    const setup = await NetworkSetup.start({ forwarding: false, masquerade: full.masquerade! }, log, host);
    expect(ran).toEqual([{ program: 'nft', args: ['-f', '-'], input: masqueradeRuleset('portico-pptp0', 'lan0', ['198.18.60.128/26']) }]);
    await setup.stop();
    expect(ran[1]).toEqual({ program: 'nft', args: ['delete', 'table', 'ip', 'portico-pptp0'] });
    expect(lines.map((l) => l.msg)).toEqual([
      "network.masquerade: clients' packets toward lan0 take its address (nftables table ip portico-pptp0)",
      'network.masquerade: nftables table ip portico-pptp0 deleted',
    ]);
  });

  it('masquerade without nft: one error line that says to install it; nothing to delete at stop', async () => {
    const { host, ran } = fakeHost({ outcome: () => ({ ok: false, missing: true, message: 'spawn nft ENOENT' }) });
    const { log, lines } = capturingLog();
    const setup = await NetworkSetup.start({ forwarding: false, masquerade: full.masquerade! }, log, host);
    await setup.stop();
    expect(ran).toHaveLength(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, configKey: 'network.masquerade' });
    expect(lines[0]!.msg).toBe("network.masquerade: the nft command is not installed (Debian: apt-get install nftables); clients' packets toward lan0 keep their own addresses");
  });

  it('masquerade refused by nft, or toward an interface not there yet: said with the key', async () => {
    const { host } = fakeHost({ interfaces: {}, outcome: () => ({ ok: false, missing: false, message: 'Error: Could not process rule: Operation not permitted' }) });
    const { log, lines } = capturingLog();
    await NetworkSetup.start({ forwarding: false, masquerade: full.masquerade! }, log, host);
    expect(lines.map((l) => [l.configKey, l.msg])).toEqual([
      ['network.masquerade.interface', 'network.masquerade.interface: no interface lan0 on this host (yet); the rule applies once it exists'],
      ['network.masquerade', "network.masquerade: nft refused the table: Error: Could not process rule: Operation not permitted; clients' packets toward lan0 keep their own addresses"],
    ]);
  });

  it('proxy ARP: one entry per session address, in order, through TunnelAddresses; what is left goes at stop; no program run', async () => {
    const { host, ran, proxied } = fakeHost();
    const { log, lines } = capturingLog();
    const setup = await NetworkSetup.start({ forwarding: false, proxyArp: full.proxyArp! }, log, host);
    const policy = new AddressPolicy({
      pool: { start: parseIpv4('198.18.60.130'), end: parseIpv4('198.18.60.190') },
      tunnel: { address: parseIpv4('198.18.60.128'), prefix: 26 },
      allowedRanges: [],
      serverAddresses: [],
    });
    const addresses = new TunnelAddresses({
      poolStart: parseIpv4('198.18.60.130'),
      poolEnd: parseIpv4('198.18.60.190'),
      tunAddress: parseIpv4('198.18.60.129'),
      tunPrefix: 26,
      policy,
      routes: { addRoute: () => {}, delRoute: () => {} },
      neighbours: setup,
    });
    const a = addresses.allocate();
    const b = addresses.allocate();
    if (!a.ok || !b.ok) throw new Error('no address');
    addresses.release(a.address);
    await setup.stop();
    const ip = formatIpv4;
    expect(proxied).toEqual([`add ${ip(a.address)} lan0`, `add ${ip(b.address)} lan0`, `del ${ip(a.address)} lan0`, `del ${ip(b.address)} lan0`]);
    expect(ran).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual([
      "network.proxyArp: lan0 answers ARP for each session's address while the session holds it",
      'network.proxyArp: removing the proxy ARP entries of the sessions still up (1)',
    ]);
    // After stop nothing more is published.
    setup.publish(parseIpv4('198.18.60.140'));
    expect(proxied).toHaveLength(4);
  });

  it('proxy ARP: a pool outside the interface subnet, a missing interface and a failed entry are each one line with the key', async () => {
    const outside = fakeHost({ interfaces: { lan0: ['198.18.50.0/24'] } });
    const a = capturingLog();
    await NetworkSetup.start({ forwarding: false, proxyArp: full.proxyArp! }, a.log, outside.host);
    expect(a.lines[0]).toMatchObject({ level: 40, configKey: 'network.proxyArp' });
    expect(a.lines[0]!.msg).toBe(
      "network.proxyArp: the pool 198.18.60.130-198.18.60.190 is not in lan0's subnet: hosts there reach it through a router, not by ARP (give them a route to the server, or use network.masquerade)",
    );

    const missing = fakeHost({ interfaces: {}, proxyArpError: 'addProxyArp(lan0): ENODEV (ioctl SIOCSARP: No such device)' });
    const b = capturingLog();
    const setup = await NetworkSetup.start({ forwarding: false, proxyArp: full.proxyArp! }, b.log, missing.host);
    setup.publish(parseIpv4('198.18.60.131'));
    await setup.stop();
    expect(b.lines.map((l) => [l.configKey, l.msg])).toEqual([
      ['network.proxyArp.interface', 'network.proxyArp.interface: no interface lan0 on this host; its proxy ARP entries fail until it exists'],
      ['network.proxyArp', 'network.proxyArp: cannot add the proxy ARP entry; LAN hosts cannot reach this client'],
      ['network.proxyArp', 'network.proxyArp: removing the proxy ARP entries of the sessions still up (1)'],
      ['network.proxyArp', 'network.proxyArp: cannot remove the proxy ARP entry'],
    ]);
    expect(b.lines[1]).toMatchObject({ address: '198.18.60.131', interface: 'lan0', error: 'addProxyArp(lan0): ENODEV (ioctl SIOCSARP: No such device)' });
  });
});
