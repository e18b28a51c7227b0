// One long session keeps every ping while other sessions, on its data-plane thread
// and on the other one, start and end around it in every order. Real Linux clients (one QEMU VM
// each, test/lab) against the server with two data-plane threads: Call IDs are allocated in turn,
// so odd ones share the long session's thread and even ones run on the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG, labDown, labUp, runClient, startServer, type ClientResult, type ServerHandle } from './Lab.js';

/** The long session: 450 pings, one every 0.4 s (about 180 s), well past the churn around it (about 120 s under emulation). */
const LONG_PINGS = 450;
/** Seconds the overlapping sessions stay up after their pings: longer than a whole short client run (VM boot included) under emulation. */
const HOLD = 20;

describe('session churn around a long session, data plane on two threads', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    server = await startServer({ ...BASE_CONFIG, dataPlane: { threads: 2 }, log: { level: 'info' } }, [['labuser', 'lab-password']]);
  });

  afterAll(async () => {
    await server?.stop();
    labDown();
  });

  const logs = (msg: string) => server.logs().filter((l) => l.msg === msg);
  const sessionsUp = () => logs('session up').length;
  async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** A short client on its own VM (address 198.18.0.N): up, two pings, optionally held up, down. */
  const shortClient = (n: number, hold = 0) => runClient(['--client-ip', `198.18.0.${n}`, '--pings', '2', ...(hold > 0 ? ['--hold', String(hold)] : [])]);

  it('the long session loses no ping while sessions start and end on both threads in every order', async () => {
    const long = runClient(['--client-ip', '198.18.0.10', '--pings', String(LONG_PINGS), '--ping-interval', '0.4', '--ping-loss-ok', String(LONG_PINGS)]);
    await until('the long session', () => sessionsUp() === 1);

    // 1. The sequence, one after the other: the other thread's session (Call ID 2) ends,
    //    then one on the long session's thread (Call ID 3).
    const seq: ClientResult[] = [];
    seq.push(await shortClient(11));
    seq.push(await shortClient(12));

    // 2. Overlapping, the long session's thread ends first: Call ID 4 (other thread) is held up
    //    while Call ID 5 (same thread) comes and goes.
    const held4 = shortClient(13, HOLD);
    await until('Call ID 4', () => sessionsUp() === 4);
    const quick5 = await shortClient(14);
    const slow4 = await held4;

    // 3. Overlapping, the other thread ends first: Call ID 7 (same thread) is held up while
    //    Call ID 6 (other thread) comes and goes.
    const first6 = shortClient(15);
    await until('Call ID 6', () => sessionsUp() === 6);
    const held7 = shortClient(16, HOLD);
    const quick6 = await first6;
    const slow7 = await held7;

    const churn = [...seq, quick5, slow4, quick6, slow7];
    for (const r of churn) {
      expect(r.connected, r.log_tail).toBe(true);
      expect(r.ping).toMatchObject({ sent: 2, received: 2 });
    }

    // The status dump (SIGUSR2) while the long session still runs: nothing stuck, nothing lost.
    const open = () =>
      logs('session up')
        .map((l) => Number(l.callId))
        .filter((c) => c !== 1 && !logs('session closed').some((l) => Number(l.callId) === c));
    await until('the churn sessions to close', () => open().length === 0, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}: Call IDs ${open().join(', ')} still open`);
    });
    server.process.kill('SIGUSR2');
    await until('the status dump', () => logs('status').length === 1, 5_000);
    const dump = logs('status')[0]! as {
      sessionCount: number;
      stuck: number[];
      sessions: Array<{ callId: number; stuck: boolean; counters: Record<string, number> }>;
      counters: Record<string, number>;
    };
    expect(dump.sessionCount).toBe(1);
    expect(dump.stuck).toEqual([]);
    expect(dump.sessions[0]).toMatchObject({ callId: 1, stuck: false });
    const live = dump.sessions[0]!.counters;
    expect(live.rxFrames).toBe(live.rxPackets + live.rxControl); // every frame from the client delivered
    expect(dump.counters).toMatchObject({ greUnknownCall: 0, greWrongSource: 0, greOutOfOrder: 0, pppMalformed: 0, greReadDropped: 0, tunReadDropped: 0, tunWriteDropped: 0, greSendDropped: 0 });

    const a = await long;
    expect(a.connected, a.log_tail).toBe(true);
    console.log(`churn: long session ${JSON.stringify(a.ping)} while ${churn.length} sessions came and went`);
    expect(a.ping).toMatchObject({ sent: LONG_PINGS, received: LONG_PINGS });

    // What the server saw: Call IDs 1..7, ends in the orders meant above, all inside the long session.
    const up = new Map(logs('session up').map((l) => [Number(l.callId), Number(l.time)]));
    const closed = new Map(logs('session closed').map((l) => [Number(l.callId), l]));
    expect([...up.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const end = (c: number) => Number(closed.get(c)?.time);
    expect(end(2)).toBeLessThan(up.get(3)!);
    expect(end(5)).toBeLessThan(end(4));
    expect(up.get(5)!).toBeGreaterThan(up.get(4)!);
    expect(end(6)).toBeLessThan(end(7));
    expect(up.get(7)!).toBeGreaterThan(up.get(6)!);
    for (let c = 2; c <= 7; c++) {
      expect(up.get(c)!).toBeGreaterThan(up.get(1)!);
      expect(end(c)).toBeLessThan(end(1));
    }
    // The long session's own counters (kept by its thread): every ping both ways, nothing dropped.
    const k = closed.get(1)!.counters as Record<string, number>;
    expect(k.rxPackets).toBeGreaterThanOrEqual(LONG_PINGS);
    expect(k.txPackets).toBeGreaterThanOrEqual(LONG_PINGS);
    expect(k).toMatchObject({ rxSpoofed: 0, rxUndecryptable: 0, rxNotReady: 0 });
  }, 400_000);
});
