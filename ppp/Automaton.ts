// The RFC 1661 §4 option negotiation automaton, shared by LCP, IPCP and CCP (cf. accel-ppp ppp_fsm.c,
// pppd fsm.c). The transition table below is the RFC's (RFC 1661 §4.1), written out as data; what a protocol
// negotiates is supplied by an OptionSet, its extra codes by hooks.

import type { Logger } from 'pino';
import { ControlCode, CONTROL_HEADER_LENGTH, encodeOptions, MalformedPacketError, parseOptions, type ConfigOption, type ControlPacket } from './ControlPacket.js';
import { printableText } from './PrintableText.js';

export const AutomatonState = {
  Initial: 0,
  Starting: 1,
  Closed: 2,
  Stopped: 3,
  Closing: 4,
  Stopping: 5,
  ReqSent: 6,
  AckRcvd: 7,
  AckSent: 8,
  Opened: 9,
} as const;
export type AutomatonState = (typeof AutomatonState)[keyof typeof AutomatonState];

export const STATE_NAMES: readonly string[] = ['Initial', 'Starting', 'Closed', 'Stopped', 'Closing', 'Stopping', 'Req-Sent', 'Ack-Rcvd', 'Ack-Sent', 'Opened'];

export type AutomatonEvent = 'Up' | 'Down' | 'Open' | 'Close' | 'TO+' | 'TO-' | 'RCR+' | 'RCR-' | 'RCA' | 'RCN' | 'RTR' | 'RTA' | 'RUC' | 'RXJ+' | 'RXJ-' | 'RXR';

export type AutomatonAction = 'tlu' | 'tld' | 'tls' | 'tlf' | 'irc' | 'zrc' | 'scr' | 'sca' | 'scn' | 'str' | 'sta' | 'scj' | 'ser';

export interface Transition {
  readonly actions: readonly AutomatonAction[];
  readonly next: AutomatonState;
}

// RFC 1661 §4.1 state transition table: "actions/next state", "-" = cannot happen.
// Deviation (as pppd): renegotiation out of Opened also re-initialises the restart counter (irc), so a
// renegotiation gets the full Max-Configure budget. The "r" (restart) option is not used: Open in
// Stopped/Stopping/Opened just stays.
const TABLE_SPEC: Readonly<Record<AutomatonEvent, readonly string[]>> = {
  //       0 Initial 1 Starting   2 Closed     3 Stopped          4 Closing  5 Stopping 6 Req-Sent   7 Ack-Rcvd   8 Ack-Sent   9 Opened
  Up: ['2', 'irc,scr/6', '-', '-', '-', '-', '-', '-', '-', '-'],
  Down: ['-', '-', '0', 'tls/1', '0', '1', '1', '1', '1', 'tld/1'],
  Open: ['tls/1', '1', 'irc,scr/6', '3', '5', '5', '6', '7', '8', '9'],
  Close: ['0', 'tlf/0', '2', '2', '4', '4', 'irc,str/4', 'irc,str/4', 'irc,str/4', 'tld,irc,str/4'],
  'TO+': ['-', '-', '-', '-', 'str/4', 'str/5', 'scr/6', 'scr/6', 'scr/8', '-'],
  'TO-': ['-', '-', '-', '-', 'tlf/2', 'tlf/3', 'tlf/3', 'tlf/3', 'tlf/3', '-'],
  'RCR+': ['-', '-', 'sta/2', 'irc,scr,sca/8', '4', '5', 'sca/8', 'sca,tlu/9', 'sca/8', 'tld,irc,scr,sca/8'],
  'RCR-': ['-', '-', 'sta/2', 'irc,scr,scn/6', '4', '5', 'scn/6', 'scn/7', 'scn/6', 'tld,irc,scr,scn/6'],
  RCA: ['-', '-', 'sta/2', 'sta/3', '4', '5', 'irc/7', 'scr/6', 'irc,tlu/9', 'tld,irc,scr/6'],
  RCN: ['-', '-', 'sta/2', 'sta/3', '4', '5', 'irc,scr/6', 'scr/6', 'irc,scr/8', 'tld,irc,scr/6'],
  RTR: ['-', '-', 'sta/2', 'sta/3', 'sta/4', 'sta/5', 'sta/6', 'sta/6', 'sta/6', 'tld,zrc,sta/5'],
  RTA: ['-', '-', '2', '3', 'tlf/2', 'tlf/3', '6', '6', '8', 'tld,irc,scr/6'],
  RUC: ['-', '-', 'scj/2', 'scj/3', 'scj/4', 'scj/5', 'scj/6', 'scj/7', 'scj/8', 'scj/9'],
  'RXJ+': ['-', '-', '2', '3', '4', '5', '6', '6', '8', '9'],
  'RXJ-': ['-', '-', 'tlf/2', 'tlf/3', 'tlf/2', 'tlf/3', 'tlf/3', 'tlf/3', 'tlf/3', 'tld,irc,str/5'],
  RXR: ['-', '-', '2', '3', '4', '5', '6', '7', '8', 'ser/9'],
};

