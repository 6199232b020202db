/**
 * The control server: a Unix domain socket in the data folder on which local tools
 * (the CLI in another terminal, scripts) drive the running node. Newline-delimited
 * JSON (see protocol.ts and docs/protocol/control.md). The guard is the file system:
 * the socket's folder is 0700 and the socket 0600, so only our user (and root) can
 * connect; Node cannot read the peer's uid (no SO_PEERCRED), so nothing else is
 * asked of a client. Caps: connections, requests in flight per connection, bytes
 * per request line, bytes queued to a client that does not read.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ControlError, ControlErrorCode } from './errors.js';
import {
  BadRequest,
  decodeRequest,
  encodeError,
  encodeEvent,
  encodeResult,
  LineSplitter,
  MAX_REQUEST_BYTES,
  tickBatchedWriter,
  type ControlRequest,
  type RequestId,
} from './protocol.js';
import type { ControlContext, ControlMethods } from './registry.js';
import { prepareSocketPath } from './socket-file.js';

export const MAX_CONNECTIONS = 16;
export const MAX_PENDING_PER_CONNECTION = 32;
/** A client that lets this much pile up unread (a watch it never reads) is cut off. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const CANCEL_METHOD = 'control.cancel';
const METHODS_METHOD = 'control.methods';

export interface ControlServerOptions {
  /** Socket path (see `controlSocketPath`). */
  path: string;
  methods: ControlMethods;
  logger: Logger;
  maxConnections?: number;
  maxPendingPerConnection?: number;
  maxRequestBytes?: number;
  maxQueuedBytes?: number;
}

export interface ControlServerStats {
  connections: number;
  refusedConnections: number;
  requests: number;
  badRequests: number;
  errors: number;
  cancelled: number;
  slowClients: number;
}

export class ControlServer {
  readonly path: string;
  readonly stats: ControlServerStats = { connections: 0, refusedConnections: 0, requests: 0, badRequests: 0, errors: 0, cancelled: 0, slowClients: 0 };
  private readonly o: ConnectionOptions & { logger: Logger; maxConnections: number };
  private server: Server | undefined;
  private inode: number | undefined;
  private readonly clients = new Set<ControlConnection>();
  /** Every accepted socket, refused ones included, so stop() can close them all. */
  private readonly sockets = new Set<Socket>();

