// The tunnel addresses of live sessions: the pool and static addresses, and a host route for a
// static address outside the TUN's own prefix (pool addresses are inside it, routed by the prefix).
import type { TunDevice } from '../io/TunDevice.js';
import { AddressPool } from './AddressPool.js';

export interface TunnelAddressesOptions {
  poolStart: number;
  poolEnd: number;
  /** The TUN's network: its address and prefix length. */
  tunAddress: number;
  tunPrefix: number;
  routes: Pick<TunDevice, 'addRoute' | 'delRoute'>;
}

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

  /** An address from the pool, or the static one when it is free; null when none can be had. */
  allocate(staticAddress?: number): number | null {
    const address = this.pool.allocate(staticAddress);
    if (address === null) return null;
    if ((address & this.mask) >>> 0 !== this.base && !this.hostRoutes.has(address)) {
      this.options.routes.addRoute(address, 32);
      this.hostRoutes.add(address);
    }
    return address;
  }

  /** Addresses held by sessions now, and the host routes added for them (the status dump; the soak checks both return to 0). */
  get held(): { addresses: number; hostRoutes: number } {
    return { addresses: this.pool.size.used, hostRoutes: this.hostRoutes.size };
  }

  release(address: number): void {
    if (this.hostRoutes.delete(address)) this.options.routes.delRoute(address, 32);
    this.pool.release(address);
  }
}
