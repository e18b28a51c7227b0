// Churn of the sharded data path at unit level: thousands of sessions start and end on two shards
// (shard 0 = the main thread's DataPlane, shard 1 = a DataPlaneShard) while the messages between the
// main thread and the "worker" sit in a queue that the test delivers when it likes — the race
// between the two threads, played out deterministically from a seed. In-memory GRE sockets and TUN
// queues stand in for the kernel: GRE goes to shard (Call ID mod 2), as the BPF filter does, and a
// packet for address X to the TUN queue the steering map names (queue 0 when absent), as the eBPF
// steering program does.
//
// A model of each shard's view (which calls it knows, whether their data is up, with which keys,
// which address routes to which call) predicts every packet's fate as the race unfolds; after each
// round every queued message is delivered and every live session must work both ways, its counters
// must match what went through, and ended Call IDs and addresses must be dead.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GreHeaderView, GreParseResult, parseGreHeader } from '../../gre/GreHeader.js';
import { MemoryGreSocket, type SentGrePacket } from '../../io/MemoryGreSocket.js';
import { MppeDecryptor, MppeEncryptor } from '../../ppp/mppe/MppeCipher.js';
import type { PppLink } from '../../ppp/PppLink.js';
import { PppProtocol, parsePppFrame, type PppFrameView } from '../../ppp/PppProtocol.js';
import type { ControlConnection } from '../../pptp/ControlConnection.js';
import { DATA_PLANE_COUNTER_NAMES, DataPlane, type DataPlaneCounters } from '../../dataplane/DataPlane.js';
import { DataPlaneShard, newPlaneCounterCells, type FromShard, type ShardChannel, type ToShard } from '../../dataplane/DataPlaneShard.js';
import { Session } from '../../session/Session.js';
import { SESSION_COUNTER_NAMES, newSessionCounterCells, type SessionCounters } from '../../dataplane/SessionCounters.js';
import { ShardedDataPlane, type AddressSteering } from '../../dataplane/ShardedDataPlane.js';
import { MemoryTun } from '../../io/MemoryTun.js';
import { greWrap, ipv4, prng } from './TestPackets.js';

const SEED = Number(process.env.PORTICO_CHURN_SEED ?? 0x5eed_c0de) >>> 0;
const TARGET_STARTS = 5000; // startData calls on a fresh session
const MAX_LIVE = 12;
const CALL_ID_MAX = 200; // Call IDs 1..200, round-robin: ended ones come back
const POOL_SIZE = 16; // tunnel addresses, freed ones to the back (AddressPool): reused often
const STATIC_REUSE = 0.25; // share of calls taking the address freed last (a user's static address, reconnecting)

const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const SERVER_ADDR = ip4(198, 51, 100, 1);
const HOST_IP = ip4(192, 0, 2, 1); // the far side of the TUN
const POOL_START = ip4(192, 168, 75, 10); // high bit set: catches signed/unsigned mix-ups
const PEER_BASE = ip4(198, 18, 0, 1); // each call its own peer address, never reused
const LCP_HEAD = Buffer.from('ff03c021', 'hex');
const CLEAR_IP_HEAD = Buffer.from('ff030021', 'hex');
const fmt = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** LCP Echo-Request/Reply body (code, id, length 12, magic, tag): the tag tells frames apart. */
function lcpEcho(code: number, tag: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = code;
  b[1] = tag & 0xff;
  b.writeUInt16BE(12, 2);
  b.writeUInt32BE(0x01020304, 4);
  b.writeUInt32BE(tag >>> 0, 8);
  return b;
}

/** PppLink stand-in: what the data path hands to the control plane. */
class LinkStub {
  readonly inputs: { protocol: number; payload: Buffer }[] = [];
  readonly framing = { acfc: false, pfc: false };
  resetRequests = 0;
  input(protocol: number, payload: Buffer): void {
    this.inputs.push({ protocol, payload });
  }
  start(): void {}
  sendCcpResetRequest(): void {
    this.resetRequests++;
  }
}

/**
 * The main thread ↔ worker channel with the delivery left to the test. postMessage copies like a
 * MessagePort (structured clone, at the time of posting); nothing arrives until delivered.
 */
