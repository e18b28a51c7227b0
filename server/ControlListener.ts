// The PPTP control listener (TCP 1723, RFC 2637 §2): one ControlConnection per accepted socket,
// whose calls go to the session layer. It owns the sockets and nothing of the sessions.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { parseIpv4 } from '../config/Ipv4.js';
import { type CallHandler, ControlConnection } from '../pptp/ControlConnection.js';
import { StopReason } from '../pptp/ControlMessage.js';
import type { SessionManager } from '../session/SessionManager.js';

export interface ControlListenerOptions {
  listen: string;
  port: number;
  /** PPTP Echo-Request after this long without a message (pptp.echoInterval). */
  echoIntervalMs: number;
  hostName: string;
  log: Logger;
}

export class ControlListener {
  private readonly server: Server;
  /** Each control connection with its peer (IPv4 text) and logger. */
  private readonly connections = new Map<ControlConnection, { peer: string; log: Logger }>();
  private readonly calls: CallHandler;

  constructor(
    private readonly options: ControlListenerOptions,
    sessions: SessionManager,
  ) {
    this.calls = {
      openCall: (connection, info) => {
        const owner = this.connections.get(connection);
        return owner ? sessions.openCall({ connection, ...owner }, info) : { resultCode: 2, errorCode: 4 };
      },
      callCleared: (_connection, callId, end) => sessions.callCleared(callId, end),
    };
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => options.log.error({ err }, 'control listener error'));
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

  /** Stop-Control-Connection-Request on every connection (calls are already ended), then no new ones. */
  async stop(): Promise<void> {
    for (const c of this.connections.keys()) c.stop(StopReason.LocalShutdown);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    const log = this.options.log.child({ peer, port: socket.remotePort });
    socket.setNoDelay(true);
    try {
      parseIpv4(peer);
    } catch {
      log.warn('control connection from a non-IPv4 peer refused');
      socket.destroy();
      return;
    }
    const connection = new ControlConnection(
      {
        write: (buf) => {
          if (!socket.destroyed) socket.write(buf);
        },
        close: () => socket.end(),
        peerAddress: peer,
      },
      this.calls,
      { echoIntervalMs: this.options.echoIntervalMs, hostName: this.options.hostName, vendor: 'Portico', log },
    );
    this.connections.set(connection, { peer, log });
    log.debug('control connection opened');
    socket.on('data', (chunk) => connection.feed(chunk));
    socket.on('error', (err) => log.debug({ err: err.message }, 'control socket error'));
    socket.on('close', () => {
      this.connections.delete(connection);
      connection.transportClosed();
      log.debug('control connection closed');
    });
  }
}
