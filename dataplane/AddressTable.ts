// The data plane's sessions by IPv4 address (the downstream lookup, one per packet from the TUN).
//
// Not a Map<number, V>: V8 keeps an integer as a small integer (Smi) only below 2^30, so an address from
// 64.0.0.0 up (192.168/16, 172.16/12, 100.64/10 pools: most of them) reaches Map.get as a heap number,
// allocated per lookup: 16 octets of garbage per packet and ~45 ns a lookup against ~25 ns (measured, Node
// 24). Here the key is split into the /24 (addr >>> 8, always a Smi) and the last octet: two loads, no
// allocation. Memory: one 256-slot array per /24 that holds a session (~1 KiB), bounded by the sessions.
export class AddressTable<V> {
  private readonly nets = new Map<number, Array<V | undefined>>();

  get(address: number): V | undefined {
    return this.nets.get(address >>> 8)?.[address & 0xff];
  }

  set(address: number, value: V): void {
    const net = address >>> 8;
    let slots = this.nets.get(net);
    if (slots === undefined) {
      slots = new Array<V | undefined>(256).fill(undefined);
      this.nets.set(net, slots);
    }
    slots[address & 0xff] = value;
  }

  /** /24s holding at least one value (what the table's memory is). */
  get networks(): number {
    return this.nets.size;
  }

  delete(address: number): void {
    const net = address >>> 8;
    const slots = this.nets.get(net);
    if (slots === undefined) return;
    slots[address & 0xff] = undefined;
    // A /24 with no session left goes: the table stays bounded by the sessions it holds, not the ones it held.
    if (slots.every((v) => v === undefined)) this.nets.delete(net);
  }
}
