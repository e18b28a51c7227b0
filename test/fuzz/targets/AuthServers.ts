// The PPP authentication servers (ppp/auth: PapServer, ChapMd5Server, MsChapV1Server, MsChapV2Server)
// fed scripted responses: well-formed answers to the current Challenge (right or wrong Identifier,
// Value-Size, name, good or bad credentials), raw packets, timer expiries, stop()/start(), and
// authenticator verdicts that are delayed, refused, thrown or rejected. One target per server.
// Documented: input() never throws (malformed packets are discarded); a backend throw or rejection is
// a failed login ("authenticator error" is logged); anything logged as "error after <method> decision"
// is a finding. Invariants: the backend is asked at most once, only for a Response to the current
// Challenge with the right Value-Size, and with exactly the fields the packet carries (differential);
// succeeded() only after the backend said yes (and, for MS-CHAPv2, gave a well-formed S=), with the
// verified user name; at most one decision; every answer carries the Identifier of the request it
// answers; Success/Ack only after success, Failure/Nak only after failure, in the RFC formats; a
// bounded number of packets; once the peer falls silent every exchange ends and no timer is left.

import type { AuthResult, BasicAuthResult, ExtendedAuthenticator } from '../../../ppp/Authenticator.js';
import type { AuthServer, AuthServerEvents, AuthSuccess } from '../../../ppp/auth/AuthMethod.js';
import { ChapMd5Server } from '../../../ppp/auth/ChapMd5Server.js';
import { MsChapV1Server } from '../../../ppp/auth/MsChapV1Server.js';
import { MsChapV2Server } from '../../../ppp/auth/MsChapV2Server.js';
import { PapServer } from '../../../ppp/auth/PapServer.js';
import { parseControlPacket } from '../../../ppp/ControlPacket.js';
import { ByteReader, ByteWriter, checkNoWarning, controlPacket, flushMicrotasks, recorder, timers } from '../Helpers.js';
import { hashBytes, Prng } from '../Prng.js';
import { check, type FuzzTarget } from '../run.js';

type Kind = 'pap' | 'chap-md5' | 'mschapv1' | 'mschapv2';

const GOOD = 0x5a;
const AUTH_RESPONSE = 'S=407A5589115FD0D6209F510FE9C04566932CDA56';
const NAMES = ['alice', 'CORP\\alice', '', 'x'.repeat(256), '\u00e9t\u00e9', '\0nul'];
const KEYS = { sendKey: Buffer.alloc(16, 1), recvKey: Buffer.alloc(16, 2) };

interface Asked {
  username: string;
  /** The fields the backend got, to compare with the packet. */
  fields: Record<string, Buffer | number>;
  verdictOk: boolean;
}

interface State {
  sent: Buffer[];
  successes: AuthSuccess[];
  failures: Array<{ reason: string; user: string | null }>;
  asked: Asked[];
  pending: Array<() => void>;
  /** An answer carries the Identifier of the request that was verified, or (a repeat) of the last request. */
  lastRequestId: number;
  verifiedId: number;
  /** Identifiers of every request fed so far (a backend without the method is not our fake: no verifiedId). */
  requestIds: Set<number>;
  challenge: Buffer | null;
  challengeId: number;
}

