// OpenAPI 3.1 description of /api, built from the routes themselves: their JSON schemas (the ones
// fastify validates with) and the `doc` each route carries. Nothing to keep in sync by hand.
import type { RouteOptions } from 'fastify';
import type { RouteDoc } from './AdminContext.js';

type Schema = Record<string, unknown>;

const ERROR_SCHEMA: Schema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'Per-field messages of a rejected form.' },
  },
  required: ['error'],
};

const COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid request; `fields` names each field at fault.',
  401: 'No login session and no valid API token.',
  403: 'CSRF token missing or wrong, a change made with the login cookie without an Origin of this console, a cross-origin request, or a read-only token.',
  421: 'The Host header names no host this console answers to (admin.allowedHosts).',
};

export function buildOpenApiDocument(routes: RouteOptions[]): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const route of routes) {
    const doc = (route.config as { doc?: RouteDoc; public?: boolean } | undefined)?.doc;
    const isPublic = (route.config as { public?: boolean } | undefined)?.public === true;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const schema = (route.schema ?? {}) as { params?: Schema; querystring?: Schema; body?: Schema };
    const parameters = [
      ...propertiesOf(schema.params).map(([name, s]) => ({ name, in: 'path', required: true, schema: s })),
      ...propertiesOf(schema.querystring).map(([name, s]) => ({
        name,
        in: 'query',
        required: ((schema.querystring?.required as string[] | undefined) ?? []).includes(name),
        schema: s,
      })),
    ];
    const success = doc?.success ?? { status: 200, description: 'OK' };
    const responses: Record<string, Schema> = {
      [String(success.status)]: {
        description: success.description,
        ...(success.schema ? { content: { [success.contentType ?? 'application/json']: { schema: success.schema } } } : {}),
      },
    };
    const errors = { ...(isPublic ? { 400: COMMON_ERRORS[400]! } : COMMON_ERRORS), ...(doc?.errors ?? {}) };
    for (const [status, description] of Object.entries(errors)) {
      responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    for (const method of methods) {
      const operation: Schema = {
        operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[/.-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
        summary: doc?.summary ?? '',
        tags: [doc?.tag ?? 'system'],
        ...(doc?.description ? { description: doc.description } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema.body } } } } : {}),
        responses,
        ...(isPublic ? { security: [] } : {}),
      };
      paths[path] ??= {};
      paths[path][method.toLowerCase()] = operation;
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Portico admin API',
      version: '1',
      description:
        'The API the console pages use. Authenticate with a console login (cookie; changes need the X-CSRF-Token header) ' +
        'or with an API token: `Authorization: Bearer ptk_...` (read tokens may only GET).',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer', description: 'An API token made on the Account page.' },
        session: { type: 'apiKey', in: 'cookie', name: 'portico_session', description: '`__Host-portico` under TLS.' },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
    security: [{ token: [] }, { session: [] }],
    paths,
  };
}

function propertiesOf(schema: Schema | undefined): Array<[string, Schema]> {
  const props = schema?.properties as Record<string, Schema> | undefined;
  return props ? Object.entries(props) : [];
}