  constructor(options: ControlServerOptions) {
    this.path = options.path;
    this.o = {
      methods: options.methods,
      logger: options.logger,
      maxConnections: options.maxConnections ?? MAX_CONNECTIONS,
      maxPendingPerConnection: options.maxPendingPerConnection ?? MAX_PENDING_PER_CONNECTION,
      maxRequestBytes: options.maxRequestBytes ?? MAX_REQUEST_BYTES,
      maxQueuedBytes: options.maxQueuedBytes ?? MAX_QUEUED_BYTES,
    };
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  get openConnections(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    if (this.server) return;
    await prepareSocketPath(this.path);
    // allowHalfOpen: `printf '{...}\n' | nc -U node.sock` ends its side at once and still gets its answer.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: this.path, readableAll: false, writableAll: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.o.logger.warn({ err }, 'control socket error'));
    this.server = server;
    // The folder is 0700 already; 0600 on the socket too, whatever the umask was.
    await chmod(this.path, 0o600);
    this.inode = (await lstat(this.path)).ino;
    this.o.logger.info({ path: this.path }, 'control socket listening');
  }

  /** Stops accepting, cancels what runs, closes every client and removes the socket file (if it is still ours). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const client of [...this.clients]) client.destroy();
    for (const socket of [...this.sockets]) socket.destroy();
    await closed;
    try {
      if ((await lstat(this.path)).ino === this.inode) await unlink(this.path);
    } catch {
      // Already gone: nothing to clean.
    }
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.clients.size >= this.o.maxConnections) {
      this.stats.refusedConnections++;
      socket.on('error', () => undefined);
      socket.end(encodeError(null, new ControlError(ControlErrorCode.BUSY, `too many control connections (${this.o.maxConnections})`)));
      // Read (and drop) until the client's end arrives, or the socket never closes.
      socket.resume();
      return;
    }
    this.stats.connections++;
    const client = new ControlConnection(socket, this.o, this.stats);
    this.clients.add(client);
    socket.once('close', () => this.clients.delete(client));
  }
}

/** One client connection: splits lines, runs requests, writes replies, enforces the per-connection caps. */
class ControlConnection {
  private readonly socket: Socket;
  private readonly o: ConnectionOptions;
  private readonly stats: ControlServerStats;
  private readonly splitter: LineSplitter;
  private readonly pending = new Map<RequestId, InFlight>();
  private ended = false;
  /** After a fatal line: what still arrives is dropped until the socket closes. */
  private closing = false;
  /** Replies that become ready in the same tick (pipelined requests) leave in one write. */
  private readonly send: (line: Buffer) => void;

  constructor(socket: Socket, options: ConnectionOptions, stats: ControlServerStats) {
    this.socket = socket;
    this.o = options;
    this.stats = stats;
    this.splitter = new LineSplitter(options.maxRequestBytes);
    this.send = tickBatchedWriter(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.ended = true;
      this.endIfIdle();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => this.abortAll());
  }

  destroy(): void {
    this.abortAll();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    let lines: Buffer[];
    try {
      lines = this.splitter.push(chunk);
    } catch (err) {
      // The rest of an over-long line cannot be told from the next request: answer once and close.
      this.stats.badRequests++;
      this.closing = true;
      this.abortAll();
      this.socket.end(encodeError(null, err));
      return;
    }
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: Buffer): void {
    if (this.socket.destroyed || this.closing) return;
    this.stats.requests++;
    let request: ControlRequest;
    try {
      request = decodeRequest(line);
    } catch (err) {
      this.stats.badRequests++;
      this.write(encodeError(err instanceof BadRequest ? err.id : null, err));
      return;
    }
    const { id, method, params } = request;
    if (this.pending.has(id)) return this.fail(id, new ControlError(ControlErrorCode.DUPLICATE_ID, `request ${JSON.stringify(id)} is still in flight`));
    if (method === CANCEL_METHOD) return this.cancel(id, params['id']);
    if (method === METHODS_METHOD) return void this.write(encodeResult(id, this.o.methods.list()));
    if (this.pending.size >= this.o.maxPendingPerConnection) {
      return this.fail(id, new ControlError(ControlErrorCode.BUSY, `too many requests in flight on this connection (${this.o.maxPendingPerConnection})`));
    }
    const flight = new InFlight();
    this.pending.set(id, flight);
    const live = (): boolean => this.pending.get(id) === flight && !flight.aborted;
    const context = {
      get signal(): AbortSignal {
        return flight.signal;
      },
      emit: (event: string, data?: unknown) => {
        if (live()) this.write(encodeEvent(id, event, data));
      },
    };
    void this.run(id, method, params, context, live);
  }

  /** Runs one request to its last line (unless it was cancelled or the client left). */
  private async run(id: RequestId, method: string, params: Record<string, unknown>, context: ControlContext, live: () => boolean): Promise<void> {
    let line: Buffer;
    try {
      const result = await this.o.methods.invoke(method, params, context);
      if (!live()) return;
      try {
        line = encodeResult(id, result);
      } catch (err) {
        // A result JSON cannot carry (a BigInt, a cycle): say so instead of leaving the client waiting.
        throw new ControlError(ControlErrorCode.INTERNAL, `the result of ${method} could not be encoded: ${(err as Error)?.message ?? err}`);
      }
    } catch (err) {
      if (!live()) return;
      this.pending.delete(id);
      this.fail(id, err);
      this.endIfIdle();
      return;
    }
    this.pending.delete(id);
    this.write(line);
    this.endIfIdle();
  }

  private cancel(id: RequestId, target: unknown): void {
    const request = typeof target === 'number' || typeof target === 'string' ? this.pending.get(target) : undefined;
    if (request) {
      this.pending.delete(target as RequestId);
      request.abort();
      this.stats.cancelled++;
      this.write(encodeError(target as RequestId, new ControlError(ControlErrorCode.CANCELLED, 'cancelled')));
    }
    this.write(encodeResult(id, { cancelled: request !== undefined }));
  }

  private fail(id: RequestId, err: unknown): void {
    this.stats.errors++;
    this.write(encodeError(id, err));
  }

  private write(line: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (this.socket.writableLength + line.length > this.o.maxQueuedBytes) {
      this.stats.slowClients++;
      this.destroy();
      return;
    }
    this.send(line);
  }

  /** The client ended its side and nothing is in flight: end ours. */
  private endIfIdle(): void {
    if (this.ended && this.pending.size === 0 && !this.socket.destroyed) this.socket.end();
  }

  private abortAll(): void {
    for (const request of this.pending.values()) request.abort();
    this.pending.clear();
  }
}

/** A request in flight; its AbortSignal is made only when the handler asks for it (most never do, and each costs). */
class InFlight {
  aborted = false;
  private controller: AbortController | undefined;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted) this.controller.abort();
    return this.controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

interface ConnectionOptions {
  methods: ControlMethods;
  maxPendingPerConnection: number;
  maxRequestBytes: number;
  maxQueuedBytes: number;
}
