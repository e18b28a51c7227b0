// Disconnect-/CoA-Requests (RFC 5176) to radius/DasServer.ts: any datagram, from a known or unknown
// client address (IPv4, IPv4-mapped IPv6, IPv6), delivered once or twice (duplicate detection), with
// Event-Timestamps around a fixed "now", optionally re-sealed as a client holding the secret would
// (so the attribute decoding and the handler are reached after mutation).
// There is no socket seam: the target calls the private onDatagram and puts a recording fake in place
// of the socket (named in the error if that changes); Date.now is fixed per input.
// Documented: onDatagram never throws; whatever fails authentication is dropped silently; a processing
// error is logged ("DAS request processing failed": a finding here). Invariants: the handler runs iff an
// independent oracle accepts the request (known source, decodable, code 40/43, RFC 5176 §2.3 MD5 over a
// zero authenticator, Message-Authenticator valid or allowed absent, Event-Timestamp within ±300 s or
// allowed absent; a required but absent one gets nothing or NAK 402, never the handler); exactly one
// reply per processed request, answering its code (ACK/NAK), carrying
// Error-Cause iff NAK, a Message-Authenticator iff the request had one, the request's Proxy-States in
// order, and verifying with the secret; a duplicate is answered from the cache without re-running the
// handler; and a long-lived server's request cache stays bounded (its window, or its replay-cache size).

import type { RemoteInfo } from 'node:dgram';
import { DasServer, type DasRequest, type DasResult } from '../../../radius/DasServer.js';
import { Attr, ErrorCause } from '../../../radius/Dictionary.js';
import { decodePacket, findAllAttributes, findAttribute } from '../../../radius/RadiusPacket.js';
import { checkNoWarning, recorder } from '../Helpers.js';
import { hashBytes, Prng } from '../Prng.js';
import { check, type FuzzTarget, InvariantError } from '../run.js';
import { oracleMessageAuthenticator, oracleResponseAuthenticator, reseal, sealedDasRequest, SECRET } from './RadiusPacket.js';

const NOW = 1_750_000_000_000;
const ZERO16 = Buffer.alloc(16);
const SOURCES = ['127.0.0.1', '::ffff:127.0.0.1', '::1', '192.0.2.99'];

interface Internals {
  onDatagram(msg: Buffer, rinfo: RemoteInfo): void;
  socket: unknown;
  cache: Map<string, unknown>;
}

interface Harness {
  das: DasServer;
  internals: Internals;
  sent: Buffer[];
  calls: DasRequest[];
}

/** The replay cache bound handed to servers that have one (ignored by those that do not). */
const REPLAY_CACHE_SIZE = 64;

function harness(requireMessageAuthenticator: boolean, requireEventTimestamp: boolean): Harness {
  const sent: Buffer[] = [];
  const calls: DasRequest[] = [];
  // Every policy option spelled out (their defaults have changed over time); not an object literal typed
  // as DasServerOptions, so a server without `replayCacheSize` still takes it.
  const options = {
    clients: [
      { address: '127.0.0.1', secret: SECRET },
      { address: '::1', secret: SECRET },
    ],
    handler: async (r: DasRequest): Promise<DasResult> => {
      calls.push(r);
      if (r.userName === 'throw') throw new Error('handler failed');
      return r.userName === 'alice' ? { ack: true } : { ack: false, errorCause: ErrorCause.SessionContextNotFound, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('no such session') }] };
    },
    nasIdentifier: 'portico',
    requireMessageAuthenticator,
    requireEventTimestamp,
    eventTimestampWindowSec: 300,
    duplicateWindowMs: 10_000,
    replayCacheSize: REPLAY_CACHE_SIZE,
    log: recorder.logger,
  };
  const das = new DasServer(options);
  const internals = das as unknown as Internals;
  if (typeof internals.onDatagram !== 'function' || !(internals.cache instanceof Map)) {
    throw new InvariantError('DasServer internals changed (onDatagram/socket/cache): update test/fuzz/targets/DasRequest.ts');
  }
  internals.socket = {
    send: (b: Buffer, _port: number, _address: string, cb?: (err: Error | null) => void) => {
      sent.push(Buffer.from(b));
      cb?.(null);
    },
  };
  return { das, internals, sent, calls };
}

