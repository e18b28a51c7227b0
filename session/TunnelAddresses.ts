// The tunnel addresses of live sessions: the pool and static addresses, and a host route for a
// static address outside the TUN's own prefix (pool addresses are inside it, routed by the prefix).
// A static address (the user store's, a RADIUS Framed-IP-Address) passes the address policy first,
// at every login: no route is ever added for an address the policy refuses.
import type { AddressPolicy, AddressRefusal } from '../config/AddressPolicy.js';
import type { TunDevice } from '../io/TunDevice.js';
import { AddressPool } from './AddressPool.js';

export interface TunnelAddressesOptions {
  poolStart: number;
  poolEnd: number;
  /** The TUN's network: its address and prefix length. */
  tunAddress: number;
  tunPrefix: number;
  /** Which static addresses may be given (pool.allowedStaticRanges and the addresses never given). */
  policy: AddressPolicy;
  routes: Pick<TunDevice, 'addRoute' | 'delRoute'>;
  /** network.proxyArp: told of every address a session takes and gives back, to answer ARP for it on the LAN. */
  neighbours?: LanNeighbours;
}

/** Proxy ARP entries for session addresses on the LAN interface (server/NetworkSetup.ts); both calls return at once. */
export interface LanNeighbours {
  publish(address: number): void;
  withdraw(address: number): void;
}

/** An address for a session, or why there is none: the pool is used up, the static one is taken, or the policy refuses it. */
export type AddressGrant = { ok: true; address: number } | { ok: false; why: 'exhausted' | 'taken' } | { ok: false; why: 'refused'; refusal: AddressRefusal };

export class TunnelAddresses {
  private readonly pool: AddressPool;
  private readonly hostRoutes = new Set<number>();
  private readonly mask: number;
  private readonly base: number;

  constructor(private readonly options: TunnelAddressesOptions) {
    this.pool = new AddressPool(options.poolStart, options.poolEnd);
    this.mask = options.tunPrefix === 0 ? 0 : (~0 << (32 - options.tunPrefix)) >>> 0;
    this.base = (options.tunAddress & this.mask) >>> 0;
  }

  /** An address from the pool, or the static one when the policy allows it and it is free. */
  allocate(staticAddress?: number): AddressGrant {
    if (staticAddress !== undefined) {
      const refusal = this.options.policy.refusal(staticAddress);
      if (refusal) return { ok: false, why: 'refused', refusal };
    }
    const address = this.pool.allocate(staticAddress);
    if (address === null) return { ok: false, why: staticAddress === undefined ? 'exhausted' : 'taken' };
    if ((address & this.mask) >>> 0 !== this.base && !this.hostRoutes.has(address)) {
      this.options.routes.addRoute(address, 32);
      this.hostRoutes.add(address);
    }
    this.options.neighbours?.publish(address);
    return { ok: true, address };
  }

  /** A reloaded pool range (AddressPool.resize: live sessions keep their addresses); it must lie in the TUN's network. */
  resizePool(start: number, end: number): void {
    if ((start & this.mask) >>> 0 !== this.base || (end & this.mask) >>> 0 !== this.base) throw new RangeError("the pool must lie in the TUN's network");
    this.pool.resize(start, end);
  }

  /** Addresses held by sessions now, and the host routes added for them (the status dump; the soak checks both return to 0). */
  get held(): { addresses: number; hostRoutes: number } {
    return { addresses: this.pool.size.used, hostRoutes: this.hostRoutes.size };
  }

  release(address: number): void {
    if (this.hostRoutes.delete(address)) this.options.routes.delRoute(address, 32);
    this.options.neighbours?.withdraw(address);
    this.pool.release(address);
  }
}
