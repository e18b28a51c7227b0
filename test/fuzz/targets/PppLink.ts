// A whole PPP link (ppp/PppLink.ts), server side, against a scripted client: LCP/IPCP/CCP packets
// relative to what the link sent (PppPeer.ts), CHAP/PAP responses, raw frames of any protocol, restart
// and keepalive timer expiries on fake timers, delayed authenticator verdicts, and the owner's
// close()/lowerDown()/sendCcpResetRequest(). Cooperative steps (answer whatever the link last asked,
// as pppd would) keep most scripts going deep into the network phase. The script's first two octets
// choose the policy (MPPE required/optional/off, key lengths, mode; allowed auth protocols; what the
// authenticator implements and returns; no free address).
// Documented: input() never throws; exceptions inside are caught and logged ("error while handling a
// PPP frame", "error while processing an automaton event", "PPP link hook threw"): findings here.
// Invariants (wrong acceptance): networkUp only after the authenticator granted that very user (and,
// for MS-CHAPv2, with a well-formed authenticator response), only with the address assignAddress
// returned after that grant, never without MPPE when it is required, with an allowed key length,
// stateless when the mode says so, and the grant's keys; CHAP Success / PAP Ack only after a grant;
// no IPCP/CCP before one; network up/down alternate; nothing sent after finished(), which comes once.
// Bounded: a few frames per event, few timers pending; once the client falls silent the link finishes
// within a bounded number of timer expiries.

