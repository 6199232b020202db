/**
 * The `relay` plugin: peers behind NAT stay reachable through TCP relays
 * (PROTOCOL.md §1.8-1.9, §9.4; docs/protocol/relay.md).
 *
 * - `serve: true`: this node is a relay (relay-service.ts), announced on the DHT
 *   under the relay info-hash.
 * - the client (relay-client.ts, on by default unless serving): detects whether
 *   our port is reachable and, if not, keeps up to 3 relays announcing our networks.
 * - always: answers reachability probes, and as a member tunnels through a relay
 *   to the peers it lists.
 *
 * Shares itself as the `relay` service (`RelayPlugin`: `service`, `client`).
 */
import type { Signal as SignalTable } from '../../core/connection/constants.js';
import { Signal } from '../../core/connection/constants.js';
import { networkPolicyOf } from '../../core/network-policy.js';
import { definePlugin, type JsonSchema } from '../../core/plugin.js';
import type { Endpoint } from '../../core/types.js';
import {
  DEFAULT_CANDIDATE_BACKOFF_MS,
  DEFAULT_CLIENT_INTERVAL_MS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_NETWORKS,
  DEFAULT_MAX_NETWORKS_PER_CLIENT,
  DEFAULT_MAX_RELAYS,
  DEFAULT_MAX_TUNNELS,
  DEFAULT_PROBE_DIAL_TIMEOUT_MS,
  DEFAULT_PROBE_MIN_INTERVAL_MS,
  DEFAULT_REACHABILITY_INTERVAL_MS,
  DEFAULT_REACHABILITY_RETRY_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TUNNEL_BYTES_PER_SECOND,
  MAX_NETWORKS_PER_REQUEST,
  RELAY_INFO_HASH,
  RELAYED_DIAL_STAGE,
} from './constants.js';
import { RelayError } from './errors.js';
import { addRelayCommand } from './relay-command.js';
import { RelayClient, type ReachabilityMode } from './relay-client.js';
import { type Publisher, RelayService } from './relay-service.js';

export { RELAY_INFO_HASH, RELAY_INFO_HASH_LABEL, RelayStatus, RequestKind } from './constants.js';
export { RelayError } from './errors.js';
export { RelayClient, type RelayClientOptions, type RelayClientStats, type ReachabilityMode } from './relay-client.js';
export { RelayService, type RelayServiceOptions, type RelayServiceStats, type Publisher } from './relay-service.js';
export { dialBack, type Reachability } from './reachability.js';
export { runRelayNode, type RelayCommandIo } from './relay-command.js';
export * from './wire.js';

const PLUGIN_NAME = 'relay';

/** What the plugin shares as the `relay` service. */
export interface RelayPlugin {
  /** The relay side (also answers probes). */
  readonly service: RelayService;
  /** The client side; undefined when the client is off. */
  readonly client: RelayClient | undefined;
}

declare module '../../core/plugin.js' {
  interface ServiceMap {
    relay: RelayPlugin;
  }
}

export interface RelayPluginOptions {
  serve: boolean;
  client?: boolean;
  reachability: ReachabilityMode;
  relays: string[];
  maxRelays: number;
  maxClients: number;
  maxNetworksPerClient: number;
  maxNetworks: number;
  maxTunnels: number;
  tunnelBytesPerSecond: number;
  answerProbes: boolean;
  allowPrivateAddresses: boolean;
  intervalSeconds: number;
  reachabilityIntervalSeconds: number;
  reachabilityRetrySeconds: number;
  requestTimeoutSeconds: number;
  probeMinIntervalSeconds: number;
  candidateBackoffSeconds: number;
}

