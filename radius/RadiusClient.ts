// RADIUS/UDP client of the NAS (RFC 2865 §2.5, RFC 2866, RFC 5080 §2.2):
// ordered server list with failover and dead-time (ended early by a Status-Server probe, RFC 5997),
// retransmission of the identical datagram (same Identifier, authenticator and source port),
// Identifier pools per socket (≤ 256 outstanding, another socket past that), reply matching on
// (server address:port, Identifier) and verification of the Response Authenticator and
// Message-Authenticator before anything reads an attribute. BlastRADIUS
// (CVE-2024-3596): Message-Authenticator is the FIRST attribute of every Access-Request, Access-*
// replies without a valid one are dropped unless requireMessageAuthenticator is false, and the client
// never sends Proxy-State.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Attr, MsAttr, textAttribute, VENDOR_MICROSOFT } from './Dictionary.js';
import {
  checkMessageAuthenticator,
  decodeMsChapMppeKeys,
  decryptMppeKey,
  hideUserPassword,
  randomAuthenticator,
  sealRequest,
  verifyResponseAuthenticator,
  type MsChapMppeKeys,
  type RadiusSecret,
} from './RadiusCrypto.js';
import {
  decodePacket,
  findAllAttributes,
  findAttribute,
  findVendorAttribute,
  isVendorAttribute,
  RadiusCode,
  RadiusFormatError,
  type RadiusAttribute,
  type StandardAttribute,
  type VendorAttribute,
} from './RadiusPacket.js';

export interface RadiusServerConfig {
  /** IP literal (no DNS lookups on the authentication path). */
  address: string;
  authPort?: number;
  acctPort?: number;
  secret: RadiusSecret;
}

export interface RadiusClientOptions {
  servers: RadiusServerConfig[];
  /** Wait for a reply after each transmission. Default 3000. */
  timeoutMs?: number;
  /** Transmissions per server (1 + retransmissions). Default 3. */
  tries?: number;
  /** A server that failed `deadAfterTimeouts` requests in a row is skipped this long. Default 60; 0 = never skip. */
  deadTimeSec?: number;
  /** Consecutive unanswered requests before the dead-time starts. Default 1. */
  deadAfterTimeouts?: number;
  /**
   * Seconds between Status-Server probes (RFC 5997) of a server port inside its dead-time; a verified
   * answer ends the dead-time at once. Unanswered probes never extend it (a server that does not do
   * Status-Server is simply retried when its dead-time ends). Default 0 = no probes.
   */
  statusIntervalSec?: number;
  /** Drop Access-Accept/Reject/Challenge without a valid Message-Authenticator. Default true (BlastRADIUS, CVE-2024-3596). */
  requireMessageAuthenticator?: boolean;
  /** Added as NAS-Identifier to every request that has none. */
  nasIdentifier?: string;
  /** Local address of the client sockets (the NAS-IP-Address the server knows us by). */
  bindAddress?: string;
  /** Entries never contain secrets or attribute values. */
  log: Logger;
}

export interface RadiusRequestOptions {
  timeoutMs?: number;
  tries?: number;
}

export type RadiusAttemptOutcome = 'timeout' | 'skipped-dead' | 'send-error';

export interface RadiusServerAttempt {
  /** "address:port" */
  server: string;
  outcome: RadiusAttemptOutcome;
  /** Why, e.g. "3 tries, no reply" or "3 tries; last reply dropped: no Message-Authenticator". */
  detail: string;
}

/** No configured server produced a valid reply. */
export class RadiusNoResponseError extends Error {
  override readonly name = 'RadiusNoResponseError';
  constructor(
    readonly requestKind: 'access' | 'accounting',
    readonly attempts: RadiusServerAttempt[],
  ) {
    super(`no RADIUS server answered the ${requestKind} request: ${attempts.length ? attempts.map((a) => `${a.server} ${a.outcome} (${a.detail})`).join('; ') : 'no servers'}`);
  }
}

export class RadiusClientClosedError extends Error {
  override readonly name = 'RadiusClientClosedError';
  constructor() {
    super('RADIUS client closed');
  }
}

/** A verified reply. Hidden attributes are decrypted on demand with the request's authenticator. */
export class RadiusReply {
  readonly #secret: RadiusSecret;

