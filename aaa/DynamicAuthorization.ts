// What a Disconnect-/CoA-Request does to our sessions (RFC 5176 §3). The DasServer has
// already authenticated the packet (configured source, shared secret, Message-Authenticator) and refused
// replays (Event-Timestamp window, requests already handled); here the identification attributes
// select sessions and the request is applied to every one of them: Disconnect ends each with a proper
// PPP Terminate + PPTP Call-Disconnect-Notify (and so an Accounting Stop with Admin-Reset), CoA changes
// Session-Timeout / Idle-Timeout.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DasHandler, DasRequest, DasResult } from '../radius/DasServer.js';
import { AcctTerminateCause, Attr, ErrorCause, integerAttribute, readInteger, ServiceType } from '../radius/Dictionary.js';
import { isVendorAttribute, type RadiusAttribute } from '../radius/RadiusPacket.js';
import type { SessionEnded, SessionEvents, SessionSelector, SessionSummary } from '../session/SessionManager.js';
import type { SessionStop } from '../session/EndCause.js';

/** The part of PptpServer Dynamic Authorization drives (a fake in tests). */
export type SessionControl = Pick<EventEmitter<SessionEvents>, 'on' | 'off'> & {
  findSessions(selector: SessionSelector): SessionSummary[];
  listSessions(): SessionSummary[];
  disconnect(callId: number, stop: SessionStop, detail?: string): boolean;
  setLimits(callId: number, limits: { sessionTimeout?: number | null; idleTimeout?: number | null }): boolean;
};

export interface DynamicAuthorizationOptions {
  server: SessionControl;
  log: Logger;
  /** How long a Disconnect waits for the sessions to be gone before it ACKs anyway. Default 5000 ms. */
  teardownWaitMs?: number;
}

/** Session identification we can match (RFC 5176 §3: User-Name, NAS-Port, Framed-IP-Address, Calling-Station-Id, Acct-Session-Id). */
const IDENTIFICATION = new Set<number>([Attr.UserName, Attr.NasPort, Attr.FramedIpAddress, Attr.CallingStationId, Attr.AcctSessionId]);
/** Identification we do not keep: naming a session by them cannot be honoured (NAK 401). */
const UNSUPPORTED_IDENTIFICATION = new Set<number>([Attr.AcctMultiSessionId, Attr.NasPortId, Attr.ChargeableUserIdentity, Attr.FramedInterfaceId, Attr.FramedIpv6Prefix]);
/** Allowed in any request besides identification: NAS identification (checked by DasServer) and packet-level attributes. */
const ALWAYS_ALLOWED = new Set<number>([
  Attr.NasIpAddress,
  Attr.NasIdentifier,
  Attr.NasIpv6Address,
  Attr.CalledStationId,
  Attr.EventTimestamp,
  Attr.MessageAuthenticator,
  Attr.ProxyState,
  Attr.State,
  Attr.Class,
  Attr.ReplyMessage,
  Attr.ServiceType,
]);
const DISCONNECT_ONLY = new Set<number>([Attr.AcctTerminateCause]);
const COA_CHANGES = new Set<number>([Attr.SessionTimeout, Attr.IdleTimeout]);

export class DynamicAuthorization {
  private readonly teardownWaitMs: number;

  constructor(private readonly options: DynamicAuthorizationOptions) {
    this.teardownWaitMs = options.teardownWaitMs ?? 5000;
  }

  /** For DasServer's `handler`. */
  readonly handler: DasHandler = (request) => this.handle(request);

  private async handle(request: DasRequest): Promise<DasResult> {
    const log = this.options.log;
    const meta = { from: request.source.address, kind: request.kind, id: request.identifier };
    const unsupported = this.unsupportedAttribute(request);
    if (unsupported !== null) {
      log.warn({ ...meta, attribute: unsupported }, 'Dynamic Authorization request with an unsupported attribute: NAK 401');
      return { ack: false, errorCause: ErrorCause.UnsupportedAttribute };
    }
    if (request.kind === 'coa' && request.serviceType === ServiceType.AuthorizeOnly) {
      // RFC 5176 §3.2: Authorize-Only would need a new Access-Request per session; not offered.
      log.warn(meta, 'CoA-Request with Service-Type Authorize-Only is not supported: NAK 405');
      return { ack: false, errorCause: ErrorCause.UnsupportedService };
    }
    const selector: SessionSelector = {};
    if (request.userName !== undefined) selector.user = request.userName;
    if (request.acctSessionId !== undefined) selector.sessionId = request.acctSessionId;
    if (request.framedIpAddress !== undefined) selector.address = request.framedIpAddress;
    if (request.nasPort !== undefined) selector.callId = request.nasPort;
    if (Object.keys(selector).length === 0 && request.callingStationId === undefined) {
      log.warn(meta, 'Dynamic Authorization request names no session: NAK 402');
      return { ack: false, errorCause: ErrorCause.MissingAttribute };
    }
    // All given identifiers must match (RFC 5176 §3); Calling-Station-Id is the client's address.
    const matched = (Object.keys(selector).length > 0 ? this.options.server.findSessions(selector) : this.options.server.listSessions()).filter(
      (s) => request.callingStationId === undefined || s.peer === request.callingStationId,
    );
    const named = { ...selector, ...(request.callingStationId !== undefined ? { peer: request.callingStationId } : {}) };
    if (matched.length === 0) {
      log.info({ ...meta, selector: named }, 'Dynamic Authorization request matches no session: NAK 503');
      return { ack: false, errorCause: ErrorCause.SessionContextNotFound };
    }
    return request.kind === 'disconnect' ? this.disconnect(request, matched, meta) : this.changeLimits(request, matched, meta);
  }

