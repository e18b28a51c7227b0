// DataPlane + Session over the in-memory GRE socket and TUN, with the real GRE, PPP and MPPE codecs.
// A simulated client ("peer") builds and opens GRE packets with the mirror MPPE pair: it encrypts
// with the server's recv key and decrypts with the server's send key.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GreHeaderView, GreParseResult, parseGreHeader } from '../../gre/GreHeader.js';
import type { OutgoingGreBatch } from '../../io/GreSocket.js';
import { MemoryGreSocket, type InjectedGrePacket } from '../../io/MemoryGreSocket.js';
import type { PacketBatch } from '../../io/PacketBatch.js';
import { MppeDecryptor, MppeEncryptor, type MppeBits } from '../../ppp/mppe/MppeCipher.js';
import type { PppLink } from '../../ppp/PppLink.js';
import { PppProtocol, parsePppFrame, type PppFrameView } from '../../ppp/PppProtocol.js';
import type { ControlConnection } from '../../pptp/ControlConnection.js';
import { DataPlane } from '../../dataplane/DataPlane.js';
import { DataPlaneShard, newPlaneCounterCells } from '../../dataplane/DataPlaneShard.js';
import { Session } from '../../session/Session.js';
import { newSessionCounterCells } from '../../dataplane/SessionCounters.js';
import { ShardedDataPlane } from '../../dataplane/ShardedDataPlane.js';
import { MessageChannel } from 'node:worker_threads';
import { MemoryTun } from '../../io/MemoryTun.js';
import type { OutgoingTunBatch } from '../../io/TunDevice.js';
import { greWrap, ipv4, prng } from './TestPackets.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** Hex strings: a fast, readable comparison for long packet lists. */
const hexAll = (bufs: Buffer[]): string[] => bufs.map((b) => b.toString('hex'));
const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

const SERVER_ADDR = ip4(198, 51, 100, 1);
const PEER_ADDR = ip4(203, 0, 113, 7); // high bit set: catches signed/unsigned address mix-ups
const OTHER_ADDR = ip4(203, 0, 113, 8);
const CLIENT_IP = ip4(192, 168, 75, 10); // the session's tunnel address
const HOST_IP = ip4(192, 168, 75, 1);
const CALL_ID = 0x1234; // ours: what the peer puts in its GRE Call ID field
const PEER_CALL_ID = 0xbeef; // the peer's: what we put in ours
const SEND_KEY = hex('8b7cdc149b993a1ba118cb153f56dccb'); // server MasterSendKey
const RECV_KEY = hex('d5f0e9521e3ea9589645e86051c82226'); // server MasterRecvKey
const GRE_SLOT = 2048; // DEFAULT_SLOT_SIZE of both memory devices

interface MppeMode {
  bits: MppeBits;
  stateless: boolean;
}

/** PppLink stand-in: records what the data plane hands to the control plane. */
class LinkStub {
  readonly inputs: { protocol: number; payload: Buffer }[] = [];
  resetRequests = 0;
  constructor(public framing: { acfc: boolean; pfc: boolean }) {}
  input(protocol: number, payload: Buffer): void {
    this.inputs.push({ protocol, payload });
  }
  start(): void {}
  sendCcpResetRequest(): void {
    this.resetRequests++;
  }
}

/** MemoryGreSocket that also remembers which slabs it delivered and what each sendBatch referenced. */
class RecordingGreSocket extends MemoryGreSocket {
  readonly slabs = new Set<Buffer>();
  readonly sendCalls: { buf: Buffer; count: number; offsets: number[] }[] = [];
  override onBatch(handler: (batch: PacketBatch) => void): void {
    super.onBatch((b) => {
      this.slabs.add(b.buf);
      handler(b);
    });
  }
  override sendBatch(batch: OutgoingGreBatch): number {
    this.sendCalls.push({ buf: batch.buf, count: batch.count, offsets: Array.from(batch.offsets.subarray(0, batch.count)) });
    return super.sendBatch(batch);
  }
}

class RecordingTun extends MemoryTun {
  readonly slabs = new Set<Buffer>();
  readonly writeCalls: { buf: Buffer; count: number; offsets: number[] }[] = [];
  override onBatch(handler: (batch: PacketBatch) => void): void {
    super.onBatch((b) => {
      this.slabs.add(b.buf);
      handler(b);
    });
  }
  override writeBatch(batch: OutgoingTunBatch): number {
    this.writeCalls.push({ buf: batch.buf, count: batch.count, offsets: Array.from(batch.offsets.subarray(0, batch.count)) });
    return super.writeBatch(batch);
  }
}

/** The client end of the call: numbers its GRE packets and runs the mirror MPPE pair. */
class PeerSim {
  seq = 0;
  readonly enc: MppeEncryptor | null;
  readonly dec: MppeDecryptor | null;
  constructor(
    mppe: MppeMode | null,
    private readonly callId = CALL_ID,
  ) {
    this.enc = mppe ? new MppeEncryptor(RECV_KEY, mppe.bits, mppe.stateless) : null;
    this.dec = mppe ? new MppeDecryptor(SEND_KEY, mppe.bits, mppe.stateless) : null;
  }

  /** PPP frame for one IP packet: FF 03 00 FD [MPPE hdr][00 21 ip] or, without MPPE, FF 03 00 21 ip. */
  ipFrame(ip: Buffer): Buffer {
    if (this.enc === null) return Buffer.concat([hex('ff030021'), ip]);
    const buf = Buffer.alloc(8 + ip.length);
    buf.writeUInt32BE(0xff0300fd, 0);
    buf[6] = 0x00;
    buf[7] = 0x21;
    ip.copy(buf, 8);
    this.enc.encrypt(buf, 6, ip.length + 2);
    return buf;
  }

  /** A data GRE packet carrying `ip`, next sequence number. */
  ipPacket(ip: Buffer): Buffer {
    return greWrap(this.callId, this.ipFrame(ip), ++this.seq);
  }

  frame(ppp: Buffer): Buffer {
    return greWrap(this.callId, ppp, ++this.seq);
  }
}

interface Opened {
  gre: GreHeaderView;
  ppp: PppFrameView | null;
  /** The IP packet after decryption (or the clear one), when the frame carried IPv4. */
  ip: Buffer | null;
}

