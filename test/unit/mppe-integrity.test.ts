// MPPE keystream integrity across renegotiations (RFC 3078 §7.1: a key and coherency count are
// never used twice). IPCP, CCP and LCP are never encrypted, so anyone on the path can inject them
// into a live session; the server must then neither repeat keystream it already sent nor restart
// its decryptor so that old client packets decrypt again. The peer is the load generator's client
// (SessionHarness); the injections go out as it would send them, which is what an attacker can do.
import { afterEach, describe, expect, it } from 'vitest';
import { GreHeaderView, GreParseResult, parseGreHeader } from '../../gre/GreHeader.js';
import { ControlCode, encodeControlPacket, encodeOptions } from '../../ppp/ControlPacket.js';
import { PppProtocol } from '../../ppp/PppProtocol.js';
import { type Client, closeHarnesses, type Harness, harness, ping, POOL } from './SessionHarness.js';
import { ip } from './TestPackets.js';

afterEach(closeHarnesses);

/** The PPP frame inside a GRE packet: protocol and where its payload starts (ACFC and PFC allowed). */
function pppOf(gre: Buffer): { protocol: number; payload: Buffer } | null {
  const v = new GreHeaderView();
  if (parseGreHeader(gre, 0, gre.length, v) !== GreParseResult.Ok || v.payloadLength === 0) return null;
  let p = v.payloadOffset;
  const end = p + v.payloadLength;
  if (gre[p] === 0xff && gre[p + 1] === 0x03) p += 2;
  const protocol = (gre[p]! & 1) === 1 ? gre[p++]! : (gre[p++]! << 8) | gre[p++]!;
  return { protocol, payload: gre.subarray(p, end) };
}

/** Coherency counts of the MPPE frames the server sent to client 0 since `from` (an index into serverGre.sent). */
function serverCounts(h: Harness, from = 0): number[] {
  return h.serverGre.sent
    .slice(from)
    .filter((s) => s.to === ip('127.0.0.3'))
    .map((s) => pppOf(s.data))
    .filter((f) => f?.protocol === PppProtocol.Mppe)
    .map((f) => ((f!.payload[0]! & 0x0f) << 8) | f!.payload[1]!);
}

/** The MPPE payloads (header + ciphertext) client 0 has sent so far: what a replay would resend. */
function clientMppePayloads(h: Harness): Buffer[] {
  return h.clientGre[0]!.sent.map((s) => pppOf(s.data)).flatMap((f) => (f?.protocol === PppProtocol.Mppe ? [Buffer.from(f.payload)] : []));
}

async function exchange(h: Harness, c: Client, n: number, tag: number): Promise<void> {
  const got = c.received.length;
  const onTun = h.tun.written.length;
  for (let i = 0; i < n; i++) {
    h.tun.inject([ping('198.18.100.1', POOL.start, tag + i)]);
    c.session.sendIp(ping(POOL.start, '198.18.100.1', tag + i));
  }
  const end = Date.now() + 3000;
  while (c.received.length < got + n || h.tun.written.length < onTun + n) {
    if (Date.now() > end) throw new Error(`exchange ${tag}: client got ${c.received.length - got}/${n}, TUN ${h.tun.written.length - onTun}/${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 200));
const request = (id: number, options: Array<{ type: number; data: Buffer }>) => encodeControlPacket(ControlCode.ConfigureRequest, id, encodeOptions(options));
const addressOption = (a: string) => ({ type: 3, data: Buffer.from(a.split('.').map(Number)) });

/** Sends old MPPE frames again (with fresh GRE sequence numbers: GRE has no integrity) and returns how many reached the TUN. */
async function replay(h: Harness, c: Client, old: Buffer[]): Promise<number> {
  const before = h.tun.written.length;
  const undecryptable = h.sessions.listSessions()[0]!.counters.rxUndecryptable;
  for (const frame of old) c.session.sendControlFrame(PppProtocol.Mppe, frame);
  await settle();
  expect(h.sessions.listSessions()[0]!.counters.rxUndecryptable - undecryptable).toBe(old.length);
  return h.tun.written.length - before;
}

describe('MPPE keystream integrity across renegotiations', () => {
  it('an injected clear-text IPCP Configure-Request: IPCP renegotiates, MPPE carries on (counts continue, no repeat); old client packets replayed stay dropped', async () => {
    const h = await harness();
    const c = await h.connect(0);
    await exchange(h, c, 5, 1);
    const old = clientMppePayloads(h);
    expect(old).toHaveLength(5);

    c.session.sendControlFrame(PppProtocol.IPCP, request(0x77, [addressOption(POOL.start)]));
    await settle();
    // IPCP went down and up again (our IPCP request, the client's Ack) and the session is the same one.
    expect(h.sessions.sessionCount).toBe(1);
    await exchange(h, c, 5, 10);
    expect(serverCounts(h)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await replay(h, c, old)).toBe(0);
    await exchange(h, c, 2, 20); // still working after the replays
  });

  it('an injected CCP Configure-Request after data: the session ends ccp-renegotiated, no count sent twice', async () => {
    const h = await harness();
    const c = await h.connect(0);
    await exchange(h, c, 5, 1);
    const down = h.nextDown();
    const mppe = Buffer.alloc(4);
    mppe.writeUInt32BE(0x01000040, 0); // H (stateless) + S (128-bit), RFC 3078 §2.1
    c.session.sendControlFrame(PppProtocol.CCP, request(0x55, [{ type: 18, data: mppe }]));
    expect((await down).cause).toBe('ccp-renegotiated');
    const counts = serverCounts(h);
    expect(new Set(counts).size).toBe(counts.length);
  });

  it('an injected LCP Configure-Request: LCP renegotiates and re-authenticates, fresh keys; counts restart only under the new key; old packets stay dropped', async () => {
    const h = await harness();
    const c = await h.connect(0);
    await exchange(h, c, 5, 1);
    const old = clientMppePayloads(h);
    const oldKeys = c.session.keys!;
    const sentBefore = h.serverGre.sent.length;

    c.session.sendControlFrame(PppProtocol.LCP, request(0x66, [{ type: 5, data: Buffer.from([1, 2, 3, 4]) }]));
    const end = Date.now() + 3000;
    while (!(c.session.isUp && c.session.keys !== oldKeys)) {
      if (Date.now() > end) throw new Error('the client did not come up again after the LCP renegotiation');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(c.session.keys!.recvKey.equals(oldKeys.recvKey)).toBe(false); // a new MS-CHAPv2 exchange, new master keys (RFC 3079 §3)
    expect(h.sessions.sessionCount).toBe(1);
    expect(h.ups).toHaveLength(1); // the same session, the same accounting
    await exchange(h, c, 5, 10);
    expect(serverCounts(h, 0).slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(serverCounts(h, sentBefore)).toEqual([0, 1, 2, 3, 4]); // from 0 again, under the new send key
    expect(await replay(h, c, old)).toBe(0);
  });
});
