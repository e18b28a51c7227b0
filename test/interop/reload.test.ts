// Reload without drops (server/ConfigReload.ts) with the real Linux client of the lab (pptp-linux +
// pppd + kernel MPPE in a QEMU VM): one session keeps pinging while the configuration is reloaded three
// times — SIGHUP with new DNS servers, a grown pool and a key that needs a restart; SIGHUP with an
// invalid file (refused, the key named, the old configuration kept); the console's Reload button
// (headless Chromium inside the test's namespace, as test/interop/admin.test.ts drives it). A user
// added to the store meanwhile and the new DNS servers take effect for the next login: a second VM
// logs in as that user and pppd reports the new servers from IPCP.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerHandle } from './Lab.js';

// Our own namespace unless the runner names one; Lab.ts reads the variable when it loads.
process.env.PORTICO_TEST_NETNS ??= 'portico-reload';
const { BASE_CONFIG, cli, labDown, labUp, NETNS, runClient, startServer } = await import('./Lab.js');

const CONSOLE = 'http://127.0.0.1:8080';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The long session: 400 pings, one every 0.3 s (about 120 s), past the reloads and the second login. */
const LONG_PINGS = 400;
const NEW_DNS = ['198.18.100.63', '198.18.100.64'];
/** pppd ending its own call: Call-Clear, Stop-Control-Connection or LCP Terminate from the client. */
const CLIENT_ENDS = ['peer-call-clear', 'peer-stop', 'peer-terminated'];

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('reload without drops: a live session of the real client across three reloads, the next login under the new configuration', () => {
  let server: ServerHandle;
  let browser: Browser;
  let adminPassword = '';

  beforeAll(async () => {
    labUp();
    server = await startServer({ ...BASE_CONFIG, dataPlane: { threads: 1 }, log: { level: 'info' } }, [['labuser', 'lab-password']]);
    const created = server.logs().find((l) => String(l.msg).startsWith('created console account'));
    adminPassword = String(created?.msg).match(/with password (\S+) /)?.[1] ?? '';
    const wrapper = join(mkdtempSync(join(tmpdir(), 'portico-chromium-')), 'chromium-in-netns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${NETNS}' /usr/bin/chromium "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: CHROMIUM_ARGS, timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    labDown();
  });

  it('no ping lost and no session end across SIGHUP, an invalid file and the console button; a new user and new DNS servers for the next login', async () => {
    const logs = (msg: string) => server.logs().filter((l) => l.msg === msg);
    const reloads = () => server.logs().filter((l) => String(l.msg).startsWith('configuration reload'));
    const started = JSON.parse(readFileSync(server.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    const write = (over: Record<string, unknown>) => writeFileSync(server.configFile, JSON.stringify({ ...started, ...over }, null, 2));
    const reloaded = { dns: NEW_DNS, pool: { ...started.pool, end: '198.18.100.220' }, tun: { ...started.tun, mtu: 1380 } };

    const long = runClient(['--client-ip', '198.18.0.10', '--pings', String(LONG_PINGS), '--ping-interval', '0.3', '--ping-loss-ok', String(LONG_PINGS)]);
    await until('the long session', () => logs('session up').length === 1, 120_000);
    const longCallId = Number(logs('session up')[0]!.callId);

    // 1. SIGHUP: new DNS servers, a grown pool, and tun.mtu (needs a restart: it stays 1400).
    write(reloaded);
    server.process.kill('SIGHUP');
    await until('the first reload line', () => reloads().length === 1, 10_000);
    expect(reloads()[0]).toMatchObject({ level: 30, by: 'SIGHUP', applied: ['pool.end', 'dns'], needsRestart: ['tun.mtu'] });
    expect(reloads()[0]!.msg).toBe('configuration reloaded: applied pool.end, dns; changed, needs a restart: tun.mtu');
    // A user added while the server runs: the store is read at every login.
    cli(server.configFile, 'user', 'add', 'newbie', '--password', 'newbie-pass-1');

    // 2. SIGHUP with an invalid file: refused with the key named, as at start; the WINS change with it is not applied.
    write({ ...reloaded, dns: '198.18.100.73', wins: ['198.18.100.75'] });
    server.process.kill('SIGHUP');
    await until('the second reload line', () => reloads().length === 2, 10_000);
    expect(reloads()[1]).toMatchObject({
      level: 40,
      by: 'SIGHUP',
      msg: 'configuration reload refused: the running configuration stays',
      problems: ['dns: expected a list, got string "198.18.100.73" (write [198.18.100.73])'],
    });

    // 3. The console's Reload button on the settings page, with the first file back: nothing new to apply.
    write(reloaded);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${CONSOLE}/`);
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', adminPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(`${CONSOLE}/sessions`);
    await page.goto(`${CONSOLE}/settings`);
    await page.locator('#reload-config').click();
    const result = page.locator('#reload-result');
    await result.waitFor({ state: 'visible', timeout: 10_000 });
    await expect(result.textContent()).resolves.toBe('configuration reloaded: nothing to apply; changed, needs a restart: tun.mtu');
    // The settings page shows the configuration in force: the new DNS servers, the MTU the TUN still has.
    await expect.poll(() => page.locator('.cards').first().textContent(), { timeout: 10_000 }).toContain('198.18.100.63, 198.18.100.64');
    await expect(page.locator('.cards').first().textContent()).resolves.toContain('MTU 1400');
    await context.close();
    expect(reloads()[2]).toMatchObject({ level: 30, by: 'console: admin', applied: [], needsRestart: ['tun.mtu'] });

    // The next login, from a second VM while the first still pings: the new user, the new DNS servers in IPCP.
    const next = await runClient(['--client-ip', '198.18.0.20', '--user', 'newbie', '--password', 'newbie-pass-1', '--pings', '3']);
    expect(next.connected, next.log_tail).toBe(true);
    expect(next.dns).toEqual(NEW_DNS);
    expect(next.ping).toMatchObject({ sent: 3, received: 3 });
    expect(logs('session up').at(-1)).toMatchObject({ user: 'newbie' });

    // The long session: every ping through all three reloads, its own DNS servers kept, ended by the client only.
    const a = await long;
    console.log(`reload: long session ${JSON.stringify(a.ping)} across ${reloads().length} reloads; second login dns ${JSON.stringify(next.dns)}`);
    expect(a.connected, a.log_tail).toBe(true);
    expect(a.dns).toEqual(BASE_CONFIG.dns);
    expect(a.ping).toMatchObject({ sent: LONG_PINGS, received: LONG_PINGS });
    await until('the long session to close', () => logs('session closed').some((l) => Number(l.callId) === longCallId), 15_000);
    const end = logs('session closed').find((l) => Number(l.callId) === longCallId)!;
    expect(CLIENT_ENDS).toContain(end.cause);
    expect(Number(end.time)).toBeGreaterThan(Number(reloads()[2]!.time));
    const k = end.counters as Record<string, number>;
    expect(k.rxPackets).toBeGreaterThanOrEqual(LONG_PINGS);
    expect(k.txPackets).toBeGreaterThanOrEqual(LONG_PINGS);
  }, 400_000);
});
