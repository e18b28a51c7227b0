// Dynamic Authorization server of the NAS (RFC 5176): receives Disconnect-Request and
// CoA-Request on UDP 3799 from configured Dynamic Authorization Clients, authenticates them (source
// address → shared secret, Request Authenticator over a zero field, Message-Authenticator if present
// or required, Event-Timestamp window), suppresses duplicates (RFC 5080 §2.2.2: same source, Identifier
// and authenticator ⇒ the cached reply is sent again, the handler is not re-run), and answers with the
// handler's ACK/NAK. Anything that fails authentication is silently discarded (RFC 5176 §3.4/§3.5).

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Attr, ErrorCause, readAddress, readInteger, readText, readTime, integerAttribute } from './Dictionary.js';
import { checkMessageAuthenticator, constantTimeEqual, sealResponse, verifyAccountingRequestAuthenticator, type RadiusSecret } from './RadiusCrypto.js';
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
  /** Discard requests without Message-Authenticator. Default false (RFC 5176 makes it optional). */
  requireMessageAuthenticator?: boolean;
  /** Discard requests without Event-Timestamp. Default false. */
  requireEventTimestamp?: boolean;
  /** Accepted |now − Event-Timestamp|. Default 300 s (RFC 5176 §3.5 suggestion). */
  eventTimestampWindowSec?: number;
  /** How long a reply is kept for duplicates. Default 10 s (RFC 5080 §2.2.2: 5–30 s). */
  duplicateWindowMs?: number;
  /** When set, a request whose NAS-IP-Address / NAS-Identifier names another NAS gets NAK 403. */
  nasIpAddress?: string;
  nasIdentifier?: string;
  log: Logger;
}

interface CacheEntry {
  authenticator: Buffer;
  at: number;
  /** Undefined while the handler runs: a duplicate then is dropped, the reply will follow. */
  reply?: Buffer;
}

export class DasServer {
  private socket: Socket | undefined;
  private readonly clients = new Map<string, RadiusSecret>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly windowSec: number;
  private readonly duplicateWindowMs: number;
  private readonly log: Logger;

  constructor(private readonly options: DasServerOptions) {
    this.log = options.log;
    for (const c of options.clients) {
      if (!isIP(c.address)) throw new RangeError(`DAS client address "${c.address}" is not an IP literal`);
      if (c.secret.length === 0) throw new RangeError(`DAS client ${c.address}: empty shared secret`);
      this.clients.set(canonicalAddress(c.address), c.secret);
    }
    this.windowSec = options.eventTimestampWindowSec ?? 300;
    this.duplicateWindowMs = options.duplicateWindowMs ?? 10_000;
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
    if (ma === 'absent' && this.options.requireMessageAuthenticator) {
      return this.log.warn(meta, 'DAS request without Message-Authenticator, dropped');
    }

    const now = Date.now();
    const key = `${from}/${packet.identifier}`;
    this.pruneCache(now);
    const cached = this.cache.get(key);
    if (cached && constantTimeEqual(cached.authenticator, packet.authenticator)) {
      if (cached.reply) {
        this.log.debug(meta, 'DAS duplicate request, cached reply sent again');
        this.send(cached.reply, rinfo);
      } else {
        this.log.debug(meta, 'DAS duplicate request while the first is being handled, dropped');
      }
      return;
    }

    const ts = findAttribute(packet.attributes, Attr.EventTimestamp);
    if (ts) {
      let when: number;
      try {
        when = readInteger(ts) * 1000;
      } catch {
        return this.log.warn(meta, 'DAS request with a malformed Event-Timestamp, dropped');
      }
      if (Math.abs(now - when) > this.windowSec * 1000) {
        return this.log.warn(meta, 'DAS request outside the Event-Timestamp window (replay?), dropped');
      }
    } else if (this.options.requireEventTimestamp) {
      return this.log.warn(meta, 'DAS request without Event-Timestamp, dropped');
    }

    // A new authenticator under the same Identifier replaces the cached one (RFC 5080 §2.2.2).
    this.cache.delete(key);
    const entry: CacheEntry = { authenticator: Buffer.from(packet.authenticator), at: now };
    this.cache.set(key, entry);
    this.process(packet, secret, rinfo, entry, ma === 'valid').catch((e: unknown) => this.log.warn({ ...meta, err: e instanceof Error ? e.message : String(e) }, 'DAS request processing failed'));
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

    const replyCode = packet.code === RadiusCode.DisconnectRequest ? (result.ack ? RadiusCode.DisconnectAck : RadiusCode.DisconnectNak) : result.ack ? RadiusCode.CoaAck : RadiusCode.CoaNak;
    const attributes: RadiusAttribute[] = [];
    // Message-Authenticator first when the request had one (or the client requires it; RFC 5176 §3.4).
    if (hadMa || this.options.requireMessageAuthenticator) attributes.push({ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) });
    if (!result.ack) attributes.push(integerAttribute(Attr.ErrorCause, result.errorCause));
    for (const a of result.attributes ?? []) {
      if (a.vendorId === undefined && (a.type === Attr.MessageAuthenticator || a.type === Attr.ProxyState)) continue;
      attributes.push(a);
    }
    // RFC 5176 §3: Proxy-State copied back unmodified, in order.
    attributes.push(...findAllAttributes(packet.attributes, Attr.ProxyState));

    let reply: Buffer;
    try {
      reply = sealResponse({ code: replyCode, identifier: packet.identifier, attributes }, packet.authenticator, secret);
    } catch (e) {
      this.cache.delete(`${meta.from}/${packet.identifier}`);
      return this.log.warn({ ...meta, err: e instanceof Error ? e.message : String(e) }, 'DAS reply could not be encoded');
    }
    entry.reply = reply;
    this.log.debug({ ...meta, reply: replyCode, errorCause: result.ack ? undefined : result.errorCause }, 'DAS reply sent');
    this.send(reply, rinfo);
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

  private pruneCache(now: number): void {
    // Map order is insertion order and entries are re-inserted when replaced, so the oldest come first.
    for (const [key, e] of this.cache) {
      if (now - e.at <= this.duplicateWindowMs) break;
      this.cache.delete(key);
    }
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
