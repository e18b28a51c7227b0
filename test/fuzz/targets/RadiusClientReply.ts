// RadiusClient reply handling (radius/RadiusClient.ts onDatagram): every datagram that arrives on the
// client's socket, against an outstanding request (access, accounting or Status-Server) whose
// Identifier, server address and port match or not. The input's first octet chooses the request kind,
// the mismatches, whether the client requires Message-Authenticator, and whether the target re-seals
// the (mutated) datagram as a server holding the secret would (so attribute decoding is reached).
// There is no socket seam: the target reaches the private onDatagram and the outstanding-request map
// (named in the error if they change) and never sends anything.
// Documented: onDatagram never throws (it is a socket event handler); a reply is accepted only after
// its Response Authenticator and Message-Authenticator verify; BlastRADIUS: Access-* replies without a
// valid Message-Authenticator are dropped when required. Invariants: accepted iff an independent
// oracle says so (decodable, Identifier and source match, code answers the request, RFC 2865 §3 MD5,
// RFC 3579 HMAC-MD5 or allowed absence); the accepted reply carries the decoded attributes; its MPPE key
// accessors throw RadiusFormatError only.

import type { RemoteInfo } from 'node:dgram';
import { RadiusClient, type RadiusReply } from '../../../radius/RadiusClient.js';
import { decodePacket, RadiusFormatError } from '../../../radius/RadiusPacket.js';
import { recorder } from '../Helpers.js';
import { Prng } from '../Prng.js';
import { allowOnly, check, type FuzzTarget, InvariantError } from '../run.js';
import { oracleMessageAuthenticator, oracleResponseAuthenticator, REQUEST_AUTHENTICATOR, readAllAttributes, reseal, SECRET, sealedReply } from './RadiusPacket.js';

const SERVER = '192.0.2.10';
const AUTH_PORT = 1812;
const ACCT_PORT = 1813;

type Kind = 'access' | 'accounting' | 'status-auth' | 'status-acct';
const KINDS: readonly Kind[] = ['access', 'accounting', 'status-auth', 'status-acct'];
const ANSWERS: Record<Kind, readonly number[]> = { access: [2, 3, 11], accounting: [5], 'status-auth': [2], 'status-acct': [5] };

interface Internals {
  onDatagram(cs: unknown, msg: Buffer, rinfo: RemoteInfo): void;
  socketWithRoom(family: 4 | 6): { outstanding: Map<number, unknown> };
}

let clients: Array<{ client: RadiusClient; internals: Internals; cs: { outstanding: Map<number, unknown> } }> = [];

function internalsOf(client: RadiusClient): Internals {
  const i = client as unknown as Partial<Internals>;
  if (typeof i.onDatagram !== 'function' || typeof i.socketWithRoom !== 'function') {
    throw new InvariantError('RadiusClient internals changed (onDatagram/socketWithRoom): update test/fuzz/targets/RadiusClientReply.ts');
  }
  return i as Internals;
}

