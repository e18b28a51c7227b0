import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AutomatonState, OptionAutomaton, TRANSITIONS, type AutomatonHooks, type OptionSet, type ReplyOutcome, type RequestVerdict } from '../../ppp/Automaton.js';
import { encodeControlPacket, parseControlPacket, type ConfigOption, type ControlPacket } from '../../ppp/ControlPacket.js';

const S = AutomatonState;

function packet(code: number, id: number, data: number[] | Buffer = []): ControlPacket {
  return parseControlPacket(encodeControlPacket(code, id, Buffer.from(data)));
}

interface Sent {
  code: number;
  id: number;
  data: Buffer;
}

const OUR_OPTION: ConfigOption = { type: 1, data: Buffer.from([0x05, 0xdc]) };
const OUR_REQUEST = [0x01, 0x04, 0x05, 0xdc];

function harness(opts: { verdict?: (o: readonly ConfigOption[], rejectInsteadOfNak: boolean) => RequestVerdict; nak?: ReplyOutcome; hooks?: Partial<AutomatonHooks> } = {}) {
  const sent: Sent[] = [];
  const layer: string[] = [];
  const checks: boolean[] = [];
  const set: OptionSet & { resets: number; acked: ConfigOption[][]; naks: number } = {
    resets: 0,
    acked: [],
    naks: 0,
    reset() {
      this.resets++;
    },
    buildRequest: () => [OUR_OPTION],
    checkRequest(o, rejectInsteadOfNak) {
      checks.push(rejectInsteadOfNak);
      return opts.verdict ? opts.verdict(o, rejectInsteadOfNak) : { kind: 'ack' };
    },
    peerRequestAcked(o) {
      this.acked.push([...o]);
    },
    applyAck() {},
    applyNak() {
      this.naks++;
      return opts.nak ?? { kind: 'ok' };
    },
    applyReject: () => opts.nak ?? { kind: 'ok' },
  };
  const hooks: AutomatonHooks = {
    send: (code, id, data) => sent.push({ code, id, data: Buffer.from(data) }),
    thisLayerUp: () => layer.push('tlu'),
    thisLayerDown: () => layer.push('tld'),
    thisLayerStarted: () => layer.push('tls'),
    thisLayerFinished: (reason) => layer.push(`tlf:${reason}`),
    extensionCode: (p) => (p.code === 9 ? 'rxr' : 'unknown'),
    sendEchoReply: (p) => sent.push({ code: 10, id: p.identifier, data: Buffer.from(p.data) }),
    ...opts.hooks,
  };
  const a = new OptionAutomaton({ name: 'TEST', optionSet: set, hooks, log: pino({ level: 'silent' }) });
  const take = () => sent.splice(0, sent.length);
  return { a, sent, layer, set, checks, take };
}

