import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuthResult, Authenticator, MsChapV2Request } from '../../ppp/Authenticator.js';
import { type LinkEnd, PppLink, type PppLinkConfig, type PppNetworkInfo } from '../../ppp/PppLink.js';

const LCP = 0xc021;
const CHAP = 0xc223;
const IPCP = 0x8021;
const CCP = 0x80fd;
const IPV6CP = 0x8057;

function ip(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}
function ipBytes(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

const LOCAL = ip('198.18.100.1');
const ASSIGNED = ip('198.18.100.10');
const DNS1 = ip('198.18.100.53');
const DNS2 = ip('198.18.100.54');
const PEER_MAGIC = [0x1a, 0x2b, 0x3c, 0x4d];
const PEER_CHALLENGE = Buffer.alloc(16, 0x21);
const GOOD_NT = Buffer.alloc(24, 0x5a);
const AUTH_RESPONSE = 'S=407A5589115FD0D6209F510FE9C04566932CDA56';
const KEYS = { sendKey: Buffer.alloc(16, 0x33), recvKey: Buffer.alloc(16, 0x44) };

/** A Code/Identifier/Length control packet, as a peer would send it. */
function cp(code: number, id: number, data: number[] | Buffer = []): Buffer {
  const d = Buffer.from(data);
  const b = Buffer.alloc(4 + d.length);
  b[0] = code;
  b[1] = id;
  b.writeUInt16BE(4 + d.length, 2);
  d.copy(b, 4);
  return b;
}

function chapResponse(id: number, name = 'labuser', nt = GOOD_NT, flags = 0): Buffer {
  return cp(2, id, Buffer.concat([Buffer.from([49]), PEER_CHALLENGE, Buffer.alloc(8), nt, Buffer.from([flags]), Buffer.from(name)]));
}

class FakeAuthenticator implements Authenticator {
  readonly requests: MsChapV2Request[] = [];
  async verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    this.requests.push(request);
    if (request.ntResponse.equals(GOOD_NT)) return { ok: true, authenticatorResponse: AUTH_RESPONSE, mppeKeys: KEYS };
    return { ok: false, errorCode: 691, message: 'Authentication failed' };
  }
}

interface Sent {
  protocol: number;
  payload: Buffer;
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

function makeLink(overrides: Partial<PppLinkConfig> = {}, assign: (u: string, s?: number) => number | null = () => ASSIGNED) {
  const sent: Sent[] = [];
  const ups: PppNetworkInfo[] = [];
  const downs: string[] = [];
  const finished: Array<[LinkEnd, string]> = [];
  const resets: number[] = [];
  const authenticator = new FakeAuthenticator();
  const assignAddress = vi.fn(assign);
  const link = new PppLink(
    {
      serverName: 'portico',
      localAddress: LOCAL,
      dns: [DNS1, DNS2],
      wins: [],
      mppe: { required: true, bits: [128], mode: 'prefer-stateless' },
      lcpEchoInterval: 30,
      lcpEchoFailure: 4,
      ...overrides,
    },
    {
      send: (protocol, payload) => sent.push({ protocol, payload: Buffer.from(payload) }),
      authenticator,
      assignAddress,
      networkUp: (i) => ups.push(i),
      networkDown: (r) => downs.push(r),
      resetRequested: () => resets.push(1),
      finished: (end, r) => finished.push([end, r]),
      log: pino({ level: 'silent' }),
    },
  );
  /** Remove and return what the link sent (optionally only one protocol). */
  const take = (protocol?: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < sent.length; ) {
      if (protocol === undefined || sent[i]!.protocol === protocol) out.push(sent.splice(i, 1)[0]!.payload);
      else i++;
    }
    return out;
  };
  return { link, sent, ups, downs, finished, resets, authenticator, assignAddress, take };
}
type Harness = ReturnType<typeof makeLink>;

/** pppd client LCP ConfReq: <asyncmap 0x0> <magic 0x1a2b3c4d> <pcomp> <accomp>. */
const PPPD_LCP_OPTIONS = [0x02, 0x06, 0, 0, 0, 0, 0x05, 0x06, ...PEER_MAGIC, 0x07, 0x02, 0x08, 0x02];

