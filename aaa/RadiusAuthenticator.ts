// PPP logins checked by a RADIUS server (RFC 2865 §5, RFC 2548 §2): the PPP fields go into an Access-Request
// (MS-CHAP-Challenge + MS-CHAP2-Response, MS-CHAP-Response, CHAP-Password, User-Password) with the
// NAS's description of the call; the verified reply becomes the PPP verdict and the session's
// authorization. The reply never weakens our own MPPE policy: a reply that forbids what the policy
// requires refuses the login.
import type { Logger } from 'pino';
import type { AddressPolicy } from '../config/AddressPolicy.js';
import type { AuthResult, BasicAuthResult, ChapMd5Request, ExtendedAuthenticator, MppeMasterKeys, MsChapV1Request, MsChapV2Request, PapRequest, SessionAuthorization } from '../ppp/Authenticator.js';
import { getStartKeyV1 } from '../ppp/mppe/MppeKeys.js';
import { Attr, MppeEncryptionPolicy, MsAttr, readInteger, readTaggedInteger, stringAttribute, textAttribute, TunnelType, VENDOR_MICROSOFT, vendorAttribute } from '../radius/Dictionary.js';
import { RadiusNoResponseError, type RadiusReply } from '../radius/RadiusClient.js';
import { findAllAttributes, RadiusFormatError, type RadiusAttribute } from '../radius/RadiusPacket.js';
import { callAttributes, type NasIdentity } from './NasAttributes.js';
import type { AuthSessionContext, SessionAwareAuthenticator } from './SessionAuthContext.js';

/** RFC 2759 §6 / RFC 2433 §5: authentication failure. */
const E_AUTHENTICATION_FAILURE = 691;
/** RFC 2869 §5.16: Acct-Interim-Interval MUST NOT be below 60 s (RFC 5080 §2.3.4: a local minimum may override). */
const MIN_INTERIM_INTERVAL = 60;
/** Framed-IP-Address values that are not an address (RFC 2865 §5.8). */
const FRAMED_IP_USER_CHOOSES = 0xffffffff;
const FRAMED_IP_NAS_ASSIGNS = 0xfffffffe;
const AUTHENTICATOR_RESPONSE = /^S=[0-9A-Fa-f]{40}/;
/** RFC 2548 §2.4.5 bits → key lengths; 0x08 for 56-bit is not in RFC 2548 but harmless to read. */
const ENCRYPTION_TYPE_BITS: ReadonlyArray<[number, 40 | 56 | 128]> = [
  [0x02, 40],
  [0x08, 56],
  [0x04, 128],
];

/** The part of RadiusClient this needs (tests give a fake). */
export interface RadiusAccessClient {
  access(attributes: RadiusAttribute[]): Promise<RadiusReply>;
}

export interface RadiusAuthenticatorOptions {
  client: RadiusAccessClient;
  nas: NasIdentity;
  /** Our MPPE policy (config mppe.*): what a reply may not weaken. */
  mppe: { required: boolean; keyLengths: ReadonlyArray<40 | 56 | 128> };
  /** Which Framed-IP-Address a reply may give (pool.allowedStaticRanges): another one refuses the login. */
  addresses: AddressPolicy;
  /**
   * No server answered: 'reject' fails the login (E=691), 'throw' raises RadiusUnavailableError
   * so that a FallbackAuthenticator can ask the local store instead.
   */
  onUnavailable?: 'reject' | 'throw';
  log: Logger;
}

/** No RADIUS server gave a valid answer (timeouts, or every reply dropped). Not a Reject. */
export class RadiusUnavailableError extends Error {
  override readonly name = 'RadiusUnavailableError';
  constructor(override readonly cause: RadiusNoResponseError) {
    super(cause.message);
  }
}

type Verdict<T> = { ok: true; reply: RadiusReply; value: T } | { ok: false; errorCode: number; message: string };
type Refusal = { ok: false; errorCode: number; message: string };