/** Parses one packet the server sent, decrypting with the peer's decryptor. */
function openFromServer(data: Buffer, dec: MppeDecryptor | null): Opened {
  const gre = new GreHeaderView();
  expect(parseGreHeader(data, 0, data.length, gre)).toBe(GreParseResult.Ok);
  expect(gre.headerLength + gre.payloadLength).toBe(data.length);
  if (gre.payloadLength === 0) return { gre, ppp: null, ip: null };
  const ppp: PppFrameView = { protocol: 0, offset: 0, length: 0 };
  expect(parsePppFrame(data, gre.payloadOffset, gre.payloadLength, ppp)).toBe(true);
  if (ppp.protocol === PppProtocol.IPv4) return { gre, ppp, ip: Buffer.from(data.subarray(ppp.offset, ppp.offset + ppp.length)) };
  if (ppp.protocol === PppProtocol.Mppe) {
    expect(dec).not.toBeNull();
    const body = Buffer.from(data.subarray(ppp.offset, ppp.offset + ppp.length));
    const n = dec!.decrypt(body, 0, body.length);
    expect(n).toBeGreaterThan(2);
    expect(body.readUInt16BE(2)).toBe(PppProtocol.IPv4);
    return { gre, ppp, ip: body.subarray(4, 2 + n) };
  }
  return { gre, ppp, ip: null };
}

interface Harness {
  gre: RecordingGreSocket;
  tun: RecordingTun;
  dp: DataPlane;
  session: Session;
  link: LinkStub;
  peer: PeerSim;
}

const harnesses: DataPlane[] = [];
afterEach(() => {
  for (const dp of harnesses.splice(0)) dp.close();
  vi.useRealTimers();
});

/**
 * One registered session. `up` plays PptpServer's networkUp (ciphers, address, dataReady);
 * mppeRequired defaults to "MPPE negotiated".
 */
function setup(opts: { mppe?: MppeMode | null; up?: boolean; mppeRequired?: boolean; framing?: { acfc: boolean; pfc: boolean } } = {}): Harness {
  const mppe = opts.mppe === undefined ? { bits: 128 as MppeBits, stateless: true } : opts.mppe;
  const log = pino({ level: 'silent' });
  const gre = new RecordingGreSocket(SERVER_ADDR);
  const tun = new RecordingTun();
  const dp = new DataPlane(gre, tun, log);
  harnesses.push(dp);
  const link = new LinkStub(opts.framing ?? { acfc: false, pfc: false });
  const session = new Session({
    callId: CALL_ID,
    peerCallId: PEER_CALL_ID,
    peerAddress: PEER_ADDR,
    connection: {} as unknown as ControlConnection,
    log,
    mppeRequired: opts.mppeRequired ?? mppe !== null,
    link: () => link as unknown as PppLink,
  });
  session.startLink();
  dp.register(session);
  if (opts.up ?? true) dp.startData(session, CLIENT_IP, mppe ? { sendKey: SEND_KEY, recvKey: RECV_KEY, resume: false, ...mppe } : null);
  return { gre, tun, dp, session, link, peer: new PeerSim(mppe) };
}

const fromPeer = (data: Buffer): InjectedGrePacket => ({ data, from: PEER_ADDR });

describe('peer → TUN', () => {
  it.each<[MppeBits, boolean, number]>([
    [128, true, 100],
    [128, false, 300], // crosses the stateful flag packet (CC 0x0FF)
    [56, true, 70],
    [40, false, 70],
  ])('MPPE-%i stateless=%s: %i packets decrypted in place, written byte-exact, in order, one writeBatch per GRE batch', (bits, stateless, n) => {
    const h = setup({ mppe: { bits, stateless } });
    const ips = Array.from({ length: n }, (_, k) => ipv4(CLIENT_IP, HOST_IP, (k * 97) % 1400, k));
    const packets = ips.map((ip) => fromPeer(h.peer.ipPacket(ip)));

    const calls = h.gre.inject(packets);

    const greBatches = Math.ceil(n / 64);
    expect(calls).toBe(greBatches);
    expect(h.tun.writeCalls.length).toBe(greBatches);
    expect(h.tun.writeCalls.map((c) => c.count)).toEqual(Array.from({ length: greBatches }, (_, i) => Math.min(64, n - 64 * i)));
    expect(hexAll(h.tun.written)).toEqual(hexAll(ips));
    // Zero-copy: each write references the GRE receive slab, packet i still inside slot i.
    for (const c of h.tun.writeCalls) {
      expect(h.gre.slabs.has(c.buf)).toBe(true);
      c.offsets.forEach((off, i) => {
        expect(Math.floor(off / GRE_SLOT)).toBe(i);
      });
    }
    expect(h.session.counters.rxPackets).toBe(n);
    expect(h.session.counters.rxBytes).toBe(ips.reduce((a, p) => a + p.length, 0));
    expect(h.session.counters.rxUndecryptable).toBe(0);
    expect(h.session.sequencer.lastReceivedSeq).toBe(n);
    expect(h.link.inputs).toEqual([]);
    expect(h.tun.writeCalls.length).toBe(h.gre.batchesDelivered);
  });

  it('without MPPE (not required): FF 03 00 21 and the compressed 21 form both reach the TUN', () => {
    const h = setup({ mppe: null, mppeRequired: false });
    const a = ipv4(CLIENT_IP, HOST_IP, 40, 1);
    const b = ipv4(CLIENT_IP, HOST_IP, 0, 2);
    h.gre.inject([fromPeer(h.peer.ipPacket(a)), fromPeer(h.peer.frame(Buffer.concat([hex('21'), b])))]);
    expect(h.tun.written).toEqual([a, b]);
    expect(h.tun.writeCalls.length).toBe(1);
    expect(h.session.counters.rxPackets).toBe(2);
  });

  it('an inner protocol sent compressed (PFC) inside MPPE is understood', () => {
    const h = setup();
    const ip = ipv4(CLIENT_IP, HOST_IP, 33, 9);
    const buf = Buffer.alloc(7 + ip.length);
    buf.writeUInt32BE(0xff0300fd, 0);
    buf[6] = 0x21;
    ip.copy(buf, 7);
    h.peer.enc!.encrypt(buf, 6, ip.length + 1);
    h.gre.inject([fromPeer(h.peer.frame(buf))]);
    expect(h.tun.written).toEqual([ip]);
  });
});

