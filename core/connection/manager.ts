import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { KernelHooks } from '../hooks.js';
import type { Endpoint, PeerId } from '../types.js';
import type { VirtualChannel } from './channel.js';
import { Connection, type ChannelRequest, type TrafficCounters } from './connection.js';
import {
  type ConnectionLimits,
  DEFAULT_LIMITS,
  EXTENSION_SIGNALS,
  HandshakeStatus,
  type HandshakeStatusValue,
  PEER_ID_LENGTH,
  Signal,
} from './constants.js';
import { prefers } from './duplicates.js';
import { endpointKey, normalizeHost } from './endpoint.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';
import type { Frame } from './frame.js';
import { encodeHandshakeResponse, initiateHandshake, readHandshakeRequest } from './handshake.js';
import { type TunnelCounters, type TunnelHost, type TunnelPolicy, TunnelService } from './tunnel.js';

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['', '0.0.0.0', '::']);
/** Error codes that mean the peer broke the protocol (counted as protocol errors). */
const PROTOCOL_ERROR_CODES: ReadonlySet<string> = new Set([
  ConnectionErrorCode.FRAME_TOO_LARGE,
  ConnectionErrorCode.FRAME_UNKNOWN_SIGNAL,
  ConnectionErrorCode.FRAME_BAD_LENGTH,
  ConnectionErrorCode.CHANNEL_FLOW_CONTROL,
  ConnectionErrorCode.CHANNEL_EXISTS,
  ConnectionErrorCode.HANDSHAKE_VERSION,
  ConnectionErrorCode.HANDSHAKE_MALFORMED,
]);

/** The manager's collaborators, handed in by the kernel. */
export interface ConnectionManagerOptions {
  /** `dial` supplies outbound streams; `connection`/`disconnection` are called on open/close. */
  hooks: Pick<KernelHooks, 'dial' | 'connection' | 'disconnection'>;
  logger: Logger;
  /** Where to listen. `0.0.0.0`, `::` or `''` listen on every address, dual-stack where the OS allows. Port 0 = random. */
  listen: { host: string; port: number };
  /** Overrides of {@link DEFAULT_LIMITS}. */
  limits?: Partial<ConnectionLimits>;
  /** This run's peer ID. @default 20 random bytes */
  peerId?: PeerId;
}

/** Plain counters; read them, never write them. */
export interface ConnectionManagerStats extends TrafficCounters, TunnelCounters {
  /** Inbound connections registered, in total. */
  connectionsIn: number;
  /** Outbound connections registered, in total. */
  connectionsOut: number;
  /** Connections registered right now. */
  connectionsOpen: number;
  /** Dials that failed (no stream, timeout, refused). */
  dialFailures: number;
  /** Handshakes that failed (timeout, garbage, closed). */
  handshakeFailures: number;
  /** Connections closed because the peer broke the protocol. */
  protocolErrors: number;
  /** Connections dropped because another link to the same node won. */
  duplicatesResolved: number;
  /** Self-connections refused. */
  selfConnections: number;
  /** Inbound connections refused at the connection limit. */
  busyRefusals: number;
}

/**
 * Decides on an inbound channel open: call `request.accept()` or `request.refuse()`
 * before returning, or leave it to the next handler. An open no handler accepts is
 * refused at once, so the opener never waits for its timeout.
 */
export type ChannelHandler = (request: ChannelRequest) => void;
/** Receives an extension frame (relay, invitation signals). */
export type SignalHandler = (frame: Frame, connection: Connection) => void;

export interface ConnectionManagerEvents {
  connection: [Connection];
  disconnection: [Connection, Error | undefined];
}

/**
 * The node's connection layer: one listener, outbound dials through `hooks.dial`,
 * the handshake, duplicate resolution, tunnels, and the registry of connections
 * (one per remote node). Upper layers open channels with {@link openChannel} and
 * receive them through {@link onChannel}.
 */