class QueuedChannel {
  readonly toShard: ToShard[] = [];
  readonly toMain: FromShard[] = [];
  private shardListener: ((m: ToShard) => void) | null = null;
  private mainListener: ((m: FromShard) => void) | null = null;
  readonly mainEnd: ShardChannel<FromShard, ToShard> = {
    postMessage: (m) => void this.toShard.push(structuredClone(m)),
    on: (_event, l) => (this.mainListener = l),
  };
  readonly shardEnd: ShardChannel<ToShard, FromShard> = {
    postMessage: (m) => void this.toMain.push(structuredClone(m)),
    on: (_event, l) => (this.shardListener = l),
  };
  dispatchToShard(m: ToShard): void {
    this.shardListener!(m);
  }
  dispatchToMain(m: FromShard): void {
    this.mainListener!(m);
  }
}

/** The eBPF steering map: address → TUN queue, absent = queue 0. */
class MapSteering implements AddressSteering {
  readonly map = new Map<number, number>();
  set(address: number, queue: number): void {
    this.map.set(address, queue);
  }
  delete(address: number): void {
    this.map.delete(address);
  }
}

/** One call: the server's Session and the client at the other end (GRE numbering, mirror MPPE). */
interface Call {
  readonly id: number;
  readonly shard: number;
  readonly peerCallId: number;
  readonly peerAddr: number;
  readonly s: Session;
  readonly link: LinkStub;
  /** Key generations (one per startData), the peer's mirror ciphers for each. */
  readonly keyHex: string[];
  readonly peerEnc: MppeEncryptor[];
  readonly peerDec: MppeDecryptor[];
  started: boolean;
  up: boolean;
  ended: boolean;
  /** Last GRE sequence number the peer sent / received from the server. */
  peerSeq: number;
  seqFromServer: number;
  /** Every session counter as it must read (absent = 0). */
  readonly want: { [K in keyof SessionCounters]?: number };
  /** Tags of the peer's LCP frames the link must have been handed, in order. */
  readonly inputs: number[];
  /** sendControl payloads not yet seen by the peer, in order. */
  readonly ctlOut: Buffer[];
}

/** What one shard's DataPlane knows: its calls (byCallId) and its address routes (byAddress). */
class ShardView {
  readonly byCall = new Map<number, { call: Call; up: boolean; gen: number }>();
  readonly byAddress = new Map<number, Call>();
  register(call: Call): void {
    const old = this.byCall.get(call.id);
    if (old !== undefined) this.unregister(old.call);
    this.byCall.set(call.id, { call, up: false, gen: -1 });
  }
  up(call: Call, address: number, gen: number): void {
    const e = this.byCall.get(call.id);
    if (e === undefined || e.call !== call) return;
    e.up = true;
    e.gen = gen;
    this.byAddress.set(address, call);
  }
  down(call: Call): void {
    const e = this.byCall.get(call.id);
    if (e !== undefined && e.call === call) e.up = false;
  }
  unregister(call: Call): void {
    if (this.byCall.get(call.id)?.call === call) this.byCall.delete(call.id);
    const a = call.s.address;
    if (a !== null && this.byAddress.get(a) === call) this.byAddress.delete(a);
  }
}

type ExpectedGre = { call: Call; kind: 'data'; gen: number; ip: Buffer } | { call: Call; kind: 'ctl'; payload: Buffer };

