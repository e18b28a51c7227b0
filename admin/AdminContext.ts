// What every route module of the console receives, and who a request is (its principal).
import type { Logger } from 'pino';
import type { AdminCore } from './AdminCore.js';
import type { AdminAccounts } from './AdminAccounts.js';
import type { AdminMetrics } from './AdminMetrics.js';
import type { ApiTokens, TokenScope } from './ApiTokens.js';
import type { EventJournal } from './EventJournal.js';
import type { LoginSessions } from './LoginSessions.js';
import type { LoginThrottle } from './LoginThrottle.js';
import type { SessionMonitor } from './SessionMonitor.js';

/** The part of the configuration the console reads. */
export interface AdminConfig {
  dataDir: string;
  admin: {
    listen: string;
    enabled: boolean;
    tls?: { cert: string; key: string } | undefined;
    metricsUsernames: boolean;
    /** Host names the console answers to besides the loopback names and the listen address. */
    allowedHosts?: readonly string[] | undefined;
  };
}

export type Principal = { kind: 'session'; account: string; csrf: string; cookie: string } | { kind: 'token'; account: string; tokenId: string; scope: TokenScope };

export interface AdminContext {
  core: AdminCore;
  config: AdminConfig;
  log: Logger;
  accounts: AdminAccounts;
  logins: LoginSessions;
  tokens: ApiTokens;
  journal: EventJournal;
  throttle: LoginThrottle;
  monitor: SessionMonitor;
  metrics: AdminMetrics;
  /** `__Host-` prefixed under TLS (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain). */
  cookieName: string;
  secureCookies: boolean;
  /** Resolves the principal again (a live stream checks that its login still holds). */
  authenticate(cookie: string | undefined, authorization: string | undefined): Principal | null;
}

/** Documentation of a route for the OpenAPI document, kept next to the route itself. */
export interface RouteDoc {
  summary: string;
  tag: 'auth' | 'sessions' | 'users' | 'system' | 'events' | 'tokens' | 'bans';
  description?: string;
  /** Success status and body schema (documentation only: replies are not filtered by it). */
  success?: { status: number; description: string; schema?: Record<string, unknown>; contentType?: string };
  /** Extra failure statuses beyond the common 400/401/403. */
  errors?: Record<number, string>;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a login (the login page, its assets, POST /api/login). */
    public?: boolean;
    /** Browser sessions only: API tokens cannot use this route (tokens do not mint tokens). */
    sessionOnly?: boolean;
    doc?: RouteDoc;
  }
}
