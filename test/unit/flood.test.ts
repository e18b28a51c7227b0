// One authenticated session that floods what costs the server work per frame: MPPE frames whose
// coherency count jumps by 2048 (2047 catch-up key changes each, RFC 3078 §7.1 stateless), or
// control frames (LCP Echo-Requests). Its budgets refuse the excess, the refusals are counted in its
// row, the session is ended ('flood') at the next sweep, and another session keeps working.
import { afterEach, describe, expect, it } from 'vitest';
import { ControlCode, encodeControlPacket } from '../../ppp/ControlPacket.js';
import { PppProtocol } from '../../ppp/PppProtocol.js';
import { closeHarnesses, harness, ping, POOL, until } from './SessionHarness.js';

afterEach(closeHarnesses);

/** A stateless MPPE frame (A|D, RFC 3078 §3) with count `cc` and a payload nobody can decrypt. */
function jumpFrame(cc: number): Buffer {
  const f = Buffer.alloc(102, 0x5a);
  f[0] = 0x90 | (cc >> 8);
  f[1] = cc & 0xff;
  return f;
}

describe('flood protection per session', () => {
  it('MPPE count jumps: a few are paid from the budget, the rest refused (rxRekeyLimited) and the session ended; the other session keeps its traffic', async () => {
    const h = await harness({ sweepMs: 200 });
    const [flooder, other] = await Promise.all([h.connect(0), h.connect(1, 'bob')]);
    const down = h.nextDown();
    const t0 = Date.now();
    for (let i = 1; i <= 400; i++) flooder.session.sendControlFrame(PppProtocol.Mppe, jumpFrame((i * 2048) & 0xfff));
    const ended = await down;
    const seconds = (Date.now() - t0) / 1000;
    expect(ended).toMatchObject({ user: 'alice', cause: 'flood' });
    // Counts 2048, 0, 2048, ...: each is 2048 ahead of the last accepted one (2047 catch-up key changes) or
    // equal to it. The 4096 burst and the 400 frames' own earnings pay for two jumps, the refill (2048/s)
    // for one a second more (a loaded machine takes longer to deliver the 400); a frame whose count was
    // refused leaves the state as it was, so the next equal one is a plain duplicate.
    const c = ended.counters;
    expect(c.rxFrames).toBeGreaterThanOrEqual(400);
    const decrypted = 400 - c.rxRekeyLimited - c.rxUndecryptable;
    expect(decrypted).toBeLessThanOrEqual(3 + Math.ceil(seconds));
    expect(c.rxRekeyLimited).toBeGreaterThanOrEqual(195 - decrypted);
    // The other session was never slowed into losing anything.
    other.session.sendIp(ping(POOL.end, '198.18.100.1', 1));
    h.tun.inject([ping('198.18.100.1', POOL.end, 2)]);
    await until('traffic of the other session', () => other.received.length === 1 && h.tun.written.length === 1);
    expect(h.sessions.findSessions({ user: 'bob' })[0]!.counters).toMatchObject({ rxRekeyLimited: 0, rxControlLimited: 0 });
  });

  it('an LCP Echo-Request flood: 100 answered (the burst), the rest refused (rxControlLimited), the session ended', async () => {
    const h = await harness({ sweepMs: 200 });
    const c = await h.connect(0);
    const answeredBefore = h.serverGre.sent.length;
    const down = h.nextDown();
    const magic = Buffer.alloc(4);
    for (let i = 0; i < 1000; i++) c.session.sendControlFrame(PppProtocol.LCP, encodeControlPacket(ControlCode.EchoRequest, i & 0xff, magic));
    const ended = await down;
    expect(ended.cause).toBe('flood');
    expect(ended.counters.rxControlLimited).toBeGreaterThanOrEqual(1000 - 100 - 10); // the bucket refills 50/s meanwhile
    // What the server sent for it: at most the burst and refill of Echo-Replies, then the LCP Terminate-Request.
    expect(h.serverGre.sent.length - answeredBefore).toBeLessThanOrEqual(100 + 10 + 2);
  });
});
