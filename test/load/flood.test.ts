// A flood of worst-case MPPE frames from one authenticated session for 10 s, next to a session that
// measures its LCP echo round trip every 100 ms and a third that logs in meanwhile. Worst case: every
// coherency count 2048 ahead of the previous one (RFC 3078 §7.1 stateless: 2047 catch-up key changes,
// ~2.8 ms each frame without a budget), injected as fast as the server takes them. The server, the
// clients and the flood share one thread here (SessionHarness, in-memory GRE), so the round trip
// measures exactly the server work the flood costs. Run with the budgets and without (printed for
// comparison; asserted only with them). Part of `npm test`, not of the fast lane.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SESSION_BUDGETS, type SessionBudgets } from '../../dataplane/DataPlane.js';
import { CLIENTS, closeHarnesses, harness } from '../unit/SessionHarness.js';
import { greWrap, ip } from '../unit/TestPackets.js';

afterEach(closeHarnesses);

const FLOOD_MS = 10_000;
const UNLIMITED: SessionBudgets = { catchUpBurst: Infinity, catchUpPerSecond: Infinity, controlBurst: Infinity, controlPerSecond: Infinity };

interface FloodFigures {
  protected: boolean;
  framesSent: number;
  medianRttMs: number;
  echoLoss: number;
  loginMs: number;
  cpuPercent: number;
  flooder: { cause: string | null; rxRekeyLimited: number };
}

async function flood(budgets: SessionBudgets | null): Promise<FloodFigures> {
  const h = await harness({ poolEnd: '198.18.100.12', ...(budgets ? {} : { budgets: UNLIMITED, floodLimit: Infinity }) });
  const [flooder, pinger] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
  const callId = h.sessions.findSessions({ user: 'alice' })[0]!.callId;
  let ended: { cause: string; counters: { rxRekeyLimited: number } } | null = null;
  h.sessions.on('session-down', (s) => {
    if (s.user === 'alice') ended = s;
  });
  // MPPE frames (FF 03 00 FD, A|D, count 2048 ahead of the last), GRE sequence numbers just after the client's own.
  const frame = (k: number) => {
    const cc = (4095 + 2048 * (k + 1)) & 0xfff;
    const ppp = Buffer.alloc(104, 0x5a);
    ppp.writeUInt32BE(0xff0300fd, 0);
    ppp[4] = 0x90 | (cc >> 8);
    ppp[5] = cc & 0xff;
    return { data: greWrap(callId, ppp, 100 + k), from: ip(CLIENTS[0]!) };
  };
  let sent = 0;
  let echoes = 0;
  let loginMs = Number.NaN;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const pinging = setInterval(() => {
    pinger.session.sendEcho();
    echoes++;
  }, 100);
  const login = new Promise<void>((resolve) =>
    setTimeout(async () => {
      const start = Date.now();
      await h.connect(2, 'carol');
      loginMs = Date.now() - start;
      resolve();
    }, 2000),
  );
  while (Date.now() - t0 < FLOOD_MS) {
    h.serverGre.inject(Array.from({ length: 32 }, () => frame(sent++)));
    await new Promise((r) => setImmediate(r));
  }
  clearInterval(pinging);
  await login;
  const cpu = process.cpuUsage(cpu0);
  const rtts = [...pinger.echoRtts].sort((a, b) => a - b);
  const row = h.sessions.findSessions({ user: 'alice' })[0];
  void flooder;
  const end = ended as { cause: string; counters: { rxRekeyLimited: number } } | null;
  return {
    protected: budgets !== null,
    framesSent: sent,
    medianRttMs: rtts.length > 0 ? Math.round(rtts[rtts.length >> 1]! * 100) / 100 : Number.NaN,
    echoLoss: Math.round((1 - rtts.length / echoes) * 1000) / 1000,
    loginMs,
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (Date.now() - t0)) * 100),
    flooder: { cause: end?.cause ?? null, rxRekeyLimited: end?.counters.rxRekeyLimited ?? row?.counters.rxRekeyLimited ?? 0 },
  };
}

describe('a worst-case MPPE flood from one session', () => {
  it('with the budgets: the other session keeps a median echo under 50 ms with under 10 % loss, a login takes under 5 s, the flood is counted and ended', async () => {
    const withBudgets = await flood(DEFAULT_SESSION_BUDGETS);
    await closeHarnesses();
    const without = await flood(null);
    console.log(`flood figures\n  with budgets:    ${JSON.stringify(withBudgets)}\n  without budgets: ${JSON.stringify(without)}`);
    expect(withBudgets.medianRttMs).toBeLessThan(50);
    expect(withBudgets.echoLoss).toBeLessThan(0.1);
    expect(withBudgets.loginMs).toBeLessThan(5000);
    expect(withBudgets.flooder.cause).toBe('flood');
    expect(withBudgets.flooder.rxRekeyLimited).toBeGreaterThan(0);
  }, 120_000);
});
