/**
 * The relay client (PROTOCOL.md §1.9 client side, §9.4) and the member side of
 * relayed networks.
 *
 * Client: finds out whether our listening port is reachable (a relay dials it
 * back, see reachability.ts); while it is not, keeps up to `maxRelays` real
 * connections to relays found on the DHT under the relay info-hash, registers
 * every network we announce with each (masked), replaces relays that die or stop
 * answering, and withdraws networks as they go offline.
 *
 * Member: when a relay answers our network channel with a peer list (signal 13),
 * opens a tunnel through that relay to each listed client and reports it as a
 * peer of the network (source `relay`). Whatever runs above (the secure channel)
 * runs end to end inside the tunnel.
 */
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { channelName } from '../../core/chat/network-id.js';
import type { Connection } from '../../core/connection/connection.js';
import { Signal } from '../../core/connection/constants.js';
import { endpointKey, normalizeHost } from '../../core/connection/endpoint.js';
import type { Frame } from '../../core/connection/frame.js';
import type { ConnectionManager } from '../../core/connection/manager.js';
import type { Endpoint, NetworkId } from '../../core/types.js';
import {
  MAX_ATTEMPTS_PER_ROUND,
  MAX_CANDIDATES,
  MAX_NETWORKS_PER_REQUEST,
  MAX_RELAYED_ENDPOINTS,
  MAX_TUNNELS_PER_PEER_LIST,
  RELAYED_ENDPOINT_TTL_MS,
  RelayStatus,
  type RelayStatusValue,
} from './constants.js';
import type { Reachability } from './reachability.js';
import { PendingRequests } from './requests.js';
import { decodePeerList, encodeRelayRequest, encodeRelayStop } from './wire.js';

export type ReachabilityMode = 'auto' | 'reachable' | 'unreachable';

export interface RelayClientOptions {
  /** `auto` probes; the others fix the answer (e.g. `unreachable` behind a known NAT). */
  reachability: ReachabilityMode;
  maxRelays: number;
  intervalMs: number;
  reachabilityIntervalMs: number;
  reachabilityRetryMs: number;
  requestTimeoutMs: number;
  candidateBackoffMs: number;
  /** Accept loopback/private relay addresses (tests, LAN set-ups). */
  allowPrivateAddresses: boolean;
  /** Relays to try besides those found on the DHT. */
  relays: Endpoint[];
}

export interface RelayClientComponents {
  connections: ConnectionManager;
  logger: Logger;
  /** Start a DHT lookup of the relay info-hash (results come back through `addCandidate`). */
  lookupRelays?: () => Promise<void>;
  /** Report a relayed peer of a network (calls `hooks.peerDiscovered`). */
  reportPeer(networkId: NetworkId, endpoint: Endpoint): void;
}

/** Plain counters; read them, never write them. */
export interface RelayClientStats {
  /** Relay connections held right now. */
  relays: number;
  relaysAdded: number;
  relaysLost: number;
  registrationsSent: number;
  registrationFailures: number;
  probesSent: number;
  candidates: number;
  peerListsReceived: number;
  peerListsIgnored: number;
  malformedPeerLists: number;
  tunnelsOpened: number;
  tunnelFailures: number;
}

interface HeldRelay {
  endpoint: Endpoint;
  connection: Connection;
}

function isPrivateV4(host: string): boolean {
  const [a = 0, b = 0] = host.split('.').map(Number);
  return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || a >= 224;
}

export class RelayClient {
  readonly stats: RelayClientStats = {
    relays: 0,
    relaysAdded: 0,
    relaysLost: 0,
    registrationsSent: 0,
    registrationFailures: 0,
    probesSent: 0,
    candidates: 0,
    peerListsReceived: 0,
    peerListsIgnored: 0,
    malformedPeerLists: 0,
    tunnelsOpened: 0,
    tunnelFailures: 0,
  };
  private readonly options: RelayClientOptions;
  private readonly c: RelayClientComponents;
  private readonly log: Logger;
  private readonly pending: PendingRequests;
  private readonly networks = new Map<string, NetworkId>();
  private readonly candidates = new Map<string, Endpoint>();
  private readonly failedUntil = new Map<string, number>();
  private readonly held = new Map<string, HeldRelay>();
  /** End points relays listed (they said they are unreachable), with when we stop believing it. */
  private readonly relayedUntil = new Map<string, number>();
  private state: Reachability = 'unknown';
  private nextProbeAt = 0;
  private probe = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy: Promise<void> | undefined;
  private lookingUp: Promise<void> | undefined;
  private again = false;

  constructor(options: RelayClientOptions, components: RelayClientComponents) {
    this.options = options;
    this.c = components;
    this.log = components.logger.child({ component: 'relay-client' });
    this.pending = new PendingRequests(options.requestTimeoutMs);
    if (options.reachability !== 'auto') this.state = options.reachability;
    for (const r of options.relays) this.addCandidate(r);
  }

  /** Whether our listening port is reachable from outside, as far as we know. */
  get reachability(): Reachability {
    return this.state;
  }