/** A reply must verify with the request's authenticator, answer its code, and carry MA and Proxy-State as the request did. */
function checkReply(reply: Buffer, d: ReturnType<typeof decodePacket>, requireMa: boolean): { acked: boolean; errorCause: number | null } {
  check(oracleResponseAuthenticator(reply, d.authenticator, SECRET), 'reply does not verify with the request authenticator and secret');
  const r = decodePacket(reply);
  const acked = r.code === (d.code === 40 ? 41 : 44);
  check(r.code === (d.code === 40 ? (acked ? 41 : 42) : acked ? 44 : 45) && r.identifier === d.identifier, `reply code ${r.code} to request code ${d.code}`);
  const cause = findAttribute(r.attributes, Attr.ErrorCause);
  check((cause !== undefined) === !acked, 'Error-Cause present iff NAK');
  const hadMa = findAttribute(d.attributes, Attr.MessageAuthenticator) !== undefined;
  check(r.messageAuthenticatorOffset >= 0 === (hadMa || requireMa), 'reply Message-Authenticator presence does not follow the request');
  if (r.messageAuthenticatorOffset >= 0) check(oracleMessageAuthenticator(r.raw, d.authenticator, SECRET) === 'valid', 'reply Message-Authenticator does not verify');
  const proxy = (p: typeof d) => findAllAttributes(p.attributes, Attr.ProxyState).map((a) => a.value.toString('hex'));
  check(proxy(r).join() === proxy(d).join(), 'Proxy-State not copied back in order');
  return { acked, errorCause: cause && cause.value.length === 4 ? cause.value.readUInt32BE(0) : null };
}

let realNow: () => number = Date.now;
let fakeNow = NOW;
let longLived: Harness | null = null;
let longLivedTime = 0;

const flush = async () => {
  for (let i = 0; i < 8; i++) await Promise.resolve();
};

