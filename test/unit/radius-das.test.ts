import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DasServer, type DasRequest, type DasResult, type DasServerOptions } from '../../radius/DasServer.js';
import { accountingRequestAuthenticator, checkMessageAuthenticator, sealRequest, verifyResponseAuthenticator } from '../../radius/RadiusCrypto.js';
import { decodePacket, findAllAttributes, findAttribute, RadiusCode, type DecodedRadiusPacket, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { Attr, ErrorCause, addressAttribute, integerAttribute, readInteger, textAttribute, timeAttribute } from '../../radius/Dictionary.js';

const SECRET = 'das-secret-1';
const MA: RadiusAttribute = { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startDas(handler: (r: DasRequest) => Promise<DasResult>, opts: Partial<DasServerOptions> = {}): Promise<{ port: number; calls: DasRequest[] }> {
  const calls: DasRequest[] = [];
  const das = new DasServer({
    clients: [{ address: '127.0.0.1', secret: SECRET }],
    port: 0,
    bindAddress: '127.0.0.1',
    handler: (r) => {
      calls.push(r);
      return handler(r);
    },
    log: pino({ level: 'silent' }),
    // These tests cover the codec and the handler path; the replay defaults have test/unit/das-replay.test.ts.
    requireMessageAuthenticator: false,
    requireEventTimestamp: false,
    ...opts,
  });
  const { port } = await das.listen();
  cleanups.push(() => das.close());
  return { port, calls };
}

/** A Dynamic Authorization Client socket: sends datagrams, collects replies. */
async function dac(): Promise<{ send(b: Buffer, port: number): void; replies: Buffer[]; next(ms?: number): Promise<Buffer | undefined> }> {
  const s: Socket = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  const replies: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  s.on('message', (b) => {
    const w = waiters.shift();
    if (w) w(b);
    else replies.push(b);
  });
  return {
    send: (b, port) => s.send(b, port, '127.0.0.1'),
    replies,
    next: (ms = 400) =>
      new Promise((resolve) => {
        const queued = replies.shift();
        if (queued) return resolve(queued);
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          resolve(undefined);
        }, ms);
        const w = (b: Buffer): void => {
          clearTimeout(t);
          resolve(b);
        };
        waiters.push(w);
      }),
  };
}

function disconnect(id: number, attributes: RadiusAttribute[], secret = SECRET, code: number = RadiusCode.DisconnectRequest): Buffer {
  return sealRequest({ code, identifier: id, attributes }, secret);
}

function verifiedReply(raw: Buffer | undefined, request: Buffer): DecodedRadiusPacket {
  expect(raw).toBeDefined();
  expect(verifyResponseAuthenticator(raw!, request.subarray(4, 20), SECRET)).toBe(true);
  return decodePacket(raw!);
}

const ACK: DasResult = { ack: true };

