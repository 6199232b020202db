/**
 * LanDiscovery: finds peers of our chat networks on the local network (spec §6.3, our v1
 * wire format in packet.ts). It knows nothing of the kernel: it takes plain options and
 * two callbacks, so tests drive it directly and index.ts only adapts it to hooks.
 *
 * Sockets (each family that is enabled and can be opened):
 * - listener: bound to the LAN port with SO_REUSEADDR (several nodes on one machine all
 *   hear every broadcast), joined to ff12::1 on each IPv6 interface. Hears queries and
 *   sends the answers.
 * - sender: an ephemeral port. Sends the queries and hears the answers. The spec answers
 *   to port 41733, but with SO_REUSEADDR the kernel hands a unicast datagram to only one
 *   of the sockets sharing a port, so with two nodes on one machine an answer could reach
 *   the wrong one; an ephemeral port per node is unambiguous.
 */
import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import { networkInterfaces as osNetworkInterfaces } from 'node:os';
import type { Endpoint, NetworkId } from '../../core/types.js';
import {
  DEFAULT_INTERFACE_CHECK_INTERVAL_MS,
  DEFAULT_MAX_ANSWERS_PER_SECOND,
  DEFAULT_MAX_ANSWERS_PER_SOURCE_PER_SECOND,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_MAX_PACKETS_PER_SECOND,
  DEFAULT_PORT,
  DEFAULT_QUERY_INTERVAL_MAX_MS,
  DEFAULT_QUERY_INTERVAL_MIN_MS,
  DEFAULT_QUERY_VALIDITY_MS,
  DEFAULT_REDISCOVER_AFTER_MS,
  IPV6_MULTICAST_GROUP,
  MAX_NETWORKS,
  MAX_RECENT_PEERS,
  MAX_WARNED_TARGETS,
  NETWORK_ID_BYTES,
  QUERY_JITTER,
} from './constants.js';
import { LAN_ERROR_CODES, LanDiscoveryError } from './errors.js';
import { ExpiringMap } from './expiring-map.js';
import { decodePacket, deriveLanKey, type LanPacket } from './packet.js';
import { Querier } from './querier.js';
import { TokenBucket } from './rate-limiter.js';
import { Responder, type AnsweredNetwork } from './responder.js';
import { createStats, type LanDiscoveryStats } from './stats.js';
import { discoverTargets, isLoopbackAddress, normalizeHost, type InterfaceMap } from './targets.js';

/** Options of the service (the plugin's options schema mirrors these). */
export interface LanDiscoveryOptions {
  /** UDP port every node listens on. @default 41733 */
  port: number;
  /** Use IPv4 broadcast. @default true */
  ipv4: boolean;
  /** Use IPv6 multicast (ff12::1). @default true */
  ipv6: boolean;
  /** IPv4 destinations of queries; empty = each interface's broadcast address. @default [] */
  broadcastAddresses: string[];
  /** IPv6 destinations of queries; empty = ff12::1 on each IPv6 interface. @default [] */
  ipv6Targets: string[];
  /** Address the IPv4 listener binds (must be a wildcard to hear broadcasts). @default '0.0.0.0' */
  bindAddress4: string;
  /** Address the IPv6 listener binds. @default '::' */
  bindAddress6: string;
  /** Send only to 127.0.0.0/8 and ::1 (tests and single-machine demos). @default false */
  loopbackOnly: boolean;
  /** First re-query delay; doubles each round up to the maximum. @default 1000 */
  queryIntervalMinMs: number;
  /** Longest re-query delay. @default 30000 */
  queryIntervalMaxMs: number;
  /** How long a query accepts answers. @default 2000 */
  queryValidityMs: number;
  /** A found (network, end point) is not reported again within this time. @default 30000 */
  rediscoverAfterMs: number;
  /** How often interfaces are re-read; a change queries at once. 0 = never. @default 15000 */
  interfaceCheckIntervalMs: number;
  /** Queries stamped further from our clock are refused. @default 300000 */
  maxClockSkewMs: number;
  /** Answers per second, all sources together. @default 200 */
  maxAnswersPerSecond: number;
  /** Answers per second to one source address. @default 20 */
  maxAnswersPerSourcePerSecond: number;
  /** Inbound datagrams per second read at all; the rest are dropped unread. @default 2000 */
  maxPacketsPerSecond: number;
}

