/**
 * proxy-socks: every outbound TCP connection through a SOCKS5 or HTTP CONNECT
 * proxy (spec §8), and Tor mode, a network policy that forbids every way
 * around the proxy. See README.md.
 */
import { definePlugin } from '../../core/plugin.js';
import type { DialRequest, PeerStream } from '../../core/types.js';
import { DIAL_TAP_STAGE, PLUGIN_NAME, PLUGIN_VERSION } from './constants.js';
import { createNetworkPolicy, type NetworkPolicy } from './network-policy.js';
import { normalizeOptions, optionsSchema, type ProxySocksOptions } from './options.js';
import { createProxyService, type ProxyService } from './proxy-service.js';

export { PROXY_ERROR_CODES, ProxyError } from './errors.js';
export { assertAllowed, createNetworkPolicy, isAllowed, OPEN_NETWORK_POLICY } from './network-policy.js';
export type { NetworkCapability, NetworkMode, NetworkPolicy } from './network-policy.js';
export type { ProxySocksOptions, ProxyServerConfig } from './options.js';
export type { ProxyService } from './proxy-service.js';
export type { FetchInit, FetchResponse } from './proxied-http.js';
export { createProxyService } from './proxy-service.js';

declare module '../../core/plugin.js' {
  interface ServiceMap {
    /** Tunnels and HTTP(S) through the configured proxy (registered by proxy-socks). */
    proxy: ProxyService;
    /** What the node may do on the network; absent means everything (registered by proxy-socks). */
    networkPolicy: NetworkPolicy;
  }
}

export default definePlugin<ProxySocksOptions>({
  name: PLUGIN_NAME,
  version: PLUGIN_VERSION,
  requires: [],
  optionsSchema,
  description: 'Outbound connections through a SOCKS5 or HTTP CONNECT proxy; Tor mode',
  apply(api, rawOptions) {
    const options = normalizeOptions(rawOptions);
    const service = createProxyService(options, api.logger);
    const policy = createNetworkPolicy(options);
    api.register('proxy', service);
    api.register('networkPolicy', policy);

    // Success or a thrown error: never `undefined`, so no later tap (core's
    // direct TCP) ever runs. Falling through would reveal our address.
    api.hooks.dial.tapPromise({ name: PLUGIN_NAME, stage: DIAL_TAP_STAGE }, async (request: DialRequest): Promise<PeerStream> => {
      return service.connect(request.endpoint, {
        timeoutMs: request.timeoutMs,
        ...(request.signal ? { signal: request.signal } : {}),
      });
    });

    api.hooks.start.tapPromise(PLUGIN_NAME, async () => {
      api.logger.info({ proxy: service.label, mode: policy.mode }, 'outbound TCP goes through the proxy');
    });
    api.hooks.stop.tapPromise(PLUGIN_NAME, async () => {
      service.close();
    });
  },
});