import type { AuthResult, BasicAuthResult, ExtendedAuthenticator, MppeMasterKeys } from '../../../ppp/Authenticator.js';
import type { AuthMethod } from '../../../ppp/auth/AuthMethod.js';
import type { MppeMode } from '../../../ppp/ccp/options/Mppe.js';
import type { MppeBits } from '../../../ppp/mppe/MppeKeys.js';
import { PppLink, type PppLinkConfig, type PppNetworkInfo } from '../../../ppp/PppLink.js';
import { PppProtocol } from '../../../ppp/PppProtocol.js';
import { resetEntropy } from '../Entropy.js';
import { ByteReader, ByteWriter, checkNoWarning, controlPacket, flushMicrotasks, options, recorder, timers, u32 } from '../Helpers.js';
import { Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';
import { CP_OPS, CpContext, type CpKind, giveIn, type PeerEnv, peerRequest, readControlOp, writeControlOp } from './PppPeer.js';

const LOCAL = 0xc6126401;
const POOL_ADDRESS = 0xc612640a;
const STATIC_ADDRESS = 0xc6126477;
const DNS = [0xc6126435, 0xc6126436];
const USER_DNS = [0x08080808];
const KEYS_V2: MppeMasterKeys = { sendKey: Buffer.alloc(16, 0x33), recvKey: Buffer.alloc(16, 0x44) };
const KEYS_V1: MppeMasterKeys = { sendKey: Buffer.alloc(16, 0x55), recvKey: Buffer.alloc(16, 0x55) };
const GOOD = 0x5a;
const AUTH_RESPONSE = 'S=407A5589115FD0D6209F510FE9C04566932CDA56';

const MPPE_POLICIES: ReadonlyArray<{ required: boolean; bits: MppeBits[]; mode: MppeMode }> = [
  { required: true, bits: [128], mode: 'prefer-stateless' },
  { required: false, bits: [40, 128], mode: 'prefer-stateful' },
  { required: true, bits: [40, 56, 128], mode: 'stateless' },
  { required: false, bits: [], mode: 'prefer-stateless' },
];
const AUTH_SETS: readonly AuthMethod[][] = [['mschapv2'], ['mschapv2', 'mschap', 'chap', 'pap'], ['pap'], ['chap'], ['mschap'], ['mschap', 'pap'], ['chap', 'pap', 'mschapv2'], ['mschapv2', 'pap']];
const NAMES = ['alice', 'CORP\\alice', '', 'x'.repeat(255), '\u00e9\u00e8', 'bob'];
const INTERNAL_ERROR = /error while|threw|error after/;

interface Grant {
  username: string;
  /** Would the link accept it (MS-CHAPv2 checks the authenticator response). */
  usable: boolean;
  keys: MppeMasterKeys | null;
  seq: number;
}

/** Authenticator fake: grants when the response carries GOOD in its first NT-Response octet / password "good". */
class FakeAuthenticator {
  readonly grants: Grant[] = [];
  readonly pending: Array<() => void> = [];
  calls = 0;
  seq = 0;

  constructor(
    private readonly delayed: boolean,
    private readonly flags: number,
    private readonly log: string[],
  ) {}

  private answer<T extends AuthResult | BasicAuthResult>(username: string, ok: boolean, result: T, usable: boolean, keys: MppeMasterKeys | null): Promise<T> {
    this.calls++;
    const deliver = () => {
      if (ok) this.grants.push({ username, usable, keys, seq: ++this.seq });
      this.log.push(`verdict ${JSON.stringify(username)} ${ok}${usable ? '' : ' (malformed)'}`);
      return result;
    };
    if (!this.delayed) return Promise.resolve().then(deliver);
    return new Promise<T>((resolve) => this.pending.push(() => resolve(deliver())));
  }

  private extras() {
    return {
      ...(this.flags & 2 ? { staticAddress: STATIC_ADDRESS } : {}),
      ...(this.flags & 4 ? { authorization: { dns: USER_DNS, sessionTimeout: 60 } } : {}),
    };
  }

  release(): void {
    for (const f of this.pending.splice(0)) f();
  }

  build(full: boolean): ExtendedAuthenticator {
    const refusal = { ok: false as const, errorCode: 691, message: 'Authentication failed' };
    const base: ExtendedAuthenticator = {
      verifyMsChapV2: (req) => {
        const ok = req.ntResponse[0] === GOOD;
        const malformed = (this.flags & 32) !== 0;
        const result: AuthResult = ok ? { ok: true, authenticatorResponse: malformed ? 'S=not-hex' : AUTH_RESPONSE, mppeKeys: KEYS_V2, ...this.extras() } : refusal;
        return this.answer(req.username, ok, result, !malformed, KEYS_V2);
      },
    };
    if (!full) return base;
    return {
      ...base,
      verifyMsChapV1: (req) => {
        const ok = req.ntResponse[0] === GOOD;
        const keys = this.flags & 8 ? null : KEYS_V1;
        return this.answer(req.username, ok, ok ? { ok: true, ...(keys ? { mppeKeys: keys } : {}), ...this.extras() } : refusal, true, keys);
      },
      verifyChapMd5: (req) => {
        const ok = req.response[0] === GOOD;
        return this.answer(req.username, ok, ok ? { ok: true, ...this.extras() } : refusal, true, null);
      },
      verifyPap: (req) => {
        const ok = req.password.toString('latin1') === 'good';
        return this.answer(req.username, ok, ok ? { ok: true, ...this.extras() } : refusal, true, null);
      },
    };
  }
}

interface Session {
  link: PppLink;
  config: PppLinkConfig;
  auth: FakeAuthenticator;
  ctx: Record<CpKind, CpContext>;
  sent: Array<{ protocol: number; payload: Buffer }>;
  lastChallenge: Buffer | null;
  challengeAnswered: boolean;
  papSent: boolean;
  assignments: Array<{ username: string; address: number | null; afterGrant: number }>;
  ups: PppNetworkInfo[];
  networkIsUp: boolean;
  finished: number;
  sentAfterFinish: number;
  successSent: boolean;
  noAddress: boolean;
  /** First invariant violation seen inside a hook (the link catches what a hook throws). */
  violation: string | null;
  events: string[];
}

function makeSession(r: ByteReader): Session {
  const a = r.u8();
  const b = r.u8();
  const policy = MPPE_POLICIES[a & 3]!;
  let authProtocols = AUTH_SETS[(a >> 2) & 7]!;
  const full = (a & 0x20) === 0;
  // The link refuses a configuration that cannot authenticate at all (linkAuthMethods empty): fall back.
  const keyable = (m: AuthMethod) => m === 'mschapv2' || (m === 'mschap' && policy.bits.includes(128));
  if (!authProtocols.some((m) => (full || m === 'mschapv2') && (!policy.required || keyable(m)))) authProtocols = ['mschapv2'];
  const events: string[] = [];
  const auth = new FakeAuthenticator((a & 0x40) !== 0, b, events);
  const config: PppLinkConfig = {
    serverName: 'portico',
    localAddress: LOCAL,
    dns: DNS,
    wins: [],
    mppe: policy,
    lcpEchoInterval: 30,
    lcpEchoFailure: 3,
    authProtocols,
    ...(b & 1 ? { authTimeoutMs: 20_000 } : {}),
    ...(b & 16 ? { mru: 1400 } : {}),
  };
  const s = {
    config,
    auth,
    ctx: { lcp: new CpContext(), ipcp: new CpContext(), ccp: new CpContext() },
    sent: [],
    lastChallenge: null,
    challengeAnswered: false,
    papSent: false,
    assignments: [],
    ups: [],
    networkIsUp: false,
    finished: 0,
    sentAfterFinish: 0,
    successSent: false,
    noAddress: (a & 0x80) !== 0,
    violation: null,
    events,
  } as Omit<Session, 'link'> as Session;
  const inHook = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      s.violation ??= (err as Error).message;
    }
  };

  const usableGrant = () => auth.grants.some((g) => g.usable);
  s.link = new PppLink(config, {
    send: (protocol, payload) =>
      inHook(() => {
        if (s.finished > 0) s.sentAfterFinish++;
        const p = Buffer.from(payload);
        s.sent.push({ protocol, payload: p });
        if (protocol === PppProtocol.LCP) s.ctx.lcp.sent(p);
        else if (protocol === PppProtocol.IPCP || protocol === PppProtocol.CCP) {
          check(usableGrant(), `${protocol === PppProtocol.IPCP ? 'IPCP' : 'CCP'} sent before any successful authentication`);
          (protocol === PppProtocol.IPCP ? s.ctx.ipcp : s.ctx.ccp).sent(p);
        } else if (protocol === PppProtocol.CHAP) {
          if (p[0] === 1) {
            s.lastChallenge = p;
            s.challengeAnswered = false;
          }
          if (p[0] === 3) {
            check(usableGrant(), 'CHAP Success sent without a successful authentication');
            s.successSent = true;
          }
        } else if (protocol === PppProtocol.PAP && p[0] === 2) {
          check(usableGrant(), 'PAP Authenticate-Ack sent without a successful authentication');
          s.successSent = true;
        }
      }),
    authenticator: auth.build(full),
    assignAddress(username, staticAddress) {
      const address = s.noAddress ? null : (staticAddress ?? POOL_ADDRESS);
      s.assignments.push({ username, address, afterGrant: auth.seq });
      s.events.push(`assign ${username} -> ${address}`);
      return address;
    },
    networkUp: (info) =>
      inHook(() => {
        s.events.push(`up ${info.username} ${info.peerAddress}`);
        checkNetworkUp(s, info);
        s.ups.push(info);
        s.networkIsUp = true;
      }),
    networkDown() {
      s.networkIsUp = false;
    },
    resetRequested() {},
    finished(...why: unknown[]) {
      s.finished++;
      s.events.push(`finished ${why.map(String).join(': ')}`);
    },
    log: recorder.logger,
  });
  return s;
}

