// The narrow view of the server the admin panel works through. The panel imports nothing else
// from the core; server/main.ts builds one from the SessionManager (PptpCoreAdapter) and the tests
// build fakes. Every value is plain JSON: no Buffers, no secrets.
export interface AdminSessionView {
  sessionId: string;
  /** Our Call ID (also the RADIUS NAS-Port) and the client's. */
  callId: number;
  peerCallId: number;
  /** The client's public address (the control connection's peer). */
  peer: string;
  user: string | null;
  /** Assigned tunnel address, once IPCP gave one. */
  address: string | null;
  authMethod: string;
  mppe: string;
  startedAt: number;
  upAt: number | null;
  sessionTimeout: number | null;
  idleTimeout: number | null;
  /** rx: from the client; tx: to the client. */
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
  /** This session's packets that the data path did not deliver, by reason. */
  drops: AdminSessionDrops;
  /** Receives GRE from the client but has delivered nothing for a while. */
  stuck: boolean;
}

export interface AdminSessionDrops {
  /** From the client: IPv4 not from its own address. */
  rxSpoofed: number;
  /** From the client: could not be decrypted. */
  rxUndecryptable: number;
  /** From the client: before the network phase, or clear while MPPE is required. */
  rxNotReady: number;
  /** From the client: MPPE frames beyond its key-change budget (a flood of count jumps). */
  rxRekeyLimited: number;
  /** From the client: control frames beyond its control-frame budget. */
  rxControlLimited: number;
  /** To the client: while its network phase was down. */
  txDropped: number;
}

export interface AdminSessionEnded extends AdminSessionView {
  /** The cause in words, with what ended it said (the operator's reason, a limit, the peer's Terminate text). */
  reason: string;
  /** Why it ended, one word (the session layer's EndCause: admin-disconnect, peer-call-clear, idle-timeout, ...). */
  cause: string;
  endedAt: number;
}

export interface AdminAuthFailure {
  user: string | null;
  peer: string;
  reason: string;
  at: number;
}

export interface AdminCoreEvents {
  'session-up': [AdminSessionView];
  'session-down': [AdminSessionEnded];
  'auth-failure': [AdminAuthFailure];
}

export interface AdminUser {
  name: string;
  staticAddress: string | null;
  enabled: boolean;
  createdAt: string;
  /** Seconds; null: no limit. */
  sessionTimeout: number | null;
  idleTimeout: number | null;
}

export interface NewUser {
  name: string;
  password: string;
  staticAddress?: string | null | undefined;
  enabled?: boolean | undefined;
  sessionTimeout?: number | null | undefined;
  idleTimeout?: number | null | undefined;
}

export type UserChanges = Partial<Omit<NewUser, 'name'>>;

/** A rejected user change, naming the form field at fault so the page can show it there. */
export class UserFieldError extends Error {
  constructor(
    readonly field: keyof NewUser | 'name',
    message: string,
    /** 404 for an unknown user, 409 for a clash, 400 otherwise. */
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
  }
}

/** The user store as the panel sees it. Disabling or deleting a user also ends their live sessions. */
export interface AdminUserDirectory {
  list(): AdminUser[];
  get(name: string): AdminUser | null;
  add(user: NewUser): AdminUser;
  update(name: string, changes: UserChanges): AdminUser;
  delete(name: string): void;
}

/**
 * One limit in force, by its configuration key ("pptp.maxConnections"): the settings page lists them all
 * as they come, so a new limit needs only a new entry here.
 */
export interface AdminLimitView {
  key: string;
  value: number | boolean | string;
  /** How the value reads: seconds, bytes or a rate per second; none: a count or a word. */
  unit?: 's' | 'bytes' | '/s';
  /** What the limit bounds, in a few words. */
  what: string;
  /** The value actually applied when the server lowered the configured one (the descriptor reserve). */
  inForce?: number;
}

