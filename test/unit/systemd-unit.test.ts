// contrib/systemd/portico.service: systemd's own checker accepts it, and it grants the server what it
// needs and nothing more. (Running the server the way the unit does, as user portico with only these
// capabilities: test/interop/systemd-unit.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/PorticoConfig.js';

const UNIT = new URL('../../contrib/systemd/portico.service', import.meta.url);
const text = readFileSync(UNIT, 'utf8');
/** The values of `key` in the unit, commented lines aside. */
const values = (key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'portico-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('systemd unit', () => {
  it('systemd-analyze verify has nothing to say about it', () => {
    // Where Node 24 is not in /opt/node-24, verify would only say that the command is missing: the node running this test stands in.
    const file = join(dir, 'portico.service');
    writeFileSync(file, text.replace('/opt/node-24/bin/node', process.execPath));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(r.error?.message, 'systemd-analyze runs (Debian: apt-get install systemd; .ci/run does)').toBeUndefined();
    // Only what it says about this unit: it also speaks of units installed on the machine it runs on.
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('portico'))).toEqual([]);
    expect(r.status).toBe(0);
    // systemd's own exposure score (0 safest .. 10), for the record.
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', file], { encoding: 'utf8' });
    console.log(security.stdout.split('\n').find((l) => l.includes('Overall exposure level')) ?? security.stderr);
  });

  it('runs as user portico with CAP_NET_ADMIN and CAP_NET_RAW only, and waits longer for a stop than the server takes', () => {
    expect(values('User')).toEqual(['portico']);
    expect(values('AmbientCapabilities')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(values('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(values('NoNewPrivileges')).toEqual(['yes']);
    expect(values('ProtectSystem')).toEqual(['strict']);
    expect(values('ReadWritePaths')).toEqual([validateConfig({}).dataDir]);
    expect(values('DeviceAllow')).toEqual(['/dev/net/tun rw']);
    expect(values('RestrictAddressFamilies')).toEqual(['AF_INET AF_INET6 AF_UNIX AF_NETLINK']);
    expect(values('KillSignal')).toEqual(['SIGTERM']);
    expect(Number(values('TimeoutStopSec')[0])).toBeGreaterThan(validateConfig({}).shutdownTimeout);
  });
});
