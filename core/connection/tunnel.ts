/**
 * Tunnels through a third node (PROTOCOL.md §1.8). A reaches B through R:
 *
 * ```
 *  A                          R                          B
 *  |-- 8 PeerStatusQuery(B) ->|                          |
 *  |<- 9 PeerStatusAvailable -|   (16 = unavailable)     |
 *  |-- 4 ProxyTunnel(EPN B) ->|                          |
 *  |                          |-- 5 ProxyConnection(EPN A) ->|
 *  |                          |<------ 6 accept ---------|
 *  |<------ 6 accept ---------|   splice both channels   |
 *  |===== handshake (A initiator, B acceptor), then frames =====|
 * ```
 *
 * The result is an ordinary {@link Connection} marked `virtual`, so tunnels nest.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint } from '../types.js';
import type { VirtualChannel } from './channel.js';
import type { ChannelRequest, Connection } from './connection.js';
import { type ConnectionLimits, Signal } from './constants.js';
import { decodeEpn, encodeEpn } from './endpoint.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';
import type { Frame } from './frame.js';
import { splice, type SpliceOptions } from './splice.js';

/** Tunnel counters (part of the manager's stats). */
export interface TunnelCounters {
  /** Tunnels this node opened as requester (A). */
  tunnelsOpened: number;
  /** Tunnels that reached this node as target (B). */
  tunnelsAccepted: number;
  /** Tunnels this node spliced for others (R), in total. */
  tunnelsRelayed: number;
  /** Tunnels this node splices right now. */
  tunnelsRelaying: number;
}

/** What the tunnel service needs from its manager. */
export interface TunnelHost {
  readonly limits: ConnectionLimits;
  readonly stats: TunnelCounters;
  readonly logger: Logger;
  liveConnections(): Iterable<Connection>;
  /** The registered connection whose connection ID is `endpoint`. */
  connectionTo(endpoint: Endpoint): Connection | undefined;
  /** Run the initiator handshake over `stream` and register the virtual connection. */
  initiateOver(stream: Duplex, remote: Endpoint): Promise<Connection>;
  /** Run the acceptor handshake over `stream` (the far end of a tunnel). */
  acceptOver(stream: Duplex, remote: Endpoint): void;
  /** The policy a plugin (relay) set for tunnels this node splices, if any. */
  tunnelPolicy(): TunnelPolicy | undefined;
}

/**
 * What a {@link TunnelPolicy} decides for one tunnel: refuse it (`false`), splice it
 * plainly (`undefined`), or splice it with options (a rate limit); `onClose` runs once
 * the tunnel is gone.
 */
export type TunnelDecision = false | undefined | (SpliceOptions & { onClose?: () => void });

/** Called when this node (R) is asked to splice `near` (the requester) to `far` (the target). */
export type TunnelPolicy = (near: Connection, far: Connection) => TunnelDecision;

interface StatusQuery {
  key: string;
  waiting: Set<Connection>;
  settle(winner: Connection | undefined): void;
}

function noRoute(target: string, cause?: unknown): ConnectionError {
  return new ConnectionError(ConnectionErrorCode.TUNNEL_NO_ROUTE, `no node offered a tunnel to ${target}`, { cause });
}

/** Finds tunnel nodes, opens tunnels, and serves as tunnel node and tunnel target. */
export class TunnelService {
  private readonly host: TunnelHost;
  private readonly queries = new Set<StatusQuery>();

  constructor(host: TunnelHost) {
    this.host = host;
  }

  /** Open a virtual connection to `target` through `via`, or through the first node that says it can reach it. */
  async open(target: Endpoint, via?: Connection): Promise<Connection> {
    const name = encodeEpn(target);
    const remote = decodeEpn(name);
    const label = `${remote.host}:${remote.port}`;
    const node = via ?? (await this.findTunnelNode(name, label));
    let channel: VirtualChannel;
    try {
      channel = await node.openChannel(name, Signal.CONNECT_PROXY_TUNNEL);
    } catch (err) {
      throw noRoute(label, err);
    }
    this.host.stats.tunnelsOpened++;
    return this.host.initiateOver(channel, remote);
  }

