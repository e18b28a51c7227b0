// VPN users: list and search, add, edit (password, static address, enabled, limits), delete.
// Every refusal names its field, so the form can show the message next to it.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import { UserFieldError, type AdminUser, type UserChanges } from '../AdminCore.js';

const LIMIT_MAX = 31 * 86400;
const limit = { type: ['integer', 'null'], minimum: 0, maximum: LIMIT_MAX, description: 'Seconds; 0 or null: no limit' };
const fields = {
  password: { type: 'string', maxLength: 256, description: 'At least auth.minPasswordLength characters (default 8), at most 256 (RFC 2759 §8.1); stored only as its NT hash' },
  staticAddress: { type: ['string', 'null'], maxLength: 15, description: 'A fixed tunnel address; empty or null: one from the pool' },
  enabled: { type: 'boolean' },
  sessionTimeout: limit,
  idleTimeout: limit,
};
const userSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    staticAddress: { type: ['string', 'null'] },
    enabled: { type: 'boolean' },
    createdAt: { type: 'string' },
    sessionTimeout: { type: ['integer', 'null'] },
    idleTimeout: { type: ['integer', 'null'] },
    online: { type: 'integer', description: 'Live sessions of this user' },
  },
};
const nameParam = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } } as const;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Checks the panel can make without the store; the store's own refusals come back as UserFieldError. */
function normalize(body: UserChanges & { name?: string }, creating: boolean): UserChanges & { name?: string } {
  const out = { ...body };
  if (creating && (out.name === undefined || out.name.trim() === '')) throw new UserFieldError('name', 'required');
  if (out.name !== undefined) out.name = out.name.trim();
  if (creating && (out.password === undefined || out.password === '')) throw new UserFieldError('password', 'required');
  if (out.password !== undefined && out.password.length === 0) throw new UserFieldError('password', 'must not be empty');
  if (out.staticAddress !== undefined && out.staticAddress !== null) {
    const a = out.staticAddress.trim();
    if (a === '') out.staticAddress = null;
    else if (!IPV4.test(a)) throw new UserFieldError('staticAddress', `"${a}" is not an IPv4 address`);
    else out.staticAddress = a;
  }
  if (out.sessionTimeout === 0) out.sessionTimeout = null;
  if (out.idleTimeout === 0) out.idleTimeout = null;
  return out;
}

export function registerUserRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const withOnline = (users: AdminUser[]) => {
    const online = new Map<string, number>();
    for (const s of ctx.core.sessions()) if (s.user) online.set(s.user.toLowerCase(), (online.get(s.user.toLowerCase()) ?? 0) + 1);
    return users.map((u) => ({ ...u, online: online.get(u.name.toLowerCase()) ?? 0 }));
  };
  const audit = (request: { principal: { account: string } | null; ip: string }, user: string, message: string) => {
    ctx.log.info({ account: request.principal!.account, user }, message);
    ctx.journal.record({ type: 'admin', user, peer: request.ip, message: `${request.principal!.account}: ${message} ${user}` });
  };

  app.get(
    '/api/users',
    {
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { q: { type: 'string', maxLength: 64, description: 'Part of the name or address' } } } },
      config: {
        doc: {
          tag: 'users',
          summary: 'List users, optionally searching',
          success: { status: 200, description: 'Users', schema: { type: 'object', properties: { users: { type: 'array', items: userSchema } } } },
        },
      },
    },
    async (request) => {
      const q = (request.query as { q?: string }).q?.trim().toLowerCase();
      const users = ctx.core.users.list().filter((u) => !q || u.name.toLowerCase().includes(q) || (u.staticAddress ?? '').includes(q));
      return { users: withOnline(users) };
    },
  );

  app.post(
    '/api/users',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'password'],
          properties: { name: { type: 'string', maxLength: 64, description: '1-64 characters, no spaces, slashes, backslashes or colons' }, ...fields },
        },
      },
      config: {
        doc: { tag: 'users', summary: 'Add a user', success: { status: 201, description: 'Created', schema: userSchema }, errors: { 409: 'The name or the static address is taken.' } },
      },
    },
    async (request, reply) => {
      const input = normalize(request.body as UserChanges & { name: string }, true);
      const user = ctx.core.users.add({ ...input, name: input.name!, password: input.password! });
      audit(request, user.name, 'added user');
      return reply.code(201).send(withOnline([user])[0]);
    },
  );

  app.get(
    '/api/users/:name',
    { schema: { params: nameParam }, config: { doc: { tag: 'users', summary: 'One user', success: { status: 200, description: 'The user', schema: userSchema }, errors: { 404: 'No such user.' } } } },
    async (request, reply) => {
      const user = ctx.core.users.get((request.params as { name: string }).name);
      return user ? withOnline([user])[0] : reply.code(404).send({ error: 'no such user' });
    },
  );

  app.patch(
    '/api/users/:name',
    {
      schema: { params: nameParam, body: { type: 'object', additionalProperties: false, minProperties: 1, properties: fields } },
      config: {
        doc: {
          tag: 'users',
          summary: 'Change a user',
          description: "Only the fields sent change. Disabling ends the user's live sessions; new limits apply to them at once.",
          success: { status: 200, description: 'The user as now stored', schema: userSchema },
          errors: { 404: 'No such user.', 409: 'The static address is taken.' },
        },
      },
    },
    async (request) => {
      const name = (request.params as { name: string }).name;
      const changes = normalize(request.body as UserChanges, false);
      const user = ctx.core.users.update(name, changes);
      audit(request, user.name, `changed ${Object.keys(changes).join(', ')} of`);
      return withOnline([user])[0];
    },
  );

  app.delete(
    '/api/users/:name',
    {
      schema: { params: nameParam },
      config: { doc: { tag: 'users', summary: 'Delete a user (their live sessions end)', success: { status: 204, description: 'Deleted' }, errors: { 404: 'No such user.' } } },
    },
    async (request, reply) => {
      const name = (request.params as { name: string }).name;
      ctx.core.users.delete(name);
      audit(request, name, 'deleted user');
      return reply.code(204).send();
    },
  );
}
