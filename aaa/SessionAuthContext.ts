// Which PPTP call a login belongs to. PPP hands the backend only the protocol's fields; a RADIUS
// backend must also say which port of which NAS is asking (RFC 2865 §5.5 NAS-Port, §5.31
// Calling-Station-Id, RFC 5176 §3 Acct-Session-Id in the Access-Request), so the session layer binds
// a backend to its call before handing it to the call's PPP link.
import type { Authenticator } from '../ppp/Authenticator.js';

export interface AuthSessionContext {
  /** Acct-Session-Id of the session (unique across restarts). */
  sessionId: string;
  /** Our Call ID: the RADIUS NAS-Port. */
  callId: number;
  /** The client's address (dotted quad): Calling-Station-Id. */
  peer: string;
  /** The address the client connected to (dotted quad, may be 0.0.0.0): Called-Station-Id. */
  local: string;
}

/** A backend that wants to know the call: PptpServer asks it for a per-call instance. */
export interface SessionAwareAuthenticator {
  forSession(context: AuthSessionContext): Authenticator;
}

function isSessionAware(a: Authenticator): a is Authenticator & SessionAwareAuthenticator {
  return typeof (a as Partial<SessionAwareAuthenticator>).forSession === 'function';
}

/** The backend bound to one call, or the backend itself when it does not care about calls. */
export function authenticatorForSession<T extends Authenticator>(authenticator: T, context: AuthSessionContext): T {
  return isSessionAware(authenticator) ? (authenticator.forSession(context) as T) : authenticator;
}