describe('TUN → peer', () => {
  it.each<[boolean, number]>([
    [true, 100],
    [false, 300],
  ])('MPPE-128 stateless=%s: %i packets become GRE v1 to the peer, seq from 1, ack piggy-backed once', (stateless, n) => {
    const h = setup({ mppe: { bits: 128, stateless } });
    // The peer sent something (seq 7) first: an ack is owed.
    h.peer.seq = 6;
    h.gre.inject([fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 10, 0)))]);
    expect(h.gre.sent).toEqual([]);

    const ips = Array.from({ length: n }, (_, k) => ipv4(HOST_IP, CLIENT_IP, (k * 131) % 1400, k));
    const calls = h.tun.inject(ips);

    const tunBatches = Math.ceil(n / 64);
    expect(calls).toBe(tunBatches);
    expect(h.gre.sendCalls.length).toBe(tunBatches);
    for (const c of h.gre.sendCalls) expect(h.tun.slabs.has(c.buf)).toBe(true); // sent from the TUN slab
    expect(h.gre.sent.length).toBe(n);
    h.gre.sent.forEach((p, k) => {
      expect(p.to).toBe(PEER_ADDR);
      const o = openFromServer(p.data, h.peer.dec);
      expect(p.data[0]).toBe(0x30); // K|S
      expect(p.data[1]).toBe(k === 0 ? 0x81 : 0x01); // A only on the first, version 1
      expect(o.gre.callId).toBe(PEER_CALL_ID);
      expect(o.gre.hasSeq).toBe(true);
      expect(o.gre.seq).toBe(k + 1);
      expect(o.gre.hasAck).toBe(k === 0);
      if (k === 0) expect(o.gre.ack).toBe(7);
      expect(p.data.subarray(o.gre.payloadOffset, o.gre.payloadOffset + 4)).toEqual(hex('ff0300fd'));
      expect(o.ip!.toString('hex')).toBe(ips[k]!.toString('hex'));
    });
    expect(h.session.counters.txPackets).toBe(n);
    expect(h.session.counters.txBytes).toBe(ips.reduce((a, p) => a + p.length, 0));
  });

  it('honours negotiated ACFC/PFC on data: the PPP header is the single octet FD', () => {
    const h = setup({ framing: { acfc: true, pfc: true } });
    const ip = ipv4(HOST_IP, CLIENT_IP, 64, 3);
    h.tun.inject([ip]);
    const o = openFromServer(h.gre.sent[0]!.data, h.peer.dec);
    expect(h.gre.sent[0]!.data[o.gre.payloadOffset]).toBe(0xfd);
    expect(o.gre.payloadLength).toBe(1 + 2 + 2 + ip.length);
    expect(o.ip).toEqual(ip);
  });

  it('without MPPE: clear FF 03 00 21 + the IP packet', () => {
    const h = setup({ mppe: null, mppeRequired: false });
    const ip = ipv4(HOST_IP, CLIENT_IP, 100, 4);
    h.tun.inject([ip]);
    const o = openFromServer(h.gre.sent[0]!.data, null);
    expect(o.ppp!.protocol).toBe(PppProtocol.IPv4);
    expect(h.gre.sent[0]!.data.subarray(o.gre.payloadOffset, o.gre.payloadOffset + 4)).toEqual(hex('ff030021'));
    expect(o.ip).toEqual(ip);
  });
});

