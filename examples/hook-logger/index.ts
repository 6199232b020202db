/**
 * An example community plugin: it logs what happens on the node (start,
 * stop, peers found, connections) and counts it. It imports nothing but the
 * public `bitchat` API, so it type-checks the way an npm package would.
 *
 * Enable it in config.json by path:
 *   "plugins": { "./examples/hook-logger/index.js": { "prefix": "[demo]" } }
 */
import { definePlugin } from 'bitchat';

interface HookLoggerOptions {
  /** Put in front of every line. */
  prefix: string;
}

export interface HookLoggerStats {
  starts: number;
  stops: number;
  peersDiscovered: number;
  connections: number;
}

declare module 'bitchat' {
  interface ServiceMap {
    hookLogger: HookLoggerStats;
  }
}

export default definePlugin<HookLoggerOptions>({
  name: 'hook-logger',
  version: '1.0.0',
  description: 'Logs and counts node events (an example plugin)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefix: { type: 'string', default: '[hook-logger]', description: 'Put in front of every line.' },
    },
  },
  apply(api, options) {
    const stats: HookLoggerStats = { starts: 0, stops: 0, peersDiscovered: 0, connections: 0 };
    api.register('hookLogger', stats);
    const log = (message: string): void => api.logger.info(`${options.prefix} ${message}`);

    api.hooks.start.tapPromise('hook-logger', async () => {
      stats.starts++;
      log('node started');
    });
    api.hooks.stop.tapPromise('hook-logger', async () => {
      stats.stops++;
      log('node stopping');
    });
    api.hooks.peerDiscovered.tap('hook-logger', (networkId, endpoint, source) => {
      stats.peersDiscovered++;
      log(`peer ${endpoint.host}:${endpoint.port} found by ${source} for network ${networkId.toString('hex').slice(0, 8)}…`);
    });
    api.hooks.connection.tap('hook-logger', (connection) => {
      stats.connections++;
      log(`connected to ${connection.remote.host}:${connection.remote.port} (${connection.direction})`);
    });
  },
});
