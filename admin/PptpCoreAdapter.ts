// Builds the AdminCore view over the real server: the SessionManager, its DataPlane, the UserStore and
// the configuration. The dependency points from the panel to the core, never back.
import { EventEmitter } from 'node:events';
import { formatIpv4, parseIpv4 } from '../config/Ipv4.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import type { DataDirectoryReport } from '../config/DataDirectory.js';
import type { Logger } from 'pino';
import type { DataPlanePort } from '../dataplane/DataPlane.js';
import type { AuthFailure, SessionEnded, SessionManager, SessionSummary } from '../session/SessionManager.js';
import { UserStoreError, type UserStore, type UserStoreErrorKind } from '../aaa/UserStore.js';
import {
  UserFieldError,
  type AdminCore,
  type AdminCoreEvents,
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
  config: PorticoConfig;
  /** The RADIUS client's view of its servers, once RADIUS is wired; absent: "RADIUS: not configured". */
  radiusServers?: () => RadiusServerState[];
  /** What securing the data directory at start did (config/DataDirectory.ts), for the security audit. */
  dataDirectory?: DataDirectoryReport;
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

const STATUS: Record<UserStoreErrorKind, UserFieldError['status']> = { invalid: 400, unknown: 404, taken: 409 };

/** A UserStore refusal as the form wants it: on its field, with the HTTP status of its kind. */
function fieldError(err: unknown): never {
  if (!(err instanceof UserStoreError)) throw err;
  throw new UserFieldError(err.field, err.problem, STATUS[err.kind]);
}

export function createPptpAdminCore(parts: PptpCoreParts): AdminCore {
  const { server, dataPlane, users, config } = parts;
  const events = new EventEmitter<AdminCoreEvents>();
  const startedAt = Date.now();
  const tunAddress = config.tun.address;
  const poolStart = parseIpv4(config.pool.start);
  const poolEnd = parseIpv4(config.pool.end);

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
  const checkStatic = (address: string | null | undefined) => {
    if (address === tunAddress) throw new UserFieldError('staticAddress', `${address} is the server's own tunnel address`);
  };
  const applyChanges = (name: string, c: UserChanges) => {
    checkStatic(c.staticAddress);
    if (c.password !== undefined) users.setPassword(name, c.password);
    if (c.staticAddress !== undefined) users.setStaticAddress(name, c.staticAddress);
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
        checkStatic(input.staticAddress);
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

  const settings = (): AdminSettingsView => ({
    listen: config.listen,
    port: config.port,
    serverName: config.serverName,
    tun: { ...config.tun },
    pool: { ...config.pool },
    dns: [...config.dns],
    wins: [...config.wins],
    auth: { backend: config.auth.backend, protocols: [...config.auth.protocols] },
    mppe: { required: config.mppe.required, keyLengths: [...config.mppe.keyLengths], mode: config.mppe.mode },
    ppp: { lcpEchoInterval: config.ppp.lcpEchoInterval, lcpEchoFailure: config.ppp.lcpEchoFailure, mru: config.ppp.mru ?? null },
    pptp: { ...config.pptp },
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
    admin: { listen: config.admin.listen, tls: config.admin.tls !== undefined, metricsUsernames: config.admin.metricsUsernames, allowedHosts: consoleHostNames(config.admin) },
  });

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
    health: () => {
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
    ...(parts.radiusServers ? { radiusServers: parts.radiusServers } : {}),
  };
  return core;
}