describe('drops are counted, never thrown', () => {
  it('GRE from a source other than the control connection peer: greWrongSource, no state consumed', () => {
    const h = setup();
    const pkt = h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, 1));
    const withAck = greWrap(CALL_ID, Buffer.alloc(0), -1, 99);
    expect(() =>
      h.gre.inject([
        { data: pkt, from: OTHER_ADDR },
        { data: withAck, from: OTHER_ADDR },
      ]),
    ).not.toThrow();
    expect(h.dp.counters.greWrongSource).toBe(2);
    expect(h.tun.written).toEqual([]);
    expect(h.session.sequencer.lastReceivedSeq).toBe(-1);
    expect(h.session.sequencer.lastAckReceived).toBe(-1);
    // The same packet from the real peer still decrypts: neither seq nor MPPE state moved.
    h.gre.inject([fromPeer(pkt)]);
    expect(h.tun.written.length).toBe(1);
  });

  it('unknown Call ID: greUnknownCall; after unregister the call is unknown too', () => {
    const h = setup();
    const ip = ipv4(CLIENT_IP, HOST_IP, 20, 1);
    h.gre.inject([fromPeer(greWrap(CALL_ID + 1, h.peer.ipFrame(ip), 1))]);
    expect(h.dp.counters.greUnknownCall).toBe(1);
    h.dp.unregister(h.session);
    h.gre.inject([fromPeer(h.peer.ipPacket(ip))]);
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 2)]);
    expect(h.dp.counters.greUnknownCall).toBe(2);
    expect(h.dp.counters.tunNoSession).toBe(1);
    expect(h.tun.written).toEqual([]);
    expect(h.gre.sent).toEqual([]);
  });

  it('malformed GRE: greMalformed for each kind', () => {
    const h = setup();
    const good = greWrap(CALL_ID, hex('ff03c021 09010008 01020304'), 1);
    const mutate = (f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    const bad = [
      Buffer.alloc(0),
      good.subarray(0, 7), // shorter than the base header
      good.subarray(0, 10), // S announced, seq cut
      mutate((b) => (b[1] = 0x00)), // GRE version 0
      mutate((b) => b.writeUInt16BE(0x0800, 2)), // not PPP
      mutate((b) => (b[0] |= 0x80)), // C set
      mutate((b) => (b[0] &= ~0x20)), // K clear
      mutate((b) => b.writeUInt16BE(0xffff, 4)), // payload length past the end
    ];
    expect(() => h.gre.inject(bad.map(fromPeer))).not.toThrow();
    expect(h.dp.counters.greMalformed).toBe(bad.length);
    expect(h.link.inputs).toEqual([]);
    h.gre.inject([fromPeer(good)]);
    expect(h.link.inputs.length).toBe(1);
  });

  it('duplicate and older sequence numbers: greOutOfOrder, never handed to MPPE', () => {
    const h = setup();
    const ips = [0, 1, 2].map((k) => ipv4(CLIENT_IP, HOST_IP, 30, k));
    const f = ips.map((ip) => h.peer.ipFrame(ip)); // MPPE CC 0, 1, 2
    const p5 = greWrap(CALL_ID, f[0]!, 5);
    const p3 = greWrap(CALL_ID, f[1]!, 3);
    const p6 = greWrap(CALL_ID, f[2]!, 6);
    h.gre.inject([p5, p5, p3, p6].map(fromPeer));
    expect(h.dp.counters.greOutOfOrder).toBe(2);
    expect(h.session.counters.rxUndecryptable).toBe(0);
    expect(h.tun.written).toEqual([ips[0], ips[2]]);
  });

  it('a sequence number far ahead (spoofed): greSeqJump, and the genuine packets that follow are delivered', () => {
    const h = setup();
    const ips = [0, 1, 2].map((k) => ipv4(CLIENT_IP, HOST_IP, 30, k));
    const f = ips.map((ip) => h.peer.ipFrame(ip));
    h.gre.inject([greWrap(CALL_ID, f[0]!, 5), greWrap(CALL_ID, f[1]!, 5 + 0x4000_0000), greWrap(CALL_ID, f[2]!, 6)].map(fromPeer));
    expect(h.dp.counters.greSeqJump).toBe(1);
    expect(h.tun.written).toEqual([ips[0], ips[2]]);
  });

  it('a replayed MPPE coherency count under a new GRE seq: rxUndecryptable, no Reset-Request (stateless)', () => {
    const h = setup();
    const frame = h.peer.ipFrame(ipv4(CLIENT_IP, HOST_IP, 30, 1));
    h.gre.inject([fromPeer(greWrap(CALL_ID, frame, 1)), fromPeer(greWrap(CALL_ID, frame, 2))]);
    expect(h.tun.written.length).toBe(1);
    expect(h.session.counters.rxUndecryptable).toBe(1);
    expect(h.link.resetRequests).toBe(0);
  });

  it('IPv4 whose source is not the session address (or no IPv4 at all): rxSpoofed', () => {
    const h = setup();
    const good = ipv4(CLIENT_IP, HOST_IP, 20, 0);
    const spoofed = ipv4(OTHER_ADDR, HOST_IP, 20, 1);
    const short = good.subarray(0, 19);
    const v6 = Buffer.from(good);
    v6[0] = 0x60;
    h.gre.inject([spoofed, short, v6, good].map((ip) => fromPeer(h.peer.ipPacket(ip))));
    expect(h.session.counters.rxSpoofed).toBe(3);
    expect(h.tun.written).toEqual([good]);
    expect(h.session.counters.rxPackets).toBe(1);
  });

  it('clear IPv4 (0x0021) when MPPE is in force or required: rxNotReady', () => {
    const ip = ipv4(CLIENT_IP, HOST_IP, 20, 0);
    const clear = Buffer.concat([hex('ff030021'), ip]);
    // MPPE negotiated.
    const a = setup();
    a.gre.inject([fromPeer(a.peer.frame(clear))]);
    expect(a.session.counters.rxNotReady).toBe(1);
    // MPPE required, network phase not up yet (no ciphers): neither clear nor MPPE frames pass.
    const b = setup({ up: false });
    b.gre.inject([fromPeer(b.peer.frame(clear)), fromPeer(b.peer.ipPacket(ip))]);
    expect(b.session.counters.rxNotReady).toBe(2);
    // Not required, but the network phase is not up: still not ready.
    const c = setup({ mppe: null, mppeRequired: false, up: false });
    c.gre.inject([fromPeer(c.peer.frame(clear))]);
    expect(c.session.counters.rxNotReady).toBe(1);
    // Policy requires MPPE, yet the session came up without ciphers: clear IP still refused.
    const d = setup({ mppe: null, mppeRequired: true });
    d.gre.inject([fromPeer(d.peer.frame(clear))]);
    expect(d.session.counters.rxNotReady).toBe(1);
    for (const x of [a, b, c, d]) expect(x.tun.written).toEqual([]);
  });

  it('TUN packet to an address without a session: tunNoSession; to a session whose network is down: its txDropped; malformed: tunMalformed', () => {
    const h = setup();
    const good = ipv4(HOST_IP, CLIENT_IP, 20, 0);
    const nobody = ipv4(HOST_IP, ip4(192, 168, 75, 99), 20, 1);
    const garbage = [Buffer.alloc(0), Buffer.from([0x45]), good.subarray(0, 19), Buffer.from([0x70, ...good.subarray(1)])];
    expect(() => h.tun.inject([nobody, ...garbage, good])).not.toThrow();
    expect(h.dp.counters.tunNoSession).toBe(1);
    expect(h.dp.counters.tunMalformed).toBe(4);
    expect(h.dp.counters.tunIpv6Dropped).toBe(0);
    expect(h.gre.sent.length).toBe(1); // the good one, after the drops in the same batch
    expect(openFromServer(h.gre.sent[0]!.data, h.peer.dec).ip).toEqual(good);

    h.dp.stopData(h.session); // networkDown
    h.tun.inject([good]);
    expect(h.dp.counters.tunNoSession).toBe(1);
    expect(h.session.counters.txDropped).toBe(1);
    expect(h.gre.sent.length).toBe(1);
  });

  it('a network phase that comes back with another address: the old one no longer leads to the session, the new one does', () => {
    const h = setup();
    const moved = ip4(192, 168, 75, 7);
    h.dp.stopData(h.session);
    h.dp.startData(h.session, moved, { sendKey: SEND_KEY, recvKey: RECV_KEY, bits: 128, stateless: true, resume: true });
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 0)]);
    expect(h.dp.counters.tunNoSession).toBe(1);
    expect(h.gre.sent).toHaveLength(0);
    const toMoved = ipv4(HOST_IP, moved, 20, 1);
    h.tun.inject([toMoved]);
    expect(h.gre.sent).toHaveLength(1);
    expect(openFromServer(h.gre.sent[0]!.data, h.peer.dec).ip).toEqual(toMoved);
    expect(h.session.counters.txPackets).toBe(1);
  });

  it("the kernel's own IPv6 on the TUN (router solicitation, MLD report) is tunIpv6Dropped, not tunMalformed", () => {
    const h = setup();
    // What a TUN with IPv6 left on sends by itself once up (RFC 4861 §6.3.7, RFC 3810 §5.2): fe80:: to ff02::2 and ff02::16.
    const ipv6 = (dst: string, nextHeader: number, payload: Buffer) => {
      const head = Buffer.alloc(40);
      head.writeUInt32BE(0x6000_0000, 0);
      head.writeUInt16BE(payload.length, 4);
      head[6] = nextHeader;
      head[7] = 255;
      Buffer.from('fe800000000000000000000000000001', 'hex').copy(head, 8);
      Buffer.from(dst, 'hex').copy(head, 24);
      return Buffer.concat([head, payload]);
    };
    const routerSolicitation = ipv6('ff020000000000000000000000000002', 58, Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]));
    const mldReport = ipv6('ff020000000000000000000000000016', 0, Buffer.from('3a000502000001008f0000000000000104000000ff0200000000000000000001ff000001', 'hex'));
    const good = ipv4(HOST_IP, CLIENT_IP, 20, 0);
    h.tun.inject([routerSolicitation, mldReport, good]);
    expect(h.dp.counters.tunIpv6Dropped).toBe(2);
    expect(h.dp.counters.tunMalformed).toBe(0);
    expect(h.gre.sent.length).toBe(1);
    expect(openFromServer(h.gre.sent[0]!.data, h.peer.dec).ip).toEqual(good);
  });

  it('fuzz: 2000 random GRE packets, nothing thrown, every packet lands in exactly one counter', () => {
    const h = setup();
    const rnd = prng(0x5eed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
    const pppHeads = [hex('ff0300fd'), hex('00fd'), hex('fd'), hex('ff03c021'), hex('ff030021'), hex('21'), hex('8021'), hex('ff03')];
    let seqBase = 1;
    // The peer's first packet sets the receive sequence (GreSequencer takes the first number as is).
    const packets: InjectedGrePacket[] = [{ data: greWrap(CALL_ID, h.peer.ipFrame(ipv4(CLIENT_IP, HOST_IP, 20, 0)), seqBase), from: PEER_ADDR }];
    for (let i = 1; i < 2000; i++) {
      const kind = i % 4;
      let data: Buffer;
      if (kind === 0) {
        data = bytes(int(200));
      } else if (kind === 1) {
        // A valid header with a few random bits flipped.
        data = greWrap(CALL_ID, bytes(int(100)), seqBase + int(8), rnd() < 0.5 ? int(50) : -1);
        for (let f = 1 + int(3); f > 0; f--) data[int(Math.min(16, data.length))] ^= 1 << int(8);
      } else if (kind === 2) {
        const ppp = Buffer.concat([pppHeads[int(pppHeads.length)]!, bytes(int(300))]);
        const callId = rnd() < 0.8 ? CALL_ID : int(65536);
        seqBase += int(3);
        const seq = rnd() < 0.9 ? seqBase + int(3) - 1 : -1;
        data = greWrap(callId, ppp, seq, rnd() < 0.3 ? int(1000) : -1);
        if (rnd() < 0.1) data = data.subarray(0, int(data.length)); // truncated
      } else {
        // A genuine packet now and then, from the right or a wrong source.
        const ip = ipv4(rnd() < 0.8 ? CLIENT_IP : OTHER_ADDR, HOST_IP, int(200), i);
        data = greWrap(CALL_ID, h.peer.ipFrame(ip), ++seqBase);
      }
      packets.push({ data, from: rnd() < 0.9 ? PEER_ADDR : OTHER_ADDR });
    }

    // Our own classification with the real header codec.
    const v = new GreHeaderView();
    let malformed = 0;
    let unknown = 0;
    let wrongSource = 0;
    let noPayload = 0;
    let noSeq = 0;
    for (const p of packets) {
      if (parseGreHeader(p.data, 0, p.data.length, v) !== GreParseResult.Ok) malformed++;
      else if (v.callId !== CALL_ID) unknown++;
      else if (p.from !== PEER_ADDR) wrongSource++;
      else if (v.payloadLength === 0) noPayload++;
      else if (!v.hasSeq) noSeq++; // a payload without a sequence number is counted as malformed
    }
    malformed += noSeq;

    expect(() => h.gre.inject(packets)).not.toThrow();

    const c = h.dp.counters;
    const s = h.session.counters;
    expect(c.greMalformed).toBe(malformed);
    expect(c.greUnknownCall).toBe(unknown);
    expect(c.greWrongSource).toBe(wrongSource);
    const total =
      c.greMalformed +
      c.greUnknownCall +
      c.greWrongSource +
      noPayload +
      c.greOutOfOrder +
      c.greSeqJump +
      c.pppMalformed +
      s.rxNotReady +
      s.rxUndecryptable +
      s.rxRekeyLimited +
      s.rxControlLimited +
      s.rxSpoofed +
      s.rxPackets +
      h.link.inputs.length;
    expect(total).toBe(2000);
    // Every frame with a payload that reached the session is delivered or in exactly one drop counter.
    expect(s.rxControl).toBe(h.link.inputs.length);
    expect(s.rxFrames).toBe(2000 - malformed + noSeq - unknown - wrongSource - noPayload);
    expect(s.rxFrames).toBe(
      noSeq + c.greOutOfOrder + c.greSeqJump + c.pppMalformed + s.rxNotReady + s.rxUndecryptable + s.rxRekeyLimited + s.rxControlLimited + s.rxSpoofed + s.rxPackets + s.rxControl,
    );
    expect(h.tun.written.length).toBe(s.rxPackets);
    for (const w of h.tun.written) expect(w.readUInt32BE(12)).toBe(CLIENT_IP);
    const seen = {
      greMalformed: c.greMalformed,
      greUnknownCall: c.greUnknownCall,
      greWrongSource: c.greWrongSource,
      greOutOfOrder: c.greOutOfOrder,
      greSeqJump: c.greSeqJump,
      rxUndecryptable: s.rxUndecryptable,
      control: h.link.inputs.length,
    };
    for (const [what, x] of Object.entries(seen)) {
      expect(x, what).toBeGreaterThan(0);
    }
  });
});

