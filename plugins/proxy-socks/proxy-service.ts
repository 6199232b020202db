/**
 * The `proxy` service other plugins resolve: tunnels (`connect`), HTTP(S)
 * agents for libraries that take one (bittorrent-tracker's `proxyOpts`), and
 * a bounded `fetch`.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import type { Endpoint } from '../../core/types.js';
import type { NormalizedProxyOptions } from './options.js';
import { fetchThrough, ProxiedHttpAgent, ProxiedHttpsAgent, type FetchInit, type FetchResponse } from './proxied-http.js';
import { ProxyDialer, type ConnectOptions, type ProxyDialerStats, type ProxyLogger } from './proxy-dialer.js';

export interface ProxyService {
  /** `socks5 127.0.0.1:9050`: the proxy, named without credentials. */
  readonly label: string;
  /** 'tor' when Tor mode is on. */
  readonly mode: 'proxy' | 'tor';
  /** A TCP tunnel to `target` (host names resolved by the proxy). */
  connect(target: Endpoint, options?: ConnectOptions): Promise<Socket>;
  /** One HTTP(S) request through the proxy, body read whole up to a cap. */
  fetch(url: string | URL, init?: FetchInit): Promise<FetchResponse>;
  /** For libraries that take an agent (e.g. bittorrent-tracker `proxyOpts.httpAgent`). */
  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  readonly stats: ProxyDialerStats;
  /** Closes idle agent sockets (open tunnels belong to their users). */
  close(): void;
}

export function createProxyService(options: NormalizedProxyOptions, logger?: ProxyLogger): ProxyService {
  const dialer = new ProxyDialer({
    proxy: options.proxy,
    tor: options.tor,
    connectTimeoutMs: options.connectTimeoutMs,
    ...(logger ? { logger } : {}),
  });
  const httpAgent = new ProxiedHttpAgent(dialer);
  const httpsAgent = new ProxiedHttpsAgent(dialer);
  const agents = { http: httpAgent, https: httpsAgent };
  return {
    label: dialer.label,
    mode: options.tor ? 'tor' : 'proxy',
    connect: (target, connectOptions) => dialer.connect(target, connectOptions),
    fetch: (url, init) => fetchThrough(agents, url, init),
    httpAgent,
    httpsAgent,
    stats: dialer.stats,
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
