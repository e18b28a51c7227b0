// An attacker on the path injects a clear-text IPCP Configure-Request into a live session of the
// real Linux client (IPCP is never encrypted, RFC 3078 §1). The server renegotiates IPCP with pppd
// and its MPPE carries on: had it restarted its ciphers from the start keys (and so repeated
// keystream), the client's kernel MPPE would discard every reply until the coherency count caught
// up again, i.e. about as many pings as had been answered before the injection.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG, labDown, labUp, NETNS, runClient, SERVER_IP, startServer, type ServerHandle } from './Lab.js';

const CLIENT_IP = '198.18.0.10';
const PINGS = 60;

/**
 * Waits for the client's next GRE packet of this call (a raw socket sees a copy), then sends, from the
 * client's address, GRE with the next-but-one sequence number carrying an IPCP Configure-Request for
 * `address` (RFC 1332 option 3). Prints the sequence number it saw.
 */
const INJECT = `
import socket, struct, sys
client, server, call_id, address = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
r.settimeout(20)
while True:
    pkt, (src, _) = r.recvfrom(65535)
    g = pkt[(pkt[0] & 15) * 4:]
    if src == client and g[0] & 0x10 and struct.unpack('!H', g[6:8])[0] == call_id:
        seq = struct.unpack('!I', g[8:12])[0]
        break
ipcp = bytes([1, 0x77, 0, 10, 3, 6]) + socket.inet_aton(address)
ppp = b'\\xff\\x03\\x80\\x21' + ipcp
gre = struct.pack('!BBHHHI', 0x30, 0x01, 0x880B, len(ppp), call_id, (seq + 2) & 0xFFFFFFFF) + ppp
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(gre), 0, 0, 64, 47, 0, socket.inet_aton(client), socket.inet_aton(server))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + gre, (server, 0))
print(seq)
`;

describe('an injected IPCP Configure-Request against the real Linux client', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    labUp();
    server = await startServer({ ...BASE_CONFIG, log: { level: 'info' } }, [['labuser', 'lab-password']]);
  });

  afterAll(async () => {
    await server?.stop();
    labDown();
  });

  it('IPCP renegotiates with pppd, the session and its MPPE carry on: the pings after it are answered', async () => {
    const client = runClient(['--client-ip', CLIENT_IP, '--pings', String(PINGS), '--ping-each', '--ping-interval', '0.3', '--ping-loss-ok', String(PINGS)]);
    const started = Date.now();
    const sessionUp = () => server.logs().find((l) => l.msg === 'session up');
    while (sessionUp() === undefined) {
      if (Date.now() - started > 90_000) throw new Error('no session');
      await new Promise((r) => setTimeout(r, 200));
    }
    const up = sessionUp()!;
    await new Promise((r) => setTimeout(r, 8000)); // some 25 pings answered: the counts the client has seen
    const injected = spawnSync('ip', ['netns', 'exec', NETNS, 'python3', '-c', INJECT, CLIENT_IP, SERVER_IP, String(up.callId), String(up.address)], { encoding: 'utf8' });
    expect(injected.status, injected.stderr).toBe(0);
    const result = await client;
    const logs = server.logs();
    const downs = logs.filter((l) => l.msg === 'network phase down' && l.callId === up.callId);
    console.log(`injected after GRE seq ${injected.stdout.trim()}; pings ${result.ping.received}/${result.ping.sent}; network phase down: ${JSON.stringify(downs.map((d) => d.reason))}`);
    // IPCP went down and up again (twice when both ends restart it, RFC 1661 §5.1); LCP only at the hang-up.
    expect(downs.map((d) => d.reason).filter((r) => r !== 'LCP down').length).toBeGreaterThanOrEqual(1);
    expect(downs.every((d) => d.reason === 'IPCP down' || d.reason === 'LCP down')).toBe(true);
    expect(logs.filter((l) => l.msg === 'session up')).toHaveLength(1); // the same session, the same accounting
    expect(result.connected).toBe(true);
    // Lost: the client's own packets the injected sequence number overtook, and the moment IPCP was down.
    expect(result.ping.received).toBeGreaterThanOrEqual(PINGS - 12);
  }, 180_000);
});