describe('acknowledgements', () => {
  it('ack-only packet (20 81, 12 octets, last seq) about 100 ms after data with nothing to send back', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    h.gre.inject([1, 2, 3, 4, 5].map((k) => fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, k)))));
    expect(h.tun.written.length).toBe(5);
    vi.advanceTimersByTime(90);
    expect(h.gre.sent).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(h.gre.sent.length).toBe(1);
    const p = h.gre.sent[0]!;
    expect(p.to).toBe(PEER_ADDR);
    expect(p.data).toEqual(hex('2081 880b 0000 beef 00000005'));
    const o = openFromServer(p.data, null);
    expect(o.gre.hasSeq).toBe(false);
    expect(o.gre.ack).toBe(5);
    vi.advanceTimersByTime(1000);
    expect(h.gre.sent.length).toBe(1); // once only
    expect(h.session.sequencer.counters.sent).toBe(0); // ack-only packets take no sequence number
  });

  it('no ack-only packet when data going back already carried the ack', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    h.gre.inject([1, 2, 3].map((k) => fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, k)))));
    vi.advanceTimersByTime(40);
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 9)]);
    expect(h.gre.sent.length).toBe(1);
    const o = openFromServer(h.gre.sent[0]!.data, h.peer.dec);
    expect(o.gre.hasAck).toBe(true);
    expect(o.gre.ack).toBe(3);
    vi.advanceTimersByTime(500);
    expect(h.gre.sent.length).toBe(1);

    // Next data with nothing going back: ack-only again, for the new number.
    h.gre.inject([fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, 4)))]);
    vi.advanceTimersByTime(150);
    expect(h.gre.sent.length).toBe(2);
    expect(h.gre.sent[1]!.data).toEqual(hex('2081 880b 0000 beef 00000004'));
  });

  it('an ack owed for less than a tick is left for the reply, not sent alone just before it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    h.gre.inject([fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, 1)))]); // ack timer armed at t=0
    vi.advanceTimersByTime(40);
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 1)]); // carries ack 1
    vi.advanceTimersByTime(55);
    h.gre.inject([fromPeer(h.peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 20, 2)))]); // t=95, 5 ms before a tick
    vi.advanceTimersByTime(6);
    expect(h.gre.sent.length).toBe(1); // no ack-only at t=100 for a number owed for 5 ms
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 2)]);
    expect(h.gre.sent.length).toBe(2);
    expect(openFromServer(h.gre.sent[1]!.data, h.peer.dec).gre.ack).toBe(2);
    vi.advanceTimersByTime(500);
    expect(h.gre.sent.length).toBe(2);
  });

  it('a control frame sent back also carries the owed ack', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = setup();
    h.gre.inject([fromPeer(h.peer.frame(hex('ff03c021 09010008 01020304')))]);
    h.dp.sendControl(h.session, PppProtocol.LCP, hex('0a010008 05060708'));
    vi.advanceTimersByTime(500);
    expect(h.gre.sent.length).toBe(1);
    expect(h.gre.sent[0]!.data).toEqual(hex('3081 880b 000c beef 00000001 00000001 ff03c021 0a010008 05060708'));
  });
});

