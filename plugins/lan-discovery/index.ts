/**
 * The lan-discovery plugin: a thin adapter from kernel hooks to the LanDiscovery service.
 * `start`/`stop` open and close its sockets; `announce`/`withdraw` add and remove the
 * networks it answers and queries for; peers it finds go to `reportPeer(..., 'lan')`.
 * The service is shared as `lan-discovery` so other plugins and the UI can read its stats.
 */
import { networkPolicyOf } from '../../core/network-policy.js';
import { definePlugin, type JsonSchema } from '../../core/plugin.js';
import type { AnnounceRequest, NetworkId } from '../../core/types.js';
import { DISCOVERY_SOURCE, PLUGIN_NAME, PLUGIN_VERSION } from './constants.js';
import { LAN_DISCOVERY_DEFAULTS, LanDiscovery, type LanDiscoveryOptions } from './service.js';

export { LanDiscovery, LAN_DISCOVERY_DEFAULTS } from './service.js';
export type { LanDiscoveryOptions, LanDiscoveryComponents, LanLogger, LanDiscoveryAddresses } from './service.js';
export type { LanDiscoveryStats } from './stats.js';
export { LanDiscoveryError, LAN_ERROR_CODES } from './errors.js';

declare module '../../core/plugin.js' {
  interface ServiceMap {
    'lan-discovery': LanDiscovery;
  }
}

const d = LAN_DISCOVERY_DEFAULTS;
const interval = (description: string, fallback: number, minimum = 1): JsonSchema => ({
  type: 'integer',
  minimum,
  maximum: 86_400_000,
  default: fallback,
  description,
});
const rate = (description: string, fallback: number): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: 1_000_000,
  default: fallback,
  description,
});

/** JSON Schema of the plugin's options (ajv; defaults fill in what the config leaves out). */
export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: d.port,
      description: 'UDP port every node listens on for LAN queries (spec: 41733). All nodes of a LAN must agree.',
    },
    ipv4: { type: 'boolean', default: d.ipv4, description: 'Query by IPv4 broadcast and answer IPv4 queries.' },
    ipv6: { type: 'boolean', default: d.ipv6, description: 'Query by IPv6 multicast (ff12::1) and answer IPv6 queries.' },
    broadcastAddresses: {
      type: 'array',
      items: { type: 'string', pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$' },
      maxItems: 64,
      default: [],
      description: "IPv4 addresses queries are sent to; empty means every interface's broadcast address.",
    },
    ipv6Targets: {
      type: 'array',
      items: { type: 'string', minLength: 2, maxLength: 100 },
      maxItems: 64,
      default: [],
      description: 'IPv6 addresses queries are sent to (scoped like ff12::1%eth0); empty means ff12::1 on every IPv6 interface.',
    },
    bindAddress4: {
      type: 'string',
      default: d.bindAddress4,
      description: 'Address the IPv4 listener binds; keep the wildcard 0.0.0.0, a unicast address does not hear broadcasts.',
    },
    bindAddress6: { type: 'string', default: d.bindAddress6, description: 'Address the IPv6 listener binds.' },
    loopbackOnly: {
      type: 'boolean',
      default: d.loopbackOnly,
      description: 'Send only to 127.0.0.0/8 and ::1 (tests, single-machine demos); other destinations are refused and counted.',
    },
    queryIntervalMinMs: interval('First re-query delay after an announce or interface change; doubles each round.', d.queryIntervalMinMs, 10),
    queryIntervalMaxMs: interval('Longest re-query delay (spec: a round every 30 s).', d.queryIntervalMaxMs, 10),
    queryValidityMs: interval('How long a query accepts answers (spec: 2 s).', d.queryValidityMs, 10),
    rediscoverAfterMs: interval('A found (network, end point) is not reported again within this time (spec: 30 s).', d.rediscoverAfterMs),
    interfaceCheckIntervalMs: interval('How often network interfaces are re-read; a change queries at once. 0 disables.', d.interfaceCheckIntervalMs, 0),
    maxClockSkewMs: interval('Queries whose timestamp is further than this from our clock are refused (bounds replays).', d.maxClockSkewMs),
    maxAnswersPerSecond: rate('Answers per second to all sources together.', d.maxAnswersPerSecond),
    maxAnswersPerSourcePerSecond: rate('Answers per second to one source address.', d.maxAnswersPerSourcePerSecond),
    maxPacketsPerSecond: rate('Inbound datagrams per second that are read at all; the rest are dropped unread.', d.maxPacketsPerSecond),
  },
};

export default definePlugin<Partial<LanDiscoveryOptions>>({
  name: PLUGIN_NAME,
  version: PLUGIN_VERSION,
  requires: [],
  optionsSchema,
  description: 'Finds chat peers on the local network by IPv4 broadcast and IPv6 multicast (HMAC-authenticated).',
  apply(api, options) {
    const logger = api.logger.child({ component: PLUGIN_NAME });
    const service = new LanDiscovery(options, {
      logger,
      onPeer: (networkId: NetworkId, endpoint) => api.reportPeer(networkId, endpoint, DISCOVERY_SOURCE),
    });
    api.register(PLUGIN_NAME, service);
    // Broadcasts leave outside any proxy: a node in Tor mode keeps the LAN plugin off.
    let disabled = false;
    api.hooks.start.tapPromise(PLUGIN_NAME, async () => {
      const policy = networkPolicyOf(api);
      if (!policy.allowLan || !policy.allowUdp) {
        disabled = true;
        logger.warn('LAN discovery not started: the network policy forbids it (Tor mode)');
        return;
      }
      await service.start();
    });
    api.hooks.stop.tapPromise(PLUGIN_NAME, async () => {
      if (!disabled) await service.stop();
    });
    api.hooks.announce.tapPromise(PLUGIN_NAME, async (request: AnnounceRequest) => {
      if (!disabled) service.announce(request.networkId, request.port);
    });
    api.hooks.withdraw.tapPromise(PLUGIN_NAME, async (networkId: NetworkId) => {
      if (!disabled) service.withdraw(networkId);
    });
  },
});