export const radiusClientTarget: FuzzTarget = {
  name: 'radius-client',
  maxInputLength: 4200,

  setup() {
    clients = [true, false].map((requireMessageAuthenticator) => {
      const client = new RadiusClient({ servers: [{ address: SERVER, authPort: AUTH_PORT, acctPort: ACCT_PORT, secret: SECRET }], requireMessageAuthenticator, log: recorder.logger });
      const internals = internalsOf(client);
      return { client, internals, cs: internals.socketWithRoom(4) };
    });
  },
  teardown() {
    for (const c of clients) c.client.close();
    clients = [];
  },

  seedInputs() {
    const rng = new Prng(0xc11e);
    return [0, 1, 2, 3, 0x20, 0x21].map((mode) => Buffer.concat([Buffer.from([mode]), sealedReply(rng, ANSWERS[KINDS[mode & 3]!]!)]));
  },

  generate(rng) {
    const mode = rng.chance(0.6) ? rng.int(4) | (rng.chance(0.3) ? 0x20 : 0) | (rng.chance(0.2) ? 0x40 : 0) : rng.byte();
    const kind = KINDS[mode & 3]!;
    return Buffer.concat([Buffer.from([mode]), sealedReply(rng, ANSWERS[kind], rng.chance(0.05) ? 'other-secret' : SECRET)]);
  },

  run(input) {
    if (input.length === 0) return 'empty';
    const mode = input[0]!;
    const kind = KINDS[mode & 3]!;
    const requireMa = (mode & 0x40) === 0;
    let msg = input.subarray(1);
    // Re-seal: a server with the secret sent these (possibly nonsensical) attributes.
    if (mode & 0x20) {
      let ok = false;
      try {
        decodePacket(msg);
        ok = true;
      } catch {}
      if (ok) msg = reseal(msg.subarray(0, msg.readUInt16BE(2)), REQUEST_AUTHENTICATOR, mode & 0x80 ? 'wrong-secret' : SECRET, false);
    }
    const { internals, cs } = clients[requireMa ? 0 : 1]!;
    const id = msg.length >= 2 ? msg[1]! ^ (mode & 0x04 ? 1 : 0) : 0;
    const port = kind === 'accounting' || kind === 'status-acct' ? ACCT_PORT : AUTH_PORT;
    const replies: RadiusReply[] = [];
    cs.outstanding.set(id, {
      kind: kind === 'access' ? 'access' : kind === 'accounting' ? 'accounting' : 'status',
      answers: ANSWERS[kind],
      address: SERVER,
      port,
      label: `${SERVER}:${port}`,
      secret: SECRET,
      requestAuthenticator: REQUEST_AUTHENTICATOR,
      onReply: (r: RadiusReply) => replies.push(r),
    });
    const rinfo: RemoteInfo = { address: mode & 0x08 ? '192.0.2.11' : SERVER, port: mode & 0x10 ? port + 1000 : port, family: 'IPv4', size: msg.length };
    try {
      internals.onDatagram(cs, msg, rinfo);
    } catch (err) {
      throw new InvariantError(`onDatagram threw ${(err as Error).name}: ${(err as Error).message}`);
    } finally {
      cs.outstanding.delete(id);
    }
    // The oracle.
    let decoded: ReturnType<typeof decodePacket> | null = null;
    try {
      decoded = decodePacket(msg);
    } catch {}
    let expected = false;
    let why = 'malformed';
    if (decoded) {
      const ma = oracleMessageAuthenticator(decoded.raw, REQUEST_AUTHENTICATOR, SECRET);
      if (decoded.identifier !== id || rinfo.address !== SERVER || rinfo.port !== port) why = 'not ours';
      else if (!ANSWERS[kind].includes(decoded.code)) why = 'wrong code';
      else if (!oracleResponseAuthenticator(decoded.raw, REQUEST_AUTHENTICATOR, SECRET)) why = 'bad response authenticator';
      else if (ma === 'invalid') why = 'bad MA';
      else if (ma === 'absent' && decoded.code !== 5 && requireMa) why = 'no MA';
      else {
        expected = true;
        why = 'accepted';
      }
    }
    check(replies.length === (expected ? 1 : 0), `reply ${replies.length ? 'accepted' : 'dropped'}, the RFC 2865/3579 oracle says ${why}`);
    if (replies.length === 1) {
      const reply = replies[0]!;
      check(reply.attributes.length === decoded!.attributes.length, 'accepted reply lost attributes');
      for (const get of [() => reply.mppeSendKey(), () => reply.mppeRecvKey(), () => reply.msChapMppeKeys()]) allowOnly([RadiusFormatError], () => void get(), 'RadiusReply key accessor');
      readAllAttributes(reply.attributes, REQUEST_AUTHENTICATOR, SECRET);
    }
    return `${kind} ${why}`;
  },
};