describe('control frames', () => {
  it('LCP and IPCP frames reach link.input as copies of the slab bytes', () => {
    const h = setup();
    const echo = hex('09 01 0008 01020304');
    const ipcp = hex('01 07 000a 03 06 c0a84b0a');
    h.gre.inject([fromPeer(h.peer.frame(Buffer.concat([hex('ff03c021'), echo]))), fromPeer(h.peer.frame(Buffer.concat([hex('8021'), ipcp])))]);
    expect(h.link.inputs.map((x) => x.protocol)).toEqual([PppProtocol.LCP, PppProtocol.IPCP]);
    expect(h.link.inputs[0]!.payload).toEqual(echo);
    expect(h.link.inputs[1]!.payload).toEqual(ipcp);
    const [slab] = [...h.gre.slabs];
    for (const x of h.link.inputs) expect(x.payload.buffer).not.toBe(slab!.buffer);
    slab!.fill(0xaa);
    expect(h.link.inputs[0]!.payload).toEqual(echo);
    expect(h.link.inputs[1]!.payload).toEqual(ipcp);
    expect(h.tun.written).toEqual([]);
  });

  it('a non-IPv4 protocol inside MPPE goes to link.input decrypted, as a copy', () => {
    const h = setup();
    const inner = hex('60000000 0000 3b40'); // start of an IPv6 header, protocol 0x0057
    const buf = Buffer.alloc(8 + inner.length);
    buf.writeUInt32BE(0xff0300fd, 0);
    buf.writeUInt16BE(PppProtocol.IPv6, 6);
    inner.copy(buf, 8);
    h.peer.enc!.encrypt(buf, 6, inner.length + 2);
    h.gre.inject([fromPeer(h.peer.frame(buf))]);
    expect(h.link.inputs.length).toBe(1);
    expect(h.link.inputs[0]!.protocol).toBe(PppProtocol.IPv6);
    expect(h.link.inputs[0]!.payload).toEqual(inner);
    [...h.gre.slabs][0]!.fill(0x55);
    expect(h.link.inputs[0]!.payload).toEqual(inner);
    expect(h.tun.written).toEqual([]);
  });

  it.each<[string, { acfc: boolean; pfc: boolean }, number, string]>([
    ['LCP, acfc/pfc on: still FF 03 C0 21', { acfc: true, pfc: true }, PppProtocol.LCP, 'ff03c021'],
    ['LCP, acfc/pfc off', { acfc: false, pfc: false }, PppProtocol.LCP, 'ff03c021'],
    ['IPCP, acfc/pfc on: no FF 03, 2-octet protocol', { acfc: true, pfc: true }, PppProtocol.IPCP, '8021'],
    ['CCP, acfc/pfc off', { acfc: false, pfc: false }, PppProtocol.CCP, 'ff0380fd'],
  ])('sendControl %s, never encrypted', (_name, framing, protocol, head) => {
    const h = setup({ framing });
    const payload = hex('0e 05 000c 0001 0203 0405 0607');
    h.dp.sendControl(h.session, protocol, payload);
    h.dp.sendControl(h.session, protocol, payload);
    expect(h.gre.sent.length).toBe(2);
    h.gre.sent.forEach((p, k) => {
      expect(p.to).toBe(PEER_ADDR);
      const o = openFromServer(p.data, null);
      expect(o.gre.callId).toBe(PEER_CALL_ID);
      expect(o.gre.seq).toBe(k + 1);
      expect(o.gre.hasAck).toBe(false);
      expect(p.data.subarray(o.gre.payloadOffset)).toEqual(Buffer.concat([hex(head), payload]));
    });
    expect(payload).toEqual(hex('0e 05 000c 0001 0203 0405 0607'));
  });

  it('sendControl shares the sequence space with data, and is silent once the session is closed', () => {
    const h = setup();
    h.dp.sendControl(h.session, PppProtocol.LCP, hex('09020008 00000000'));
    h.tun.inject([ipv4(HOST_IP, CLIENT_IP, 20, 1)]);
    expect(h.gre.sent.map((p) => openFromServer(p.data, h.peer.dec).gre.seq)).toEqual([1, 2]);
    h.session.closed = true;
    h.dp.sendControl(h.session, PppProtocol.LCP, hex('05030004'));
    expect(h.gre.sent.length).toBe(2);
  });
});

