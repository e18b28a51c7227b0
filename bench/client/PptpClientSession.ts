// One PPTP client session for the load generator: the control connection (SCCRQ, OCRQ; RFC 2637
// §2), then PPP over GRE as a minimal but complete peer — LCP (ack the server's auth/magic, send our
// magic), MS-CHAPv2 Response and check of S= (RFC 2759), CCP MPPE-128 (RFC 3078), IPCP taking the
// server's Nak for address 0 (RFC 1332) — and data with MPPE. It retransmits its requests (the
// server may be slow under load) and answers LCP Echo-Requests so sessions stay up.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { GreSequencer } from '../../gre/GreSequencer.js';
import { ControlMessageType, ControlStreamReassembler, OutgoingCallResult, StartControlResult, decodeControlMessage, encodeControlMessage, type ControlMessage } from '../../pptp/ControlMessage.js';
import { generateAuthenticatorResponse, generateNtResponse, hashNtPasswordHash, ntPasswordHash } from '../../ppp/auth/MsChapCrypto.js';
import { ControlCode, encodeControlPacket, encodeOptions, parseControlPacket, parseOptions, type ConfigOption } from '../../ppp/ControlPacket.js';
import { MppeDecryptor, MppeEncryptor } from '../../ppp/mppe/MppeCipher.js';
import { getAsymmetricStartKey, getMasterKey } from '../../ppp/mppe/MppeKeys.js';
import { PppProtocol } from '../../ppp/PppProtocol.js';
import type { ClientGre, GreReceiver } from './ClientGre.js';
import { outgoingCallRequest, startControlConnectionRequest } from './ControlRequests.js';

const CHAP_MSCHAPV2 = 0x81;
const LCP_MAGIC = 5;
const LCP_AUTH = 3;
const IPCP_ADDRESS = 3;
const CCP_MPPE = 18;
const MPPE_H = 0x01000000;
const MPPE_S = 0x00000040;
const RETRANSMIT_MS = 3000;
const MAX_RETRANSMITS = 10;

export interface ClientSessionOptions {
  server: string;
  /** Host-order IPv4 of the server (GRE destination). */
  serverAddr: number;
  port: number;
  /** Source address of the control connection (the server sees GRE from the same address). */
  localAddress?: string;
  username: string;
  password: string;
  callId: number;
  stateless: boolean;
  /** Overall deadline for the handshake. */
  setupTimeoutMs: number;
  /**
   * true: our LCP Configure-Request leaves with the OCRP (pppd). false: it waits for the server's
   * (or 1 s): the server ignores LCP that arrives before it starts its link, one turn after the OCRP.
   */
  lcpEager?: boolean;
  /**
   * After acking the server's LCP Terminate-Request: 'hang-up' (default) closes the control connection,
   * as pptp-linux does when pppd exits; 'wait' keeps the call until the server's Call-Disconnect-Notify
   * (a client that never clears its call).
   */
  onTerminate?: 'hang-up' | 'wait';
}

export interface SessionKeys {
  /** Client → server start key (= the server's MasterRecvKey). */
  sendKey: Buffer;
  /** Server → client start key (= the server's MasterSendKey). */
  recvKey: Buffer;
}

export interface ClientSessionEvents {
  up(s: PptpClientSession): void;
  failed(s: PptpClientSession, reason: string): void;
  /** An IPv4 packet arrived (decrypted) at buf[off, off+len). */
  data?(s: PptpClientSession, buf: Buffer, off: number, len: number): void;
  /** RTT of one of our LCP Echo-Requests, in ms. */
  echoRtt?(s: PptpClientSession, ms: number): void;
}

/** One pending Configure-Request of ours, resent until acked. */
class Requester {
  id = 0;
  tries = 0;
  timer: NodeJS.Timeout | null = null;
  acked = false;
}

