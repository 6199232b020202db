/**
 * One configured proxy: opens tunnels with the right protocol, counts what
 * happens, logs without credentials.
 */
import type { LookupFunction, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Endpoint } from '../../core/types.js';
import { DialGuard } from './dial-guard.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';
import { dialHttpConnect } from './http-connect-dialer.js';
import { describeProxy, type ProxyServerConfig } from './options.js';
import { dialSocks5 } from './socks5-dialer.js';
import { validateTarget } from './target.js';

export type ProxyLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

export interface ProxyDialerOptions {
  proxy: ProxyServerConfig;
  /** Tor mode: refuse any local name lookup, even for the proxy itself. */
  tor: boolean;
  /** Used when a caller gives no timeout. */
  connectTimeoutMs: number;
  logger?: ProxyLogger;
}

export interface ConnectOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Plain counters the UI and benchmarks read. */
export interface ProxyDialerStats {
  dials: number;
  connects: number;
  failures: number;
  /** Tunnels currently open. */
  open: number;
  /** Bytes through closed tunnels (negotiation included). */
  bytesRead: number;
  bytesWritten: number;
  /** Failures by error code. */
  failuresByCode: Record<string, number>;
}

// A lookup that always fails: in Tor mode nothing may resolve a name locally.
const refuseLookup: LookupFunction = (_hostname, _options, callback) => {
  const refusal = new ProxyError(PROXY_ERROR_CODES.POLICY, 'local DNS lookup refused in Tor mode');
  callback(refusal as unknown as NodeJS.ErrnoException, '', 0);
};

export class ProxyDialer {
  readonly stats: ProxyDialerStats = { dials: 0, connects: 0, failures: 0, open: 0, bytesRead: 0, bytesWritten: 0, failuresByCode: {} };
  /** `socks5 127.0.0.1:1080`: safe to log. */
  readonly label: string;
  private readonly proxy: ProxyServerConfig;
  private readonly tor: boolean;
  private readonly connectTimeoutMs: number;
  private readonly logger: ProxyLogger | undefined;

  constructor(options: ProxyDialerOptions) {
    // Copy, so a caller's later edits cannot change where we send credentials.
    this.proxy = Object.freeze({ ...options.proxy });
    this.tor = options.tor;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.logger = options.logger;
    this.label = describeProxy(this.proxy);
  }

  get type(): ProxyServerConfig['type'] {
    return this.proxy.type;
  }

  /** Opens a TCP tunnel to `target` through the proxy. Rejects with a ProxyError. */
  async connect(target: Endpoint, options: ConnectOptions = {}): Promise<Socket> {
    this.stats.dials += 1;
    const started = Date.now();
    let guard: DialGuard | undefined;
    try {
      validateTarget(target);
      guard = new DialGuard(this.label, options.timeoutMs ?? this.connectTimeoutMs, options.signal);
      const dialOptions = { proxy: this.proxy, target, guard, label: this.label, ...(this.tor ? { lookup: refuseLookup } : {}) };
      const socket = this.proxy.type === 'http' ? await dialHttpConnect(dialOptions) : await dialSocks5(dialOptions);
      this.track(socket);
      this.stats.connects += 1;
      this.logger?.debug({ proxy: this.label, ms: Date.now() - started }, 'proxy tunnel open');
      return socket;
    } catch (err) {
      const error = err instanceof ProxyError ? err : new ProxyError(PROXY_ERROR_CODES.CLOSED, `${this.label}: ${(err as Error).message}`);
      this.stats.failures += 1;
      this.stats.failuresByCode[error.code] = (this.stats.failuresByCode[error.code] ?? 0) + 1;
      // The destination is left out on purpose: in Tor mode it is who we talk to.
      this.logger?.warn({ proxy: this.label, code: error.code }, 'proxy tunnel failed');
      throw error;
    } finally {
      guard?.dispose();
    }
  }

  private track(socket: Socket): void {
    this.stats.open += 1;
    socket.once('close', () => {
      this.stats.open -= 1;
      this.stats.bytesRead += socket.bytesRead;
      this.stats.bytesWritten += socket.bytesWritten;
    });
  }
}
