// Why a session ended: one word from the layer that saw it, carried unchanged to accounting
// (Acct-Terminate-Cause), the event journal, the log and the metrics. The tables below are
// Records over the whole union, so a new cause does not compile until it has a text and an
// Acct-Terminate-Cause.
import type { LinkEnd } from '../ppp/PppLink.js';
import type { CallEnd } from '../pptp/ControlConnection.js';

/** What the session layer itself ends a session for. */
export type SessionStop = 'admin-disconnect' | 'radius-disconnect' | 'session-timeout' | 'idle-timeout' | 'shutdown' | 'flood' | 'setup-timeout' | 'address-refused' | 'dataplane-failure';

/** The first of these that happens names the end: our own stop, else PPTP's clear, else PPP's verdict. */
export type EndCause = SessionStop | CallEnd | LinkEnd;

/**
 * RADIUS Acct-Terminate-Cause values we report (RFC 2866 §5.10), by their RFC names. 'nas-reboot' is
 * no EndCause: it is what the Stops of sessions an unclean stop left open say (aaa/Accountant.ts).
 */
export type TerminateCause =
  | 'user-request'
  | 'lost-carrier'
  | 'idle-timeout'
  | 'session-timeout'
  | 'admin-reset'
  | 'admin-reboot'
  | 'nas-request'
  | 'nas-error'
  | 'nas-reboot'
  | 'user-error'
  | 'service-unavailable';

const TERMINATE_CAUSE: Record<EndCause, TerminateCause> = {
  'admin-disconnect': 'admin-reset',
  'radius-disconnect': 'admin-reset',
  'session-timeout': 'session-timeout',
  'idle-timeout': 'idle-timeout',
  // RFC 2866 §5.10 Admin-Reboot: "Administrator is ending service on the NAS" (SIGTERM/SIGINT).
  shutdown: 'admin-reboot',
  flood: 'user-error',
  'setup-timeout': 'user-error',
  // The user store or RADIUS named an address the policy refuses: the user cannot be served here.
  'address-refused': 'service-unavailable',
  // The thread carrying the session's packets failed: its MPPE and GRE state died with it.
  'dataplane-failure': 'nas-error',
  // PPTP: the client hung up; or the connection under the call failed.
  'peer-call-clear': 'user-request',
  'peer-stop': 'user-request',
  'transport-closed': 'lost-carrier',
  'echo-timeout': 'lost-carrier',
  'start-timeout': 'lost-carrier',
  'stop-timeout': 'lost-carrier',
  'closed-during-open': 'lost-carrier',
  'protocol-error': 'nas-error',
  'unsupported-version': 'nas-error',
  'local-stop': 'nas-request',
  // PPP
  'peer-terminated': 'user-request',
  'peer-not-responding': 'lost-carrier',
  'lower-layer-down': 'lost-carrier',
  'negotiation-failed': 'nas-error',
  'local-close': 'nas-request',
  'auth-failed': 'user-error',
  'auth-timeout': 'user-error',
  'auth-refused': 'user-error',
  'mppe-refused': 'user-error',
  'no-mppe-keys': 'nas-error',
  'no-address': 'service-unavailable',
  'ccp-renegotiated': 'user-error',
  'user-changed': 'user-error',
  'ncp-failed': 'nas-error',
};

const TEXT: Record<EndCause, string> = {
  'admin-disconnect': 'disconnected by an administrator',
  'radius-disconnect': 'RADIUS Disconnect-Request',
  'session-timeout': 'Session-Timeout reached',
  'idle-timeout': 'Idle-Timeout reached',
  shutdown: 'server shutting down',
  flood: 'client kept sending beyond its budgets (MPPE key changes, control frames)',
  'setup-timeout': 'the network phase was not (back) up in time',
  'address-refused': 'static address not allowed (outside pool.allowedStaticRanges, or never a client address)',
  'dataplane-failure': 'the data-plane thread carrying the session failed',
  'peer-call-clear': 'client hung up (Call-Clear-Request)',
  'peer-stop': 'client closed the control connection (Stop-Control-Connection-Request)',
  'transport-closed': 'control connection lost',
  'echo-timeout': 'control connection not answering (PPTP Echo)',
  'start-timeout': 'control connection never started',
  'stop-timeout': 'control connection stop not answered',
  'closed-during-open': 'control connection closed while the call was accepted',
  'protocol-error': 'PPTP protocol error',
  'unsupported-version': 'unsupported PPTP version',
  'local-stop': 'control connection stopped by the server',
  'peer-terminated': 'client ended the link (LCP Terminate-Request)',
  'peer-not-responding': 'client not responding (LCP Echo)',
  'lower-layer-down': 'call gone',
  'negotiation-failed': 'LCP negotiation failed',
  'local-close': 'closed by the server',
  'auth-failed': 'authentication failed',
  'auth-timeout': 'authentication timed out',
  'auth-refused': 'client refused every authentication method offered',
  'mppe-refused': 'MPPE required but the client refused it',
  'no-mppe-keys': 'MPPE required but the authentication gave no keys',
  'no-address': 'no IP address available',
  'ccp-renegotiated': 'CCP renegotiated after data (MPPE keystream would repeat)',
  'user-changed': 'renegotiation authenticated another user',
  'ncp-failed': 'IPCP failed',
};

/** Every cause, for tables and tests. */
export const END_CAUSES = Object.keys(TEXT) as EndCause[];

export function terminateCauseOf(cause: EndCause): TerminateCause {
  return TERMINATE_CAUSE[cause];
}

/** One line for people (the journal, the console): what the cause word means. */
export function endCauseText(cause: EndCause): string {
  return TEXT[cause];
}
