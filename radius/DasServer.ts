// Dynamic Authorization server of the NAS (RFC 5176): receives Disconnect-Request and
// CoA-Request on UDP 3799 from configured Dynamic Authorization Clients, authenticates them (source
// address → shared secret, Request Authenticator over a zero field, Message-Authenticator, required by
// default), checks their Event-Timestamp (required by default: without it a request gets NAK 402; outside
// the window it is silently discarded, RFC 5176 §6.3) and refuses replays: every request handled is
// remembered, by a hash of its bytes, for as long as its Event-Timestamp would still be accepted, so a
// captured request sent again later acts no more. A retransmission (same source address and port, within
// the duplicate window; RFC 5176 §2.3, RFC 5080 §2.2.2) gets the cached reply again. Anything that fails
// authentication is silently discarded (RFC 5176 §3.4/§3.5).

import { createHash } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Attr, ErrorCause, readAddress, readInteger, readText, readTime, integerAttribute } from './Dictionary.js';
import { checkMessageAuthenticator, sealResponse, verifyAccountingRequestAuthenticator, type RadiusSecret } from './RadiusCrypto.js';
import { decodePacket, findAllAttributes, findAttribute, RadiusCode, RadiusFormatError, type DecodedRadiusPacket, type RadiusAttribute } from './RadiusPacket.js';

export const DAS_DEFAULT_PORT = 3799;

export interface DasClientConfig {
  /** Source IP of the Dynamic Authorization Client (IP literal). */
  address: string;
  secret: RadiusSecret;
}

/** An authenticated Disconnect-/CoA-Request with its session identification attributes decoded. */
export interface DasRequest {
  kind: 'disconnect' | 'coa';
  code: number;
  identifier: number;
  /** All attributes in wire order (Message-Authenticator and Proxy-State included). */
  attributes: RadiusAttribute[];
  source: { address: string; port: number };
  hasMessageAuthenticator: boolean;
  userName?: string | undefined;
  acctSessionId?: string | undefined;
  acctMultiSessionId?: string | undefined;
  nasIpAddress?: string | undefined;
  nasIdentifier?: string | undefined;
  nasPort?: number | undefined;
  nasPortId?: string | undefined;
  framedIpAddress?: string | undefined;
  callingStationId?: string | undefined;
  calledStationId?: string | undefined;
  serviceType?: number | undefined;
  eventTimestamp?: Date | undefined;
}

export type DasResult = { ack: true; attributes?: RadiusAttribute[] } | { ack: false; errorCause: number; attributes?: RadiusAttribute[] };

export type DasHandler = (request: DasRequest) => Promise<DasResult>;

export interface DasServerOptions {
  clients: DasClientConfig[];
  handler: DasHandler;
  /** Default 3799; 0 = any free port (tests). */
  port?: number;
  /** Default 0.0.0.0 (an IPv6 address makes an udp6 socket). */
  bindAddress?: string;
  /** Discard requests without Message-Authenticator. Default true (RFC 5176 §3.4 makes it optional; BlastRADIUS makes it wise). */
  requireMessageAuthenticator?: boolean;
  /**
   * Refuse requests without Event-Timestamp with NAK 402 (Missing-Attribute). Default true: without it a
   * captured request can be replayed once the replay cache has forgotten it (RFC 5176 §6.3).
   */
  requireEventTimestamp?: boolean;
  /** Accepted |now − Event-Timestamp|. Default 300 s (RFC 5176 §6.3). */
  eventTimestampWindowSec?: number;
  /** How long the same request from the same source address and port counts as a retransmission (cached reply sent again). Default 10 s (RFC 5080 §2.2.2: 5–30 s). */
  duplicateWindowMs?: number;
  /**
   * Requests remembered against replay, each until its Event-Timestamp leaves the window (requests without one:
   * a window from their arrival). When full, new requests get NAK 506 (Resources-Unavailable) until entries
   * expire: nothing is forgotten early, so a flood cannot make room for a replay. Default 16384.
   */
  replayCacheSize?: number;
  /** When set, a request whose NAS-IP-Address / NAS-Identifier names another NAS gets NAK 403. */
  nasIpAddress?: string;
  nasIdentifier?: string;
  log: Logger;
}

interface CacheEntry {
  /** "address:port" the request first came from. */
  from: string;
  at: number;
  /** After this (Date.now() ms) a copy of the request fails the Event-Timestamp check anyway. */
  expiresAt: number;
  /** Undefined while the handler runs: a duplicate then is dropped, the reply will follow. */
  reply?: Buffer;
}

