/**
 * Peer discovery on the BitTorrent mainline DHT (BEP 5) through `bittorrent-dht`.
 * A chat's network ID is the info-hash; we announce our service port under it
 * and report the peers that lookups return.
 *
 * The service owns one DHT node (one UDP socket). It re-announces each network
 * on a timer (faster while the chat's mesh is incomplete), keeps the routing
 * table in a `RoutingTableStore` between runs, and never reports ourselves,
 * duplicates, or (unless allowed) private addresses.
 */
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import DHT, { type DhtNode, type DhtPeer } from 'bittorrent-dht';
import type { Endpoint, NetworkId } from '../../core/types.js';
import { endpointKey, localAddresses, normaliseHost, parseHostPort, rejectEndpoint } from './address-policy.js';
import {
  DEFAULT_ANNOUNCE_INTERVAL_MS,
  FAST_ANNOUNCE_INTERVAL_MS,
  MAX_NETWORKS,
  MAX_PEERS_PER_NETWORK,
  MAX_PEERS_PER_SOURCE,
  MAX_SOURCES_PER_ROUND,
  MAX_SAVED_NODES,
  MAX_STORED_PEERS,
  MIN_ANNOUNCE_INTERVAL_MS,
  NETWORK_ID_BYTES,
  NODE_SAVE_INTERVAL_MS,
  SETTLE_DELAYS_MS,
  STORED_PEER_MAX_AGE_MS,
} from './constants.js';
import { DhtError } from './errors.js';
import type { RoutingTableStore, SavedNode } from './node-store.js';

export interface DhtDiscoveryOptions {
  /** Bootstrap nodes as "host:port". Empty: none (a private DHT, or a rejoin from saved nodes only). */
  bootstrap: string[];
  /** UDP port of the DHT node; 0 picks a free one. */
  port: number;
  /** Address the DHT socket binds to. */
  host: string;
  /** Report and keep loopback/private addresses (tests, LAN-only set-ups). */
  allowPrivateAddresses: boolean;
  /** Re-announce period once a chat's mesh is complete. */
  announceIntervalMs?: number;
  /** Re-announce period while a chat's mesh is incomplete (see `setMeshIncomplete`). */
  fastAnnounceIntervalMs?: number;
  /** Early re-announce delays after the first round while the mesh is incomplete. @default 2 s, 5 s, 15 s */
  settleDelaysMs?: number[];
  /** Per-query timeout of the K-RPC layer (library default 2 s). */
  queryTimeoutMs?: number;
  /** Peers remembered per network for de-duplication (oldest forgotten first). */
  maxPeersPerNetwork?: number;
  /** Peers taken from one replying node per round; more are dropped and counted. */
  maxPeersPerSource?: number;
  /** Where the routing table is kept between runs. */
  nodeStore?: RoutingTableStore;
  /** Use this UDP socket (tests wrap `send` to prove nothing leaves loopback). */
  socket?: Socket;
  /** Fixed node ID (tests); random otherwise. */
  nodeId?: Buffer;
}

export interface DhtDiscoveryCallbacks {
  /** A new peer end point for a network we announce or look up. */
  onPeer(networkId: NetworkId, endpoint: Endpoint): void;
  /** Something went wrong that the caller may want to log (never secrets). */
  onWarning?(message: string): void;
}

/** Plain counters (read by the UI, benchmarks and tests). */
export interface DhtStats {
  announces: number;
  announceErrors: number;
  lookups: number;
  lookupErrors: number;
  /** Distinct peers reported. */
  peersFound: number;
  /** Peers refused by the address policy (private/invalid) or because they are us. */
  peersFiltered: number;
  /** Peers beyond `maxPeersPerSource` from one node, or for a network we no longer track. */
  peersDropped: number;
  /** Packets the K-RPC layer could not use (bad bencode, unknown transaction...). */
  malformedPackets: number;
  /** Routing-table nodes refused by the address policy. */
  nodesFiltered: number;
  /** Nodes restored from the store at start. */
  nodesRestored: number;
}

interface NetworkEntry {
  networkId: NetworkId;
  /** 0 while only looked up (never announced). */
  port: number;
  fast: boolean;
  /** Announce rounds done since the last `announce()` call. */
  rounds: number;
  timer: NodeJS.Timeout | null;
  /** Reported peers, insertion-ordered so the oldest can be forgotten. */
  peers: Set<string>;
  /** Peers taken per replying node in the current round. */
  perSource: Map<string, number>;
  /** Lookups in flight that asked for this entry (a lookup-only entry lives while > 0). */
  lookupsInFlight: number;
}