const seconds = (description: string, def: number, min = 0.05): Record<string, unknown> => ({ type: 'number', minimum: min, maximum: 86400, default: def, description });
const count = (description: string, def: number, max: number, min = 0): Record<string, unknown> => ({ type: 'integer', minimum: min, maximum: max, default: def, description });

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    serve: { type: 'boolean', default: false, description: 'Act as a relay for NATed peers (announce on the DHT under the relay info-hash). @default false' },
    client: { type: 'boolean', description: 'Run the relay client (reachability check, relays when unreachable). @default true unless `serve`' },
    reachability: {
      type: 'string',
      enum: ['auto', 'reachable', 'unreachable'],
      default: 'auto',
      description: 'Probe whether our port is reachable (`auto`), or say so. @default "auto"',
    },
    relays: {
      type: 'array',
      maxItems: 64,
      items: { type: 'string', pattern: '^[0-9.]+:[0-9]{1,5}$' },
      default: [],
      description: 'Relays ("ipv4:port") to try besides those found on the DHT. @default []',
    },
    maxRelays: count('Relays kept while unreachable. @default 3', DEFAULT_MAX_RELAYS, 16, 1),
    maxClients: count('Relay: clients served at once. @default 256', DEFAULT_MAX_CLIENTS, 100_000),
    maxNetworksPerClient: count('Relay: networks one client may register. @default 16', DEFAULT_MAX_NETWORKS_PER_CLIENT, MAX_NETWORKS_PER_REQUEST, 1),
    maxNetworks: count('Relay: networks relayed in all. @default 1024', DEFAULT_MAX_NETWORKS, 100_000),
    maxTunnels: count('Relay: tunnels to clients spliced at once. @default 128', DEFAULT_MAX_TUNNELS, 100_000),
    tunnelBytesPerSecond: count('Relay: byte rate per tunnel and direction; 0 = unlimited. @default 4194304', DEFAULT_TUNNEL_BYTES_PER_SECOND, 1e10),
    answerProbes: { type: 'boolean', default: true, description: 'Dial back nodes that ask whether their port is reachable. @default true' },
    allowPrivateAddresses: { type: 'boolean', default: false, description: 'Use loopback/private relay addresses (tests, LAN set-ups). @default false' },
    intervalSeconds: seconds('Client: relay upkeep period. @default 30', DEFAULT_CLIENT_INTERVAL_MS / 1000),
    reachabilityIntervalSeconds: seconds('Client: reachability re-check period. @default 60', DEFAULT_REACHABILITY_INTERVAL_MS / 1000),
    reachabilityRetrySeconds: seconds('Client: retry period while reachability is unknown. @default 10', DEFAULT_REACHABILITY_RETRY_MS / 1000),
    requestTimeoutSeconds: seconds('Client: wait for a relay answer, then drop the relay. @default 10', DEFAULT_REQUEST_TIMEOUT_MS / 1000),
    probeMinIntervalSeconds: seconds('Relay: one probe per connection per this period. @default 10', DEFAULT_PROBE_MIN_INTERVAL_MS / 1000, 0),
    candidateBackoffSeconds: seconds('Client: a relay that failed is not retried for this long. @default 60', DEFAULT_CANDIDATE_BACKOFF_MS / 1000, 0),
  },
};

