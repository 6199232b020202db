/**
 * The `dht` plugin: peer discovery on the BitTorrent mainline DHT, and the
 * DHT node itself as the `dht` service (the relay plugin announces on it).
 */
import { networkPolicyOf } from '../../core/network-policy.js';
import { definePlugin, type JsonSchema } from '../../core/plugin.js';
import { DEFAULT_ANNOUNCE_INTERVAL_MS, FAST_ANNOUNCE_INTERVAL_MS, PUBLIC_BOOTSTRAP } from './constants.js';
import { DhtDiscovery } from './dht-discovery.js';
import { DHT_NODES_MIGRATION, SqliteNodeStore, type RoutingTableStore } from './node-store.js';

export { DhtDiscovery } from './dht-discovery.js';
export type { DhtDiscoveryOptions, DhtDiscoveryCallbacks, DhtStats } from './dht-discovery.js';
export { DhtError } from './errors.js';
export { MemoryNodeStore, SqliteNodeStore, type RoutingTableStore, type SavedNode } from './node-store.js';

const PLUGIN_NAME = 'dht';

declare module '../../core/plugin.js' {
  interface ServiceMap {
    dht: DhtDiscovery;
  }
}

export interface DhtPluginOptions {
  bootstrap: string[];
  port: number;
  host: string;
  allowPrivateAddresses: boolean;
  announceIntervalSeconds: number;
  fastAnnounceIntervalSeconds: number;
  persistRoutingTable: boolean;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    bootstrap: {
      type: 'array',
      items: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$' },
      maxItems: 64,
      default: PUBLIC_BOOTSTRAP,
      description: 'Bootstrap nodes as "host:port". @default the public mainline routers. Use [] for none (rejoin from saved nodes only).',
    },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 0, description: 'UDP port of the DHT node; 0 picks a free one. @default 0' },
    host: { type: 'string', default: '0.0.0.0', description: 'Address the DHT socket binds to. @default "0.0.0.0"' },
    allowPrivateAddresses: {
      type: 'boolean',
      default: false,
      description: 'Keep loopback/private nodes and peers (tests, LAN-only set-ups). Off on the public network. @default false',
    },
    announceIntervalSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 86400,
      default: DEFAULT_ANNOUNCE_INTERVAL_MS / 1000,
      description: 'Re-announce period once a chat\'s mesh is complete. @default 300',
    },
    fastAnnounceIntervalSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 86400,
      default: FAST_ANNOUNCE_INTERVAL_MS / 1000,
      description: 'Re-announce period while a chat\'s mesh is incomplete. @default 120',
    },
    persistRoutingTable: {
      type: 'boolean',
      default: true,
      description: 'Save the routing table in SQLite at stop and reuse it at the next start. @default true',
    },
  },
};

export default definePlugin<DhtPluginOptions>({
  name: PLUGIN_NAME,
  version: '0.1.0',
  requires: [],
  optionsSchema,
  description: 'Peer discovery on the BitTorrent mainline DHT (BEP 5); shares the DHT node as the `dht` service',
  apply(api, options) {
    let store: RoutingTableStore | undefined;
    const log = api.logger;
    const service = new DhtDiscovery(
      {
        bootstrap: options.bootstrap,
        port: options.port,
        host: options.host,
        allowPrivateAddresses: options.allowPrivateAddresses,
        announceIntervalMs: options.announceIntervalSeconds * 1000,
        fastAnnounceIntervalMs: options.fastAnnounceIntervalSeconds * 1000,
        // The store is opened at start (no files touched in apply); the getter defers to it.
        get nodeStore() {
          return store;
        },
      },
      {
        onPeer: (networkId, endpoint) => api.reportPeer(networkId, endpoint, PLUGIN_NAME),
        onWarning: (message) => log.warn(message),
      },
    );
    api.register(PLUGIN_NAME, service);

    api.hooks.migrations.tap(PLUGIN_NAME, (registry) => registry.add(DHT_NODES_MIGRATION));

    // Tor mode forbids UDP: the DHT stays off and peers come through relays and proxied trackers.
    let disabled = false;
    api.hooks.start.tapPromise(PLUGIN_NAME, async () => {
      if (!networkPolicyOf(api).allowUdp) {
        disabled = true;
        log.warn('DHT not started: the network policy forbids UDP (Tor mode)');
        return;
      }
      if (options.persistRoutingTable) {
        // The kernel opened its database and applied DHT_NODES_MIGRATION before start.
        const storage = api.tryResolve('storage');
        if (storage) store = new SqliteNodeStore(storage.db);
        else log.warn('no storage service: the DHT routing table will not be kept');
      }
      await service.start();
      const a = service.address();
      log.info({ port: a.port, restored: service.stats.nodesRestored }, 'DHT node listening');
    });

    api.hooks.stop.tapPromise(PLUGIN_NAME, async () => {
      if (!disabled) await service.stop();
      store = undefined;
    });

    api.hooks.announce.tapPromise(PLUGIN_NAME, async (request) => {
      if (disabled) return;
      // A DHT round can take seconds on the public network: do not hold the hook for it.
      service.announce(request.networkId, request.port).catch((err: Error) => log.warn({ err }, 'DHT announce refused'));
    });

    api.hooks.withdraw.tapPromise(PLUGIN_NAME, async (networkId) => {
      if (!disabled) await service.withdraw(networkId);
    });
  },
});
