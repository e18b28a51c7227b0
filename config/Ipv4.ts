// IPv4 addresses travel through the server as host-order unsigned 32-bit numbers: cheap to
// compare and to use as map keys on the data path. Text only at the edges (config, logs, CLI).

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
    value = value * 256 + Number(part);
  }
  return value >>> 0;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** Longest prefix length whose network holds every given address (0..32). */
export function coveringPrefixLength(addresses: number[]): number {
  let prefix = 32;
  for (const a of addresses) {
    while (prefix > 0 && (a ^ addresses[0]) >>> (32 - prefix) !== 0) prefix--;
  }
  return prefix;
}