describe('stateful MPPE resynchronisation (RFC 3078 §8)', () => {
  it('a lost packet triggers one CCP Reset-Request; data flows again after the peer flushes', () => {
    const h = setup({ mppe: { bits: 128, stateless: false } });
    const ips = Array.from({ length: 6 }, (_, k) => ipv4(CLIENT_IP, HOST_IP, 50, k));
    const pk = ips.map((ip) => h.peer.ipPacket(ip)); // GRE seq 1..6, MPPE CC 0..5

    h.gre.inject([fromPeer(pk[0]!), fromPeer(pk[2]!)]); // pk[1] lost
    expect(h.tun.written).toEqual([ips[0]]);
    expect(h.link.resetRequests).toBe(1);
    expect(h.session.counters.rxUndecryptable).toBe(1);

    h.gre.inject([fromPeer(pk[3]!)]); // still discarding: dropped, no second Reset-Request
    expect(h.link.resetRequests).toBe(1);
    expect(h.session.counters.rxUndecryptable).toBe(2);
    expect(h.tun.written.length).toBe(1);

    h.peer.enc!.onResetRequest(); // peer got our Reset-Request: next packet is flushed (A)
    const after = ipv4(CLIENT_IP, HOST_IP, 50, 42);
    h.gre.inject([fromPeer(h.peer.ipPacket(after))]);
    expect(h.tun.written).toEqual([ips[0], after]);
    expect(h.link.resetRequests).toBe(1);
  });
});

describe('control frames before the link starts', () => {
  it('are kept and handed to LCP, in order, when it starts (no 3 s retransmission)', () => {
    const got: Array<[number, string]> = [];
    const link = { start: () => got.push([0, 'start']), input: (p: number, b: Buffer) => got.push([p, b.toString('hex')]) } as unknown as PppLink;
    const s = new Session({ callId: 9, peerCallId: 99, peerAddress: 0xc6120001, connection: {} as never, log: pino({ level: 'silent' }), mppeRequired: true, link: () => link });
    s.deliverControl(0xc021, Buffer.from('0101000a', 'hex'));
    s.deliverControl(0x8057, Buffer.from('01', 'hex'));
    expect(got).toEqual([]);
    s.startLink();
    s.deliverControl(0xc021, Buffer.from('0202', 'hex'));
    expect(got).toEqual([
      [0, 'start'],
      [0xc021, '0101000a'],
      [0x8057, '01'],
      [0xc021, '0202'],
    ]);
  });
});