/** The wrong-acceptance checks: who, which address, which encryption. */
function checkNetworkUp(s: Session, info: PppNetworkInfo): void {
  check(!s.networkIsUp, 'networkUp twice without networkDown');
  check(s.finished === 0, 'networkUp after finished');
  const grant = [...s.auth.grants].reverse().find((g) => g.usable && g.username === info.username);
  const sameUser = (a: string, b: string) => a.slice(a.lastIndexOf('\\') + 1).toLowerCase() === b.slice(b.lastIndexOf('\\') + 1).toLowerCase();
  check(grant !== undefined, () => `network up for "${info.username}" without a successful authentication of that user (grants: ${JSON.stringify(s.auth.grants.map((g) => [g.username, g.usable]))})`);
  check(s.successSent, 'network up before the peer was told it authenticated');
  const given = s.assignments.filter((x) => x.address !== null && x.address >>> 0 === info.peerAddress);
  check(given.length > 0, () => `network up with peer address ${info.peerAddress}, which assignAddress never returned (${JSON.stringify(s.assignments)})`);
  check(
    given.some((x) => sameUser(x.username, info.username)),
    () =>
      `network up for user ${JSON.stringify(info.username.slice(0, 20))} with the address assigned to user ${JSON.stringify(given[0]!.username.slice(0, 20))} (re-authentication under another name; assignAddress not asked)`,
  );
  const policy = s.config.mppe;
  if (policy.required) check(info.mppe !== null, 'network up without MPPE although MPPE is required');
  if (info.mppe) {
    check(policy.bits.includes(info.mppe.bits), `network up with ${info.mppe.bits}-bit MPPE, policy ${policy.bits.join('/')}`);
    check(policy.mode !== 'stateless' || info.mppe.stateless, 'network up with stateful MPPE in stateless mode');
    check(grant.keys !== null && info.mppe.keys === grant.keys, 'network up with MPPE keys the authentication did not give');
  }
}

