// The temporary ban list of client addresses (aaa/AddressBans.ts): listed, set by hand and lifted.
// Every change is a console action in the journal.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';

const IPV4 = '^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}$';

const banSchema = {
  type: 'object',
  properties: {
    address: { type: 'string' },
    since: { type: 'integer' },
    until: { type: 'integer' },
    reason: { type: 'string' },
    refused: { type: 'integer', description: 'Connections, calls and logins turned away since the ban started' },
  },
};

export function registerBanRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get(
    '/api/bans',
    {
      config: {
        doc: {
          tag: 'bans',
          summary: 'Banned client addresses (newest first) and the login throttling totals',
          success: {
            status: 200,
            description: 'Bans',
            schema: {
              type: 'object',
              properties: {
                bans: { type: 'array', items: banSchema },
                counters: { type: 'object', properties: { throttled: { type: 'integer' }, bans: { type: 'integer' }, banRefusals: { type: 'integer' } } },
              },
            },
          },
        },
      },
    },
    async () => ({ bans: ctx.core.bans.list(), counters: ctx.core.loginCounters() }),
  );

  app.post(
    '/api/bans',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['address'],
          properties: {
            address: { type: 'string', pattern: IPV4 },
            minutes: { type: 'integer', minimum: 1, maximum: 7 * 24 * 60, default: 60 },
            reason: { type: 'string', maxLength: 200 },
          },
        },
      },
      config: {
        doc: {
          tag: 'bans',
          summary: 'Ban a client address',
          description: 'Its new control connections are closed at accept and its new calls refused until the ban ends; a ban already there is replaced.',
          success: { status: 201, description: 'Banned', schema: banSchema },
        },
      },
    },
    async (request, reply) => {
      const { address, minutes, reason } = request.body as { address: string; minutes: number; reason?: string };
      const who = request.principal!.account;
      const ban = ctx.core.bans.ban(address, minutes * 60, reason?.trim() || `by ${who}`);
      ctx.log.info({ account: who, address, minutes }, 'address banned from the console');
      ctx.journal.record({ type: 'admin', peer: address, message: `${who} banned ${address} for ${minutes} min`, detail: { account: who, reason: ban.reason } });
      return reply.code(201).send(ban);
    },
  );

  app.delete(
    '/api/bans/:address',
    {
      schema: { params: { type: 'object', required: ['address'], properties: { address: { type: 'string', pattern: IPV4 } } } },
      config: { doc: { tag: 'bans', summary: 'Lift the ban of one address', success: { status: 204, description: 'Lifted' }, errors: { 404: 'That address is not banned.' } } },
    },
    async (request, reply) => {
      const { address } = request.params as { address: string };
      if (!ctx.core.bans.unban(address)) return reply.code(404).send({ error: 'that address is not banned' });
      const who = request.principal!.account;
      ctx.log.info({ account: who, address }, 'ban lifted from the console');
      ctx.journal.record({ type: 'admin', peer: address, message: `${who} lifted the ban of ${address}`, detail: { account: who } });
      return reply.code(204).send();
    },
  );

  app.delete(
    '/api/bans',
    {
      config: {
        doc: {
          tag: 'bans',
          summary: 'Lift every ban',
          success: { status: 200, description: 'How many were lifted', schema: { type: 'object', properties: { lifted: { type: 'integer' } } } },
        },
      },
    },
    async (request) => {
      const lifted = ctx.core.bans.clear();
      const who = request.principal!.account;
      ctx.log.info({ account: who, lifted }, 'every ban lifted from the console');
      ctx.journal.record({ type: 'admin', message: `${who} lifted every ban (${lifted})`, detail: { account: who, lifted } });
      return { lifted };
    },
  );
}