/** Authenticator fake; `mode` 0 grants on GOOD, 1 refuses, 2 throws, 3 rejects the promise. */
function fakeBackend(kind: Kind, flags: number, st: State): ExtendedAuthenticator {
  const mode = flags & 3;
  const delayed = (flags & 4) !== 0;
  const malformed = (flags & 8) !== 0;
  const errorCode = [691, 0, -1, 1.5, 999999, 648][(flags >> 5) % 6]!;
  const decide = <T extends AuthResult | BasicAuthResult>(username: string, fields: Record<string, Buffer | number>, good: boolean, ok: T): Promise<T> => {
    const grant = mode === 0 && good;
    st.asked.push({ username, fields, verdictOk: grant && !(kind === 'mschapv2' && malformed) });
    if (mode === 2) throw new Error('backend exploded');
    const refusal = { ok: false as const, errorCode, message: 'no\u0000such\nuser' };
    const settle = () => {
      if (mode === 3) return Promise.reject(new Error('backend down'));
      return Promise.resolve(grant ? ok : (refusal as unknown as T));
    };
    if (!delayed) return settle();
    return new Promise<T>((resolve, reject) => st.pending.push(() => settle().then(resolve, reject)));
  };
  const v2: ExtendedAuthenticator = {
    verifyMsChapV2: (r) =>
      decide(r.username, { challenge: r.authenticatorChallenge, peer: r.peerChallenge, nt: r.ntResponse }, r.ntResponse[0] === GOOD, {
        ok: true,
        authenticatorResponse: malformed ? 's=407a' : AUTH_RESPONSE,
        mppeKeys: KEYS,
      } as AuthResult),
  };
  if ((flags & 16) !== 0 && kind !== 'mschapv2') return v2; // backend without this method
  return {
    ...v2,
    verifyMsChapV1: (r) =>
      decide(r.username, { challenge: r.challenge, lm: r.lmResponse, nt: r.ntResponse, flags: r.flags }, r.ntResponse[0] === GOOD, { ok: true, mppeKeys: KEYS } as BasicAuthResult),
    verifyChapMd5: (r) => decide(r.username, { challenge: r.challenge, response: r.response, identifier: r.identifier }, r.response[0] === GOOD, { ok: true } as BasicAuthResult),
    verifyPap: (r) => decide(r.username, { password: Buffer.from(r.password) }, r.password.toString('latin1') === 'good', { ok: true } as BasicAuthResult),
  };
}

const VALUE_SIZE: Record<Exclude<Kind, 'pap'>, number> = { 'chap-md5': 16, mschapv1: 49, mschapv2: 49 };

/** A request packet from the script: relative to the current Challenge for CHAP. */
function request(kind: Kind, r: ByteReader, st: State): Buffer {
  const name = Buffer.from(r.pick(NAMES), 'utf8');
  const good = r.u8() < 200;
  if (kind === 'pap') {
    const user = name.subarray(0, 255);
    const pw = Buffer.from(good ? 'good' : r.pick(['bad', '', 'goo', 'good\0']), 'latin1');
    return controlPacket(1, r.u8(), Buffer.concat([Buffer.from([user.length]), user, Buffer.from([pw.length]), pw]));
  }
  const d = r.u8();
  const id = (st.challengeId + (d < 220 ? 0 : d)) & 0xff;
  const right = VALUE_SIZE[kind];
  const s = r.u8();
  const size = s < 230 ? right : r.pick([0, 1, 16, 24, 48, 49, 50, 255]);
  const value = Buffer.alloc(size);
  for (let i = 0; i < size; i++) value[i] = r.u8();
  const ntAt = kind === 'chap-md5' ? 0 : 24;
  if (size > ntAt) value[ntAt] = good ? GOOD : 0;
  return controlPacket(2, id, Buffer.concat([Buffer.from([size & 0xff]), value, name]));
}

/** The backend must have been asked with exactly what the packet says. */
function checkAsked(kind: Kind, packet: Buffer, asked: Asked, st: State): void {
  const p = parseControlPacket(packet);
  const d = p.data;
  if (kind === 'pap') {
    const idLen = d[0]!;
    check(asked.username === d.subarray(1, 1 + idLen).toString('utf8'), 'PAP: backend got another Peer-ID');
    const pwLen = d[1 + idLen]!;
    check((asked.fields.password as Buffer).equals(d.subarray(2 + idLen, 2 + idLen + pwLen)), 'PAP: backend got another password');
    return;
  }
  const size = d[0]!;
  check(size === VALUE_SIZE[kind] && p.identifier === st.challengeId, `${kind}: backend asked for a Response with Value-Size ${size}, Identifier ${p.identifier} (challenge ${st.challengeId})`);
  const value = d.subarray(1, 1 + size);
  check(asked.username === d.subarray(1 + size).toString('utf8'), `${kind}: backend got another user name`);
  check(st.challenge !== null && (asked.fields.challenge as Buffer).equals(st.challenge), `${kind}: backend got another challenge than the one sent`);
  const same = (k: string, v: Buffer) => check((asked.fields[k] as Buffer).equals(v), `${kind}: backend got another ${k}`);
  if (kind === 'mschapv2') {
    same('peer', value.subarray(0, 16));
    same('nt', value.subarray(24, 48));
  } else if (kind === 'mschapv1') {
    same('lm', value.subarray(0, 24));
    same('nt', value.subarray(24, 48));
    check(asked.fields.flags === value[48], 'MS-CHAPv1: backend got other flags');
  } else {
    same('response', value);
    check(asked.fields.identifier === p.identifier, 'CHAP-MD5: backend got another identifier');
  }
}

