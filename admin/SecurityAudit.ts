// The security audit card: every weak setting in force, by name, what the host lacked at start
// (server/HostChecks.ts), and — always — what PPTP cannot protect whatever the settings. Pure
// function of the settings view.
import type { AdminSettingsView } from './AdminCore.js';

export interface AuditFinding {
  severity: 'high' | 'medium' | 'low';
  /** The configuration key at fault. */
  setting: string;
  message: string;
}

export interface SecurityAuditReport {
  findings: AuditFinding[];
  /** True only when no finding is high or medium. */
  ok: boolean;
  limitations: string[];
}

/** The protocol's own limits (Schneier/Mudge 1998/1999; Marlinspike/Hulton, Defcon 20, 2012). */
export const PPTP_LIMITATIONS = [
  'MS-CHAPv2 falls to an offline attack: one recorded login is reducible to a single DES key (2^56 work: under a day on dedicated hardware already in 2012), which yields the NT hash — enough to log in as that user and to decrypt every recorded session of theirs.',
  'MPPE is RC4 with keys derived from that password hash: no forward secrecy, and no integrity protection — an attacker on the path can flip bits in packets undetected.',
  'The PPTP control connection (TCP 1723) and the GRE headers are not encrypted: user names, host names, call IDs and traffic timing are visible to anyone on the path.',
  "The server is not authenticated by anything stronger than the user's own password hash; there are no certificates.",
  'Use PPTP only where legacy clients leave no other choice; for confidential traffic use IKEv2/IPsec, WireGuard or OpenVPN.',
];

const WEAK_AUTH: Record<string, [name: string, why: string]> = {
  pap: ['PAP', 'the password crosses the network in clear text'],
  chap: ['CHAP-MD5', 'the server must keep the clear password, and one recorded login can be cracked offline'],
  mschap: ['MS-CHAPv1', 'weaker still than MS-CHAPv2 (no mutual authentication, the same key both ways) and cracked offline from one login'],
  mschapv1: ['MS-CHAPv1', 'weaker still than MS-CHAPv2 (no mutual authentication, the same key both ways) and cracked offline from one login'],
};

