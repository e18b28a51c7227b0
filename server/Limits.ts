// What one peer may hold, from the configuration (pptp.* and ppp.setupTimeout): the session layer's
// call limits and the control listener's connection limits.
import { readFileSync } from 'node:fs';
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