describe('sharded over two threads (ShardedDataPlane + DataPlaneShard over a MessageChannel)', () => {
  /** Shard 0 = this DataPlane, shard 1 = a DataPlaneShard behind a real MessagePort pair (as a worker has). */
  function shardedSetup() {
    const log = pino({ level: 'silent' });
    const gre0 = new RecordingGreSocket(SERVER_ADDR);
    const tun0 = new RecordingTun();
    const gre1 = new RecordingGreSocket(SERVER_ADDR);
    const tun1 = new RecordingTun();
    const local = new DataPlane(gre0, tun0, log);
    const { port1, port2 } = new MessageChannel();
    const sessionCells = newSessionCounterCells();
    const planeCells = newPlaneCounterCells();
    const shard = new DataPlaneShard(port2, gre1, tun1, { sessionCells, planeCells }, log);
    const steered: Array<[string, number, number?]> = [];
    const steering = { set: (a: number, q: number) => steered.push(['set', a, q]), delete: (a: number) => steered.push(['delete', a]) };
    const dp = new ShardedDataPlane(local, [{ channel: port1, planeCells }], steering, sessionCells, log);
    const session = (callId: number) => {
      const link = new LinkStub({ acfc: false, pfc: false });
      const s = new Session({
        callId,
        peerCallId: PEER_CALL_ID,
        peerAddress: PEER_ADDR,
        connection: {} as unknown as ControlConnection,
        log,
        mppeRequired: true,
        link: () => link as unknown as PppLink,
      });
      s.startLink();
      dp.register(s);
      return { s, link };
    };
    const close = async () => {
      await dp.closeAll();
      port1.close();
    };
    return { dp, shard, gre0, tun0, gre1, tun1, steered, session, close };
  }
  /** One turn of both ports' queues. */
  const settle = () => new Promise((r) => setTimeout(r, 20));

  it('an odd Call ID is carried by the thread: keys, data both ways, counters, control frames, Reset-Request, teardown', async () => {
    const h = shardedSetup();
    const odd = 0x1235;
    const { s, link } = h.session(odd);
    const { s: even } = h.session(CALL_ID);
    expect(h.dp.shardOf(odd)).toBe(1);
    expect(h.dp.shardOf(CALL_ID)).toBe(0);

    // Control frames from the main thread leave through the thread's socket, numbered by it.
    h.dp.sendControl(s, PppProtocol.LCP, hex('0101000a0506deadbeef'));
    await settle();
    expect(h.gre0.sent).toEqual([]);
    expect(h.gre1.sent.length).toBe(1);
    const lcp = openFromServer(h.gre1.sent[0]!.data, null);
    expect(lcp.gre.callId).toBe(PEER_CALL_ID);
    expect(lcp.gre.seq).toBe(1);
    expect(lcp.ppp!.protocol).toBe(PppProtocol.LCP);

    // The peer's control frame reaches the main thread's link.
    const peer = new PeerSim({ bits: 128, stateless: true }, odd);
    h.gre1.inject([fromPeer(peer.frame(hex('c021 0901000c 01020304 00000000')))]);
    await settle();
    expect(link.inputs.map((x) => x.protocol)).toEqual([PppProtocol.LCP]);
    expect(link.inputs[0]!.payload).toEqual(hex('0901000c0102030400000000'));

    // Network up with MPPE: the address is steered to queue 1, the thread gets the keys.
    h.dp.startData(s, CLIENT_IP, { sendKey: SEND_KEY, recvKey: RECV_KEY, bits: 128, stateless: true, resume: false });
    await settle();
    expect(h.steered).toEqual([['set', CLIENT_IP, 1]]);
    const up = Array.from({ length: 5 }, (_, k) => ipv4(CLIENT_IP, HOST_IP, 100 + k, k));
    h.gre1.inject(up.map((ip) => fromPeer(peer.ipPacket(ip))));
    expect(hexAll(h.tun1.written)).toEqual(hexAll(up));
    const down = ipv4(HOST_IP, CLIENT_IP, 60, 77);
    h.tun1.inject([down]);
    const sent = h.gre1.sent.at(-1)!;
    expect(sent.to).toBe(PEER_ADDR);
    expect(openFromServer(sent.data, peer.dec).ip).toEqual(down);
    // Counters written by the thread, read here through the session's shared row.
    expect(s.counters.rxPackets).toBe(5);
    expect(s.counters.rxBytes).toBe(up.reduce((a, p) => a + p.length, 0));
    expect(s.counters.txPackets).toBe(1);
    expect(JSON.parse(JSON.stringify({ counters: s.counters })).counters).toMatchObject({ rxPackets: 5, txPackets: 1, rxSpoofed: 0 });
    expect(even.counters.rxPackets).toBe(0);

    // Drop counters of both threads add up.
    h.gre1.inject([{ data: hex('3001'), from: PEER_ADDR }]);
    h.gre0.inject([{ data: hex('3001'), from: PEER_ADDR }]);
    expect(h.dp.counters.greMalformed).toBe(2);

    // Teardown: the address is no longer steered, the thread forgets the call.
    h.dp.unregister(s);
    await settle();
    expect(h.steered.at(-1)).toEqual(['delete', CLIENT_IP]);
    h.gre1.inject([fromPeer(peer.ipPacket(up[0]!))]);
    expect(h.tun1.written.length).toBe(5);
    expect(h.dp.counters.greUnknownCall).toBe(1);
    await h.close();
  });

  it("what a thread cannot deliver is counted in the totals: the readers' own drops, control frames for a call that ended meanwhile", async () => {
    const h = shardedSetup();
    const odd = 0x0101;
    const { s, link } = h.session(odd);
    await settle();
    // Longer than a slot: the readers drop them before any handler (the native ones count the same way).
    h.gre1.inject([{ data: Buffer.alloc(GRE_SLOT + 1), from: PEER_ADDR }]);
    h.tun1.inject([Buffer.alloc(GRE_SLOT)]);
    h.gre0.inject([{ data: Buffer.alloc(GRE_SLOT + 1), from: PEER_ADDR }]);
    h.shard.syncReadStats(); // what the thread's timer does every second
    expect(h.dp.counters).toMatchObject({ greReadDropped: 2, tunReadDropped: 1 });

    // The peer's LCP frame is on its way to the main thread when the call ends there.
    const peer = new PeerSim({ bits: 128, stateless: true }, odd);
    h.gre1.inject([fromPeer(peer.frame(hex('c021 0901000c 01020304 00000000')))]);
    expect(s.counters.rxFrames).toBe(1);
    expect(s.counters.rxControl).toBe(1);
    s.closed = true;
    h.dp.unregister(s);
    await settle();
    expect(link.inputs).toEqual([]);
    expect(h.dp.counters.controlDropped).toBe(1);
    await h.close();
  });

  it("stateful MPPE: a lost packet makes the thread ask the main thread for a CCP Reset-Request; the peer's reset reaches the thread's encryptor", async () => {
    const h = shardedSetup();
    const odd = 0x0777;
    const { s, link } = h.session(odd);
    h.dp.startData(s, CLIENT_IP, { sendKey: SEND_KEY, recvKey: RECV_KEY, bits: 128, stateless: false, resume: false });
    await settle();
    const peer = new PeerSim({ bits: 128, stateless: false }, odd);
    const pk = [0, 1].map((k) => peer.ipPacket(ipv4(CLIENT_IP, HOST_IP, 30, k)));
    h.gre1.inject([fromPeer(pk[1]!)]); // the first is lost
    await settle();
    expect(link.resetRequests).toBe(1);
    expect(s.counters.rxUndecryptable).toBe(1);

    h.dp.mppeResetRequested(s);
    await settle();
    h.tun1.inject([ipv4(HOST_IP, CLIENT_IP, 20, 1)]);
    const d = h.gre1.sent.at(-1)!.data;
    const o = openFromServer(d, peer.dec);
    expect(d[o.ppp!.offset]! & 0x80).toBe(0x80); // A (flushed): the key stream restarted
    expect(o.ip).toEqual(ipv4(HOST_IP, CLIENT_IP, 20, 1));
    await h.close();
  });
});
