// The PPP authentication protocols this server can run, how each is named in LCP option 3 (RFC 1661
// §6.2; RFC 1994 §3, RFC 2433 §2, RFC 2759 §2), and which of them a link may offer: allowed by policy
// AND verifiable by the backend.

import type { ExtendedAuthenticator, MppeMasterKeys, SessionAuthorization } from '../Authenticator.js';
import { PppProtocol } from '../PppProtocol.js';

/** The configuration's names (auth.protocols). */
export type AuthMethod = 'mschapv2' | 'mschap' | 'chap' | 'pap';

/** Strongest first: the order in which a server offers them (RFC 1661 §6.2). */
export const AUTH_PREFERENCE: readonly AuthMethod[] = ['mschapv2', 'mschap', 'chap', 'pap'];

/** For logs, the session list and the panel. */
export const AUTH_METHOD_LABEL: Readonly<Record<AuthMethod, string>> = {
  mschapv2: 'MS-CHAPv2',
  mschap: 'MS-CHAPv1',
  chap: 'CHAP-MD5',
  pap: 'PAP',
};

/** CHAP Algorithm octet of LCP option 3 (RFC 1994 §3: 5 = MD5; RFC 2433: 0x80; RFC 2759: 0x81). */
export const ChapAlgorithm = {
  Md5: 0x05,
  MsChapV1: 0x80,
  MsChapV2: 0x81,
} as const;

const CHAP_HI = PppProtocol.CHAP >>> 8;
const CHAP_LO = PppProtocol.CHAP & 0xff;
const OPTION_DATA: Readonly<Record<AuthMethod, Buffer>> = {
  mschapv2: Buffer.from([CHAP_HI, CHAP_LO, ChapAlgorithm.MsChapV2]),
  mschap: Buffer.from([CHAP_HI, CHAP_LO, ChapAlgorithm.MsChapV1]),
  chap: Buffer.from([CHAP_HI, CHAP_LO, ChapAlgorithm.Md5]),
  pap: Buffer.from([PppProtocol.PAP >>> 8, PppProtocol.PAP & 0xff]),
};

/** Data of LCP option 3 (after Type and Length) asking the peer to authenticate with `method`. */
export function authOptionData(method: AuthMethod): Buffer {
  return OPTION_DATA[method];
}

/** The method an LCP option 3 payload names, or null for anything else (EAP, other CHAP algorithms, garbage). */
export function authMethodOfOption(data: Buffer): AuthMethod | null {
  if (data.length < 2) return null;
  const protocol = data.readUInt16BE(0);
  if (protocol === PppProtocol.PAP) return data.length === 2 ? 'pap' : null;
  if (protocol !== PppProtocol.CHAP || data.length !== 3) return null;
  switch (data[2]) {
    case ChapAlgorithm.MsChapV2:
      return 'mschapv2';
    case ChapAlgorithm.MsChapV1:
      return 'mschap';
    case ChapAlgorithm.Md5:
      return 'chap';
    default:
      return null;
  }
}

/** What the backend can verify: MS-CHAPv2 always, the others only when it implements them. */
export function supportsAuthMethod(authenticator: ExtendedAuthenticator, method: AuthMethod): boolean {
  switch (method) {
    case 'mschapv2':
      return typeof authenticator.verifyMsChapV2 === 'function';
    case 'mschap':
      return typeof authenticator.verifyMsChapV1 === 'function';
    case 'chap':
      return typeof authenticator.verifyChapMd5 === 'function';
    case 'pap':
      return typeof authenticator.verifyPap === 'function';
  }
}

/** The methods a link offers, strongest first: allowed by the policy and supported by the backend. */
export function offeredAuthMethods(allowed: readonly AuthMethod[], authenticator: ExtendedAuthenticator): AuthMethod[] {
  return AUTH_PREFERENCE.filter((m) => allowed.includes(m) && supportsAuthMethod(authenticator, m));
}

/**
 * MPPE key lengths a method can key (RFC 3079 §2-3): MS-CHAPv2 all; MS-CHAPv1 only 128 (40/56 would need
 * the LM hash, which nobody keeps: pppd and Linux do 128 only); CHAP-MD5 and PAP none.
 */
export function mppeKeyLengthsFor<B extends number>(method: AuthMethod, allowed: readonly B[]): B[] {
  switch (method) {
    case 'mschapv2':
      return [...allowed];
    case 'mschap':
      return allowed.filter((b) => b === 128);
    case 'chap':
    case 'pap':
      return [];
  }
}

/** A successful authentication, whatever the protocol. No keys for PAP and CHAP-MD5. */
export interface AuthSuccess {
  /** Name as the peer sent it, possibly "DOMAIN\\user". */
  username: string;
  mppeKeys?: MppeMasterKeys;
  staticAddress?: number;
  authorization?: SessionAuthorization;
}

export interface AuthServerEvents {
  /** Send one packet of the auth protocol (Code..Data). */
  send(packet: Buffer): void;
  succeeded(result: AuthSuccess): void;
  /** Authentication failed (after the failure packet was sent) or the peer never answered (username null). */
  failed(reason: string, username: string | null): void;
}

/** The server side of one authentication protocol, as PppLink drives it. */
export interface AuthServer {
  start(): void;
  stop(): void;
  input(payload: Buffer): void;
}