/** CHAP Response to the last Challenge: value size and content from the script. */
function chapResponse(s: Session, r: ByteReader, good: boolean): Buffer {
  const ch = s.lastChallenge;
  const id = ch ? (ch[1]! + (r.u8() < 220 ? 0 : r.u8())) & 0xff : r.u8();
  const method = s.link.authMethod;
  const right = method === 'chap' ? 16 : 49;
  const sizeChoice = r.u8();
  const size = sizeChoice < 230 ? right : r.pick([0, 1, 16, 48, 49, 50, 255]);
  const value = Buffer.alloc(size);
  if (method === 'mschapv2') {
    if (size > 24) value[24] = good ? GOOD : 0; // NT-Response starts after Peer-Challenge 16 + Reserved 8
  } else if (method === 'mschap') {
    if (size > 24) value[24] = good ? GOOD : 0; // NT-Response after LM-Response 24
  } else if (size > 0) value[0] = good ? GOOD : 0;
  if (size === 49) value[48] = r.u8() & 1 ? 0x04 : 0;
  const name = Buffer.from(r.pick(NAMES), 'utf8');
  s.challengeAnswered = true;
  return controlPacket(2, id, Buffer.concat([Buffer.from([size & 0xff]), value, name]));
}

function papRequest(s: Session, r: ByteReader, good: boolean): Buffer {
  const user = Buffer.from(r.pick(NAMES), 'utf8').subarray(0, 255);
  const pw = Buffer.from(good ? 'good' : 'bad', 'latin1');
  s.papSent = true;
  return controlPacket(1, r.u8(), Buffer.concat([Buffer.from([user.length]), user, Buffer.from([pw.length]), pw]));
}

const PPPD_LCP = (magic: number) =>
  options([
    [2, u32(0)],
    [5, u32(magic)],
    [7, Buffer.alloc(0)],
    [8, Buffer.alloc(0)],
  ]);
const MPPE_CHOICES = [0x01000040, 0x00000040, 0x01000020, 0x010000e0];

/** One cooperative client step: answer whatever is outstanding, as pppd would. */
function cooperate(s: Session, r: ByteReader): void {
  const flavour = r.u8();
  const { lcp, ipcp, ccp } = s.ctx;
  const lcpInput = (p: Buffer) => s.link.input(PppProtocol.LCP, p);
  if (lcp.ourRequest && !lcp.ourRequestAcked) {
    lcp.ourRequestAcked = true;
    lcpInput(controlPacket(2, lcp.ourRequestId, lcp.ourRequest));
    return;
  }
  if (!lcp.peerRequestAcked) {
    lcpInput(lcp.ourNak || lcp.ourReject ? giveIn(lcp) : peerRequest(lcp, PPPD_LCP(0x1a2b3c4d + flavour)));
    return;
  }
  const phase = s.link.phase;
  if (phase === 'authenticate') {
    const good = flavour < 230;
    if (s.link.authMethod === 'pap') {
      if (!s.papSent || flavour > 200) s.link.input(PppProtocol.PAP, papRequest(s, r, good));
    } else if (s.lastChallenge && (!s.challengeAnswered || flavour > 200)) s.link.input(PppProtocol.CHAP, chapResponse(s, r, good));
    return;
  }
  if (phase !== 'network') return;
  for (const [kind, ctx, protocol] of [
    ['ccp', ccp, PppProtocol.CCP],
    ['ipcp', ipcp, PppProtocol.IPCP],
  ] as const) {
    if ((flavour & 1) === (kind === 'ccp' ? 1 : 0)) continue; // one of the two per step
    if (ctx.ourRequest && !ctx.ourRequestAcked) {
      ctx.ourRequestAcked = true;
      s.link.input(protocol, controlPacket(2, ctx.ourRequestId, ctx.ourRequest));
      return;
    }
    if (!ctx.peerRequestAcked) {
      if (ctx.ourNak || ctx.ourReject) s.link.input(protocol, giveIn(ctx));
      else if (kind === 'ccp') s.link.input(protocol, peerRequest(ctx, options([[18, u32(MPPE_CHOICES[(flavour >> 1) & 3]!)]])));
      else
        s.link.input(
          protocol,
          peerRequest(
            ctx,
            options([
              [3, u32(0)],
              [129, u32(0)],
              [131, u32(0)],
            ]),
          ),
        );
      return;
    }
  }
}