function parseCell(cell: string): Transition | null {
  if (cell === '-') return null;
  const slash = cell.indexOf('/');
  const actions = slash < 0 ? [] : (cell.slice(0, slash).split(',') as AutomatonAction[]);
  return { actions, next: Number(slash < 0 ? cell : cell.slice(slash + 1)) as AutomatonState };
}

export const TRANSITIONS: Readonly<Record<AutomatonEvent, readonly (Transition | null)[]>> = Object.fromEntries(
  Object.entries(TABLE_SPEC).map(([event, cells]) => [event, cells.map(parseCell)]),
) as unknown as Record<AutomatonEvent, readonly (Transition | null)[]>;

/** States in which the restart timer runs (the ones with TO entries). */
const TIMED_STATES: ReadonlySet<number> = new Set([4, 5, 6, 7, 8]);
/** States with a Configure-Request outstanding or just answered. */
const NEGOTIATING_STATES: ReadonlySet<number> = new Set([6, 7, 8]);

export type RequestVerdict = { kind: 'ack' } | { kind: 'nak'; options: ConfigOption[] } | { kind: 'reject'; options: ConfigOption[] };

export type ReplyOutcome =
  | { kind: 'ok' }
  /** The Nak/Reject is not a valid answer to our request: discard it. */
  | { kind: 'invalid'; why: string }
  /** Negotiation cannot succeed (a required option refused): the protocol decides what to do. */
  | { kind: 'refused'; reason: string };

/** What one protocol negotiates (implemented generically by OptionHandlerSet). */
export interface OptionSet {
  /** A fresh negotiation starts: back to the options we want. */
  reset(): void;
  buildRequest(): ConfigOption[];
  /** Judge the peer's Configure-Request; after Max-Failure Naks, `rejectInsteadOfNak` is set. */
  checkRequest(options: readonly ConfigOption[], rejectInsteadOfNak: boolean): RequestVerdict;
  /** We send Configure-Ack for this request: commit the peer's values. */
  peerRequestAcked(options: readonly ConfigOption[]): void;
  /** The peer acked our last request (already checked to be byte-identical). */
  applyAck(options: readonly ConfigOption[]): void;
  applyNak(options: readonly ConfigOption[]): ReplyOutcome;
  applyReject(options: readonly ConfigOption[]): ReplyOutcome;
}

export interface AutomatonHooks {
  /** Send one packet of this protocol. */
  send(code: number, identifier: number, data: Buffer): void;
  thisLayerUp(): void;
  thisLayerDown(): void;
  thisLayerStarted(): void;
  thisLayerFinished(reason: string): void;
  /**
   * A code outside 1-7: 'rxr' for Echo-Request (RXR event, replied to in Opened), 'handled' when the
   * protocol dealt with it, 'unknown' for a Code-Reject (RUC).
   */
  extensionCode?(packet: ControlPacket): 'rxr' | 'handled' | 'unknown';
  /** The `ser` action. */
  sendEchoReply?(packet: ControlPacket): void;
  /** Whether a Code-Reject of this code is fatal (RXJ−); default: codes 1-7. */
  isFatalCodeReject?(rejectedCode: number): boolean;
  codeRejected?(rejectedCode: number): void;
  /** The peer's Nak/Reject makes negotiation impossible. Default: Close with the reason. */
  refused?(reason: string): void;
}

