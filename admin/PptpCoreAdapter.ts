// Builds the AdminCore view over the real server: the SessionManager, its DataPlane, the UserStore and
// the configuration. The dependency points from the panel to the core, never back.
import { EventEmitter } from 'node:events';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import type { AddressPolicy } from '../config/AddressPolicy.js';
import type { ReloadOutcome } from '../server/ConfigReload.js';
import { connectionLimits } from '../server/Limits.js';
import type { DataDirectoryReport } from '../config/DataDirectory.js';
import type { HostCheckResult } from '../server/HostChecks.js';
import type { Logger } from 'pino';
import type { DataPlanePort } from '../dataplane/DataPlane.js';
import type { AuthFailure, SessionEnded, SessionManager, SessionSummary } from '../session/SessionManager.js';
import type { LoginGuard } from '../aaa/ThrottledAuthenticator.js';
import { UserStoreError, type UserStore, type UserStoreErrorKind } from '../aaa/UserStore.js';
import {
  UserFieldError,
  type AdminCore,
  type AdminBanList,
  type AdminCoreEvents,
  type AdminLimitView,
  type AdminSessionView,
  type AdminSettingsView,
  type AdminUser,
  type AdminUserDirectory,
  type NewUser,
  type RadiusServerState,
  type UserChanges,
} from './AdminCore.js';
import { consoleHostNames } from './HostAllowList.js';

export interface PptpCoreParts {
  server: SessionManager;
  dataPlane: DataPlanePort;
  users: UserStore;
  /** The configuration in force (a reload replaces it). */
  config: () => PorticoConfig;
  /** Reloads the configuration file (server/ConfigReload.ts). */
  reload: (by: string) => ReloadOutcome;
  /** Login throttling and its ban list (aaa/ThrottledAuthenticator.ts). */
  logins: LoginGuard;
  /** The policy the user store and the logins apply to static addresses; the settings page shows it. */
  addressPolicy: AddressPolicy;
  /** The RADIUS client's view of its servers, once RADIUS is wired; absent: "RADIUS: not configured". */
  radiusServers?: () => RadiusServerState[];
  /** What securing the data directory at start did (config/DataDirectory.ts), for the security audit. */
  dataDirectory?: DataDirectoryReport;
  /** The host checks that warned at start (server/HostChecks.ts), for the security audit. */
  hostWarnings?: readonly HostCheckResult[];
  log: Logger;
}

/** RADIUS shared secrets shorter than this are flagged by the audit (RFC 2865 §3 asks for at least 16 octets). */
const SHORT_SECRET = 16;

function view(s: SessionSummary): AdminSessionView {
  return {
    sessionId: s.sessionId,
    callId: s.callId,
    peerCallId: s.peerCallId,
    peer: s.peer,
    user: s.user,
    address: s.address,
    authMethod: s.authMethod,
    mppe: s.mppe,
    startedAt: s.startedAt,
    upAt: s.upAt,
    sessionTimeout: s.sessionTimeout,
    idleTimeout: s.idleTimeout,
    rxBytes: s.counters.rxBytes,
    rxPackets: s.counters.rxPackets,
    txBytes: s.counters.txBytes,
    txPackets: s.counters.txPackets,
    drops: {
      rxSpoofed: s.counters.rxSpoofed,
      rxUndecryptable: s.counters.rxUndecryptable,
      rxNotReady: s.counters.rxNotReady,
      rxRekeyLimited: s.counters.rxRekeyLimited,
      rxControlLimited: s.counters.rxControlLimited,
      txDropped: s.counters.txDropped,
    },
    stuck: s.stuck,
  };
}

/** The limits one peer meets, by key, in the settings page's order; `maxConnections`: the one in force. */
function limitsOf(config: PorticoConfig, maxConnections: number): AdminLimitView[] {
  const p = config.pptp;
  const t = config.auth.throttle;
  return [
    { key: 'pptp.maxConnections', value: p.maxConnections, what: 'control connections at once', ...(maxConnections !== p.maxConnections ? { inForce: maxConnections } : {}) },
    { key: 'pptp.maxConnectionsPerAddress', value: p.maxConnectionsPerAddress, what: 'control connections from one address' },
    { key: 'pptp.connectionsPerSecondPerAddress', value: p.connectionsPerSecondPerAddress, unit: '/s', what: 'new connections from one address (twice this at once)' },
    { key: 'pptp.startTimeout', value: p.startTimeout, unit: 's', what: 'TCP accept to Start-Control-Connection-Request' },
    { key: 'pptp.callGrace', value: p.callGrace, unit: 's', what: 'a connection without a call is stopped after this' },
    { key: 'pptp.maxCalls', value: p.maxCalls, what: 'calls at once' },
    { key: 'pptp.maxCallsPerConnection', value: p.maxCallsPerConnection, what: 'calls on one control connection' },
    { key: 'pptp.maxUnauthenticatedCalls', value: p.maxUnauthenticatedCalls, what: 'calls not yet authenticated, overall' },
    { key: 'pptp.maxUnauthenticatedCallsPerAddress', value: p.maxUnauthenticatedCallsPerAddress, what: 'calls not yet authenticated, from one address' },
    { key: 'pptp.maxQueuedOutput', value: p.maxQueuedOutput, unit: 'bytes', what: 'queued to a client that does not read: past this it is not read, past four times closed' },
    { key: 'ppp.setupTimeout', value: config.ppp.setupTimeout, unit: 's', what: 'call or renegotiation to the network phase; renegotiating never extends it' },
    { key: 'auth.throttle.addressFailures', value: t.addressFailures, what: 'failed logins from one address before it waits' },
    { key: 'auth.throttle.userAddressFailures', value: t.userAddressFailures, what: 'failed logins of one user from one address before that pair waits' },
    { key: 'auth.throttle.userFailures', value: t.userFailures, what: "failed logins of one user from every address (but the user's own) before the name waits" },
    { key: 'auth.throttle.firstDelay', value: t.firstDelay, unit: 's', what: 'the first wait; each further failure doubles it' },
    { key: 'auth.throttle.maxDelay', value: t.maxDelay, unit: 's', what: 'the longest wait' },
    { key: 'auth.throttle.forgetAfter', value: t.forgetAfter, unit: 's', what: 'a key without failures this long starts afresh' },
    { key: 'auth.throttle.banAfter', value: t.banAfter, what: `refused logins within ${t.banWindow} s that ban an address for ${t.banDuration} s (0: no automatic bans)` },
  ];
}