describe('DasServer', () => {
  it('Disconnect-Request with Message-Authenticator → typed request to the handler → Disconnect-ACK with MA first and valid authenticators', async () => {
    const { port, calls } = await startDas(async () => ACK);
    const c = await dac();
    const req = disconnect(7, [
      MA,
      textAttribute(Attr.UserName, 'alice'),
      textAttribute(Attr.AcctSessionId, 'pptp-0001'),
      addressAttribute(Attr.NasIpAddress, '127.0.0.1'),
      addressAttribute(Attr.FramedIpAddress, '198.19.0.50'),
      integerAttribute(Attr.NasPort, 12),
    ]);
    c.send(req, port);
    const rep = verifiedReply(await c.next(), req);
    expect(rep.code).toBe(RadiusCode.DisconnectAck);
    expect(rep.identifier).toBe(7);
    expect(rep.attributes[0].type).toBe(Attr.MessageAuthenticator);
    expect(checkMessageAuthenticator(rep, req.subarray(4, 20), SECRET)).toBe('valid');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      kind: 'disconnect',
      identifier: 7,
      userName: 'alice',
      acctSessionId: 'pptp-0001',
      nasIpAddress: '127.0.0.1',
      framedIpAddress: '198.19.0.50',
      nasPort: 12,
      hasMessageAuthenticator: true,
      source: { address: '127.0.0.1' },
    });
  });

  it('handler NAK → Disconnect-NAK with Error-Cause 503; no MA in the reply when the request had none', async () => {
    const { port } = await startDas(async () => ({ ack: false, errorCause: ErrorCause.SessionContextNotFound }));
    const c = await dac();
    const req = disconnect(1, [textAttribute(Attr.AcctSessionId, 'nope')]);
    c.send(req, port);
    const rep = verifiedReply(await c.next(), req);
    expect(rep.code).toBe(RadiusCode.DisconnectNak);
    expect(rep.messageAuthenticatorOffset).toBe(-1);
    expect(readInteger(findAttribute(rep.attributes, Attr.ErrorCause)!)).toBe(503);
  });

  it('CoA-Request → CoA-ACK with handler attributes; Proxy-State copied back in order', async () => {
    const { port, calls } = await startDas(async () => ({ ack: true, attributes: [textAttribute(Attr.ReplyMessage, 'ok')] }));
    const c = await dac();
    const req = disconnect(
      2,
      [textAttribute(Attr.AcctSessionId, 's'), integerAttribute(Attr.SessionTimeout, 120), { type: Attr.ProxyState, value: Buffer.from('p1') }, { type: Attr.ProxyState, value: Buffer.from('p2') }],
      SECRET,
      RadiusCode.CoaRequest,
    );
    c.send(req, port);
    const rep = verifiedReply(await c.next(), req);
    expect(rep.code).toBe(RadiusCode.CoaAck);
    expect(findAllAttributes(rep.attributes, Attr.ProxyState).map((a) => a.value.toString())).toEqual(['p1', 'p2']);
    expect(findAttribute(rep.attributes, Attr.ReplyMessage)!.value.toString()).toBe('ok');
    expect(calls[0].kind).toBe('coa');
  });

  it('silently discards: wrong secret, bad Message-Authenticator, unknown source, non-DAS code, malformed datagram', async () => {
    const { port, calls } = await startDas(async () => ACK, { clients: [{ address: '127.0.0.1', secret: SECRET }] });
    const c = await dac();
    c.send(disconnect(1, [textAttribute(Attr.UserName, 'a')], 'wrong-secret'), port);
    // MA flipped, Request Authenticator re-signed over it: only the MA check can catch this one
    const badMa = disconnect(2, [MA, textAttribute(Attr.UserName, 'a')]);
    badMa[25] ^= 1;
    accountingRequestAuthenticator(badMa, SECRET).copy(badMa, 4);
    c.send(badMa, port);
    c.send(sealRequest({ code: RadiusCode.AccountingRequest, identifier: 3, attributes: [] }, SECRET), port);
    c.send(Buffer.from('0000', 'hex'), port);
    expect(await c.next(300)).toBeUndefined();
    expect(calls).toHaveLength(0);

    const other = await startDas(async () => ACK, { clients: [{ address: '127.0.0.2', secret: SECRET }] });
    c.send(disconnect(4, [textAttribute(Attr.UserName, 'a')]), other.port);
    expect(await c.next(200)).toBeUndefined();
    expect(other.calls).toHaveLength(0);
  });

  it('requireMessageAuthenticator drops requests without one', async () => {
    const { port, calls } = await startDas(async () => ACK, { requireMessageAuthenticator: true });
    const c = await dac();
    c.send(disconnect(1, [textAttribute(Attr.UserName, 'a')]), port);
    expect(await c.next(200)).toBeUndefined();
    const req = disconnect(2, [MA, textAttribute(Attr.UserName, 'a')]);
    c.send(req, port);
    expect(verifiedReply(await c.next(), req).code).toBe(RadiusCode.DisconnectAck);
    expect(calls).toHaveLength(1);
  });

  it('duplicates (same source, Identifier, authenticator) get the cached reply; the handler runs once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { port, calls } = await startDas(async () => {
      await gate;
      return ACK;
    });
    const c = await dac();
    const req = disconnect(9, [MA, textAttribute(Attr.AcctSessionId, 'dup')]);
    c.send(req, port);
    c.send(req, port); // while the handler runs: dropped, the reply follows
    await new Promise((r) => setTimeout(r, 50));
    release();
    const first = await c.next();
    c.send(req, port); // after: the cached reply again
    const second = await c.next();
    expect(first!.equals(second!)).toBe(true);
    expect(await c.next(150)).toBeUndefined();
    expect(calls).toHaveLength(1);
    // same Identifier with new content is a new request
    const req2 = disconnect(9, [MA, textAttribute(Attr.AcctSessionId, 'dup2')]);
    c.send(req2, port);
    expect(verifiedReply(await c.next(), req2).code).toBe(RadiusCode.DisconnectAck);
    expect(calls).toHaveLength(2);
  });

  it('Event-Timestamp outside the window is discarded; inside is processed; missing → NAK 402 when required', async () => {
    const { port, calls } = await startDas(async () => ACK, { requireEventTimestamp: true, eventTimestampWindowSec: 300 });
    const c = await dac();
    const now = Math.floor(Date.now() / 1000);
    c.send(disconnect(1, [textAttribute(Attr.UserName, 'a'), timeAttribute(Attr.EventTimestamp, now - 301)]), port);
    expect(await c.next(200)).toBeUndefined();
    const missing = disconnect(2, [textAttribute(Attr.UserName, 'a')]);
    c.send(missing, port);
    const nak = verifiedReply(await c.next(), missing);
    expect(nak.code).toBe(RadiusCode.DisconnectNak);
    expect(readInteger(findAttribute(nak.attributes, Attr.ErrorCause)!)).toBe(ErrorCause.MissingAttribute);
    expect(calls).toHaveLength(0);
    const ok = disconnect(3, [textAttribute(Attr.UserName, 'a'), timeAttribute(Attr.EventTimestamp, now - 5)]);
    c.send(ok, port);
    expect(verifiedReply(await c.next(), ok).code).toBe(RadiusCode.DisconnectAck);
    expect(calls[0].eventTimestamp!.getTime()).toBe((now - 5) * 1000);
  });

  it('NAS identification mismatch → NAK 403 without calling the handler; malformed NAS-Port → NAK 407; handler throw → NAK 506', async () => {
    const { port, calls } = await startDas(
      async (r) => {
        if (r.userName === 'boom') throw new Error('handler bug');
        return ACK;
      },
      { nasIpAddress: '127.0.0.1', nasIdentifier: 'portico' },
    );
    const c = await dac();
    const cases: [RadiusAttribute[], number][] = [
      [[addressAttribute(Attr.NasIpAddress, '10.9.9.9'), textAttribute(Attr.UserName, 'a')], 403],
      [[textAttribute(Attr.NasIdentifier, 'other-nas'), textAttribute(Attr.UserName, 'a')], 403],
      [[{ type: Attr.NasPort, value: Buffer.from([1, 2]) }], 407],
      [[textAttribute(Attr.UserName, 'boom')], 506],
    ];
    for (const [i, [attrs, cause]] of cases.entries()) {
      const req = disconnect(i, attrs);
      c.send(req, port);
      const rep = verifiedReply(await c.next(), req);
      expect(rep.code).toBe(RadiusCode.DisconnectNak);
      expect(readInteger(findAttribute(rep.attributes, Attr.ErrorCause)!)).toBe(cause);
    }
    expect(calls.map((r) => r.userName)).toEqual(['boom']);
  });
});
