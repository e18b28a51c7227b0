// The data plane's sessions by IPv4 address (the downstream lookup, one per packet from the TUN).
//
// Not a Map<number, V>: V8 keeps an integer as a small integer (Smi) only below 2^30, so an address from
// 64.0.0.0 up (192.168/16, 172.16/12, 100.64/10 pools: most of them) reaches Map.get as a heap number,
// allocated per lookup: 16 octets of garbage per packet and ~45 ns a lookup against ~25 ns (measured, Node
// 24). Here the key is split into the /24 (addr >>> 8, always a Smi) and the last octet: two loads, no
// allocation. Memory: one 256-slot array per /24 that holds a session (~1 KiB), bounded by the sessions.
/** One /24: a slot per last octet and how many hold a value. */
interface Net<V> {
  slots: Array<V | undefined>;
  used: number;
}

export class AddressTable<V> {
  private readonly nets = new Map<number, Net<V>>();

  get(address: number): V | undefined {
    return this.nets.get(address >>> 8)?.slots[address & 0xff];
  }

  set(address: number, value: V): void {
    const key = address >>> 8;
    let net = this.nets.get(key);
    if (net === undefined) {
      net = { slots: new Array<V | undefined>(256).fill(undefined), used: 0 };
      this.nets.set(key, net);
    }
    if (net.slots[address & 0xff] === undefined) net.used++;
    net.slots[address & 0xff] = value;
  }

  /** /24s holding at least one value (what the table's memory is). */
  get networks(): number {
    return this.nets.size;
  }

  delete(address: number): void {
    const key = address >>> 8;
    const net = this.nets.get(key);
    if (net === undefined || net.slots[address & 0xff] === undefined) return;
    net.slots[address & 0xff] = undefined;
    // A /24 with no session left goes: the table stays bounded by the sessions it holds, not the ones it held.
    if (--net.used === 0) this.nets.delete(key);
  }
}
