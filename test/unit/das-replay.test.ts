// Replay protection of the Dynamic Authorization server (RFC 5176 §6.3) over a real DasServer socket
// on 127.0.0.1: Event-Timestamp and Message-Authenticator required by default, every request handled
// remembered for as long as its Event-Timestamp would pass, the memory bounded. Time moves through the
// codebase's one clock seam, Date.now, faked by vitest (timers stay real, so the sockets run as usual).
import { describe, expect, it } from 'vitest';
import { radiusSecurityWarnings } from '../../aaa/RadiusServices.js';
import { ConfigError, validateConfig } from '../../config/PorticoConfig.js';
import { Attr, ErrorCause, readInteger, textAttribute, timeAttribute } from '../../radius/Dictionary.js';
import { checkMessageAuthenticator, sealRequest, verifyResponseAuthenticator } from '../../radius/RadiusCrypto.js';
import { decodePacket, findAttribute, RadiusCode, type DecodedRadiusPacket, type RadiusAttribute } from '../../radius/RadiusPacket.js';
import { ask, DAS_SECRET as SECRET, dasHarness } from './DasHarness.js';

const T0 = Date.UTC(2031, 4, 6, 12, 0, 0);
const { startDas, socket, at } = dasHarness(T0);

/** One client (one source port): `ask` sends a datagram and resolves with the next reply, or undefined after a silence. */
async function client(): Promise<{ port: number; ask(packet: Buffer, to: number): Promise<Buffer | undefined> }> {
  const s = await socket();
  return { port: s.address().port, ask: (packet, to) => ask(s, packet, to) };
}

/** A signed Disconnect-Request: Message-Authenticator first unless `ma` is false, Event-Timestamp (seconds) unless null. */
function disconnect(id: number, opts: { user?: string; eventTimestamp?: number | null; ma?: boolean } = {}): Buffer {
  const attributes: RadiusAttribute[] = [];
  if (opts.ma !== false) attributes.push({ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) });
  attributes.push(textAttribute(Attr.UserName, opts.user ?? 'alice'));
  const ts = opts.eventTimestamp === undefined ? Math.floor(Date.now() / 1000) : opts.eventTimestamp;
  if (ts !== null) attributes.push(timeAttribute(Attr.EventTimestamp, ts));
  return sealRequest({ code: RadiusCode.DisconnectRequest, identifier: id, attributes }, SECRET);
}

function reply(raw: Buffer | undefined, request: Buffer): DecodedRadiusPacket {
  expect(raw, 'a reply').toBeDefined();
  expect(verifyResponseAuthenticator(raw!, request.subarray(4, 20), SECRET)).toBe(true);
  return decodePacket(raw!);
}

const errorCause = (p: DecodedRadiusPacket): number => readInteger(findAttribute(p.attributes, Attr.ErrorCause)!);