/** How often expired replay-cache entries are swept (and at most how often when the cache is full). */
const SWEEP_INTERVAL_MS = 10_000;
const FULL_SWEEP_INTERVAL_MS = 1000;

export class DasServer {
  private socket: Socket | undefined;
  private readonly clients = new Map<string, RadiusSecret>();
  /** Requests handled, by SHA-256 of their bytes (Identifier, attributes and authenticator: the whole signed packet). */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly windowMs: number;
  private readonly duplicateWindowMs: number;
  private readonly cacheSize: number;
  private readonly requireMessageAuthenticator: boolean;
  private readonly requireEventTimestamp: boolean;
  private lastSweep = 0;
  private lastFullWarning = Number.NEGATIVE_INFINITY;
  private refusedWhileFull = 0;
  private readonly log: Logger;

  constructor(private readonly options: DasServerOptions) {
    this.log = options.log;
    for (const c of options.clients) {
      if (!isIP(c.address)) throw new RangeError(`DAS client address "${c.address}" is not an IP literal`);
      if (c.secret.length === 0) throw new RangeError(`DAS client ${c.address}: empty shared secret`);
      this.clients.set(canonicalAddress(c.address), c.secret);
    }
    this.windowMs = (options.eventTimestampWindowSec ?? 300) * 1000;
    this.duplicateWindowMs = options.duplicateWindowMs ?? 10_000;
    this.cacheSize = options.replayCacheSize ?? 16_384;
    if (!(this.cacheSize >= 1)) throw new RangeError('DAS replayCacheSize must be at least 1');
    this.requireMessageAuthenticator = options.requireMessageAuthenticator ?? true;
    this.requireEventTimestamp = options.requireEventTimestamp ?? true;
  }

  /** Binds the socket; resolves with the bound address and port. */
  listen(): Promise<{ address: string; port: number }> {
    if (this.socket) return Promise.reject(new Error('DasServer already listening'));
    const bindAddress = this.options.bindAddress ?? '0.0.0.0';
    const socket = createSocket(isIP(bindAddress) === 6 ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: bindAddress, port: this.options.port ?? DAS_DEFAULT_PORT }, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.log.warn({ err: err.message }, 'DAS socket error'));
        const a = socket.address();
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    this.cache.clear();
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const source = canonicalAddress(rinfo.address);
    const from = `${source}:${rinfo.port}`;
    const secret = this.clients.get(source);
    if (secret === undefined) return this.log.warn({ from }, 'DAS request from an unknown client, dropped');

    let packet: DecodedRadiusPacket;
    try {
      packet = decodePacket(msg);
    } catch (e) {
      return this.log.warn({ from, err: e instanceof Error ? e.message : String(e) }, 'DAS request malformed, dropped');
    }
    const meta = { from, id: packet.identifier, code: packet.code };
    if (packet.code !== RadiusCode.DisconnectRequest && packet.code !== RadiusCode.CoaRequest) {
      return this.log.warn(meta, 'DAS packet is not a Disconnect-/CoA-Request, dropped');
    }
    if (!verifyAccountingRequestAuthenticator(packet.raw, secret)) {
      return this.log.warn(meta, 'DAS request with a bad Request Authenticator (wrong secret?), dropped');
    }
    // RFC 5176 §3.4: the Message-Authenticator is computed with the Authenticator field zeroed.
    const ma = checkMessageAuthenticator(packet, Buffer.alloc(16), secret);
    if (ma === 'invalid') return this.log.warn(meta, 'DAS request with a bad Message-Authenticator, dropped');
    if (ma === 'absent' && this.requireMessageAuthenticator) {
      return this.log.warn(meta, 'DAS request without Message-Authenticator, dropped (radius.das.requireMessageAuthenticator)');
    }
    const hadMa = ma === 'valid';