  constructor(
    readonly code: number,
    readonly identifier: number,
    readonly attributes: RadiusAttribute[],
    /** "address:port" of the server that answered. */
    readonly server: string,
    /** Authenticator of the request this answers (the salt of MPPE keys). */
    readonly requestAuthenticator: Buffer,
    secret: RadiusSecret,
  ) {
    this.#secret = secret;
  }

  get isAccept(): boolean {
    return this.code === RadiusCode.AccessAccept;
  }
  get isReject(): boolean {
    return this.code === RadiusCode.AccessReject;
  }
  get isChallenge(): boolean {
    return this.code === RadiusCode.AccessChallenge;
  }

  get(type: number): StandardAttribute | undefined {
    return findAttribute(this.attributes, type);
  }
  getAll(type: number): StandardAttribute[] {
    return findAllAttributes(this.attributes, type);
  }
  getVendor(vendorId: number, type: number): VendorAttribute | undefined {
    return findVendorAttribute(this.attributes, vendorId, type);
  }

  /** MS-MPPE-Send-Key (NAS → peer direction), decrypted; undefined when absent. RadiusFormatError if it does not decrypt. */
  mppeSendKey(): Buffer | undefined {
    const a = this.getVendor(VENDOR_MICROSOFT, MsAttr.MppeSendKey);
    return a && decryptMppeKey(a.value, this.#secret, this.requestAuthenticator);
  }
  /** MS-MPPE-Recv-Key (peer → NAS direction), decrypted. */
  mppeRecvKey(): Buffer | undefined {
    const a = this.getVendor(VENDOR_MICROSOFT, MsAttr.MppeRecvKey);
    return a && decryptMppeKey(a.value, this.#secret, this.requestAuthenticator);
  }
  /** MS-CHAP-MPPE-Keys (MS-CHAPv1 Accept), decoded. */
  msChapMppeKeys(): MsChapMppeKeys | undefined {
    const a = this.getVendor(VENDOR_MICROSOFT, MsAttr.ChapMppeKeys);
    return a && decodeMsChapMppeKeys(a.value, this.#secret, this.requestAuthenticator);
  }
}

const MAX_OUTSTANDING_PER_SOCKET = 256;
const MA_PLACEHOLDER: StandardAttribute = { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) };

/** 'status': a Status-Server probe, answered by Access-Accept on an auth port, Accounting-Response on an acct port. */
type RequestKind = 'access' | 'accounting' | 'status';

interface ServerHealth {
  consecutiveTimeouts: number;
  deadUntil: number;
  /** Request → verified reply of the last answered request, ms. */
  lastRttMs: number | null;
}

/** One server port as the client sees it (the admin panel, metrics). */
export interface RadiusServerHealth {
  server: string;
  role: 'auth' | 'acct';
  state: 'up' | 'dead' | 'unknown';
  lastRttMs: number | null;
  consecutiveTimeouts: number;
}

interface Outstanding {
  kind: RequestKind;
  /** Reply codes that answer this request. */
  answers: readonly number[];
  address: string;
  port: number;
  label: string;
  secret: RadiusSecret;
  requestAuthenticator: Buffer;
  /** Why the last reply for this attempt was dropped, for the final error. */
  dropReason?: string;
  sendError?: string;
  onReply(reply: RadiusReply): void;
}

/** One UDP socket and its Identifier space (RFC 2865 §3: the Identifier is per source address/port). */
class ClientSocket {
  readonly outstanding = new Map<number, Outstanding>();
  private nextId = Math.floor(Math.random() * 256);

  constructor(
    readonly socket: Socket,
    readonly family: 4 | 6,
  ) {}

  get full(): boolean {
    return this.outstanding.size >= MAX_OUTSTANDING_PER_SOCKET;
  }

  /** A free Identifier, rotating so a just-released one is not reused at once (RFC 5080 §2.2.1 spirit). */
  allocate(entry: Outstanding): number {
    for (let i = 0; i < 256; i++) {
      const id = (this.nextId + i) & 0xff;
      if (!this.outstanding.has(id)) {
        this.nextId = (id + 1) & 0xff;
        this.outstanding.set(id, entry);
        return id;
      }
    }
    throw new Error('no free RADIUS identifier'); // callers check `full` first
  }
}

/** What reconfigure() may change: the servers with their secrets, and the timers. */
export type RadiusClientSettings = Omit<RadiusClientOptions, 'log' | 'bindAddress' | 'nasIdentifier'>;

interface ClientSettings {
  servers: Required<RadiusServerConfig>[];
  timeoutMs: number;
  tries: number;
  deadTimeMs: number;
  deadAfterTimeouts: number;
  requireMessageAuthenticator: boolean;
  statusIntervalMs: number;
}

function clientSettings(options: RadiusClientSettings): ClientSettings {
  if (options.servers.length === 0) throw new RangeError('RadiusClient needs at least one server');
  const servers = options.servers.map((s) => {
    const family = isIP(s.address);
    if (!family) throw new RangeError(`RADIUS server address "${s.address}" is not an IP literal`);
    if ((typeof s.secret === 'string' ? s.secret.length : s.secret.length) === 0) {
      throw new RangeError(`RADIUS server ${s.address}: empty shared secret`);
    }
    // rinfo.address is canonical; compare replies against the canonical spelling of IPv6 literals.
    const address = family === 6 ? new URL(`udp://[${s.address}]`).hostname.slice(1, -1) : s.address;
    return { address, authPort: s.authPort ?? 1812, acctPort: s.acctPort ?? 1813, secret: s.secret };
  });
  return {
    servers,
    timeoutMs: options.timeoutMs ?? 3000,
    tries: Math.max(1, options.tries ?? 3),
    deadTimeMs: (options.deadTimeSec ?? 60) * 1000,
    deadAfterTimeouts: Math.max(1, options.deadAfterTimeouts ?? 1),
    requireMessageAuthenticator: options.requireMessageAuthenticator ?? true,
    statusIntervalMs: (options.statusIntervalSec ?? 0) * 1000,
  };
}

export class RadiusClient {
  /** Replaced whole by reconfigure(); a request in flight keeps the server (and secret) it was sent to. */
  private settings: ClientSettings;
  private readonly health = new Map<string, ServerHealth>();
  private readonly sockets: ClientSocket[] = [];
  /** Server ports being probed with Status-Server ("address:port" → the next probe's timer). */
  private readonly probes = new Map<string, NodeJS.Timeout>();
  private readonly abortCallbacks = new Set<() => void>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: RadiusClientOptions) {
    this.log = options.log;
    this.settings = clientSettings(options);
  }

  /**
   * New servers, secrets and timers for the next requests (a configuration reload). Requests in flight
   * finish with what they were sent with; servers no longer listed lose their health and probes.
   */
  reconfigure(settings: RadiusClientSettings): void {
    this.settings = clientSettings(settings);
    const labels = new Set(this.settings.servers.flatMap((s) => [`${s.address}:${s.authPort}`, `${s.address}:${s.acctPort}`]));
    for (const label of [...this.health.keys()]) if (!labels.has(label)) this.health.delete(label);
    for (const [label, timer] of [...this.probes]) {
      if (labels.has(label)) continue;
      clearTimeout(timer);
      this.probes.delete(label);
    }
  }

  /**
   * Access-Request. Give User-Password in clear text: it is hidden per server with that server's
   * secret and a fresh authenticator. Message-Authenticator is added first; NAS-Identifier if configured.
   * Resolves with the verified Access-Accept/Reject/Challenge; RadiusNoResponseError when no server answered.
   */
  access(attributes: RadiusAttribute[], opts: RadiusRequestOptions = {}): Promise<RadiusReply> {
    return this.request('access', attributes, opts);
  }

  /** Accounting-Request (no Message-Authenticator, RFC 3579 §3.3). Resolves with the verified Accounting-Response. */
  accounting(attributes: RadiusAttribute[], opts: RadiusRequestOptions = {}): Promise<RadiusReply> {
    return this.request('accounting', attributes, opts);
  }

  /** Every configured server port: answered lately (up), inside its dead-time (dead), or not asked yet (unknown). */
  serverHealth(): RadiusServerHealth[] {
    const now = Date.now();
    return this.settings.servers.flatMap((srv) =>
      (['auth', 'acct'] as const).map((role) => {
        const port = role === 'auth' ? srv.authPort : srv.acctPort;
        const h = this.health.get(`${srv.address}:${port}`);
        const state = h === undefined ? 'unknown' : h.deadUntil > now ? 'dead' : h.lastRttMs !== null ? 'up' : h.consecutiveTimeouts > 0 ? 'dead' : 'unknown';
        return { server: `${srv.address}:${port}`, role, state, lastRttMs: h?.lastRttMs ?? null, consecutiveTimeouts: h?.consecutiveTimeouts ?? 0 } as RadiusServerHealth;
      }),
    );
  }

  /** Whether `address:port` is currently inside its dead-time. */
  isServerDead(address: string, port: number): boolean {
    const h = this.health.get(`${address}:${port}`);
    return h !== undefined && h.deadUntil > Date.now();
  }

  /** Rejects everything outstanding with RadiusClientClosedError and closes the sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.probes.values()) clearTimeout(timer);
    this.probes.clear();
    for (const abort of [...this.abortCallbacks]) abort();
    for (const s of this.sockets.splice(0)) closeQuietly(s.socket);
  }

  private async request(kind: 'access' | 'accounting', attributes: RadiusAttribute[], opts: RadiusRequestOptions): Promise<RadiusReply> {
    if (this.closed) throw new RadiusClientClosedError();
    const base = this.prepareAttributes(kind, attributes);
    const timeoutMs = opts.timeoutMs ?? this.settings.timeoutMs;
    const tries = Math.max(1, opts.tries ?? this.settings.tries);

    const now = Date.now();
    const portOf = (s: Required<RadiusServerConfig>): number => (kind === 'access' ? s.authPort : s.acctPort);
    const live = this.settings.servers.filter((s) => !(this.healthOf(s.address, portOf(s)).deadUntil > now));
    // All dead: try them all anyway rather than fail without sending (one may have recovered).
    const order = live.length > 0 ? live : this.settings.servers;
    const attempts: RadiusServerAttempt[] = [];
    for (const s of this.settings.servers) {
      if (!order.includes(s)) attempts.push({ server: `${s.address}:${portOf(s)}`, outcome: 'skipped-dead', detail: 'inside dead-time' });
    }

    for (const server of order) {
      const port = portOf(server);
      const result = await this.attempt(kind, server, port, base, timeoutMs, tries);
      if (result instanceof RadiusReply) return result;
      attempts.push(result);
      if (this.closed) throw new RadiusClientClosedError();
    }
    throw new RadiusNoResponseError(kind, attempts);
  }

  private prepareAttributes(kind: RequestKind, attributes: RadiusAttribute[]): RadiusAttribute[] {
    const out: RadiusAttribute[] = [];
    for (const a of attributes) {
      if (isVendorAttribute(a)) {
        out.push(a);
        continue;
      }
      // We are a NAS, not a proxy (RFC 2865 §5.33; BlastRADIUS).
      if (a.type === Attr.ProxyState) throw new RadiusFormatError('a NAS must not send Proxy-State');
      if (a.type === Attr.MessageAuthenticator) continue; // we place our own (or none, for accounting)
      if (kind === 'accounting' && a.type === Attr.UserPassword) throw new RadiusFormatError('User-Password in an Accounting-Request');
      out.push(a);
    }
    if (this.options.nasIdentifier && !findAttribute(out, Attr.NasIdentifier)) {
      out.push(textAttribute(Attr.NasIdentifier, this.options.nasIdentifier));
    }
    return kind === 'accounting' ? out : [MA_PLACEHOLDER, ...out]; // RFC 5997 §3: Status-Server carries one too
  }

  /** Sends to one server up to `tries` times; resolves with the reply or the reason it failed. */
  private attempt(kind: RequestKind, server: Required<RadiusServerConfig>, port: number, attributes: RadiusAttribute[], timeoutMs: number, tries: number): Promise<RadiusReply | RadiusServerAttempt> {
    const label = `${server.address}:${port}`;
    const family = isIP(server.address) === 6 ? 6 : 4;
    const cs = this.socketWithRoom(family);
    // Random for Access-Request and Status-Server (RFC 5997 §3); computed over the packet for accounting.
    const requestAuthenticator = kind === 'accounting' ? Buffer.alloc(16) : randomAuthenticator();

    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      const startedAt = Date.now();
      const finish = (result: RadiusReply | RadiusServerAttempt): void => {
        if (timer) clearTimeout(timer);
        cs.outstanding.delete(id);
        this.abortCallbacks.delete(abort);
        this.releaseIdleSocket(cs);
        resolve(result);
      };
      const abort = (): void => finish({ server: label, outcome: 'timeout', detail: 'client closed' });
      const entry: Outstanding = {
        kind,
        answers: answersTo(kind, port === server.authPort),
        address: server.address,
        port,
        label,
        secret: server.secret,
        requestAuthenticator,
        onReply: (reply) => {
          this.markAlive(label, Date.now() - startedAt);
          finish(reply);
        },
      };
      const id = cs.allocate(entry);

      let raw: Buffer;
      try {
        const attrs =
          kind === 'access'
            ? attributes.map((a) => (!isVendorAttribute(a) && a.type === Attr.UserPassword ? { type: a.type, value: hideUserPassword(a.value, server.secret, requestAuthenticator) } : a))
            : attributes;
        const code = kind === 'access' ? RadiusCode.AccessRequest : kind === 'status' ? RadiusCode.StatusServer : RadiusCode.AccountingRequest;
        raw = sealRequest({ code, identifier: id, attributes: attrs }, server.secret, kind === 'accounting' ? undefined : requestAuthenticator);
        if (kind === 'accounting') raw.copy(requestAuthenticator, 0, 4, 20);
      } catch (e) {
        cs.outstanding.delete(id);
        this.releaseIdleSocket(cs);
        throw e; // encoding error: the caller's attributes are wrong, not the server
      }
      this.abortCallbacks.add(abort);

      const transmit = (): void => {
        sent++;
        this.log.debug({ server: label, id, code: raw[0], try: sent, octets: raw.length }, sent === 1 ? 'RADIUS request sent' : 'RADIUS request retransmitted');
        // The identical datagram each time: same Identifier, authenticator, source port (RFC 2865 §2.5, RFC 5080 §2.2.1).
        try {
          cs.socket.send(raw, port, server.address, (err) => {
            if (err) entry.sendError = `${(err as NodeJS.ErrnoException).code ?? err.message}`;
          });
        } catch (err) {
          entry.sendError = err instanceof Error ? err.message : String(err); // socket already closed
        }
        timer = setTimeout(onTimeout, timeoutMs);
      };
      const onTimeout = (): void => {
        if (sent < tries) return transmit();
        if (kind !== 'status') this.markTimeout(label); // a probe only ever shortens the dead-time
        const why = entry.dropReason ? `last reply dropped: ${entry.dropReason}` : entry.sendError ? `send failed: ${entry.sendError}` : 'no reply';
        finish({ server: label, outcome: entry.sendError && !entry.dropReason ? 'send-error' : 'timeout', detail: `${sent} tries, ${why}` });
      };
      transmit();
    });
  }

  private socketWithRoom(family: 4 | 6): ClientSocket {
    const existing = this.sockets.find((s) => s.family === family && !s.full);
    if (existing) return existing;
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const cs = new ClientSocket(socket, family);
    socket.on('message', (msg, rinfo) => this.onDatagram(cs, msg, rinfo));
    socket.on('error', (err) => this.log.warn({ err: err.message }, 'RADIUS client socket error'));
    if (this.options.bindAddress) socket.bind({ address: this.options.bindAddress, port: 0 });
    socket.unref(); // outstanding requests hold timers; an idle client must not keep the process alive
    this.sockets.push(cs);
    return cs;
  }

  /** Extra sockets opened for load go away once idle; the first of each family stays. */
  private releaseIdleSocket(cs: ClientSocket): void {
    if (cs.outstanding.size > 0) return;
    const first = this.sockets.find((s) => s.family === cs.family);
    if (first === cs) return;
    const i = this.sockets.indexOf(cs);
    if (i >= 0) this.sockets.splice(i, 1);
    closeQuietly(cs.socket);
  }

  private onDatagram(cs: ClientSocket, msg: Buffer, rinfo: RemoteInfo): void {
    const from = `${rinfo.address}:${rinfo.port}`;
    let packet: ReturnType<typeof decodePacket>;
    try {
      packet = decodePacket(msg);
    } catch (e) {
      this.log.debug({ from, err: e instanceof Error ? e.message : String(e) }, 'RADIUS reply malformed, dropped');
      return;
    }
    const entry = cs.outstanding.get(packet.identifier);
    const drop = (reason: string, level: 'debug' | 'warn' = 'warn'): void => {
      if (entry) entry.dropReason = reason;
      this.log[level]({ from, id: packet.identifier, code: packet.code }, `RADIUS reply dropped: ${reason}`);
    };
    // Match on (server, Identifier): a reply from anywhere else is not an answer (RFC 2865 §3).
    if (!entry || entry.address !== rinfo.address || entry.port !== rinfo.port) {
      this.log.debug({ from, id: packet.identifier }, 'RADIUS reply matches no outstanding request, dropped');
      return;
    }
    if (!entry.answers.includes(packet.code)) return drop(`unexpected code ${packet.code}`);
    if (!verifyResponseAuthenticator(packet.raw, entry.requestAuthenticator, entry.secret)) {
      return drop('bad Response Authenticator');
    }
    const ma = checkMessageAuthenticator(packet, entry.requestAuthenticator, entry.secret);
    if (ma === 'invalid') return drop('bad Message-Authenticator');
    if (ma === 'absent' && packet.code !== RadiusCode.AccountingResponse && this.settings.requireMessageAuthenticator) {
      return drop('no Message-Authenticator (BlastRADIUS protection)');
    }
    this.log.debug({ from, id: packet.identifier, code: packet.code }, 'RADIUS reply accepted');
    entry.onReply(new RadiusReply(packet.code, packet.identifier, packet.attributes, entry.label, entry.requestAuthenticator, entry.secret));
  }

  private healthOf(address: string, port: number): ServerHealth {
    const key = `${address}:${port}`;
    let h = this.health.get(key);
    if (!h) {
      h = { consecutiveTimeouts: 0, deadUntil: 0, lastRttMs: null };
      this.health.set(key, h);
    }
    return h;
  }

  private markAlive(label: string, rttMs: number): void {
    const [address, port] = splitLabel(label);
    const h = this.healthOf(address, port);
    h.consecutiveTimeouts = 0;
    h.deadUntil = 0;
    h.lastRttMs = rttMs;
  }

  private markTimeout(label: string): void {
    const [address, port] = splitLabel(label);
    const h = this.healthOf(address, port);
    h.consecutiveTimeouts++;
    if (this.settings.deadTimeMs > 0 && h.consecutiveTimeouts >= this.settings.deadAfterTimeouts) {
      h.deadUntil = Date.now() + this.settings.deadTimeMs;
      this.log.warn({ server: label, deadTimeSec: this.settings.deadTimeMs / 1000 }, 'RADIUS server marked dead');
      this.scheduleProbe(label);
    }
  }

  /** Next Status-Server probe of a dead server port, unless one is pending or probes are off. */
  private scheduleProbe(label: string): void {
    if (this.settings.statusIntervalMs <= 0 || this.closed || this.probes.has(label)) return;
    const timer = setTimeout(() => void this.probe(label), this.settings.statusIntervalMs);
    timer.unref();
    this.probes.set(label, timer);
  }

  private async probe(label: string): Promise<void> {
    const [address, port] = splitLabel(label);
    const server = this.settings.servers.find((s) => s.address === address && (s.authPort === port || s.acctPort === port));
    if (this.closed || server === undefined || !(this.healthOf(address, port).deadUntil > Date.now())) {
      this.probes.delete(label); // dead-time over: ordinary requests find out
      return;
    }
    const kind: RequestKind = 'status';
    const result = await this.attempt(kind, server, port, this.prepareAttributes(kind, []), this.settings.timeoutMs, 1);
    this.probes.delete(label);
    if (result instanceof RadiusReply) {
      this.log.info({ server: label }, 'RADIUS server answered Status-Server: back in use');
      return;
    }
    this.scheduleProbe(label);
  }
}

function answersTo(kind: RequestKind, authPort: boolean): readonly number[] {
  if (kind === 'access') return [RadiusCode.AccessAccept, RadiusCode.AccessReject, RadiusCode.AccessChallenge];
  if (kind === 'accounting' || !authPort) return [RadiusCode.AccountingResponse];
  return [RadiusCode.AccessAccept]; // RFC 5997 §3: Status-Server to an authentication port
}

function splitLabel(label: string): [string, number] {
  const i = label.lastIndexOf(':');
  return [label.slice(0, i), Number(label.slice(i + 1))];
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