function parseEndpoint(text: string): Endpoint {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

type SignalValue = (typeof SignalTable)[keyof typeof SignalTable];

export default definePlugin<RelayPluginOptions>({
  name: PLUGIN_NAME,
  version: '0.1.0',
  requires: [],
  optionsSchema,
  description: 'TCP relays: serve NATed peers (`serve: true`), or be reached through relays when our port is not reachable',
  apply(api, options) {
    const connections = api.resolve('connections');
    const log = api.logger;
    const publishers = (): Publisher[] =>
      [api.tryResolve('dht'), api.tryResolve('trackers')].filter((p): p is NonNullable<typeof p> => p !== undefined) as Publisher[];
    const service = new RelayService(
      {
        serve: options.serve,
        answerProbes: options.answerProbes,
        maxClients: options.maxClients,
        maxNetworksPerClient: options.maxNetworksPerClient,
        maxNetworks: options.maxNetworks,
        maxTunnels: options.maxTunnels,
        tunnelBytesPerSecond: options.tunnelBytesPerSecond,
        probeMinIntervalMs: options.probeMinIntervalSeconds * 1000,
        probeDialTimeoutMs: DEFAULT_PROBE_DIAL_TIMEOUT_MS,
      },
      { connections, logger: log, publishers },
    );
    const clientOn = options.client ?? !options.serve;
    const client = new RelayClient(
      {
        reachability: options.reachability,
        maxRelays: options.maxRelays,
        intervalMs: options.intervalSeconds * 1000,
        reachabilityIntervalMs: options.reachabilityIntervalSeconds * 1000,
        reachabilityRetryMs: options.reachabilityRetrySeconds * 1000,
        requestTimeoutMs: options.requestTimeoutSeconds * 1000,
        candidateBackoffMs: options.candidateBackoffSeconds * 1000,
        allowPrivateAddresses: options.allowPrivateAddresses,
        relays: options.relays.map(parseEndpoint),
      },
      {
        connections,
        logger: log,
        lookupRelays: async () => {
          await api.tryResolve('dht')?.lookup(RELAY_INFO_HASH);
        },
        reportPeer: (networkId, endpoint) => api.reportPeer(networkId, endpoint, PLUGIN_NAME),
      },
    );
    api.register(PLUGIN_NAME, { service, client: clientOn ? client : undefined });

    const unsubscribe: Array<() => void> = [];
    const on = (signal: SignalValue, handler: Parameters<typeof connections.onSignal>[1]): void => {
      unsubscribe.push(connections.onSignal(signal, handler));
    };

    api.hooks.start.tapPromise(PLUGIN_NAME, async () => {
      on(Signal.START_TCP_RELAY, (frame, from) => service.onStart(frame, from));
      on(Signal.STOP_TCP_RELAY, (frame, from) => service.onStop(frame, from));
      on(Signal.TCP_RELAY_RESPONSE_SUCCESS, (frame, from) => client.onResponse(frame, from));
      on(Signal.TCP_RELAY_RESPONSE_PEER_LIST, (frame, from) => client.onPeerList(frame, from));
      const behindProxy = networkPolicyOf(api).mode !== 'direct';
      if (behindProxy && options.serve) log.warn('outbound connections go through a proxy: not serving as a relay (spec §8)');
      service.start(behindProxy);
      if (clientOn) client.start(behindProxy);
      log.info({ serve: service.isServing, client: clientOn }, 'relay plugin started');
    });

    api.hooks.stop.tapPromise(PLUGIN_NAME, async () => {
      for (const off of unsubscribe.splice(0)) off();
      await client.stop();
      await service.stop();
    });

    // A peer a relay listed cannot be dialled directly: fail at once, so the connection
    // layer uses the tunnel we opened (or opens one through a connected relay).
    api.hooks.dial.tapPromise({ name: PLUGIN_NAME, stage: RELAYED_DIAL_STAGE }, async (request) => {
      if (client.isRelayed(request.endpoint)) throw RelayError.noDirectRoute(request.endpoint.host, request.endpoint.port);
      return undefined;
    });

    api.hooks.cliCommands.tap(PLUGIN_NAME, (cli) => addRelayCommand(cli));

    api.hooks.peerDiscovered.tap(PLUGIN_NAME, (networkId, endpoint) => {
      if (networkId.equals(RELAY_INFO_HASH)) client.addCandidate(endpoint);
    });

    // Members need the networks to recognise peer lists; clients register them.
    api.hooks.announce.tapPromise(PLUGIN_NAME, async (request) => {
      client.onAnnounce(request.networkId);
    });
    api.hooks.withdraw.tapPromise(PLUGIN_NAME, async (networkId) => {
      client.onWithdraw(networkId);
    });
  },
});