export interface AutomatonLimits {
  restartMs: number;
  maxConfigure: number;
  maxTerminate: number;
  maxFailure: number;
}

/** RFC 1661 §4.6 defaults, as pppd fsm.h. */
export const DEFAULT_AUTOMATON_LIMITS: Readonly<AutomatonLimits> = {
  restartMs: 3000,
  maxConfigure: 10,
  maxTerminate: 2,
  maxFailure: 5,
};

export interface OptionAutomatonOptions {
  /** Protocol name for logs and reasons ("LCP", "IPCP", "CCP"). */
  name: string;
  optionSet: OptionSet;
  hooks: AutomatonHooks;
  log: Logger;
  limits?: Partial<AutomatonLimits> | undefined;
  /** The peer's MRU: bounds the copy in a Code-Reject. */
  peerMru?: () => number;
}

const EMPTY = Buffer.alloc(0);

interface PendingRequest {
  packet: ControlPacket;
  options: ConfigOption[];
  verdict: RequestVerdict;
}

/** Start of the finishing reason (for the log) when the peer sent Terminate-Request. */
const PEER_TERMINATED_REASON = 'peer requested termination';

export class OptionAutomaton {
  readonly name: string;
  private readonly optionSet: OptionSet;
  private readonly hooks: AutomatonHooks;
  private readonly log: Logger;
  private readonly limits: AutomatonLimits;
  private readonly peerMru: () => number;

  private current: AutomatonState = AutomatonState.Initial;
  private restartCounter = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private identifier = 0;
  private lastRequestId = -1;
  private lastRequestData: Buffer = EMPTY;
  private lastRequestOptions: ConfigOption[] = [];
  private awaitingReply = false;
  private naksSent = 0;
  private pending: PendingRequest | null = null;
  private terminationReason: string | null = null;
  private terminateData: Buffer = EMPTY;
  private peerTerminated = false;
  // Hooks may call back into this automaton (e.g. tld → link → close); such calls are queued and run
  // after the current event so every event sees a consistent state.
  private readonly queue: Array<() => void> = [];
  private busy = false;

  constructor(options: OptionAutomatonOptions) {
    this.name = options.name;
    this.optionSet = options.optionSet;
    this.hooks = options.hooks;
    this.log = options.log;
    this.limits = { ...DEFAULT_AUTOMATON_LIMITS, ...options.limits };
    this.peerMru = options.peerMru ?? (() => 1500);
  }

  get state(): AutomatonState {
    return this.current;
  }

  get stateName(): string {
    return STATE_NAMES[this.current]!;
  }

  get isOpened(): boolean {
    return this.current === AutomatonState.Opened;
  }

  /** Why the layer finished or is terminating, when known. */
  get reason(): string | null {
    return this.terminationReason;
  }

  /** The peer's Terminate-Request ended the opened layer (RFC 1661 §5.5), not our Close or a failure. */
  get terminatedByPeer(): boolean {
    return this.peerTerminated;
  }

  /** A fresh Identifier (Code-Reject, Protocol-Reject, Echo-Request, Reset-Request get one each). */
  nextIdentifier(): number {
    this.identifier = (this.identifier + 1) & 0xff;
    return this.identifier;
  }

  up(): void {
    this.dispatch(() => this.run('Up'));
  }

  down(): void {
    this.dispatch(() => this.run('Down'));
  }

  open(): void {
    this.dispatch(() => this.run('Open'));
  }

  close(reason: string): void {
    this.dispatch(() => {
      this.setTerminationReason(reason, true);
      this.run('Close');
    });
  }