export class PptpClientSession implements GreReceiver {
  private socket: Socket | null = null;
  private readonly reassembler = new ControlStreamReassembler();
  private readonly sequencer = new GreSequencer();
  peerCallId = -1;
  private nextId = 1;
  private readonly magic = randomBytes(4).readUInt32BE(0);
  private lcpReq = new Requester();
  private lcpPeerAcked = false;
  private ccpReq = new Requester();
  private ccpPeerAcked = false;
  private ipcpReq = new Requester();
  private ipcpPeerAcked = false;
  private mppeValue: number;
  private requestedAddress = 0;
  /** Host-order IPv4 the server assigned. */
  address = 0;
  private ntHash: Buffer;
  keys: SessionKeys | null = null;
  encryptor: MppeEncryptor | null = null;
  decryptor: MppeDecryptor | null = null;
  private authDone = false;
  private finished = false;
  isUp = false;
  startedAt = 0;
  upAt = 0;
  private setupTimer: NodeJS.Timeout | null = null;
  private echoSentAt = new Map<number, number>();
  /** GRE frames that arrived before the Outgoing-Call-Reply. */
  private early: Array<{ buf: Buffer; seq: number }> = [];
  readonly counters = { rxData: 0, rxUndecryptable: 0, txData: 0 };

  constructor(
    private readonly opts: ClientSessionOptions,
    private readonly gre: ClientGre,
    private readonly events: ClientSessionEvents,
  ) {
    this.mppeValue = (MPPE_S | (opts.stateless ? MPPE_H : 0)) >>> 0;
    this.ntHash = ntPasswordHash(opts.password);
  }

  get callId(): number {
    return this.opts.callId;
  }

