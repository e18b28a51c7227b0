// A DasServer on 127.0.0.1 with a client socket, for the replay tests (test/unit/das-replay.test.ts and,
// with radclient, test/radius/das-replay.test.ts). Time is the codebase's one clock seam, Date.now,
// faked by vitest from `t0` on; timers stay real, so the sockets run as usual. Everything opened is
// closed after each test.
import { createSocket, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, vi } from 'vitest';
import { DasServer, type DasRequest, type DasServerOptions } from '../../radius/DasServer.js';

export const DAS_SECRET = 'das-replay-secret-0123';

export interface RunningDas {
  port: number;
  /** Requests the handler saw (each ACKed). */
  calls: DasRequest[];
  /** The server's log lines (debug and up). */
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
}

export interface DasHarness {
  /** A DasServer with its defaults unless `opts` says otherwise; its handler ACKs everything. */
  startDas(opts?: Partial<DasServerOptions>): Promise<RunningDas>;
  /** A UDP socket bound on 127.0.0.1 (one source port). */
  socket(): Promise<Socket>;
  /** Date.now() becomes t0 + ms. */
  at(ms: number): void;
  /** Closes `close` after the test. */
  defer(close: () => Promise<void>): void;
}

export function dasHarness(t0: number): DasHarness {
  const open: Array<() => Promise<void>> = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(t0);
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const close of open.splice(0).reverse()) await close();
  });
  return {
    async startDas(opts = {}) {
      const calls: DasRequest[] = [];
      const logs: RunningDas['logs'] = [];
      const sink = new Writable({
        write: (chunk, _e, done) => {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      });
      const das = new DasServer({
        clients: [{ address: '127.0.0.1', secret: DAS_SECRET }],
        bindAddress: '127.0.0.1',
        port: 0,
        handler: async (r) => {
          calls.push(r);
          return { ack: true };
        },
        log: pino({ level: 'debug' }, sink),
        ...opts,
      });
      const { port } = await das.listen();
      open.push(() => das.close());
      return { port, calls, logs };
    },
    async socket() {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      open.push(() => new Promise<void>((r) => s.close(() => r())));
      return s;
    },
    at: (ms) => {
      vi.setSystemTime(t0 + ms);
    },
    defer: (close) => {
      open.push(close);
    },
  };
}

/** Sends `packet` from `socket` to the DAS and resolves with its reply, or undefined after `ms` of silence. */
export function ask(socket: Socket, packet: Buffer, dasPort: number, ms = 250): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const onReply = (b: Buffer): void => {
      clearTimeout(timer);
      resolve(b);
    };
    const timer = setTimeout(() => {
      socket.off('message', onReply);
      resolve(undefined);
    }, ms);
    socket.prependOnceListener('message', onReply);
    socket.send(packet, dasPort, '127.0.0.1');
  });
}