/** Drive to Opened: we ack the peer, the peer acks us. */
function opened(h: ReturnType<typeof harness>): void {
  h.a.open();
  h.a.up();
  const req = h.take()[0]!;
  h.a.input(packet(1, 0x40, [0x05, 0x06, 1, 2, 3, 4]));
  h.a.input(packet(2, req.id, OUR_REQUEST));
  expect(h.a.state).toBe(S.Opened);
  h.take();
  h.layer.length = 0;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('transition table (RFC 1661 §4.1)', () => {
  it('has a cell for each of the 10 states in every event row', () => {
    for (const row of Object.values(TRANSITIONS)) expect(row).toHaveLength(10);
  });

  it('spells out the RFC cells', () => {
    expect(TRANSITIONS['RCR+'][S.AckRcvd]).toEqual({ actions: ['sca', 'tlu'], next: S.Opened });
    expect(TRANSITIONS.RCA[S.AckSent]).toEqual({ actions: ['irc', 'tlu'], next: S.Opened });
    expect(TRANSITIONS.RTR[S.Opened]).toEqual({ actions: ['tld', 'zrc', 'sta'], next: S.Stopping });
    expect(TRANSITIONS['TO-'][S.ReqSent]).toEqual({ actions: ['tlf'], next: S.Stopped });
    expect(TRANSITIONS.Close[S.Opened]).toEqual({ actions: ['tld', 'irc', 'str'], next: S.Closing });
    expect(TRANSITIONS['RXJ-'][S.Opened]).toEqual({ actions: ['tld', 'irc', 'str'], next: S.Stopping });
    expect(TRANSITIONS.Up[S.Closed]).toBeNull();
    expect(TRANSITIONS.RXR[S.Opened]).toEqual({ actions: ['ser'], next: S.Opened });
  });
});

describe('OptionAutomaton', () => {
  it('Open then Up: tls, Configure-Request, Req-Sent', () => {
    const h = harness();
    h.a.open();
    expect(h.a.state).toBe(S.Starting);
    expect(h.layer).toEqual(['tls']);
    h.a.up();
    expect(h.a.state).toBe(S.ReqSent);
    expect(h.sent).toEqual([{ code: 1, id: 1, data: Buffer.from(OUR_REQUEST) }]);
  });

  it('retransmits the Configure-Request every 3 s and gives up after Max-Configure (10) with tlf', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    expect(h.take()).toHaveLength(1);
    vi.advanceTimersByTime(2999);
    expect(h.sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]!.id).toBe(2); // a fresh Identifier each time
    vi.advanceTimersByTime(3000 * 8);
    expect(h.sent).toHaveLength(9); // 10 transmissions in all
    expect(h.a.state).toBe(S.ReqSent);
    vi.advanceTimersByTime(3000);
    expect(h.a.state).toBe(S.Stopped);
    expect(h.layer.at(-1)).toMatch(/^tlf:TEST: no answer after 10 Configure-Requests/);
    vi.advanceTimersByTime(60_000);
    expect(h.sent).toHaveLength(9); // timer stopped in Stopped
  });

  it('Req-Sent → Ack-Rcvd → Opened (sca, tlu); the restart timer stops in Opened', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(2, 1, OUR_REQUEST));
    expect(h.a.state).toBe(S.AckRcvd);
    h.a.input(packet(1, 0x33, [0x05, 0x06, 1, 2, 3, 4]));
    expect(h.a.state).toBe(S.Opened);
    expect(h.sent).toEqual([{ code: 2, id: 0x33, data: Buffer.from([0x05, 0x06, 1, 2, 3, 4]) }]);
    expect(h.layer).toEqual(['tls', 'tlu']);
    expect(h.set.acked).toHaveLength(1);
    vi.advanceTimersByTime(60_000);
    expect(h.sent).toHaveLength(1);
  });

  it('Req-Sent → Ack-Sent → Opened when the peer request comes first', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(1, 9, []));
    expect(h.a.state).toBe(S.AckSent);
    h.a.input(packet(2, 1, OUR_REQUEST));
    expect(h.a.state).toBe(S.Opened);
    expect(h.layer).toEqual(['tls', 'tlu']);
  });

  it('discards an Ack with a wrong Identifier or different content, and a duplicate Ack', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.a.input(packet(2, 7, OUR_REQUEST));
    expect(h.a.state).toBe(S.ReqSent);
    h.a.input(packet(2, 1, [0x01, 0x04, 0x05, 0xdd]));
    expect(h.a.state).toBe(S.ReqSent);
    h.a.input(packet(2, 1, OUR_REQUEST));
    expect(h.a.state).toBe(S.AckRcvd);
    h.a.input(packet(2, 1, OUR_REQUEST)); // would be a crossed connection (scr/6) if not discarded
    expect(h.a.state).toBe(S.AckRcvd);
  });

  it('answers a bad request with Nak, and turns Naks into Rejects after Max-Failure (5)', () => {
    const h = harness({
      verdict: (_o, rej) => (rej ? { kind: 'reject', options: [{ type: 5, data: Buffer.from([1, 2, 3, 4]) }] } : { kind: 'nak', options: [{ type: 5, data: Buffer.from([9, 9, 9, 9]) }] }),
    });
    h.a.open();
    h.a.up();
    h.take();
    for (let i = 0; i < 5; i++) h.a.input(packet(1, 20 + i, [0x05, 0x06, 1, 2, 3, 4]));
    const naks = h.take();
    expect(naks.map((s) => s.code)).toEqual([3, 3, 3, 3, 3]);
    expect(naks[0]).toEqual({ code: 3, id: 20, data: Buffer.from([0x05, 0x06, 9, 9, 9, 9]) });
    h.a.input(packet(1, 30, [0x05, 0x06, 1, 2, 3, 4]));
    expect(h.take()).toEqual([{ code: 4, id: 30, data: Buffer.from([0x05, 0x06, 1, 2, 3, 4]) }]);
    expect(h.checks).toEqual([false, false, false, false, false, true]);
    expect(h.a.state).toBe(S.ReqSent);
  });

  it('RCN in Req-Sent: applies the Nak and sends a new request (irc, scr)', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(3, 1, [0x01, 0x04, 0x05, 0x78]));
    expect(h.set.naks).toBe(1);
    expect(h.take()).toEqual([{ code: 1, id: 2, data: Buffer.from(OUR_REQUEST) }]);
    expect(h.a.state).toBe(S.ReqSent);
    h.a.input(packet(3, 1, [0x01, 0x04, 0x05, 0x78])); // stale Identifier
    expect(h.set.naks).toBe(1);
  });

  it('drops a Nak with a malformed option list (option Length 1)', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(3, 1, [0x01, 0x01, 0x05]));
    expect(h.set.naks).toBe(0);
    expect(h.sent).toHaveLength(0);
  });

  it('a refused negotiation goes to the refused hook instead of RCN', () => {
    const refused: string[] = [];
    const h = harness({ nak: { kind: 'refused', reason: 'no way' }, hooks: { refused: (r) => refused.push(r) } });
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(4, 1, OUR_REQUEST));
    expect(refused).toEqual(['no way']);
    expect(h.sent).toHaveLength(0);
  });

  it('RCR in Opened renegotiates: tld, new request, Ack → Ack-Sent', () => {
    const h = harness();
    opened(h);
    const resetsBefore = h.set.resets;
    h.a.input(packet(1, 0x41, []));
    expect(h.layer).toEqual(['tld']);
    expect(h.a.state).toBe(S.AckSent);
    const out = h.take();
    expect(out.map((s) => s.code)).toEqual([1, 2]);
    expect(out[1]!.id).toBe(0x41);
    expect(h.set.resets).toBe(resetsBefore + 1);
    // and the restart timer runs again
    vi.advanceTimersByTime(3000);
    expect(h.take().map((s) => s.code)).toEqual([1]);
  });

  it('Close in Opened: tld, 2 Terminate-Requests 3 s apart carrying the reason, then tlf/Closed', () => {
    const h = harness();
    opened(h);
    h.a.close('admin says bye');
    expect(h.layer).toEqual(['tld']);
    expect(h.a.state).toBe(S.Closing);
    const first = h.take();
    expect(first).toHaveLength(1);
    expect(first[0]!.code).toBe(5);
    expect(first[0]!.data.toString()).toBe('admin says bye');
    vi.advanceTimersByTime(3000);
    expect(h.take().map((s) => s.code)).toEqual([5]);
    vi.advanceTimersByTime(3000);
    expect(h.sent).toHaveLength(0);
    expect(h.a.state).toBe(S.Closed);
    expect(h.layer).toEqual(['tld', 'tlf:admin says bye']);
  });

  it('Terminate-Ack in Closing: tlf, Closed', () => {
    const h = harness();
    opened(h);
    h.a.close('bye');
    const req = h.take()[0]!;
    h.a.input(packet(6, req.id, []));
    expect(h.a.state).toBe(S.Closed);
    expect(h.layer).toEqual(['tld', 'tlf:bye']);
  });

  it('Terminate-Request in Opened: tld, Terminate-Ack (same Identifier), Stopping, tlf after one restart period', () => {
    const h = harness();
    opened(h);
    h.a.input(packet(5, 0x77, Buffer.from('User request')));
    expect(h.take()).toEqual([{ code: 6, id: 0x77, data: Buffer.alloc(0) }]);
    expect(h.a.state).toBe(S.Stopping);
    expect(h.layer).toEqual(['tld']);
    vi.advanceTimersByTime(3000);
    expect(h.a.state).toBe(S.Stopped);
    expect(h.layer).toEqual(['tld', 'tlf:peer requested termination: User request']);
    expect(h.sent).toHaveLength(0);
  });

  it('unknown code: Code-Reject with a fresh Identifier and the packet copied from Code on', () => {
    const h = harness();
    opened(h);
    h.a.input(packet(0x20, 0x55, [1, 2, 3]));
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.code).toBe(7);
    expect(out[0]!.data).toEqual(Buffer.from([0x20, 0x55, 0x00, 0x07, 1, 2, 3]));
    expect(h.a.state).toBe(S.Opened);
  });

  it('Code-Reject of Configure-Request is fatal (RXJ−), of an extension code harmless (RXJ+)', () => {
    const h = harness();
    opened(h);
    h.a.input(packet(7, 1, [14, 1, 0, 4]));
    expect(h.a.state).toBe(S.Opened);
    expect(h.sent).toHaveLength(0);
    h.a.input(packet(7, 2, [1, 1, 0, 4]));
    expect(h.a.state).toBe(S.Stopping);
    expect(h.layer).toEqual(['tld']);
    expect(h.take().map((s) => s.code)).toEqual([5]);
  });

  it('RXR: Echo-Reply only in Opened', () => {
    const h = harness();
    h.a.open();
    h.a.up();
    h.take();
    h.a.input(packet(9, 3, [0, 0, 0, 0]));
    expect(h.sent).toHaveLength(0);
    h.a.input(packet(1, 9, []));
    h.a.input(packet(2, 1, OUR_REQUEST));
    h.take();
    h.a.input(packet(9, 4, [0, 0, 0, 0]));
    expect(h.take()).toEqual([{ code: 10, id: 4, data: Buffer.alloc(4) }]);
  });

  it('Down in Opened: tld, Starting; a new Up renegotiates', () => {
    const h = harness();
    opened(h);
    h.a.down();
    expect(h.a.state).toBe(S.Starting);
    expect(h.layer).toEqual(['tld']);
    vi.advanceTimersByTime(10_000);
    expect(h.sent).toHaveLength(0);
    h.a.up();
    expect(h.a.state).toBe(S.ReqSent);
    expect(h.take().map((s) => s.code)).toEqual([1]);
  });

  it('Closed answers everything with Terminate-Ack; Stopped restarts negotiation on a request', () => {
    const h = harness();
    h.a.up();
    expect(h.a.state).toBe(S.Closed);
    h.a.input(packet(1, 5, []));
    expect(h.take()).toEqual([{ code: 6, id: 5, data: Buffer.alloc(0) }]);

    const g = harness();
    g.a.open();
    g.a.up();
    vi.advanceTimersByTime(3000 * 10);
    expect(g.a.state).toBe(S.Stopped);
    g.take();
    g.a.input(packet(1, 6, []));
    expect(g.a.state).toBe(S.AckSent);
    expect(g.take().map((s) => [s.code, s.id])).toEqual([
      [1, 11],
      [2, 6],
    ]);
  });

  it('queues events raised from inside a hook until the current event is done', () => {
    let a!: OptionAutomaton;
    const h = harness({
      hooks: {
        thisLayerUp: () => {
          a.close('closed from tlu');
          expect(a.state).toBe(S.Opened); // not yet: queued
        },
      },
    });
    a = h.a;
    h.a.open();
    h.a.up();
    h.a.input(packet(1, 9, []));
    h.a.input(packet(2, 1, OUR_REQUEST));
    expect(h.a.state).toBe(S.Closing);
  });

  it('events that cannot happen are ignored', () => {
    const h = harness();
    h.a.input(packet(1, 1, []));
    h.a.input(packet(5, 1, []));
    expect(h.a.state).toBe(S.Initial);
    expect(h.sent).toHaveLength(0);
  });
});
