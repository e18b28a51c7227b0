// Console login, logout, who-am-I and password change.
import type { FastifyInstance } from 'fastify';
import { AdminAccountError, ADMIN_PASSWORD_MIN, checkPassword } from '../AdminAccounts.js';
import type { AdminContext } from '../AdminContext.js';
import { ABSOLUTE_LIMIT_MS } from '../LoginSessions.js';

const credentials = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

/** The cookie lives as long as the session may (12 h at most); Secure under TLS. */
function loginCookieOptions(ctx: AdminContext) {
  return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: ctx.secureCookies, maxAge: Math.floor(ABSOLUTE_LIMIT_MS / 1000) };
}

function minutes(seconds: number): string {
  return seconds < 90 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

export function registerAuthRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.post(
    '/api/login',
    {
      schema: { body: credentials },
      config: {
        public: true,
        doc: {
          tag: 'auth',
          summary: 'Log in to the console',
          description:
            'Sets the HttpOnly, SameSite=Strict session cookie and returns the CSRF token changes must carry. After 5 failures from one client address (an IPv6 client: its /64) that address waits before its next attempt is checked: 1 s, doubling with each further failure up to 15 min; a correct login clears it. Other addresses are never affected.',
          success: { status: 200, description: 'Logged in', schema: { type: 'object', properties: { account: { type: 'string' }, csrf: { type: 'string' } } } },
          errors: { 401: 'Wrong user name or password.', 429: 'This address must wait before its next attempt; Retry-After gives the seconds.' },
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      const client = request.ip;
      const refuse = (wait: number) =>
        reply
          .code(429)
          .header('retry-after', String(wait))
          .send({ error: `Too many failed logins. Try again in ${minutes(wait)}.`, retryAfter: wait });
      // Counted as a failure from here on, so that parallel guesses cannot all be checked.
      const wait = ctx.throttle.begin(client);
      if (wait > 0) {
        ctx.log.warn({ client, account: username, retryAfter: wait }, 'console login refused: too many failures');
        return refuse(wait);
      }
      const account = await ctx.accounts.verify(username, password);
      if (account === null) {
        ctx.log.warn({ client, account: username }, 'console login failed');
        ctx.journal.record({ type: 'admin', peer: client, message: `console login of "${username}" from ${client} refused: wrong user name or password` });
        return reply.code(401).send({ error: 'Wrong user name or password.' });
      }
      ctx.throttle.succeed(client);
      const session = ctx.logins.create(account, client);
      reply.setCookie(ctx.cookieName, session.id, loginCookieOptions(ctx));
      ctx.log.info({ client, account }, 'console login');
      ctx.journal.record({ type: 'admin', peer: client, message: `console login: ${account} from ${client}` });
      return { account, csrf: session.csrf };
    },
  );

  app.post('/api/logout', { config: { sessionOnly: true, doc: { tag: 'auth', summary: 'End this console login', success: { status: 204, description: 'Logged out' } } } }, async (request, reply) => {
    const p = request.principal!;
    if (p.kind === 'session') ctx.logins.destroy(p.cookie);
    reply.clearCookie(ctx.cookieName, { path: '/' });
    return reply.code(204).send();
  });

  app.get(
    '/api/me',
    {
      config: {
        doc: {
          tag: 'auth',
          summary: 'Who is asking: the console account (with its CSRF token) or the API token',
          success: {
            status: 200,
            description: 'The principal',
            schema: { type: 'object', properties: { account: { type: 'string' }, kind: { enum: ['session', 'token'] }, csrf: { type: 'string' }, scope: { enum: ['read', 'write'] } } },
          },
        },
      },
    },
    async (request) => {
      const p = request.principal!;
      return p.kind === 'session' ? { account: p.account, kind: p.kind, csrf: p.csrf } : { account: p.account, kind: p.kind, scope: p.scope };
    },
  );

  app.post(
    '/api/me/password',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['current', 'password'],
          properties: { current: { type: 'string', maxLength: 1024 }, password: { type: 'string', maxLength: 1024 } },
        },
      },
      config: {
        sessionOnly: true,
        doc: {
          tag: 'auth',
          summary: "Change this account's password",
          description: `At least ${ADMIN_PASSWORD_MIN} characters. Every login of the account ends, this one included.`,
          success: { status: 204, description: 'Changed; log in again' },
          errors: { 429: 'Too many wrong current passwords.' },
        },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { current, password } = request.body as { current: string; password: string };
      // The same back-off as the login, per client address.
      const wait = ctx.throttle.begin(request.ip);
      if (wait > 0) {
        ctx.log.warn({ client: request.ip, account: p.account, retryAfter: wait }, 'console password change refused: too many failures');
        return reply
          .code(429)
          .header('retry-after', String(wait))
          .send({ error: `Too many failed attempts. Try again in ${minutes(wait)}.` });
      }
      if ((await ctx.accounts.verify(p.account, current)) === null) {
        return reply.code(400).send({ error: 'The current password is wrong.', fields: { current: 'wrong password' } });
      }
      ctx.throttle.succeed(request.ip);
      try {
        checkPassword(password);
        await ctx.accounts.set(p.account, password);
      } catch (err) {
        if (err instanceof AdminAccountError) return reply.code(400).send({ error: err.message, fields: { password: err.message.replace(/^password: /, '') } });
        throw err;
      }
      ctx.log.info({ account: p.account }, 'console password changed');
      ctx.journal.record({ type: 'admin', peer: request.ip, message: `console password of ${p.account} changed` });
      reply.clearCookie(ctx.cookieName, { path: '/' });
      return reply.code(204).send();
    },
  );
}