  start(): void {
    this.startedAt = performance.now();
    this.setupTimer = setTimeout(() => this.fail('setup timed out'), this.opts.setupTimeoutMs);
    const sock = connect({ host: this.opts.server, port: this.opts.port, ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}) });
    this.socket = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      this.sendControl(startControlConnectionRequest({ hostName: 'portico-bench', vendor: 'portico-bench' }));
    });
    sock.on('data', (chunk) => {
      try {
        this.reassembler.push(chunk);
        for (let m = this.reassembler.next(); m !== null; m = this.reassembler.next()) this.onControl(decodeControlMessage(m));
      } catch (err) {
        this.fail(`control stream: ${(err as Error).message}`);
      }
    });
    sock.on('error', (err) => this.fail(`TCP: ${err.message}`));
    sock.on('close', () => this.fail('TCP closed'));
  }

  /** Ends the session: Call-Clear-Request, then the TCP connection closes. */
  stop(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimers();
    this.gre.unregister(this.opts.callId);
    if (this.socket && !this.socket.destroyed) {
      if (this.peerCallId >= 0) this.sendControl({ type: ControlMessageType.CallClearRequest, callId: this.opts.callId });
      this.socket.end();
      const s = this.socket;
      setTimeout(() => s.destroy(), 1000).unref();
    }
  }

  /** Plays a client whose PPP hangs: GRE to it is dropped, it sends nothing more (its control connection still answers). */
  hang(): void {
    this.clearTimers();
    this.gre.unregister(this.opts.callId);
  }

  /** Plays a client that reads nothing more from its control connection and never closes it. */
  stopReading(): void {
    this.socket?.pause();
  }

  /** Reads the control connection again after stopReading(): what arrived meanwhile is handled now. */
  resumeReading(): void {
    this.socket?.resume();
  }

  private fail(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimers();
    this.gre.unregister(this.opts.callId);
    this.socket?.destroy();
    this.isUp = false;
    this.events.failed(this, reason);
  }

  private clearTimers(): void {
    if (this.setupTimer) clearTimeout(this.setupTimer);
    for (const r of [this.lcpReq, this.ccpReq, this.ipcpReq]) if (r.timer) clearTimeout(r.timer);
  }

  private sendControl(msg: ControlMessage): void {
    this.socket?.write(encodeControlMessage(msg));
  }

  private onControl(msg: ControlMessage): void {
    switch (msg.type) {
      case ControlMessageType.StartControlConnectionReply:
        if (msg.resultCode !== StartControlResult.Success) return this.fail(`SCCRP result ${msg.resultCode}`);
        // Registered now: the server's first LCP frame may overtake its OCRP (GRE vs TCP); it is kept.
        this.gre.register(this.opts.callId, this);
        this.sendControl(outgoingCallRequest(this.opts.callId));
        return;
      case ControlMessageType.OutgoingCallReply:
        if (msg.resultCode !== OutgoingCallResult.Connected) return this.fail(`OCRP result ${msg.resultCode}/${msg.errorCode}`);
        this.peerCallId = msg.callId;
        if (this.opts.lcpEager) this.sendLcpRequest();
        else this.lcpReq.timer = setTimeout(() => this.sendLcpRequest(), 1000);
        for (const f of this.early.splice(0)) this.onGre(f.buf, 0, f.buf.length, f.seq, -1);
        return;
      case ControlMessageType.EchoRequest:
        this.sendControl({ type: ControlMessageType.EchoReply, identifier: msg.identifier, resultCode: 1, errorCode: 0 });
        return;
      case ControlMessageType.CallDisconnectNotify:
      case ControlMessageType.StopControlConnectionRequest:
        return this.fail(`server ended the call (message type ${msg.type})`);
      default:
        return;
    }
  }

  // ---- PPP out ----

  /** One PPP frame (FF 03 + 2-octet protocol: we negotiate neither ACFC nor PFC). */
  private sendPpp(protocol: number, payload: Buffer): void {
    if (this.finished || this.peerCallId < 0) return;
    const g = this.gre;
    const start = g.slotFor();
    const buf = g.buffer;
    buf[start] = 0xff;
    buf[start + 1] = 0x03;
    buf.writeUInt16BE(protocol, start + 2);
    payload.copy(buf, start + 4);
    const ack = this.sequencer.pendingAck();
    g.commit(start, payload.length + 4, this.peerCallId, this.sequencer.nextSeq(), ack, this.opts.serverAddr);
  }

  /** Sends one IPv4 packet through the tunnel, MPPE-encrypted (RFC 3078 §3). */
  sendIp(packet: Buffer, off = 0, len = packet.length): void {
    const e = this.encryptor;
    if (!this.isUp || e === null) return;
    const g = this.gre;
    const start = g.slotFor();
    const buf = g.buffer;
    // FF 03 | 00 FD | MPPE header 2 | 00 21 | IP
    buf[start] = 0xff;
    buf[start + 1] = 0x03;
    buf[start + 2] = 0x00;
    buf[start + 3] = 0xfd;
    buf[start + 6] = 0x00;
    buf[start + 7] = 0x21;
    packet.copy(buf, start + 8, off, off + len);
    e.encrypt(buf, start + 6, len + 2);
    const ack = this.sequencer.pendingAck();
    g.commit(start, len + 8, this.peerCallId, this.sequencer.nextSeq(), ack, this.opts.serverAddr);
    this.counters.txData++;
  }

  /** One PPP control frame as given (tests inject renegotiations and replays through it). */
  sendControlFrame(protocol: number, payload: Buffer): void {
    this.sendPpp(protocol, payload);
  }

  /** Our own LCP Echo-Request; the reply's RTT goes to events.echoRtt. */
  sendEcho(): void {
    if (!this.isUp) return;
    const id = this.nextId++ & 0xff;
    const data = Buffer.alloc(4);
    data.writeUInt32BE(this.magic, 0);
    this.echoSentAt.set(id, performance.now());
    this.sendPpp(PppProtocol.LCP, encodeControlPacket(ControlCode.EchoRequest, id, data));
  }

  private sendRequest(r: Requester, protocol: number, options: () => ConfigOption[], what: string): void {
    if (r.timer) clearTimeout(r.timer);
    r.id = this.nextId++ & 0xff;
    r.acked = false;
    r.tries = 0;
    const send = () => {
      if (this.finished) return;
      if (r.tries++ >= MAX_RETRANSMITS) return this.fail(`${what} Configure-Request never acked`);
      if (r.tries > 1 && process.env.PORTICO_BENCH_DEBUG) process.stderr.write(`call ${this.opts.callId} resends ${what} request\n`);
      this.sendPpp(protocol, encodeControlPacket(ControlCode.ConfigureRequest, r.id, encodeOptions(options())));
      r.timer = setTimeout(send, RETRANSMIT_MS);
    };
    send();
  }

  private ackRequest(r: Requester, id: number): boolean {
    if (id !== r.id || r.acked) return false;
    r.acked = true;
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    return true;
  }

  private sendLcpRequest(): void {
    if (this.lcpReq.id !== 0) return;
    const magic = Buffer.alloc(4);
    magic.writeUInt32BE(this.magic, 0);
    this.sendRequest(this.lcpReq, PppProtocol.LCP, () => [{ type: LCP_MAGIC, data: magic }], 'LCP');
  }

  private sendCcpRequest(): void {
    const v = Buffer.alloc(4);
    this.sendRequest(
      this.ccpReq,
      PppProtocol.CCP,
      () => {
        v.writeUInt32BE(this.mppeValue, 0);
        return [{ type: CCP_MPPE, data: v }];
      },
      'CCP',
    );
  }

  private sendIpcpRequest(): void {
    this.sendRequest(
      this.ipcpReq,
      PppProtocol.IPCP,
      () => {
        const a = Buffer.alloc(4);
        a.writeUInt32BE(this.requestedAddress, 0);
        return [{ type: IPCP_ADDRESS, data: a }];
      },
      'IPCP',
    );
  }

  // ---- PPP in ----

  onGre(buf: Buffer, off: number, len: number, seq: number, _ack: number): void {
    if (this.finished || len === 0) return;
    if (this.peerCallId < 0) {
      if (this.early.length < 8) this.early.push({ buf: Buffer.from(buf.subarray(off, off + len)), seq });
      return;
    }
    if (seq >= 0 && !this.sequencer.acceptSeq(seq)) return;
    let p = off;
    const end = off + len;
    if (end - p >= 2 && buf[p] === 0xff && buf[p + 1] === 0x03) p += 2;
    if (end - p < 1) return;
    let protocol: number;
    if ((buf[p]! & 1) === 1) protocol = buf[p++]!;
    else {
      if (end - p < 2) return;
      protocol = buf.readUInt16BE(p);
      p += 2;
    }
    if (protocol === PppProtocol.Mppe) return this.onMppe(buf, p, end - p);
    if (protocol === PppProtocol.IPv4) return; // clear IP is refused once MPPE is required
    if (process.env.PORTICO_BENCH_DEBUG === '2') process.stderr.write(`call ${this.opts.callId} rx protocol 0x${protocol.toString(16)} ${buf.subarray(p, end).toString('hex').slice(0, 80)}\n`);
    // Control frames are rare: copy them out of the shared receive slab.
    const payload = Buffer.from(buf.subarray(p, end));
    try {
      this.onControlFrame(protocol, payload);
    } catch (err) {
      this.fail(`PPP ${protocol.toString(16)}: ${(err as Error).message}`);
    }
  }

  private onMppe(buf: Buffer, off: number, len: number): void {
    const d = this.decryptor;
    if (d === null) return;
    const n = d.decrypt(buf, off, len);
    if (n < 0) {
      this.counters.rxUndecryptable++;
      return;
    }
    let p = off + 2;
    let inner = buf[p]!;
    if ((inner & 1) === 1) p += 1;
    else {
      inner = (inner << 8) | buf[p + 1]!;
      p += 2;
    }
    const dataLen = n - (p - off - 2);
    if (dataLen < 0) return;
    if (inner === PppProtocol.IPv4) {
      this.counters.rxData++;
      this.events.data?.(this, buf, p, dataLen);
    } else this.onControlFrame(inner, Buffer.from(buf.subarray(p, p + dataLen)));
  }

  private onControlFrame(protocol: number, payload: Buffer): void {
    if (protocol === PppProtocol.CHAP) return this.onChap(payload);
    const pkt = parseControlPacket(payload);
    if (protocol === PppProtocol.LCP) return this.onLcp(pkt.code, pkt.identifier, pkt.data);
    if (protocol === PppProtocol.CCP) return this.onCcp(pkt.code, pkt.identifier, pkt.data);
    if (protocol === PppProtocol.IPCP) return this.onIpcp(pkt.code, pkt.identifier, pkt.data);
    // Anything else (IPV6CP...) is refused with an LCP Protocol-Reject (RFC 1661 §5.7).
    const pr = Buffer.alloc(2 + payload.length);
    pr.writeUInt16BE(protocol, 0);
    payload.copy(pr, 2);
    this.sendPpp(PppProtocol.LCP, encodeControlPacket(ControlCode.ProtocolReject, this.nextId++ & 0xff, pr));
  }

  private onLcp(code: number, id: number, data: Buffer): void {
    switch (code) {
      case ControlCode.ConfigureRequest: {
        if (this.isUp) this.restartLink();
        const opts = parseOptions(data);
        const auth = opts.find((o) => o.type === LCP_AUTH);
        if (auth?.data.length !== 3 || auth.data.readUInt16BE(0) !== PppProtocol.CHAP || auth.data[2] !== CHAP_MSCHAPV2) {
          return this.fail('server does not ask for MS-CHAPv2');
        }
        this.sendPpp(PppProtocol.LCP, encodeControlPacket(ControlCode.ConfigureAck, id, data));
        this.lcpPeerAcked = true;
        if (this.lcpReq.id === 0) this.sendLcpRequest();
        return;
      }
      case ControlCode.ConfigureAck:
        this.ackRequest(this.lcpReq, id);
        return;
      case ControlCode.ConfigureNak:
      case ControlCode.ConfigureReject:
        return this.fail(`server refused our LCP magic number (code ${code})`);
      case ControlCode.EchoRequest: {
        const reply = Buffer.from(data);
        if (reply.length >= 4) reply.writeUInt32BE(this.magic, 0);
        this.sendPpp(PppProtocol.LCP, encodeControlPacket(ControlCode.EchoReply, id, reply));
        return;
      }
      case ControlCode.EchoReply: {
        const t = this.echoSentAt.get(id);
        if (t !== undefined) {
          this.echoSentAt.delete(id);
          this.events.echoRtt?.(this, performance.now() - t);
        }
        return;
      }
      case ControlCode.TerminateRequest:
        this.sendPpp(PppProtocol.LCP, encodeControlPacket(ControlCode.TerminateAck, id));
        if (this.opts.onTerminate === 'wait') {
          this.clearTimers();
          this.isUp = false;
          return;
        }
        return this.fail('server sent LCP Terminate-Request');
      default:
        return;
    }
  }

  /** The server renegotiates LCP (RFC 1661 §5.1 Configure-Request while Opened): authenticate and negotiate again. */
  private restartLink(): void {
    this.clearTimers();
    this.isUp = false;
    this.authDone = false;
    this.encryptor = null;
    this.decryptor = null;
    this.lcpReq = new Requester();
    this.ccpReq = new Requester();
    this.ipcpReq = new Requester();
    this.lcpPeerAcked = false;
    this.ccpPeerAcked = false;
    this.ipcpPeerAcked = false;
    this.requestedAddress = this.address;
  }

  private onChap(payload: Buffer): void {
    const pkt = parseControlPacket(payload);
    if (pkt.code === 1) {
      // Challenge: Value-Size 16 | Challenge | Name (RFC 2759 §3)
      if (pkt.data.length < 17 || pkt.data[0] !== 16) return this.fail('malformed MS-CHAPv2 Challenge');
      if (this.authDone) return;
      const authChallenge = Buffer.from(pkt.data.subarray(1, 17));
      const peerChallenge = randomBytes(16);
      const ntResponse = generateNtResponse(authChallenge, peerChallenge, this.opts.username, this.ntHash);
      this.expectedS = generateAuthenticatorResponse(this.ntHash, ntResponse, peerChallenge, authChallenge, this.opts.username);
      this.ntResponse = ntResponse;
      const value = Buffer.concat([Buffer.from([49]), peerChallenge, Buffer.alloc(8), ntResponse, Buffer.from([0]), Buffer.from(this.opts.username)]);
      this.sendPpp(PppProtocol.CHAP, encodeControlPacket(2, pkt.identifier, value));
      return;
    }
    if (pkt.code === 3) {
      if (this.authDone) return;
      const text = pkt.data.toString('latin1');
      if (!text.startsWith(this.expectedS)) return this.fail('MS-CHAPv2 Success without the expected authenticator response');
      this.authDone = true;
      const master = getMasterKey(hashNtPasswordHash(this.ntHash), this.ntResponse);
      this.keys = {
        sendKey: getAsymmetricStartKey(master, 16, true, false),
        recvKey: getAsymmetricStartKey(master, 16, false, false),
      };
      this.sendCcpRequest();
      this.sendIpcpRequest();
      return;
    }
    if (pkt.code === 4) return this.fail(`MS-CHAPv2 Failure: ${pkt.data.toString('latin1')}`);
  }
  private expectedS = '';
  private ntResponse: Buffer = Buffer.alloc(0);

  private onCcp(code: number, id: number, data: Buffer): void {
    switch (code) {
      case ControlCode.ConfigureRequest: {
        const opts = parseOptions(data);
        const m = opts.find((o) => o.type === CCP_MPPE);
        if (opts.length !== 1 || !m || m.data.length !== 4) return this.fail('server CCP request without a sole MPPE option');
        const v = m.data.readUInt32BE(0);
        if (v === this.mppeValue) {
          this.sendPpp(PppProtocol.CCP, encodeControlPacket(ControlCode.ConfigureAck, id, data));
          this.ccpPeerAcked = true;
          this.checkUp();
        } else {
          const nak = Buffer.alloc(4);
          nak.writeUInt32BE(this.mppeValue, 0);
          this.sendPpp(PppProtocol.CCP, encodeControlPacket(ControlCode.ConfigureNak, id, encodeOptions([{ type: CCP_MPPE, data: nak }])));
        }
        return;
      }
      case ControlCode.ConfigureAck:
        if (this.ackRequest(this.ccpReq, id)) this.checkUp();
        return;
      case ControlCode.ConfigureNak: {
        // Take the server's mode (e.g. H for stateless) if it is a single 128-bit choice.
        const m = parseOptions(data).find((o) => o.type === CCP_MPPE);
        if (m?.data.length !== 4 || (m.data.readUInt32BE(0) & ~MPPE_H) !== MPPE_S) return this.fail('server Naks MPPE-128');
        this.mppeValue = m.data.readUInt32BE(0);
        this.sendCcpRequest();
        return;
      }
      case ControlCode.ConfigureReject:
        return this.fail('server rejects MPPE');
      case ControlCode.ResetRequest:
        this.encryptor?.onResetRequest();
        this.sendPpp(PppProtocol.CCP, encodeControlPacket(ControlCode.ResetAck, id));
        return;
      default:
        return;
    }
  }

  private onIpcp(code: number, id: number, data: Buffer): void {
    switch (code) {
      case ControlCode.ConfigureRequest:
        this.sendPpp(PppProtocol.IPCP, encodeControlPacket(ControlCode.ConfigureAck, id, data));
        this.ipcpPeerAcked = true;
        this.checkUp();
        return;
      case ControlCode.ConfigureAck:
        if (this.ackRequest(this.ipcpReq, id)) {
          this.address = this.requestedAddress;
          this.checkUp();
        }
        return;
      case ControlCode.ConfigureNak: {
        if (id !== this.ipcpReq.id) return;
        const a = parseOptions(data).find((o) => o.type === IPCP_ADDRESS);
        if (a?.data.length !== 4) return this.fail('IPCP Nak without an address');
        this.requestedAddress = a.data.readUInt32BE(0);
        this.sendIpcpRequest();
        return;
      }
      case ControlCode.ConfigureReject:
        return this.fail('server rejects IPCP address option');
      default:
        return;
    }
  }

  private checkUp(): void {
    if (this.isUp || this.finished) return;
    if (!(this.lcpReq.acked && this.lcpPeerAcked && this.authDone)) return;
    if (!(this.ccpReq.acked && this.ccpPeerAcked && this.ipcpReq.acked && this.ipcpPeerAcked)) return;
    const stateless = (this.mppeValue & MPPE_H) !== 0;
    this.encryptor = new MppeEncryptor(this.keys!.sendKey, 128, stateless);
    this.decryptor = new MppeDecryptor(this.keys!.recvKey, 128, stateless);
    this.isUp = true;
    this.upAt = performance.now();
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.setupTimer = null;
    this.events.up(this);
  }

  get mppeStateless(): boolean {
    return (this.mppeValue & MPPE_H) !== 0;
  }
}