export class RadiusAuthenticator implements ExtendedAuthenticator, SessionAwareAuthenticator {
  constructor(
    private readonly options: RadiusAuthenticatorOptions,
    private readonly session?: AuthSessionContext,
  ) {}

  forSession(context: AuthSessionContext): RadiusAuthenticator {
    return new RadiusAuthenticator(this.options, context);
  }

  /** A reloaded MPPE policy for the next replies; every per-session copy shares these options and sees it. */
  reconfigure(mppe: RadiusAuthenticatorOptions['mppe']): void {
    this.options.mppe = mppe;
  }

  /** RFC 2548 §2.3: MS-CHAP-Challenge (16) + MS-CHAP2-Response = Ident · Flags · Peer-Challenge · Reserved(8) · NT-Response. */
  async verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    const response = Buffer.concat([Buffer.of(identOf(request), 0), request.peerChallenge, Buffer.alloc(8), request.ntResponse]);
    const verdict = await this.ask('MS-CHAPv2', request.username, [
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapChallenge, request.authenticatorChallenge),
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.Chap2Response, response),
    ]);
    if (!verdict.ok) return verdict;
    const { reply } = verdict;
    const success = reply.getVendor(VENDOR_MICROSOFT, MsAttr.Chap2Success)?.value;
    // pppd does the same: an MS-CHAPv2 Accept without MS-CHAP2-Success cannot be completed (the
    // client checks the authenticator response and drops the link otherwise).
    const text = success && success.length >= 43 ? success.subarray(1, 43).toString('latin1') : '';
    if (!AUTHENTICATOR_RESPONSE.test(text)) {
      return this.refuse(reply, 'MS-CHAPv2', request.username, 'Access-Accept without a valid MS-CHAP2-Success');
    }
    let mppeKeys: MppeMasterKeys;
    try {
      const sendKey = reply.mppeSendKey();
      const recvKey = reply.mppeRecvKey();
      if (!sendKey || !recvKey) {
        return this.refuse(reply, 'MS-CHAPv2', request.username, 'Access-Accept without MS-MPPE-Send-Key/Recv-Key: MPPE cannot run');
      }
      mppeKeys = { sendKey: masterKey(sendKey), recvKey: masterKey(recvKey) };
    } catch (e) {
      return this.refuse(reply, 'MS-CHAPv2', request.username, `MPPE key attribute unusable (${errorText(e)})`);
    }
    const policy = this.checkMppePolicy(reply);
    if (policy) return this.refuse(reply, 'MS-CHAPv2', request.username, policy);
    const granted = this.grant(reply, 'MS-CHAPv2', request.username, true);
    if (!granted.ok) return granted;
    this.options.log.debug({ user: request.username, server: reply.server }, 'MPPE master keys taken from the RADIUS reply');
    return { ok: true, authenticatorResponse: `S=${text.slice(2).toUpperCase()}`, mppeKeys, ...granted.value };
  }

  /** RFC 2548 §2.1: MS-CHAP-Challenge (8) + MS-CHAP-Response = Ident · Flags · LM-Response · NT-Response. */
  async verifyMsChapV1(request: MsChapV1Request): Promise<BasicAuthResult> {
    const response = Buffer.concat([Buffer.of(identOf(request), request.flags & 0xff), request.lmResponse, request.ntResponse]);
    const verdict = await this.ask('MS-CHAPv1', request.username, [
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapChallenge, request.challenge),
      vendorAttribute(VENDOR_MICROSOFT, MsAttr.ChapResponse, response),
    ]);
    if (!verdict.ok) return verdict;
    const { reply } = verdict;
    let mppeKeys: MppeMasterKeys | undefined;
    try {
      // MS-CHAP-MPPE-Keys' "NT-Key" is PasswordHashHash as FreeRADIUS sends it and pppd reads it (RFC 2548
      // §2.4.1 says the NT hash); the 128-bit start key comes from it and the challenge, the same in both
      // directions (RFC 3079 §2.3).
      const keys = reply.msChapMppeKeys();
      if (keys) {
        const start = getStartKeyV1(request.challenge, keys.ntKey);
        mppeKeys = { sendKey: start, recvKey: Buffer.from(start) };
      }
    } catch (e) {
      return this.refuse(reply, 'MS-CHAPv1', request.username, `MS-CHAP-MPPE-Keys unusable (${errorText(e)})`);
    }
    const policy = this.checkMppePolicy(reply);
    if (policy) return this.refuse(reply, 'MS-CHAPv1', request.username, policy);
    const granted = this.grant(reply, 'MS-CHAPv1', request.username, mppeKeys !== undefined);
    if (!granted.ok) return granted;
    return { ok: true, ...(mppeKeys ? { mppeKeys } : {}), ...granted.value };
  }

  /** RFC 2865 §5.3 / §5.40: CHAP-Password = CHAP Identifier ‖ Response, CHAP-Challenge = our challenge. */
  async verifyChapMd5(request: ChapMd5Request): Promise<BasicAuthResult> {
    if (request.response.length !== 16) return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: 'CHAP response is not 16 octets' };
    const verdict = await this.ask('CHAP-MD5', request.username, [
      stringAttribute(Attr.ChapPassword, Buffer.concat([Buffer.of(request.identifier & 0xff), request.response])),
      stringAttribute(Attr.ChapChallenge, request.challenge),
    ]);
    return this.basic(verdict, 'CHAP-MD5', request.username);
  }

  /** RFC 2865 §5.2: User-Password, hidden by RadiusClient with each server's secret. */
  async verifyPap(request: PapRequest): Promise<BasicAuthResult> {
    if (request.password.length === 0 || request.password.length > 128) {
      return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: 'PAP password length outside 1..128' };
    }
    const verdict = await this.ask('PAP', request.username, [{ type: Attr.UserPassword, value: request.password }]);
    return this.basic(verdict, 'PAP', request.username);
  }

  private basic(verdict: Verdict<null>, method: string, username: string): BasicAuthResult {
    if (!verdict.ok) return verdict;
    const policy = this.checkMppePolicy(verdict.reply);
    if (policy) return this.refuse(verdict.reply, method, username, policy);
    const granted = this.grant(verdict.reply, method, username, false);
    if (!granted.ok) return granted;
    return { ok: true, ...granted.value };
  }

  /** One Access-Request; Reject/Challenge/no answer become a refusal here, Accept is for the caller. */
  private async ask(method: string, username: string, credentials: RadiusAttribute[]): Promise<Verdict<null>> {
    const log = this.options.log;
    if (username.length === 0) return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: 'empty user name' };
    const attributes: RadiusAttribute[] = [textAttribute(Attr.UserName, username), ...credentials, ...callAttributes(this.options.nas, this.session)];
    let reply: RadiusReply;
    try {
      reply = await this.options.client.access(attributes);
    } catch (e) {
      if (e instanceof RadiusNoResponseError) {
        if (this.options.onUnavailable === 'throw') throw new RadiusUnavailableError(e);
        log.warn({ user: username, method, why: e.message }, 'RADIUS login refused: no RADIUS server answered');
        return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: e.message };
      }
      log.warn({ user: username, method, err: errorText(e) }, 'RADIUS login refused: request failed');
      return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: `RADIUS request failed: ${errorText(e)}` };
    }
    if (reply.isAccept) return { ok: true, reply, value: null };
    if (reply.isChallenge) {
      log.warn({ user: username, method, server: reply.server }, 'RADIUS login refused: Access-Challenge is not supported for PPP logins');
      return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: `Access-Challenge from ${reply.server} (not supported)` };
    }
    const errorCode = msChapErrorCode(reply) ?? E_AUTHENTICATION_FAILURE;
    const replyMessage = reply.get(Attr.ReplyMessage);
    const said = replyMessage ? `: ${printable(replyMessage.value)}` : '';
    log.info({ user: username, method, server: reply.server, errorCode }, 'RADIUS Access-Reject');
    return { ok: false, errorCode, message: `Access-Reject from ${reply.server}${said}` };
  }

  /** What the Accept grants beyond yes: address, timeouts, Class, DNS (RFC 2865 §5, RFC 2548 §2). */
  private grant(reply: RadiusReply, method: string, username: string, hasKeys: boolean): { ok: true; value: { staticAddress?: number; authorization: SessionAuthorization } } | Refusal {
    try {
      // RFC 2868 §3.1: an Accept naming only other tunnel types is a Reject.
      const tunnelTypes = findAllAttributes(reply.attributes, Attr.TunnelType).map((a) => readTaggedInteger(a).value);
      if (tunnelTypes.length > 0 && !tunnelTypes.includes(TunnelType.Pptp)) {
        return this.refuse(reply, method, username, `Access-Accept for tunnel type(s) ${tunnelTypes.join(',')}, not PPTP`);
      }
      const authorization: SessionAuthorization = { source: `radius ${reply.server}` };
      const timeout = (type: number): number | undefined => {
        const a = reply.get(type);
        const v = a && readInteger(a);
        return v ? v : undefined; // 0 = no limit
      };
      const sessionTimeout = timeout(Attr.SessionTimeout);
      if (sessionTimeout !== undefined) authorization.sessionTimeout = sessionTimeout;
      const idleTimeout = timeout(Attr.IdleTimeout);
      if (idleTimeout !== undefined) authorization.idleTimeout = idleTimeout;
      const interim = timeout(Attr.AcctInterimInterval);
      if (interim !== undefined) {
        if (interim < MIN_INTERIM_INTERVAL) this.options.log.debug({ interim, used: MIN_INTERIM_INTERVAL }, 'Acct-Interim-Interval below 60 s raised to 60 s');
        authorization.interimInterval = Math.max(MIN_INTERIM_INTERVAL, interim);
      }
      const classes = findAllAttributes(reply.attributes, Attr.Class).map((a) => Buffer.from(a.value));
      if (classes.length > 0) authorization.classes = classes;
      const dns: number[] = [];
      for (const type of [MsAttr.PrimaryDnsServer, MsAttr.SecondaryDnsServer]) {
        const a = reply.getVendor(VENDOR_MICROSOFT, type);
        if (a) dns.push(readInteger(a) >>> 0);
      }
      if (dns.length > 0) authorization.dns = dns;
      let staticAddress: number | undefined;
      const framed = reply.get(Attr.FramedIpAddress);
      if (framed) {
        const a = readInteger(framed) >>> 0;
        if (a !== FRAMED_IP_USER_CHOOSES && a !== FRAMED_IP_NAS_ASSIGNS && a !== 0) staticAddress = a;
      }
      const refusal = staticAddress === undefined ? null : this.options.addresses.refusal(staticAddress);
      if (staticAddress !== undefined && refusal) {
        const address = dotted(staticAddress);
        return this.refuse(reply, method, username, `Framed-IP-Address ${address} ${refusal.reason}`, { address, rule: refusal.rule });
      }
      this.options.log.info(
        {
          user: username,
          method,
          server: reply.server,
          staticAddress: staticAddress === undefined ? undefined : dotted(staticAddress),
          sessionTimeout,
          idleTimeout,
          interimInterval: authorization.interimInterval,
          classes: classes.length,
          dns: authorization.dns?.map(dotted),
          mppeKeys: hasKeys,
        },
        'RADIUS Access-Accept',
      );
      return { ok: true, value: { ...(staticAddress !== undefined ? { staticAddress } : {}), authorization } };
    } catch (e) {
      if (!(e instanceof RadiusFormatError)) throw e;
      return this.refuse(reply, method, username, `malformed attribute in the Access-Accept (${e.message})`);
    }
  }

  /**
   * MS-MPPE-Encryption-Policy / -Types (RFC 2548 §2.4.4/§2.4.5) against ours. A reply never weakens
   * our policy: when it forbids every key length we would use, or demands encryption that our policy
   * leaves optional (CCP is not re-negotiated per session), the login is refused. Returns the reason, or null.
   */
  private checkMppePolicy(reply: RadiusReply): string | null {
    const ours = this.options.mppe;
    const policyAttr = reply.getVendor(VENDOR_MICROSOFT, MsAttr.MppeEncryptionPolicy);
    const typesAttr = reply.getVendor(VENDOR_MICROSOFT, MsAttr.MppeEncryptionTypes);
    const policy = policyAttr ? readInteger(policyAttr) : undefined;
    if (policy === MppeEncryptionPolicy.Required && !ours.required) {
      return 'RADIUS requires MPPE (MS-MPPE-Encryption-Policy 2) but mppe.required is false: the session could run in clear';
    }
    if (typesAttr === undefined) return null;
    const types = readInteger(typesAttr);
    const allowed = ENCRYPTION_TYPE_BITS.filter(([bit]) => (types & bit) !== 0).map(([, bits]) => bits);
    const common = ours.keyLengths.filter((b) => allowed.includes(b));
    if (common.length === 0) {
      const radiusSays = allowed.length ? `MPPE-${allowed.join('/')}` : 'no encryption';
      return ours.required || policy === MppeEncryptionPolicy.Required
        ? `RADIUS allows ${radiusSays} (MS-MPPE-Encryption-Types ${types}), our policy requires MPPE-${ours.keyLengths.join('/')}`
        : `RADIUS allows ${radiusSays} (MS-MPPE-Encryption-Types ${types}), our policy offers only MPPE-${ours.keyLengths.join('/')}`;
    }
    if (common.length < ours.keyLengths.length) {
      // RADIUS is stricter than us on key length; CCP is not narrowed per session, so say so.
      this.options.log.warn(
        { server: reply.server, radiusAllows: allowed, offered: ours.keyLengths },
        'RADIUS MS-MPPE-Encryption-Types is narrower than mppe.keyLengths: the peer may still negotiate a length RADIUS does not list',
      );
    }
    return null;
  }

  private refuse(reply: RadiusReply, method: string, username: string, why: string, fields: Record<string, string> = {}): Refusal {
    this.options.log.warn({ user: username, method, server: reply.server, why, ...fields }, 'RADIUS Access-Accept refused');
    return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: `refused Access-Accept from ${reply.server}: ${why}` };
  }
}

