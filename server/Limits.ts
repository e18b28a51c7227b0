// What one peer may hold, from the configuration (pptp.*, ppp.setupTimeout, auth.throttle): the session
// layer's call limits, the control listener's connection limits, the login throttle and the ban list.
import { readFileSync } from 'node:fs';
import type { BanPolicy } from '../aaa/AddressBans.js';
import type { LoginThrottlePolicy } from '../aaa/ThrottledAuthenticator.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import type { ConnectionLimits } from './ControlListener.js';
import type { CallLimits } from '../session/SessionManager.js';

export function callLimits(config: PorticoConfig): CallLimits {
  const p = config.pptp;
  return {
    maxCalls: p.maxCalls,
    maxCallsPerConnection: p.maxCallsPerConnection,
    maxUnauthenticatedCalls: p.maxUnauthenticatedCalls,
    maxUnauthenticatedCallsPerAddress: p.maxUnauthenticatedCallsPerAddress,
    setupTimeoutMs: config.ppp.setupTimeout * 1000,
  };
}

/**
 * Descriptors kept free of control connections whatever the limits say: the console, the databases,
 * RADIUS sockets, TUN queues and raw sockets must keep working when a flood fills the connection table.
 */
export const DESCRIPTOR_RESERVE = 256;

/** The process's RLIMIT_NOFILE soft limit (Node raises it to the hard limit at start), or null if unknown. */
export function descriptorLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

/** The listener's limits; maxConnections stays DESCRIPTOR_RESERVE below the descriptor limit. */
export function connectionLimits(config: PorticoConfig, descriptors = descriptorLimit()): ConnectionLimits {
  const p = config.pptp;
  const byDescriptors = descriptors === null ? p.maxConnections : Math.max(1, descriptors - DESCRIPTOR_RESERVE);
  return {
    maxConnections: Math.min(p.maxConnections, byDescriptors),
    maxConnectionsPerAddress: p.maxConnectionsPerAddress,
    connectionsPerSecondPerAddress: p.connectionsPerSecondPerAddress,
    startTimeoutMs: p.startTimeout * 1000,
    callGraceMs: p.callGrace * 1000,
    maxQueuedOutput: p.maxQueuedOutput,
  };
}

/** Keys each login back-off and the ban list track at most: 20 000 each, a few MiB whatever a flood sends. */
const THROTTLE_TABLE_SIZE = 20_000;
/** How long an address where a user logged in stays exempt from that user's global bound. */
const TRUSTED_ADDRESS_MS = 30 * 24 * 3600 * 1000;

/** auth.throttle as the login throttle's three back-offs (aaa/ThrottledAuthenticator.ts says why three). */
export function loginThrottlePolicy(config: PorticoConfig): LoginThrottlePolicy {
  const t = config.auth.throttle;
  const backoff = (failuresBeforeWait: number) => ({
    failuresBeforeWait,
    baseDelayMs: t.firstDelay * 1000,
    maxDelayMs: t.maxDelay * 1000,
    forgetMs: t.forgetAfter * 1000,
    maxEntries: THROTTLE_TABLE_SIZE,
  });
  return { address: backoff(t.addressFailures), userAtAddress: backoff(t.userAddressFailures), user: backoff(t.userFailures), trustMs: TRUSTED_ADDRESS_MS };
}

/** auth.throttle.ban* as the ban list's policy (banAfter 0: bans only by hand). */
export function banPolicy(config: PorticoConfig): BanPolicy {
  const t = config.auth.throttle;
  return { banAfter: t.banAfter, windowMs: t.banWindow * 1000, durationMs: t.banDuration * 1000, maxEntries: THROTTLE_TABLE_SIZE };
}