describe('DasServer replay protection (defaults)', () => {
  it('a request without Event-Timestamp gets a signed Disconnect-NAK with Error-Cause 402 and a log line; the handler does not run', async () => {
    const das = await startDas();
    const c = await client();
    const req = disconnect(1, { eventTimestamp: null });
    const nak = reply(await c.ask(req, das.port), req);
    expect(nak.code).toBe(RadiusCode.DisconnectNak);
    expect(errorCause(nak)).toBe(ErrorCause.MissingAttribute);
    expect(nak.attributes[0].type).toBe(Attr.MessageAuthenticator);
    expect(checkMessageAuthenticator(nak, req.subarray(4, 20), SECRET)).toBe('valid');
    expect(das.calls).toHaveLength(0);
    expect(das.logs.find((l) => l.level === 40 && /without Event-Timestamp: NAK 402/.test(l.msg))).toMatchObject({ msg: expect.stringContaining('radius.das.requireEventTimestamp'), id: 1 });
  });

  it('with requireEventTimestamp: false the same request is acted on', async () => {
    const das = await startDas({ requireEventTimestamp: false });
    const c = await client();
    const req = disconnect(1, { eventTimestamp: null });
    expect(reply(await c.ask(req, das.port), req).code).toBe(RadiusCode.DisconnectAck);
    expect(das.calls).toHaveLength(1);
  });

  it('a request without Message-Authenticator is dropped with a log line', async () => {
    const das = await startDas();
    const c = await client();
    expect(await c.ask(disconnect(1, { ma: false }), das.port)).toBeUndefined();
    expect(das.calls).toHaveLength(0);
    expect(das.logs.some((l) => /without Message-Authenticator, dropped \(radius\.das\.requireMessageAuthenticator\)/.test(l.msg))).toBe(true);
  });

  it('the same signed request sent again 11 s and 200 s later, from its own port or another, is refused: no reply, no second action; within 10 s from its own port it is a retransmission and gets the cached reply', async () => {
    const das = await startDas();
    const first = await client();
    const other = await client();
    const req = disconnect(42);
    const ack = await first.ask(req, das.port);
    expect(reply(ack, req).code).toBe(RadiusCode.DisconnectAck);

    at(5_000);
    expect((await first.ask(req, das.port))?.equals(ack!)).toBe(true);
    for (const later of [11_000, 200_000]) {
      at(later);
      expect(await first.ask(req, das.port), `own port after ${later} ms`).toBeUndefined();
      expect(await other.ask(req, das.port), `other port after ${later} ms`).toBeUndefined();
    }
    expect(das.calls).toHaveLength(1);
    const replays = das.logs.filter((l) => l.msg === 'DAS request already handled (replay), dropped');
    expect(replays).toHaveLength(4);
    expect(replays[0]).toMatchObject({ level: 40, id: 42, firstFrom: `127.0.0.1:${first.port}`, firstAt: new Date(T0).toISOString() });

    // What identifies a request is all of it: the same content under another Identifier is a new request.
    const again = disconnect(43, { eventTimestamp: Math.floor(T0 / 1000) });
    expect(reply(await first.ask(again, das.port), again).code).toBe(RadiusCode.DisconnectAck);
    expect(das.calls).toHaveLength(2);
  });

  it('a request whose Event-Timestamp is outside the 300 s window (older or ahead) is discarded with a log line', async () => {
    const das = await startDas();
    const c = await client();
    const now = Math.floor(T0 / 1000);
    expect(await c.ask(disconnect(1, { eventTimestamp: now - 301 }), das.port)).toBeUndefined();
    expect(await c.ask(disconnect(2, { eventTimestamp: now + 301 }), das.port)).toBeUndefined();
    expect(das.calls).toHaveLength(0);
    expect(das.logs.filter((l) => /outside the Event-Timestamp window/.test(l.msg)).map((l) => l.skewSec)).toEqual([301, -301]);
    const edge = disconnect(3, { eventTimestamp: now - 300 });
    expect(reply(await c.ask(edge, das.port), edge).code).toBe(RadiusCode.DisconnectAck);
  });

  it('a request replayed just before its timestamp leaves the window is still refused; a request dated ahead is remembered until its own window ends', async () => {
    const das = await startDas();
    const c = await client();
    const now = Math.floor(T0 / 1000);
    const ahead = disconnect(7, { eventTimestamp: now + 250 });
    expect(reply(await c.ask(ahead, das.port), ahead).code).toBe(RadiusCode.DisconnectAck);
    // accepted by the window until now + 250 + 300 s, so remembered as long
    at(549_000);
    expect(await c.ask(ahead, das.port)).toBeUndefined();
    at(551_000);
    expect(await c.ask(ahead, das.port)).toBeUndefined();
    expect(das.calls).toHaveLength(1);
    expect(das.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['DAS request already handled (replay), dropped', 'DAS request outside the Event-Timestamp window (replay or clock skew), dropped']),
    );
  });

  it('relaxed, a request without Event-Timestamp is remembered for one window: refused 200 s later, acted on again after 300 s (what relaxing costs)', async () => {
    const das = await startDas({ requireEventTimestamp: false });
    const c = await client();
    const req = disconnect(9, { eventTimestamp: null });
    expect(reply(await c.ask(req, das.port), req).code).toBe(RadiusCode.DisconnectAck);
    at(200_000);
    expect(await c.ask(req, das.port)).toBeUndefined();
    at(301_000);
    expect(reply(await c.ask(req, das.port), req).code).toBe(RadiusCode.DisconnectAck);
    expect(das.calls).toHaveLength(2);
  });

  it('the replay cache is bounded: when full, new requests get NAK 506 without action (one log line) and replays stay refused; entries leave with their window', async () => {
    const das = await startDas({ replayCacheSize: 3 });
    const c = await client();
    const handled = [1, 2, 3].map((id) => disconnect(id));
    for (const req of handled) expect(reply(await c.ask(req, das.port), req).code).toBe(RadiusCode.DisconnectAck);

    at(20_000);
    for (const id of [4, 5]) {
      const req = disconnect(id);
      const nak = reply(await c.ask(req, das.port), req);
      expect(nak.code).toBe(RadiusCode.DisconnectNak);
      expect(errorCause(nak)).toBe(ErrorCause.ResourcesUnavailable);
    }
    expect(await c.ask(handled[0], das.port)).toBeUndefined();
    expect(das.calls.map((r) => r.identifier)).toEqual([1, 2, 3]);
    expect(das.logs.filter((l) => /replay cache full/.test(l.msg))).toHaveLength(1);

    at(301_000); // the first three are past their window: room again
    const fresh = disconnect(6);
    expect(reply(await c.ask(fresh, das.port), fresh).code).toBe(RadiusCode.DisconnectAck);
    expect(das.calls.map((r) => r.identifier)).toEqual([1, 2, 3, 6]);
  });
});

describe('radius.das configuration', () => {
  const base = { radius: { das: { secret: 'das-secret-0123456789' } } };

  it('requireEventTimestamp and requireMessageAuthenticator default to true; a wrong value is reported under its key', () => {
    expect(validateConfig(base).radius.das).toMatchObject({ requireEventTimestamp: true, requireMessageAuthenticator: true });
    expect(() => validateConfig({ radius: { das: { ...base.radius.das, requireEventTimestamp: 'no' } } })).toThrow(ConfigError);
    expect(() => validateConfig({ radius: { das: { ...base.radius.das, requireEventTimestamp: 'no' } } })).toThrow(/radius\.das\.requireEventTimestamp: /);
    expect(() => validateConfig({ radius: { das: { ...base.radius.das, requireMessageAuthenticator: 1 } } })).toThrow(/radius\.das\.requireMessageAuthenticator: /);
  });

  it('relaxing either is a security warning at start', () => {
    expect(radiusSecurityWarnings(validateConfig(base))).toEqual([]);
    const relaxed = validateConfig({ radius: { das: { ...base.radius.das, requireEventTimestamp: false, requireMessageAuthenticator: false } } });
    const warnings = radiusSecurityWarnings(relaxed);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^radius\.das\.requireMessageAuthenticator is false/);
    expect(warnings[1]).toMatch(/^radius\.das\.requireEventTimestamp is false: .* replayed/);
  });
});
