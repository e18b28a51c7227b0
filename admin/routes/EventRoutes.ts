// The events journal, searchable.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import { EVENT_TYPES, type EventQuery } from '../EventJournal.js';

export function registerEventRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get(
    '/api/events',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            q: { type: 'string', maxLength: 100, description: 'Part of a user name, address or message' },
            type: { enum: [...EVENT_TYPES] },
            before: { type: 'integer', minimum: 1, description: 'Only events older than this id (paging)' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
      config: {
        doc: {
          tag: 'events',
          summary: 'Logins, refused logins with their reason, disconnects and console actions, newest first',
          success: {
            status: 200,
            description: 'Events',
            schema: {
              type: 'object',
              properties: {
                events: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      id: { type: 'integer' },
                      at: { type: 'integer' },
                      type: { enum: [...EVENT_TYPES] },
                      user: { type: ['string', 'null'] },
                      peer: { type: ['string', 'null'] },
                      address: { type: ['string', 'null'] },
                      message: { type: 'string' },
                      detail: { type: ['object', 'null'] },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => ({ events: ctx.journal.search(request.query as EventQuery) }),
  );
}