export const LAN_DISCOVERY_DEFAULTS: Readonly<LanDiscoveryOptions> = Object.freeze({
  port: DEFAULT_PORT,
  ipv4: true,
  ipv6: true,
  broadcastAddresses: [],
  ipv6Targets: [],
  bindAddress4: '0.0.0.0',
  bindAddress6: '::',
  loopbackOnly: false,
  queryIntervalMinMs: DEFAULT_QUERY_INTERVAL_MIN_MS,
  queryIntervalMaxMs: DEFAULT_QUERY_INTERVAL_MAX_MS,
  queryValidityMs: DEFAULT_QUERY_VALIDITY_MS,
  rediscoverAfterMs: DEFAULT_REDISCOVER_AFTER_MS,
  interfaceCheckIntervalMs: DEFAULT_INTERFACE_CHECK_INTERVAL_MS,
  maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
  maxAnswersPerSecond: DEFAULT_MAX_ANSWERS_PER_SECOND,
  maxAnswersPerSourcePerSecond: DEFAULT_MAX_ANSWERS_PER_SOURCE_PER_SECOND,
  maxPacketsPerSecond: DEFAULT_MAX_PACKETS_PER_SECOND,
});

/** The part of a pino logger the service uses. */
export interface LanLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** What the service is given besides options. */
export interface LanDiscoveryComponents {
  logger: LanLogger;
  /** A peer of one of our networks answered; called once per (network, end point) per window. */
  onPeer(networkId: NetworkId, endpoint: Endpoint): void;
  /** Clock in ms since 1970 (tests may shift it). */
  now?: () => number;
  /** Interface list (tests may fake it); defaults to os.networkInterfaces. */
  networkInterfaces?: () => InterfaceMap;
}

interface AnnouncedNetwork extends AnsweredNetwork {
  networkId: Buffer;
  /** Current re-query delay (doubles up to the maximum). */
  intervalMs: number;
  nextQueryAt: number;
}

type Family = 4 | 6;

interface FamilySockets {
  listener: Socket | undefined;
  sender: Socket | undefined;
}

/** Ports the service is bound to (for tests and diagnostics). */
export interface LanDiscoveryAddresses {
  listener4?: number;
  sender4?: number;
  listener6?: number;
  sender6?: number;
}

export class LanDiscovery {
  readonly stats: LanDiscoveryStats = createStats();
  private readonly options: LanDiscoveryOptions;
  private readonly logger: LanLogger;
  private readonly onPeer: LanDiscoveryComponents['onPeer'];
  private readonly now: () => number;
  private readonly readInterfaces: () => InterfaceMap;
  private readonly networks = new Map<string, AnnouncedNetwork>();
  private readonly querier: Querier;
  private readonly responder: Responder;
  private readonly inbound: TokenBucket;
  private readonly recentPeers: ExpiringMap<true>;
  private readonly warnedTargets = new Set<string>();
  private readonly sockets: Record<Family, FamilySockets> = {
    4: { listener: undefined, sender: undefined },
    6: { listener: undefined, sender: undefined },
  };
  private ipv4Targets: string[] = [];
  private ipv6Targets: string[] = [];
  private joinedInterfaces = new Set<string>();
  private targetsSignature = '';
  private queryTimer: NodeJS.Timeout | undefined;
  private interfaceTimer: NodeJS.Timeout | undefined;
  private running = false;
  private starting: Promise<void> | undefined;

  constructor(options: Partial<LanDiscoveryOptions>, components: LanDiscoveryComponents) {
    this.options = { ...LAN_DISCOVERY_DEFAULTS, ...options };
    checkOptions(this.options);
    this.logger = components.logger;
    this.onPeer = components.onPeer;
    this.now = components.now ?? Date.now;
    this.readInterfaces = components.networkInterfaces ?? osNetworkInterfaces;
    const now = this.now();
    this.querier = new Querier(this.options.queryValidityMs, this.stats);
    this.responder = new Responder(this.options, this.stats, now);
    this.inbound = new TokenBucket(this.options.maxPacketsPerSecond, now);
    this.recentPeers = new ExpiringMap<true>(this.options.rediscoverAfterMs, MAX_RECENT_PEERS);
  }

  /** True between a completed start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Open the sockets and begin querying for announced networks. Never throws for network trouble. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.starting !== undefined) return this.starting;
    this.starting = this.openAll().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Close every socket and timer. Announced networks are kept for the next start(). */
  async stop(): Promise<void> {
    if (this.starting !== undefined) await this.starting;
    this.running = false;
    if (this.queryTimer !== undefined) clearTimeout(this.queryTimer);
    if (this.interfaceTimer !== undefined) clearInterval(this.interfaceTimer);
    this.queryTimer = undefined;
    this.interfaceTimer = undefined;
    const closing: Promise<void>[] = [];
    for (const family of [4, 6] as const) {
      const set = this.sockets[family];
      for (const socket of [set.listener, set.sender]) {
        if (socket !== undefined) closing.push(closeSocket(socket));
      }
      set.listener = undefined;
      set.sender = undefined;
    }
    await Promise.all(closing);
    this.joinedInterfaces = new Set();
    this.targetsSignature = '';
    this.querier.clear();
    this.responder.clear();
  }