  /** Code-Reject/Protocol-Reject concerning this protocol, decided by the caller (RXJ+ / RXJ−). */
  rejected(fatal: boolean, reason: string): void {
    this.dispatch(() => {
      if (fatal) this.setTerminationReason(reason, false);
      this.run(fatal ? 'RXJ-' : 'RXJ+');
    });
  }

  input(packet: ControlPacket): void {
    this.dispatch(() => this.receive(packet));
  }

  /**
   * The peer has just become able to answer: our Configure-Request still unanswered goes out again now,
   * byte for byte with the same Identifier (RFC 1661 §5.1 allows it for a retransmission, and a late
   * Ack of the first copy still matches), instead of at the restart timer. pppd, for one, starts its
   * other NCPs only once CCP is up when MPPE is required and drops our IPCP request until then.
   */
  retransmitUnanswered(): void {
    this.dispatch(() => {
      const negotiating = this.current === AutomatonState.ReqSent || this.current === AutomatonState.AckSent;
      if (!negotiating || !this.awaitingReply || this.restartCounter <= 0 || this.lastRequestData === null) return;
      this.restartCounter--;
      this.hooks.send(ControlCode.ConfigureRequest, this.lastRequestId, this.lastRequestData);
      this.startTimer();
    });
  }

  private dispatch(work: () => void): void {
    this.queue.push(work);
    if (this.busy) return;
    this.busy = true;
    try {
      for (let w = this.queue.shift(); w; w = this.queue.shift()) {
        try {
          w();
        } catch (err) {
          this.log.warn({ protocol: this.name, err: (err as Error).message }, 'error while processing an automaton event');
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private setTerminationReason(reason: string, overrideUnlessTerminating: boolean): void {
    const terminating = this.current === AutomatonState.Closing || this.current === AutomatonState.Stopping;
    if (this.terminationReason === null || (overrideUnlessTerminating && !terminating)) {
      this.terminationReason = reason;
      this.terminateData = Buffer.from(reason, 'utf8').subarray(0, 200);
    }
  }

  private receive(packet: ControlPacket): void {
    switch (packet.code) {
      case ControlCode.ConfigureRequest:
        this.receiveConfigureRequest(packet);
        return;
      case ControlCode.ConfigureAck:
        this.receiveConfigureAck(packet);
        return;
      case ControlCode.ConfigureNak:
      case ControlCode.ConfigureReject:
        this.receiveNakOrReject(packet);
        return;
      case ControlCode.TerminateRequest:
        if (this.current === AutomatonState.Opened) {
          if (this.terminationReason === null) this.peerTerminated = true;
          this.setTerminationReason(packet.data.length > 0 ? `${PEER_TERMINATED_REASON}: ${printableText(packet.data, 80)}` : PEER_TERMINATED_REASON, false);
        }
        this.run('RTR', packet);
        return;
      case ControlCode.TerminateAck:
        this.run('RTA', packet);
        return;
      case ControlCode.CodeReject:
        this.receiveCodeReject(packet);
        return;
      default: {
        const kind = this.hooks.extensionCode ? this.hooks.extensionCode(packet) : 'unknown';
        if (kind === 'rxr') this.run('RXR', packet);
        else if (kind === 'unknown') this.run('RUC', packet);
      }
    }
  }

  private receiveConfigureRequest(packet: ControlPacket): void {
    const s = this.current;
    if (s === AutomatonState.Closed || s === AutomatonState.Closing || s === AutomatonState.Stopping) {
      this.run('RCR+', packet); // same outcome for RCR+ and RCR−: no need to judge it
      return;
    }
    if (s === AutomatonState.Initial || s === AutomatonState.Starting) {
      this.run('RCR+', packet); // cannot happen: logged and ignored
      return;
    }
    let options: ConfigOption[];
    try {
      options = parseOptions(packet.data);
    } catch (err) {
      this.discard(packet, err);
      return;
    }
    // From Stopped/Opened this request starts a new negotiation: reset before judging it.
    const fresh = s === AutomatonState.Stopped || s === AutomatonState.Opened;
    if (fresh) this.startNegotiation();
    const verdict = this.optionSet.checkRequest(options, this.naksSent >= this.limits.maxFailure);
    this.pending = { packet, options, verdict };
    try {
      this.run(verdict.kind === 'ack' ? 'RCR+' : 'RCR-', packet, fresh);
    } finally {
      this.pending = null;
    }
  }

  private receiveConfigureAck(packet: ControlPacket): void {
    if (this.expectsReply()) {
      if (!this.isReplyToLastRequest(packet)) return;
      if (!packet.data.equals(this.lastRequestData)) {
        this.log.debug({ protocol: this.name, id: packet.identifier }, 'Configure-Ack differs from our request: discarded');
        return;
      }
      this.awaitingReply = false;
      this.optionSet.applyAck(this.lastRequestOptions);
    }
    this.run('RCA', packet);
  }

  private receiveNakOrReject(packet: ControlPacket): void {
    if (this.expectsReply()) {
      if (!this.isReplyToLastRequest(packet)) return;
      let options: ConfigOption[];
      try {
        options = parseOptions(packet.data);
      } catch (err) {
        this.discard(packet, err);
        return;
      }
      const outcome = packet.code === ControlCode.ConfigureNak ? this.optionSet.applyNak(options) : this.optionSet.applyReject(options);
      if (outcome.kind === 'invalid') {
        this.log.debug({ protocol: this.name, why: outcome.why }, 'invalid Configure-Nak/Reject discarded');
        return;
      }
      this.awaitingReply = false;
      if (outcome.kind === 'refused') {
        this.log.info({ protocol: this.name, reason: outcome.reason }, 'negotiation refused by peer');
        if (this.hooks.refused) this.hooks.refused(outcome.reason);
        else {
          this.setTerminationReason(outcome.reason, true);
          this.run('Close');
        }
        return;
      }
    }
    this.run('RCN', packet);
  }

  private receiveCodeReject(packet: ControlPacket): void {
    if (packet.data.length < 1) {
      this.discard(packet, new MalformedPacketError('empty Code-Reject'));
      return;
    }
    const code = packet.data[0]!;
    const fatal = this.hooks.isFatalCodeReject ? this.hooks.isFatalCodeReject(code) : code >= 1 && code <= 7;
    this.log.info({ protocol: this.name, rejectedCode: code, fatal }, 'peer sent Code-Reject');
    this.hooks.codeRejected?.(code);
    if (fatal) this.setTerminationReason(`peer Code-Rejected ${this.name} code ${code}`, false);
    this.run(fatal ? 'RXJ-' : 'RXJ+', packet);
  }

  /** Ack/Nak/Rej are checked against our outstanding request in the negotiating states and Opened. */
  private expectsReply(): boolean {
    return NEGOTIATING_STATES.has(this.current) || this.current === AutomatonState.Opened;
  }

  private isReplyToLastRequest(packet: ControlPacket): boolean {
    if (this.awaitingReply && packet.identifier === this.lastRequestId) return true;
    this.log.debug({ protocol: this.name, id: packet.identifier, expected: this.lastRequestId, awaiting: this.awaitingReply }, 'reply with unexpected Identifier discarded');
    return false;
  }

  private discard(packet: ControlPacket, err: unknown): void {
    this.log.debug({ protocol: this.name, code: packet.code, err: (err as Error).message }, 'malformed packet discarded');
  }

  private startNegotiation(): void {
    this.optionSet.reset();
    this.naksSent = 0;
    this.terminationReason = null;
    this.terminateData = EMPTY;
    this.peerTerminated = false;
  }

  private run(event: AutomatonEvent, packet?: ControlPacket, alreadyReset = false): void {
    const prev = this.current;
    const tr = TRANSITIONS[event][prev];
    if (!tr) {
      this.log.debug({ protocol: this.name, event, state: STATE_NAMES[prev] }, 'event cannot happen in this state: ignored');
      return;
    }
    this.current = tr.next;
    if (prev !== tr.next) {
      this.log.debug({ protocol: this.name, event, from: STATE_NAMES[prev], to: STATE_NAMES[tr.next] }, 'state change');
    }
    if (!alreadyReset && !NEGOTIATING_STATES.has(prev) && tr.actions.includes('scr')) this.startNegotiation();
    for (const action of tr.actions) this.perform(action, tr, packet);
    if (!TIMED_STATES.has(this.current)) this.stopTimer();
  }

  private perform(action: AutomatonAction, tr: Transition, packet: ControlPacket | undefined): void {
    switch (action) {
      case 'tlu':
        this.hooks.thisLayerUp();
        return;
      case 'tld':
        this.hooks.thisLayerDown();
        return;
      case 'tls':
        this.hooks.thisLayerStarted();
        return;
      case 'tlf':
        this.hooks.thisLayerFinished(this.terminationReason ?? `${this.name} finished`);
        return;
      case 'irc':
        this.restartCounter = tr.actions.includes('str') ? this.limits.maxTerminate : this.limits.maxConfigure;
        return;
      case 'zrc':
        this.restartCounter = 0;
        this.startTimer();
        return;
      case 'scr':
        this.sendConfigureRequest();
        return;
      case 'sca':
        this.sendConfigureAck();
        return;
      case 'scn':
        this.sendConfigureNakOrReject();
        return;
      case 'str':
        this.restartCounter--;
        this.hooks.send(ControlCode.TerminateRequest, this.nextIdentifier(), this.terminateData);
        this.startTimer();
        return;
      case 'sta':
        if (packet) this.hooks.send(ControlCode.TerminateAck, packet.identifier, EMPTY);
        return;
      case 'scj':
        if (packet) {
          const room = Math.max(0, this.peerMru() - CONTROL_HEADER_LENGTH);
          this.hooks.send(ControlCode.CodeReject, this.nextIdentifier(), packet.raw.subarray(0, room));
        }
        return;
      case 'ser':
        if (packet) this.hooks.sendEchoReply?.(packet);
        return;
    }
  }

  private sendConfigureRequest(): void {
    const options = this.optionSet.buildRequest();
    const data = encodeOptions(options);
    const id = this.nextIdentifier();
    this.lastRequestId = id;
    this.lastRequestData = data;
    this.lastRequestOptions = options;
    this.awaitingReply = true;
    this.restartCounter--;
    this.hooks.send(ControlCode.ConfigureRequest, id, data);
    this.startTimer();
  }

  private sendConfigureAck(): void {
    const p = this.pending;
    if (!p) return;
    this.naksSent = 0;
    this.optionSet.peerRequestAcked(p.options);
    // Ack echoes the options byte for byte (RFC 1661 §5.2).
    this.hooks.send(ControlCode.ConfigureAck, p.packet.identifier, p.packet.data);
  }

  private sendConfigureNakOrReject(): void {
    const p = this.pending;
    if (!p || p.verdict.kind === 'ack') return;
    if (p.verdict.kind === 'nak') {
      this.naksSent++;
      this.hooks.send(ControlCode.ConfigureNak, p.packet.identifier, encodeOptions(p.verdict.options));
    } else {
      this.hooks.send(ControlCode.ConfigureReject, p.packet.identifier, encodeOptions(p.verdict.options));
    }
  }

  // No clock object is injected anywhere: every timer is the global setTimeout/setInterval and every
  // time is Date.now(), which tests drive with vitest's fake timers (vi.useFakeTimers, vi.setSystemTime).
  private startTimer(): void {
    this.stopTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch(() => this.restartTimerExpired());
    }, this.limits.restartMs);
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private restartTimerExpired(): void {
    if (!TIMED_STATES.has(this.current)) return;
    if (this.restartCounter > 0) {
      this.run('TO+');
      return;
    }
    if (NEGOTIATING_STATES.has(this.current)) {
      this.setTerminationReason(`${this.name}: no answer after ${this.limits.maxConfigure} Configure-Requests`, false);
    }
    this.run('TO-');
  }
}
