// The address policy (config/AddressPolicy.ts): which static or RADIUS address a client may be given,
// by vectors over every refused range and the edges of every allowed one; the configuration keys that
// feed it; and the user store refusing at input with the field named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserStore, UserStoreError } from '../../aaa/UserStore.js';
import { type AddressRule, addressPolicyFor, networkEdges, parseNetwork, tunnelNetwork } from '../../config/AddressPolicy.js';
import { formatIpv4, parseIpv4 } from '../../config/Ipv4.js';
import { validateConfig } from '../../config/PorticoConfig.js';

/** Tunnel 198.18.100.1 with the pool .10-.200 (tunnel network 198.18.100.0/24), two extra ranges, a DNS server, a RADIUS server, one host address. */
const CONFIG = validateConfig({
  listen: '198.18.0.1',
  tun: { address: '198.18.100.1' },
  pool: { start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: ['198.18.5.0/24', '203.0.113.128/25'] },
  dns: ['198.18.100.53'],
  wins: ['198.18.5.54'],
  radius: { servers: [{ address: '198.18.0.5', secret: 'unit-secret' }], nasIpAddress: '198.18.0.2' },
});
const POLICY = addressPolicyFor(CONFIG, [{ address: '192.0.2.7', interface: 'eth0' }]);

const REFUSED: ReadonlyArray<[string, AddressRule, string]> = [
  ['0.0.0.0', 'this-network', 'is "this network" (0.0.0.0/8)'],
  ['0.255.255.255', 'this-network', 'is "this network" (0.0.0.0/8)'],
  ['127.0.0.1', 'loopback', 'is loopback (127.0.0.0/8)'],
  ['127.255.255.255', 'loopback', 'is loopback (127.0.0.0/8)'],
  ['169.254.0.0', 'link-local', 'is link-local (169.254.0.0/16)'],
  ['169.254.255.255', 'link-local', 'is link-local (169.254.0.0/16)'],
  ['224.0.0.0', 'multicast', 'is multicast (224.0.0.0/4)'],
  ['224.0.0.1', 'multicast', 'is multicast (224.0.0.0/4)'],
  ['239.255.255.255', 'multicast', 'is multicast (224.0.0.0/4)'],
  ['255.255.255.255', 'broadcast', 'is the limited broadcast address'],
  ['240.0.0.0', 'reserved', 'is reserved (240.0.0.0/4)'],
  ['255.255.255.254', 'reserved', 'is reserved (240.0.0.0/4)'],
  ['198.18.100.1', 'server', "is the server's tunnel address (tun.address)"],
  ['198.18.0.1', 'server', "is the server's listen address (listen)"],
  ['198.18.0.2', 'server', "is the server's NAS-IP-Address (radius.nasIpAddress)"],
  ['198.18.100.53', 'server', 'is a DNS server given to clients (dns)'],
  ['198.18.5.54', 'server', 'is a WINS server given to clients (wins)'],
  ['198.18.0.5', 'server', 'is a RADIUS server (radius.servers)'],
  ['192.0.2.7', 'server', 'is an address of this host (eth0)'],
  ['198.18.100.0', 'tunnel-network-edge', 'is the network address of the tunnel network 198.18.100.0/24'],
  ['198.18.100.255', 'tunnel-network-edge', 'is the broadcast address of the tunnel network 198.18.100.0/24'],
  ['198.18.101.0', 'outside', 'is outside the pool (198.18.100.10-198.18.100.200), the tunnel network 198.18.100.0/24 and pool.allowedStaticRanges (198.18.5.0/24, 203.0.113.128/25)'],
  ['198.18.99.255', 'outside', ''],
  ['198.18.4.255', 'outside', ''],
  ['198.18.6.0', 'outside', ''],
  ['203.0.113.127', 'outside', ''],
  ['203.0.114.0', 'outside', ''],
  ['8.8.8.8', 'outside', ''],
  ['10.99.0.10', 'outside', ''],
];

const ALLOWED = [
  '198.18.100.10', // pool start
  '198.18.100.200', // pool end
  '198.18.100.2', // tunnel network, below the pool
  '198.18.100.254', // tunnel network, above the pool
  '198.18.5.0', // allowed range: first
  '198.18.5.255', // allowed range: last
  '198.18.5.53',
  '203.0.113.128',
  '203.0.113.255',
];