export const dasTarget: FuzzTarget = {
  name: 'radius-das',
  maxInputLength: 4200,

  setup() {
    realNow = Date.now;
    fakeNow = NOW;
    Date.now = () => fakeNow;
    longLived = harness(false, false);
    longLivedTime = 0;
  },
  teardown() {
    Date.now = realNow;
    longLived = null;
  },

  seedInputs() {
    const rng = new Prng(0xda5);
    return [0x00, 0x04, 0x08, 0x10, 0x01].map((mode) => Buffer.concat([Buffer.from([mode]), sealedDasRequest(rng, SECRET, NOW)]));
  },

  generate(rng) {
    const mode = rng.chance(0.6)
      ? (rng.chance(0.85) ? 0 : rng.int(4)) | (rng.chance(0.3) ? 0x04 : 0) | (rng.chance(0.3) ? 0x08 : 0) | (rng.chance(0.2) ? 0x10 : 0) | (rng.chance(0.2) ? 0x20 : 0)
      : rng.byte();
    return Buffer.concat([Buffer.from([mode]), sealedDasRequest(rng, rng.chance(0.05) ? 'other-secret' : SECRET, NOW)]);
  },

  async run(input) {
    if (input.length === 0) return 'empty';
    recorder.reset();
    const mode = input[0]!;
    const source = SOURCES[mode & 3]!;
    const twice = (mode & 0x04) !== 0;
    const requireMa = (mode & 0x10) !== 0;
    const requireTs = (mode & 0x20) !== 0;
    let msg = input.subarray(1);
    if (mode & 0x08) {
      let ok = false;
      try {
        decodePacket(msg);
        ok = true;
      } catch {}
      if (ok) msg = reseal(msg.subarray(0, msg.readUInt16BE(2)), ZERO16, mode & 0x80 ? 'wrong-secret' : SECRET, true);
    }
    fakeNow = NOW;
    const h = harness(requireMa, requireTs);
    const rinfo: RemoteInfo = { address: source, port: 1024 + (hashBytes(input) % 60000), family: source.includes(':') ? 'IPv6' : 'IPv4', size: msg.length };
    try {
      h.internals.onDatagram(msg, rinfo);
      await flush();
      if (twice) {
        h.internals.onDatagram(Buffer.from(msg), rinfo);
        await flush();
      }
    } catch (err) {
      throw new InvariantError(`onDatagram threw ${(err as Error).name}: ${(err as Error).message}`);
    }

    // The oracle: should this request have been processed?
    let decoded: ReturnType<typeof decodePacket> | null = null;
    try {
      decoded = decodePacket(msg);
    } catch {}
    let why = 'malformed';
    let processed = false;
    let missingTimestamp = false;
    if (source === '192.0.2.99') why = 'unknown client';
    else if (decoded) {
      const ma = oracleMessageAuthenticator(decoded.raw, ZERO16, SECRET);
      const ts = findAttribute(decoded.attributes, Attr.EventTimestamp);
      if (decoded.code !== 40 && decoded.code !== 43) why = 'not a DAS request';
      else if (!oracleResponseAuthenticator(decoded.raw, ZERO16, SECRET)) why = 'bad request authenticator';
      else if (ma === 'invalid') why = 'bad MA';
      else if (ma === 'absent' && requireMa) why = 'no MA';
      else if (ts && (ts.value.length !== 4 || Math.abs(NOW - ts.value.readUInt32BE(0) * 1000) > 300_000)) why = 'bad timestamp';
      else if (!ts && requireTs) {
        why = 'no timestamp';
        missingTimestamp = true;
      } else {
        processed = true;
        why = 'processed';
      }
    }
    check(h.calls.length <= 1, `handler ran ${h.calls.length} times (duplicate not suppressed)`);
    const d = decoded!;
    if (missingTimestamp) {
      // Required but absent: dropped, or (RFC 5176 §3.5) NAK 402 Missing-Attribute; never the handler.
      check(h.calls.length === 0 && h.sent.length <= (twice ? 2 : 1), 'request without the required Event-Timestamp handled');
      for (const reply of h.sent) check(checkReply(reply, d, requireMa).errorCause === 402, 'request without the required Event-Timestamp answered other than NAK 402');
      why = h.sent.length ? 'nak 402' : 'no timestamp';
    } else if (!processed) {
      check(h.calls.length === 0 && h.sent.length === 0, `request handled/answered although the RFC 5176 oracle says ${why}`);
    } else {
      check(h.sent.length === (twice ? 2 : 1), `${h.sent.length} replies to a processed request${twice ? ' delivered twice' : ''}`);
      const reply = h.sent[0]!;
      if (twice) check(h.sent[1]!.equals(reply), 'the duplicate got another reply than the cached one');
      const { acked } = checkReply(reply, d, requireMa);
      if (h.calls.length === 1) check(h.calls[0]!.identifier === d.identifier && h.calls[0]!.code === d.code, 'handler got another request');
      else check(!acked, 'ACK without running the handler');
      why = acked ? 'ack' : h.calls.length ? 'nak from handler' : 'nak before handler';
    }
    checkNoWarning(recorder.warnings, /processing failed|could not be encoded/, 'DasServer');

    // The long-lived server: a second of fake time per input; its request cache must stay bounded (by the
    // duplicate window, or by replayCacheSize where the server remembers requests against replay).
    if (longLived) {
      longLivedTime += 1000;
      fakeNow = NOW + longLivedTime;
      longLived.internals.onDatagram(msg, rinfo);
      await flush();
      longLived.sent.length = 0;
      check(longLived.internals.cache.size <= REPLAY_CACHE_SIZE, `long-lived DAS cache holds ${longLived.internals.cache.size} entries (bound ${REPLAY_CACHE_SIZE})`);
    }
    return why;
  },
};