const SUCCESS_CODE: Record<Kind, number> = { pap: 2, 'chap-md5': 3, mschapv1: 3, mschapv2: 3 };
const FAILURE_CODE: Record<Kind, number> = { pap: 3, 'chap-md5': 4, mschapv1: 4, mschapv2: 4 };

function checkAnswer(kind: Kind, p: Buffer, st: State): void {
  const packet = parseControlPacket(p);
  check(packet.raw.length === p.length, 'answer with a wrong Length');
  if (kind !== 'pap' && packet.code === 1) return; // a (re)transmitted Challenge
  const known = st.verifiedId >= 0 ? packet.identifier === st.verifiedId : st.requestIds.has(packet.identifier);
  check(packet.identifier === st.lastRequestId || known, `answer Identifier ${packet.identifier}, requests had ${st.verifiedId} / ${st.lastRequestId}`);
  const text = packet.data.toString('latin1');
  if (packet.code === SUCCESS_CODE[kind]) {
    check(st.successes.length === 1, 'Success/Ack sent without a successful authentication');
    if (kind === 'mschapv2') check(/^S=[0-9A-F]{40}( M=.+)?$/.test(text), `MS-CHAPv2 Success "${text}" is not RFC 2759 §5`);
  } else if (packet.code === FAILURE_CODE[kind]) {
    check(st.failures.length === 1 && st.successes.length === 0, 'Failure/Nak sent without a failed authentication');
    if (kind === 'mschapv2') check(/^E=\d+ R=0 C=[0-9A-F]{32} V=3 M=[\x20-\x7e]+$/.test(text), `MS-CHAPv2 Failure "${text}" is not RFC 2759 §6`);
    if (kind === 'mschapv1') check(/^E=\d+ R=0 C=[0-9A-F]{16} V=2$/.test(text), `MS-CHAPv1 Failure "${text}" is not RFC 2433 §6`);
    const e = /E=(\d+)/.exec(text);
    if (e) check(Number(e[1]) > 0 && Number.isInteger(Number(e[1])), `Failure with E=${e[1]}`);
  } else check(false, `unexpected code ${packet.code} sent`);
}

function makeServer(kind: Kind, authenticator: ExtendedAuthenticator, events: AuthServerEvents, random: (n: number) => Buffer): AuthServer {
  const chap = { serverName: 'portico', authenticator, log: recorder.logger, randomBytes: random };
  switch (kind) {
    case 'pap':
      return new PapServer({ authenticator, log: recorder.logger }, events);
    case 'chap-md5':
      return new ChapMd5Server(chap, events);
    case 'mschapv1':
      return new MsChapV1Server(chap, events);
    default:
      return new MsChapV2Server(chap, events);
  }
}

function writeScript(kind: Kind, rng: Prng): Buffer {
  const w = new ByteWriter().u8(rng.chance(0.6) ? 0 : rng.byte());
  for (let n = rng.range(1, 8); n > 0; n--) {
    const r = rng.float();
    const o = new ByteWriter();
    if (r < 0.6) {
      o.u8(rng.int(NAMES.length)).u8(rng.chance(0.7) ? 0 : 250);
      if (kind === 'pap') o.u8(rng.int(4)).u8(rng.byte());
      else
        o.u8(rng.chance(0.9) ? 0 : 230 + rng.int(26))
          .u8(rng.chance(0.9) ? 0 : 240)
          .bytes(rng.bytes(VALUE_SIZE[kind]));
      w.step(0, o);
    } else if (r < 0.75) w.step(1, o.bytes(controlPacket(rng.range(0, 8), rng.byte(), rng.bytes(rng.small(60)))));
    else if (r < 0.85) w.step(2, o);
    else if (r < 0.95) w.step(3, o);
    else w.step(rng.pick([4, 5]), o);
  }
  return w.toBuffer();
}