  /** Answer queries for `networkId` with `servicePort`, and query for its peers (now, then backing off). */
  announce(networkId: NetworkId, servicePort: number): void {
    if (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 0xffff) {
      throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, 'service port must be 1..65535');
    }
    const hex = networkHex(networkId);
    const existing = this.networks.get(hex);
    if (existing === undefined && this.networks.size >= MAX_NETWORKS) {
      throw new LanDiscoveryError(LAN_ERROR_CODES.TOO_MANY_NETWORKS, `at most ${MAX_NETWORKS} networks`);
    }
    this.stats.announces += 1;
    const network: AnnouncedNetwork = existing ?? {
      networkId: Buffer.from(networkId),
      key: deriveLanKey(networkId),
      servicePort,
      intervalMs: this.options.queryIntervalMinMs,
      nextQueryAt: 0,
    };
    network.servicePort = servicePort;
    this.networks.set(hex, network);
    this.lookup(networkId);
  }

  /** Stop answering and querying for `networkId`. Returns whether it was announced. */
  withdraw(networkId: NetworkId): boolean {
    const hex = networkHex(networkId);
    if (!this.networks.delete(hex)) return false;
    this.stats.withdraws += 1;
    this.querier.forgetNetwork(hex);
    // A later announce should report the same peers again at once.
    this.recentPeers.deleteWhere((_value, key) => key.startsWith(`${hex}|`));
    return true;
  }

  /** Query for an announced network now and restart its back-off. Returns whether it is announced. */
  lookup(networkId: NetworkId): boolean {
    const network = this.networks.get(networkHex(networkId));
    if (network === undefined) return false;
    network.intervalMs = this.options.queryIntervalMinMs;
    network.nextQueryAt = 0;
    if (this.running) this.runDueQueries();
    return true;
  }

  /** Network IDs currently announced. */
  announced(): NetworkId[] {
    return [...this.networks.values()].map((n) => Buffer.from(n.networkId));
  }

  /** Where queries currently go. */
  targets(): { ipv4: string[]; ipv6: string[] } {
    return { ipv4: [...this.ipv4Targets], ipv6: [...this.ipv6Targets] };
  }

  /** The ports the open sockets are bound to. */
  addresses(): LanDiscoveryAddresses {
    const out: LanDiscoveryAddresses = {};
    const port = (s: Socket | undefined): number | undefined => (s === undefined ? undefined : s.address().port);
    const l4 = port(this.sockets[4].listener);
    const s4 = port(this.sockets[4].sender);
    const l6 = port(this.sockets[6].listener);
    const s6 = port(this.sockets[6].sender);
    if (l4 !== undefined) out.listener4 = l4;
    if (s4 !== undefined) out.sender4 = s4;
    if (l6 !== undefined) out.listener6 = l6;
    if (s6 !== undefined) out.sender6 = s6;
    return out;
  }

  private async openAll(): Promise<void> {
    const o = this.options;
    if (o.ipv4) {
      this.sockets[4].listener = await this.open('udp4', 'listener', o.port, o.bindAddress4);
      this.sockets[4].sender = await this.open('udp4', 'sender', 0, o.loopbackOnly ? '127.0.0.1' : o.bindAddress4);
      try {
        this.sockets[4].sender?.setBroadcast(true);
      } catch (err) {
        this.fail('cannot enable broadcast', err);
      }
    }
    if (o.ipv6) {
      this.sockets[6].listener = await this.open('udp6', 'listener', o.port, o.bindAddress6);
      this.sockets[6].sender = await this.open('udp6', 'sender', 0, o.loopbackOnly ? '::1' : o.bindAddress6);
    }
    this.running = true;
    this.refreshTargets(true);
    const explicit = (!o.ipv4 || o.broadcastAddresses.length > 0) && (!o.ipv6 || o.ipv6Targets.length > 0);
    if (o.interfaceCheckIntervalMs > 0 && !explicit) {
      this.interfaceTimer = setInterval(() => this.refreshTargets(false), o.interfaceCheckIntervalMs);
    }
    for (const network of this.networks.values()) {
      network.intervalMs = o.queryIntervalMinMs;
      network.nextQueryAt = 0;
    }
    this.runDueQueries();
  }

  /** Bind one socket; on failure log a warning and carry on without it. */
  private open(type: SocketType, role: 'listener' | 'sender', port: number, address: string): Promise<Socket | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket({ type, reuseAddr: role === 'listener', ipv6Only: type === 'udp6' });
      const onBindError = (err: Error): void => {
        this.fail(`cannot open ${type} ${role} on ${address}:${port}; continuing without it`, err);
        socket.close();
        resolve(undefined);
      };
      socket.once('error', onBindError);
      socket.bind({ port, address, exclusive: false }, () => {
        socket.off('error', onBindError);
        socket.on('error', (err) => this.fail(`${type} ${role} socket error`, err));
        socket.on('message', (msg, rinfo) => this.receive(role, socket, msg, rinfo));
        resolve(socket);
      });
    });
  }

  /** Re-read interfaces; on a change, join new multicast interfaces and query at once. */
  private refreshTargets(initial: boolean): void {
    if (!this.running) return;
    const o = this.options;
    let found = { ipv4Broadcasts: [] as string[], ipv6Interfaces: [] as string[] };
    const needsInterfaces = (o.ipv4 && o.broadcastAddresses.length === 0) || (o.ipv6 && o.ipv6Targets.length === 0);
    if (needsInterfaces) {
      try {
        found = discoverTargets(this.readInterfaces());
      } catch (err) {
        this.fail('cannot read network interfaces', err);
      }
    }
    const ipv4 = !o.ipv4 ? [] : o.broadcastAddresses.length > 0 ? [...o.broadcastAddresses] : found.ipv4Broadcasts;
    const ipv6 = !o.ipv6
      ? []
      : o.ipv6Targets.length > 0
        ? [...o.ipv6Targets]
        : found.ipv6Interfaces.map((name) => `${IPV6_MULTICAST_GROUP}%${name}`);
    const signature = JSON.stringify([ipv4, ipv6]);
    if (signature === this.targetsSignature) return;
    this.targetsSignature = signature;
    this.ipv4Targets = ipv4;
    this.ipv6Targets = ipv6;
    if (o.ipv6 && o.ipv6Targets.length === 0) this.joinMulticast(found.ipv6Interfaces);
    if (o.ipv4 && ipv4.length === 0) this.logger.warn({}, 'LAN discovery: no IPv4 broadcast address found');
    this.logger.debug({ ipv4, ipv6 }, 'LAN discovery targets');
    if (!initial) {
      for (const network of this.networks.values()) {
        network.intervalMs = o.queryIntervalMinMs;
        network.nextQueryAt = 0;
      }
      this.runDueQueries();
    }
  }

  private joinMulticast(interfaces: string[]): void {
    const listener = this.sockets[6].listener;
    if (listener === undefined) return;
    for (const name of interfaces) {
      if (this.joinedInterfaces.has(name)) continue;
      this.joinedInterfaces.add(name);
      try {
        listener.addMembership(IPV6_MULTICAST_GROUP, `::%${name}`);
      } catch (err) {
        // Some interfaces (tunnels, no MULTICAST flag) refuse: discovery goes on elsewhere.
        this.fail(`cannot join ${IPV6_MULTICAST_GROUP} on ${name}`, err);
      }
    }
  }

  /** Send a query round for every network whose time has come, then re-arm the timer. */
  private runDueQueries(): void {
    if (!this.running) return;
    if (this.queryTimer !== undefined) clearTimeout(this.queryTimer);
    this.queryTimer = undefined;
    const now = this.now();
    let next = Infinity;
    for (const [hex, network] of this.networks) {
      if (network.nextQueryAt <= now) {
        this.sendQuery(hex, network, now);
        const jitter = 1 + (Math.random() * 2 - 1) * QUERY_JITTER;
        network.nextQueryAt = now + Math.round(network.intervalMs * jitter);
        network.intervalMs = Math.min(network.intervalMs * 2, this.options.queryIntervalMaxMs);
      }
      next = Math.min(next, network.nextQueryAt);
    }
    if (next !== Infinity) {
      this.queryTimer = setTimeout(() => this.runDueQueries(), Math.max(0, next - now));
    }
  }

  private sendQuery(hex: string, network: AnnouncedNetwork, now: number): void {
    this.stats.lookups += 1;
    // A fresh challenge per destination: a responder that hears the round on several paths
    // (IPv4 broadcast and IPv6 multicast) answers each, instead of taking the second copy
    // for a replay, so the querier learns every address family of the peer.
    for (const target of this.ipv4Targets) {
      this.send(this.sockets[4].sender, this.querier.createQuery(hex, network.key, now), this.options.port, target, 'query');
    }
    for (const target of this.ipv6Targets) {
      this.send(this.sockets[6].sender, this.querier.createQuery(hex, network.key, now), this.options.port, target, 'query');
    }
  }

  private send(socket: Socket | undefined, packet: Buffer, port: number, host: string, kind: 'query' | 'answer'): void {
    if (socket === undefined) return;
    if (this.options.loopbackOnly && !isLoopbackAddress(host)) {
      this.stats.sendsBlocked += 1;
      this.warnOnce(host, `LAN discovery: loopbackOnly refuses to send to ${host}`);
      return;
    }
    if (kind === 'query') this.stats.queriesSent += 1;
    else this.stats.answersSent += 1;
    socket.send(packet, port, host, (err) => {
      if (err === null || err === undefined) return;
      this.stats.sendErrors += 1;
      this.warnOnce(host, `LAN discovery: cannot send to ${host}: ${err.message}`);
    });
  }

  private receive(role: 'listener' | 'sender', socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.running) return;
    const now = this.now();
    if (!this.inbound.take(now)) {
      this.stats.packetsDropped += 1;
      return;
    }
    let packet: LanPacket;
    try {
      packet = decodePacket(msg);
    } catch {
      this.stats.badPackets += 1;
      return;
    }
    try {
      if (packet.type === 'query') {
        if (role !== 'listener') {
          this.stats.queriesIgnored += 1;
          return;
        }
        if (this.querier.isOwnChallenge(packet.challenge, now)) {
          this.stats.ownQueries += 1;
          return;
        }
        this.stats.queriesReceived += 1;
        const source = normalizeHost(rinfo.address);
        for (const answer of this.responder.answer(packet, this.networks.values(), source, now)) {
          this.send(socket, answer, rinfo.port, rinfo.address, 'answer');
        }
        return;
      }
      if (role !== 'sender') {
        this.stats.unexpectedResponses += 1;
        return;
      }
      this.stats.responsesReceived += 1;
      const hex = this.querier.accept(packet, now);
      if (hex === undefined) return;
      const network = this.networks.get(hex);
      if (network === undefined) {
        this.stats.unexpectedResponses += 1;
        return;
      }
      this.report(hex, network, { host: normalizeHost(rinfo.address), port: packet.servicePort }, now);
    } catch (err) {
      // Nothing above should throw on network input; if it does, the datagram is dropped, the node lives.
      this.fail('LAN discovery: error handling a datagram', err);
    }
  }

  private report(hex: string, network: AnnouncedNetwork, endpoint: Endpoint, now: number): void {
    const key = `${hex}|${endpoint.host}|${endpoint.port}`;
    if (this.recentPeers.has(key, now)) {
      this.stats.duplicatePeers += 1;
      return;
    }
    this.recentPeers.set(key, true, now);
    this.stats.peersFound += 1;
    try {
      this.onPeer(Buffer.from(network.networkId), endpoint);
    } catch (err) {
      this.fail('LAN discovery: onPeer callback threw', err);
    }
  }

  private warnOnce(target: string, message: string): void {
    if (this.warnedTargets.has(target) || this.warnedTargets.size >= MAX_WARNED_TARGETS) return;
    this.warnedTargets.add(target);
    this.logger.warn({ target }, message);
  }

  private fail(message: string, err: unknown): void {
    this.stats.errors += 1;
    this.logger.warn({ err: err instanceof Error ? { message: err.message, code: (err as NodeJS.ErrnoException).code } : String(err) }, message);
  }
}

function networkHex(networkId: NetworkId): string {
  if (!Buffer.isBuffer(networkId) || networkId.length !== NETWORK_ID_BYTES) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, `network ID must be ${NETWORK_ID_BYTES} bytes`);
  }
  return networkId.toString('hex');
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      // Already closed (e.g. after a fatal socket error): nothing left to release.
      resolve();
    }
  });
}

function checkOptions(o: LanDiscoveryOptions): void {
  const positive: (keyof LanDiscoveryOptions)[] = [
    'queryIntervalMinMs',
    'queryIntervalMaxMs',
    'queryValidityMs',
    'rediscoverAfterMs',
    'maxClockSkewMs',
    'maxAnswersPerSecond',
    'maxAnswersPerSourcePerSecond',
    'maxPacketsPerSecond',
  ];
  for (const name of positive) {
    const value = o[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, `option ${name} must be a positive number`);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 0xffff) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, 'option port must be 1..65535');
  }
  if (o.queryIntervalMaxMs < o.queryIntervalMinMs) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, 'queryIntervalMaxMs must be >= queryIntervalMinMs');
  }
}
