import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RadiusClient, RadiusClientClosedError, RadiusNoResponseError, type RadiusClientOptions, type RadiusReply } from '../../radius/RadiusClient.js';
import { checkMessageAuthenticator, encryptMppeKey, responseAuthenticator, sealResponse, unhideUserPassword, verifyAccountingRequestAuthenticator } from '../../radius/RadiusCrypto.js';
import { decodePacket, findAttribute, RadiusCode, type DecodedRadiusPacket, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { AcctStatusType, Attr, integerAttribute, MsAttr, readText, textAttribute, VENDOR_MICROSOFT } from '../../radius/Dictionary.js';

const SECRET = 'unit-secret-1';
const silent = pino({ level: 'silent' });

interface Received {
  packet: DecodedRadiusPacket;
  raw: Buffer;
  from: RemoteInfo;
}

/** A scripted RADIUS peer on 127.0.0.1: `respond` decides per datagram what (if anything) goes back. */
class FakeServer {
  readonly received: Received[] = [];
  port = 0;
  private readonly socket: Socket = createSocket('udp4');
  respond: (r: Received, server: FakeServer) => Buffer | Buffer[] | undefined = () => undefined;

  async start(): Promise<this> {
    this.socket.on('message', (raw, from) => {
      const r = { packet: decodePacket(raw), raw: Buffer.from(raw), from };
      this.received.push(r);
      const out = this.respond(r, this);
      for (const b of Array.isArray(out) ? out : out ? [out] : []) this.socket.send(b, from.port, from.address);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
    return this;
  }
  sendTo(b: Buffer, to: RemoteInfo): void {
    this.socket.send(b, to.port, to.address);
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Signed reply to `r`, Message-Authenticator first unless `withMa` is false. */
function reply(r: Received, code: number, attributes: RadiusAttribute[] = [], opts: { secret?: string; withMa?: boolean } = {}): Buffer {
  const attrs: RadiusAttribute[] = opts.withMa === false ? attributes : [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, ...attributes];
  return sealResponse({ code, identifier: r.packet.identifier, attributes: attrs }, r.packet.authenticator, opts.secret ?? SECRET);
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(): Promise<FakeServer> {
  const s = await new FakeServer().start();
  cleanups.push(() => s.close());
  return s;
}

function client(servers: { port: number; secret?: string }[], opts: Partial<RadiusClientOptions> = {}): RadiusClient {
  const c = new RadiusClient({
    servers: servers.map((s) => ({ address: '127.0.0.1', authPort: s.port, acctPort: s.port, secret: s.secret ?? SECRET })),
    timeoutMs: 150,
    tries: 2,
    log: silent,
    ...opts,
  });
  cleanups.push(() => c.close());
  return c;
}

const PAP = (): RadiusAttribute[] => [textAttribute(Attr.UserName, 'alice'), { type: Attr.UserPassword, value: Buffer.from('alice-pass') }];

describe('RadiusClient access', () => {
  it('sends Message-Authenticator first (valid), hides User-Password, adds NAS-Identifier; verified Accept resolves', async () => {
    const srv = await fake();
    const sendKey = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    srv.respond = (r) =>
      reply(r, RadiusCode.AccessAccept, [
        textAttribute(Attr.Class, 'c1'),
        { vendorId: VENDOR_MICROSOFT, type: MsAttr.MppeSendKey, value: encryptMppeKey(sendKey, SECRET, r.packet.authenticator, 0x1234) },
      ]);
    const c = client([{ port: srv.port }], { nasIdentifier: 'portico-test' });
    const res = await c.access(PAP());

    expect(res.isAccept).toBe(true);
    expect(readText(res.get(Attr.Class)!)).toBe('c1');
    expect(res.mppeSendKey()!.equals(sendKey)).toBe(true);
    expect(res.mppeRecvKey()).toBeUndefined();
    expect(res.server).toBe(`127.0.0.1:${srv.port}`);

    const req = srv.received[0].packet;
    expect(req.code).toBe(RadiusCode.AccessRequest);
    expect(req.attributes[0].type).toBe(Attr.MessageAuthenticator);
    expect(req.messageAuthenticatorOffset).toBe(22);
    expect(checkMessageAuthenticator(req, req.authenticator, SECRET)).toBe('valid');
    const hidden = findAttribute(req.attributes, Attr.UserPassword)!.value;
    expect(hidden.length).toBe(16);
    expect(hidden.includes(Buffer.from('alice-pass'))).toBe(false);
    expect(unhideUserPassword(hidden, SECRET, req.authenticator).toString()).toBe('alice-pass');
    expect(readText(findAttribute(req.attributes, Attr.NasIdentifier)!)).toBe('portico-test');
  });

  it('retransmits the identical datagram (same Identifier, authenticator, source port)', async () => {
    const srv = await fake();
    srv.respond = (r, s) => (s.received.length === 3 ? reply(r, RadiusCode.AccessReject) : undefined);
    const c = client([{ port: srv.port }], { tries: 3, timeoutMs: 80 });
    const res = await c.access(PAP());
    expect(res.isReject).toBe(true);
    expect(srv.received).toHaveLength(3);
    expect(srv.received[1].raw.equals(srv.received[0].raw)).toBe(true);
    expect(srv.received[2].raw.equals(srv.received[0].raw)).toBe(true);
    expect(new Set(srv.received.map((r) => r.from.port)).size).toBe(1);
  });

  it('drops an Accept without Message-Authenticator by default (clear error); accepts it with requireMessageAuthenticator:false', async () => {
    const srv = await fake();
    srv.respond = (r) => reply(r, RadiusCode.AccessAccept, [], { withMa: false });
    const strict = client([{ port: srv.port }]);
    const err = await strict.access(PAP()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RadiusNoResponseError);
    const attempts = (err as RadiusNoResponseError).attempts;
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ server: `127.0.0.1:${srv.port}`, outcome: 'timeout' });
    expect(attempts[0].detail).toMatch(/2 tries, last reply dropped: no Message-Authenticator/);
    expect((err as Error).message).toContain(`127.0.0.1:${srv.port}`);

    const legacy = client([{ port: srv.port }], { requireMessageAuthenticator: false });
    expect((await legacy.access(PAP())).isAccept).toBe(true);
  });

  it('ignores forged replies (wrong secret, bad MA, wrong source port, wrong code) and takes the genuine one', async () => {
    const srv = await fake();
    const spoofer = createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => spoofer.close(() => r())));
    srv.respond = (r, s) => {
      // a correctly signed reply, but from another port: not an answer from the server
      spoofer.send(reply(r, RadiusCode.AccessAccept, [textAttribute(Attr.Class, 'spoof-port')]), r.from.port, '127.0.0.1');
      const forged = [
        reply(r, RadiusCode.AccessAccept, [textAttribute(Attr.Class, 'wrong-secret')], { secret: 'other-secret' }),
        withBadMessageAuthenticator(reply(r, RadiusCode.AccessAccept, [textAttribute(Attr.Class, 'bad-ma')]), r.packet.authenticator),
        reply(r, RadiusCode.AccountingResponse),
      ];
      setTimeout(() => s.sendTo(reply(r, RadiusCode.AccessAccept, [textAttribute(Attr.Class, 'genuine')]), r.from), 60);
      return forged;
    };
    const c = client([{ port: srv.port }], { tries: 1, timeoutMs: 500 });
    const res = await c.access(PAP());
    expect(readText(res.get(Attr.Class)!)).toBe('genuine');
  });

  it("fails over to the next server with a new Identifier/authenticator and that server's secret; honours the dead-time", async () => {
    const dead = await fake(); // never answers
    const live = await fake();
    live.respond = (r) => reply(r, RadiusCode.AccessAccept, [], { secret: 'second-secret' });
    const c = client([{ port: dead.port }, { port: live.port, secret: 'second-secret' }], { tries: 2, timeoutMs: 80, deadTimeSec: 0.5 });

    const first = await c.access(PAP());
    expect(first.server).toBe(`127.0.0.1:${live.port}`);
    expect(dead.received).toHaveLength(2);
    const toDead = dead.received[0].packet;
    const toLive = live.received[0].packet;
    expect(toLive.authenticator.equals(toDead.authenticator)).toBe(false);
    expect(unhideUserPassword(findAttribute(toLive.attributes, Attr.UserPassword)!.value, 'second-secret', toLive.authenticator).toString()).toBe('alice-pass');
    expect(c.isServerDead('127.0.0.1', dead.port)).toBe(true);

    // inside the dead-time: the dead server is not tried at all
    const t0 = Date.now();
    await c.access(PAP());
    expect(Date.now() - t0).toBeLessThan(80);
    expect(dead.received).toHaveLength(2);

    // after it: tried again
    await new Promise((r) => setTimeout(r, 550));
    expect(c.isServerDead('127.0.0.1', dead.port)).toBe(false);
    await c.access(PAP());
    expect(dead.received).toHaveLength(4);
  });

  it('reconfigure (a reload): a request in flight keeps its server and secret; the next goes to the new server with the new secret; the old one is forgotten', async () => {
    const old = await fake();
    const fresh = await fake();
    const answers: Array<() => void> = [];
    old.respond = (r, s) => {
      answers.push(() => s.sendTo(reply(r, RadiusCode.AccessAccept), r.from));
      return undefined;
    };
    fresh.respond = (r) => reply(r, RadiusCode.AccessAccept, [], { secret: 'new-secret' });
    const c = client([{ port: old.port }], { tries: 1, timeoutMs: 2000 });
    const inFlight = c.access(PAP());
    while (old.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    c.reconfigure({ servers: [{ address: '127.0.0.1', authPort: fresh.port, acctPort: fresh.port, secret: 'new-secret' }], timeoutMs: 150, tries: 2 });
    answers[0]!(); // signed with the old secret: verified against the secret the request was sent with
    expect((await inFlight).server).toBe(`127.0.0.1:${old.port}`);
    const next = await c.access(PAP());
    expect(next.server).toBe(`127.0.0.1:${fresh.port}`);
    const sent = fresh.received[0]!.packet;
    expect(unhideUserPassword(findAttribute(sent.attributes, Attr.UserPassword)!.value, 'new-secret', sent.authenticator).toString()).toBe('alice-pass');
    expect(old.received).toHaveLength(1);
    expect(c.serverHealth().map((h) => h.server)).toEqual([`127.0.0.1:${fresh.port}`, `127.0.0.1:${fresh.port}`]);
  });

  it('reports each server port: unknown before use, up with its round-trip time, dead after timeouts', async () => {
    const dead = await fake();
    const live = await fake();
    live.respond = (r) => reply(r, RadiusCode.AccessAccept);
    const c = client([{ port: dead.port }, { port: live.port }], { tries: 1, timeoutMs: 60, deadTimeSec: 30 });
    expect(c.serverHealth().map((h) => h.state)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    await c.access(PAP());
    const byServer = new Map(
      c
        .serverHealth()
        .filter((h) => h.role === 'auth')
        .map((h) => [h.server, h]),
    );
    expect(byServer.get(`127.0.0.1:${dead.port}`)).toMatchObject({ state: 'dead', lastRttMs: null, consecutiveTimeouts: 1 });
    const up = byServer.get(`127.0.0.1:${live.port}`)!;
    expect(up.state).toBe('up');
    expect(up.lastRttMs).toBeGreaterThanOrEqual(0);
    expect(up.lastRttMs).toBeLessThan(60);
  });

  it('when every server is dead it still tries them, and the error lists each server and why', async () => {
    const a = await fake();
    const b = await fake();
    const c = client([{ port: a.port }, { port: b.port }], { tries: 1, timeoutMs: 50, deadTimeSec: 60 });
    const e1 = (await c.access(PAP()).catch((e: unknown) => e)) as RadiusNoResponseError;
    expect(e1.attempts.map((x) => x.outcome)).toEqual(['timeout', 'timeout']);
    const e2 = (await c.access(PAP()).catch((e: unknown) => e)) as RadiusNoResponseError;
    expect(e2).toBeInstanceOf(RadiusNoResponseError);
    expect(e2.attempts.map((x) => [x.server, x.outcome])).toEqual([
      [`127.0.0.1:${a.port}`, 'timeout'],
      [`127.0.0.1:${b.port}`, 'timeout'],
    ]);
    expect(a.received).toHaveLength(2);
  });

  it('opens another socket past 256 outstanding requests; Identifiers are unique per socket', async () => {
    const srv = await fake();
    const held: Received[] = [];
    srv.respond = (r) => {
      held.push(r);
      return undefined;
    };
    const c = client([{ port: srv.port }], { tries: 1, timeoutMs: 3000 });
    // in bursts of 100 so the fake server's receive buffer does not overflow
    const all: Promise<RadiusReply>[] = [];
    for (let n = 100; n <= 300; n += 100) {
      for (let i = 0; i < 100; i++) all.push(c.access(PAP()));
      await waitFor(() => held.length === n);
    }
    const byPort = new Map<number, Set<number>>();
    for (const r of held) {
      const ids = byPort.get(r.from.port) ?? new Set<number>();
      ids.add(r.packet.identifier);
      byPort.set(r.from.port, ids);
    }
    expect(byPort.size).toBe(2);
    expect([...byPort.values()].map((s) => s.size).sort((x, y) => x - y)).toEqual([44, 256]);
    for (const r of held) srv.sendTo(reply(r, RadiusCode.AccessReject), r.from);
    const replies = await Promise.all(all);
    expect(replies.every((x) => x.isReject)).toBe(true);
  });

  it('refuses Proxy-State in a request; close() rejects outstanding requests', async () => {
    const srv = await fake();
    const c = client([{ port: srv.port }], { tries: 1, timeoutMs: 5000 });
    await expect(c.access([...PAP(), { type: Attr.ProxyState, value: Buffer.from('x') }])).rejects.toThrow(/Proxy-State/);
    const p = c.access(PAP());
    await waitFor(() => srv.received.length === 1);
    c.close();
    await expect(p).rejects.toBeInstanceOf(RadiusClientClosedError);
    await expect(c.access(PAP())).rejects.toBeInstanceOf(RadiusClientClosedError);
  });
});

describe('RadiusClient Status-Server probes (RFC 5997)', () => {
  const STATUS = RadiusCode.StatusServer;

  it('probes a dead auth port with Status-Server (random authenticator, Message-Authenticator first and valid); the first verified Access-Accept ends the dead-time', async () => {
    const srv = await fake(); // silent at first
    const c = client([{ port: srv.port }], { tries: 1, timeoutMs: 60, deadTimeSec: 60, statusIntervalSec: 0.1, nasIdentifier: 'nas-7' });
    await expect(c.access(PAP())).rejects.toBeInstanceOf(RadiusNoResponseError);
    expect(c.isServerDead('127.0.0.1', srv.port)).toBe(true);
    await waitFor(() => srv.received.filter((r) => r.packet.code === STATUS).length >= 2); // unanswered: probed again
    expect(c.isServerDead('127.0.0.1', srv.port)).toBe(true);

    srv.respond = (r) => (r.packet.code === STATUS ? reply(r, RadiusCode.AccessAccept) : undefined);
    await waitFor(() => !c.isServerDead('127.0.0.1', srv.port));
    const probes = srv.received.filter((r) => r.packet.code === STATUS);
    const last = probes.at(-1)!.packet;
    expect(last.attributes[0]!.type).toBe(Attr.MessageAuthenticator);
    expect(checkMessageAuthenticator(last, last.authenticator, SECRET)).toBe('valid');
    expect(last.authenticator.equals(Buffer.alloc(16))).toBe(false);
    expect(new Set(probes.map((p) => p.packet.authenticator.toString('hex'))).size).toBe(probes.length);
    expect(readText(findAttribute(last.attributes, Attr.NasIdentifier)!)).toBe('nas-7');
    expect(findAttribute(last.attributes, Attr.UserName)).toBeUndefined();
    expect(c.serverHealth().find((h) => h.role === 'auth')).toMatchObject({ state: 'up', consecutiveTimeouts: 0 });

    // Back in use: probing stops, the next request goes to it.
    const n = srv.received.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(srv.received.length).toBe(n);
  });

  it('an acct port is answered by Accounting-Response; an Access-Accept there, a forged reply or silence keep it dead, and unanswered probes never extend the dead-time', async () => {
    const auth = await fake();
    const acct = await fake();
    const c = new RadiusClient({
      servers: [{ address: '127.0.0.1', authPort: auth.port, acctPort: acct.port, secret: SECRET }],
      timeoutMs: 60,
      tries: 1,
      deadTimeSec: 1.5,
      statusIntervalSec: 0.1,
      log: silent,
    });
    cleanups.push(() => c.close());
    await expect(c.accounting([integerAttribute(Attr.AcctStatusType, AcctStatusType.Start)])).rejects.toBeInstanceOf(RadiusNoResponseError);
    expect(c.isServerDead('127.0.0.1', acct.port)).toBe(true);
    acct.respond = (r) => (r.packet.code === STATUS ? [reply(r, RadiusCode.AccessAccept), reply(r, RadiusCode.AccountingResponse, [], { secret: 'wrong' })] : undefined);
    await waitFor(() => acct.received.filter((r) => r.packet.code === STATUS).length >= 3);
    expect(c.isServerDead('127.0.0.1', acct.port)).toBe(true); // wrong code, wrong secret: not an answer
    const probe = acct.received.find((r) => r.packet.code === STATUS)!.packet;
    expect(checkMessageAuthenticator(probe, probe.authenticator, SECRET)).toBe('valid');
    expect(auth.received).toHaveLength(0); // only the dead port is probed

    // Silent from now on: the dead-time still ends on time, then probing stops.
    acct.respond = () => undefined;
    await new Promise((r) => setTimeout(r, 1600));
    expect(c.isServerDead('127.0.0.1', acct.port)).toBe(false);
    const n = acct.received.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(acct.received.length).toBe(n);

    // Dead again, and this time the acct port answers properly.
    await expect(c.accounting([integerAttribute(Attr.AcctStatusType, AcctStatusType.Start)])).rejects.toBeInstanceOf(RadiusNoResponseError);
    acct.respond = (r) => (r.packet.code === STATUS ? reply(r, RadiusCode.AccountingResponse, [], { withMa: false }) : undefined);
    await waitFor(() => !c.isServerDead('127.0.0.1', acct.port), 500);
  });

  it('no probes when statusIntervalSec is 0 (the default), none after close()', async () => {
    const a = await fake();
    const b = await fake();
    const off = client([{ port: a.port }], { tries: 1, timeoutMs: 40, deadTimeSec: 60 });
    const on = client([{ port: b.port }], { tries: 1, timeoutMs: 40, deadTimeSec: 60, statusIntervalSec: 0.05 });
    await expect(off.access(PAP())).rejects.toBeInstanceOf(RadiusNoResponseError);
    await expect(on.access(PAP())).rejects.toBeInstanceOf(RadiusNoResponseError);
    await waitFor(() => b.received.some((r) => r.packet.code === STATUS));
    on.close();
    const n = b.received.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(b.received.length).toBe(n);
    expect(a.received.map((r) => r.packet.code)).toEqual([RadiusCode.AccessRequest]);
  });
});

describe('RadiusClient accounting', () => {
  it('Accounting-Request has a valid Request Authenticator and no Message-Authenticator; the Response is verified', async () => {
    const srv = await fake();
    srv.respond = (r) => [reply(r, RadiusCode.AccountingResponse, [], { withMa: false, secret: 'nope-secret' }), reply(r, RadiusCode.AccountingResponse, [], { withMa: false })];
    const c = client([{ port: srv.port }]);
    const res = await c.accounting([
      integerAttribute(Attr.AcctStatusType, AcctStatusType.Start),
      textAttribute(Attr.AcctSessionId, 's-1'),
      { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) },
    ]);
    expect(res.code).toBe(RadiusCode.AccountingResponse);
    const req = srv.received[0];
    expect(req.packet.code).toBe(RadiusCode.AccountingRequest);
    expect(req.packet.messageAuthenticatorOffset).toBe(-1);
    expect(verifyAccountingRequestAuthenticator(req.raw, SECRET)).toBe(true);
    expect(srv.received).toHaveLength(1);
  });
});

/** Flips a bit of the Message-Authenticator and re-signs the Response Authenticator, so only the MA check can catch it. */
function withBadMessageAuthenticator(raw: Buffer, requestAuthenticator: Buffer): Buffer {
  const out = Buffer.from(raw);
  out[decodePacket(out).messageAuthenticatorOffset] ^= 0x01;
  responseAuthenticator(out, requestAuthenticator, SECRET).copy(out, 4);
  return out;
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
