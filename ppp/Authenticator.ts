// The seam between PPP authentication (ppp/) and wherever users live (local store, RADIUS).
// PPP only moves the protocol's fields; the backend does the cryptography and the policy.

/** What a peer sent in its MS-CHAPv2 Response (RFC 2759 §4). */
export interface MsChapV2Request {
  /** Name field as received, possibly "DOMAIN\\user". */
  username: string;
  /** The 16-octet challenge we sent. */
  authenticatorChallenge: Buffer;
  /** The peer's 16-octet challenge. */
  peerChallenge: Buffer;
  /** The 24-octet NT-Response. */
  ntResponse: Buffer;
}

/** Start keys for MPPE, server's view (RFC 3079 §3.4): send = Magic3, receive = Magic2. 16 octets each. */
export interface MppeMasterKeys {
  sendKey: Buffer;
  recvKey: Buffer;
}

/**
 * What the user backend says about the session beyond yes/no (RADIUS reply attributes, local
 * per-user limits). PPP uses only `dns`; the session layer applies the rest.
 */
export interface SessionAuthorization {
  /** Seconds until the session is ended (RADIUS Session-Timeout). */
  sessionTimeout?: number;
  /** Seconds without traffic until the session is ended (RADIUS Idle-Timeout). */
  idleTimeout?: number;
  /** Accounting interim interval in seconds (RADIUS Acct-Interim-Interval). */
  interimInterval?: number;
  /** RADIUS Class attributes, echoed in accounting. */
  classes?: Buffer[];
  /** DNS servers for this user (MS-Primary/Secondary-DNS-Server), host-order u32, instead of the configured ones. */
  dns?: number[];
  /** Where the decision came from, for logs and the panel ("local", "radius 127.0.0.1:18121"). */
  source?: string;
}

export type AuthResult =
  | {
      ok: true;
      /** "S=" + 40 uppercase hex digits (RFC 2759 §5). */
      authenticatorResponse: string;
      mppeKeys: MppeMasterKeys;
      /** Per-user static address (host byte order IPv4 as unsigned 32-bit), if the user has one. */
      staticAddress?: number;
      authorization?: SessionAuthorization;
    }
  | {
      ok: false;
      /** RFC 2759 §6 E= code: 691 authentication failure, 647 account disabled, ... */
      errorCode: number;
      /** Human-readable reason, for our log only (the peer never sees it). Never contains a secret. */
      message: string;
      /** Text the peer may see (MS-CHAPv2 M=, PAP Nak message, CHAP Failure); default: the code's generic text. */
      peerMessage?: string;
    };

export interface Authenticator {
  verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult>;
}

/** PAP Authenticate-Request (RFC 1334 §2.2.1): the password arrives in clear. */
export interface PapRequest {
  username: string;
  password: Buffer;
}

/** CHAP with MD5 (RFC 1994): the backend needs the clear password (or RADIUS does). */
export interface ChapMd5Request {
  username: string;
  identifier: number;
  challenge: Buffer;
  response: Buffer; // 16 octets
}

/** MS-CHAPv1 Response (RFC 2433): 8-octet challenge, 24-octet NT-Response. */
export interface MsChapV1Request {
  username: string;
  challenge: Buffer;
  ntResponse: Buffer;
  lmResponse: Buffer;
  flags: number;
}

/** Result of PAP / CHAP-MD5 / MS-CHAPv1. `mppeKeys` only for MS-CHAPv1 (both directions start from the same key). */
export type BasicAuthResult =
  | { ok: true; mppeKeys?: MppeMasterKeys; staticAddress?: number; authorization?: SessionAuthorization; message?: string }
  | { ok: false; errorCode: number; message: string; peerMessage?: string };

/**
 * The protocols other than MS-CHAPv2 are optional: a backend that cannot do one leaves it out,
 * and PPP never offers it (on top of the policy's own list).
 */
export interface ExtendedAuthenticator extends Authenticator {
  verifyPap?(request: PapRequest): Promise<BasicAuthResult>;
  verifyChapMd5?(request: ChapMd5Request): Promise<BasicAuthResult>;
  verifyMsChapV1?(request: MsChapV1Request): Promise<BasicAuthResult>;
}
