// Byte vectors of what the fuzz targets found (test/fuzz/fuzz.test.ts), one test per finding. A bug
// that is still open is an `it.fails` naming it: the suite stays green, and the test starts failing
// (flips) the day the bug is fixed, so whoever fixes it turns it into a plain `it`.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// As in fuzz.test.ts: LCP magic numbers and CHAP challenges follow the script, so it replays exactly.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const { deterministicRandomBytes } = await import('./Entropy.js');
  return { ...actual, randomBytes: deterministicRandomBytes };
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/PorticoConfig.js';
import { MPPE_RESET, MppeDecryptor, MppeEncryptor } from '../../ppp/mppe/MppeCipher.js';
import { ByteWriter, timers } from './Helpers.js';
import { runLinkScript } from './targets/PppLink.js';

describe('config (fuzz target "config")', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-fuzz-regression-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (text: string): unknown => {
    const file = join(dir, 'portico.yaml');
    writeFileSync(file, text);
    try {
      loadConfig(file);
      return null;
    } catch (err) {
      return err;
    }
  };

  // CONFIG-IPV4-REFINE, fixed (found by the fuzz target "config", seed 0x5eed2026, first at input 21:
  // hex 037b22706f6f6c223a7b227374617274223a22312e322e332e342e35227d7d, i.e. {"pool":{"start":"1.2.3.4.5"}}):
  // a pool.start, pool.end or tun.address string that z.ipv4() rejects is still handed to parseIpv4() by
  // the schema's superRefine (zod runs refinements after non-fatal format issues), which throws a plain
  // Error("not an IPv4 address") out of validateConfig/loadConfig instead of a ConfigError naming the key.
  for (const [key, text] of [
    ['pool.start', 'pool:\n  start: 1.2.3.4.5\n'],
    ['pool.end', 'pool: { end: 10.99.0.300 }\n'],
    ['tun.address', 'tun:\n  address: 1.2.3\n'],
  ] as const) {
    it(`a malformed ${key} is a ConfigError naming ${key} (CONFIG-IPV4-REFINE)`, () => {
      const err = load(text);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`${key}:`);
    });
  }
});

describe('PPP link (fuzz target "ppp-link")', () => {
  beforeEach(() => timers.install());
  afterEach(() => timers.uninstall());

  // Found by the fuzz target "ppp-link" (seed 0x5eed2026, e.g. input 3969) before 8a31fc0: after an LCP
  // renegotiation a *different* user authenticated and the network came up for that user with the address
  // assignAddress had given the first user (never asked for the new one: its static address or RADIUS
  // Framed-IP-Address ignored). Fixed concurrently in 8a31fc0 (the link ends with 'user-changed'); this
  // vector keeps it fixed.
  it('a second login under another name after an LCP renegotiation does not bring the network up', async () => {
    const w = new ByteWriter().u8(0x00).u8(0x00); // MS-CHAPv2 only, MPPE-128 required
    const bob = 5;
    const alice = 0;
    const coop = (i: number, name: number) =>
      w.step(
        12,
        new ByteWriter()
          .u8(i % 2)
          .u8(0)
          .u8(0)
          .u8(0)
          .u8(name)
          .u8(0),
      );
    for (let i = 0; i < 16; i++) coop(i, bob);
    // The client's LCP Configure-Request again, in Opened: renegotiation, then a new CHAP exchange.
    w.step(0, new ByteWriter().u8(9));
    for (let i = 0; i < 16; i++) coop(i, alice);
    const { events } = await runLinkScript(w.toBuffer());
    expect(events).toContain('verdict "bob" true');
    expect(events.some((e) => e.startsWith('up bob '))).toBe(true);
    expect(events).toContain('verdict "alice" true');
    expect(events.some((e) => e.startsWith('up alice '))).toBe(false);
  });
});

describe('MPPE (fuzz target "mppe")', () => {
  // FINDING MPPE-STATEFUL-LOST-FLUSH (fuzz target "mppe", seed 0x5eed2026, input 634, shrunk script
  // 1c040001022301040000010c040000): in stateful mode the sender re-keys for every flushed packet it sends
  // after a CCP Reset-Request, but a receiver that is discarding re-keys only once per flag packet (CC low
  // octet 0xff) it missed, plus once for the flushed packet it resumes on. If the flushed packet that
  // answers a Reset-Request is itself lost, the two sides stay one key apart for good: every later packet
  // "decrypts" to garbage, and the receiver never asks for another reset. Linux ppp_mppe.c does exactly
  // the same (this module follows it), so this may be accepted as is; then delete this test.
  it.fails('stateful MPPE is back in step after losing the flushed packet that answered a Reset-Request', () => {
    const key = Buffer.from('8b7cdc149b993a1ba118cb153f56dccb', 'hex');
    const enc = new MppeEncryptor(key, 128, false);
    const dec = new MppeDecryptor(key, 128, false);
    const packet = (text: string): Buffer => {
      const b = Buffer.alloc(2 + text.length);
      b.write(text, 2, 'latin1');
      enc.encrypt(b, 2, text.length);
      return b;
    };
    const deliver = (b: Buffer): number => dec.decrypt(b, 0, b.length);
    expect(deliver(packet('first'))).toBe(5);
    packet('lost in transit'); // CC 1 lost
    expect(deliver(packet('third'))).toBe(MPPE_RESET); // gap seen: CCP Reset-Request goes out
    enc.onResetRequest();
    packet('the flushed answer'); // CC 3, flushed (A): lost as well
    // Nothing is accepted until the next flushed packet: the flag packet at CC 0xff.
    while ((enc.coherencyCount + 1) % 256 !== 0xff) deliver(packet('dropped while discarding'));
    const last = packet('flag packet');
    const n = deliver(last);
    expect(n).toBe('flag packet'.length);
    expect(last.subarray(2, 2 + n).toString('latin1')).toBe('flag packet');
  });
});
