// Live sessions: the table (snapshot and server-sent-event stream), each session's rate history
// for its chart, and Disconnect.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import type { LiveSnapshot } from '../SessionMonitor.js';

/** What the client sees in its LCP Terminate-Request (and pppd logs); who did it goes to the journal only. */
export const DISCONNECT_REASON = 'disconnected by administrator';
/** Open live views at once; each costs a socket and a JSON encoding per second. */
const MAX_STREAMS = 64;

const liveSession = {
  type: 'object',
  properties: {
    sessionId: { type: 'string' },
    callId: { type: 'integer' },
    peerCallId: { type: 'integer' },
    peer: { type: 'string', description: 'Client address' },
    user: { type: ['string', 'null'] },
    address: { type: ['string', 'null'], description: 'Assigned tunnel address' },
    authMethod: { type: 'string' },
    mppe: { type: 'string' },
    startedAt: { type: 'integer' },
    upAt: { type: ['integer', 'null'] },
    rxBytes: { type: 'integer', description: 'From the client' },
    rxPackets: { type: 'integer' },
    txBytes: { type: 'integer', description: 'To the client' },
    txPackets: { type: 'integer' },
    drops: {
      type: 'object',
      description: "This session's packets not delivered, by reason",
      properties: {
        rxSpoofed: { type: 'integer' },
        rxUndecryptable: { type: 'integer' },
        rxNotReady: { type: 'integer' },
        rxRekeyLimited: { type: 'integer' },
        rxControlLimited: { type: 'integer' },
        txDropped: { type: 'integer' },
      },
    },
    stuck: { type: 'boolean', description: 'Receives GRE from the client but has delivered nothing for 10 s or more' },
    rxRate: { type: 'number', description: 'bit/s from the client, last second' },
    txRate: { type: 'number', description: 'bit/s to the client, last second' },
  },
};
const snapshot = { type: 'object', properties: { at: { type: 'integer' }, sessions: { type: 'array', items: liveSession } } };
const idParam = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;

export function registerSessionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  let streams = 0;

  app.get('/api/sessions', { config: { doc: { tag: 'sessions', summary: 'Live sessions with their current rates', success: { status: 200, description: 'Snapshot', schema: snapshot } } } }, async () =>
    ctx.monitor.snapshot(),
  );

  app.get(
    '/api/sessions/stream',
    {
      config: {
        doc: {
          tag: 'sessions',
          summary: 'Live sessions as server-sent events',
          description: 'An `event: snapshot` with the same body as GET /api/sessions once a second and whenever a session starts or ends. The stream ends when the login does.',
          success: { status: 200, description: 'text/event-stream', contentType: 'text/event-stream', schema: { type: 'string' } },
          errors: { 503: 'Too many open live views.' },
        },
      },
    },
    (request, reply) => {
      if (streams >= MAX_STREAMS) return reply.code(503).send({ error: 'too many open live views' });
      streams++;
      const cookie = request.cookies[ctx.cookieName];
      const authorization = request.headers.authorization;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
      });
      const write = (s: LiveSnapshot) => res.write(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
      let ticks = 0;
      const unsubscribe = ctx.monitor.subscribe((s) => {
        // Logged out, password changed or token revoked: the stream ends too (checked every few seconds).
        if (++ticks % 5 === 0 && ctx.authenticate(cookie, authorization) === null) {
          res.end();
          return;
        }
        write(s);
      });
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      keepAlive.unref();
      res.on('close', () => {
        streams--;
        unsubscribe();
        clearInterval(keepAlive);
      });
      res.write('retry: 2000\n\n');
      write(ctx.monitor.snapshot());
    },
  );

  app.get(
    '/api/sessions/:id/history',
    {
      schema: { params: idParam },
      config: {
        doc: {
          tag: 'sessions',
          summary: 'Rate history of one session (one sample a second, two minutes)',
          success: {
            status: 200,
            description: 'Samples, oldest first',
            schema: {
              type: 'object',
              properties: {
                sessionId: { type: 'string' },
                samples: { type: 'array', items: { type: 'object', properties: { at: { type: 'integer' }, rxRate: { type: 'number' }, txRate: { type: 'number' } } } },
              },
            },
          },
          errors: { 404: 'No such live session.' },
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const samples = ctx.monitor.history(id);
      if (!samples) return reply.code(404).send({ error: 'no such live session' });
      return { sessionId: id, samples };
    },
  );

  app.post(
    '/api/sessions/:id/disconnect',
    {
      schema: { params: idParam },
      config: {
        doc: {
          tag: 'sessions',
          summary: 'Disconnect a session',
          description: 'LCP Terminate-Request, then Call-Disconnect-Notify (Acct-Terminate-Cause Admin-Reset in accounting). Answers once the teardown has started.',
          success: { status: 202, description: 'Teardown started' },
          errors: { 404: 'No such live session.' },
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const session = ctx.core.sessions().find((s) => s.sessionId === id);
      if (!session || !ctx.core.disconnect(id, DISCONNECT_REASON)) return reply.code(404).send({ error: 'no such live session' });
      const who = request.principal!.account;
      ctx.log.info({ account: who, sessionId: id, user: session.user }, 'session disconnected from the console');
      ctx.journal.record({
        type: 'admin',
        user: session.user,
        peer: session.peer,
        address: session.address,
        message: `${who} disconnected ${session.user ?? '?'} (${session.address ?? session.peer})`,
        detail: { sessionId: id, account: who },
      });
      return reply.code(202).send({ sessionId: id, disconnecting: true });
    },
  );
}
