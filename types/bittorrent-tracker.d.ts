// Minimal types for bittorrent-tracker 11 (it ships none). Only what this project uses.
declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events';
  import type { Server as HttpServer } from 'node:http';
  import type { Socket } from 'node:dgram';

  export interface ClientOptions {
    infoHash: Buffer | string;
    peerId: Buffer | string;
    announce: string[];
    port: number;
    /** `false` disables WebRTC (and with it websocket trackers). */
    wrtc?: false;
    userAgent?: string;
    getAnnounceOpts?: () => Record<string, unknown>;
  }

  export interface AnnounceOptions {
    numwant?: number;
    uploaded?: number;
    downloaded?: number;
    left?: number;
  }

  /** One tracker URL inside a client (internal, used to take over scheduling). */
  export interface TrackerEntry {
    announceUrl: string;
    setInterval(intervalMs?: number): void;
    destroyed: boolean;
    /** HTTP trackers only: the request path (replaced by this project, see http-announce.ts). */
    _request?: (requestUrl: string, params: Record<string, unknown>, cb: (err: Error | null, data?: Record<string, unknown>) => void) => void;
  }

  export interface TrackerUpdate {
    announce: string;
    complete?: number;
    incomplete?: number;
    interval?: number;
    'min interval'?: number;
    [key: string]: unknown;
  }

  export class Client extends EventEmitter {
    constructor(options: ClientOptions);
    destroyed: boolean;
    _trackers: TrackerEntry[];
    start(options?: AnnounceOptions): void;
    stop(options?: AnnounceOptions): void;
    update(options?: AnnounceOptions): void;
    setInterval(intervalMs: number): void;
    destroy(cb?: (err: Error | null) => void): void;
    on(event: 'peer', listener: (addr: string) => void): this;
    on(event: 'update', listener: (data: TrackerUpdate) => void): this;
    on(event: 'warning' | 'error', listener: (err: Error) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export interface ServerOptions {
    http?: boolean;
    udp?: boolean;
    ws?: boolean;
    stats?: boolean;
    trustProxy?: boolean;
    /** Interval told to clients, in ms. */
    interval?: number;
  }

  export class Server extends EventEmitter {
    constructor(options?: ServerOptions);
    http: HttpServer | null;
    udp4: Socket | null;
    udp6: Socket | null;
    listening: boolean;
    listen(
      port?: number | { http?: number; udp?: number },
      hostname?: string | { http?: string; udp?: string; udp6?: string },
      onlistening?: () => void,
    ): void;
    close(cb?: (err?: Error | null) => void): void;
  }

  export default Client;
}