const STATUS: Record<UserStoreErrorKind, UserFieldError['status']> = { invalid: 400, unknown: 404, taken: 409 };

/** A UserStore refusal as the form wants it: on its field, with the HTTP status of its kind. */
function fieldError(err: unknown): never {
  if (!(err instanceof UserStoreError)) throw err;
  throw new UserFieldError(err.field, err.problem, STATUS[err.kind]);
}

export function createPptpAdminCore(parts: PptpCoreParts): AdminCore {
  const { server, dataPlane, users } = parts;
  const events = new EventEmitter<AdminCoreEvents>();
  const startedAt = Date.now();

  // The server emits from inside its session handling: nothing of the panel may throw back into it.
  const guarded =
    <T>(what: string, f: (x: T) => void) =>
    (x: T) => {
      try {
        f(x);
      } catch (err) {
        parts.log.error({ err }, `admin: handling ${what} failed`);
      }
    };
  server.on(
    'session-up',
    guarded('session-up', (s: SessionSummary) => {
      events.emit('session-up', view(server.findSessions({ callId: s.callId })[0] ?? s));
    }),
  );
  server.on(
    'session-down',
    guarded('session-down', (s: SessionEnded) => events.emit('session-down', { ...view(s), reason: s.detail, cause: s.cause, endedAt: s.endedAt })),
  );
  server.on(
    'auth-failure',
    guarded('auth-failure', (f: AuthFailure) => events.emit('auth-failure', { ...f })),
  );

  const liveOf = (name: string) => server.findSessions({ user: name });
  const toUser = (name: string): AdminUser | null => {
    const u = users.find(name);
    if (!u) return null;
    const limits = users.getLimits(name) ?? { sessionTimeout: null, idleTimeout: null };
    return {
      name: u.name,
      staticAddress: u.staticAddress === null ? null : formatIpv4(u.staticAddress),
      enabled: u.enabled,
      createdAt: u.createdAt,
      ...limits,
    };
  };
  // The store refuses a static address the policy does not allow, naming the field (aaa/UserStore.ts). The
  // address goes first: its refusals (the policy, another user's) are the likely ones, and nothing has changed yet.
  const applyChanges = (name: string, c: UserChanges) => {
    if (c.staticAddress !== undefined) users.setStaticAddress(name, c.staticAddress);
    if (c.password !== undefined) users.setPassword(name, c.password);
    if (c.sessionTimeout !== undefined || c.idleTimeout !== undefined) {
      users.setLimits(name, {
        ...(c.sessionTimeout !== undefined ? { sessionTimeout: c.sessionTimeout } : {}),
        ...(c.idleTimeout !== undefined ? { idleTimeout: c.idleTimeout } : {}),
      });
    }
    if (c.enabled !== undefined) users.setEnabled(name, c.enabled);
  };

  const directory: AdminUserDirectory = {
    list: () => {
      const limits = users.listLimits();
      return users.list().map((u) => ({
        name: u.name,
        staticAddress: u.staticAddress === null ? null : formatIpv4(u.staticAddress),
        enabled: u.enabled,
        createdAt: u.createdAt,
        ...(limits.get(u.name) ?? { sessionTimeout: null, idleTimeout: null }),
      }));
    },
    get: (name) => toUser(name),
    add: (input: NewUser) => {
      try {
        users.add(input.name, input.password, input.staticAddress ?? undefined);
        try {
          applyChanges(input.name, { enabled: input.enabled, sessionTimeout: input.sessionTimeout, idleTimeout: input.idleTimeout });
        } catch (err) {
          users.delete(input.name); // all or nothing
          throw err;
        }
      } catch (err) {
        fieldError(err);
      }
      return toUser(input.name)!;
    },
    update: (name, changes) => {
      if (!users.find(name)) throw new UserFieldError('name', `no user ${name}`, 404);
      try {
        applyChanges(name, changes);
      } catch (err) {
        fieldError(err);
      }
      if (changes.enabled === false) for (const s of liveOf(name)) server.disconnect(s.callId, 'admin-disconnect', 'account disabled');
      else if (changes.sessionTimeout !== undefined || changes.idleTimeout !== undefined) {
        const limits = users.getLimits(name)!;
        for (const s of liveOf(name)) server.setLimits(s.callId, limits);
      }
      return toUser(name)!;
    },
    delete: (name) => {
      try {
        users.delete(name);
      } catch (err) {
        fieldError(err);
      }
      for (const s of liveOf(name)) server.disconnect(s.callId, 'admin-disconnect', 'account deleted');
    },
  };

  const settings = (): AdminSettingsView => {
    const config = parts.config();
    return {
      listen: config.listen,
      port: config.port,
      serverName: config.serverName,
      tun: { ...config.tun },
      pool: { start: config.pool.start, end: config.pool.end, allowedStaticRanges: [...config.pool.allowedStaticRanges] },
      staticAddresses: parts.addressPolicy.describe(),
      dns: [...config.dns],
      wins: [...config.wins],
      auth: { backend: config.auth.backend, protocols: [...config.auth.protocols] },
      mppe: { required: config.mppe.required, keyLengths: [...config.mppe.keyLengths], mode: config.mppe.mode },
      ppp: { lcpEchoInterval: config.ppp.lcpEchoInterval, lcpEchoFailure: config.ppp.lcpEchoFailure, mru: config.ppp.mru ?? null },
      pptp: { ...config.pptp },
      limits: limitsOf(config, connectionLimits(config).maxConnections),
      radius: {
        servers: config.radius.servers.map((s) => ({ address: s.address, authPort: s.authPort, acctPort: s.acctPort, shortSecret: s.secret.length < SHORT_SECRET })),
        requireMessageAuthenticator: config.radius.requireMessageAuthenticator,
        timeout: config.radius.timeout,
        tries: config.radius.tries,
        das: config.radius.das
          ? {
              listen: config.radius.das.listen,
              port: config.radius.das.port,
              requireMessageAuthenticator: config.radius.das.requireMessageAuthenticator,
              requireEventTimestamp: config.radius.das.requireEventTimestamp,
            }
          : null,
      },
      ...(parts.dataDirectory ? { dataDirectory: { path: parts.dataDirectory.path, fixed: [...parts.dataDirectory.fixed] } } : {}),
      ...(parts.hostWarnings ? { hostWarnings: parts.hostWarnings.map((w) => ({ check: w.check, setting: w.setting, message: w.message, fix: w.fix ?? '' })) } : {}),
      admin: { listen: config.admin.listen, tls: config.admin.tls !== undefined, metricsUsernames: config.admin.metricsUsernames, allowedHosts: consoleHostNames(config.admin) },
    };
  };

  const { bans } = parts.logins;
  const banList: AdminBanList = {
    list: () => bans.list(),
    ban: (address, seconds, reason) => bans.ban(formatIpv4(parseIpv4(address)), seconds * 1000, reason),
    unban: (address) => bans.unban(address),
    clear: () => bans.clear(),
  };

  const core: AdminCore = {
    on: (event, listener) => events.on(event, listener as never),
    off: (event, listener) => events.off(event, listener as never),
    sessions: () => server.listSessions().map(view),
    disconnect: (sessionId, reason) => {
      const s = server.findSessions({ sessionId })[0];
      return s ? server.disconnect(s.callId, 'admin-disconnect', reason) : false;
    },
    users: directory,
    settings,
    reload: (by) => {
      const outcome = parts.reload(by);
      return outcome.ok
        ? { ok: true, message: outcome.message, applied: outcome.applied, needsRestart: outcome.needsRestart, problems: [] }
        : { ok: false, message: outcome.message, applied: [], needsRestart: [], problems: outcome.problems };
    },
    health: () => {
      const config = parts.config();
      const poolStart = parseIpv4(config.pool.start);
      const poolEnd = parseIpv4(config.pool.end);
      const live = server.listSessions();
      const used = live.filter((s) => {
        if (s.address === null) return false;
        const a = parseIpv4(s.address);
        return a >= poolStart && a <= poolEnd;
      }).length;
      const memory = process.memoryUsage();
      return {
        startedAt,
        sessions: live.length,
        pool: { size: poolEnd - poolStart + 1, used },
        dataPlane: { ...dataPlane.counters },
        dataPlaneThreadRestarts: dataPlane.threadRestarts,
        memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      };
    },
    bans: banList,
    loginCounters: () => {
      const b = bans.counters;
      return { throttled: parts.logins.counters.throttled, bans: b.bans, banRefusals: b.refused };
    },
    ...(parts.radiusServers ? { radiusServers: parts.radiusServers } : {}),
  };
  return core;
}