function newStats(): DhtStats {
  return {
    announces: 0,
    announceErrors: 0,
    lookups: 0,
    lookupErrors: 0,
    peersFound: 0,
    peersFiltered: 0,
    peersDropped: 0,
    malformedPackets: 0,
    nodesFiltered: 0,
    nodesRestored: 0,
  };
}

function checkNetworkId(networkId: NetworkId): void {
  if (!Buffer.isBuffer(networkId) || networkId.length !== NETWORK_ID_BYTES) {
    throw DhtError.badNetworkId(Buffer.isBuffer(networkId) ? networkId.length : -1);
  }
}

export class DhtDiscovery {
  readonly stats: DhtStats = newStats();
  readonly #options: DhtDiscoveryOptions;
  readonly #callbacks: DhtDiscoveryCallbacks;
  readonly #networks = new Map<string, NetworkEntry>();
  readonly #announceIntervalMs: number;
  readonly #fastIntervalMs: number;
  readonly #maxPeers: number;
  readonly #maxPerSource: number;
  #dht: DHT | null = null;
  #saveTimer: NodeJS.Timeout | null = null;
  #local: Set<string> = new Set();

  constructor(options: DhtDiscoveryOptions, callbacks: DhtDiscoveryCallbacks) {
    this.#options = options;
    this.#callbacks = callbacks;
    this.#announceIntervalMs = Math.max(MIN_ANNOUNCE_INTERVAL_MS, options.announceIntervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS);
    this.#fastIntervalMs = Math.max(MIN_ANNOUNCE_INTERVAL_MS, options.fastAnnounceIntervalMs ?? FAST_ANNOUNCE_INTERVAL_MS);
    this.#maxPeers = options.maxPeersPerNetwork ?? MAX_PEERS_PER_NETWORK;
    this.#maxPerSource = options.maxPeersPerSource ?? MAX_PEERS_PER_SOURCE;
  }

