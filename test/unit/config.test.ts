import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, validateConfig } from '../../config/PorticoConfig.js';
import { coveringPrefixLength, formatIpv4, parseIpv4 } from '../../config/Ipv4.js';

describe('configuration', () => {
  it('embedded defaults are secure: MS-CHAPv2 only, MPPE-128 required', () => {
    const c = validateConfig({});
    expect(c.auth.protocols).toEqual(['mschapv2']);
    expect(c.mppe).toEqual({ required: true, keyLengths: [128], mode: 'prefer-stateless' });
    expect(c.tun.name).toBe('pptp0');
    expect(c.port).toBe(1723);
  });

  it('accepts the contract keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-cfg-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      ['listen: 198.18.0.1', `dataDir: ${dir}`, 'tun: { name: pptp0, address: 198.18.100.1 }', 'pool: { start: 198.18.100.10, end: 198.18.100.200 }', 'dns: [198.18.100.53, 198.18.100.54]'].join('\n'),
    );
    const { config } = loadConfig(file);
    expect(config.listen).toBe('198.18.0.1');
    expect(config.tun.address).toBe('198.18.100.1');
    expect(config.pool).toEqual({ start: '198.18.100.10', end: '198.18.100.200', allowedStaticRanges: [] });
    expect(config.dns).toEqual(['198.18.100.53', '198.18.100.54']);
  });

  it('errors name the key and the problem', () => {
    let message = '';
    try {
      validateConfig({ tun: { address: '1.2.3' }, pool: { start: '10.0.0.9', end: '10.0.0.1' }, bogus: 1, mppe: { keyLengths: [64] } });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/tun\.address: .*IPv4/);
    expect(message).toMatch(/bogus/);
    expect(message).toMatch(/mppe\.keyLengths\.0/);
  });

  it('refuses a pool that runs backwards or holds the tunnel address', () => {
    expect(() => validateConfig({ pool: { start: '10.0.0.9', end: '10.0.0.1' } })).toThrow(/pool\.end: must not be below/);
    expect(() => validateConfig({ tun: { address: '10.99.0.20' } })).toThrow(/tun\.address: must lie outside the pool/);
  });

  it('rejects YAML that does not parse, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'tun: { name: [\n');
    expect(() => loadConfig(file)).toThrow(/bad\.yaml is not valid YAML/);
  });

  it('IPv4 helpers', () => {
    expect(parseIpv4('198.18.100.1')).toBe(0xc6126401);
    expect(formatIpv4(0xc6126401)).toBe('198.18.100.1');
    expect(() => parseIpv4('256.1.1.1')).toThrow();
    expect(coveringPrefixLength([parseIpv4('198.18.100.1'), parseIpv4('198.18.100.10'), parseIpv4('198.18.100.200')])).toBe(24);
    expect(coveringPrefixLength([parseIpv4('10.0.0.1'), parseIpv4('10.0.1.1')])).toBe(23);
  });
});

describe('configuration: RADIUS and admin keys', () => {
  it('accepts the RADIUS contract', () => {
    const c = validateConfig({
      auth: { backend: 'radius' },
      radius: {
        servers: [{ address: '127.0.0.1', authPort: 18121, acctPort: 18131, secret: 'testing123-pptp' }],
        das: { listen: '127.0.0.1', port: 3799, secret: 'testing123-pptp' },
      },
    });
    expect(c.radius.servers[0]).toMatchObject({ authPort: 18121, acctPort: 18131 });
    expect(c.radius.requireMessageAuthenticator).toBe(true);
    expect(c.radius.das).toMatchObject({ port: 3799 });
  });

  it('a RADIUS backend without servers is refused', () => {
    expect(() => validateConfig({ auth: { backend: 'radius-then-local' } })).toThrow(/radius\.servers: auth\.backend radius-then-local needs at least one server/);
  });

  it('the console stays on loopback unless TLS is configured', () => {
    expect(validateConfig({}).admin.listen).toBe('127.0.0.1:8080');
    expect(() => validateConfig({ admin: { listen: '0.0.0.0:8443' } })).toThrow(/admin\.tls: required/);
    expect(validateConfig({ admin: { listen: '0.0.0.0:8443', tls: { cert: '/c.pem', key: '/k.pem' } } }).admin.tls).toBeDefined();
  });
});
