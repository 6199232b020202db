import type { FastifyInstance, RouteOptions } from 'fastify';

declare module 'fastify' {
  /** The OpenAPI fields routes put next to their validation schemas. */
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
  }
}

interface DocumentedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
}

/**
 * Collects every route registered with a schema (ours and other plugins')
 * and serves them as an OpenAPI 3.1 document at /api/openapi.json, so the
 * API is documented by the same schemas that validate it.
 */
export function collectOpenApi(app: FastifyInstance, info: { title: string; version: string }, cookieName: () => string): void {
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/api/') || !route.schema) return;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Record<string, unknown> });
    }
  });
  app.get('/api/openapi.json', async () => {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of routes) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const { summary, description, body, querystring, params, response, tags } = route.schema as Record<string, any>;
      const parameters = [
        ...Object.entries((params?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
        ...Object.entries((querystring?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({
          name,
          in: 'query',
          required: (querystring?.required ?? []).includes(name),
          schema,
        })),
      ];
      const responses: Record<string, unknown> = {};
      for (const [status, schema] of Object.entries((response ?? { 200: {} }) as Record<string, unknown>)) {
        responses[status] = { description: (schema as { description?: string }).description ?? 'OK', content: { 'application/json': { schema } } };
      }
      (paths[path] ??= {})[route.method] = {
        ...(summary ? { summary } : {}),
        ...(description ? { description } : {}),
        ...(tags ? { tags } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
        responses,
      };
    }
    return {
      openapi: '3.1.0',
      info,
      components: { securitySchemes: { token: { type: 'apiKey', in: 'cookie', name: cookieName() } } },
      security: [{ token: [] }],
      paths,
    };
  });
}
