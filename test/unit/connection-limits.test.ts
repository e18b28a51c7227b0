// What one peer may hold (pptp.* limits, ppp.setupTimeout), over the real listener on loopback with
// small limits: raw PPTP control connections from one address against a legitimate client from another.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlMessageType as T, type ControlMessage, ControlStreamReassembler, decodeControlMessage, encodeControlMessage } from '../../pptp/ControlMessage.js';
import { outgoingCallRequest, startControlConnectionRequest } from '../../bench/client/ControlRequests.js';
import { CLIENTS, closeHarnesses, type Harness, harness, SERVER, until } from './SessionHarness.js';
import { validateConfig } from '../../config/PorticoConfig.js';
import { connectionLimits, DESCRIPTOR_RESERVE } from '../../server/Limits.js';

afterEach(closeHarnesses);

const ATTACKER = CLIENTS[0]!;

/** A raw control connection from `from`, recording what the server sends and whether it closed. */
async function raw(h: Harness, from = ATTACKER): Promise<{ socket: Socket; messages: ControlMessage[]; closed: () => boolean }> {
  const socket = connect({ host: SERVER, port: h.port, localAddress: from });
  const messages: ControlMessage[] = [];
  const stream = new ControlStreamReassembler();
  let closed = false;
  socket.on('data', (chunk) => {
    stream.push(chunk);
    for (let m = stream.next(); m !== null; m = stream.next()) messages.push(decodeControlMessage(m));
  });
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  return { socket, messages, closed: () => closed };
}

const sccrq = () => encodeControlMessage(startControlConnectionRequest());
const ocrq = (callId: number) => encodeControlMessage(outgoingCallRequest(callId));
const results = (messages: ControlMessage[]) => messages.flatMap((m) => (m.type === T.OutgoingCallReply ? [m.resultCode] : []));

