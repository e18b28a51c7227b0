// DynamicAuthorization: which sessions a Disconnect-/CoA-Request names (RFC 5176 §3) and what it does
// to them, against a fake SessionManager; plus one round trip through a real DasServer socket.
import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DasServer, type DasRequest } from '../../radius/DasServer.js';
import { Attr, ErrorCause, integerAttribute, readInteger, textAttribute, VENDOR_MICROSOFT, vendorAttribute } from '../../radius/Dictionary.js';
import { sealRequest } from '../../radius/RadiusCrypto.js';
import { decodePacket, findAttribute, RadiusCode, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import type { SessionEvents, SessionSelector, SessionSummary } from '../../session/SessionManager.js';
import { DynamicAuthorization } from '../../aaa/DynamicAuthorization.js';
import { endCauseText, type SessionStop } from '../../session/EndCause.js';
import { newSessionCounters } from '../../dataplane/SessionCounters.js';

function summary(callId: number, user: string, address: string, peer = '198.18.0.10'): SessionSummary {
  return {
    sessionId: `sess-${callId}`,
    callId,
    peerCallId: 1000 + callId,
    peer,
    user,
    address,
    authMethod: 'MS-CHAPv2',
    mppe: 'MPPE-128 stateless',
    startedAt: 0,
    upAt: 1,
    sessionTimeout: null,
    idleTimeout: null,
    classes: [],
    interimInterval: null,
    counters: newSessionCounters(),
    stuck: false,
  };
}

/** The session side of SessionManager: the same matching rules, disconnects that end a tick later. */
class FakeServer extends EventEmitter<SessionEvents> {
  sessions = [summary(1, 'alice', '198.19.0.50'), summary(2, 'bob', '198.18.100.10', '198.18.0.11'), summary(3, 'alice', '198.18.100.11', '198.18.0.12')];
  disconnected: Array<{ callId: number; cause: SessionStop }> = [];
  limits: Array<{ callId: number; limits: unknown }> = [];
  /** false: the peer never acknowledges the Terminate. */
  teardownCompletes = true;
  listSessions(): SessionSummary[] {
    return this.sessions;
  }
  findSessions(sel: SessionSelector): SessionSummary[] {
    if (Object.values(sel).every((v) => v === undefined)) return [];
    return this.sessions.filter(
      (s) =>
        (sel.user === undefined || s.user?.toLowerCase() === sel.user.toLowerCase()) &&
        (sel.sessionId === undefined || s.sessionId === sel.sessionId) &&
        (sel.address === undefined || s.address === sel.address) &&
        (sel.callId === undefined || s.callId === sel.callId),
    );
  }
  disconnect(callId: number, cause: SessionStop): boolean {
    const s = this.sessions.find((x) => x.callId === callId);
    if (!s) return false;
    this.disconnected.push({ callId, cause });
    if (this.teardownCompletes) {
      setTimeout(() => {
        this.sessions = this.sessions.filter((x) => x !== s);
        this.emit('session-down', { ...s, cause, detail: endCauseText(cause), endedAt: Date.now() });
      }, 5);
    }
    return true;
  }
  setLimits(callId: number, limits: unknown): boolean {
    this.limits.push({ callId, limits });
    return true;
  }
}

const quiet = pino({ level: 'silent' });

function request(kind: 'disconnect' | 'coa', attributes: RadiusAttribute[], fields: Partial<DasRequest>): DasRequest {
  return {
    kind,
    code: kind === 'disconnect' ? RadiusCode.DisconnectRequest : RadiusCode.CoaRequest,
    identifier: 1,
    attributes,
    source: { address: '127.0.0.1', port: 40000 },
    hasMessageAuthenticator: false,
    ...fields,
  };
}

describe('DynamicAuthorization', () => {
  it('Disconnect by User-Name ends every matching session with admin-reset, ACKs after they are gone', async () => {
    const server = new FakeServer();
    const das = new DynamicAuthorization({ server, log: quiet });
    const r = await das.handler(request('disconnect', [textAttribute(Attr.UserName, 'ALICE')], { userName: 'ALICE' }));
    expect(r.ack).toBe(true);
    expect(r.attributes?.map((a) => [a.type, readInteger(a)])).toEqual([[Attr.AcctTerminateCause, 6]]);
    expect(server.disconnected).toEqual([
      { callId: 1, cause: 'radius-disconnect' },
      { callId: 3, cause: 'radius-disconnect' },
    ]);
    expect(server.sessions.map((s) => s.callId)).toEqual([2]); // they were gone before the ACK
  });

  it('all given identifiers must match: Acct-Session-Id, Framed-IP-Address, NAS-Port, Calling-Station-Id', async () => {
    const cases: Array<[RadiusAttribute[], Partial<DasRequest>, number[]]> = [
      [[textAttribute(Attr.AcctSessionId, 'sess-2')], { acctSessionId: 'sess-2' }, [2]],
      [[], { framedIpAddress: '198.19.0.50' }, [1]],
      [[], { nasPort: 3 }, [3]],
      [[], { userName: 'alice', nasPort: 2 }, []],
      [[], { callingStationId: '198.18.0.11' }, [2]],
      [[], { userName: 'alice', callingStationId: '198.18.0.12' }, [3]],
    ];
    for (const [attrs, fields, expected] of cases) {
      const server = new FakeServer();
      const r = await new DynamicAuthorization({ server, log: quiet }).handler(request('disconnect', attrs, fields));
      expect(
        server.disconnected.map((d) => d.callId),
        JSON.stringify(fields),
      ).toEqual(expected);
      expect(r.ack).toBe(expected.length > 0);
      if (!r.ack) expect(r.errorCause).toBe(ErrorCause.SessionContextNotFound);
    }
  });

  it('NAK: 503 unknown session, 402 no identification, 401 unsupported attribute, 405 Authorize-Only', async () => {
    const das = new DynamicAuthorization({ server: new FakeServer(), log: quiet });
    expect(await das.handler(request('disconnect', [], { acctSessionId: 'nope' }))).toEqual({ ack: false, errorCause: 503 });
    expect(await das.handler(request('disconnect', [], {}))).toEqual({ ack: false, errorCause: 402 });
    expect(await das.handler(request('disconnect', [integerAttribute(Attr.SessionTimeout, 5)], { userName: 'bob' }))).toEqual({ ack: false, errorCause: 401 });
    expect(await das.handler(request('coa', [textAttribute(Attr.AcctMultiSessionId, 'm')], { userName: 'bob' }))).toEqual({ ack: false, errorCause: 401 });
    expect(await das.handler(request('coa', [vendorAttribute(VENDOR_MICROSOFT, 7, Buffer.alloc(4))], { userName: 'bob' }))).toEqual({ ack: false, errorCause: 401 });
    expect(await das.handler(request('coa', [integerAttribute(Attr.ServiceType, 17)], { userName: 'bob', serviceType: 17 }))).toEqual({ ack: false, errorCause: 405 });
  });

  it('CoA sets Session-Timeout / Idle-Timeout of every match (0 removes the limit); nothing to change: NAK 402', async () => {
    const server = new FakeServer();
    const das = new DynamicAuthorization({ server, log: quiet });
    const r = await das.handler(request('coa', [integerAttribute(Attr.IdleTimeout, 10), integerAttribute(Attr.SessionTimeout, 0)], { userName: 'alice' }));
    expect(r).toEqual({ ack: true });
    expect(server.limits).toEqual([
      { callId: 1, limits: { idleTimeout: 10, sessionTimeout: null } },
      { callId: 3, limits: { idleTimeout: 10, sessionTimeout: null } },
    ]);
    expect(await das.handler(request('coa', [], { userName: 'bob' }))).toEqual({ ack: false, errorCause: 402 });
    expect(server.disconnected).toEqual([]);
  });

  it('a peer that never finishes the teardown does not hold the ACK forever', async () => {
    const server = new FakeServer();
    server.teardownCompletes = false;
    const t0 = Date.now();
    const r = await new DynamicAuthorization({ server, log: quiet, teardownWaitMs: 50 }).handler(request('disconnect', [], { nasPort: 2 }));
    expect(r.ack).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(server.listenerCount('session-down')).toBe(0);
  });

  it('through a DasServer: Disconnect-ACK for a live session, Disconnect-NAK 503 otherwise, nothing for a wrong secret', async () => {
    const server = new FakeServer();
    const dynamic = new DynamicAuthorization({ server, log: quiet });
    const das = new DasServer({
      clients: [{ address: '127.0.0.1', secret: 'das-secret' }],
      handler: dynamic.handler,
      bindAddress: '127.0.0.1',
      port: 0,
      requireMessageAuthenticator: false,
      requireEventTimestamp: false,
      log: quiet,
    });
    const { port } = await das.listen();
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const ask = (raw: Buffer) =>
      new Promise<Buffer | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 300);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
        sock.send(raw, port, '127.0.0.1');
      });
    try {
      const ma = { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) };
      const ack = await ask(sealRequest({ code: RadiusCode.DisconnectRequest, identifier: 5, attributes: [ma, textAttribute(Attr.UserName, 'bob')] }, 'das-secret'));
      expect(decodePacket(ack!).code).toBe(RadiusCode.DisconnectAck);
      expect(server.disconnected).toEqual([{ callId: 2, cause: 'radius-disconnect' }]);
      const nak = await ask(sealRequest({ code: RadiusCode.DisconnectRequest, identifier: 6, attributes: [textAttribute(Attr.AcctSessionId, 'unknown')] }, 'das-secret'));
      const p = decodePacket(nak!);
      expect(p.code).toBe(RadiusCode.DisconnectNak);
      expect(readInteger(findAttribute(p.attributes, Attr.ErrorCause)!)).toBe(503);
      const forged = await ask(sealRequest({ code: RadiusCode.DisconnectRequest, identifier: 7, attributes: [textAttribute(Attr.UserName, 'alice')] }, 'wrong-secret'));
      expect(forged).toBeUndefined();
      expect(server.disconnected).toHaveLength(1);
    } finally {
      sock.close();
      await das.close();
    }
  });
});