export function auditSettings(s: AdminSettingsView): SecurityAuditReport {
  const findings: AuditFinding[] = [];
  for (const p of s.auth.protocols) {
    const weak = WEAK_AUTH[p.toLowerCase()];
    if (weak) findings.push({ severity: 'high', setting: 'auth.protocols', message: `${weak[0]} is allowed: ${weak[1]}.` });
  }
  if (!s.mppe.required) {
    findings.push({ severity: 'high', setting: 'mppe.required', message: 'MPPE is optional: a client may run the session without any encryption.' });
  }
  const weakBits = s.mppe.keyLengths.filter((b) => b < 128);
  if (weakBits.length > 0) {
    findings.push({
      severity: 'high',
      setting: 'mppe.keyLengths',
      message: `${weakBits.join('- and ')}-bit MPPE keys are allowed: export-grade RC4 keys that can be searched exhaustively.`,
    });
  }
  if (s.mppe.mode === 'prefer-stateful') {
    findings.push({ severity: 'low', setting: 'mppe.mode', message: 'Stateful MPPE is preferred: one lost packet stalls the tunnel until a resync (performance rather than security).' });
  }
  const host = withoutPort(s.admin.listen);
  const loopback = isLoopback(host);
  if (!loopback && !s.admin.tls) {
    findings.push({ severity: 'high', setting: 'admin.listen', message: `The console listens on ${s.admin.listen} without TLS: passwords and session cookies cross the network in clear.` });
  } else if (!loopback) {
    findings.push({ severity: 'low', setting: 'admin.listen', message: `The console is reachable beyond this machine (${s.admin.listen}, TLS on): restrict who can reach it with a firewall.` });
  }
  // Host names beyond this machine's own that the console answers to (DNS rebinding protection).
  const named = s.admin.allowedHosts.filter((n) => !isLoopback(withoutPort(n)) && n !== host);
  if ((host === '0.0.0.0' || host === '[::]') && named.length === 0) {
    findings.push({
      severity: 'low',
      setting: 'admin.allowedHosts',
      message: `The console listens on every address (${s.admin.listen}) but answers only to the Host names ${s.admin.allowedHosts.join(', ')}: a browser that reaches it by this machine's address or DNS name is refused (421) until admin.allowedHosts names it.`,
    });
  }
  if (!s.admin.tls && named.length > 0) {
    findings.push({
      severity: 'low',
      setting: 'admin.allowedHosts',
      message: `The console answers to ${named.join(', ')} but has no TLS of its own: behind a reverse proxy that ends TLS its session cookie still lacks the Secure flag, so the proxy must never serve it over plain HTTP.`,
    });
  }
  if (s.radius.servers.length > 0 && !s.radius.requireMessageAuthenticator) {
    findings.push({
      severity: 'high',
      setting: 'radius.requireMessageAuthenticator',
      message: 'RADIUS replies are accepted without a Message-Authenticator: open to forged Access-Accepts (BlastRADIUS, CVE-2024-3596).',
    });
  }
  for (const server of s.radius.servers.filter((r) => r.shortSecret)) {
    findings.push({ severity: 'medium', setting: 'radius.servers', message: `The shared secret for ${server.address} is shorter than 16 characters: guessable offline from one recorded packet.` });
  }
  if (s.radius.das && !s.radius.das.requireEventTimestamp) {
    findings.push({
      severity: 'medium',
      setting: 'radius.das.requireEventTimestamp',
      message: 'Disconnect/CoA requests without an Event-Timestamp are accepted: one captured on the path can be sent again once 300 s have passed since it was handled (RFC 5176 §6.3).',
    });
  }
  if (s.radius.das && !s.radius.das.requireMessageAuthenticator) {
    findings.push({
      severity: 'low',
      setting: 'radius.das.requireMessageAuthenticator',
      message: 'Disconnect/CoA requests without a Message-Authenticator are accepted: they are signed only by the MD5 Request Authenticator.',
    });
  }
  if (s.dataDirectory && s.dataDirectory.fixed.length > 0) {
    findings.push({
      severity: 'medium',
      setting: 'dataDir',
      message: `At start the data directory or files in it were readable beyond their owner (${s.dataDirectory.fixed.join(', ')}); the permissions were taken away. Whoever could read them may hold copies of the user database (NT hashes) and the console's password and token hashes: change local passwords and revoke API tokens if that was possible.`,
    });
  }
  // Each static address outside the tunnel network gets a /32 route into the tunnel (config/AddressPolicy.ts).
  const wide = s.pool.allowedStaticRanges.filter((r) => Number(r.split('/')[1]) < 16);
  if (wide.length > 0) {
    findings.push({
      severity: 'medium',
      setting: 'pool.allowedStaticRanges',
      message: `${wide.join(', ')} ${wide.length > 1 ? 'are' : 'is'} wider than /16: a RADIUS reply, a console user or a write token can give a client any address there, and its route then takes that host's traffic into the tunnel. List only the networks static addresses come from.`,
    });
  }
  // What the host lacked at start: clients would connect and reach nothing, or not connect at all.
  for (const w of s.hostWarnings ?? []) {
    findings.push({ severity: 'medium', setting: w.setting, message: `${w.message}.${w.fix ? ` Fix: ${w.fix}.` : ''} (Found at start; portico doctor checks again.)` });
  }
  if (s.admin.metricsUsernames) {
    findings.push({ severity: 'low', setting: 'admin.metricsUsernames', message: 'Prometheus metrics carry user names: whoever can scrape /metrics sees who is connected.' });
  }
  return { findings, ok: !findings.some((f) => f.severity !== 'low'), limitations: PPTP_LIMITATIONS };
}

function withoutPort(hostPort: string): string {
  return hostPort.replace(/:\d+$/, '');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}
