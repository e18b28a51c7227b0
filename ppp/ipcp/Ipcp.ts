// IPCP (RFC 1332, RFC 1877), server side. Options 1 (IP-Addresses, deprecated) and 2 (IP-Compression,
// VJ not implemented) have no handler and are Rejected.

import type { Logger } from 'pino';
import { OptionAutomaton, type AutomatonLimits } from '../Automaton.js';
import { encodeControlPacket, parseControlPacket, type ControlPacket } from '../ControlPacket.js';
import { OptionHandlerSet } from '../OptionHandlerSet.js';
import { IpAddressOption } from './options/IpAddress.js';
import { NameServerOption } from './options/NameServer.js';

export interface IpcpConfig {
  /** Our tunnel IPv4 address, host order u32. */
  localAddress: number;
  /** Up to two DNS servers (primary, secondary). */
  dns: readonly number[];
  /** Up to two NBNS/WINS servers. */
  wins: readonly number[];
}

export interface IpcpEvents {
  send(packet: Buffer): void;
  up(peerAddress: number): void;
  down(): void;
  finished(reason: string): void;
  /** Negotiation cannot succeed (e.g. the peer does not accept its address). */
  refused(reason: string): void;
}

export interface IpcpDeps {
  log: Logger;
  peerMru: () => number;
  limits?: Partial<AutomatonLimits> | undefined;
}

export class Ipcp {
  readonly automaton: OptionAutomaton;
  private readonly address: IpAddressOption;
  private readonly dns: [NameServerOption, NameServerOption];
  private upAddress: number | null = null;

  constructor(
    config: IpcpConfig,
    private readonly events: IpcpEvents,
    private readonly deps: IpcpDeps,
  ) {
    this.address = new IpAddressOption(config.localAddress >>> 0);
    this.dns = [NameServerOption.primaryDns(config.dns[0]), NameServerOption.secondaryDns(config.dns[1])];
    const options = new OptionHandlerSet([this.address, this.dns[0], NameServerOption.primaryNbns(config.wins[0]), this.dns[1], NameServerOption.secondaryNbns(config.wins[1])]);
    this.automaton = new OptionAutomaton({
      name: 'IPCP',
      optionSet: options,
      log: deps.log,
      limits: deps.limits,
      peerMru: deps.peerMru,
      hooks: {
        send: (code, id, data) => this.events.send(encodeControlPacket(code, id, data)),
        thisLayerUp: () => this.layerUp(),
        thisLayerDown: () => {
          this.upAddress = null;
          this.events.down();
        },
        thisLayerStarted: () => {},
        thisLayerFinished: (reason) => this.events.finished(reason),
        refused: (reason) => this.events.refused(reason),
      },
    });
  }

  get isOpened(): boolean {
    return this.automaton.isOpened && this.upAddress !== null;
  }

  /** The peer's address once IPCP is up. */
  get peerAddress(): number | null {
    return this.upAddress;
  }

  /** Per-user DNS servers (primary, secondary) instead of the configured ones; set before open(). */
  setDns(dns: readonly number[]): void {
    this.dns[0].setAddress(dns[0]);
    this.dns[1].setAddress(dns[1]);
  }

  /** The address to give the peer; set before open(). */
  assignPeerAddress(address: number): void {
    this.address.assign(address);
  }

  lowerUp(): void {
    this.automaton.up();
  }

  lowerDown(): void {
    this.automaton.down();
  }

  open(): void {
    this.automaton.open();
  }

  close(reason: string): void {
    this.automaton.close(reason);
  }

  /** The peer Protocol-Rejected IPCP. */
  rejected(): void {
    this.automaton.rejected(true, 'peer Protocol-Rejected IPCP');
  }

  input(payload: Buffer): void {
    let packet: ControlPacket;
    try {
      packet = parseControlPacket(payload);
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'malformed IPCP packet discarded');
      return;
    }
    this.automaton.input(packet);
  }

  private layerUp(): void {
    const addr = this.address.peerAddress;
    if (addr === null) {
      // Max-Failure turned our Nak into nothing and the peer went on without an address (pppd: same check).
      this.events.refused('peer refused to agree to its IP address');
      return;
    }
    this.upAddress = addr;
    this.events.up(addr);
  }
}