describe('sharded data path under churn (two shards, queued thread messages, in-memory devices)', () => {
  it(`thousands of sessions start and end in random interleavings; every live one works, every ended one is gone (seed ${SEED})`, async () => {
    const t0 = performance.now();
    const rnd = prng(SEED);
    const int = (n: number): number => Math.floor(rnd() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const log = pino({ level: 'silent' });

    // --- the two shards, wired as PptpServer wires them (DataPlaneThreads) ---------------------
    const gres = [new MemoryGreSocket(SERVER_ADDR), new MemoryGreSocket(SERVER_ADDR)];
    const tuns = [new MemoryTun('q0'), new MemoryTun('q1')];
    const local = new DataPlane(gres[0]!, tuns[0]!, log);
    const ch = new QueuedChannel();
    const sessionCells = newSessionCounterCells();
    const planeCells = newPlaneCounterCells();
    new DataPlaneShard(ch.shardEnd, gres[1]!, tuns[1]!, { sessionCells, planeCells }, log);
    const steering = new MapSteering();
    const dp = new ShardedDataPlane(local, [{ channel: ch.mainEnd, planeCells }], steering, sessionCells, log);

    // --- the model -----------------------------------------------------------------------------
    const views = [new ShardView(), new ShardView()];
    /** Steering as ShardedDataPlane should keep it: set by a shard-1 startData, deleted by its unregister. */
    const wantSteering = new Map<number, number>();
    const wantPlane = Object.fromEntries(DATA_PLANE_COUNTER_NAMES.map((n) => [n, 0])) as unknown as DataPlaneCounters;
    const expectTun: Buffer[][] = [[], []];
    const expectGre: ExpectedGre[][] = [[], []];
    /** FromShard control messages a shard-1 GRE batch must have queued, by call and tag. */
    const expectToMain: { call: Call; tag: number }[] = [];

    const live = new Map<number, Call>(); // by Call ID
    const byId = new Map<number, Call>(); // latest call of each Call ID, live or ended
    const byPeer = new Map<number, Call>();
    let recentEnded: Call[] = [];
    const freeAddresses: number[] = Array.from({ length: POOL_SIZE }, (_, i) => POOL_START + i);
    const addressOwner = new Map<number, Call>();
    let callIdCursor = 1;
    let peerCounter = 0;
    let tagCounter = 0;
    let round = 0;
    let step = '';
    const stats = {
      registered: 0,
      started: 0,
      restarted: 0,
      ended: 0,
      endedBeforeUp: 0,
      downs: 0,
      toShard: 0,
      toMain: 0,
      in: 0,
      out: 0,
      probesIn: 0,
      probesOut: 0,
      stale: 0,
      addressReuse: 0,
      callIdReuse: 0,
      rxNotReady: 0,
      txDropped: 0,
    };
    const usedAddresses = new Set<number>();
    const usedCallIds = new Set<number>();

    const fail = (msg: string): never => {
      throw new Error(`seed ${SEED} round ${round} (${step}): ${msg}`);
    };
    const check = (ok: boolean, msg: () => string): void => {
      if (!ok) fail(msg());
    };

    const bump = (call: Call, name: keyof SessionCounters, by = 1): void => {
      call.want[name] = (call.want[name] ?? 0) + by;
      if (name === 'rxNotReady' || name === 'txDropped') stats[name] += by;
    };
    const want = (call: Call, name: keyof SessionCounters): number => call.want[name] ?? 0;

    // --- the peer side ---------------------------------------------------------------------------
    /** A GRE packet from the call's peer, its next sequence number, acking what it got. */
    const fromPeer = (call: Call, ppp: Buffer): Buffer => greWrap(call.id, ppp, ++call.peerSeq, call.seqFromServer > 0 ? call.seqFromServer : -1);
    const mppeFrame = (call: Call, gen: number, ip: Buffer): Buffer => {
      const buf = Buffer.alloc(8 + ip.length);
      buf.writeUInt32BE(0xff0300fd, 0);
      buf.writeUInt16BE(PppProtocol.IPv4, 6);
      ip.copy(buf, 8);
      call.peerEnc[gen]!.encrypt(buf, 6, ip.length + 2);
      return buf;
    };

    /** The peer receives one packet the server sent, as the model said it would. */
    const peerReceive = (shard: number, p: SentGrePacket, w: ExpectedGre): void => {
      const c = w.call;
      const who = `call ${c.id} (peer ${fmt(c.peerAddr)}) on shard ${shard}`;
      check(p.to === c.peerAddr, () => `${who}: packet went to ${fmt(p.to)}`);
      const gre = new GreHeaderView();
      check(parseGreHeader(p.data, 0, p.data.length, gre) === GreParseResult.Ok, () => `${who}: unparsable GRE ${p.data.toString('hex')}`);
      check(gre.callId === c.peerCallId, () => `${who}: GRE Call ID ${gre.callId}, want the peer's ${c.peerCallId}`);
      check(gre.hasSeq && gre.seq === c.seqFromServer + 1, () => `${who}: GRE seq ${gre.hasSeq ? gre.seq : 'none'} after ${c.seqFromServer}`);
      c.seqFromServer = gre.seq;
      if (gre.hasAck) check(gre.ack >= 1 && gre.ack <= c.peerSeq, () => `${who}: ack ${gre.ack}, peer sent up to ${c.peerSeq}`);
      const ppp: PppFrameView = { protocol: 0, offset: 0, length: 0 };
      check(parsePppFrame(p.data, gre.payloadOffset, gre.payloadLength, ppp), () => `${who}: bad PPP frame`);
      if (w.kind === 'ctl') {
        check(ppp.protocol === PppProtocol.LCP, () => `${who}: control frame protocol ${ppp.protocol.toString(16)}`);
        const got = p.data.subarray(ppp.offset, ppp.offset + ppp.length);
        const sent = c.ctlOut.shift(); // what sendControl was given, in order
        check(sent?.equals(w.payload) === true && got.equals(w.payload), () => `${who}: control frame ${got.toString('hex')}, want ${sent?.toString('hex')}`);
        return;
      }
      check(ppp.protocol === PppProtocol.Mppe, () => `${who}: data frame protocol ${ppp.protocol.toString(16)}, want MPPE`);
      const body = Buffer.from(p.data.subarray(ppp.offset, ppp.offset + ppp.length));
      const n = c.peerDec[w.gen]!.decrypt(body, 0, body.length);
      check(n > 2 && body.readUInt16BE(2) === PppProtocol.IPv4, () => `${who}: does not decrypt with key generation ${w.gen} (n=${n})`);
      const ip = body.subarray(4, 2 + n);
      check(ip.equals(w.ip), () => `${who}: decrypted ${ip.toString('hex')}, want ${w.ip.toString('hex')}`);
    };

    /** Everything the devices produced since the last call must be exactly what the model expected. */
    const verifyOutputs = (): void => {
      for (const k of [0, 1]) {
        const got = tuns[k]!.written.splice(0);
        const want = expectTun[k]!.splice(0);
        check(got.length === want.length, () => `TUN queue ${k}: ${got.length} packets written, want ${want.length}`);
        got.forEach((g, i) => void check(g.equals(want[i]!), () => `TUN queue ${k} packet ${i}: ${g.subarray(0, 24).toString('hex')}…, want ${want[i]!.subarray(0, 24).toString('hex')}…`));
        const sent = gres[k]!.sent.splice(0);
        const wantG = expectGre[k]!.splice(0);
        check(
          sent.length === wantG.length,
          () => `GRE socket ${k}: ${sent.length} packets sent (to ${sent.map((p) => fmt(p.to)).join(', ')}), want ${wantG.length} (to ${wantG.map((w) => fmt(w.call.peerAddr)).join(', ')})`,
        );
        sent.forEach((p, i) => {
          peerReceive(k, p, wantG[i]!);
        });
      }
      const c = dp.counters;
      for (const n of DATA_PLANE_COUNTER_NAMES) check(c[n] === wantPlane[n], () => `dp.counters.${n} = ${c[n]}, want ${wantPlane[n]}`);
    };

    // --- the kernel: GRE by Call ID (BPF), TUN by steering (eBPF) ---------------------------------
    type GreItem = { call: Call; data: Buffer };
    const kernelGre = (items: GreItem[]): void => {
      for (const k of [0, 1]) {
        const mine = items.filter((x) => x.data.readUInt16BE(6) % 2 === k);
        if (mine.length > 0) gres[k]!.inject(mine.map((x) => ({ data: x.data, from: x.call.peerAddr })));
      }
    };
    const kernelTun = (packets: Buffer[]): void => {
      for (const k of [0, 1]) {
        const mine = packets.filter((p) => (steering.map.get(p.readUInt32BE(16)) ?? 0) % 2 === k);
        if (mine.length > 0) tuns[k]!.inject(mine);
      }
    };

    // --- predictions -----------------------------------------------------------------------------
    /** False while the shard still holds older keys of this call (a renegotiation on its way): data would decrypt to garbage. */
    const dataInUsable = (call: Call): boolean => {
      const e = views[call.shard]!.byCall.get(call.id);
      return !(e !== undefined && e.call === call && e.up && e.gen !== call.peerEnc.length - 1);
    };

    /** One data packet from the peer (MPPE with its current keys, or clear before it has any). */
    const dataIn = (call: Call): GreItem => {
      const gen = call.peerEnc.length - 1;
      const src = call.s.address ?? ip4(10, 99, 0, call.id);
      const ip = ipv4(src, HOST_IP, int(160), ++tagCounter);
      const data = fromPeer(call, gen < 0 ? Buffer.concat([CLEAR_IP_HEAD, ip]) : mppeFrame(call, gen, ip));
      const e = views[call.shard]!.byCall.get(call.id);
      if (e === undefined) wantPlane.greUnknownCall++;
      else if (e.call !== call) wantPlane.greWrongSource++;
      else {
        bump(call, 'rxFrames');
        if (!e.up)
          bump(call, 'rxNotReady'); // no decryptor yet (or again), or clear IP while MPPE is required
        else {
          expectTun[call.shard]!.push(ip);
          bump(call, 'rxPackets');
          bump(call, 'rxBytes', ip.length);
        }
      }
      stats.in++;
      return { call, data };
    };

    /** One LCP Echo-Request from the peer: to the link (directly on shard 0, as a message from shard 1). */
    const controlIn = (call: Call): GreItem => {
      const tag = ++tagCounter;
      const data = fromPeer(call, Buffer.concat([LCP_HEAD, lcpEcho(9, tag)]));
      const e = views[call.shard]!.byCall.get(call.id);
      if (e === undefined) wantPlane.greUnknownCall++;
      else if (e.call !== call) wantPlane.greWrongSource++;
      else {
        bump(call, 'rxFrames');
        bump(call, 'rxControl'); // counted where the frame is handed on, whether or not it arrives
        if (call.shard === 0) call.inputs.push(tag);
        else expectToMain.push({ call, tag });
      }
      return { call, data };
    };

    /** One packet to `address` from the TUN side. */
    const dataOut = (address: number): Buffer => {
      const ip = ipv4(HOST_IP, address, int(160), ++tagCounter);
      const q = wantSteering.get(address) ?? 0;
      const actual = steering.map.get(address) ?? 0;
      check(actual === q, () => `steering sends ${fmt(address)} to queue ${actual}, want ${q}`);
      const view = views[q]!;
      const to = view.byAddress.get(address);
      const e = to === undefined ? undefined : view.byCall.get(to.id);
      if (to === undefined || e === undefined || e.call !== to) wantPlane.tunNoSession++;
      else if (!e.up)
        bump(to, 'txDropped'); // its network phase is down
      else {
        expectGre[q]!.push({ call: to, kind: 'data', gen: e.gen, ip });
        bump(to, 'txPackets');
        bump(to, 'txBytes', ip.length);
        // The address has a new owner but the shard has not yet heard that the old one ended.
        if (addressOwner.get(address) !== to) stats.stale++;
      }
      stats.out++;
      return ip;
    };

    /** After a GRE batch on shard 1: the control frames it queued for the main thread. */
    const verifyToMain = (before: number): void => {
      const got = ch.toMain.slice(before);
      const want = expectToMain.splice(0);
      check(got.length === want.length, () => `shard 1 queued ${got.length} messages for the main thread, want ${want.length}`);
      got.forEach((m, i) => {
        const w = want[i]!;
        check(
          m.t === 'control' && m.callId === w.call.id && m.protocol === PppProtocol.LCP && Buffer.from(m.payload).readUInt32BE(8) === w.tag,
          () => `message ${i} to the main thread: ${JSON.stringify(m)}, want LCP tag ${w.tag} of call ${w.call.id}`,
        );
      });
    };

    const injectGre = (items: GreItem[]): void => {
      const before = ch.toMain.length;
      kernelGre(items);
      verifyToMain(before);
      verifyOutputs();
    };

    // --- the session lifecycle, as PptpServer drives it ---------------------------------------------
    const newKeys = (call: Call): { sendKey: Buffer; recvKey: Buffer; bits: 128; stateless: true; resume: false } => {
      const sendKey = Buffer.alloc(16);
      const recvKey = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) {
        sendKey[i] = int(256);
        recvKey[i] = int(256);
      }
      call.keyHex.push(recvKey.toString('hex'));
      call.peerEnc.push(new MppeEncryptor(recvKey, 128, true)); // the peer encrypts with our receive key
      call.peerDec.push(new MppeDecryptor(sendKey, 128, true));
      return { sendKey, recvKey, bits: 128, stateless: true, resume: false };
    };

    const allocateAddress = (call: Call): number => {
      const a = rnd() < STATIC_REUSE ? freeAddresses.pop()! : freeAddresses.shift()!;
      if (usedAddresses.has(a)) stats.addressReuse++;
      usedAddresses.add(a);
      addressOwner.set(a, call);
      call.s.address = a; // PptpServer.assignAddress, during IPCP
      return a;
    };

    const register = (): Call => {
      let id = callIdCursor;
      while (live.has(id)) id = id === CALL_ID_MAX ? 1 : id + 1;
      callIdCursor = id === CALL_ID_MAX ? 1 : id + 1;
      if (usedCallIds.has(id)) stats.callIdReuse++;
      usedCallIds.add(id);
      const peerAddr = PEER_BASE + peerCounter++;
      const link = new LinkStub();
      const s = new Session({
        callId: id,
        peerCallId: 1 + int(0xffff),
        peerAddress: peerAddr,
        connection: {} as unknown as ControlConnection,
        log,
        mppeRequired: true,
        link: () => link as unknown as PppLink,
      });
      s.startLink();
      const call: Call = {
        id,
        shard: dp.shardOf(id),
        peerCallId: s.peerCallId,
        peerAddr,
        s,
        link,
        keyHex: [],
        peerEnc: [],
        peerDec: [],
        started: false,
        up: false,
        ended: false,
        peerSeq: 0,
        seqFromServer: 0,
        want: {},
        inputs: [],
        ctlOut: [],
      };
      check(call.shard === id % 2, () => `shardOf(${id}) = ${call.shard}`);
      live.set(id, call);
      byId.set(id, call);
      byPeer.set(peerAddr, call);
      recentEnded = recentEnded.filter((c) => c.id !== id);
      dp.register(s);
      if (call.shard === 0) views[0]!.register(call);
      stats.registered++;
      return call;
    };

    const startData = (call: Call): void => {
      const address = call.s.address ?? allocateAddress(call);
      const keys = newKeys(call);
      const gen = call.keyHex.length - 1;
      dp.startData(call.s, address, keys);
      if (call.shard === 0) views[0]!.up(call, address, gen);
      else wantSteering.set(address, 1);
      check(call.s.dataReady && call.s.address === address, () => `startData left call ${call.id} dataReady=${call.s.dataReady}`);
      if (call.started) stats.restarted++;
      else stats.started++;
      call.started = true;
      call.up = true;
    };

    const stopData = (call: Call): void => {
      dp.stopData(call.s);
      if (call.shard === 0) views[0]!.down(call);
      call.up = false;
      stats.downs++;
    };

    const end = (call: Call): void => {
      call.s.closed = true;
      call.s.dataReady = false;
      dp.unregister(call.s);
      dp.stopData(call.s);
      if (call.shard === 0) views[0]!.unregister(call);
      else if (call.s.address !== null) wantSteering.delete(call.s.address);
      call.ended = true;
      call.up = false;
      live.delete(call.id);
      const a = call.s.address;
      if (a !== null) {
        addressOwner.delete(a);
        freeAddresses.push(a);
      }
      recentEnded.push(call);
      if (recentEnded.length > 8) recentEnded.shift();
      stats.ended++;
      if (!call.started) stats.endedBeforeUp++;
    };

    const sendControl = (call: Call): void => {
      const payload = lcpEcho(10, ++tagCounter);
      dp.sendControl(call.s, PppProtocol.LCP, payload);
      call.ctlOut.push(payload);
      if (call.shard === 0) expectGre[0]!.push({ call, kind: 'ctl', payload });
    };

    // --- message delivery, one at a time, with the model following --------------------------------
    const deliverToShard = (): void => {
      const m = ch.toShard.shift()!;
      const v = views[1]!;
      const e = 'callId' in m ? v.byCall.get(m.callId) : undefined;
      switch (m.t) {
        case 'register': {
          const call = byPeer.get(m.peerAddress);
          check(call !== undefined && call.id === m.callId && call.peerCallId === m.peerCallId && m.mppeRequired, () => `register message ${JSON.stringify(m)}`);
          v.register(call!);
          break;
        }
        case 'up': {
          check(e !== undefined, () => `'up' for call ${m.callId} that shard 1 does not know`);
          const gen = e!.call.keyHex.indexOf(Buffer.from(m.mppe!.recvKey).toString('hex'));
          check(gen >= 0 && m.mppe!.sendKey.byteLength === 16 && m.mppe!.bits === 128 && m.mppe!.stateless, () => `'up' for call ${m.callId} with keys that were never given`);
          v.up(e!.call, m.address, gen);
          break;
        }
        case 'down':
          if (e !== undefined) v.down(e.call);
          break;
        case 'unregister':
          if (e !== undefined) v.unregister(e.call);
          break;
        case 'control':
          if (e !== undefined) expectGre[1]!.push({ call: e.call, kind: 'ctl', payload: Buffer.from(m.payload) });
          else wantPlane.controlDropped++;
          break;
        default:
          fail(`unexpected message to shard 1: ${JSON.stringify(m)}`);
      }
      ch.dispatchToShard(m);
      stats.toShard++;
      verifyOutputs();
    };

    const deliverToMain = (): void => {
      const m = ch.toMain.shift()!;
      if (m.t !== 'control') return fail(`unexpected message from shard 1: ${JSON.stringify(m)}`);
      const call = byId.get(m.callId)!;
      // A frame for a call that ended while it was on its way is dropped (ShardedDataPlane.fromShard).
      if (!call.ended) call.inputs.push(Buffer.from(m.payload).readUInt32BE(8));
      else wantPlane.controlDropped++;
      ch.dispatchToMain(m);
      stats.toMain++;
      check(call.link.inputs.length === call.inputs.length, () => `call ${call.id}: link got ${call.link.inputs.length} control frames, want ${call.inputs.length}`);
      verifyOutputs();
    };

    const flush = (): void => {
      while (ch.toShard.length > 0 || ch.toMain.length > 0) {
        while (ch.toShard.length > 0) deliverToShard();
        while (ch.toMain.length > 0) deliverToMain();
      }
    };

    // --- random traffic, mid-race ----------------------------------------------------------------
    const traffic = (): void => {
      const candidates = [...live.values(), ...recentEnded];
      if (candidates.length === 0) return;
      const picks = Array.from({ length: 1 + int(12) }, () => ({ call: pick(candidates), r: rnd() }));
      // Each packet's fate is predicted when it is built, so the GRE batch goes in before the TUN one is built.
      const items: GreItem[] = [];
      for (const { call, r } of picks) {
        if (r < 0.45) {
          if (dataInUsable(call)) items.push(dataIn(call));
        } else if (r < 0.6) items.push(controlIn(call));
      }
      injectGre(items); // the kernel hands each shard's socket its part, as one batch
      const toTun: Buffer[] = [];
      for (const { call, r } of picks) if (r >= 0.6 && call.s.address !== null) toTun.push(dataOut(call.s.address));
      kernelTun(toTun);
      verifyOutputs();
    };

    // --- after a round: everything delivered, everything must hold --------------------------------
    const verifySettled = (): void => {
      step = 'settled';
      flush();
      for (const k of [0, 1]) {
        const v = views[k]!;
        const calls = [...live.values()].filter((c) => c.shard === k);
        // Once every message is in, what shard k was told must be what the main thread thinks: its live calls, up or not.
        const told = [...v.byCall.values()].map((e) => `${e.call.id}${e.up ? '' : ' (down)'}`).join(', ');
        const truth = calls.map((c) => `${c.id}${c.up ? '' : ' (down)'}`).join(', ');
        check(
          v.byCall.size === calls.length && calls.every((c) => v.byCall.get(c.id)?.call === c && v.byCall.get(c.id)!.up === c.up),
          () => `shard ${k} was told of calls [${told}], the live ones are [${truth}]`,
        );
      }
      check(
        steering.map.size === wantSteering.size && [...wantSteering].every(([a, q]) => steering.map.get(a) === q),
        () => `steering ${JSON.stringify([...steering.map].map(([a, q]) => [fmt(a), q]))}, want ${JSON.stringify([...wantSteering].map(([a, q]) => [fmt(a), q]))}`,
      );

      for (const call of live.values()) {
        const who = `live call ${call.id} on shard ${call.shard}`;
        if (call.up) {
          // Peer → TUN: decrypted, unchanged, on its own shard's TUN queue.
          const rx0 = want(call, 'rxPackets');
          injectGre([dataIn(call)]);
          check(want(call, 'rxPackets') === rx0 + 1, () => `${who}: a packet from the peer did not reach TUN queue ${call.shard}`);
          // TUN → peer: from its own shard's socket, to its peer, decrypting to the same bytes.
          const tx0 = want(call, 'txPackets');
          kernelTun([dataOut(call.s.address!)]);
          verifyOutputs();
          check(want(call, 'txPackets') === tx0 + 1, () => `${who}: a packet to ${fmt(call.s.address!)} did not reach its peer`);
          stats.probesIn++;
          stats.probesOut++;
        } else {
          // Registered, not (or no longer) up: data is refused, counted on the session.
          const nr0 = want(call, 'rxNotReady');
          injectGre([dataIn(call)]);
          check(want(call, 'rxNotReady') === nr0 + 1, () => `${who}: data before network-up not refused as rxNotReady`);
          if (call.s.address !== null) {
            // Nothing may leave (verifyOutputs); counted as txDropped once it was up, else tunNoSession.
            const d0 = wantPlane.tunNoSession + want(call, 'txDropped');
            kernelTun([dataOut(call.s.address)]);
            verifyOutputs();
            check(wantPlane.tunNoSession + want(call, 'txDropped') === d0 + 1, () => `${who}: a packet for an address not up was not dropped`);
          }
        }
        // The counters as the main thread reads them (shard 1: the shared-memory row the thread writes).
        const c = call.s.counters;
        for (const n of SESSION_COUNTER_NAMES) check(c[n] === want(call, n), () => `${who}: counters.${n} = ${c[n]}, want ${want(call, n)} (all: ${JSON.stringify(c)})`);
        check(
          call.link.inputs.length === call.inputs.length && call.link.inputs.every((x, i) => x.protocol === PppProtocol.LCP && x.payload.readUInt32BE(8) === call.inputs[i]),
          () => `${who}: link inputs out of step`,
        );
        check(call.link.resetRequests === 0, () => `${who}: unexpected CCP Reset-Request`);
        check(call.ctlOut.length === 0, () => `${who}: ${call.ctlOut.length} control frames never reached the peer`);
      }

      for (const call of recentEnded) {
        if (live.has(call.id)) continue;
        const who = `ended call ${call.id} (shard ${call.shard})`;
        // GRE for an ended Call ID: unknown call, nothing to any TUN (verifyOutputs checks both queues).
        const u0 = wantPlane.greUnknownCall;
        injectGre([dataIn(call)]);
        check(wantPlane.greUnknownCall === u0 + 1, () => `${who}: its GRE is not an unknown call`);
        // Its old address, when nobody holds it now: nothing leaves any GRE socket.
        const a = call.s.address;
        if (a !== null && !addressOwner.has(a)) {
          const ns0 = wantPlane.tunNoSession;
          kernelTun([dataOut(a)]);
          verifyOutputs();
          check(wantPlane.tunNoSession === ns0 + 1, () => `${who}: a packet for its old address ${fmt(a)} went somewhere`);
        }
      }
    };

    // --- the churn ---------------------------------------------------------------------------------
    while (stats.started < TARGET_STARTS) {
      round++;
      for (let n = 1 + int(10); n > 0; n--) {
        const liveCalls = [...live.values()];
        const notUp = liveCalls.filter((c) => !c.up);
        const upCalls = liveCalls.filter((c) => c.up);
        const weights: Array<[string, number]> = [
          ['start', live.size < MAX_LIVE ? 3 : 0],
          ['up', notUp.length > 0 ? 1.5 : 0],
          ['end', live.size > 0 ? 2.2 : 0],
          ['down', upCalls.length > 0 ? 0.3 : 0],
          ['deliver-to-shard', ch.toShard.length > 0 ? 2 : 0],
          ['deliver-to-main', ch.toMain.length > 0 ? 1 : 0],
          ['traffic', 2],
          ['control-out', live.size > 0 ? 0.7 : 0],
        ];
        let r = rnd() * weights.reduce((a, [, w]) => a + w, 0);
        let action = 'traffic';
        for (const [name, w] of weights) {
          if (r < w) {
            action = name;
            break;
          }
          r -= w;
        }
        step = action;
        switch (action) {
          case 'start': {
            const call = register();
            const r2 = rnd();
            if (r2 < 0.8) startData(call);
            else if (r2 < 0.9) allocateAddress(call); // IPCP gave an address; MPPE not up yet
            break;
          }
          case 'up':
            startData(pick(notUp));
            break;
          case 'end':
            end(pick(liveCalls));
            break;
          case 'down':
            stopData(pick(upCalls));
            break;
          case 'deliver-to-shard':
            for (let k = rnd() < 0.2 ? ch.toShard.length : 1 + int(ch.toShard.length); k > 0; k--) deliverToShard();
            break;
          case 'deliver-to-main':
            for (let k = 1 + int(ch.toMain.length); k > 0; k--) deliverToMain();
            break;
          case 'traffic':
            traffic();
            break;
          case 'control-out':
            sendControl(pick(liveCalls));
            break;
        }
        verifyOutputs();
      }
      verifySettled();
    }

    // Closing: every shard confirms, nothing left behind.
    step = 'close';
    const closed = dp.closeAll();
    while (ch.toShard.length > 0) ch.dispatchToShard(ch.toShard.shift()!);
    while (ch.toMain.length > 0) ch.dispatchToMain(ch.toMain.shift()!);
    await closed;

    const ms = Math.round(performance.now() - t0);
    console.log(
      `churn: ${stats.started} sessions started (${stats.registered} registered, ${stats.restarted} restarts, ${stats.downs} network-downs), ${stats.ended} ended (${stats.endedBeforeUp} before network-up), ` +
        `${stats.in} packets in / ${stats.out} out (${stats.probesIn} settled probes each way), ${stats.toShard}+${stats.toMain} thread messages, ` +
        `${stats.callIdReuse} Call ID reuses, ${stats.addressReuse} address reuses; drops as predicted: greUnknownCall ${wantPlane.greUnknownCall}, tunNoSession ${wantPlane.tunNoSession}, ` +
        `controlDropped ${wantPlane.controlDropped}, rxNotReady ${stats.rxNotReady}, txDropped ${stats.txDropped}; ${stats.stale} in-flight packets to an address's previous owner; ${round} rounds, seed ${SEED}, ${ms} ms`,
    );
    expect(stats.started).toBeGreaterThanOrEqual(3000);
    expect(stats.ended).toBeGreaterThan(3000);
    expect(stats.callIdReuse).toBeGreaterThan(1000);
    expect(stats.addressReuse).toBeGreaterThan(1000);
    expect(stats.restarted).toBeGreaterThan(0);
  });
});
