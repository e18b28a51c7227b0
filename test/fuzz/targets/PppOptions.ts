// The LCP, IPCP and CCP option decoders (ppp/lcp/options, ppp/ipcp/options, ppp/ccp/options/Mppe.ts)
// behind an OptionHandlerSet, as the automaton uses them: the input picks the protocol and its policy,
// then a series of calls (judge a peer's Configure-Request, with or without Reject-instead-of-Nak; apply
// a Nak or a Reject of our request; commit an acked request; start over) with option lists from the
// input. Documented: option handlers do not throw (parseOptions throws MalformedPacketError only).
// Invariants (wrong acceptance): an Ack only for values the policy allows (MRU >= 128, magic != 0 and
// not ours, boolean options empty, IP address = the assigned one, name servers = the configured ones,
// MPPE exactly one allowed key length with only H besides, H when the mode is stateless; the
// authentication option never); a Reject lists unmodified options of the request, in order; no Nak
// once Reject-instead-of-Nak is set; our own requests stay within policy whatever the peer Naks.

import { type AuthMethod, authMethodOfOption } from '../../../ppp/auth/AuthMethod.js';
import type { OptionSet, RequestVerdict } from '../../../ppp/Automaton.js';
import { type ConfigOption, encodeOptions, MalformedPacketError, parseOptions } from '../../../ppp/ControlPacket.js';
import { decodeMppe, MppeBit, type MppeMode, MppeOption } from '../../../ppp/ccp/options/Mppe.js';
import { IpAddressOption } from '../../../ppp/ipcp/options/IpAddress.js';
import { NameServerOption } from '../../../ppp/ipcp/options/NameServer.js';
import { AccmOption } from '../../../ppp/lcp/options/Accm.js';
import { AcfcOption } from '../../../ppp/lcp/options/Acfc.js';
import { AuthProtocolOption } from '../../../ppp/lcp/options/AuthProtocol.js';
import { MagicNumberOption } from '../../../ppp/lcp/options/MagicNumber.js';
import { MruOption } from '../../../ppp/lcp/options/Mru.js';
import { PfcOption } from '../../../ppp/lcp/options/Pfc.js';
import type { MppeBits } from '../../../ppp/mppe/MppeKeys.js';
import { OptionHandlerSet } from '../../../ppp/OptionHandlerSet.js';
import { ByteReader, ByteWriter, options, u16, u32 } from '../Helpers.js';
import { Prng } from '../Prng.js';
import { check, InvariantError, type FuzzTarget } from '../run.js';

const AUTH_SETS: readonly AuthMethod[][] = [['mschapv2'], ['mschapv2', 'mschap'], ['mschapv2', 'mschap', 'chap', 'pap'], ['pap'], ['chap', 'pap'], ['mschap']];
const BIT_SETS: readonly MppeBits[][] = [[128], [40, 128], [40, 56, 128], [56], [40]];
const MODES: readonly MppeMode[] = ['stateless', 'prefer-stateless', 'prefer-stateful'];
const ASSIGNED = 0xc6126464;
const DNS = [0xc6126435, 0xc6126436];

interface Subject {
  protocol: 'LCP' | 'IPCP' | 'CCP';
  set: OptionSet;
  /** The verdict on one option is acceptable; throws an InvariantError naming the problem otherwise. */
  ackable(o: ConfigOption): boolean;
  /** Our request (after buildRequest) is within policy. */
  checkRequest(request: ConfigOption[]): void;
  registered: ReadonlySet<number>;
}

function lcp(r: ByteReader): Subject {
  const cfg = r.u8();
  const auth = AUTH_SETS[cfg % AUTH_SETS.length]!;
  const mru = new MruOption((cfg & 0x10) !== 0 ? 1400 : undefined);
  const rng = new Prng(cfg * 7919 + 1);
  const magic = new MagicNumberOption(() => (rng.chance(0.1) ? 0 : rng.u32()));
  const set = new OptionHandlerSet([mru, new AccmOption(), new AuthProtocolOption(auth), magic, new PfcOption(), new AcfcOption()]);
  return {
    protocol: 'LCP',
    set,
    registered: new Set([1, 2, 3, 5, 7, 8]),
    ackable(o) {
      switch (o.type) {
        case 1:
          return o.data.length === 2 && o.data.readUInt16BE(0) >= 128;
        case 2:
          return o.data.length === 4;
        case 5:
          return o.data.length === 4 && o.data.readUInt32BE(0) !== 0;
        case 7:
        case 8:
          return o.data.length === 0;
        default:
          return false; // 3 (we authenticate the peer, never the reverse) and everything unknown
      }
    },
    checkRequest(request) {
      for (const o of request) {
        if (o.type === 3) {
          const m = authMethodOfOption(o.data);
          check(m !== null && auth.includes(m), () => `LCP request asks for ${o.data.toString('hex')}, outside the offered ${auth.join(',')}`);
        } else if (o.type === 1) check(o.data.length === 2 && o.data.readUInt16BE(0) >= 128, 'LCP request with a bad MRU');
        else if (o.type === 5) check(o.data.length === 4 && o.data.readUInt32BE(0) !== 0, 'LCP request with magic number 0');
        else check(false, `LCP request carries option ${o.type}`);
      }
    },
  };
}

