// API tokens for automation. Made and revoked from a console login only: a token cannot mint
// tokens, so a leaked one cannot entrench itself.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import type { TokenScope } from '../ApiTokens.js';

const tokenInfo = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scope: { enum: ['read', 'write'] },
    createdAt: { type: 'integer' },
    createdBy: { type: 'string' },
    lastUsed: { type: ['integer', 'null'] },
  },
};

export function registerTokenRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get(
    '/api/tokens',
    {
      config: {
        sessionOnly: true,
        doc: {
          tag: 'tokens',
          summary: 'API tokens (never the token values)',
          success: { status: 200, description: 'Tokens', schema: { type: 'object', properties: { tokens: { type: 'array', items: tokenInfo } } } },
        },
      },
    },
    async () => ({ tokens: ctx.tokens.list() }),
  );

  app.post(
    '/api/tokens',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scope'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: '\\S' }, scope: { enum: ['read', 'write'] } },
        },
      },
      config: {
        sessionOnly: true,
        doc: {
          tag: 'tokens',
          summary: 'Make an API token',
          description: 'The token value is in this reply only; the server keeps its SHA-256.',
          success: { status: 201, description: 'Created', schema: { type: 'object', properties: { token: { type: 'string' }, info: tokenInfo } } },
        },
      },
    },
    async (request, reply) => {
      const { name, scope } = request.body as { name: string; scope: TokenScope };
      const made = ctx.tokens.create(name.trim(), scope, request.principal!.account);
      ctx.log.info({ account: request.principal!.account, token: made.info.name, scope }, 'API token created');
      ctx.journal.record({ type: 'admin', peer: request.ip, message: `${request.principal!.account} created ${scope} API token "${made.info.name}"` });
      return reply.code(201).send(made);
    },
  );

  app.delete(
    '/api/tokens/:id',
    {
      schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 32 } } } },
      config: { sessionOnly: true, doc: { tag: 'tokens', summary: 'Revoke an API token', success: { status: 204, description: 'Revoked' }, errors: { 404: 'No such token.' } } },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!ctx.tokens.revoke(id)) return reply.code(404).send({ error: 'no such token' });
      ctx.journal.record({ type: 'admin', peer: request.ip, message: `${request.principal!.account} revoked API token ${id}` });
      return reply.code(204).send();
    },
  );
}
