// Per-call GRE sequence/acknowledgement state (RFC 2637 §4.2-4.4).
//
// Choices:
// - First sequence number sent is 1 (Linux kernel pptp: pre-increment from 0). RFC 2637 starts the
//   counter at 0 and Poptop sends 0 first; receivers accept any first number (Linux, Windows,
//   pptp-linux), and 1 is also safe against a receiver that initialises "last seen" to 0.
// - Receive: deliver strictly increasing numbers only (serial-number arithmetic mod 2^32); gaps are
//   loss and accepted. Older and duplicate packets are refused because stateless MPPE can only step
//   its key forward (RFC 3078 §7.3) and RFC 2637 §4.3 forbids out-of-order delivery to PPP.
// - The sliding send window (§4.2) is not enforced: Windows ([MS-PTPT] §3.1.5.7) and Linux ignore
//   it, the lab capture shows both ends far beyond the advertised window, and PPTP never
//   retransmits, so throttling on acks would only add latency. Acks are still tracked for stats.
// - No adaptive ack time-out (§4.4): Windows does not implement it either ([MS-PTPT] §3.1.5.9).
//   The 100 ms ack-only timer ([MS-PTPT] Packet Acknowledgment Timer) belongs to the caller:
//   after acceptSeq() returns true and nothing is sent within it, send an ack-only packet when
//   ackOnlyDue() says so, with the number from pendingAck().
// - A number more than MAX_FORWARD ahead is not taken on trust: GRE has no integrity, and one
//   spoofed packet far ahead would make every genuine packet look old until the counter wrapped.
//   It is refused and remembered; a next packet that continues it closely (1..JUMP_EVIDENCE after
//   it, as a sender's next packets do) is the evidence of a real jump (a long outage), and the
//   receiver resynchronises there.

/** How far ahead of the last accepted number a packet is believed at once (a loss burst of 4095 packets). */
export const MAX_FORWARD = 4096;
/** How closely the packet after a refused jump must follow it to confirm the jump. */
const JUMP_EVIDENCE = 16;

export interface GreSequencerCounters {
  /** Payload packets numbered by nextSeq(). */
  sent: number;
  /** Sequence numbers accepted by acceptSeq(). */
  received: number;
  /** Refused because older than the last accepted number (late/reordered). */
  outOfOrder: number;
  /** Refused because equal to the last accepted number. */
  duplicates: number;
  /** Sequence numbers skipped over by accepted packets (lost or still in flight). */
  gaps: number;
  /** Refused because more than MAX_FORWARD ahead with nothing yet to confirm the jump. */
  jumpsRefused: number;
  /** Jumps believed because a second packet continued them. */
  resyncs: number;
  /** Acks handed out by pendingAck() (piggy-backed or ack-only). */
  acksSent: number;
  /** Ack numbers received from the peer. */
  acksReceived: number;
}

export interface GreSequencerOptions {
  /** Sequence number of the first payload packet we send; default 1. */
  firstSendSeq?: number;
}

export class GreSequencer {
  // The counts sit beside the state each packet touches, in this object, not in a counters object of
  // their own: with many sessions every further object is a cache miss per packet (perf, BENCHMARKS.md
  // s11). Fields are laid out in declaration order: the send side's first, then the receive side's.
  private sendSeq: number;
  private lastSent = -1;
  private sent = 0;
  private ackOwed = false;
  private acksSent = 0;
  private lastReceived = 0;
  private haveReceived = false;
  private received = 0;
  private gaps = 0;
  /** A number refused as too far ahead, waiting for a packet that continues it. */
  private jumpCandidate: number | null = null;
  private refusedJump = false;
  private outOfOrder = 0;
  private duplicates = 0;
  private jumpsRefused = 0;
  private resyncs = 0;
  private haveAckReceived = false;
  private ackReceived = 0;
  private acksReceived = 0;

  constructor(opts: GreSequencerOptions = {}) {
    this.sendSeq = (opts.firstSendSeq ?? 1) >>> 0;
  }

  /** The counts so far (a copy). */
  get counters(): GreSequencerCounters {
    return {
      sent: this.sent,
      received: this.received,
      outOfOrder: this.outOfOrder,
      duplicates: this.duplicates,
      gaps: this.gaps,
      jumpsRefused: this.jumpsRefused,
      resyncs: this.resyncs,
      acksSent: this.acksSent,
      acksReceived: this.acksReceived,
    };
  }

  /** Sequence number for the next payload packet (mod 2^32). */
  nextSeq(): number {
    const seq = this.sendSeq;
    this.sendSeq = (seq + 1) >>> 0;
    this.lastSent = seq;
    this.sent++;
    return seq;
  }

  /**
   * Whether a received payload packet with this sequence number may go to PPP. The first packet's
   * number is taken as is; afterwards only numbers after the last accepted one (mod 2^32).
   */
  acceptSeq(seq: number): boolean {
    seq >>>= 0;
    if (this.haveReceived) {
      const diff = (seq - this.lastReceived) | 0;
      if (diff <= 0) {
        this.refusedJump = false; // written on refusals only: the accepted path stays one compare
        if (diff === 0) this.duplicates++;
        else this.outOfOrder++;
        return false;
      }
      if (diff > MAX_FORWARD) {
        const after = this.jumpCandidate === null ? 0 : (seq - this.jumpCandidate) | 0;
        if (after < 1 || after > JUMP_EVIDENCE) {
          this.jumpCandidate = seq;
          this.jumpsRefused++;
          this.refusedJump = true;
          return false;
        }
        this.resyncs++;
      }
      this.gaps += diff - 1;
    }
    this.jumpCandidate = null;
    this.haveReceived = true;
    this.lastReceived = seq;
    this.ackOwed = true;
    this.received++;
    return true;
  }

  /**
   * Ack number to put on the packet being built, or -1 when the last accepted number was already
   * acked. Calling it marks that number acked: only call it when the ack is actually sent.
   */
  pendingAck(): number {
    if (!this.ackOwed) return -1;
    this.ackOwed = false;
    this.acksSent++;
    return this.lastReceived;
  }

  /** True while an accepted sequence number has not been acked yet (ack-only packet owed). */
  ackOnlyDue(): boolean {
    return this.ackOwed;
  }

  /** Records the peer's Acknowledgment Number; keeps the highest (mod 2^32). */
  onAck(ack: number): void {
    ack >>>= 0;
    this.acksReceived++;
    if (!this.haveAckReceived || ((ack - this.ackReceived) | 0) > 0) {
      this.ackReceived = ack;
      this.haveAckReceived = true;
    }
  }

  /** Whether the last acceptSeq() that returned false refused a jump too far ahead (else: old or duplicate). */
  get lastRefusalWasJump(): boolean {
    return this.refusedJump;
  }

  /** Last accepted sequence number, or -1 before the first. */
  get lastReceivedSeq(): number {
    return this.haveReceived ? this.lastReceived : -1;
  }

  /** Highest ack received from the peer, or -1 before the first. */
  get lastAckReceived(): number {
    return this.haveAckReceived ? this.ackReceived : -1;
  }

  /** Payload packets sent and not yet acknowledged by the peer (informational; never enforced). */
  get unacknowledged(): number {
    if (this.lastSent < 0) return 0;
    if (!this.haveAckReceived) return this.sent;
    const diff = (this.lastSent - this.ackReceived) | 0;
    return Math.max(diff, 0);
  }
}