  /** The underlying `bittorrent-dht` node (for the relay plugin); throws before start. */
  get dht(): DHT {
    if (!this.#dht) throw DhtError.notStarted();
    return this.#dht;
  }

  get running(): boolean {
    return this.#dht !== null;
  }

  /** The bound UDP end point of the DHT node. */
  address(): Endpoint {
    const a = this.dht.address();
    return { host: a.address, port: a.port };
  }

  /** Nodes in the routing table now. */
  nodeCount(): number {
    return this.#dht ? this.#dht.nodes.count() : 0;
  }

  /** Networks currently announced. */
  announcedNetworks(): NetworkId[] {
    return [...this.#networks.values()].filter((e) => e.port > 0).map((e) => e.networkId);
  }

  async start(): Promise<void> {
    if (this.#dht) return;
    this.#local = localAddresses();
    const bootstrap = this.#options.bootstrap.filter((b) => this.#acceptBootstrap(b));
    const dht = new DHT({
      // `false`, never undefined: an unset bootstrap makes the library call the public routers.
      bootstrap: bootstrap.length > 0 ? bootstrap : false,
      // Announces others store on us expire, as BEP 5 intends (the library keeps them forever).
      maxAge: STORED_PEER_MAX_AGE_MS,
      maxPeers: MAX_STORED_PEERS,
      ...(this.#options.nodeId ? { nodeId: this.#options.nodeId } : {}),
      ...(this.#options.socket ? { socket: this.#options.socket } : {}),
      ...(this.#options.queryTimeoutMs ? { timeout: this.#options.queryTimeoutMs } : {}),
    });
    // Listen in the same tick: a query before listen() binds 0.0.0.0 on its own.
    dht.listen(this.#options.port, this.#options.host);
    this.#dht = dht;
    dht.on('peer', (peer: DhtPeer, infoHash: Buffer, from: DhtNode | null) => this.#onPeer(peer, infoHash, from));
    dht.on('node', (node: DhtNode) => this.#onNode(node));
    dht.on('warning', () => {
      this.stats.malformedPackets++;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        dht.once('error', onError);
        dht.once('listening', () => {
          dht.off('error', onError);
          resolve();
        });
      });
    } catch (err) {
      this.#dht = null;
      await new Promise<void>((resolve) => dht.destroy(() => resolve()));
      throw new DhtError('ERR_DHT_LISTEN', `DHT could not listen on ${this.#options.host}:${this.#options.port}`, { cause: err });
    }
    // Later socket errors must not crash the process (EventEmitter throws on unhandled 'error').
    dht.on('error', (err: Error) => this.#callbacks.onWarning?.(`DHT socket error: ${err.message}`));
    this.#restoreNodes(dht);
    this.#saveTimer = setInterval(() => this.#saveNodes(), NODE_SAVE_INTERVAL_MS);
    this.#saveTimer.unref();
  }

  async stop(): Promise<void> {
    const dht = this.#dht;
    if (!dht) return;
    for (const entry of this.#networks.values()) this.#clearTimer(entry);
    this.#networks.clear();
    if (this.#saveTimer) clearInterval(this.#saveTimer);
    this.#saveTimer = null;
    this.#saveNodes();
    this.#dht = null;
    await new Promise<void>((resolve) => dht.destroy(() => resolve()));
  }

  /**
   * Announce `port` under `networkId` now and on the re-announce timer. The
   * promise settles when the first round finishes; network failures are
   * counted, not thrown (a DHT round fails whenever the table is empty).
   */
  async announce(networkId: NetworkId, port: number): Promise<void> {
    checkNetworkId(networkId);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw DhtError.badPort(port);
    if (!this.#dht) throw DhtError.notStarted();
    const entry = this.#entry(networkId, true);
    entry.port = port;
    entry.rounds = 0;
    this.#clearTimer(entry);
    await this.#announceRound(entry);
  }

  /** Stop announcing `networkId` (mainline DHT has no un-announce: stored entries age out). */
  async withdraw(networkId: NetworkId): Promise<void> {
    checkNetworkId(networkId);
    const key = networkId.toString('hex');
    const entry = this.#networks.get(key);
    if (!entry) return;
    this.#clearTimer(entry);
    this.#networks.delete(key);
  }

  /** Look peers up now; resolves when the lookup finishes (peers arrive through `onPeer`). */
  async lookup(networkId: NetworkId): Promise<void> {
    checkNetworkId(networkId);
    const dht = this.#dht;
    if (!dht) throw DhtError.notStarted();
    const entry = this.#entry(networkId, false);
    entry.lookupsInFlight++;
    entry.perSource.clear();
    this.stats.lookups++;
    try {
      await new Promise<void>((resolve) => {
        dht.lookup(networkId, (err) => {
          if (err) this.stats.lookupErrors++;
          resolve();
        });
      });
    } finally {
      entry.lookupsInFlight--;
      this.#dropIfIdle(entry);
    }
  }

  /**
   * Tell the DHT whether a chat's mesh is incomplete: while it is, the network
   * is re-announced every `fastAnnounceIntervalMs` instead of `announceIntervalMs`.
   */
  setMeshIncomplete(networkId: NetworkId, incomplete: boolean): void {
    checkNetworkId(networkId);
    const entry = this.#networks.get(networkId.toString('hex'));
    if (!entry || entry.port === 0 || entry.fast === incomplete) return;
    entry.fast = incomplete;
    // Re-arm so a switch to fast takes effect now, not after the slow period.
    if (entry.timer) this.#schedule(entry);
  }

  /** Routing-table nodes with IDs, as they would be saved. */
  snapshotNodes(): SavedNode[] {
    if (!this.#dht) return [];
    const out: SavedNode[] = [];
    for (const n of this.#dht.nodes.toArray()) {
      if (!n.id || n.id.length !== NETWORK_ID_BYTES) continue;
      out.push({ id: Buffer.from(n.id), host: n.host, port: n.port });
      if (out.length >= MAX_SAVED_NODES) break;
    }
    return out;
  }

  #entry(networkId: NetworkId, forAnnounce: boolean): NetworkEntry {
    const key = networkId.toString('hex');
    let entry = this.#networks.get(key);
    if (!entry) {
      if (this.#networks.size >= MAX_NETWORKS) throw DhtError.tooManyNetworks(MAX_NETWORKS);
      entry = { networkId: Buffer.from(networkId), port: 0, fast: forAnnounce, rounds: 0, timer: null, peers: new Set(), perSource: new Map(), lookupsInFlight: 0 };
      this.#networks.set(key, entry);
    }
    return entry;
  }

  #dropIfIdle(entry: NetworkEntry): void {
    const key = entry.networkId.toString('hex');
    if (entry.port === 0 && entry.lookupsInFlight === 0 && this.#networks.get(key) === entry) this.#networks.delete(key);
  }

  async #announceRound(entry: NetworkEntry): Promise<void> {
    const dht = this.#dht;
    if (!dht) return;
    this.stats.announces++;
    entry.rounds++;
    entry.perSource.clear();
    // Look up first, every round: bittorrent-dht's announce only looks up when it has no
    // cached table for the hash (5 min), so a re-announce alone would never find newcomers.
    // The lookup leaves that table behind, and the announce then goes to its closest nodes.
    await new Promise<void>((resolve) => {
      dht.lookup(entry.networkId, () => resolve());
    });
    if (this.#dht !== dht) return;
    await new Promise<void>((resolve) => {
      dht.announce(entry.networkId, entry.port, (err) => {
        if (err) {
          this.stats.announceErrors++;
          this.#callbacks.onWarning?.(`DHT announce failed: ${err.message}`);
        }
        resolve();
      });
    });
    // Still announced by us (not withdrawn or stopped meanwhile)?
    if (this.#networks.get(entry.networkId.toString('hex')) === entry && entry.port > 0 && this.#dht === dht) this.#schedule(entry);
  }

  #schedule(entry: NetworkEntry): void {
    this.#clearTimer(entry);
    const settle = this.#options.settleDelaysMs ?? SETTLE_DELAYS_MS;
    const early = entry.fast ? settle[entry.rounds - 1] : undefined;
    const delay = early !== undefined ? Math.min(early, this.#fastIntervalMs) : entry.fast ? this.#fastIntervalMs : this.#announceIntervalMs;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void this.#announceRound(entry);
    }, delay);
    entry.timer.unref();
  }

  #clearTimer(entry: NetworkEntry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
  }

  #onPeer(peer: DhtPeer, infoHash: Buffer, from: DhtNode | null): void {
    const entry = Buffer.isBuffer(infoHash) ? this.#networks.get(infoHash.toString('hex')) : undefined;
    if (!entry || !this.#takeFromSource(entry, from)) {
      this.stats.peersDropped++;
      return;
    }
    const endpoint: Endpoint = { host: normaliseHost(String(peer.host)), port: Number(peer.port) };
    if (rejectEndpoint(endpoint, this.#options.allowPrivateAddresses) !== null || this.#isSelf(entry, endpoint)) {
      this.stats.peersFiltered++;
      return;
    }
    const key = endpointKey(endpoint);
    if (entry.peers.has(key)) return;
    if (entry.peers.size >= this.#maxPeers) {
      // Forget the oldest: it may be reported again later, which core tolerates.
      const oldest = entry.peers.values().next().value;
      if (oldest !== undefined) entry.peers.delete(oldest);
    }
    entry.peers.add(key);
    this.stats.peersFound++;
    this.#callbacks.onPeer(entry.networkId, endpoint);
  }

  /** Count one peer against the node that sent it; false once that node is over its share. */
  #takeFromSource(entry: NetworkEntry, from: DhtNode | null): boolean {
    // null: peers from our own store (announces others made to us).
    const key = from ? `${from.host}:${from.port}` : 'self';
    const taken = entry.perSource.get(key) ?? 0;
    if (taken >= this.#maxPerSource) return false;
    if (taken === 0 && entry.perSource.size >= MAX_SOURCES_PER_ROUND) return false;
    entry.perSource.set(key, taken + 1);
    return true;
  }

  /** Our own announce comes back from the DHT: same port on one of our addresses. */
  #isSelf(entry: NetworkEntry, endpoint: Endpoint): boolean {
    return entry.port > 0 && endpoint.port === entry.port && this.#local.has(endpoint.host);
  }

  #onNode(node: DhtNode): void {
    if (!this.#options.allowPrivateAddresses && rejectEndpoint({ host: node.host, port: node.port }, false) !== null) {
      this.stats.nodesFiltered++;
      if (node.id && this.#dht) this.#dht.removeNode(node.id);
    }
  }

  #acceptBootstrap(entry: string): boolean {
    const ep = parseHostPort(entry);
    if (!ep) {
      this.#callbacks.onWarning?.(`DHT bootstrap "${entry}" ignored (expected host:port)`);
      return false;
    }
    // Names (router.bittorrent.com) are resolved by the library; literal IPs are policed here.
    if (isIP(ep.host) === 0) return true;
    const why = rejectEndpoint(ep, this.#options.allowPrivateAddresses);
    if (why !== null) {
      this.#callbacks.onWarning?.(`DHT bootstrap ${entry} ignored (${why} address; see allowPrivateAddresses)`);
      return false;
    }
    return true;
  }

  #restoreNodes(dht: DHT): void {
    const store = this.#options.nodeStore;
    if (!store) return;
    let saved: SavedNode[] = [];
    try {
      saved = store.load();
    } catch (err) {
      this.#callbacks.onWarning?.(`DHT saved nodes unreadable: ${(err as Error).message}`);
      return;
    }
    for (const n of saved) {
      if (rejectEndpoint({ host: n.host, port: n.port }, this.#options.allowPrivateAddresses) !== null) continue;
      // With an ID the node goes straight into the table (no ping round trip).
      dht.addNode({ id: n.id, host: n.host, port: n.port });
      this.stats.nodesRestored++;
    }
  }

  #saveNodes(): void {
    const store = this.#options.nodeStore;
    if (!store || !this.#dht) return;
    const nodes = this.snapshotNodes();
    // Keep the last good table rather than overwrite it with an empty one.
    if (nodes.length === 0) return;
    try {
      store.save(nodes);
    } catch (err) {
      this.#callbacks.onWarning?.(`DHT nodes not saved: ${(err as Error).message}`);
    }
  }
}
