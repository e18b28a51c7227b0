// An AdminCore with no PPTP behind it: sessions and users are plain values the test sets, events
// are emitted by hand, and every disconnect is recorded.
import { EventEmitter } from 'node:events';
import {
  UserFieldError,
  type AdminBan,
  type AdminBanList,
  type AdminCore,
  type AdminLoginCounters,
  type AdminReloadResult,
  type AdminCoreEvents,
  type AdminHealth,
  type AdminSessionView,
  type AdminSettingsView,
  type AdminUser,
  type NewUser,
  type RadiusServerState,
  type UserChanges,
} from '../../admin/AdminCore.js';

export function fakeSession(over: Partial<AdminSessionView> = {}): AdminSessionView {
  return {
    sessionId: '18f00000000-0001',
    callId: 1,
    peerCallId: 4321,
    peer: '198.18.0.10',
    user: 'alice',
    address: '198.18.100.10',
    authMethod: 'MS-CHAPv2',
    mppe: 'MPPE-128 stateless',
    startedAt: Date.now() - 60_000,
    upAt: Date.now() - 59_000,
    sessionTimeout: null,
    idleTimeout: null,
    rxBytes: 1000,
    rxPackets: 10,
    txBytes: 2000,
    txPackets: 20,
    drops: { rxSpoofed: 0, rxUndecryptable: 0, rxNotReady: 0, rxRekeyLimited: 0, rxControlLimited: 0, txDropped: 0 },
    stuck: false,
    ...over,
  };
}

export function fakeSettings(over: Partial<AdminSettingsView> = {}): AdminSettingsView {
  return {
    listen: '0.0.0.0',
    port: 1723,
    serverName: 'portico',
    tun: { name: 'pptp0', address: '10.99.0.1', mtu: 1400 },
    pool: { start: '10.99.0.10', end: '10.99.0.250', allowedStaticRanges: [] },
    staticAddresses: { allowed: ['pool 10.99.0.10-10.99.0.250', 'tunnel network 10.99.0.0/24'], never: ['127.0.0.0/8 (loopback)', "10.99.0.1 (the server's tunnel address (tun.address))"] },
    dns: ['10.99.0.53'],
    wins: [],
    auth: { backend: 'local', protocols: ['mschapv2'] },
    mppe: { required: true, keyLengths: [128], mode: 'prefer-stateless' },
    ppp: { lcpEchoInterval: 30, lcpEchoFailure: 4, mru: null },
    pptp: { echoInterval: 60, maxCalls: 10000 },
    limits: [
      { key: 'pptp.maxConnections', value: 4096, what: 'control connections at once' },
      { key: 'pptp.startTimeout', value: 10, unit: 's', what: 'TCP accept to Start-Control-Connection-Request' },
      { key: 'pptp.maxQueuedOutput', value: 65536, unit: 'bytes', what: 'queued to a client that does not read' },
    ],
    radius: { servers: [], requireMessageAuthenticator: true, timeout: 3, tries: 3, das: null },
    admin: { listen: '127.0.0.1:8080', tls: false, metricsUsernames: false, allowedHosts: ['localhost', '127.0.0.1', '[::1]'] },
    ...over,
  };
}

const NAME = /^[^\s\\/:]{1,64}$/;

export class FakeAdminCore extends EventEmitter<AdminCoreEvents> implements AdminCore {
  live: AdminSessionView[] = [];
  readonly disconnects: Array<{ sessionId: string; reason: string }> = [];
  readonly userMap = new Map<string, AdminUser & { password: string }>();
  settingsView = fakeSettings();
  radiusServers?: () => RadiusServerState[];

  sessions(): AdminSessionView[] {
    return this.live.map((s) => ({ ...s }));
  }

  disconnect(sessionId: string, reason: string): boolean {
    const s = this.live.find((x) => x.sessionId === sessionId);
    if (!s) return false;
    this.disconnects.push({ sessionId, reason });
    return true;
  }

  readonly users = {
    list: (): AdminUser[] => [...this.userMap.values()].map(({ password: _p, ...u }) => u).sort((a, b) => a.name.localeCompare(b.name)),
    get: (name: string): AdminUser | null => this.users.list().find((u) => u.name.toLowerCase() === name.toLowerCase()) ?? null,
    add: (u: NewUser): AdminUser => {
      if (!NAME.test(u.name)) throw new UserFieldError('name', '1-64 characters, no spaces, slashes, backslashes or colons');
      if (this.userMap.has(u.name.toLowerCase())) throw new UserFieldError('name', `user ${u.name} already exists`, 409);
      this.checkAddress(u.name, u.staticAddress ?? null);
      this.userMap.set(u.name.toLowerCase(), {
        name: u.name,
        password: u.password,
        staticAddress: u.staticAddress ?? null,
        enabled: u.enabled ?? true,
        createdAt: '2025-01-01T00:00:00Z',
        sessionTimeout: u.sessionTimeout ?? null,
        idleTimeout: u.idleTimeout ?? null,
      });
      return this.users.get(u.name)!;
    },
    update: (name: string, c: UserChanges): AdminUser => {
      const u = this.userMap.get(name.toLowerCase());
      if (!u) throw new UserFieldError('name', `no user ${name}`, 404);
      if (c.staticAddress !== undefined) this.checkAddress(u.name, c.staticAddress);
      Object.assign(u, Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));
      return this.users.get(name)!;
    },
    delete: (name: string): void => {
      if (!this.userMap.delete(name.toLowerCase())) throw new UserFieldError('name', `no user ${name}`, 404);
    },
  };

  settings(): AdminSettingsView {
    return this.settingsView;
  }

  /** What the next reload answers; every reload's `by` is recorded. */
  reloadResult: AdminReloadResult = { ok: true, message: 'configuration reloaded: nothing to apply', applied: [], needsRestart: [], problems: [] };
  readonly reloads: string[] = [];

  reload(by: string): AdminReloadResult {
    this.reloads.push(by);
    return structuredClone(this.reloadResult);
  }

  readonly banMap = new Map<string, AdminBan>();
  counters: AdminLoginCounters = { throttled: 0, bans: 0, banRefusals: 0 };
  readonly bans: AdminBanList = {
    list: () => [...this.banMap.values()].filter((b) => b.until > Date.now()).sort((a, b) => b.since - a.since),
    ban: (address, seconds, reason) => {
      const ban = { address, since: Date.now(), until: Date.now() + seconds * 1000, reason, refused: 0 };
      this.banMap.set(address, ban);
      this.counters.bans++;
      return { ...ban };
    },
    unban: (address) => this.banMap.delete(address),
    clear: () => {
      const n = this.banMap.size;
      this.banMap.clear();
      return n;
    },
  };

  loginCounters(): AdminLoginCounters {
    return { ...this.counters };
  }

  health(): AdminHealth {
    return {
      startedAt: Date.now() - 3_600_000,
      sessions: this.live.length,
      pool: { size: 241, used: this.live.length },
      dataPlane: { greMalformed: 0, greUnknownCall: 2 },
      dataPlaneThreadRestarts: 0,
      memory: { rssBytes: 80 << 20, heapUsedBytes: 20 << 20 },
    };
  }

  private checkAddress(name: string, address: string | null): void {
    if (address === null) return;
    const owner = [...this.userMap.values()].find((u) => u.staticAddress === address && u.name !== name);
    if (owner) throw new UserFieldError('staticAddress', `static address ${address} already belongs to ${owner.name}`, 409);
  }
}