  /** The relays held right now. */
  relays(): Endpoint[] {
    return [...this.held.values()].map((r) => ({ ...r.endpoint }));
  }

  /** `behindProxy`: no external end point (spec §8), so unreachable without asking. */
  start(behindProxy = false): void {
    if (this.running) return;
    this.running = true;
    if (behindProxy) this.state = 'unreachable';
    this.probe = this.options.reachability === 'auto' && !behindProxy;
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.stop();
    // A lookup under way ends with the DHT; nothing waits for it.
    await this.busy;
    this.held.clear();
    this.stats.relays = 0;
  }

  /** A relay end point from the DHT (or config). */
  addCandidate(endpoint: Endpoint): void {
    const host = normalizeHost(endpoint.host);
    if (!isIPv4(host) || !(endpoint.port > 0)) return;
    if (!this.options.allowPrivateAddresses && isPrivateV4(host)) return;
    const key = endpointKey({ host, port: endpoint.port });
    if (this.candidates.has(key)) return;
    if (this.candidates.size >= MAX_CANDIDATES) this.candidates.delete(this.candidates.keys().next().value as string);
    this.candidates.set(key, { host, port: endpoint.port });
    this.stats.candidates = this.candidates.size;
    if (this.state !== 'reachable' && this.held.size < this.options.maxRelays) this.kick();
  }

  /** `hooks.announce`: track the network and register it with every relay held. */
  onAnnounce(networkId: NetworkId): void {
    const key = networkId.toString('hex');
    if (this.networks.has(key)) return;
    this.networks.set(key, Buffer.from(networkId));
    for (const relay of this.held.values()) void this.register(relay, [networkId]);
    if (this.state === 'unreachable' && this.held.size < this.options.maxRelays) this.kick();
  }

  /** `hooks.withdraw`: stop relaying the network. */
  onWithdraw(networkId: NetworkId): void {
    const key = networkId.toString('hex');
    if (!this.networks.delete(key)) return;
    for (const relay of this.held.values()) {
      this.pending.send(relay.connection, Signal.STOP_TCP_RELAY, (id) => encodeRelayStop([networkId], id)).catch(() => undefined);
    }
  }

  /** Signal 12 from any connection. */
  onResponse(frame: Frame, from: Connection): void {
    this.pending.onResponse(frame, from);
  }

  /** Signal 13: a relay tells us where a network's relayed peers are; tunnel to each through it. */
  onPeerList(frame: Frame, from: Connection): void {
    this.stats.peerListsReceived++;
    const own = this.c.connections.peerId;
    const networkId = [...this.networks.values()].find((id) => channelName(id, own, from.peerId).equals(frame.name));
    if (!networkId) {
      this.stats.peerListsIgnored++;
      return;
    }
    let endpoints: Endpoint[];
    try {
      endpoints = decodePeerList(frame.data);
    } catch {
      this.stats.malformedPeerLists++;
      return;
    }
    const relayKey = endpointKey(from.info.remote);
    for (const endpoint of endpoints.slice(0, MAX_TUNNELS_PER_PEER_LIST)) {
      const key = endpointKey(endpoint);
      if (key === relayKey) continue;
      this.markRelayed(key);
      const existing = this.c.connections.connections.find((c) => !c.closed && endpointKey(c.info.remote) === key);
      const link = existing ? Promise.resolve(existing) : this.c.connections.connectVia(endpoint, from);
      link.then(
        () => {
          if (!existing) this.stats.tunnelsOpened++;
          this.c.reportPeer(networkId, endpoint);
        },
        (err: unknown) => {
          this.stats.tunnelFailures++;
          this.log.debug({ err }, 'tunnel through relay failed');
        },
      );
    }
  }

  /**
   * Whether `endpoint` is a peer a relay listed lately: it told its relay it cannot be
   * reached, so a direct dial would only wait for a timeout.
   */
  isRelayed(endpoint: Endpoint): boolean {
    const key = endpointKey(endpoint);
    const until = this.relayedUntil.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.relayedUntil.delete(key);
    return false;
  }

  private markRelayed(key: string): void {
    this.relayedUntil.delete(key);
    if (this.relayedUntil.size >= MAX_RELAYED_ENDPOINTS) this.relayedUntil.delete(this.relayedUntil.keys().next().value as string);
    this.relayedUntil.set(key, Date.now() + RELAYED_ENDPOINT_TTL_MS);
  }

