/**
 * The relay service (PROTOCOL.md §1.9, relay side). Clients that cannot accept
 * inbound connections register their networks; the relay announces each network
 * with **its own** port on its DHT node and trackers (never on URLs a client
 * names), answers a member that opens that network's channel with the clients'
 * end points (signal 13), and splices the tunnels the member then opens (the
 * connection layer's signal 4, under this service's tunnel policy: caps and a
 * per-tunnel byte rate). It also answers reachability probes (dial-backs).
 *
 * Records are shared by all clients of a network and dropped when the last
 * client leaves (signal 11 or disconnect). Every resource is capped.
 */
import type { Logger } from 'pino';
import { channelName } from '../../core/chat/network-id.js';
import type { ChannelRequest, Connection } from '../../core/connection/connection.js';
import { Signal } from '../../core/connection/constants.js';
import type { Frame } from '../../core/connection/frame.js';
import type { ConnectionManager } from '../../core/connection/manager.js';
import type { TunnelDecision } from '../../core/connection/tunnel.js';
import type { NetworkId } from '../../core/types.js';
import { MAX_PEER_LIST, RELAY_INFO_HASH, RelayStatus, type RelayStatusValue } from './constants.js';
import { dialBack } from './reachability.js';
import { decodeRelayRequest, decodeRelayStop, encodePeerList, encodeRelayResponse } from './wire.js';

/** Where the relay publishes networks: the `dht` and `trackers` services have this shape. */
export interface Publisher {
  announce(networkId: NetworkId, port: number): Promise<void>;
  withdraw(networkId: NetworkId): Promise<void>;
}

export interface RelayServiceOptions {
  /** Act as a relay (register clients, announce, splice). Probes are answered either way when `answerProbes`. */
  serve: boolean;
  answerProbes: boolean;
  maxClients: number;
  maxNetworksPerClient: number;
  maxNetworks: number;
  maxTunnels: number;
  /** Per tunnel and direction; 0 = unlimited. */
  tunnelBytesPerSecond: number;
  probeMinIntervalMs: number;
  probeDialTimeoutMs: number;
}

export interface RelayServiceComponents {
  connections: ConnectionManager;
  logger: Logger;
  /** Resolved at start (the dht and trackers services, when loaded). */
  publishers: () => Publisher[];
}

/** Plain counters; read them, never write them. */
export interface RelayServiceStats {
  /** Clients with at least one network right now. */
  clients: number;
  /** Relayed networks (records) right now. */
  networks: number;
  registrations: number;
  /** Registrations (or networks in them) refused at a cap. */
  registrationsRefused: number;
  malformedRequests: number;
  peerListsSent: number;
  /** Tunnels to clients spliced right now, and in total. */
  tunnelsActive: number;
  tunnelsRelayed: number;
  tunnelsRefused: number;
  probesAnswered: number;
  probesReachable: number;
  probesRateLimited: number;
  announceErrors: number;
}

interface NetworkRecord {
  networkId: NetworkId;
  /** Client connections by peer ID (hex). */
  clients: Map<string, Connection>;
}

interface ClientEntry {
  connection: Connection;
  networks: Set<string>;
}

export class RelayService {
  readonly stats: RelayServiceStats = {
    clients: 0,
    networks: 0,
    registrations: 0,
    registrationsRefused: 0,
    malformedRequests: 0,
    peerListsSent: 0,
    tunnelsActive: 0,
    tunnelsRelayed: 0,
    tunnelsRefused: 0,
    probesAnswered: 0,
    probesReachable: 0,
    probesRateLimited: 0,
    announceErrors: 0,
  };
  private readonly options: RelayServiceOptions;
  private readonly c: RelayServiceComponents;
  private readonly log: Logger;
  private readonly records = new Map<string, NetworkRecord>();
  private readonly clients = new Map<string, ClientEntry>();
  private readonly lastProbe = new WeakMap<Connection, number>();
  private readonly unsubscribe: Array<() => void> = [];
  private running = false;
  /** Aborts dial-backs under way when the node stops. */
  private probes = new AbortController();
  /** `serve`, unless the node's network policy rules serving out (behind a proxy). */
  private serving = false;
  /** Dial-backs open raw TCP sockets: only where direct TCP is allowed. */
  private probing = false;

  constructor(options: RelayServiceOptions, components: RelayServiceComponents) {
    this.options = options;
    this.c = components;
    this.log = components.logger.child({ component: 'relay-service' });
  }

