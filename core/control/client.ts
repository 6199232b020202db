/**
 * Callers of control methods: {@link ControlClient} over the socket of a running
 * node, and {@link InProcessCaller} for a node this process runs itself (the CLI when
 * no node runs). Both hand back the same JSON, so a command has one code path.
 */
import { connect, type Socket } from 'node:net';
import { ControlError, ControlErrorCode, RemoteError } from './errors.js';
import { decodeReply, encodeRequest, encodeResult, LineSplitter, tickBatchedWriter, MAX_REPLY_BYTES, type ControlReply, type RequestId } from './protocol.js';
import type { ControlMethods } from './registry.js';

/** A node that accepted the connection answers at once; a socket that hangs longer is treated as dead. */
export const CONNECT_TIMEOUT_MS = 2_000;
/** Connection errors meaning "no node listens here": the caller falls back to opening the folder itself. */
const NOBODY_THERE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTDIR', 'ENAMETOOLONG']);

export interface CallOptions {
  /** Events the method streams before its result. */
  onEvent?(event: string, data: unknown): void;
  /** Cancels the request (`control.cancel`); the call rejects with ERR_CONTROL_CANCELLED. */
  signal?: AbortSignal;
}

export interface ControlCaller {
  call<T = unknown>(method: string, params?: Record<string, unknown>, options?: CallOptions): Promise<T>;
  close(): void;
}

interface Waiting {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onEvent?: CallOptions['onEvent'];
}

export class ControlClient implements ControlCaller {
  private readonly socket: Socket;
  private readonly waiting = new Map<RequestId, Waiting>();
  private readonly splitter = new LineSplitter(MAX_REPLY_BYTES);
  private nextId = 1;
  private closedError: Error | undefined;
  /** Requests made in the same tick leave in one write. */
  private readonly write: (line: Buffer) => void;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.write = tickBatchedWriter(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new ControlError(ControlErrorCode.CLOSED, `control socket: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new ControlError(ControlErrorCode.CLOSED, 'the node closed the control connection')));
  }

  /** Connects to the node at `path`; `undefined` when no node listens there (no socket, or a stale one). */
  static connect(path: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<ControlClient | undefined> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ControlError(ControlErrorCode.TIMEOUT, `the node on ${path} did not accept the connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code !== undefined && NOBODY_THERE.has(err.code)) resolve(undefined);
        else reject(new ControlError(ControlErrorCode.NOT_RUNNING, `cannot reach the node on ${path}: ${err.message}`, { cause: err }));
      });
    });
  }

  call<T = unknown>(method: string, params: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.waiting.has(id)) this.write(encodeRequest({ id: this.nextId++, method: 'control.cancel', params: { id } }));
      };
      const done = (): void => options.signal?.removeEventListener('abort', onAbort);
      this.waiting.set(id, {
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.write(encodeRequest({ id, method, params }));
      if (options.signal?.aborted) onAbort();
    });
  }


  close(): void {
    this.closedError ??= new ControlError(ControlErrorCode.CLOSED, 'the control connection was closed');
    this.fail(this.closedError);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let lines: Buffer[];
    try {
      lines = this.splitter.push(chunk);
      for (const line of lines) this.onReply(decodeReply(line));
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
    }
  }

  private onReply(reply: ControlReply): void {
    if (reply.id === null) {
      // Not tied to a request: the node refused the connection itself (too many clients).
      if (reply.kind === 'error') this.fail(new RemoteError(reply.code, reply.message));
      return;
    }
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    if (reply.kind === 'event') return void waiting.onEvent?.(reply.event, reply.data);
    this.waiting.delete(reply.id);
    if (reply.kind === 'result') waiting.resolve(reply.result);
    else waiting.reject(new RemoteError(reply.code, reply.message));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const waiting of this.waiting.values()) waiting.reject(this.closedError);
    this.waiting.clear();
  }
}

/**
 * Calls the methods of a node in this process, with the socket's semantics: the
 * result goes through the same JSON encoding, errors keep their codes, events
 * arrive through `onEvent`, and `signal` cancels.
 */
export class InProcessCaller implements ControlCaller {
  private readonly methods: ControlMethods;
  private readonly running = new Set<AbortController>();

  constructor(methods: ControlMethods) {
    this.methods = methods;
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) controller.abort();
    this.running.add(controller);
    try {
      const cancelled = new Promise<never>((_, reject) => {
        const stop = (): void => reject(new ControlError(ControlErrorCode.CANCELLED, 'cancelled'));
        if (controller.signal.aborted) stop();
        else controller.signal.addEventListener('abort', stop, { once: true });
      });
      cancelled.catch(() => undefined);
      const result = await Promise.race([
        this.methods.invoke(method, JSON.parse(JSON.stringify(params)) as Record<string, unknown>, {
          signal: controller.signal,
          emit: (event, data) => {
            if (!controller.signal.aborted) options.onEvent?.(event, JSON.parse(encodeResult(0, data).toString()).result);
          },
        }),
        cancelled,
      ]);
      return (JSON.parse(encodeResult(0, result).toString()) as { result: T }).result;
    } finally {
      this.running.delete(controller);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Cancels whatever still runs. */
  close(): void {
    for (const controller of this.running) controller.abort();
  }
}