function ipcp(r: ByteReader): Subject {
  const cfg = r.u8();
  const address = new IpAddressOption(cfg & 1 ? 0 : 0xc6126401);
  const assigned = cfg & 2 ? null : ASSIGNED;
  if (assigned !== null) address.assign(assigned);
  const dns = [(cfg & 4) !== 0 ? undefined : DNS[0], (cfg & 8) !== 0 ? undefined : DNS[1]];
  const set = new OptionHandlerSet([
    address,
    NameServerOption.primaryDns(dns[0]),
    NameServerOption.primaryNbns(undefined),
    NameServerOption.secondaryDns(dns[1]),
    NameServerOption.secondaryNbns(undefined),
  ]);
  const wanted = (v: number | null | undefined, d: Buffer) => v !== null && v !== undefined && d.length === 4 && d.readUInt32BE(0) === v;
  return {
    protocol: 'IPCP',
    set,
    registered: new Set([3, 129, 130, 131, 132]),
    ackable(o) {
      if (o.type === 3) return wanted(assigned, o.data);
      if (o.type === 129) return wanted(dns[0], o.data);
      if (o.type === 131) return wanted(dns[1], o.data);
      return false;
    },
    checkRequest(request) {
      for (const o of request) check(o.type === 3 && o.data.length === 4 && o.data.readUInt32BE(0) === 0xc6126401, `IPCP request carries ${o.type}:${o.data.toString('hex')}`);
    },
  };
}

function ccp(r: ByteReader): Subject {
  const cfg = r.u8();
  const bits = BIT_SETS[cfg % BIT_SETS.length]!;
  const mode = MODES[(cfg >> 4) % 3]!;
  const mppe = new MppeOption({ required: (cfg & 0x80) !== 0, bits, mode });
  const set = new OptionHandlerSet([mppe]);
  const allowed = (d: Buffer) => {
    if (d.length !== 4) return false;
    const v = d.readUInt32BE(0);
    const m = decodeMppe(v);
    return m !== null && bits.includes(m.bits) && (mode !== 'stateless' || m.stateless) && (v & (MppeBit.Mppc | MppeBit.Obsolete)) === 0;
  };
  return {
    protocol: 'CCP',
    set,
    registered: new Set([18]),
    ackable: (o) => o.type === 18 && allowed(o.data),
    checkRequest(request) {
      for (const o of request) check(o.type === 18 && allowed(o.data), () => `CCP request ${o.type}:${o.data.toString('hex')} outside policy ${bits.join('/')} ${mode}`);
    },
  };
}

function sameOption(a: ConfigOption, b: ConfigOption): boolean {
  return a.type === b.type && a.data.equals(b.data);
}

function checkVerdict(s: Subject, request: ConfigOption[], v: RequestVerdict, rejectInsteadOfNak: boolean): void {
  if (v.kind === 'ack') {
    for (const o of request) check(s.ackable(o), () => `${s.protocol} acked option ${o.type}:${o.data.toString('hex')}`);
    return;
  }
  // Must encode (Nak data from the handlers, Reject copies of the peer's options).
  encodeOptions(v.options);
  if (v.kind === 'reject') {
    let i = 0;
    for (const o of v.options) {
      while (i < request.length && !sameOption(request[i]!, o)) i++;
      check(i < request.length, () => `${s.protocol} Configure-Reject lists ${o.type}:${o.data.toString('hex')}, not an unmodified option of the request`);
      i++;
    }
    return;
  }
  check(!rejectInsteadOfNak, `${s.protocol} sent a Nak after Max-Failure (must Reject instead)`);
  for (const o of v.options) check(s.registered.has(o.type), `${s.protocol} Nak'd unknown option ${o.type}`);
  check(v.options.length > 0, 'empty Nak');
}

