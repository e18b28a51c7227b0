// A hostile PPTP peer for the attack tests (issue 13): one process, one source address (--local, or
// the namespace's only one: binding each socket first makes the kernel's port search slow), one of three attacks on the server's limits (pptp.* in the configuration):
//   calls        one control connection, then --count Outgoing-Call-Requests at once (RFC 2637 §2.7);
//                counts the replies by result, then keeps the connection (answering Echo-Requests).
//   connections  tries to hold --count idle TCP connections (no Start-Control-Connection-Request):
//                each one the server refuses or closes is opened again --retry-ms later.
//   echo-flood   --count control connections sending Echo-Requests (RFC 2637 §2.5) as fast as the
//                kernel takes them, never reading what comes back; one the server closes is opened again.
// Prints JSON lines on stdout: {"event":"attacking",...} once the attack is in full swing, then
// {"event":"result",...} after "stop" on stdin (or stdin closing, or --max-seconds). The connections
// attack needs a descriptor per connection: Node raises its soft limit to the hard one; past that,
// run several processes.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type ControlMessage, ControlMessageType, ControlStreamReassembler, decodeControlMessage, encodeControlMessage, OutgoingCallResult } from '../../pptp/ControlMessage.js';
import { outgoingCallRequest, startControlConnectionRequest } from './ControlRequests.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    server: { type: 'string', default: '198.18.0.1' },
    local: { type: 'string' },
    port: { type: 'string', default: '1723' },
    count: { type: 'string' },
    'retry-ms': { type: 'string', default: '100' },
    /** connections: one the server closes within this long of connecting counts as refused. */
    'refused-ms': { type: 'string', default: '1000' },
    'max-seconds': { type: 'string', default: '120' },
  },
});

const server = values.server!;
const port = Number(values.port);
const local = values.local;
const count = Number(values.count);
const retryMs = Number(values['retry-ms']);
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: HostileClient --mode calls|connections|echo-flood --count N [--local ADDRESS] [--server A] [--port P] [--retry-ms MS]\n');
  process.exit(2);
}
const t0 = performance.now();
const seconds = () => Math.round(performance.now() - t0) / 1000;

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function dial(): Socket {
  const s = connect({ host: server, port, ...(local ? { localAddress: local } : {}) });
  s.setNoDelay(true);
  return s;
}