/** Start and finish LCP like pptp-linux does; returns our magic and the CHAP Challenge. */
function openLcp(h: Harness): { ourMagic: number; chapId: number; challenge: Buffer } {
  h.link.start();
  const [ourReq] = h.take(LCP);
  expect(ourReq![0]).toBe(1);
  // <auth chap MS-v2> <magic>, no MRU unless configured
  expect(ourReq!.subarray(4, 9)).toEqual(Buffer.from([0x03, 0x05, 0xc2, 0x23, 0x81]));
  expect(ourReq!.subarray(9, 11)).toEqual(Buffer.from([0x05, 0x06]));
  expect(ourReq!.length).toBe(15);
  const ourMagic = ourReq!.readUInt32BE(11);
  expect(ourMagic).not.toBe(0);

  h.link.input(LCP, cp(1, 1, PPPD_LCP_OPTIONS));
  expect(h.take(LCP)).toEqual([cp(2, 1, PPPD_LCP_OPTIONS)]);
  expect(h.link.phase).toBe('establish');
  h.link.input(LCP, cp(2, ourReq![1]!, ourReq!.subarray(4)));
  expect(h.link.phase).toBe('authenticate');
  expect(h.link.framing).toEqual({ acfc: true, pfc: true });

  const [challenge] = h.take(CHAP);
  expect(challenge![0]).toBe(1);
  expect(challenge![4]).toBe(16);
  expect(challenge!.subarray(21).toString()).toBe('portico');
  expect(challenge!.readUInt16BE(2)).toBe(challenge!.length);
  return { ourMagic, chapId: challenge![1]!, challenge: Buffer.from(challenge!.subarray(5, 21)) };
}

async function authenticate(h: Harness): Promise<{ ourMagic: number }> {
  const { ourMagic, chapId, challenge } = openLcp(h);
  h.link.input(CHAP, chapResponse(chapId));
  await flush();
  expect(h.authenticator.requests).toHaveLength(1);
  const req = h.authenticator.requests[0]!;
  expect(req.username).toBe('labuser');
  expect(req.authenticatorChallenge).toEqual(challenge);
  expect(req.peerChallenge).toEqual(PEER_CHALLENGE);
  expect(req.ntResponse).toEqual(GOOD_NT);
  expect(h.take(CHAP)).toEqual([cp(3, chapId, Buffer.from(`${AUTH_RESPONSE} M=Access granted`))]);
  expect(h.link.phase).toBe('network');
  expect(h.link.username).toBe('labuser');
  expect(h.assignAddress).toHaveBeenCalledWith('labuser', undefined);
  return { ourMagic };
}

function ourNcpRequest(h: Harness, protocol: number): Buffer {
  const reqs = h.take(protocol);
  expect(reqs).toHaveLength(1);
  expect(reqs[0]![0]).toBe(1);
  return reqs[0]!;
}