  private async disconnect(request: DasRequest, sessions: SessionSummary[], meta: Record<string, unknown>): Promise<DasResult> {
    const server = this.options.server;
    const pending = new Set(sessions.map((s) => s.sessionId));
    let onDown: ((s: SessionEnded) => void) | undefined;
    const gone = new Promise<void>((resolve) => {
      onDown = (s: SessionEnded) => {
        pending.delete(s.sessionId);
        if (pending.size === 0) resolve();
      };
      server.on('session-down', onDown);
    });
    for (const s of sessions) {
      this.options.log.info({ ...meta, sessionId: s.sessionId, user: s.user, callId: s.callId }, 'Disconnect-Request: ending session');
      if (!server.disconnect(s.callId, 'radius-disconnect', `RADIUS Disconnect-Request from ${request.source.address}`)) pending.delete(s.sessionId);
    }
    // ACK once the sessions are really gone (LCP Terminate acknowledged, Call-Disconnect-Notify sent,
    // Accounting Stop queued); a peer that never answers is cut by LCP's Max-Terminate anyway.
    let timer: NodeJS.Timeout | undefined;
    if (pending.size > 0) {
      await Promise.race([gone, new Promise<void>((r) => (timer = setTimeout(r, this.teardownWaitMs)))]);
    }
    if (timer) clearTimeout(timer);
    server.off('session-down', onDown!);
    if (pending.size > 0) this.options.log.warn({ ...meta, stillClosing: [...pending] }, 'Disconnect-Request: teardown still running, ACK sent');
    return { ack: true, attributes: [integerAttribute(Attr.AcctTerminateCause, AcctTerminateCause.AdminReset)] };
  }

  private changeLimits(request: DasRequest, sessions: SessionSummary[], meta: Record<string, unknown>): DasResult {
    const limits: { sessionTimeout?: number | null; idleTimeout?: number | null } = {};
    for (const a of request.attributes) {
      if (isVendorAttribute(a)) continue;
      // 0 removes the limit (RFC 2865 §5.27/§5.28 give no meaning to 0; "no limit" is the useful one).
      if (a.type === Attr.SessionTimeout) limits.sessionTimeout = readInteger(a) || null;
      if (a.type === Attr.IdleTimeout) limits.idleTimeout = readInteger(a) || null;
    }
    if (Object.keys(limits).length === 0) {
      this.options.log.warn(meta, 'CoA-Request changes nothing we support: NAK 402');
      return { ack: false, errorCause: ErrorCause.MissingAttribute };
    }
    for (const s of sessions) {
      this.options.log.info({ ...meta, sessionId: s.sessionId, user: s.user, ...limits }, 'CoA-Request: session limits changed');
      this.options.server.setLimits(s.callId, limits);
    }
    return { ack: true };
  }

  /** The first attribute this request may not carry, as "Name (type)", or null. */
  private unsupportedAttribute(request: DasRequest): string | null {
    for (const a of request.attributes as RadiusAttribute[]) {
      if (isVendorAttribute(a)) return `Vendor-Specific ${a.vendorId}/${a.type}`;
      if (UNSUPPORTED_IDENTIFICATION.has(a.type)) return `attribute ${a.type} (identification we do not keep)`;
      if (IDENTIFICATION.has(a.type) || ALWAYS_ALLOWED.has(a.type)) continue;
      if (request.kind === 'disconnect' && DISCONNECT_ONLY.has(a.type)) continue;
      if (request.kind === 'coa' && COA_CHANGES.has(a.type)) continue;
      return `attribute ${a.type}`;
    }
    return null;
  }
}
