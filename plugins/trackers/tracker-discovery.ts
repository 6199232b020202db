/**
 * Peer discovery on BitTorrent trackers, HTTP and UDP (BEP 3, 15, 23; BEP 7
 * `peers6` over HTTP), through `bittorrent-tracker`'s client. No WebRTC or
 * websocket trackers.
 *
 * Each announced network gets one `TrackerSession` per tracker URL (the
 * default list, or the network's own list). Peers are filtered (ourselves,
 * invalid, private unless allowed), capped per response, de-duplicated per
 * network, and reported through `onPeer`.
 */
import type { ProxiedAgents } from '../../core/network-policy.js';
import type { Endpoint, NetworkId } from '../../core/types.js';
import type { TrackerUpdate } from 'bittorrent-tracker';
import { endpointKey, localAddresses, normaliseHost, parseHostPort, rejectEndpoint } from '../dht/address-policy.js';
import {
  DEFAULT_INTERVAL_MS,
  FAST_INTERVAL_MS,
  MAX_NETWORKS,
  MAX_PEERS_PER_NETWORK,
  MAX_PEERS_PER_RESPONSE,
  MAX_RETRY_MS,
  MAX_TRACKER_INTERVAL_MS,
  MAX_TRACKERS_PER_NETWORK,
  MIN_TRACKER_INTERVAL_MS,
  NETWORK_ID_BYTES,
  RETRY_BASE_MS,
  STOP_WAIT_MS,
} from './constants.js';
import { TrackerError } from './errors.js';
import { TrackerSession, type SessionEvents, type SessionTiming } from './tracker-session.js';

export interface TrackerDiscoveryOptions {
  /** Trackers for networks without their own list. */
  announce: string[];
  /** Report loopback/private peers (tests, LAN-only set-ups). */
  allowPrivateAddresses: boolean;
  /** Re-announce period while a mesh is incomplete. @default 120 s */
  fastIntervalMs?: number;
  /** Re-announce period when a tracker names none. @default 30 min */
  defaultIntervalMs?: number;
  /** Clamp on the `interval` a tracker asks for. @default 60 s .. 6 h */
  minTrackerIntervalMs?: number;
  maxTrackerIntervalMs?: number;
  /** First retry after a failure, doubling up to `maxRetryMs`. @default 30 s, 30 min */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /** Never announce more often than the tracker's `min interval`. Only tests and own trackers turn this off. @default true */
  honourMinInterval?: boolean;
  /** Peers taken from one response. @default 200 */
  maxPeersPerResponse?: number;
  /** How long a withdraw waits for the tracker to take the "stopped" event. @default 1 s */
  stopWaitMs?: number;
  /** Asked at each announce: may UDP trackers be used? (false in Tor mode) @default always */
  allowUdp?: () => boolean;
  /** Asked at each request: agents that carry HTTP(S) announces through a proxy, if any. */
  httpAgents?: () => ProxiedAgents | undefined;
}

export interface TrackerDiscoveryCallbacks {
  onPeer(networkId: NetworkId, endpoint: Endpoint): void;
  onWarning?(message: string): void;
}

export interface TrackerStats {
  /** Requests sent (started, update, stopped). */
  announces: number;
  /** Responses that carried a peer list. */
  responses: number;
  /** Requests that failed (network, timeout, undecodable, tracker failure reason). */
  announceErrors: number;
  /** Retries scheduled after failures. */
  retries: number;
  lookups: number;
  /** `lookup` calls held back by a tracker's `min interval`. */
  deferred: number;
  peersFound: number;
  /** Ourselves, invalid, or private (when not allowed). */
  peersFiltered: number;
  /** Beyond `maxPeersPerResponse`, or unparsable peer strings. */
  peersDropped: number;
  /** Responses the library rejected after accepting them (bad compact peer lists...). */
  malformedResponses: number;
}

interface NetworkState {
  networkId: NetworkId;
  port: number;
  sessions: TrackerSession[];
  peers: Set<string>;
}

function newStats(): TrackerStats {
  return {
    announces: 0,
    responses: 0,
    announceErrors: 0,
    retries: 0,
    lookups: 0,
    deferred: 0,
    peersFound: 0,
    peersFiltered: 0,
    peersDropped: 0,
    malformedResponses: 0,
  };
}

/** Only HTTP(S) and UDP trackers; WebRTC/websocket trackers are out of scope. */
export function checkTrackerUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw TrackerError.badUrl(url, 'not a URL');
  }
  if (!['http:', 'https:', 'udp:'].includes(parsed.protocol)) throw TrackerError.badUrl(url, 'only http, https and udp trackers');
  if (parsed.protocol === 'udp:' && (parsed.port === '' || parsed.hostname === '')) throw TrackerError.badUrl(url, 'udp trackers need host and port');
  // The library's UDP client opens IPv4 sockets only.
  if (parsed.protocol === 'udp:' && parsed.hostname.startsWith('[')) throw TrackerError.badUrl(url, 'UDP trackers over IPv6 are not supported');
}

