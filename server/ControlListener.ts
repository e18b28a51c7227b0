// The PPTP control listener (TCP 1723, RFC 2637 §2): one ControlConnection per accepted socket,
// whose calls go to the session layer. It owns the sockets and nothing of the sessions.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AddressBans } from '../aaa/AddressBans.js';
import { parseIpv4 } from '../config/Ipv4.js';
import { TokenBucket } from '../dataplane/TokenBucket.js';
import { type CallHandler, ControlConnection } from '../pptp/ControlConnection.js';
import { StopReason } from '../pptp/ControlMessage.js';
import type { SessionManager } from '../session/SessionManager.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** New connections a second from one address; twice this at once. */
  connectionsPerSecondPerAddress: number;
  /** TCP accept to Start-Control-Connection-Request. */
  startTimeoutMs: number;
  /** An established connection without a call this long is stopped. */
  callGraceMs: number;
  /** Output queued to a peer that does not read: past this, stop reading it; past four times, close. */
  maxQueuedOutput: number;
}

/** What a configuration reload may change (reconfigure): for connections accepted from then on. */
export interface ControlListenerSettings {
  /** PPTP Echo-Request after this long without a message (pptp.echoInterval). */
  echoIntervalMs: number;
  hostName: string;
  limits: ConnectionLimits;
}

export interface ControlListenerOptions extends ControlListenerSettings {
  listen: string;
  port: number;
  /** Addresses whose connections are closed at accept, before anything is read (auth.throttle.banAfter, the console). */
  bans?: AddressBans;
  log: Logger;
}

/** Addresses whose connection rate is tracked at once; the oldest is forgotten beyond this. */
const RATE_TABLE_SIZE = 65536;
/**
 * After our FIN, how long the peer has to take what is queued and close its side before the socket is
 * cut: a peer that never reads or never closes would otherwise keep its slot past every limit in time.
 */
const CLOSE_LINGER_MS = 2000;
/**
 * What a control connection is read at: a client sends a few messages a minute (the largest, an
 * Outgoing-Call-Request, is 168 octets), so more is a flood, most cheaply of Echo-Requests that each
 * cost an answer (RFC 2637 §2.6). Past the budget the socket is not read until the budget has earned
 * what was read, and the peer's data waits in the kernel's buffers, which the kernel bounds: the work
 * and the memory a connection can cost are bounded whatever it sends.
 */
const READ_BURST = 64 * 1024;
const READ_PER_SECOND = 16 * 1024;

export class ControlListener {
  private readonly server: Server;
  /** Each control connection with its peer (IPv4 text), logger and socket. */
  private readonly connections = new Map<ControlConnection, { peer: string; log: Logger; socket: Socket }>();
  private readonly perAddress = new Map<string, number>();
  private readonly connectRate = new Map<string, TokenBucket>();
  /** Refusals since the last warning line, by reason: a flood of connections gets one line a minute. */
  private refused: Record<string, number> = {};
  private refusedWarnedAt = 0;
  private readonly calls: CallHandler;
  private settings: ControlListenerSettings;

