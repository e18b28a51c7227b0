// The RFC 1661 automaton (ppp/Automaton.ts) inside LCP, IPCP and CCP (ppp/lcp, ppp/ipcp, ppp/ccp),
// each driven alone by a scripted peer (PppPeer.ts) plus restart-timer expiries and Open/Close/Up/Down
// from the owner, on fake timers. Documented: input() never throws; the automaton catches exceptions
// from its own handlers and logs "error while processing an automaton event": a finding here.
// Invariants: this-layer-up/down alternate and "up" means Opened; every packet sent is a well-formed
// control packet, at most a few per event; a Configure-Ack echoes the peer's request byte for byte and
// with its Identifier; what comes up is within policy (IPCP: the assigned address; CCP: an allowed key
// length, stateless when so configured, never without MPPE when required; LCP: an offered auth
// method); after the peer falls silent the restart counters end every exchange within a bounded number
// of timer expiries (no endless retransmission) and no more than a few timers are ever pending.

import type { AuthMethod } from '../../../ppp/auth/AuthMethod.js';
import { AutomatonState, type OptionAutomaton } from '../../../ppp/Automaton.js';
import { Ccp } from '../../../ppp/ccp/Ccp.js';
import type { MppeMode } from '../../../ppp/ccp/options/Mppe.js';
import { parseControlPacket } from '../../../ppp/ControlPacket.js';
import { Ipcp } from '../../../ppp/ipcp/Ipcp.js';
import { Lcp } from '../../../ppp/lcp/Lcp.js';
import type { MppeBits } from '../../../ppp/mppe/MppeKeys.js';
import { ByteReader, ByteWriter, checkNoWarning, recorder, timers } from '../Helpers.js';
import { Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';
import { CP_OPS, CpContext, type CpKind, type PeerEnv, readControlOp, writeControlOp } from './PppPeer.js';

const AUTH_SETS: readonly AuthMethod[][] = [['mschapv2'], ['mschapv2', 'mschap', 'chap', 'pap'], ['pap', 'chap'], ['mschap']];
const BIT_SETS: readonly MppeBits[][] = [[128], [40, 128], [40, 56, 128], [56]];
const MODES: readonly MppeMode[] = ['stateless', 'prefer-stateless', 'prefer-stateful'];
const ENV: PeerEnv = { assigned: 0xc612640a, dns: [0xc6126435, 0xc6126436] };
const INTERNAL_ERROR = /error while processing an automaton event|threw/;

interface Layer {
  kind: CpKind;
  automaton: OptionAutomaton;
  input(p: Buffer): void;
  open(): void;
  close(reason: string): void;
  up(): void;
  down(): void;
  /** Extra owner action (LCP Protocol-Reject, CCP Reset-Request, IPCP Protocol-Rejected). */
  extra(): void;
  /** Policy check when the layer reports up. */
  checkUp(): void;
}

interface Run {
  layer: Layer;
  ctx: CpContext;
  sent: Buffer[];
  ups: number;
  isUp: boolean;
  finished: number;
  lastPeerRequest: { id: number; data: Buffer } | null;
}

function build(r: ByteReader): Run {
  const cfg = r.u8();
  const kind: CpKind = (['lcp', 'ipcp', 'ccp'] as const)[cfg % 3]!;
  const log = recorder.logger;
  const ctx = new CpContext();
  const run = { ctx, sent: [] as Buffer[], ups: 0, isUp: false, finished: 0, lastPeerRequest: null } as Omit<Run, 'layer'> as Run;
  const send = (p: Buffer) => {
    run.sent.push(p);
    ctx.sent(p);
  };
  const up = () => {
    check(!run.isUp, 'this-layer-up twice without this-layer-down');
    run.ups++;
    run.isUp = true;
    run.layer.checkUp();
  };
  const down = () => {
    run.isUp = false;
  };
  const finished = () => {
    run.finished++;
  };
  const limits = (cfg & 0x40) !== 0 ? { maxConfigure: 3, maxFailure: 2, maxTerminate: 1 } : undefined;
  if (kind === 'lcp') {
    const auth = AUTH_SETS[(cfg >> 2) % AUTH_SETS.length]!;
    const rng = new Prng(cfg + 1);
    const lcp = new Lcp(
      { mru: (cfg & 0x80) !== 0 ? 1400 : undefined, echoInterval: 30, echoFailure: 3, authMethods: auth },
      { send, up, down, finished, protocolRejected: () => {} },
      { log, random32: () => rng.u32(), limits },
    );
    run.layer = {
      kind,
      automaton: lcp.automaton,
      input: (p) => lcp.input(p),
      open: () => lcp.open(),
      close: (reason) => lcp.close(reason),
      up: () => lcp.lowerUp(),
      down: () => lcp.lowerDown(),
      extra: () => lcp.sendProtocolReject(0x8057, Buffer.from([1, 1, 0, 4])),
      checkUp() {
        check(lcp.isOpened, 'LCP up while not Opened');
        const m = lcp.authMethod;
        check(m === null || auth.includes(m), `LCP agreed on ${m}, not offered (${auth.join(',')})`);
      },
    };
  } else if (kind === 'ipcp') {
    const ipcp = new Ipcp(
      { localAddress: 0xc6126401, dns: ENV.dns, wins: [] },
      {
        send,
        up: (addr) => {
          check(addr === ENV.assigned, `IPCP up with peer address ${addr}, assigned ${ENV.assigned}`);
          up();
        },
        down,
        finished,
        refused: (reason) => ipcp.close(reason),
      },
      { log, peerMru: () => 1500, limits },
    );
    ipcp.assignPeerAddress(ENV.assigned);
    run.layer = {
      kind,
      automaton: ipcp.automaton,
      input: (p) => ipcp.input(p),
      open: () => ipcp.open(),
      close: (reason) => ipcp.close(reason),
      up: () => ipcp.lowerUp(),
      down: () => ipcp.lowerDown(),
      extra: () => ipcp.rejected(),
      checkUp() {
        check(ipcp.isOpened && ipcp.peerAddress === ENV.assigned, 'IPCP up without the assigned address');
      },
    };
  } else {
    const bits = BIT_SETS[(cfg >> 2) % BIT_SETS.length]!;
    const mode = MODES[(cfg >> 4) % 3]!;
    const required = (cfg & 0x80) !== 0;
    const ccp = new Ccp(
      { required, bits, mode },
      {
        send,
        up: (mppe) => {
          if (required) check(mppe !== null, 'CCP up without MPPE although required');
          if (mppe) {
            check(bits.includes(mppe.bits), `CCP up with ${mppe.bits}-bit MPPE, policy ${bits.join('/')}`);
            check(mode !== 'stateless' || mppe.stateless, 'CCP up with stateful MPPE in stateless mode');
          }
          up();
        },
        down,
        finished,
        refused: (reason) => ccp.close(reason),
        terminateRequested: () => {},
        resetRequested: () => {},
      },
      { log, peerMru: () => 1500, limits },
    );
    run.layer = {
      kind,
      automaton: ccp.automaton,
      input: (p) => ccp.input(p),
      open: () => ccp.open(),
      close: (reason) => ccp.close(reason),
      up: () => ccp.lowerUp(),
      down: () => ccp.lowerDown(),
      extra: () => ccp.sendResetRequest(),
      checkUp() {
        check(ccp.isOpened, 'CCP up but not opened');
      },
    };
  }
  return run;
}

function checkSent(run: Run, from: number, peer: { id: number; data: Buffer } | null): void {
  for (let i = from; i < run.sent.length; i++) {
    const p = run.sent[i]!;
    const packet = parseControlPacket(p);
    check(packet.raw.length === p.length, 'sent packet with a Length other than its size');
    check(p.length <= 1500 + 4, `sent a ${p.length}-octet packet`);
    if (peer && (packet.code === 2 || packet.code === 3 || packet.code === 4)) {
      check(packet.identifier === peer.id, `Configure-${packet.code} with Identifier ${packet.identifier}, request had ${peer.id}`);
      if (packet.code === 2) check(packet.data.equals(peer.data), 'Configure-Ack does not echo the request byte for byte');
    }
  }
}

/** No input any more: fire timers until none is left; must end within a bound. */
function settle(run: Run): number {
  let fires = 0;
  const before = run.sent.length;
  while (timers.pending > 0 && fires < 100) {
    timers.fireNext();
    fires++;
  }
  const s = run.layer.automaton.state;
  check(timers.pending === 0 || s === AutomatonState.Opened, `${run.layer.kind} still has timers after ${fires} expiries without input (state ${run.layer.automaton.stateName})`);
  check(run.sent.length - before <= 30, `${run.sent.length - before} packets sent to a silent peer`);
  return fires;
}

export const pppAutomatonTarget: FuzzTarget = {
  name: 'ppp-automaton',
  maxInputLength: 500,
  setup: () => timers.install(),
  teardown: () => timers.uninstall(),

  seedInputs() {
    const rng = new Prng(0xa070);
    const out: Buffer[] = [];
    for (const cfg of [0, 1, 2, 0x82]) {
      // The happy path: peer requests, server acks; server requests, peer acks; the peer gives in.
      const w = new ByteWriter().u8(cfg);
      const kind = (['lcp', 'ipcp', 'ccp'] as const)[cfg % 3]!;
      for (const op of [0, 1, 4, 1]) {
        const o = new ByteWriter().u8(op);
        writeControlOp(rng, o, kind, op);
        w.step(0, o);
      }
      out.push(w.toBuffer());
    }
    return out;
  },

  generate(rng) {
    const w = new ByteWriter().u8(rng.byte());
    const kind = (['lcp', 'ipcp', 'ccp'] as const)[w.toBuffer()[0]! % 3]!;
    for (let n = rng.range(1, 16); n > 0; n--) {
      const r = rng.float();
      const o = new ByteWriter();
      if (r < 0.8) {
        const op = rng.chance(0.5) ? rng.pick([0, 1, 4, 9]) : rng.int(CP_OPS);
        o.u8(op);
        writeControlOp(rng, o, kind, op);
        w.step(0, o);
      } else if (r < 0.9) w.step(1, o.u8(rng.int(4)));
      else w.step(2, o.u8(rng.int(6)));
    }
    return w.toBuffer();
  },

  run(input) {
    timers.reset();
    recorder.reset();
    const script = new ByteReader(input);
    const run = build(script);
    const layer = run.layer;
    layer.open();
    layer.up();
    while (!script.done) {
      const before = run.sent.length;
      let peer: { id: number; data: Buffer } | null = null;
      const kind = script.u8() % 3;
      const r = script.sub(script.u8());
      switch (kind) {
        case 0: {
          const p = readControlOp(layer.kind, r.u8() % CP_OPS, r, run.ctx, ENV);
          if (p.length >= 4 && p[0] === 1 && p.readUInt16BE(2) === p.length) peer = { id: p[1]!, data: p.subarray(4) };
          layer.input(p);
          break;
        }
        case 1:
          for (let n = 1 + (r.u8() % 4); n > 0; n--) timers.fireNext();
          break;
        default:
          switch (r.u8() % 6) {
            case 0:
              layer.open();
              break;
            case 1:
              layer.close('owner closes');
              break;
            case 2:
              layer.up();
              break;
            case 3:
              layer.down();
              break;
            case 4:
              layer.extra();
              break;
            default:
              layer.automaton.retransmitUnanswered();
          }
      }
      check(run.sent.length - before <= 6, `${run.sent.length - before} packets sent for one event`);
      checkSent(run, before, peer);
      if (run.isUp) check(layer.automaton.isOpened, `${layer.kind} reported up but is ${layer.automaton.stateName}`);
      check(timers.pending <= 3, `${timers.pending} timers pending`);
    }
    const state = layer.automaton.stateName;
    settle(run);
    checkNoWarning(recorder.warnings, INTERNAL_ERROR, layer.kind.toUpperCase());
    return `${layer.kind} ${state}${run.ups > 0 ? ' (was up)' : ''}`;
  },
};