export class TrackerDiscovery {
  readonly stats: TrackerStats = newStats();
  readonly #options: TrackerDiscoveryOptions;
  readonly #callbacks: TrackerDiscoveryCallbacks;
  readonly #timing: SessionTiming;
  readonly #networks = new Map<string, NetworkState>();
  readonly #sessionNetwork = new WeakMap<TrackerSession, NetworkState>();
  /** Per-network tracker lists set by chats (hex network ID -> URLs). */
  readonly #networkTrackers = new Map<string, string[]>();
  /** Our addresses as trackers see them (`external ip`, BEP 24), for self-filtering. */
  readonly #externalAddresses = new Set<string>();
  #local = new Set<string>();
  #running = false;

  constructor(options: TrackerDiscoveryOptions, callbacks: TrackerDiscoveryCallbacks) {
    for (const url of options.announce) checkTrackerUrl(url);
    this.#options = options;
    this.#callbacks = callbacks;
    this.#timing = {
      fastIntervalMs: options.fastIntervalMs ?? FAST_INTERVAL_MS,
      defaultIntervalMs: options.defaultIntervalMs ?? DEFAULT_INTERVAL_MS,
      minTrackerIntervalMs: options.minTrackerIntervalMs ?? MIN_TRACKER_INTERVAL_MS,
      maxTrackerIntervalMs: options.maxTrackerIntervalMs ?? MAX_TRACKER_INTERVAL_MS,
      retryBaseMs: options.retryBaseMs ?? RETRY_BASE_MS,
      maxRetryMs: options.maxRetryMs ?? MAX_RETRY_MS,
      honourMinInterval: options.honourMinInterval ?? true,
      ...(options.httpAgents ? { httpAgents: options.httpAgents } : {}),
    };
  }

  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    this.#local = localAddresses();
    this.#running = true;
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const states = [...this.#networks.values()];
    this.#networks.clear();
    await Promise.all(states.map((s) => this.#closeState(s)));
  }

  /** Use `urls` for `networkId` instead of the default list (empty: no trackers for it, "DHT only"). Applies at its next announce. */
  setNetworkTrackers(networkId: NetworkId, urls: string[] | null): void {
    this.#checkNetworkId(networkId);
    const key = networkId.toString('hex');
    if (urls === null) {
      this.#networkTrackers.delete(key);
      return;
    }
    if (urls.length > MAX_TRACKERS_PER_NETWORK) throw TrackerError.tooMany('trackers per network', MAX_TRACKERS_PER_NETWORK);
    for (const url of urls) checkTrackerUrl(url);
    this.#networkTrackers.set(key, [...urls]);
  }

  /** Trackers `networkId` is (or would be) announced on. */
  trackersFor(networkId: NetworkId): string[] {
    const own = this.#networkTrackers.get(networkId.toString('hex'));
    const allowUdp = this.#options.allowUdp?.() ?? true;
    return [...new Set((own ?? this.#options.announce).map((u) => u.replace(/\/$/, '')))]
      .filter((url) => allowUdp || !url.startsWith('udp:'))
      .slice(0, MAX_TRACKERS_PER_NETWORK);
  }

  /**
   * Announce ("started") `port` under `networkId` on its trackers; resolves when
   * every tracker answered or failed. Failures are counted and retried, not thrown.
   */
  async announce(networkId: NetworkId, port: number): Promise<void> {
    this.#checkNetworkId(networkId);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw TrackerError.badPort(port);
    if (!this.#running) throw TrackerError.notStarted();
    const key = networkId.toString('hex');
    const existing = this.#networks.get(key);
    if (existing) {
      if (existing.port === port) return this.lookup(networkId);
      // A new port: the old announcement is wrong now, withdraw it first.
      await this.withdraw(networkId);
    }
    if (this.#networks.size >= MAX_NETWORKS) throw TrackerError.tooMany('networks', MAX_NETWORKS);
    const state: NetworkState = { networkId: Buffer.from(networkId), port, sessions: [], peers: new Set() };
    const events = this.#sessionEvents();
    for (const url of this.trackersFor(networkId)) {
      const session = new TrackerSession(url, state.networkId, port, this.#timing, events);
      this.#sessionNetwork.set(session, state);
      state.sessions.push(session);
    }
    this.#networks.set(key, state);
    await Promise.all(state.sessions.map((s) => s.announce('started')));
  }

  /** Send "stopped" to the network's trackers and stop reporting it. */
  async withdraw(networkId: NetworkId): Promise<void> {
    this.#checkNetworkId(networkId);
    const key = networkId.toString('hex');
    const state = this.#networks.get(key);
    if (!state) return;
    this.#networks.delete(key);
    await this.#closeState(state);
  }

  /** Re-announce now where `min interval` allows (trackers tell us of newcomers only when we announce). */
  async lookup(networkId: NetworkId): Promise<void> {
    this.#checkNetworkId(networkId);
    const state = this.#networks.get(networkId.toString('hex'));
    if (!state) return;
    this.stats.lookups++;
    await Promise.all(
      state.sessions.map((s) => {
        const p = s.announce('update');
        if (s.deferred) this.stats.deferred++;
        return p;
      }),
    );
  }

  /** While a chat's mesh is incomplete, re-announce every `fastIntervalMs`; otherwise at the tracker's interval. */
  setMeshIncomplete(networkId: NetworkId, incomplete: boolean): void {
    this.#checkNetworkId(networkId);
    const state = this.#networks.get(networkId.toString('hex'));
    for (const s of state?.sessions ?? []) s.setFast(incomplete);
  }

  /** Per-tracker view for diagnostics and tests. */
  sessionsFor(networkId: NetworkId): Array<{ url: string; intervalMs: number | null; minIntervalMs: number; failures: number; nextDelayMs: number | null }> {
    const state = this.#networks.get(networkId.toString('hex'));
    return (state?.sessions ?? []).map((s) => ({
      url: s.url,
      intervalMs: s.trackerIntervalMs,
      minIntervalMs: s.minIntervalMs,
      failures: s.consecutiveFailures,
      nextDelayMs: s.nextDelayMs,
    }));
  }

  async #closeState(state: NetworkState): Promise<void> {
    await Promise.all(state.sessions.map((s) => s.close(this.#options.stopWaitMs ?? STOP_WAIT_MS)));
  }

  #checkNetworkId(networkId: NetworkId): void {
    if (!Buffer.isBuffer(networkId) || networkId.length !== NETWORK_ID_BYTES) {
      throw TrackerError.badNetworkId(Buffer.isBuffer(networkId) ? networkId.length : -1);
    }
  }

  #sessionEvents(): SessionEvents {
    return {
      onRequest: () => {
        this.stats.announces++;
      },
      onResponse: (update: TrackerUpdate) => {
        // (HTTP answers without an interval never get here: decodeAnnounceResponse refuses them.)
        this.stats.responses++;
        this.#learnExternalAddress(update['external ip']);
      },
      onFailure: (err, session) => {
        this.stats.announceErrors++;
        this.stats.retries++;
        this.#callbacks.onWarning?.(`tracker ${session.url}: ${err.message}`);
      },
      onMalformed: (err, session) => {
        this.stats.malformedResponses++;
        this.#callbacks.onWarning?.(`tracker ${session.url} sent a malformed response: ${err.message}`);
      },
      onPeer: (addr, session) => this.#onPeer(addr, session),
    };
  }

  #learnExternalAddress(raw: unknown): void {
    // BEP 24: 4 or 16 raw bytes. Bounded: a tracker cannot grow this set past a handful.
    if (!(raw instanceof Uint8Array) || (raw.length !== 4 && raw.length !== 16) || this.#externalAddresses.size >= 16) return;
    const b = Buffer.from(raw);
    const host =
      raw.length === 4
        ? [...b].join('.')
        : Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
    this.#externalAddresses.add(normaliseHost(host));
  }

  #onPeer(addr: string, session: TrackerSession): void {
    const state = this.#sessionNetwork.get(session);
    if (!state || this.#networks.get(state.networkId.toString('hex')) !== state) {
      this.stats.peersDropped++;
      return;
    }
    session.peersThisResponse++;
    if (session.peersThisResponse > (this.#options.maxPeersPerResponse ?? MAX_PEERS_PER_RESPONSE)) {
      this.stats.peersDropped++;
      return;
    }
    const endpoint = parseHostPort(addr);
    if (!endpoint) {
      this.stats.peersDropped++;
      return;
    }
    if (rejectEndpoint(endpoint, this.#options.allowPrivateAddresses) !== null || this.#isSelf(state, endpoint)) {
      this.stats.peersFiltered++;
      return;
    }
    const key = endpointKey(endpoint);
    if (state.peers.has(key)) return;
    if (state.peers.size >= MAX_PEERS_PER_NETWORK) {
      const oldest = state.peers.values().next().value;
      if (oldest !== undefined) state.peers.delete(oldest);
    }
    state.peers.add(key);
    this.stats.peersFound++;
    this.#callbacks.onPeer(state.networkId, endpoint);
  }

  /** Trackers return the announcer itself: our port on one of our addresses. */
  #isSelf(state: NetworkState, endpoint: Endpoint): boolean {
    if (endpoint.port !== state.port) return false;
    const host = normaliseHost(endpoint.host);
    return this.#local.has(host) || this.#externalAddresses.has(host);
  }
}
