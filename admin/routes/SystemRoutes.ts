// Settings (read-only: the YAML file is the source of truth, reloaded by POST /api/reload), health,
// the security audit and the Prometheus endpoint.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import { auditSettings } from '../SecurityAudit.js';

const auditSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean', description: 'No high or medium finding' },
    findings: { type: 'array', items: { type: 'object', properties: { severity: { enum: ['high', 'medium', 'low'] }, setting: { type: 'string' }, message: { type: 'string' } } } },
    limitations: { type: 'array', items: { type: 'string' }, description: 'What PPTP cannot protect, whatever the settings' },
  },
};

const reloadSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    message: { type: 'string', description: 'What was applied and what needs a restart, or why the file was refused' },
    applied: { type: 'array', items: { type: 'string' }, description: 'Changed keys now in force' },
    needsRestart: { type: 'array', items: { type: 'string' }, description: 'Changed keys that keep their running value until a restart' },
    problems: { type: 'array', items: { type: 'string' }, description: '"key: problem" for each refused key' },
  },
};

export function registerSystemRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const radius = () => {
    const servers = ctx.core.radiusServers?.();
    return { configured: servers !== undefined && servers.length > 0, servers: servers ?? [] };
  };

  app.get(
    '/api/settings',
    {
      config: {
        doc: {
          tag: 'system',
          summary: 'Settings in force (no secrets) with the security audit',
          success: { status: 200, description: 'Settings', schema: { type: 'object', properties: { settings: { type: 'object' }, audit: auditSchema } } },
        },
      },
    },
    async () => {
      const settings = ctx.core.settings();
      return { settings, audit: auditSettings(settings) };
    },
  );

  app.post(
    '/api/reload',
    {
      config: {
        doc: {
          tag: 'system',
          summary: 'Reload the configuration file (as SIGHUP does)',
          description:
            'Applies what can change live (users are read at every login anyway; policies, limits, DNS/WINS, pool growth, RADIUS servers and timers) ' +
            'for the next logins, calls and RADIUS requests; live sessions keep theirs. `needsRestart` lists changed keys that keep their running value until a restart. ' +
            'An invalid file is refused whole (422, `problems` names each key) and the running configuration stays.',
          success: {
            status: 200,
            description: 'Reloaded',
            schema: reloadSchema,
          },
          errors: { 422: 'The file is invalid: nothing changed; `problems` says why, key by key.' },
        },
      },
    },
    async (request, reply) => {
      const who = request.principal!.account;
      const result = ctx.core.reload(`console: ${who}`);
      ctx.journal.record({ type: 'admin', message: `${who} reloaded the configuration: ${result.message}`, detail: { account: who, ...result } });
      // A refusal carries `error` as every other error answer does (the pages show it).
      return result.ok ? reply.send(result) : reply.code(422).send({ error: result.message, ...result });
    },
  );

  app.get('/api/audit', { config: { doc: { tag: 'system', summary: 'The security audit alone', success: { status: 200, description: 'Audit', schema: auditSchema } } } }, async () =>
    auditSettings(ctx.core.settings()),
  );

  app.get(
    '/api/health',
    {
      config: {
        doc: {
          tag: 'system',
          summary: 'Uptime, sessions, pool use, data-plane drops, memory, RADIUS servers',
          success: {
            status: 200,
            description: 'Health',
            schema: { type: 'object', properties: { health: { type: 'object' }, radius: { type: 'object', properties: { configured: { type: 'boolean' }, servers: { type: 'array' } } } } },
          },
        },
      },
    },
    async () => ({ health: ctx.core.health(), radius: radius() }),
  );

  app.get(
    '/metrics',
    {
      config: {
        doc: {
          tag: 'system',
          summary: 'Prometheus metrics',
          description: 'Scrape with a read token (`authorization: { credentials: ptk_... }` in prometheus.yml). User names appear only with admin.metricsUsernames.',
          success: { status: 200, description: 'Prometheus text format', contentType: 'text/plain', schema: { type: 'string' } },
        },
      },
    },
    async (_request, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()),
  );
}