export class ConnectionManager extends EventEmitter<ConnectionManagerEvents> {
  readonly stats: ConnectionManagerStats = {
    bytesIn: 0,
    bytesOut: 0,
    channelsOpened: 0,
    channelsRefused: 0,
    framesDropped: 0,
    tunnelsOpened: 0,
    tunnelsAccepted: 0,
    tunnelsRelayed: 0,
    tunnelsRelaying: 0,
    connectionsIn: 0,
    connectionsOut: 0,
    connectionsOpen: 0,
    dialFailures: 0,
    handshakeFailures: 0,
    protocolErrors: 0,
    duplicatesResolved: 0,
    selfConnections: 0,
    busyRefusals: 0,
  };
  readonly limits: ConnectionLimits;

  private readonly hooks: ConnectionManagerOptions['hooks'];
  private readonly logger: Logger;
  private readonly listenOn: { host: string; port: number };
  private readonly ownId: PeerId;
  private readonly byPeer = new Map<string, Connection>();
  private readonly byEndpoint = new Map<string, Connection>();
  private readonly dials = new Map<string, Promise<Connection>>();
  private readonly aborts = new Set<AbortController>();
  private readonly handshaking = new Set<Duplex>();
  private readonly channelHandlers: ChannelHandler[] = [];
  private readonly signalHandlers = new Map<number, SignalHandler>();
  private readonly tunnels: TunnelService;
  private server: Server | undefined;
  private running = false;
  private policy: TunnelPolicy | undefined;