const RAW_PROTOCOLS = [PppProtocol.LCP, PppProtocol.IPCP, PppProtocol.CCP, PppProtocol.CHAP, PppProtocol.PAP, PppProtocol.IPv4, PppProtocol.Mppe, PppProtocol.IPV6CP, 0xc025, 0x0001, 0x80ff, 0xc227];
const ENV: PeerEnv = { assigned: POOL_ADDRESS, dns: DNS };

/** One script step: op, operand length, operands (so every step reads only its own operands). */
async function step(s: Session, script: ByteReader): Promise<void> {
  const op = script.u8() % 16;
  const r = script.sub(script.u8());
  const callsBefore = s.auth.calls;
  switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: {
      const kind: CpKind = op < 2 ? 'lcp' : op < 4 ? 'ipcp' : 'ccp';
      const protocol = kind === 'lcp' ? PppProtocol.LCP : kind === 'ipcp' ? PppProtocol.IPCP : PppProtocol.CCP;
      s.link.input(protocol, readControlOp(kind, r.u8() % CP_OPS, r, s.ctx[kind], ENV));
      break;
    }
    case 6:
    case 7: {
      const sub = r.u8() % 4;
      const good = r.u8() < 200;
      if (sub === 0) s.link.input(PppProtocol.CHAP, chapResponse(s, r, good));
      else if (sub === 1) s.link.input(PppProtocol.PAP, papRequest(s, r, good));
      else s.link.input(sub === 2 ? PppProtocol.CHAP : PppProtocol.PAP, controlPacket(r.u8() % 8, r.u8(), r.bytes(r.u8() % 64)));
      break;
    }
    case 8:
      for (let n = 1 + (r.u8() % 4); n > 0; n--) timers.fireNext();
      break;
    case 9: {
      const protocol = r.u8() < 200 ? r.pick(RAW_PROTOCOLS) : r.u16();
      s.link.input(protocol, r.bytes(r.u8() % 64));
      break;
    }
    case 10:
      s.auth.release();
      break;
    case 11: {
      const what = r.u8() % 8;
      if (what === 0) s.link.close('admin disconnect');
      else if (what === 1) s.link.lowerDown();
      else s.link.sendCcpResetRequest();
      break;
    }
    default:
      cooperate(s, r);
  }
  if (s.auth.calls !== callsBefore || op === 10) await flushMicrotasks();
}

/** Operands of a cooperative step: flavour, then what a CHAP/PAP answer may read (id delta, size, flags, name, PAP id). */
function cooperativeStep(rng: Prng, w: ByteWriter, flavour = rng.chance(0.9) ? rng.int(200) : rng.byte()): void {
  w.step(12, new ByteWriter().u8(flavour).u8(rng.int(220)).u8(rng.int(230)).u8(rng.byte()).u8(rng.int(NAMES.length)).u8(rng.byte()));
}

function writeScript(rng: Prng): Buffer {
  const w = new ByteWriter().u8(rng.byte()).u8(rng.chance(0.5) ? 0 : rng.byte());
  for (let n = rng.range(2, 22); n > 0; n--) {
    const r = rng.float();
    const o = new ByteWriter();
    if (r < 0.55) cooperativeStep(rng, w);
    else if (r < 0.8) {
      const op = rng.int(6);
      const kind: CpKind = op < 2 ? 'lcp' : op < 4 ? 'ipcp' : 'ccp';
      const cp = rng.int(CP_OPS);
      o.u8(cp);
      writeControlOp(rng, o, kind, cp);
      w.step(op, o);
    } else if (r < 0.87) {
      o.u8(rng.int(4)).u8(rng.byte()).u8(rng.int(220)).u8(rng.byte()).u8(rng.int(240)).u8(rng.byte()).u8(rng.int(NAMES.length)).bytes(rng.bytes(4));
      w.step(6, o);
    } else if (r < 0.93) w.step(8, o.u8(rng.int(4)));
    else if (r < 0.96) {
      const n = rng.int(64);
      w.step(9, o.u8(rng.byte()).u8(rng.byte()).u8(n).bytes(rng.bytes(n)));
    } else if (r < 0.98) w.step(10, o);
    else w.step(11, o.u8(rng.int(8)));
  }
  return w.toBuffer();
}