/** Counts by key (error codes, result codes). */
function tally(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

interface Attack {
  /** The figures so far. */
  figures(): Record<string, unknown>;
  /** Ends every connection. */
  end(): void;
}

let attacking = false;
function inFullSwing(attack: Attack): void {
  if (attacking) return;
  attacking = true;
  emit({ event: 'attacking', seconds: seconds(), ...attack.figures() });
}

/** One control connection, --count Outgoing-Call-Requests in one write once the Start-Control-Connection-Reply is in. */
function calls(): Attack {
  const f = { accepted: 0, refused: 0, refusedResults: {} as Record<string, number>, callDisconnectNotifies: 0, stopRequests: 0, echoRequests: 0, closedByServer: false, repliesSeconds: Number.NaN };
  const stream = new ControlStreamReassembler();
  const s = dial();
  let sentAt = 0;
  let ending = false;
  s.on('connect', () => s.write(encodeControlMessage(startControlConnectionRequest({ hostName: 'hostile', vendor: 'hostile' }))));
  const onMessage = (m: ControlMessage) => {
    switch (m.type) {
      case ControlMessageType.StartControlConnectionReply: {
        const all = Buffer.concat(Array.from({ length: count }, (_, i) => encodeControlMessage(outgoingCallRequest((i % 65535) + 1))));
        sentAt = performance.now();
        s.write(all);
        return;
      }
      case ControlMessageType.OutgoingCallReply:
        // The server reads a flooding connection at a bounded rate: in full swing 2 s after the first
        // reply even if not every request has been answered yet.
        if (f.accepted + f.refused === 0) setTimeout(() => inFullSwing(attack), 2000).unref();
        if (m.resultCode === OutgoingCallResult.Connected) f.accepted++;
        else {
          f.refused++;
          tally(f.refusedResults, `${m.resultCode}/${m.errorCode}`);
        }
        if (f.accepted + f.refused === count) {
          f.repliesSeconds = Math.round(performance.now() - sentAt) / 1000;
          inFullSwing(attack);
        }
        return;
      case ControlMessageType.EchoRequest:
        f.echoRequests++;
        s.write(encodeControlMessage({ type: ControlMessageType.EchoReply, identifier: m.identifier, resultCode: 1, errorCode: 0 }));
        return;
      case ControlMessageType.CallDisconnectNotify:
        f.callDisconnectNotifies++;
        return;
      case ControlMessageType.StopControlConnectionRequest:
        f.stopRequests++;
        return;
      default:
        return;
    }
  };
  s.on('data', (chunk) => {
    stream.push(chunk);
    for (let m = stream.next(); m !== null; m = stream.next()) onMessage(decodeControlMessage(m));
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (!ending) f.closedByServer = true;
    inFullSwing(attack);
  });
  const attack: Attack = {
    figures: () => ({ ...f }),
    end: () => {
      ending = true;
      s.destroy();
    },
  };
  return attack;
}

/** --count idle connections at once, each opened again --retry-ms after the server refuses or closes it. */
function connections(): Attack {
  const refusedMs = Number(values['refused-ms']);
  // What the attacker sees: a handshake the server's kernel completed is open here whether the server
  // accepted it or not (accept queue, SYN cookies); the server's own count is the test's to take.
  const f = { attempts: 0, connected: 0, refused: 0, closedLater: 0, errors: {} as Record<string, number>, openNow: 0, openMax: 0 };
  const openSockets = new Set<Socket>();
  let ending = false;
  const slot = () => {
    if (ending) return;
    f.attempts++;
    const s = dial();
    let connectedAt = 0;
    s.on('connect', () => {
      connectedAt = performance.now();
      f.connected++;
      openSockets.add(s);
    });
    s.on('error', (err: NodeJS.ErrnoException) => tally(f.errors, err.code ?? err.message));
    s.on('close', () => {
      openSockets.delete(s);
      if (ending) return;
      // One that never came up has its error counted.
      if (connectedAt > 0) {
        if (performance.now() - connectedAt < refusedMs) f.refused++;
        else f.closedLater++;
      }
      setTimeout(slot, retryMs);
    });
  };
  // The first wave in steps of 500 a turn: all at once would hold the event loop for seconds.
  let started = 0;
  const wave = () => {
    const upTo = Math.min(count, started + 500);
    for (; started < upTo; started++) slot();
    if (started < count) setImmediate(wave);
  };
  wave();
  const sampler = setInterval(() => {
    f.openNow = openSockets.size;
    f.openMax = Math.max(f.openMax, f.openNow);
    if (started === count && performance.now() - t0 > 2000) inFullSwing(attack);
  }, 100);
  const attack: Attack = {
    figures: () => ({ ...f }),
    end: () => {
      ending = true;
      clearInterval(sampler);
      for (const s of openSockets) s.destroy();
    },
  };
  return attack;
}

/** --count connections flooding Echo-Requests without ever reading. */
function echoFlood(): Attack {
  // stalled: connections the server no longer reads now; closedAfterStalling: ones it closed after that.
  const f = { connections: 0, stalled: 0, closedByServer: 0, closedAfterStalling: 0, errors: {} as Record<string, number>, stalledAfterBytes: [] as number[] };
  // 4096 Echo-Requests (16 octets each) per write.
  const burst = Buffer.concat(Array.from({ length: 4096 }, (_, i) => encodeControlMessage({ type: ControlMessageType.EchoRequest, identifier: i })));
  /** Octets the kernel took from a socket (what Node still queues is not sent). */
  const sentBy = (s: Socket) => s.bytesWritten - s.writableLength;
  const live = new Set<Socket>();
  let closedBytes = 0;
  let ending = false;
  const flood = () => {
    if (ending) return;
    f.connections++;
    const s = dial();
    s.pause(); // never read: what the server sends stays in the kernel's buffers
    live.add(s);
    let stallTimer: NodeJS.Timeout | null = null;
    let stalled = false;
    const pump = () => {
      if (stallTimer) clearTimeout(stallTimer);
      let more = true;
      while (more && !s.destroyed) more = s.write(burst);
      // No 'drain' for a second: the server has stopped reading us.
      stallTimer = setTimeout(() => {
        if (stalled || s.destroyed) return;
        stalled = true;
        f.stalled++;
        f.stalledAfterBytes.push(sentBy(s));
      }, 1000);
    };
    s.on('connect', () => {
      s.write(encodeControlMessage(startControlConnectionRequest({ hostName: 'hostile', vendor: 'hostile' })));
      pump();
    });
    s.on('drain', pump);
    s.on('error', (err: NodeJS.ErrnoException) => tally(f.errors, err.code ?? err.message));
    s.on('close', () => {
      if (stallTimer) clearTimeout(stallTimer);
      live.delete(s);
      closedBytes += sentBy(s);
      if (ending) return;
      f.closedByServer++;
      if (stalled) {
        f.stalled--;
        f.closedAfterStalling++;
      }
      setTimeout(flood, retryMs);
    });
  };
  for (let i = 0; i < count; i++) flood();
  const watch = setInterval(() => {
    if (f.stalled >= count || performance.now() - t0 > 10_000) inFullSwing(attack);
  }, 100);
  const attack: Attack = {
    figures: () => ({ ...f, bytesSent: [...live].reduce((n, s) => n + sentBy(s), closedBytes) }),
    end: () => {
      ending = true;
      clearInterval(watch);
      for (const s of live) s.destroy();
    },
  };
  return attack;
}

const modes: Record<string, () => Attack> = { calls, connections, 'echo-flood': echoFlood };
const make = modes[values.mode ?? ''];
if (!make) {
  process.stderr.write(`unknown --mode ${values.mode} (calls, connections, echo-flood)\n`);
  process.exit(2);
}
const attack = make();
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  const figures = attack.figures();
  attack.end();
  emit({ event: 'result', seconds: seconds(), ...figures });
  setTimeout(() => process.exit(0), 100);
};
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'stop') stop();
  })
  .on('close', stop);
setTimeout(stop, Number(values['max-seconds']) * 1000).unref();
process.on('SIGTERM', stop);