    const now = Date.now();
    const ts = findAttribute(packet.attributes, Attr.EventTimestamp);
    let expiresAt: number;
    if (ts) {
      let when: number;
      try {
        when = readInteger(ts) * 1000;
      } catch {
        return this.log.warn(meta, 'DAS request with a malformed Event-Timestamp, dropped');
      }
      // RFC 5176 §6.3: a request whose Event-Timestamp is not current MUST be silently discarded.
      if (Math.abs(now - when) > this.windowMs) {
        return this.log.warn({ ...meta, eventTimestamp: when / 1000, skewSec: Math.round((now - when) / 1000) }, 'DAS request outside the Event-Timestamp window (replay or clock skew), dropped');
      }
      // Until then a copy passes the window check, so it must be remembered as long.
      expiresAt = Math.max(when + this.windowMs, now + this.duplicateWindowMs);
    } else if (this.requireEventTimestamp) {
      // RFC 5176 §6.3: a NAS SHOULD be configurable to refuse requests without Event-Timestamp; §3.5: Error-Cause 402.
      this.log.warn(meta, 'DAS request without Event-Timestamp: NAK 402 Missing-Attribute (radius.das.requireEventTimestamp)');
      const nak = this.seal(packet, secret, { ack: false, errorCause: ErrorCause.MissingAttribute }, hadMa, meta);
      if (nak) this.send(nak, rinfo);
      return;
    } else {
      // Nothing dates the request: it is remembered for one window from now, and replayable after that.
      expiresAt = now + this.windowMs;
    }

    const key = createHash('sha256').update(packet.raw).digest('base64');
    const cached = this.cache.get(key);
    if (cached && now <= cached.expiresAt) {
      if (cached.from === from && now - cached.at <= this.duplicateWindowMs) {
        if (cached.reply) {
          this.log.debug(meta, 'DAS duplicate request, cached reply sent again');
          this.send(cached.reply, rinfo);
        } else {
          this.log.debug(meta, 'DAS duplicate request while the first is being handled, dropped');
        }
      } else {
        this.log.warn({ ...meta, firstFrom: cached.from, firstAt: new Date(cached.at).toISOString() }, 'DAS request already handled (replay), dropped');
      }
      return;
    }
    if (cached) this.cache.delete(key);
    this.sweep(now);
    if (this.cache.size >= this.cacheSize) {
      this.refusedWhileFull++;
      if (now - this.lastFullWarning >= SWEEP_INTERVAL_MS) {
        this.lastFullWarning = now;
        this.log.warn({ ...meta, entries: this.cache.size, refused: this.refusedWhileFull }, 'DAS replay cache full: requests refused with NAK 506 until entries expire');
        this.refusedWhileFull = 0;
      }
      const nak = this.seal(packet, secret, { ack: false, errorCause: ErrorCause.ResourcesUnavailable }, hadMa, meta);
      if (nak) this.send(nak, rinfo);
      return;
    }