describe('AddressPolicy', () => {
  it('refuses every never-allowed range, the server own addresses, the tunnel network edges and what lies outside', () => {
    for (const [address, rule, reason] of REFUSED) {
      const refusal = POLICY.refusal(parseIpv4(address));
      expect(refusal, address).not.toBeNull();
      expect(refusal!.rule, address).toBe(rule);
      if (reason) expect(refusal!.reason, address).toBe(reason);
    }
  });

  it('allows the pool, the tunnel network and every allowed range, edges included', () => {
    for (const address of ALLOWED) expect(POLICY.refusal(parseIpv4(address)), address).toBeNull();
  });

  it('the never-allowed ranges win over an allowed range that covers them; a policy without ranges allows only the pool and the tunnel network', () => {
    const wide = addressPolicyFor(validateConfig({ pool: { allowedStaticRanges: ['0.0.0.0/0'] } }), []);
    expect(wide.refusal(parseIpv4('8.8.8.8'))).toBeNull();
    for (const [address, rule] of [
      ['127.0.0.1', 'loopback'],
      ['224.0.0.1', 'multicast'],
      ['169.254.1.1', 'link-local'],
      ['0.1.2.3', 'this-network'],
      ['240.1.2.3', 'reserved'],
      ['255.255.255.255', 'broadcast'],
      ['10.99.0.1', 'server'],
      ['10.99.0.0', 'tunnel-network-edge'],
      ['10.99.0.255', 'tunnel-network-edge'],
    ] as const) {
      expect(wide.refusal(parseIpv4(address))?.rule, address).toBe(rule);
    }
    const defaults = addressPolicyFor(validateConfig({}), []);
    expect(['10.99.0.10', '10.99.0.250', '10.99.0.2', '10.99.0.254'].map((a) => defaults.refusal(parseIpv4(a)))).toEqual([null, null, null, null]);
    expect(defaults.refusal(parseIpv4('10.99.1.1'))?.rule).toBe('outside');
    expect(defaults.refusal(parseIpv4('192.168.1.1'))?.rule).toBe('outside');
    expect(defaults.describe().allowed).toEqual(['pool 10.99.0.10-10.99.0.250', 'tunnel network 10.99.0.0/24']);
  });

  it('describes itself: what may be given and what never', () => {
    const { allowed, never } = POLICY.describe();
    expect(allowed).toEqual(['pool 198.18.100.10-198.18.100.200', 'tunnel network 198.18.100.0/24', '198.18.5.0/24', '203.0.113.128/25']);
    expect(never.slice(0, 6)).toEqual([
      '0.0.0.0/8 ("this network")',
      '127.0.0.0/8 (loopback)',
      '169.254.0.0/16 (link-local)',
      '224.0.0.0/4 (multicast)',
      '255.255.255.255/32 (the limited broadcast address)',
      '240.0.0.0/4 (reserved)',
    ]);
    expect(never).toContain('198.18.100.255 (broadcast address of the tunnel network)');
    expect(never).toContain("198.18.100.1 (the server's tunnel address (tun.address))");
    expect(never).toContain('192.0.2.7 (an address of this host (eth0))');
  });

  it('networks: parsing, edges (none for /31 and /32, RFC 3021), the tunnel network of a configuration', () => {
    expect(parseNetwork('198.18.5.0/24')).toEqual({ address: parseIpv4('198.18.5.0'), prefix: 24 });
    expect(parseNetwork('0.0.0.0/0')).toEqual({ address: 0, prefix: 0 });
    expect(parseNetwork('192.0.2.7/32')).toEqual({ address: parseIpv4('192.0.2.7'), prefix: 32 });
    expect(() => parseNetwork('198.18.5.1/24')).toThrow('host bits set in 198.18.5.1/24 (the network is 198.18.5.0/24)');
    for (const bad of ['198.18.5.0', '198.18.5.0/33', '198.18.5/24', '198.18.5.0/-1', '198.18.5.0/24/1', 'x/8', '']) expect(() => parseNetwork(bad), bad).toThrow(/not a network/);
    expect(networkEdges(parseNetwork('198.18.5.0/30')).map(formatIpv4)).toEqual(['198.18.5.0', '198.18.5.3']);
    expect(networkEdges(parseNetwork('198.18.5.0/31'))).toEqual([]);
    expect(networkEdges(parseNetwork('198.18.5.1/32'))).toEqual([]);
    expect(tunnelNetwork(CONFIG)).toEqual({ address: parseIpv4('198.18.100.0'), prefix: 24, tunAddress: parseIpv4('198.18.100.1') });
    expect(tunnelNetwork(validateConfig({ tun: { address: '10.0.0.1' }, pool: { start: '10.0.1.10', end: '10.0.1.20' } }))).toMatchObject({ address: parseIpv4('10.0.0.0'), prefix: 23 });
  });
});