  constructor(
    private readonly options: ControlListenerOptions,
    sessions: SessionManager,
  ) {
    this.settings = { echoIntervalMs: options.echoIntervalMs, hostName: options.hostName, limits: options.limits };
    this.calls = {
      openCall: (connection, info) => {
        const owner = this.connections.get(connection);
        return owner ? sessions.openCall({ connection, peer: owner.peer, log: owner.log }, info) : { resultCode: 2, errorCode: 4 };
      },
      callCleared: (_connection, callId, end) => sessions.callCleared(callId, end),
    };
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => options.log.error({ err }, 'control listener error'));
  }

  /**
   * Reloaded limits, echo interval and host name for connections accepted from now on; connections
   * already open keep theirs. The per-address connection rate starts afresh when it changed.
   */
  reconfigure(settings: ControlListenerSettings): void {
    if (settings.limits.connectionsPerSecondPerAddress !== this.settings.limits.connectionsPerSecondPerAddress) this.connectRate.clear();
    this.settings = settings;
  }

  listen(): Promise<{ address: string; port: number }> {
    const { listen, port, log } = this.options;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, listen, () => {
        this.server.off('error', reject);
        const bound = this.server.address();
        const actual = typeof bound === 'object' && bound !== null ? bound.port : port;
        log.info({ listen, port: actual }, 'accepting PPTP control connections');
        resolve({ address: listen, port: actual });
      });
    });
  }

  /**
   * No new connections; on every connection Call-Disconnect-Notify for each call still live, then
   * Stop-Control-Connection-Request (RFC 2637 §2.3, reason Local-Shutdown). Resolves when every peer
   * has answered and closed, or after `timeoutMs`: the connections left are then closed from our side.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of [...this.connections.keys()]) c.stop(StopReason.LocalShutdown);
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    if (!late) return;
    this.options.log.warn({ connections: this.connections.size }, 'control connections not closed by their peers in time: closed from our side');
    for (const { socket } of this.connections.values()) socket.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    try {
      parseIpv4(peer);
    } catch {
      this.refuse(socket, 'non-IPv4 peer');
      return;
    }
    if (this.options.bans?.refuses(peer)) return this.refuse(socket, 'banned address');
    const limits = this.settings.limits;
    const fromPeer = this.perAddress.get(peer) ?? 0;
    if (this.connections.size >= limits.maxConnections) return this.refuse(socket, 'pptp.maxConnections');
    if (fromPeer >= limits.maxConnectionsPerAddress) return this.refuse(socket, 'pptp.maxConnectionsPerAddress');
    if (!this.rateOf(peer).take()) return this.refuse(socket, 'pptp.connectionsPerSecondPerAddress');
    this.perAddress.set(peer, fromPeer + 1);

    const log = this.options.log.child({ peer, port: socket.remotePort });
    socket.setNoDelay(true);
    const maxQueued = limits.maxQueuedOutput;
    const connection = new ControlConnection(
      {
        // A peer that does not read (and keeps sending Echo-Requests) must not grow our memory: stop
        // reading it while its output is queued, close it if the queue still grows.
        write: (buf) => {
          if (socket.destroyed) return;
          socket.write(buf);
          if (socket.writableLength > 4 * maxQueued) {
            log.warn({ queued: socket.writableLength }, 'control connection closed: the peer does not read what we send');
            socket.destroy();
          } else if (socket.writableLength > maxQueued && !socket.isPaused()) socket.pause();
        },
        close: () => {
          socket.end();
          setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
        },
        peerAddress: peer,
      },
      this.calls,
      { echoIntervalMs: this.settings.echoIntervalMs, startTimeoutMs: limits.startTimeoutMs, callGraceMs: limits.callGraceMs, hostName: this.settings.hostName, vendor: 'Portico', log },
    );
    this.connections.set(connection, { peer, log, socket });
    log.debug('control connection opened');
    // Read again once the output has drained and the read budget has refilled, whichever is later.
    const readBudget = new TokenBucket(READ_BURST, READ_PER_SECOND);
    let heldUntil = 0;
    const resumeIfDue = () => {
      if (!socket.destroyed && Date.now() >= heldUntil && socket.writableLength <= maxQueued) socket.resume();
    };
    socket.on('data', (chunk) => {
      connection.feed(chunk);
      if (readBudget.take(chunk.length) || socket.destroyed) return;
      if (heldUntil === 0) log.warn({ bytesPerSecond: READ_PER_SECOND }, 'control connection sends more than a client does: read throttled (further holds are not logged)');
      // The chunk read is paid for by waiting the time the budget takes to earn it.
      const holdMs = Math.ceil((chunk.length * 1000) / READ_PER_SECOND);
      heldUntil = Date.now() + holdMs;
      socket.pause();
      setTimeout(resumeIfDue, holdMs).unref();
    });
    socket.on('drain', resumeIfDue);
    socket.on('error', (err) => log.debug({ err: err.message }, 'control socket error'));
    socket.on('close', () => {
      this.connections.delete(connection);
      const left = (this.perAddress.get(peer) ?? 1) - 1;
      if (left > 0) this.perAddress.set(peer, left);
      else this.perAddress.delete(peer);
      connection.transportClosed();
      log.debug('control connection closed');
    });
  }

  private rateOf(peer: string): TokenBucket {
    let bucket = this.connectRate.get(peer);
    if (bucket === undefined) {
      if (this.connectRate.size >= RATE_TABLE_SIZE) this.connectRate.delete(this.connectRate.keys().next().value!);
      const perSecond = this.settings.limits.connectionsPerSecondPerAddress;
      bucket = new TokenBucket(2 * perSecond, perSecond);
      this.connectRate.set(peer, bucket);
    }
    return bucket;
  }

  /** Closes a connection a limit refuses; the log gets the counts once a minute, not a line each. */
  private refuse(socket: Socket, reason: string): void {
    socket.destroy();
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.refusedWarnedAt < 60_000) return;
    this.options.log.warn({ refused: this.refused, connections: this.connections.size }, 'control connections refused by limits');
    this.refused = {};
    this.refusedWarnedAt = now;
  }
}