  constructor(options: ConnectionManagerOptions) {
    super();
    this.hooks = options.hooks;
    this.logger = options.logger.child({ component: 'connection' });
    this.listenOn = { ...options.listen };
    this.limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
    if (options.peerId && options.peerId.length !== PEER_ID_LENGTH) {
      throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_MALFORMED, `peer ID must be ${PEER_ID_LENGTH} bytes`);
    }
    this.ownId = options.peerId ? Buffer.from(options.peerId) : randomBytes(PEER_ID_LENGTH);
    const host: TunnelHost = {
      limits: this.limits,
      stats: this.stats,
      logger: this.logger,
      liveConnections: () => this.byPeer.values(),
      connectionTo: (endpoint) => this.byEndpoint.get(endpointKey(endpoint)),
      initiateOver: (stream, remote) => this.initiate(stream, remote, true),
      acceptOver: (stream, remote) => void this.accept(stream, remote, true),
      tunnelPolicy: () => this.policy,
    };
    this.tunnels = new TunnelService(host);
  }

  /** This node's peer ID for this run. */
  get peerId(): PeerId {
    return this.ownId;
  }

  /** The port the listener is bound to (0 before start). */
  get localPort(): number {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : 0;
  }

  /** Registered connections, one per remote node. */
  get connections(): Connection[] {
    return [...this.byPeer.values()];
  }

  /** The registered connection to a node, if any. */
  getConnection(peerId: PeerId): Connection | undefined {
    return this.byPeer.get(peerId.toString('hex'));
  }

  /** Open the listener; `listen: false` (Tor mode) runs outbound-only, reachable through relays. */
  async start(options: { listen?: boolean } = {}): Promise<void> {
    if (this.running) return;
    if (options.listen === false) {
      this.running = true;
      this.logger.debug('not listening (network policy)');
      return;
    }
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    server.on('connection', (socket) => this.onSocket(socket));
    server.on('error', (err) => this.logger.warn({ err }, 'listener error'));
    const { host, port } = this.listenOn;
    const listen = async (options: { host: string; port: number; ipv6Only?: boolean }): Promise<void> => {
      const failed = once(server, 'error');
      server.listen(options);
      await Promise.race([once(server, 'listening'), failed.then(([err]) => Promise.reject(err))]);
      failed.catch(() => undefined);
    };
    if (WILDCARD_HOSTS.has(host)) {
      try {
        await listen({ host: '::', port, ipv6Only: false });
      } catch {
        // No IPv6 on this machine: IPv4 only.
        await listen({ host: '0.0.0.0', port });
      }
    } else {
      await listen({ host, port });
    }
    this.server = server;
    this.running = true;
    this.logger.debug({ port: this.localPort }, 'listening');
  }

  /** Close the listener, every connection, handshake, dial and timer. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const ac of this.aborts) ac.abort();
    this.tunnels.stop();
    for (const stream of this.handshaking) stream.destroy();
    this.handshaking.clear();
    const stopped = new ConnectionError(ConnectionErrorCode.STOPPED, 'the node stops');
    for (const connection of [...this.byPeer.values()]) connection.close(stopped);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * A connection to `endpoint`: the registered real one if any, the dial already
   * under way to it if any, else a new dial through `hooks.dial` (then, if that fails,
   * the registered tunnel if any, or with `tunnelFallback` a new tunnel through a
   * connected node).
   */
  connect(endpoint: Endpoint): Promise<Connection> {
    const key = endpointKey(endpoint);
    const existing = this.byEndpoint.get(key);
    // Real beats virtual: over a tunnel, still try the direct link.
    if (existing && !existing.virtual) return Promise.resolve(existing);
    const pending = this.dials.get(key);
    if (pending) return pending;
    const dial = this.dial(endpoint)
      .catch((err: unknown) => {
        if (existing && !existing.closed) return existing;
        throw err;
      })
      .finally(() => this.dials.delete(key));
    this.dials.set(key, dial);
    return dial;
  }

  /** A virtual connection to `target` through `via`, or through any node that reaches it. */
  connectVia(target: Endpoint, via?: Connection): Promise<Connection> {
    this.assertRunning();
    return this.tunnels.open(target, via);
  }

  /** Open a named channel to a node (by peer ID or connection). */
  openChannel(peer: PeerId | Connection, name: Buffer): Promise<VirtualChannel> {
    const connection = peer instanceof Connection ? peer : this.getConnection(peer);
    if (!connection || connection.closed) {
      return Promise.reject(new ConnectionError(ConnectionErrorCode.NOT_CONNECTED, 'no connection to that peer'));
    }
    return connection.openChannel(name);
  }

  /** Handle inbound channel opens; handlers run in order until one decides. Returns an unsubscribe. */
  onChannel(handler: ChannelHandler): () => void {
    this.channelHandlers.push(handler);
    return () => {
      const i = this.channelHandlers.indexOf(handler);
      if (i >= 0) this.channelHandlers.splice(i, 1);
    };
  }

  /**
   * Judge the tunnels this node splices for others (signal 4): refuse some, or give
   * the splice a rate limit. One policy per node (the relay plugin's).
   * Returns an unsubscribe.
   */
  setTunnelPolicy(policy: TunnelPolicy): () => void {
    this.policy = policy;
    return () => {
      if (this.policy === policy) this.policy = undefined;
    };
  }

  /** Receive one extension signal (10-13, 15) from every connection. Returns an unsubscribe. */
  onSignal(signal: number, handler: SignalHandler): () => void {
    if (!EXTENSION_SIGNALS.has(signal)) throw new RangeError(`signal ${signal} is not an extension signal`);
    this.signalHandlers.set(signal, handler);
    return () => {
      if (this.signalHandlers.get(signal) === handler) this.signalHandlers.delete(signal);
    };
  }

  private assertRunning(): void {
    if (!this.running) throw new ConnectionError(ConnectionErrorCode.STOPPED, 'the connection manager is not running');
  }

  private async dial(endpoint: Endpoint): Promise<Connection> {
    this.assertRunning();
    const ac = new AbortController();
    this.aborts.add(ac);
    let stream: Duplex | undefined;
    try {
      stream = await this.hooks.dial.promise({ endpoint, timeoutMs: this.limits.connectTimeoutMs, signal: ac.signal });
    } catch (err) {
      this.stats.dialFailures++;
      const failure = err instanceof ConnectionError ? err : new ConnectionError(ConnectionErrorCode.DIAL, `dial to ${endpoint.host}:${endpoint.port} failed`, { cause: err });
      if (this.running && !this.byEndpoint.has(endpointKey(endpoint)) && this.limits.tunnelFallback && isIP(normalizeHost(endpoint.host)) !== 0 && this.byPeer.size > 0) {
        try {
          return await this.tunnels.open(endpoint);
        } catch (tunnelErr) {
          this.logger.debug({ err: tunnelErr }, 'tunnel fallback failed');
        }
      }
      throw failure;
    } finally {
      this.aborts.delete(ac);
    }
    if (!stream) {
      this.stats.dialFailures++;
      throw new ConnectionError(ConnectionErrorCode.NO_DIALER, 'no dial tap supplied a stream');
    }
    if (!this.running) {
      stream.destroy();
      throw new ConnectionError(ConnectionErrorCode.STOPPED, 'the node stopped while dialing');
    }
    (stream as Partial<Socket>).setNoDelay?.(true);
    return this.initiate(stream, { host: normalizeHost(endpoint.host), port: endpoint.port }, false);
  }

  /** Initiator side of the handshake, then registration. */
  private async initiate(stream: Duplex, remote: Endpoint, virtual: boolean): Promise<Connection> {
    stream.on('error', swallow);
    this.handshaking.add(stream);
    let result: Awaited<ReturnType<typeof initiateHandshake>>;
    try {
      result = await initiateHandshake(stream, { peerId: this.ownId, servicePort: this.localPort }, this.limits.handshakeTimeoutMs);
    } catch (err) {
      stream.destroy();
      this.stats.handshakeFailures++;
      throw err;
    } finally {
      this.handshaking.delete(stream);
    }
    const { response, rest } = result;
    if (!this.running) {
      stream.destroy();
      throw new ConnectionError(ConnectionErrorCode.STOPPED, 'the node stopped during the handshake');
    }
    if (response.status !== HandshakeStatus.OK || response.peerId.equals(this.ownId)) {
      stream.destroy();
      if (response.status === HandshakeStatus.DUPLICATE) return this.waitForPeer(response.peerId);
      if (response.status === HandshakeStatus.BUSY) throw new ConnectionError(ConnectionErrorCode.BUSY, 'the peer is at its connection limit');
      this.stats.selfConnections++;
      throw new ConnectionError(ConnectionErrorCode.SELF, 'that end point is this node');
    }
    return this.register(this.connectionOver(stream, response.peerId, 'outbound', remote, virtual, rest));
  }

  private connectionOver(stream: Duplex, remotePeerId: PeerId, direction: 'inbound' | 'outbound', remote: Endpoint, virtual: boolean, rest: Buffer): Connection {
    return new Connection({
      stream,
      localPeerId: this.ownId,
      remotePeerId,
      direction,
      remote,
      virtual,
      limits: this.limits,
      rest,
      logger: this.logger,
      counters: this.stats,
    });
  }

  private onSocket(socket: Socket): void {
    if (!this.running || this.handshaking.size >= this.limits.maxPendingHandshakes) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    void this.accept(socket, { host: normalizeHost(socket.remoteAddress ?? ''), port: 0 }, false);
  }

  /** Acceptor side: read the request, answer, register. `source.port` is replaced by the service port for real links. */
  private async accept(stream: Duplex, source: Endpoint, virtual: boolean): Promise<void> {
    stream.on('error', swallow);
    this.handshaking.add(stream);
    let lingering = false;
    try {
      const { request, rest } = await readHandshakeRequest(stream, this.limits.handshakeTimeoutMs);
      if (!this.running) throw new ConnectionError(ConnectionErrorCode.STOPPED, 'the node stops');
      let status: HandshakeStatusValue = HandshakeStatus.OK;
      const existing = this.byPeer.get(request.peerId.toString('hex'));
      if (request.peerId.equals(this.ownId)) {
        status = HandshakeStatus.SELF;
        this.stats.selfConnections++;
      } else if (existing && !prefers({ virtual, initiatorPeerId: request.peerId }, existing)) {
        status = HandshakeStatus.DUPLICATE;
        this.stats.duplicatesResolved++;
      } else if (!existing && this.byPeer.size >= this.limits.maxConnections) {
        status = HandshakeStatus.BUSY;
        this.stats.busyRefusals++;
      }
      const answer = encodeHandshakeResponse({ status, peerId: this.ownId });
      if (status !== HandshakeStatus.OK) {
        // Let the answer reach the initiator, but never wait on it for longer than a handshake.
        stream.end(answer);
        lingering = true;
        const linger = setTimeout(() => stream.destroy(), this.limits.handshakeTimeoutMs);
        stream.once('close', () => {
          clearTimeout(linger);
          this.handshaking.delete(stream);
        });
        return;
      }
      stream.write(answer);
      const remote = virtual ? source : { host: source.host, port: request.servicePort };
      this.register(this.connectionOver(stream, request.peerId, 'inbound', remote, virtual, rest));
    } catch (err) {
      stream.destroy();
      this.stats.handshakeFailures++;
      if (err instanceof ConnectionError && PROTOCOL_ERROR_CODES.has(err.code)) this.stats.protocolErrors++;
      this.logger.debug({ err, remote: source }, 'inbound handshake failed');
    } finally {
      if (!lingering) this.handshaking.delete(stream);
    }
  }

  /** After a DUPLICATE answer: the link the peer kept is registered here or about to be. */
  private waitForPeer(peerId: PeerId): Promise<Connection> {
    const existing = this.getConnection(peerId);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onConnection = (connection: Connection): void => {
        if (!connection.peerId.equals(peerId)) return;
        clearTimeout(timer);
        this.off('connection', onConnection);
        resolve(connection);
      };
      const timer = setTimeout(() => {
        this.off('connection', onConnection);
        reject(new ConnectionError(ConnectionErrorCode.DUPLICATE, 'the peer kept another connection that never arrived here'));
      }, this.limits.handshakeTimeoutMs);
      this.on('connection', onConnection);
    });
  }

  /** Apply the duplicate rule, then make `connection` the node's link to its peer. */
  private register(connection: Connection): Connection {
    const peerKey = connection.peerId.toString('hex');
    const existing = this.byPeer.get(peerKey);
    if (existing) {
      this.stats.duplicatesResolved++;
      if (!prefers(connection, existing)) {
        connection.close();
        return existing;
      }
      existing.close(new ConnectionError(ConnectionErrorCode.DUPLICATE, 'replaced by a preferred connection to the same node'));
    }
    const endpoint = endpointKey(connection.info.remote);
    this.byPeer.set(peerKey, connection);
    this.byEndpoint.set(endpoint, connection);
    this.stats.connectionsOpen++;
    if (connection.info.direction === 'inbound') this.stats.connectionsIn++;
    else this.stats.connectionsOut++;
    connection.on('channel', (request) => this.onChannelRequest(request));
    connection.on('control', (frame, from) => this.onControl(frame, from));
    connection.once('close', (reason) => {
      if (this.byPeer.get(peerKey) === connection) this.byPeer.delete(peerKey);
      if (this.byEndpoint.get(endpoint) === connection) this.byEndpoint.delete(endpoint);
      this.stats.connectionsOpen--;
      if (reason instanceof ConnectionError && PROTOCOL_ERROR_CODES.has(reason.code)) this.stats.protocolErrors++;
      this.tunnels.forget(connection);
      this.callHook('disconnection', connection);
      this.emit('disconnection', connection, reason);
    });
    connection.start();
    if (connection.closed) return connection;
    this.callHook('connection', connection);
    this.emit('connection', connection);
    return connection;
  }

  private callHook(name: 'connection' | 'disconnection', connection: Connection): void {
    try {
      this.hooks[name].call(connection.info);
    } catch (err) {
      this.logger.warn({ err }, `a tap of hooks.${name} threw`);
    }
  }

  private onChannelRequest(request: ChannelRequest): void {
    if (request.signal === Signal.CONNECT_PROXY_TUNNEL) return this.tunnels.relay(request);
    if (request.signal === Signal.CONNECT_PROXY_CONNECTION) return this.tunnels.acceptFar(request);
    for (const handler of this.channelHandlers) {
      try {
        handler(request);
      } catch (err) {
        this.logger.warn({ err }, 'a channel handler threw');
      }
      if (request.decided) return;
    }
    // Nobody here wants it: say so now instead of leaving the opener to its timeout.
    request.refuse();
  }

  private onControl(frame: Frame, from: Connection): void {
    if (frame.signal === Signal.PEER_STATUS_QUERY || frame.signal === Signal.PEER_STATUS_AVAILABLE || frame.signal === Signal.PEER_STATUS_UNAVAILABLE) {
      this.tunnels.onControl(frame, from);
      return;
    }
    const handler = this.signalHandlers.get(frame.signal);
    if (!handler) {
      this.stats.framesDropped++;
      return;
    }
    try {
      handler(frame, from);
    } catch (err) {
      this.logger.warn({ err, signal: frame.signal }, 'a signal handler threw');
    }
  }
}

function swallow(): void {
  // Errors are handled where the stream is read; this only keeps an unheard 'error' from crashing the process.
}
