/**
 * HTTP(S) through the proxy for other plugins (HTTP trackers, CA and
 * revocation requests): `http.Agent` / `https.Agent` whose connections are
 * proxy tunnels, and a small bounded `fetch`. Node's own HTTP parser does the
 * HTTP; the host name in the URL travels to the proxy unresolved.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { DEFAULT_MAX_FETCH_BODY_BYTES } from './constants.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';
import type { ProxyDialer } from './proxy-dialer.js';

type Callback = (err: Error | null, stream: Duplex) => void;

function targetOf(options: http.ClientRequestArgs, defaultPort: number): { host: string; port: number } {
  const rawHost = options.hostname ?? options.host ?? 'localhost';
  // URL-derived IPv6 hosts arrive bracketed.
  const host = rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost;
  const port = Number(options.port ?? defaultPort);
  return { host, port };
}

/** An `http.Agent` that opens every connection through the proxy. */
export class ProxiedHttpAgent extends http.Agent {
  constructor(
    private readonly dialer: ProxyDialer,
    options: http.AgentOptions = {},
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
    const cb = callback as Callback;
    this.dialer.connect(targetOf(options, 80), options.timeout !== undefined ? { timeoutMs: options.timeout } : {}).then(
      (socket) => cb(null, socket),
      (err: Error) => cb(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** An `https.Agent` that runs TLS over a proxy tunnel (SNI and checks as usual). */
export class ProxiedHttpsAgent extends https.Agent {
  constructor(
    private readonly dialer: ProxyDialer,
    options: https.AgentOptions = {},
  ) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: Callback): Duplex | null | undefined {
    const cb = callback as Callback;
    const target = targetOf(options, 443);
    this.dialer.connect(target, options.timeout !== undefined ? { timeoutMs: options.timeout } : {}).then(
      (socket) => {
        const servername = options.servername ?? (isIP(target.host) === 0 ? target.host : undefined);
        const tlsSocket = tls.connect({ ...(options as tls.ConnectionOptions), socket, ...(servername ? { servername } : {}) });
        cb(null, tlsSocket);
      },
      (err: Error) => cb(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Whole request, tunnel included. @default 30000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Larger bodies fail with ERR_PROXY_FETCH_FAILED. @default 4 MiB */
  maxBodyBytes?: number;
  /** Extra TLS options for https (e.g. `ca` in tests). */
  tls?: tls.ConnectionOptions;
}

export interface FetchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

/** One HTTP(S) request through `agents`; the body is read whole, up to a cap. */
export function fetchThrough(
  agents: { http: http.Agent; https: https.Agent },
  url: string | URL,
  init: FetchInit = {},
): Promise<FetchResponse> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return Promise.reject(new ProxyError(PROXY_ERROR_CODES.BAD_TARGET, `fetch supports http and https, not ${parsed.protocol}`));
  }
  const timeoutMs = init.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBodyBytes = init.maxBodyBytes ?? DEFAULT_MAX_FETCH_BODY_BYTES;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  const isHttps = parsed.protocol === 'https:';
  const transport = isHttps ? https : http;

  return new Promise<FetchResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: FetchResponse): void => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value as FetchResponse);
    };
    const classify = (err: Error): Error => {
      if (err instanceof ProxyError) return err;
      if (timeout.aborted) return new ProxyError(PROXY_ERROR_CODES.TIMEOUT, `fetch through proxy: no answer within ${timeoutMs} ms`);
      if (init.signal?.aborted) return new ProxyError(PROXY_ERROR_CODES.ABORTED, 'fetch through proxy: aborted by the caller');
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return new ProxyError(PROXY_ERROR_CODES.FETCH_FAILED, `fetch through proxy failed (${code})`, { cause: err });
    };
    const req = transport.request(
      parsed,
      {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        agent: isHttps ? agents.https : agents.http,
        timeout: timeoutMs,
        signal,
        ...(isHttps && init.tls ? (init.tls as https.RequestOptions) : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) {
            req.destroy();
            finish(new ProxyError(PROXY_ERROR_CODES.FETCH_FAILED, `fetch through proxy: body larger than ${maxBodyBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => finish(classify(err)));
      },
    );
    req.on('error', (err) => finish(classify(err)));
    req.end(init.body);
  });
}