describe('pool.allowedStaticRanges and the pool in the configuration', () => {
  it('defaults to none; takes networks; an error names the key and the problem', () => {
    expect(validateConfig({}).pool.allowedStaticRanges).toEqual([]);
    expect(validateConfig({ pool: { allowedStaticRanges: ['198.18.5.0/24', '203.0.113.128/25'] } }).pool.allowedStaticRanges).toEqual(['198.18.5.0/24', '203.0.113.128/25']);
    const bad: Array<[unknown, RegExp]> = [
      [['198.18.5.1/24'], /pool\.allowedStaticRanges\.0: host bits set in 198\.18\.5\.1\/24 \(the network is 198\.18\.5\.0\/24\)/],
      [['198.18.5.0/24', '198.18.5.0/33'], /pool\.allowedStaticRanges\.1: not a network A\.B\.C\.D\/N/],
      [['x'], /pool\.allowedStaticRanges\.0: not a network/],
      [['127.0.0.0/16'], /pool\.allowedStaticRanges\.0: 127\.0\.0\.0\/16 lies in 127\.0\.0\.0\/8 \(loopback\), never a client's address/],
      [['224.1.0.0/16'], /pool\.allowedStaticRanges\.0: 224\.1\.0\.0\/16 lies in 224\.0\.0\.0\/4 \(multicast\)/],
      [['255.255.255.255/32'], /pool\.allowedStaticRanges\.0: 255\.255\.255\.255\/32 lies in 255\.255\.255\.255\/32 \(the limited broadcast address\)/],
      ['198.18.5.0/24', /pool\.allowedStaticRanges: /],
    ];
    for (const [ranges, message] of bad) expect(() => validateConfig({ pool: { allowedStaticRanges: ranges } }), String(ranges)).toThrow(message);
  });

  it('a pool that overlaps a never-allowed range, holds the tunnel network edges, or a tunnel network wider than /16 is refused', () => {
    expect(() => validateConfig({ tun: { address: '127.0.0.1' }, pool: { start: '127.0.0.10', end: '127.0.0.20' } })).toThrow(
      /pool\.start: the pool 127\.0\.0\.10-127\.0\.0\.20 overlaps 127\.0\.0\.0\/8 \(loopback\)/,
    );
    expect(() => validateConfig({ tun: { address: '169.254.0.1' }, pool: { start: '169.254.0.10', end: '169.254.0.20' } })).toThrow(/pool\.start: .* overlaps 169\.254\.0\.0\/16 \(link-local\)/);
    expect(() => validateConfig({ tun: { address: '10.99.0.200' }, pool: { start: '10.99.0.0', end: '10.99.0.100' } })).toThrow(
      /pool\.start: the pool holds 10\.99\.0\.0, the network address of the tunnel network 10\.99\.0\.0\/24/,
    );
    expect(() => validateConfig({ tun: { address: '10.99.0.1' }, pool: { start: '10.99.0.10', end: '10.99.0.255' } })).toThrow(
      /pool\.end: the pool holds 10\.99\.0\.255, the broadcast address of the tunnel network 10\.99\.0\.0\/24/,
    );
    expect(() => validateConfig({ tun: { address: '10.0.0.1' }, pool: { start: '192.168.0.10', end: '192.168.0.20' } })).toThrow(
      /pool: 192\.168\.0\.10-192\.168\.0\.20 lies outside tun\.address 10\.0\.0\.1's \/16: together they span 0\.0\.0\.0\/0, all of it routed into the tunnel/,
    );
    expect(() => validateConfig({ tun: { address: '10.0.0.1' }, pool: { start: '10.200.0.10', end: '10.200.0.20' } })).toThrow(/pool: .* together they span 10\.0\.0\.0\/8/);
    // Within one /16 is fine, and so is a pool that ends just below the broadcast address.
    expect(validateConfig({ tun: { address: '10.0.0.1' }, pool: { start: '10.0.200.10', end: '10.0.200.20' } }).pool.start).toBe('10.0.200.10');
    expect(validateConfig({ tun: { address: '10.99.0.1' }, pool: { start: '10.99.0.2', end: '10.99.0.254' } }).pool.end).toBe('10.99.0.254');
  });
});

describe('UserStore with the address policy', () => {
  it('refuses a static address the policy does not allow, naming the field, at add and at set; an allowed one is stored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-address-policy-'));
    const users = new UserStore(dir, POLICY);
    try {
      for (const [address, , reason] of REFUSED.filter(([, , r]) => r !== '')) {
        const error = (() => {
          try {
            users.add('mallory', 'a password', address);
          } catch (err) {
            return err;
          }
          return null;
        })();
        expect(error, address).toBeInstanceOf(UserStoreError);
        expect(error, address).toMatchObject({ field: 'staticAddress', kind: 'invalid', problem: `${address} ${reason}`, message: `static address: ${address} ${reason}` });
        expect(users.find('mallory'), address).toBeNull();
      }
      users.add('alice', 'a password', '198.18.5.7');
      expect(formatIpv4(users.find('alice')!.staticAddress!)).toBe('198.18.5.7');
      expect(() => users.setStaticAddress('alice', '224.0.0.1')).toThrow(expect.objectContaining({ field: 'staticAddress', kind: 'invalid', problem: '224.0.0.1 is multicast (224.0.0.0/4)' }));
      expect(() => users.setStaticAddress('alice', '8.8.8.8')).toThrow(expect.objectContaining({ field: 'staticAddress', problem: expect.stringMatching(/^8\.8\.8\.8 is outside the pool/) }));
      expect(formatIpv4(users.find('alice')!.staticAddress!)).toBe('198.18.5.7'); // unchanged
      for (const address of ALLOWED) {
        users.setStaticAddress('alice', address);
        expect(formatIpv4(users.find('alice')!.staticAddress!), address).toBe(address);
      }
      users.setStaticAddress('alice', null);
      expect(users.find('alice')!.staticAddress).toBeNull();
    } finally {
      users.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
