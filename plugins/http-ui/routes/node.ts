import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';

/** Services whose `stats` the connectivity page shows, when their plugin is loaded. */
const CONNECTIVITY_SERVICES = ['connections', 'dht', 'trackers', 'lanDiscovery', 'relay', 'proxy', 'fileShare'] as const;

const pluginSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    spec: { type: 'string' },
    origin: { type: 'string' },
    version: { type: 'string' },
    description: { type: 'string' },
    state: { enum: ['loaded', 'disabled', 'failed'] },
    reason: { type: 'string' },
    code: { type: 'string' },
    taps: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** The node's own routes: who it is, its plugins, and live connectivity figures. */
export function addNodeRoutes(app: FastifyInstance, api: PluginApi, version: string): void {
  const startedAt = Date.now();
  app.get(
    '/api/node',
    {
      schema: {
        summary: 'This node: version, data folder, profile, plugins',
        tags: ['node'],
        response: {
          200: {
            type: 'object',
            properties: {
              version: { type: 'string' },
              dataDir: { type: 'string' },
              profile: { type: ['string', 'null'] },
              uptimeMs: { type: 'integer' },
              plugins: { type: 'array', items: pluginSchema },
            },
          },
        },
      },
    },
    async () => ({
      version,
      dataDir: api.dataDir,
      profile: api.config.profile,
      uptimeMs: Date.now() - startedAt,
      plugins: api.resolve('plugins').status(),
    }),
  );
  app.get(
    '/api/connectivity',
    {
      schema: {
        summary: 'Live counters of every networking service that is loaded',
        tags: ['node'],
        response: {
          200: {
            type: 'object',
            properties: {
              listen: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer' } } },
              services: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } },
            },
          },
        },
      },
    },
    async () => {
      const services: Record<string, unknown> = {};
      for (const name of CONNECTIVITY_SERVICES) {
        const service = api.tryResolve<{ stats?: unknown }>(name);
        if (service?.stats && typeof service.stats === 'object') services[name] = service.stats;
      }
      // The port actually bound (the config may say 0 = random; 0 here = not listening, e.g. Tor mode).
      const connections = api.tryResolve<{ localPort: number }>('connections');
      return { listen: { host: api.config.listen.host, port: connections?.localPort ?? api.config.listen.port }, services };
    },
  );
}
