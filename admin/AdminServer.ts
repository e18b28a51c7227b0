// The console's HTTP side: a fastify app over an AdminCore. Access rules, in one place:
//  - GET / is the login page; /assets/style.css and /assets/login.js are the only other things a
//    browser without a login gets. Any other page or asset redirects to /.
//  - Everything under /api (but POST /api/login) and /metrics answers 401 without a login session
//    cookie or an API token (Authorization: Bearer ptk_...).
//  - Before anything else, a request whose Host is not one the console answers to (HostAllowList:
//    loopback names, the listen address, admin.allowedHosts) gets 421 Misdirected Request.
//  - A change (any method but GET/HEAD/OPTIONS) made with the session cookie needs the session's CSRF
//    token in X-CSRF-Token and an Origin (or, without one, a Referer) of this console, whatever
//    other headers it carries; a token (Authorization: Bearer) needs scope write and no Origin.
//    Any other change (the login) is refused when it names another origin. Only JSON bodies are parsed.
import fastifyCookie from '@fastify/cookie';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fastify, LogController, type FastifyError, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import { AdminAccounts } from './AdminAccounts.js';
import type { AdminConfig, AdminContext, Principal } from './AdminContext.js';
import type { AdminCore } from './AdminCore.js';
import { UserFieldError } from './AdminCore.js';
import { openAdminDatabase, type AdminDb } from './AdminDatabase.js';
import { AdminMetrics } from './AdminMetrics.js';
import { ApiTokens } from './ApiTokens.js';
import { EventJournal } from './EventJournal.js';
import { LoginSessions } from './LoginSessions.js';
import { HostAllowList } from './HostAllowList.js';
import { DEFAULT_BACKOFF, LoginThrottle, type BackoffPolicy } from './LoginThrottle.js';
import { buildOpenApiDocument } from './OpenApiDocument.js';
import { SessionMonitor } from './SessionMonitor.js';
import { StaticAssets } from './StaticAssets.js';
import { registerAuthRoutes } from './routes/AuthRoutes.js';
import { registerBanRoutes } from './routes/BanRoutes.js';
import { registerEventRoutes } from './routes/EventRoutes.js';
import { registerPageRoutes } from './routes/PageRoutes.js';
import { registerSessionRoutes } from './routes/SessionRoutes.js';
import { registerSystemRoutes } from './routes/SystemRoutes.js';
import { registerTokenRoutes } from './routes/TokenRoutes.js';
import { registerUserRoutes } from './routes/UserRoutes.js';

export interface AdminServerOptions {
  /** Default: dataDir/admin.db. */
  db?: AdminDb;
  throttle?: BackoffPolicy;
  /** Live view sampling period. */
  sampleIntervalMs?: number;
  /** Node process metrics in /metrics (off in tests that build many apps). */
  processMetrics?: boolean;
  assets?: StaticAssets;
}

/** No third-party origin for anything: the pages work offline and nothing may frame them. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AdminServer {
  app: FastifyInstance;
  context: AdminContext;
  /** Stops the sampling, the journal's subscriptions and closes the app and its database. */
  close(): Promise<void>;
}

