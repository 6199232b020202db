// Minimal types for bittorrent-dht 11 (it ships none). Only what this project uses.
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';

  export interface DhtNode {
    id?: Buffer;
    host: string;
    port: number;
  }

  export interface DhtPeer {
    host: string;
    port: number;
  }

  export interface DhtOptions {
    /** 20-byte node ID; random when absent. */
    nodeId?: Buffer;
    /** `false` for none; otherwise 'host:port' strings or node objects. Unset means the public routers. */
    bootstrap?: false | Array<string | DhtNode>;
    /** Our external host, if known (the DHT then stores our own announces too). */
    host?: string | false;
    /** Max peers stored per info-hash (default 10000). */
    maxPeers?: number;
    /** Max age of stored peers in ms (default 0 = never expire). */
    maxAge?: number;
    /** Max concurrent queries (default 16). */
    concurrency?: number;
    /** Query timeout in ms (k-rpc-socket, default 2000). */
    timeout?: number;
    /** Bring your own UDP socket (k-rpc-socket option). */
    socket?: Socket;
    /** Replace the K-RPC layer. */
    krpc?: unknown;
    timeBucketOutdated?: number;
  }

  export interface KBucketLike {
    toArray(): DhtNode[];
    count(): number;
  }

  export default class DHT extends EventEmitter {
    constructor(options?: DhtOptions);
    readonly nodeId: Buffer;
    readonly nodes: KBucketLike;
    listening: boolean;
    destroyed: boolean;
    ready?: boolean;
    listen(port?: number, address?: string, onlistening?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: DhtNode): void;
    removeNode(id: Buffer): void;
    announce(infoHash: Buffer | string, port: number, cb?: (err: Error | null) => void): void;
    lookup(infoHash: Buffer | string, cb?: (err: Error | null, nodesVisited?: number) => void): () => void;
    toJSON(): { nodes: Array<{ host: string; port: number; id?: string }>; values: Record<string, unknown> };
    destroy(cb?: () => void): void;

    on(event: 'peer', listener: (peer: DhtPeer, infoHash: Buffer, from: DhtNode | null) => void): this;
    on(event: 'node', listener: (node: DhtNode) => void): this;
    on(event: 'announce', listener: (peer: DhtPeer, infoHash: Buffer, from: DhtPeer) => void): this;
    on(event: 'ready' | 'listening' | 'close', listener: () => void): this;
    on(event: 'warning' | 'error', listener: (err: Error) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }
}