/** Configuration as shown to operators: everything but secrets. */
export interface AdminSettingsView {
  listen: string;
  port: number;
  serverName: string;
  tun: { name: string; address: string; mtu: number };
  pool: { start: string; end: string; allowedStaticRanges: string[] };
  /** Where a static or RADIUS address may lie, and what is never given (config/AddressPolicy.ts). */
  staticAddresses: { allowed: string[]; never: string[] };
  dns: string[];
  wins: string[];
  auth: { backend: string; protocols: string[] };
  mppe: { required: boolean; keyLengths: number[]; mode: string };
  ppp: { lcpEchoInterval: number; lcpEchoFailure: number; mru: number | null };
  pptp: { echoInterval: number; maxCalls: number };
  /** What one peer may hold (pptp.*, ppp.setupTimeout), in the order the page shows them. */
  limits: AdminLimitView[];
  radius: {
    servers: Array<{ address: string; authPort: number; acctPort: number; shortSecret: boolean }>;
    requireMessageAuthenticator: boolean;
    timeout: number;
    tries: number;
    das: { listen: string; port: number; requireMessageAuthenticator: boolean; requireEventTimestamp: boolean } | null;
  };
  /** Permissions taken off the data directory and its files at start ("path: 0755 → 0700"); absent where unknown (tests). */
  dataDirectory?: { path: string; fixed: string[] };
  /** Host checks that warned at start (IP forwarding off, no DNS, a firewall dropping GRE, ...: `portico doctor`); absent where not run (tests). */
  hostWarnings?: Array<{ check: string; setting: string; message: string; fix: string }>;
  /** allowedHosts: the Host names the console answers to (loopback names, the listen host, admin.allowedHosts), each also with the console's port unless it names one. */
  admin: { listen: string; tls: boolean; metricsUsernames: boolean; allowedHosts: string[] };
}

export interface AdminHealth {
  startedAt: number;
  sessions: number;
  pool: { size: number; used: number };
  /** Data-plane drop counters (malformed GRE, unknown calls, ...). */
  dataPlane: Record<string, number>;
  /** Data-plane threads restarted after a failure (their sessions ended: dataplane-failure). */
  dataPlaneThreadRestarts: number;
  memory: { rssBytes: number; heapUsedBytes: number };
}

/** One RADIUS server as the RADIUS client sees it; optional until RADIUS is wired. */
export interface RadiusServerState {
  /** "address:port". */
  server: string;
  role: 'auth' | 'acct' | 'das';
  state: 'up' | 'dead' | 'unknown';
  /** Last measured request → reply time. */
  lastRttMs: number | null;
  detail?: string;
}

/** A client address turned away for a while (auth.throttle.banAfter refused logins, or an operator). */
export interface AdminBan {
  address: string;
  since: number;
  until: number;
  /** "25 refused logins in 40 s", or the operator's reason. */
  reason: string;
  /** Connections, calls and logins turned away since it started. */
  refused: number;
}

/** The ban list as the console sees it; bans end by themselves at `until`. */
export interface AdminBanList {
  /** Live bans, the newest first. */
  list(): AdminBan[];
  /** Bans `address` (dotted quad) for `seconds`; a ban already there is replaced. */
  ban(address: string, seconds: number, reason: string): AdminBan;
  /** False when the address was not banned. */
  unban(address: string): boolean;
  /** Ends every ban; how many there were. */
  clear(): number;
}

/** Login throttling's totals since the start, for /metrics. */
export interface AdminLoginCounters {
  /** Logins answered without asking the backend (throttled, or from a banned address). */
  throttled: number;
  /** Bans placed, automatic or by an operator. */
  bans: number;
  /** Connections, calls and logins turned away because their address was banned. */
  banRefusals: number;
}

/**
 * What reloading the configuration file answered. Applied keys take effect for the next logins, calls
 * and RADIUS requests (live sessions keep theirs); needsRestart keys keep their running value until a
 * restart; a refused file (ok false, problems naming each key) changes nothing.
 */
export interface AdminReloadResult {
  ok: boolean;
  /** One line: what was applied and what needs a restart, or why the file was refused. */
  message: string;
  applied: string[];
  needsRestart: string[];
  /** "key: problem" for each refused key (or the file's own problem). */
  problems: string[];
}

export interface AdminCore {
  on<K extends keyof AdminCoreEvents>(event: K, listener: (...args: AdminCoreEvents[K]) => void): unknown;
  off<K extends keyof AdminCoreEvents>(event: K, listener: (...args: AdminCoreEvents[K]) => void): unknown;
  sessions(): AdminSessionView[];
  /** Proper teardown (LCP Terminate-Request with `reason`, then Call-Disconnect-Notify); false if no such session. */
  disconnect(sessionId: string, reason: string): boolean;
  readonly users: AdminUserDirectory;
  settings(): AdminSettingsView;
  /** Reads the configuration file again and applies what can change live; `by` says who asked (the log line). */
  reload(by: string): AdminReloadResult;
  health(): AdminHealth;
  readonly bans: AdminBanList;
  loginCounters(): AdminLoginCounters;
  /** Present once RADIUS is wired; the panel shows "RADIUS: not configured" without it. */
  radiusServers?(): RadiusServerState[];
}