function makeTarget(kind: Kind): FuzzTarget {
  return {
    name: `auth-${kind}`,
    maxInputLength: 600,
    setup: () => timers.install(),
    teardown: () => timers.uninstall(),

    seedInputs() {
      const rng = new Prng(0xa0 + kind.length);
      const good = new ByteWriter().u8(0);
      good.step(0, new ByteWriter().u8(0).u8(0).u8(0).u8(0).bytes(rng.bytes(49)));
      good.step(0, new ByteWriter().u8(0).u8(0).u8(0).u8(0).bytes(rng.bytes(49)));
      const bad = new ByteWriter().u8(0);
      bad.step(0, new ByteWriter().u8(1).u8(250).u8(0).u8(0).bytes(rng.bytes(49)));
      return [good.toBuffer(), bad.toBuffer(), writeScript(kind, rng)];
    },

    generate: (rng) => writeScript(kind, rng),

    async run(input) {
      timers.reset();
      recorder.reset();
      const script = new ByteReader(input);
      const flags = script.u8();
      const st: State = { sent: [], successes: [], failures: [], asked: [], pending: [], lastRequestId: -1, verifiedId: -1, requestIds: new Set(), challenge: null, challengeId: 0 };
      const rnd = new Prng(hashBytes(input.subarray(0, 1)) ^ 0x77);
      const events: AuthServerEvents = {
        send: (p) => {
          const b = Buffer.from(p);
          st.sent.push(b);
          if (kind !== 'pap' && b[0] === 1) {
            st.challengeId = b[1]!;
            st.challenge = Buffer.from(b.subarray(5, 5 + b[4]!));
          }
        },
        succeeded: (r) => st.successes.push(r),
        failed: (reason, user) => st.failures.push({ reason, user }),
      };
      const server = makeServer(kind, fakeBackend(kind, flags, st), events, (n) => rnd.bytes(n));
      server.start();
      let requests = 0;
      let checked = 0;
      // Answers go out just before succeeded()/failed(): checked once the event has happened too.
      const checkAnswers = () => {
        for (; checked < st.sent.length; checked++) checkAnswer(kind, st.sent[checked]!, st);
      };
      while (!script.done) {
        const op = script.u8() % 6;
        const r = script.sub(script.u8());
        const askedBefore = st.asked.length;
        let packet: Buffer | null = null;
        if (op === 0) packet = request(kind, r, st);
        else if (op === 1) packet = r.bytes(255);
        if (packet) {
          requests++;
          if (packet.length >= 4) {
            st.lastRequestId = packet[1]!;
            st.requestIds.add(packet[1]!);
          }
          try {
            server.input(packet);
          } catch (err) {
            check(false, `${kind} server input() threw ${(err as Error).name}: ${(err as Error).message}`);
          }
        } else if (op === 2) timers.fireNext();
        else if (op === 3) for (const f of st.pending.splice(0)) f();
        else if (op === 4) server.stop();
        else server.start();
        await flushMicrotasks();
        if (st.asked.length > askedBefore) {
          check(st.asked.length === 1, `backend asked ${st.asked.length} times`);
          check(packet !== null, 'backend asked without a request');
          checkAsked(kind, packet!, st.asked[0]!, st);
          st.verifiedId = packet![1]!;
        }
        checkAnswers();
        check(st.successes.length + st.failures.length <= 1, 'more than one decision');
        if (st.successes.length === 1) {
          const a = st.asked[0];
          check(a?.verdictOk === true, 'succeeded() although the backend did not grant (or gave a malformed S=)');
          check(st.successes[0]!.username === a!.username, 'succeeded() with another user name than the verified one');
        }
        check(st.sent.length <= requests + 12, `${st.sent.length} packets sent for ${requests} requests`);
      }
      // Silence: release the backend, let the timers run out.
      for (const f of st.pending.splice(0)) f();
      await flushMicrotasks();
      let fires = 0;
      while (timers.fireNext() && fires < 40) fires++;
      await flushMicrotasks();
      checkAnswers();
      check(timers.pending === 0, `${timers.pending} timers still pending after ${fires} expiries`);
      check(st.sent.length <= requests + 12, `${st.sent.length} packets sent for ${requests} requests`);
      checkNoWarning(recorder.warnings, /error after/, kind);
      const state = (server as unknown as { state: string }).state;
      return `${state}${st.asked.length ? ' asked' : ''}`;
    },
  };
}

export const authPapTarget = makeTarget('pap');
export const authChapMd5Target = makeTarget('chap-md5');
export const authMsChapV1Target = makeTarget('mschapv1');
export const authMsChapV2Target = makeTarget('mschapv2');
