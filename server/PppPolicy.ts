// The PPP policy every link gets, built once from the configuration: addresses IPCP hands out,
// MPPE (RFC 3078), LCP keepalive, the authentication methods allowed.
import type { Logger } from 'pino';
import { parseIpv4 } from '../config/Ipv4.js';
import { ConfigError, type PorticoConfig } from '../config/PorticoConfig.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import { linkAuthMethods, type PppLinkConfig } from '../ppp/PppLink.js';

/** The link policy; fails (ConfigError) when no allowed method can be verified by the backend and key the required MPPE. */
export function pppPolicy(config: PorticoConfig, authenticator: ExtendedAuthenticator, log: Logger): PppLinkConfig {
  const link: PppLinkConfig = {
    serverName: config.serverName,
    localAddress: parseIpv4(config.tun.address),
    dns: config.dns.map(parseIpv4),
    wins: config.wins.map(parseIpv4),
    ...(config.ppp.mru !== undefined ? { mru: config.ppp.mru } : {}),
    mppe: { required: config.mppe.required, bits: config.mppe.keyLengths, mode: config.mppe.mode },
    lcpEchoInterval: config.ppp.lcpEchoInterval,
    lcpEchoFailure: config.ppp.lcpEchoFailure,
    authProtocols: config.auth.protocols,
  };
  const offered = linkAuthMethods(link, authenticator);
  const idle = config.auth.protocols.filter((p) => !offered.includes(p));
  if (idle.length > 0) log.warn({ protocols: idle }, 'auth.protocols never offered: the user backend cannot verify them or they cannot key the required MPPE');
  if (offered.length === 0) {
    throw new ConfigError('auth.protocols: none of them can be verified by the user backend and key the required MPPE (mppe.required)');
  }
  return link;
}