export async function createAdminServer(core: AdminCore, config: AdminConfig, log: Logger, options: AdminServerOptions = {}): Promise<AdminServer> {
  const tls = config.admin.tls;
  // Read first: a missing certificate must fail before anything starts.
  const https = tls ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : null;
  const db = options.db ?? openAdminDatabase(config.dataDir);
  const accounts = new AdminAccounts(db);
  const initialPassword = await accounts.createInitial();
  if (initialPassword !== null) {
    // The one secret Portico ever logs, and only this once: there is no other way to hand it over.
    log.warn(`created console account "admin" with password ${initialPassword} (shown once: the only secret Portico ever writes to its log; change it with "portico admin passwd")`);
  }
  const logins = new LoginSessions(db);
  const tokens = new ApiTokens(db);
  const journal = new EventJournal(db);
  journal.follow(core, (err) => log.error({ err }, 'events journal failed'));
  const monitor = new SessionMonitor(core, options.sampleIntervalMs ?? 1000, (err) => log.error({ err }, 'live session view failed'));
  monitor.start();
  const metrics = new AdminMetrics(core, { usernames: config.admin.metricsUsernames, processMetrics: options.processMetrics ?? true });
  const cookieName = tls ? '__Host-portico' : 'portico_session';

  const authenticate = (cookie: string | undefined, authorization: string | undefined): Principal | null => {
    const bearer = authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (bearer !== undefined) {
      const token = tokens.verify(bearer);
      return token ? { kind: 'token', account: `token:${token.name}`, tokenId: token.id, scope: token.scope } : null;
    }
    if (cookie === undefined) return null;
    const session = logins.lookup(cookie);
    return session ? { kind: 'session', account: session.account, csrf: session.csrf, cookie } : null;
  };

  const context: AdminContext = {
    core,
    config,
    log,
    accounts,
    logins,
    tokens,
    journal,
    throttle: new LoginThrottle(options.throttle ?? DEFAULT_BACKOFF),
    monitor,
    metrics,
    cookieName,
    secureCookies: tls !== undefined,
    authenticate,
  };

  const app = fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Live views (server-sent events) never end by themselves: closing must cut them.
    forceCloseConnections: true,
    ...(https ? { https } : {}),
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  }) as unknown as FastifyInstance;

  // Routes under /api and /metrics are collected for the OpenAPI document as they are declared.
  const apiRoutes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    if ((route.url.startsWith('/api/') || route.url === '/metrics') && route.method !== 'HEAD') apiRoutes.push(route);
  });

  // First of all (before the cookie is even parsed): a Host the console answers to. 421 (RFC 9110
  // §15.5.20) says this server does not serve that authority; 403 would say that who asks may not.
  const hosts = new HostAllowList(config.admin);
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (hosts.allows(request.headers.host)) return;
    log.warn({ client: request.ip, host: request.headers.host?.slice(0, 100) }, 'console request refused: Host not allowed (admin.allowedHosts)');
    return reply.code(421).send({ error: 'this console does not answer to that Host name (admin.allowedHosts)' });
  });

  await app.register(fastifyCookie);
  // JSON only: a cross-site HTML form can send text/plain without a preflight, never application/json.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (request, reply) => {
    const p = authenticate(request.cookies[cookieName], request.headers.authorization);
    request.principal = p;
    if (!SAFE_METHODS.has(request.method)) {
      // The cookie's rights for a change only from a page of this console; a token is no browser's ambient credential.
      if (p?.kind === 'session' && !fromThisConsole(request, true)) return reply.code(403).send({ error: 'a change made with the login cookie must come from a page of this console (Origin)' });
      if (p?.kind !== 'token' && !fromThisConsole(request, false)) return reply.code(403).send({ error: 'cross-origin request refused' });
    }
    const routeConfig = request.routeOptions.config;
    if (routeConfig.public) return;
    const api = request.url.startsWith('/api/') || request.url === '/api' || request.url.startsWith('/metrics');
    if (!p) {
      // A 404 is decided later; without a login it must not tell what exists.
      if (api) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'login required' });
      return reply.redirect('/', 302);
    }
    if (routeConfig.sessionOnly && p.kind !== 'session') return reply.code(403).send({ error: 'only a console login may do this, not an API token' });
    if (SAFE_METHODS.has(request.method)) return;
    if (p.kind === 'token') {
      if (p.scope !== 'write') return reply.code(403).send({ error: 'this API token is read-only' });
      return;
    }
    const sent = request.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !constantTimeEqual(sent, p.csrf)) return reply.code(403).send({ error: 'missing or wrong CSRF token' });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      return reply.code(400).send({ error: 'invalid request', fields: validationFields(error) });
    }
    if (error instanceof UserFieldError) {
      return reply.code(error.status).send({ error: error.message, fields: { [error.field]: error.message } });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.url }, 'console request failed');
      return reply.code(500).send({ error: 'internal error' });
    }
    return reply.code(status).send({ error: error.message });
  });

  app.setNotFoundHandler((request, reply) => {
    // onRequest already turned away everyone without a login.
    if (request.url.startsWith('/api/') || request.url.startsWith('/metrics')) return reply.code(404).send({ error: 'no such API' });
    return reply.code(404).type('text/plain; charset=utf-8').send('not found');
  });

  const assets = options.assets ?? new StaticAssets();
  registerPageRoutes(app, context, assets);
  registerAuthRoutes(app, context);
  registerSessionRoutes(app, context);
  registerUserRoutes(app, context);
  registerSystemRoutes(app, context);
  registerEventRoutes(app, context);
  registerTokenRoutes(app, context);
  registerBanRoutes(app, context);
  app.get('/api/openapi.json', { config: { doc: { tag: 'system', summary: 'This document (OpenAPI 3.1)' } } }, async () => buildOpenApiDocument(apiRoutes));

  await app.ready();
  return {
    app,
    context,
    close: async () => {
      monitor.stop();
      journal.close();
      metrics.close();
      await app.close();
      if (!options.db) db.close();
    },
  };
}

/**
 * The request's Origin (or, when it has none, its Referer) names the host it was sent to, which the
 * Host check has already found to be this console's. Without either it passes only when
 * `required` is false. The scheme is not compared: behind a reverse proxy that ends TLS, the page is
 * https while the console itself is not.
 */
function fromThisConsole(request: FastifyRequest, required: boolean): boolean {
  const source = request.headers.origin ?? request.headers.referer;
  if (source === undefined) return !required;
  try {
    return new URL(source).host === request.headers.host?.toLowerCase();
  } catch {
    return false; // Origin: null (a sandboxed frame, a form sent under no-referrer) among others
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** AJV errors → { field: message }, the shape the forms show next to each field. */
function validationFields(error: FastifyError): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const v of error.validation ?? []) {
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    const field = params.missingProperty ?? params.additionalProperty ?? (v.instancePath.replace(/^\//, '').split('/')[0] || error.validationContext || 'request');
    const message = params.missingProperty ? 'required' : params.additionalProperty ? 'unknown field' : (v.message ?? 'invalid');
    fields[field] ??= message;
  }
  return fields;
}