/** CCP <mppe +H -M +S -L -D -C> both ways, then the pppd IPCP sequence. */
async function bringUp(h: Harness): Promise<{ ourMagic: number }> {
  const r = await authenticate(h);
  const ipcpReq = ourNcpRequest(h, IPCP);
  expect(ipcpReq.subarray(4)).toEqual(Buffer.from([0x03, 0x06, ...ipBytes(LOCAL)]));
  const ccpReq = ourNcpRequest(h, CCP);
  expect(ccpReq.subarray(4)).toEqual(Buffer.from([0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));

  h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
  expect(h.take(CCP)).toEqual([cp(2, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
  h.link.input(CCP, cp(2, ccpReq[1]!, ccpReq.subarray(4)));
  // CCP is up: pppd (MPPE required) only now starts IPCP, so our unanswered IPCP request goes out
  // again at once, byte for byte with the same Identifier, instead of after the 3 s restart timer.
  expect(h.take(IPCP)).toEqual([ipcpReq]);

  const vj = [0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01];
  const zeros = [0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0, 0x83, 0x06, 0, 0, 0, 0];
  h.link.input(IPCP, cp(1, 1, [...vj, ...zeros]));
  expect(h.take(IPCP)).toEqual([cp(4, 1, vj)]);
  h.link.input(IPCP, cp(1, 2, zeros));
  const assigned = [0x03, 0x06, ...ipBytes(ASSIGNED), 0x81, 0x06, ...ipBytes(DNS1), 0x83, 0x06, ...ipBytes(DNS2)];
  expect(h.take(IPCP)).toEqual([cp(3, 2, assigned)]);
  h.link.input(IPCP, cp(1, 3, assigned));
  expect(h.take(IPCP)).toEqual([cp(2, 3, assigned)]);
  expect(h.ups).toHaveLength(0); // our IPCP request not acked yet: no IP before both sides are Opened
  h.link.input(IPCP, cp(2, ipcpReq[1]!, ipcpReq.subarray(4)));
  return r;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PppLink against a pppd (pptp-linux) client', () => {
  it('runs LCP, MS-CHAPv2, CCP/MPPE and IPCP to networkUp', async () => {
    const h = makeLink();
    await bringUp(h);
    expect(h.ups).toEqual([{ peerAddress: ASSIGNED, username: 'labuser', mppe: { bits: 128, stateless: true, keys: KEYS, resume: false } }]);
    expect(h.link.phase).toBe('network');
    expect(h.link.peerMru).toBe(1500);
    expect(h.sent).toHaveLength(0);
    expect(h.finished).toHaveLength(0);
  });

  it('Protocol-Rejects IPV6CP with the rejected packet', async () => {
    const h = makeLink();
    await bringUp(h);
    const ipv6cp = cp(1, 1, [0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]);
    h.link.input(IPV6CP, ipv6cp);
    const [rej] = h.take(LCP);
    expect(rej![0]).toBe(8);
    expect(rej!.subarray(4)).toEqual(Buffer.concat([Buffer.from([0x80, 0x57]), ipv6cp]));
    expect(rej!.readUInt16BE(2)).toBe(rej!.length);
    expect(h.sent).toHaveLength(0);
  });

  it('answers Echo-Request with Echo-Reply carrying our magic and the same data', async () => {
    const h = makeLink();
    const { ourMagic } = await bringUp(h);
    h.link.input(LCP, cp(9, 0x42, [...PEER_MAGIC, 0xde, 0xad]));
    expect(h.take(LCP)).toEqual([cp(10, 0x42, [...ipBytes(ourMagic), 0xde, 0xad])]);
  });

  it('Code-Rejects an unknown LCP code and ignores Identification (code 12)', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.input(LCP, cp(12, 3, [...PEER_MAGIC, ...Buffer.from('MSRASV5.20')]));
    expect(h.sent).toHaveLength(0);
    const unknown = cp(0x30, 0x11, [1, 2, 3, 4]);
    h.link.input(LCP, unknown);
    const [rej] = h.take(LCP);
    expect(rej![0]).toBe(7);
    expect(rej!.subarray(4)).toEqual(unknown);
  });

  it('resends the same Success for a duplicate Response', async () => {
    const h = makeLink();
    const { chapId } = openLcp(h);
    h.link.input(CHAP, chapResponse(chapId));
    h.link.input(CHAP, chapResponse(chapId)); // while verifying: ignored
    await flush();
    const [success] = h.take(CHAP);
    expect(h.authenticator.requests).toHaveLength(1);
    h.link.input(CHAP, chapResponse(chapId));
    expect(h.take(CHAP)).toEqual([success]);
    h.link.input(CHAP, chapResponse((chapId + 1) & 0xff)); // another Identifier: ignored
    expect(h.take(CHAP)).toEqual([]);
  });

  it('Reset-Request → resetRequested + Reset-Ack with the same Identifier; sendCcpResetRequest sends code 14', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.input(CCP, cp(14, 0x21, []));
    expect(h.resets).toHaveLength(1);
    expect(h.take(CCP)).toEqual([cp(15, 0x21, [])]);
    h.link.sendCcpResetRequest();
    const [rr] = h.take(CCP);
    expect(rr![0]).toBe(14);
    expect(rr!.length).toBe(4);
  });

  it('peer Terminate-Request: Terminate-Ack, networkDown, then finished', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.input(LCP, cp(5, 0x09, Buffer.from('User request')));
    expect(h.take(LCP)).toEqual([cp(6, 0x09, [])]);
    expect(h.link.phase).toBe('terminate');
    expect(h.downs).toEqual(['LCP down']);
    vi.advanceTimersByTime(3000);
    expect(h.finished).toEqual([['peer-terminated', 'peer requested termination: User request']]);
    expect(h.link.phase).toBe('dead');
  });
});