  /** The networks relayed right now (for tools and tests). */
  relayedNetworks(): NetworkId[] {
    return [...this.records.values()].map((r) => Buffer.from(r.networkId));
  }

  /** Peer IDs (hex) of the clients registered right now. */
  clientIds(): string[] {
    return [...this.clients.keys()];
  }

  /** Whether this node serves as a relay right now. */
  get isServing(): boolean {
    return this.serving;
  }

  /**
   * `behindProxy`: the node's outbound TCP goes through a proxy (spec §8): it has no
   * external end point to offer, so it does not serve, and it cannot dial back directly.
   */
  start(behindProxy = false): void {
    if (this.running) return;
    this.running = true;
    this.probes = new AbortController();
    this.serving = this.options.serve && !behindProxy;
    this.probing = this.options.answerProbes && !behindProxy;
    const { connections } = this.c;
    const onDisconnection = (connection: Connection): void => this.dropClient(connection);
    connections.on('disconnection', onDisconnection);
    this.unsubscribe.push(() => connections.off('disconnection', onDisconnection));
    if (this.serving) {
      this.unsubscribe.push(connections.onChannel((request) => this.onChannel(request)));
      this.unsubscribe.push(connections.setTunnelPolicy((near, far) => this.tunnelPolicy(near, far)));
      this.publish(RELAY_INFO_HASH);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.probes.abort();
    for (const off of this.unsubscribe.splice(0)) off();
    const withdrawals: Promise<void>[] = [];
    if (this.serving) withdrawals.push(...this.withdrawAll(RELAY_INFO_HASH));
    this.serving = false;
    for (const record of this.records.values()) withdrawals.push(...this.withdrawAll(record.networkId));
    this.records.clear();
    this.clients.clear();
    this.stats.clients = 0;
    this.stats.networks = 0;
    await Promise.all(withdrawals);
  }

  /** Signal 10 (register or probe). */
  onStart(frame: Frame, from: Connection): void {
    if (!this.running) return;
    let request;
    try {
      request = decodeRelayRequest(frame.data, frame.name);
    } catch {
      this.stats.malformedRequests++;
      this.answer(from, frame.name, RelayStatus.REFUSED);
      return;
    }
    if (request.kind === 'probe') {
      void this.onProbe(frame.name, from);
      return;
    }
    if (!this.serving) return this.answer(from, frame.name, RelayStatus.NOT_SERVING);
    // A tunnel's far end would be another relay's client: relays serve real links only.
    if (from.virtual) return this.answer(from, frame.name, RelayStatus.REFUSED);
    this.answer(from, frame.name, this.register(from, request.networkIds));
  }

  /** Signal 11. */
  onStop(frame: Frame, from: Connection): void {
    if (!this.running) return;
    let ids: NetworkId[];
    try {
      ids = decodeRelayStop(frame.data, frame.name);
    } catch {
      this.stats.malformedRequests++;
      this.answer(from, frame.name, RelayStatus.REFUSED);
      return;
    }
    if (ids.length === 0) this.dropClient(from);
    else for (const id of ids) this.removeMembership(from.peerId.toString('hex'), id.toString('hex'));
    this.answer(from, frame.name, RelayStatus.OK);
  }

  private answer(to: Connection, requestId: Buffer, status: RelayStatusValue): void {
    to.sendControl(Signal.TCP_RELAY_RESPONSE_SUCCESS, requestId, encodeRelayResponse(status));
  }

  private register(from: Connection, networkIds: NetworkId[]): RelayStatusValue {
    const peerKey = from.peerId.toString('hex');
    let client = this.clients.get(peerKey);
    if (client && client.connection !== from) {
      // The same node on a new link: the old link's records go, the new one takes over.
      this.dropClient(client.connection);
      client = undefined;
    }
    if (!client) {
      if (this.clients.size >= this.options.maxClients) {
        this.stats.registrationsRefused++;
        return RelayStatus.LIMIT;
      }
      client = { connection: from, networks: new Set() };
      this.clients.set(peerKey, client);
      this.stats.clients = this.clients.size;
    }
    let refused = false;
    for (const id of networkIds) {
      const key = id.toString('hex');
      if (client.networks.has(key)) continue;
      let record = this.records.get(key);
      if (client.networks.size >= this.options.maxNetworksPerClient || (!record && this.records.size >= this.options.maxNetworks)) {
        refused = true;
        continue;
      }
      if (!record) {
        record = { networkId: Buffer.from(id), clients: new Map() };
        this.records.set(key, record);
        this.publish(record.networkId);
      }
      record.clients.set(peerKey, from);
      client.networks.add(key);
    }
    if (client.networks.size === 0) {
      this.clients.delete(peerKey);
      this.stats.clients = this.clients.size;
    }
    this.stats.networks = this.records.size;
    this.stats.registrations++;
    if (refused) this.stats.registrationsRefused++;
    return refused ? RelayStatus.LIMIT : RelayStatus.OK;
  }

  private removeMembership(peerKey: string, networkKey: string): void {
    const record = this.records.get(networkKey);
    const client = this.clients.get(peerKey);
    client?.networks.delete(networkKey);
    if (client && client.networks.size === 0) this.clients.delete(peerKey);
    if (record) {
      record.clients.delete(peerKey);
      if (record.clients.size === 0) {
        this.records.delete(networkKey);
        void Promise.all(this.withdrawAll(record.networkId));
      }
    }
    this.stats.clients = this.clients.size;
    this.stats.networks = this.records.size;
  }

  /** A client left (disconnect or stop-all): every record of it goes. */
  private dropClient(connection: Connection): void {
    const peerKey = connection.peerId.toString('hex');
    const client = this.clients.get(peerKey);
    if (!client || client.connection !== connection) return;
    for (const networkKey of [...client.networks]) this.removeMembership(peerKey, networkKey);
  }

  private publish(networkId: NetworkId): void {
    const port = this.c.connections.localPort;
    for (const p of this.c.publishers()) {
      p.announce(networkId, port).catch((err: unknown) => {
        this.stats.announceErrors++;
        this.log.debug({ err }, 'relay announce failed');
      });
    }
  }

  private withdrawAll(networkId: NetworkId): Promise<void>[] {
    return this.c.publishers().map((p) =>
      p.withdraw(networkId).catch((err: unknown) => {
        this.log.debug({ err }, 'relay withdraw failed');
      }),
    );
  }

  /** A member opens a network channel to us: if it is a relayed network, tell it where the clients are. */
  private onChannel(request: ChannelRequest): void {
    if (request.signal !== Signal.CONNECT_CHANNEL || this.records.size === 0) return;
    const own = this.c.connections.peerId;
    const asker = request.connection;
    for (const record of this.records.values()) {
      if (!channelName(record.networkId, own, asker.peerId).equals(request.name)) continue;
      const endpoints = [...record.clients.values()]
        .filter((c) => c !== asker && !c.closed)
        .slice(0, MAX_PEER_LIST)
        .map((c) => c.info.remote);
      asker.sendControl(Signal.TCP_RELAY_RESPONSE_PEER_LIST, request.name, encodePeerList(endpoints));
      this.stats.peerListsSent++;
      // Undecided: a chat on this node in the same network may accept it; otherwise the
      // connection layer refuses it once every handler had its say.
      return;
    }
  }

  /** Tunnels to our clients are capped and rate-limited; others get the connection layer's default. */
  private tunnelPolicy(_near: Connection, far: Connection): TunnelDecision {
    const client = this.clients.get(far.peerId.toString('hex'));
    if (!client || client.connection !== far) return undefined;
    if (this.stats.tunnelsActive >= this.options.maxTunnels) {
      this.stats.tunnelsRefused++;
      return false;
    }
    this.stats.tunnelsActive++;
    this.stats.tunnelsRelayed++;
    const rate = this.options.tunnelBytesPerSecond;
    return {
      bytesPerSecond: rate,
      onClose: () => {
        this.stats.tunnelsActive--;
      },
    };
  }

  private async onProbe(requestId: Buffer, from: Connection): Promise<void> {
    if (!this.probing || from.virtual) return this.answer(from, requestId, RelayStatus.REFUSED);
    const now = Date.now();
    const last = this.lastProbe.get(from);
    if (last !== undefined && now - last < this.options.probeMinIntervalMs) {
      this.stats.probesRateLimited++;
      return this.answer(from, requestId, RelayStatus.RATE_LIMITED);
    }
    this.lastProbe.set(from, now);
    this.stats.probesAnswered++;
    const ok = await dialBack(from.info.remote, from.peerId, this.options.probeDialTimeoutMs, this.probes.signal);
    if (ok) this.stats.probesReachable++;
    if (this.running) this.answer(from, requestId, ok ? RelayStatus.REACHABLE : RelayStatus.UNREACHABLE);
  }
}