    const entry: CacheEntry = { from, at: now, expiresAt };
    this.cache.set(key, entry);
    this.process(packet, secret, rinfo, entry, hadMa).catch((e: unknown) => this.log.warn({ ...meta, err: e instanceof Error ? e.message : String(e) }, 'DAS request processing failed'));
  }

  private async process(packet: DecodedRadiusPacket, secret: RadiusSecret, rinfo: RemoteInfo, entry: CacheEntry, hadMa: boolean): Promise<void> {
    const meta = { from: `${rinfo.address}:${rinfo.port}`, id: packet.identifier, code: packet.code };
    let result: DasResult;
    const request = describeRequest(packet, rinfo, hadMa);
    if (request instanceof RadiusFormatError) {
      result = { ack: false, errorCause: ErrorCause.InvalidAttributeValue };
    } else if (!this.isForUs(request)) {
      result = { ack: false, errorCause: ErrorCause.NasIdentificationMismatch };
    } else {
      try {
        result = await this.options.handler(request);
      } catch (e) {
        this.log.warn({ ...meta, err: e instanceof Error ? e.message : String(e) }, 'DAS handler failed');
        result = { ack: false, errorCause: ErrorCause.ResourcesUnavailable };
      }
    }
    // Without a reply the entry stays: a copy is still not handled twice.
    const reply = this.seal(packet, secret, result, hadMa, meta);
    if (!reply) return;
    entry.reply = reply;
    this.log.debug({ ...meta, reply: reply[0], errorCause: result.ack ? undefined : result.errorCause }, 'DAS reply sent');
    this.send(reply, rinfo);
  }

  /** The signed ACK/NAK for `result`, or undefined (logged) when it cannot be encoded. */
  private seal(packet: DecodedRadiusPacket, secret: RadiusSecret, result: DasResult, hadMa: boolean, meta: Record<string, unknown>): Buffer | undefined {
    const replyCode = packet.code === RadiusCode.DisconnectRequest ? (result.ack ? RadiusCode.DisconnectAck : RadiusCode.DisconnectNak) : result.ack ? RadiusCode.CoaAck : RadiusCode.CoaNak;
    const attributes: RadiusAttribute[] = [];
    // Message-Authenticator first when the request had one (or the client requires it; RFC 5176 §3.4).
    if (hadMa || this.requireMessageAuthenticator) attributes.push({ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) });
    if (!result.ack) attributes.push(integerAttribute(Attr.ErrorCause, result.errorCause));
    for (const a of result.attributes ?? []) {
      if (a.vendorId === undefined && (a.type === Attr.MessageAuthenticator || a.type === Attr.ProxyState)) continue;
      attributes.push(a);
    }
    // RFC 5176 §3: Proxy-State copied back unmodified, in order.
    attributes.push(...findAllAttributes(packet.attributes, Attr.ProxyState));
    try {
      return sealResponse({ code: replyCode, identifier: packet.identifier, attributes }, packet.authenticator, secret);
    } catch (e) {
      this.log.warn({ ...meta, err: e instanceof Error ? e.message : String(e) }, 'DAS reply could not be encoded');
      return undefined;
    }
  }

  private isForUs(req: DasRequest): boolean {
    if (this.options.nasIpAddress && req.nasIpAddress !== undefined && req.nasIpAddress !== this.options.nasIpAddress) return false;
    if (this.options.nasIdentifier && req.nasIdentifier !== undefined && req.nasIdentifier !== this.options.nasIdentifier) return false;
    return true;
  }

  private send(reply: Buffer, rinfo: RemoteInfo): void {
    this.socket?.send(reply, rinfo.port, rinfo.address, (err) => {
      if (err) this.log.warn({ to: `${rinfo.address}:${rinfo.port}`, err: err.message }, 'DAS reply send failed');
    });
  }

  /** Forgets requests whose Event-Timestamp has left the window: every 10 s, or (at most every second) when full. */
  private sweep(now: number): void {
    const due = now - this.lastSweep >= (this.cache.size >= this.cacheSize ? FULL_SWEEP_INTERVAL_MS : SWEEP_INTERVAL_MS);
    if (!due) return;
    this.lastSweep = now;
    for (const [key, e] of this.cache) if (now > e.expiresAt) this.cache.delete(key);
  }
}

/** Decodes the identification attributes; a malformed one yields the error (⇒ NAK 407). */
function describeRequest(packet: DecodedRadiusPacket, rinfo: RemoteInfo, hadMa: boolean): DasRequest | RadiusFormatError {
  const attrs = packet.attributes;
  const text = (t: number): string | undefined => {
    const a = findAttribute(attrs, t);
    return a && readText(a);
  };
  const num = (t: number): number | undefined => {
    const a = findAttribute(attrs, t);
    return a && readInteger(a);
  };
  const addr = (t: number): string | undefined => {
    const a = findAttribute(attrs, t);
    return a && readAddress(a);
  };
  try {
    const ts = findAttribute(attrs, Attr.EventTimestamp);
    const req: DasRequest = {
      kind: packet.code === RadiusCode.DisconnectRequest ? 'disconnect' : 'coa',
      code: packet.code,
      identifier: packet.identifier,
      attributes: attrs,
      source: { address: canonicalAddress(rinfo.address), port: rinfo.port },
      hasMessageAuthenticator: hadMa,
      userName: text(Attr.UserName),
      acctSessionId: text(Attr.AcctSessionId),
      acctMultiSessionId: text(Attr.AcctMultiSessionId),
      nasIpAddress: addr(Attr.NasIpAddress),
      nasIdentifier: text(Attr.NasIdentifier),
      nasPort: num(Attr.NasPort),
      nasPortId: text(Attr.NasPortId),
      framedIpAddress: addr(Attr.FramedIpAddress),
      callingStationId: text(Attr.CallingStationId),
      calledStationId: text(Attr.CalledStationId),
      serviceType: num(Attr.ServiceType),
      eventTimestamp: ts && readTime(ts),
    };
    for (const k of Object.keys(req) as (keyof DasRequest)[]) if (req[k] === undefined) delete req[k];
    return req;
  } catch (e) {
    if (e instanceof RadiusFormatError) return e;
    throw e;
  }
}

/** IPv4-mapped IPv6 sources (dual-stack sockets) compare as IPv4; IPv6 in its compressed form. */
function canonicalAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (isIP(address) === 6) return new URL(`udp://[${address}]`).hostname.slice(1, -1);
  return address;
}
