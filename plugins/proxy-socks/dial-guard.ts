import { connect as netConnect, type LookupFunction, type Socket } from 'node:net';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';

/**
 * One deadline and one abort signal for a whole dial (TCP connect to the proxy
 * plus negotiation). When either fires, `signal` aborts with a typed reason and
 * whoever holds a socket destroys it.
 */
export class DialGuard {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly outer: AbortSignal | undefined;
  private readonly onOuterAbort = (): void => {
    this.controller.abort(new ProxyError(PROXY_ERROR_CODES.ABORTED, `${this.what}: aborted by the caller`));
  };

  constructor(
    private readonly what: string,
    timeoutMs: number,
    outer?: AbortSignal,
  ) {
    if (outer?.aborted) throw new ProxyError(PROXY_ERROR_CODES.ABORTED, `${what}: aborted by the caller`);
    this.outer = outer;
    this.timer = setTimeout(() => {
      this.controller.abort(new ProxyError(PROXY_ERROR_CODES.TIMEOUT, `${what}: no tunnel within ${timeoutMs} ms`));
    }, timeoutMs);
    outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** The typed reason (timeout or abort) once fired. */
  get reason(): ProxyError {
    return this.controller.signal.reason as ProxyError;
  }

  /** Destroy `socket` when the guard fires; returns an undo function. */
  watch(socket: Socket): () => void {
    const kill = (): void => {
      socket.destroy();
    };
    if (this.aborted) kill();
    else this.controller.signal.addEventListener('abort', kill, { once: true });
    return () => this.controller.signal.removeEventListener('abort', kill);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}

/** Options for the TCP leg to the proxy. */
export interface OpenTcpOptions {
  host: string;
  port: number;
  /** Used when `host` is a name; Tor mode passes one that refuses. */
  lookup?: LookupFunction;
  /** How errors name the proxy. */
  label: string;
}

/** Opens TCP to the proxy; typed errors; honours the guard. */
export function openTcp(options: OpenTcpOptions, guard: DialGuard): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    if (guard.aborted) {
      reject(guard.reason);
      return;
    }
    const socket = netConnect({
      host: options.host,
      port: options.port,
      noDelay: true,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
    const unwatch = guard.watch(socket);
    const cleanup = (): void => {
      unwatch();
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error): void => {
      cleanup();
      socket.destroy();
      if (guard.aborted) reject(guard.reason);
      else if (err instanceof ProxyError) reject(err);
      else {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        reject(new ProxyError(PROXY_ERROR_CODES.UNREACHABLE, `${options.label}: cannot connect to the proxy (${code})`, { cause: err }));
      }
    };
    // A guard-triggered destroy() emits 'close' without 'error'.
    const onClose = (): void => {
      cleanup();
      reject(guard.aborted ? guard.reason : new ProxyError(PROXY_ERROR_CODES.UNREACHABLE, `${options.label}: connection to the proxy closed`));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