  /** Ask every connection whether it reaches the EPN `name`; the first yes wins. */
  findTunnelNode(name: Buffer, label: string): Promise<Connection> {
    const candidates = [...this.host.liveConnections()].filter((c) => !c.closed);
    if (candidates.length === 0) return Promise.reject(noRoute(label));
    return new Promise((resolve, reject) => {
      const query: StatusQuery = {
        key: name.toString('latin1'),
        waiting: new Set(candidates),
        settle: (winner) => {
          clearTimeout(timer);
          this.queries.delete(query);
          if (winner) resolve(winner);
          else reject(noRoute(label));
        },
      };
      const timer = setTimeout(() => query.settle(undefined), this.host.limits.peerStatusTimeoutMs);
      this.queries.add(query);
      for (const c of candidates) c.sendControl(Signal.PEER_STATUS_QUERY, name);
    });
  }

  /** Peer-status frames (8, 9, 16) from any connection. */
  onControl(frame: Frame, from: Connection): void {
    if (frame.signal === Signal.PEER_STATUS_QUERY) {
      let reachable = false;
      try {
        const target = this.host.connectionTo(decodeEpn(frame.name));
        reachable = target !== undefined && target !== from && this.host.stats.tunnelsRelaying < this.host.limits.maxRelayedTunnels;
      } catch {
        // A name that is no EPN reaches nobody.
      }
      from.sendControl(reachable ? Signal.PEER_STATUS_AVAILABLE : Signal.PEER_STATUS_UNAVAILABLE, frame.name);
      return;
    }
    const key = frame.name.toString('latin1');
    for (const query of [...this.queries]) {
      if (query.key !== key || !query.waiting.has(from)) continue;
      if (frame.signal === Signal.PEER_STATUS_AVAILABLE) {
        query.settle(from);
      } else {
        query.waiting.delete(from);
        if (query.waiting.size === 0) query.settle(undefined);
      }
    }
  }

  /** A connection closed: it will answer no query. */
  forget(connection: Connection): void {
    for (const query of [...this.queries]) {
      if (query.waiting.delete(connection) && query.waiting.size === 0) query.settle(undefined);
    }
  }

  /** Signal 4: someone asks us (R) to splice them to a node we are connected to. */
  relay(request: ChannelRequest): void {
    const { stats, limits } = this.host;
    let farName: Buffer;
    let far: Connection | undefined;
    try {
      far = this.host.connectionTo(decodeEpn(request.name));
      farName = encodeEpn(request.connection.info.remote);
    } catch {
      request.refuse();
      return;
    }
    if (!far || far === request.connection || stats.tunnelsRelaying >= limits.maxRelayedTunnels) {
      request.refuse();
      return;
    }
    const decision = this.host.tunnelPolicy()?.(request.connection, far);
    if (decision === false) {
      request.refuse();
      return;
    }
    stats.tunnelsRelaying++;
    const release = (): void => {
      stats.tunnelsRelaying--;
      decision?.onClose?.();
    };
    far.openChannel(farName, Signal.CONNECT_PROXY_CONNECTION).then(
      (farChannel) => {
        let near: VirtualChannel;
        try {
          near = request.accept();
        } catch {
          farChannel.destroy();
          release();
          return;
        }
        stats.tunnelsRelayed++;
        splice(near, farChannel, release, decision ?? {});
      },
      (err: unknown) => {
        this.host.logger.debug({ err }, 'tunnel far end refused');
        request.refuse();
        release();
      },
    );
  }

  /** Signal 5: a tunnel node delivers a tunnel to us (B); the initiator is in the name. */
  acceptFar(request: ChannelRequest): void {
    let remote: Endpoint;
    try {
      remote = decodeEpn(request.name);
    } catch {
      request.refuse();
      return;
    }
    const channel = request.accept();
    this.host.stats.tunnelsAccepted++;
    this.host.acceptOver(channel, remote);
  }

  /** Reject every pending query (the node stops). */
  stop(): void {
    for (const query of [...this.queries]) query.settle(undefined);
  }
}
