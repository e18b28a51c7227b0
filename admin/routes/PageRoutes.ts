// The pages: GET / is the login page (or, logged in, a redirect to the sessions); the app pages
// and their modules need a login; the login page's own stylesheet and script do not.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AdminContext } from '../AdminContext.js';
import type { Asset, StaticAssets } from '../StaticAssets.js';

export const APP_PAGES = ['sessions', 'users', 'events', 'settings', 'account'] as const;
/** All a browser without a login can load besides GET /. */
export const PUBLIC_ASSETS = ['style.css', 'login.js'] as const;

function send(reply: FastifyReply, asset: Asset, cache: 'no-store' | 'no-cache') {
  return reply.header('cache-control', cache).type(asset.type).send(asset.body);
}

export function registerPageRoutes(app: FastifyInstance, _context: AdminContext, assets: StaticAssets): void {
  app.get('/', { config: { public: true } }, async (request, reply) => {
    if (request.principal?.kind === 'session') return reply.redirect('/sessions', 302);
    return send(reply, assets.loginPage, 'no-store');
  });
  for (const page of APP_PAGES) {
    app.get(`/${page}`, async (_request, reply) => send(reply, assets.appPage, 'no-store'));
  }
  for (const name of PUBLIC_ASSETS) {
    app.get(`/assets/${name}`, { config: { public: true } }, async (_request, reply) => {
      const asset = assets.get(name);
      return asset ? send(reply, asset, 'no-cache') : reply.code(404).send('not found');
    });
  }
  app.get('/assets/*', async (request, reply) => {
    const asset = assets.get((request.params as { '*': string })['*']);
    return asset ? send(reply, asset, 'no-cache') : reply.code(404).type('text/plain; charset=utf-8').send('not found');
  });
}
