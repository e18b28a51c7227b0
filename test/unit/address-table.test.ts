import { describe, expect, it } from 'vitest';
import { AddressTable } from '../../dataplane/AddressTable.js';
import { parseIpv4 } from '../../config/Ipv4.js';

describe('AddressTable (sessions by IPv4 address, the downstream lookup)', () => {
  it('finds what was set, across the whole address space, and nothing else', () => {
    const t = new AddressTable<string>();
    const addresses = ['0.0.0.1', '10.99.0.10', '100.64.3.7', '172.16.0.9', '192.168.100.2', '198.19.63.250', '255.255.255.254'];
    for (const a of addresses) t.set(parseIpv4(a), a);
    for (const a of addresses) expect(t.get(parseIpv4(a))).toBe(a);
    expect(t.get(parseIpv4('192.168.100.3'))).toBeUndefined(); // same /24, another host
    expect(t.get(parseIpv4('192.168.101.2'))).toBeUndefined(); // same host octet, another /24
    expect(t.get(parseIpv4('172.16.0.9') + 256 * 65536)).toBeUndefined();
  });

  it('replaces on set and forgets on delete; a /24 left empty is dropped', () => {
    const t = new AddressTable<number>();
    const a = parseIpv4('198.19.0.10');
    const b = parseIpv4('198.19.0.11');
    t.set(a, 1);
    t.set(a, 2);
    t.set(b, 3);
    expect(t.get(a)).toBe(2);
    expect(t.networks).toBe(1);
    t.delete(a);
    expect(t.get(a)).toBeUndefined();
    expect(t.get(b)).toBe(3);
    expect(t.networks).toBe(1);
    t.delete(b);
    t.delete(b); // twice: nothing to do
    t.delete(parseIpv4('203.0.113.1')); // never set
    expect(t.networks).toBe(0);
  });

  it('grows with the /24s in use, not with the lookups', () => {
    const t = new AddressTable<number>();
    const base = parseIpv4('198.19.0.0');
    for (let i = 0; i < 4096; i++) t.set(base + i, i); // sixteen /24s
    expect(t.networks).toBe(16);
    for (let i = 0; i < 100_000; i++) t.get(base + 8192 + i); // misses in /24s that hold nothing
    expect(t.networks).toBe(16);
  });
});