/** RADIUS MS-MPPE keys are the 16-octet master keys (RFC 2548 §2.4.2-§2.4.3, RFC 3079 §3.3); longer ones are cut, as pppd does. */
function masterKey(key: Buffer): Buffer {
  if (key.length < 16) throw new RadiusFormatError(`MPPE key of ${key.length} octets, 16 needed`);
  return Buffer.from(key.subarray(0, 16));
}

/** The CHAP Identifier of the Response when the PPP layer passes it; FreeRADIUS only echoes it. */
function identOf(request: object): number {
  const id = (request as { identifier?: unknown }).identifier;
  return typeof id === 'number' && Number.isInteger(id) ? id & 0xff : 0;
}

/** E= of an MS-CHAP-Error (Ident octet, then "E=691 R=1 C=… V=3 M=…"). */
function msChapErrorCode(reply: RadiusReply): number | undefined {
  const a = reply.getVendor(VENDOR_MICROSOFT, MsAttr.ChapError);
  if (!a || a.value.length < 2) return undefined;
  const m = /E=(\d{1,4})/.exec(a.value.subarray(1).toString('latin1'));
  const code = m ? Number(m[1]) : NaN;
  return code > 0 ? code : undefined;
}

function printable(value: Buffer): string {
  return value
    .subarray(0, 200)
    .toString('utf8')
    .replace(/[^\x20-\x7e]/g, '?');
}

function dotted(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