describe('limits per peer', () => {
  it('connections per address: the ones beyond the limit are closed at once; another address still logs in', async () => {
    const h = await harness({ connections: { maxConnectionsPerAddress: 3, connectionsPerSecondPerAddress: 100 } });
    const held = await Promise.all(Array.from({ length: 5 }, () => raw(h)));
    await until('the refused ones closed', () => held.filter((c) => c.closed()).length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(held.filter((c) => c.closed())).toHaveLength(2);
    await h.connect(1, 'bob');
    for (const c of held) c.socket.destroy();
  });

  it('new connections per second per address: a burst of twice the rate, then refused', async () => {
    const h = await harness({ connections: { connectionsPerSecondPerAddress: 2 } });
    const tries = [];
    for (let i = 0; i < 6; i++) tries.push(await raw(h));
    await new Promise((r) => setTimeout(r, 100));
    expect(tries.map((c) => c.closed())).toEqual([false, false, false, false, true, true]);
    for (const c of tries) c.socket.destroy();
  });

  it('no Start-Control-Connection-Request in time: closed; no call after it in time: Stop-Control-Connection-Request', async () => {
    const h = await harness({ connections: { startTimeoutMs: 200, callGraceMs: 300 } });
    const silent = await raw(h);
    await until('the silent connection closed', silent.closed, 2000);
    const idle = await raw(h);
    idle.socket.write(sccrq());
    await until('StopCCRQ', () => idle.messages.some((m) => m.type === T.StopControlConnectionRequest), 2000);
    expect(idle.messages.map((m) => m.type)).toEqual([T.StartControlConnectionReply, T.StopControlConnectionRequest]);
    idle.socket.destroy();
  });

  it('a peer that neither reads nor closes its side: its connection is cut after the linger time, its slot free again', async () => {
    const h = await harness({ connections: { startTimeoutMs: 300, maxConnectionsPerAddress: 1, connectionsPerSecondPerAddress: 100 } });
    // allowHalfOpen: our FIN (start timeout) does not close this side; paused: nothing queued to it is read.
    const stubborn = connect({ host: SERVER, port: h.port, localAddress: ATTACKER, allowHalfOpen: true });
    stubborn.pause();
    stubborn.on('error', () => {});
    try {
      await new Promise((resolve) => stubborn.once('connect', resolve));
      await new Promise((r) => setTimeout(r, 500)); // past the start timeout: the server has sent its FIN
      const refused = await raw(h);
      await new Promise((r) => setTimeout(r, 100));
      const refusedClosed = refused.closed();
      refused.socket.destroy();
      expect(refusedClosed).toBe(true); // the stubborn connection still holds the address's one slot
      await new Promise((r) => setTimeout(r, 2100)); // past the server's linger after its FIN
      const accepted = await raw(h);
      await new Promise((r) => setTimeout(r, 50));
      const acceptedClosed = accepted.closed();
      accepted.socket.destroy();
      expect(acceptedClosed).toBe(false);
    } finally {
      stubborn.destroy();
    }
  });

  it('an Echo-Request flood is read at a bounded rate: a burst, then about 16 KiB a second; another address still logs in', async () => {
    const h = await harness();
    const c = await raw(h);
    c.socket.write(sccrq());
    await until('the Start-Control-Connection-Reply', () => c.messages.length === 1);
    // 40 000 Echo-Requests (16 octets each, 640 KB) at once; each read one is answered.
    const echo = encodeControlMessage({ type: T.EchoRequest, identifier: 7 });
    c.socket.write(Buffer.concat(Array.from({ length: 40_000 }, () => echo)));
    await new Promise((r) => setTimeout(r, 2000));
    const answered = c.messages.filter((m) => m.type === T.EchoReply).length;
    // 4 096 at once (64 KiB), then 1 024 a second (a chunk read beyond the budget is paid for by
    // waiting): about 6 000 after 2 s, far from 40 000.
    expect(answered).toBeGreaterThan(4000);
    expect(answered).toBeLessThan(10_000);
    await h.connect(1, 'bob');
    c.socket.destroy();
  });

  it('calls per connection and calls not yet authenticated per address: refused (General Error); another address unaffected', async () => {
    const h = await harness({ limits: { maxCallsPerConnection: 2, maxUnauthenticatedCallsPerAddress: 3 } });
    const one = await raw(h);
    one.socket.write(Buffer.concat([sccrq(), ocrq(1), ocrq(2), ocrq(3)]));
    await until('three replies', () => results(one.messages).length === 3);
    expect(results(one.messages)).toEqual([1, 1, 2]); // Connected, Connected, General Error (RFC 2637 §2.8)
    const two = await raw(h);
    two.socket.write(Buffer.concat([sccrq(), ocrq(1), ocrq(2)]));
    await until('two replies', () => results(two.messages).length === 2);
    expect(results(two.messages)).toEqual([1, 2]); // the third unauthenticated call from this address is the last
    await h.connect(1, 'bob');
    one.socket.destroy();
    two.socket.destroy();
  });

  it('a call that never reaches the network phase is ended at the setup deadline (setup-timeout), freeing its slot', async () => {
    const h = await harness({ limits: { setupTimeoutMs: 300, maxUnauthenticatedCallsPerAddress: 1 } });
    const c = await raw(h);
    const down = h.nextDown();
    c.socket.write(Buffer.concat([sccrq(), ocrq(1)]));
    expect((await down).cause).toBe('setup-timeout');
    // Its slot among the calls not yet authenticated is free again: a new call from the same address is accepted.
    const again = await raw(h);
    again.socket.write(Buffer.concat([sccrq(), ocrq(2)]));
    await until('the new call accepted', () => results(again.messages).length === 1);
    expect(results(again.messages)).toEqual([1]);
    again.socket.destroy();
    c.socket.destroy();
  });
});

describe('descriptor reserve', () => {
  it('pptp.maxConnections stays DESCRIPTOR_RESERVE below the descriptor limit, and is kept when lower', () => {
    const config = validateConfig({ pptp: { maxConnections: 4096 } });
    expect(connectionLimits(config, 1024).maxConnections).toBe(1024 - DESCRIPTOR_RESERVE);
    expect(connectionLimits(config, 65536).maxConnections).toBe(4096);
    expect(connectionLimits(config, 100).maxConnections).toBe(1);
    expect(connectionLimits(config, null).maxConnections).toBe(4096);
  });
});