  /** Run an upkeep round now (or right after the one under way). */
  private kick(): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.busy = this.upkeep().finally(() => {
      this.busy = undefined;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.kick();
        return;
      }
      const wait = this.state === 'unknown' ? this.options.reachabilityRetryMs : this.options.intervalMs;
      this.timer = setTimeout(() => this.kick(), wait);
    });
  }

  private async upkeep(): Promise<void> {
    try {
      // A DHT lookup can wait seconds on dead nodes: run it beside the round, one at a time;
      // what it finds arrives through addCandidate, which starts another round.
      if (this.c.lookupRelays && !this.lookingUp && (this.state !== 'reachable' || this.probe)) {
        this.lookingUp = this.c
          .lookupRelays()
          .catch(() => undefined)
          .finally(() => {
            this.lookingUp = undefined;
          });
      }
      if (this.probe && Date.now() >= this.nextProbeAt) await this.checkReachability();
      if (!this.running) return;
      if (this.state === 'unreachable') await this.fillRelays();
      else if (this.state === 'reachable') this.releaseRelays();
    } catch (err) {
      this.log.debug({ err }, 'relay upkeep failed');
    }
  }

  /** Ask a relay (held ones first, then candidates) to dial us back. */
  private async checkReachability(): Promise<void> {
    const tried = new Set<string>();
    const targets = [...[...this.held.values()].map((r) => r.endpoint), ...this.candidates.values()];
    let attempts = 0;
    for (const endpoint of targets) {
      const key = endpointKey(endpoint);
      if (tried.has(key) || attempts >= MAX_ATTEMPTS_PER_ROUND || !this.running) continue;
      if ((this.failedUntil.get(key) ?? 0) > Date.now()) continue;
      tried.add(key);
      attempts++;
      try {
        const connection = await this.c.connections.connect(endpoint);
        if (connection.virtual) continue;
        this.stats.probesSent++;
        const status = await this.pending.send(connection, Signal.START_TCP_RELAY, (id) => encodeRelayRequest({ kind: 'probe' }, id));
        if (status === RelayStatus.REACHABLE || status === RelayStatus.UNREACHABLE) {
          const next: Reachability = status === RelayStatus.REACHABLE ? 'reachable' : 'unreachable';
          if (next !== this.state) this.log.info({ reachability: next }, 'reachability changed');
          this.state = next;
          this.nextProbeAt = Date.now() + this.options.reachabilityIntervalMs;
          return;
        }
      } catch {
        this.failedUntil.set(key, Date.now() + this.options.candidateBackoffMs);
      }
    }
    this.nextProbeAt = Date.now() + this.options.reachabilityRetryMs;
  }

  private async fillRelays(): Promise<void> {
    if (this.networks.size === 0) return;
    let attempts = 0;
    for (const [key, endpoint] of [...this.candidates]) {
      if (this.held.size >= this.options.maxRelays || attempts >= MAX_ATTEMPTS_PER_ROUND || !this.running) return;
      if (this.held.has(key) || (this.failedUntil.get(key) ?? 0) > Date.now()) continue;
      attempts++;
      try {
        const connection = await this.c.connections.connect(endpoint);
        // Relays must be real links, one per relay node.
        if (connection.virtual || [...this.held.values()].some((r) => r.connection === connection)) continue;
        const relay: HeldRelay = { endpoint, connection };
        const status = await this.register(relay, [...this.networks.values()], false);
        if (status !== RelayStatus.OK && status !== RelayStatus.LIMIT) throw new Error(`relay answered ${status}`);
        if (!this.running || connection.closed) continue;
        this.hold(key, relay);
      } catch (err) {
        this.log.debug({ err, relay: key }, 'relay refused or unreachable');
        this.failedUntil.set(key, Date.now() + this.options.candidateBackoffMs);
      }
    }
  }

  private hold(key: string, relay: HeldRelay): void {
    this.held.set(key, relay);
    this.stats.relays = this.held.size;
    this.stats.relaysAdded++;
    this.log.info({ relay: key }, 'relay added');
    relay.connection.once('close', () => this.lose(key, relay));
  }

  private lose(key: string, relay: HeldRelay): void {
    if (this.held.get(key) !== relay) return;
    this.held.delete(key);
    this.pending.forget(relay.connection);
    this.stats.relays = this.held.size;
    this.stats.relaysLost++;
    this.failedUntil.set(key, Date.now() + this.options.candidateBackoffMs);
    this.log.info({ relay: key }, 'relay lost');
    this.kick();
  }

  /** Register networks with one relay; a relay that does not answer is dropped (spec: 10 s). */
  private async register(relay: HeldRelay, networkIds: NetworkId[], dropOnFailure = true): Promise<RelayStatusValue> {
    let status: RelayStatusValue = RelayStatus.OK;
    try {
      for (let i = 0; i < networkIds.length; i += MAX_NETWORKS_PER_REQUEST) {
        const chunk = networkIds.slice(i, i + MAX_NETWORKS_PER_REQUEST);
        this.stats.registrationsSent++;
        const answer = await this.pending.send(relay.connection, Signal.START_TCP_RELAY, (id) => encodeRelayRequest({ kind: 'register', networkIds: chunk }, id));
        if (answer !== RelayStatus.OK) status = answer;
      }
    } catch (err) {
      this.stats.registrationFailures++;
      if (!dropOnFailure) throw err;
      this.lose(endpointKey(relay.endpoint), relay);
    }
    return status;
  }

  /** Reachable again: tell relays to drop our records and stop holding them. */
  private releaseRelays(): void {
    for (const [key, relay] of [...this.held]) {
      this.held.delete(key);
      this.pending.send(relay.connection, Signal.STOP_TCP_RELAY, (id) => encodeRelayStop([], id)).catch(() => undefined);
    }
    this.stats.relays = 0;
  }
}