export const pppLinkTarget: FuzzTarget = {
  name: 'ppp-link',
  maxInputLength: 700,
  setup: () => timers.install(),
  teardown: () => timers.uninstall(),

  seedInputs() {
    const rng = new Prng(0x1170);
    const out: Buffer[] = [];
    // Pure cooperation under several policies: reaches networkUp.
    for (const [a, b] of [
      [0x00, 0x00],
      [0x05, 0x00],
      [0x09, 0x06],
      [0x0e, 0x00],
      [0x42, 0x01],
      [0x13, 0x08],
    ]) {
      const w = new ByteWriter().u8(a!).u8(b!);
      for (let i = 0; i < 24; i++) {
        cooperativeStep(rng, w, i % 2);
        if (i === 12) w.step(10, new ByteWriter());
      }
      out.push(w.toBuffer());
    }
    out.push(writeScript(rng));
    return out;
  },

  generate: writeScript,

  run: async (input) => (await runLinkScript(input)).label,
};

/** Runs one script and checks every invariant; returns the outcome label and the event log (verdicts, assignments, ups, finish). */
export async function runLinkScript(input: Buffer): Promise<{ label: string; events: string[] }> {
  resetEntropy(0x5eed);
  timers.reset();
  recorder.reset();
  const r = new ByteReader(input);
  const s = makeSession(r);
  s.link.start();
  while (!r.done) {
    const before = s.sent.length;
    await step(s, r);
    check(s.violation === null, () => `${s.violation} [${s.events.join('; ')}]`);
    check(s.sent.length - before <= 12, `${s.sent.length - before} frames sent for one event`);
    check(timers.pending <= 8, `${timers.pending} timers pending`);
  }
  const phase = s.link.phase;
  const method = s.link.authMethod ?? 'none';
  // The client falls silent: the link must finish by itself.
  s.auth.release();
  await flushMicrotasks();
  let fires = 0;
  const sentBefore = s.sent.length;
  while (s.finished === 0 && fires < 300) {
    if (!timers.fireNext()) break;
    fires++;
    if (s.auth.pending.length > 0) {
      s.auth.release();
      await flushMicrotasks();
    }
  }
  check(s.violation === null, () => `${s.violation} [${s.events.join('; ')}]`);
  // Quiet is fine for a link that is up and no longer probes (the peer Code-Rejected LCP Echo-Request:
  // the PPTP echo keeps watch then); anything else must have finished by now.
  const quietUp = s.finished === 0 && timers.pending === 0 && s.networkIsUp;
  check(s.finished === 1 || quietUp, `link not finished after ${fires} timer expiries with a silent peer (phase ${s.link.phase}, network ${s.networkIsUp ? 'up' : 'down'}, ${timers.pending} timers)`);
  if (quietUp) s.link.close('end of script');
  check(s.sent.length - sentBefore <= 60, `${s.sent.length - sentBefore} frames sent to a silent peer`);
  s.link.lowerDown();
  s.link.input(PppProtocol.LCP, controlPacket(1, 1, Buffer.alloc(0)));
  while (timers.fireNext() && fires++ < 400) {}
  check(s.finished === 1, `finished() called ${s.finished} times`);
  check(s.sentAfterFinish === 0, `${s.sentAfterFinish} frames sent after finished()`);
  checkNoWarning(recorder.warnings, INTERNAL_ERROR, 'PppLink');
  return { label: `${phase}${s.ups.length > 0 ? ` up(${s.ups[0]!.mppe ? `mppe${s.ups[0]!.mppe.bits}` : 'clear'})` : ''} ${method}`, events: s.events };
}