describe('PppLink failures', () => {
  it('an LCP renegotiation that authenticates another user ends the link (user-changed)', async () => {
    const h = makeLink();
    await bringUp(h);
    expect(h.ups).toHaveLength(1);
    h.take();
    h.link.input(LCP, cp(1, 9, PPPD_LCP_OPTIONS)); // Configure-Request while Opened: renegotiation (RFC 1661 §5.1)
    const lcp = h.take(LCP);
    expect(lcp.map((p) => p[0])).toEqual([1, 2]); // our Configure-Request and the Ack of theirs
    h.link.input(LCP, cp(2, lcp[0]![1]!, lcp[0]!.subarray(4)));
    const [challenge] = h.take(CHAP);
    h.link.input(CHAP, chapResponse(challenge![1]!, 'mallory'));
    await flush();
    expect(h.take(LCP).map((p) => p[0])).toEqual([5]); // Terminate-Request
    vi.advanceTimersByTime(6000);
    expect(h.finished).toEqual([['user-changed', 'LCP renegotiation authenticated another user']]);
    expect(h.ups).toHaveLength(1);
  });

  it('wrong password: CHAP Failure E=691 R=0, then LCP Terminate-Request and finished', async () => {
    const h = makeLink();
    const { chapId } = openLcp(h);
    h.link.input(CHAP, chapResponse(chapId, 'labuser', Buffer.alloc(24, 0x01)));
    await flush();
    const chapOut = h.take(CHAP);
    expect(chapOut).toHaveLength(1);
    expect(chapOut[0]![0]).toBe(4);
    expect(chapOut[0]![1]).toBe(chapId);
    expect(chapOut[0]!.subarray(4).toString()).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=Authentication failed$/);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('authentication failed');
    expect(h.link.phase).toBe('terminate');
    expect(h.sent).toHaveLength(0); // no NCP
    h.link.input(LCP, cp(6, term![1]!, []));
    expect(h.finished).toEqual([['auth-failed', 'authentication failed']]);
    expect(h.ups).toHaveLength(0);
  });

  it('client ConfRejs MPPE: LCP Terminate-Request "MPPE required but peer refused"', async () => {
    const h = makeLink();
    await authenticate(h);
    h.take(IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    h.link.input(CCP, cp(4, ccpReq[1]!, ccpReq.subarray(4)));
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('MPPE required but peer refused');
    h.link.input(LCP, cp(6, term![1]!, []));
    expect(h.finished).toEqual([['mppe-refused', 'MPPE required but peer refused']]);
    expect(h.ups).toHaveLength(0);
  });

  it('client Protocol-Rejects CCP while MPPE is required: LCP Terminate-Request', async () => {
    const h = makeLink();
    await authenticate(h);
    h.take();
    h.link.input(LCP, cp(8, 0x50, [0x80, 0xfd, 0x01, 0x01, 0x00, 0x0a, 0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('MPPE required but peer refused');
  });

  it('client sends CCP Terminate-Request while MPPE is required: CCP Terminate-Ack, then LCP Terminate-Request', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.input(CCP, cp(5, 0x31, []));
    expect(h.take(CCP)).toEqual([cp(6, 0x31, [])]);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('MPPE required but peer refused');
    expect(h.downs).toEqual(['CCP down']);
  });

  it('no answer to the Challenge: 10 Challenges 3 s apart, then the link closes', async () => {
    const h = makeLink();
    openLcp(h);
    vi.advanceTimersByTime(3000 * 9);
    expect(h.take(CHAP)).toHaveLength(9);
    vi.advanceTimersByTime(3000);
    expect(h.take(CHAP)).toHaveLength(0);
    const term = h.take(LCP).find((p) => p[0] === 5); // (our first keepalive Echo-Request is due at 30 s too)
    expect(term!.subarray(4).toString()).toBe('authentication timed out');
  });

  it('no free address: the link closes instead of starting IPCP', async () => {
    const h = makeLink({}, () => null);
    const { chapId } = openLcp(h);
    h.link.input(CHAP, chapResponse(chapId));
    await flush();
    expect(h.take(CHAP).map((p) => p[0])).toEqual([3]);
    expect(h.take(IPCP)).toEqual([]);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('no IP address available for the peer');
  });

  it('echo keepalive: Echo-Request every 30 s, link closed after 4 unanswered', async () => {
    const h = makeLink();
    const { ourMagic } = await bringUp(h);
    vi.advanceTimersByTime(30_000);
    const [echo] = h.take(LCP);
    expect(echo![0]).toBe(9);
    expect(echo!.readUInt32BE(4)).toBe(ourMagic);
    h.link.input(LCP, cp(10, echo![1]!, PEER_MAGIC)); // answered
    vi.advanceTimersByTime(4 * 30_000);
    expect(h.take(LCP).map((p) => p[0])).toEqual([9, 9, 9, 9]);
    vi.advanceTimersByTime(30_000);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toMatch(/^peer not responding/);
    vi.advanceTimersByTime(6000); // Max-Terminate 2 × 3 s without Terminate-Ack
    expect(h.finished).toHaveLength(1);
    expect(h.finished[0]).toEqual(['peer-not-responding', expect.stringMatching(/^peer not responding/)]);
  });

  it('admin close: Terminate-Request, finished after Terminate-Ack; lowerDown after finished is harmless', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.close('administrative disconnect');
    const [term] = h.take(LCP);
    expect(term!.subarray(4).toString()).toBe('administrative disconnect');
    expect(h.downs).toEqual(['LCP down']);
    h.link.input(LCP, cp(6, term![1]!, []));
    expect(h.finished).toEqual([['local-close', 'administrative disconnect']]);
    h.link.lowerDown();
    h.link.input(LCP, cp(1, 7, PPPD_LCP_OPTIONS));
    expect(h.finished).toHaveLength(1);
    expect(h.sent).toHaveLength(0);
  });

  it('lowerDown: no packets, finished once', async () => {
    const h = makeLink();
    await bringUp(h);
    h.link.lowerDown();
    expect(h.sent).toHaveLength(0);
    expect(h.finished).toEqual([['lower-layer-down', 'lower layer down']]);
    expect(h.downs).toEqual(['LCP down']);
    vi.advanceTimersByTime(120_000);
    expect(h.sent).toHaveLength(0);
    expect(h.finished).toHaveLength(1);
  });
});

describe('PppLink negotiation details', () => {
  it("Windows-style MPPE offer <+H +M +S +L> is Nak'd to exactly <+H +S>", async () => {
    const h = makeLink({ mppe: { required: true, bits: [40, 128], mode: 'prefer-stateless' } });
    await authenticate(h);
    h.take(IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    expect(ccpReq.subarray(4)).toEqual(Buffer.from([0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0xe0]));
    expect(h.take(CCP)).toEqual([cp(3, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
    // D and C bits are not accepted either
    h.link.input(CCP, cp(1, 2, [0x12, 0x06, 0x01, 0x00, 0x00, 0x51]));
    expect(h.take(CCP)).toEqual([cp(3, 2, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
    // and other compression options are rejected
    h.link.input(CCP, cp(1, 3, [0x1a, 0x04, 0x78, 0x00, 0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(4, 3, [0x1a, 0x04, 0x78, 0x00])]);
  });

  it('stateful preference: our request and our Nak have H clear; networkUp says stateful', async () => {
    const h = makeLink({ mppe: { required: true, bits: [128], mode: 'prefer-stateful' } });
    await authenticate(h);
    const ipcpReq = ourNcpRequest(h, IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    expect(ccpReq.subarray(4)).toEqual(Buffer.from([0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(3, 1, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(1, 2, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(2, 2, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(2, ccpReq[1]!, ccpReq.subarray(4)));
    const addr = [0x03, 0x06, ...ipBytes(ASSIGNED)];
    h.link.input(IPCP, cp(1, 1, addr));
    h.link.input(IPCP, cp(2, ipcpReq[1]!, ipcpReq.subarray(4)));
    expect(h.ups).toEqual([{ peerAddress: ASSIGNED, username: 'labuser', mppe: { bits: 128, stateless: false, keys: KEYS, resume: false } }]);
  });

  it('stateless only: a peer Nak towards stateful ends the link', async () => {
    const h = makeLink({ mppe: { required: true, bits: [128], mode: 'stateless' } });
    await authenticate(h);
    h.take(IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    h.link.input(CCP, cp(3, ccpReq[1]!, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    const [term] = h.take(LCP);
    expect(term!.subarray(4).toString()).toBe('MPPE required but peer refused');
  });

  it("IPCP: a wrong address is Nak'd with the assigned one; a missing address is asked for; no WINS → Reject", async () => {
    const h = makeLink();
    await authenticate(h);
    h.take();
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, 10, 0, 0, 7]));
    expect(h.take(IPCP)).toEqual([cp(3, 1, [0x03, 0x06, ...ipBytes(ASSIGNED)])]);
    h.link.input(IPCP, cp(1, 2, [0x81, 0x06, ...ipBytes(DNS1)]));
    expect(h.take(IPCP)).toEqual([cp(3, 2, [0x03, 0x06, ...ipBytes(ASSIGNED)])]);
    h.link.input(IPCP, cp(1, 3, [0x03, 0x06, 0, 0, 0, 0, 0x82, 0x06, 0, 0, 0, 0, 0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(h.take(IPCP)).toEqual([cp(4, 3, [0x82, 0x06, 0, 0, 0, 0, 0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0])]);
  });

  it('Windows LCP options: callback, MRRU, endpoint and option 23 are rejected, MRU 1400 acked', () => {
    const h = makeLink();
    h.link.start();
    h.take();
    const mru = [0x01, 0x04, 0x05, 0x78];
    const rest = [0x05, 0x06, ...PEER_MAGIC, 0x07, 0x02, 0x08, 0x02];
    const rejected = [0x0d, 0x03, 0x06, 0x11, 0x04, 0x06, 0x4e, 0x13, 0x09, 0x01, 1, 2, 3, 4, 5, 6, 0x17, 0x04, 0x00, 0x02];
    h.link.input(LCP, cp(1, 1, [...mru, ...rest, ...rejected]));
    expect(h.take(LCP)).toEqual([cp(4, 1, rejected)]);
    h.link.input(LCP, cp(1, 2, [...mru, ...rest]));
    expect(h.take(LCP)).toEqual([cp(2, 2, [...mru, ...rest])]);
  });

  it("a peer magic equal to ours is Nak'd with another value; an auth option from the peer is rejected", () => {
    const h = makeLink();
    h.link.start();
    const [ourReq] = h.take(LCP);
    const ours = [...ourReq!.subarray(11, 15)];
    h.link.input(LCP, cp(1, 1, [0x05, 0x06, ...ours]));
    const [nak] = h.take(LCP);
    expect(nak![0]).toBe(3);
    expect(nak!.subarray(4, 6)).toEqual(Buffer.from([0x05, 0x06]));
    expect(nak!.readUInt32BE(6)).not.toBe(Buffer.from(ours).readUInt32BE(0));
    expect(nak!.readUInt32BE(6)).not.toBe(0);
    h.link.input(LCP, cp(1, 2, [0x03, 0x04, 0xc0, 0x23, 0x05, 0x06, ...PEER_MAGIC]));
    expect(h.take(LCP)).toEqual([cp(4, 2, [0x03, 0x04, 0xc0, 0x23])]);
  });

  it('configured MRU is requested', () => {
    const h = makeLink({ mru: 1400 });
    h.link.start();
    const [ourReq] = h.take(LCP);
    expect(ourReq!.subarray(4, 8)).toEqual(Buffer.from([0x01, 0x04, 0x05, 0x78]));
  });

  it('peer rejecting the auth option ends the link', () => {
    const h = makeLink();
    h.link.start();
    const [ourReq] = h.take(LCP);
    h.link.input(LCP, cp(4, ourReq![1]!, [0x03, 0x05, 0xc2, 0x23, 0x81]));
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('peer refused to authenticate');
  });

  it('NCP and CHAP packets before LCP is Opened are discarded; IPCP during authentication too', async () => {
    const h = makeLink();
    h.link.start();
    h.take();
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, 0, 0, 0, 0]));
    h.link.input(CHAP, chapResponse(1));
    h.link.input(IPV6CP, cp(1, 1, []));
    expect(h.sent).toHaveLength(0);
    const h2 = makeLink();
    openLcp(h2);
    h2.link.input(IPCP, cp(1, 1, [0x03, 0x06, 0, 0, 0, 0]));
    h2.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    expect(h2.sent).toHaveLength(0);
  });

  it('optional MPPE and a peer that never speaks CCP: networkUp without MPPE, CCP closed', async () => {
    const h = makeLink({ mppe: { required: false, bits: [128], mode: 'prefer-stateless' } });
    await authenticate(h);
    const ipcpReq = ourNcpRequest(h, IPCP);
    h.take(CCP);
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, ...ipBytes(ASSIGNED)]));
    h.link.input(IPCP, cp(2, ipcpReq[1]!, ipcpReq.subarray(4)));
    expect(h.ups).toEqual([{ peerAddress: ASSIGNED, username: 'labuser', mppe: null }]);
    const [ccpTerm] = h.take(CCP);
    expect(ccpTerm![0]).toBe(5);
  });

  it('no MPPE configured: CCP is Protocol-Rejected', async () => {
    const h = makeLink({ mppe: { required: false, bits: [], mode: 'prefer-stateless' } });
    await authenticate(h);
    expect(h.take(CCP)).toEqual([]);
    const ccp = cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]);
    h.link.input(CCP, ccp);
    const [rej] = h.take(LCP);
    expect(rej![0]).toBe(8);
    expect(rej!.subarray(4, 6)).toEqual(Buffer.from([0x80, 0xfd]));
  });

  it('LCP renegotiation in the network phase: networkDown, NCPs down, authentication again', async () => {
    const h = makeLink();
    await bringUp(h);
    expect(h.ups).toHaveLength(1);
    h.link.input(LCP, cp(1, 0x60, PPPD_LCP_OPTIONS));
    expect(h.downs).toEqual(['LCP down']);
    expect(h.link.phase).toBe('establish');
    const lcpOut = h.take(LCP);
    expect(lcpOut.map((p) => p[0])).toEqual([1, 2]);
    h.link.input(IPCP, cp(1, 9, [0x03, 0x06, 0, 0, 0, 0])); // NCP traffic while LCP renegotiates: dropped
    expect(h.sent).toHaveLength(0);
    h.link.input(LCP, cp(2, lcpOut[0]![1]!, lcpOut[0]!.subarray(4)));
    expect(h.link.phase).toBe('authenticate');
    expect(h.take(CHAP).map((p) => p[0])).toEqual([1]);
    expect(h.finished).toHaveLength(0);
  });
});

describe('PppLink timing and ordering', () => {
  it('authTimeoutMs: a verification that never completes closes the link', async () => {
    const h = makeLink({ authTimeoutMs: 5000 });
    h.authenticator.verifyMsChapV2 = () => new Promise<AuthResult>(() => {});
    const { chapId } = openLcp(h);
    h.link.input(CHAP, chapResponse(chapId));
    vi.advanceTimersByTime(4999);
    expect(h.sent).toHaveLength(0); // no Challenge retransmission once a Response is being verified
    vi.advanceTimersByTime(1);
    const [term] = h.take(LCP);
    expect(term![0]).toBe(5);
    expect(term!.subarray(4).toString()).toBe('authentication timed out');
  });

  it('an Authenticator that throws yields a CHAP Failure, not an exception', async () => {
    const h = makeLink();
    h.authenticator.verifyMsChapV2 = () => {
      throw new Error('backend down');
    };
    const { chapId } = openLcp(h);
    expect(() => h.link.input(CHAP, chapResponse(chapId))).not.toThrow();
    await flush();
    const [failure] = h.take(CHAP);
    expect(failure![0]).toBe(4);
    expect(failure!.subarray(4).toString()).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=/);
  });

  it('required MPPE: IPCP Opened first, networkUp waits for CCP', async () => {
    const h = makeLink();
    await authenticate(h);
    const ipcpReq = ourNcpRequest(h, IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, ...ipBytes(ASSIGNED)]));
    h.link.input(IPCP, cp(2, ipcpReq[1]!, ipcpReq.subarray(4)));
    expect(h.ups).toHaveLength(0);
    h.link.input(CCP, cp(2, ccpReq[1]!, ccpReq.subarray(4)));
    expect(h.ups).toHaveLength(0);
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    expect(h.ups).toEqual([{ peerAddress: ASSIGNED, username: 'labuser', mppe: { bits: 128, stateless: true, keys: KEYS, resume: false } }]);
  });

  it("mode 'prefer-stateless': a peer insisting on stateful gets it, in both directions", async () => {
    const h = makeLink();
    await authenticate(h);
    const ipcpReq = ourNcpRequest(h, IPCP);
    const ccpReq = ourNcpRequest(h, CCP);
    h.link.input(CCP, cp(1, 1, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(3, 1, [0x12, 0x06, 0x01, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(1, 2, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    expect(h.take(CCP)).toEqual([cp(2, 2, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40])]);
    h.link.input(CCP, cp(3, ccpReq[1]!, [0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    const [again] = h.take(CCP);
    expect(again![0]).toBe(1);
    expect(again!.subarray(4)).toEqual(Buffer.from([0x12, 0x06, 0x00, 0x00, 0x00, 0x40]));
    h.link.input(CCP, cp(2, again![1]!, again!.subarray(4)));
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, ...ipBytes(ASSIGNED)]));
    h.link.input(IPCP, cp(2, ipcpReq[1]!, ipcpReq.subarray(4)));
    expect(h.ups).toHaveLength(1);
    expect(h.ups[0]!.mppe).toEqual({ bits: 128, stateless: false, keys: KEYS, resume: false });
  });
});

describe('PppLink and malformed input', () => {
  it('drops truncated and malformed frames without throwing or answering', async () => {
    const h = makeLink();
    h.link.start();
    const [ourReq] = h.take(LCP);
    const bad: Array<[number, Buffer]> = [
      [LCP, Buffer.alloc(0)],
      [LCP, Buffer.from([0x01])],
      [LCP, Buffer.from([0x01, 0x01, 0x00])],
      [LCP, Buffer.from([0x01, 0x01, 0x00, 0x03])], // Length below the header
      [LCP, Buffer.from([0x01, 0x01, 0x00, 0x20, 0x05, 0x06])], // Length past the end
      [LCP, cp(1, 2, [0x05, 0x06, 1, 2])], // option runs past the packet
      [LCP, cp(1, 3, [0x07, 0x00])], // option Length 0
      [LCP, cp(1, 4, [0x07, 0x01])], // option Length 1
      [LCP, cp(1, 5, [0x07])], // option header cut
      [LCP, cp(2, ourReq![1]!, [0x03, 0x05, 0xc2])], // Ack with a truncated option: not our request
      [LCP, cp(3, ourReq![1]!, [0x05, 0x07, 1, 2, 3, 4])], // Nak option runs past
      [LCP, cp(7, 9, [])], // empty Code-Reject
      [LCP, cp(8, 9, [0x80])], // short Protocol-Reject
    ];
    for (const [protocol, payload] of bad) expect(() => h.link.input(protocol, payload)).not.toThrow();
    expect(h.sent).toHaveLength(0);
    expect(h.link.phase).toBe('establish');
  });

  it('ignores malformed CHAP, IPCP and CCP packets in the network phase', async () => {
    const h = makeLink();
    const { chapId } = openLcp(h);
    h.link.input(CHAP, cp(2, chapId, [48, ...Buffer.alloc(48)])); // Value-Size 48
    h.link.input(CHAP, cp(2, chapId, [49, ...Buffer.alloc(20)])); // value truncated
    h.link.input(CHAP, Buffer.from([0x02, chapId, 0x00, 0x40])); // Length past the end
    await flush();
    expect(h.authenticator.requests).toHaveLength(0);
    expect(h.sent).toHaveLength(0);
    h.link.input(CHAP, chapResponse(chapId));
    await flush();
    h.take();
    h.link.input(IPCP, cp(1, 1, [0x03, 0x06, 0, 0])); // runs past
    h.link.input(IPCP, cp(1, 1, [0x03, 0x00])); // Length 0
    h.link.input(CCP, cp(1, 1, [0x12, 0x01])); // Length 1
    h.link.input(CCP, Buffer.from([0x01, 0x01, 0xff, 0xff]));
    h.link.input(0x0000, Buffer.from([1, 2, 3])); // invalid protocol number
    expect(h.sent).toHaveLength(0);
    // a wrong-length address is Nak'd, not dropped (RFC 1661 §6: Nak with a correct value)
    h.link.input(IPCP, cp(1, 2, [0x03, 0x04, 0, 0]));
    expect(h.take(IPCP)).toEqual([cp(3, 2, [0x03, 0x06, ...ipBytes(ASSIGNED)])]);
  });
});