function randomList(rng: Prng, protocol: number): Buffer {
  const pool: Array<() => [number, Buffer]> =
    protocol === 0
      ? [
          () => [1, u16(rng.pick([0, 127, 128, 1400, 1500, 0xffff, rng.int(0x10000)]))],
          () => [2, u32(rng.u32())],
          () => [
            3,
            rng.pick([
              Buffer.from([0xc2, 0x23, 0x81]),
              Buffer.from([0xc2, 0x23, 0x80]),
              Buffer.from([0xc2, 0x23, 0x05]),
              Buffer.from([0xc0, 0x23]),
              Buffer.from([0xc2, 0x27]),
              rng.bytes(rng.small(4)),
            ]),
          ],
          () => [5, u32(rng.pick([0, 1, rng.u32()]))],
          () => [7, Buffer.alloc(rng.chance(0.8) ? 0 : 1)],
          () => [8, Buffer.alloc(rng.chance(0.8) ? 0 : 1)],
          () => [rng.pick([4, 13, 17, 19, 23, rng.byte()]), rng.bytes(rng.small(5))],
        ]
      : protocol === 1
        ? [
            () => [3, u32(rng.pick([0, ASSIGNED, 0xc6126401, rng.u32()]))],
            () => [rng.pick([129, 130, 131, 132]), u32(rng.pick([0, DNS[0]!, DNS[1]!, rng.u32()]))],
            () => [rng.pick([1, 2]), rng.bytes(rng.pick([4, 6, 8]))],
            () => [rng.byte(), rng.bytes(rng.small(5))],
          ]
        : [
            () => [18, u32(rng.pick([0x01000040, 0x01000020, 0x01000080, 0x00000040, 0x010000e0, 0x01000060, 0x01000041, 0x01000050, 0x000000e0, 0x00000001, 0xffffffff, 0, rng.u32()]))],
            () => [18, rng.bytes(rng.pick([0, 2, 3, 5]))],
            () => [rng.pick([1, 17, 21, 24, 26, rng.byte()]), rng.bytes(rng.small(5))],
          ];
  const list: Array<readonly [number, Uint8Array]> = [];
  for (let n = rng.small(5); n > 0; n--) list.push(rng.pick(pool)());
  return options(list);
}

export const pppOptionsTarget: FuzzTarget = {
  name: 'ppp-options',
  maxInputLength: 400,

  seedInputs() {
    const op = (w: ByteWriter, code: number, list: Buffer) => w.u8(code).u8(list.length).bytes(list);
    const lcpSeed = new ByteWriter().u8(0).u8(2);
    op(
      lcpSeed,
      0,
      options([
        [2, u32(0)],
        [5, u32(0x1a2b3c4d)],
        [7, Buffer.alloc(0)],
        [8, Buffer.alloc(0)],
      ]),
    );
    op(lcpSeed, 2, options([[3, Buffer.from([0xc0, 0x23])]]));
    op(lcpSeed, 4, Buffer.alloc(0));
    const ipcpSeed = new ByteWriter().u8(1).u8(0);
    op(
      ipcpSeed,
      0,
      options([
        [3, u32(0)],
        [129, u32(0)],
        [131, u32(0)],
      ]),
    );
    op(
      ipcpSeed,
      0,
      options([
        [3, u32(ASSIGNED)],
        [129, u32(DNS[0]!)],
        [131, u32(DNS[1]!)],
      ]),
    );
    const ccpSeed = new ByteWriter().u8(2).u8(0x12);
    op(ccpSeed, 0, options([[18, u32(0x01000040)]]));
    op(ccpSeed, 2, options([[18, u32(0x00000040)]]));
    return [lcpSeed.toBuffer(), ipcpSeed.toBuffer(), ccpSeed.toBuffer()];
  },

  generate(rng) {
    const protocol = rng.int(3);
    const w = new ByteWriter().u8(protocol).u8(rng.byte());
    for (let n = rng.range(1, 8); n > 0; n--) {
      const list = randomList(rng, protocol);
      w.u8(rng.int(6)).u8(list.length).bytes(list);
    }
    return w.toBuffer();
  },

  run(input) {
    const r = new ByteReader(input);
    const which = r.u8() % 3;
    const s = which === 0 ? lcp(r) : which === 1 ? ipcp(r) : ccp(r);
    s.set.reset();
    let lastRequest = s.set.buildRequest();
    s.checkRequest(lastRequest);
    const seen = new Set<string>();
    while (!r.done) {
      const op = r.u8() % 6;
      const data = r.bytes(r.u8());
      let list: ConfigOption[];
      try {
        list = parseOptions(data);
      } catch (err) {
        if (err instanceof MalformedPacketError) {
          seen.add('malformed');
          continue;
        }
        throw err;
      }
      try {
        switch (op) {
          case 0:
          case 1: {
            const rejectInsteadOfNak = op === 1;
            const v = s.set.checkRequest(list, rejectInsteadOfNak);
            checkVerdict(s, list, v, rejectInsteadOfNak);
            seen.add(v.kind);
            if (v.kind === 'ack') s.set.peerRequestAcked(list);
            break;
          }
          case 2:
            seen.add(`nak→${s.set.applyNak(list).kind}`);
            lastRequest = s.set.buildRequest();
            s.checkRequest(lastRequest);
            break;
          case 3: {
            const outcome = s.set.applyReject(list);
            seen.add(`reject→${outcome.kind}`);
            if (outcome.kind !== 'invalid')
              for (const o of list)
                check(
                  lastRequest.some((q) => sameOption(q, o)),
                  'a Configure-Reject of options we did not request was applied',
                );
            lastRequest = s.set.buildRequest();
            s.checkRequest(lastRequest);
            break;
          }
          case 4:
            s.set.applyAck(lastRequest);
            break;
          default:
            s.set.reset();
            lastRequest = s.set.buildRequest();
            s.checkRequest(lastRequest);
        }
      } catch (err) {
        if (err instanceof InvariantError) throw err;
        throw new InvariantError(`${s.protocol} option handler threw ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    return `${s.protocol} ${[...seen].sort().join(',')}`;
  },
};
