/**
 * The `trackers` plugin: peer discovery on HTTP and UDP BitTorrent trackers,
 * shared as the `trackers` service (chats set their own tracker lists on it).
 */
import { networkPolicyOf, type ProxiedAgents } from '../../core/network-policy.js';
import { definePlugin, type JsonSchema } from '../../core/plugin.js';
import { FAST_INTERVAL_MS, MAX_RETRY_MS, MAX_TRACKERS_PER_NETWORK, PUBLIC_TRACKERS, RETRY_BASE_MS } from './constants.js';
import { TrackerDiscovery } from './tracker-discovery.js';

export { TrackerDiscovery, checkTrackerUrl } from './tracker-discovery.js';
export type { TrackerDiscoveryOptions, TrackerDiscoveryCallbacks, TrackerStats } from './tracker-discovery.js';
export { TrackerError } from './errors.js';

const PLUGIN_NAME = 'trackers';
const TRACKER_URL_PATTERN = '^(https?|udp)://';

declare module '../../core/plugin.js' {
  interface ServiceMap {
    trackers: TrackerDiscovery;
  }
}

export interface TrackersPluginOptions {
  announce: string[];
  networks: Record<string, string[]>;
  allowPrivateAddresses: boolean;
  fastIntervalSeconds: number;
  honourMinInterval: boolean;
  retryBaseSeconds: number;
  maxRetrySeconds: number;
}

const urlList = (description: string, defaults?: string[]): JsonSchema => ({
  type: 'array',
  items: { type: 'string', pattern: TRACKER_URL_PATTERN, maxLength: 2048 },
  maxItems: MAX_TRACKERS_PER_NETWORK,
  ...(defaults ? { default: defaults } : {}),
  description,
});

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    announce: urlList('Trackers for every chat without its own list (http://, https://, udp://). @default a few public open trackers', PUBLIC_TRACKERS),
    networks: {
      type: 'object',
      propertyNames: { pattern: '^[0-9a-f]{40}$' },
      additionalProperties: urlList('Trackers for this network instead of `announce`; [] for none ("DHT only").'),
      default: {},
      description: 'Per-network tracker lists, keyed by the network ID in lower-case hex. @default {}',
    },
    allowPrivateAddresses: {
      type: 'boolean',
      default: false,
      description: 'Report loopback/private peers (tests, LAN trackers). @default false',
    },
    fastIntervalSeconds: {
      type: 'integer',
      minimum: 30,
      maximum: 86400,
      default: FAST_INTERVAL_MS / 1000,
      description: "Re-announce period while a chat's mesh is incomplete; complete meshes use the tracker's interval. @default 120",
    },
    honourMinInterval: {
      type: 'boolean',
      default: true,
      description: "Never announce more often than a tracker's `min interval` (turn off only for trackers you run). @default true",
    },
    retryBaseSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: RETRY_BASE_MS / 1000,
      description: 'First retry after a failed announce; doubles per failure. @default 30',
    },
    maxRetrySeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 86400,
      default: MAX_RETRY_MS / 1000,
      description: 'Longest wait between retries. @default 1800',
    },
  },
};

export default definePlugin<TrackersPluginOptions>({
  name: PLUGIN_NAME,
  version: '0.1.0',
  requires: [],
  optionsSchema,
  description: 'Peer discovery on HTTP and UDP BitTorrent trackers (BEP 3, 15, 23)',
  apply(api, options) {
    const log = api.logger;
    const service = new TrackerDiscovery(
      {
        announce: options.announce,
        allowPrivateAddresses: options.allowPrivateAddresses,
        fastIntervalMs: options.fastIntervalSeconds * 1000,
        honourMinInterval: options.honourMinInterval,
        retryBaseMs: options.retryBaseSeconds * 1000,
        maxRetryMs: options.maxRetrySeconds * 1000,
        // Read at announce time: the proxy plugin may apply after this one.
        allowUdp: () => networkPolicyOf(api).allowUdp,
        httpAgents: () => api.tryResolve<ProxiedAgents>('proxy'),
      },
      {
        onPeer: (networkId, endpoint) => api.reportPeer(networkId, endpoint, PLUGIN_NAME),
        onWarning: (message) => log.debug(message),
      },
    );
    for (const [hex, urls] of Object.entries(options.networks)) service.setNetworkTrackers(Buffer.from(hex, 'hex'), urls);
    api.register(PLUGIN_NAME, service);

    api.hooks.start.tapPromise(PLUGIN_NAME, () => service.start());
    api.hooks.stop.tapPromise(PLUGIN_NAME, () => service.stop());
    api.hooks.announce.tapPromise(PLUGIN_NAME, async (request) => {
      // Trackers answer within seconds or time out (15 s); do not hold the hook for them.
      service.announce(request.networkId, request.port).catch((err: Error) => log.warn({ err }, 'tracker announce refused'));
    });
    api.hooks.withdraw.tapPromise(PLUGIN_NAME, (networkId) => service.withdraw(networkId));
  },
});
