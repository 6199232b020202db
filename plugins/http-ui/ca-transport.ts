/**
 * How the UI reaches a certification authority. With the proxy plugin on (proxy
 * or Tor mode) every CA request goes through the proxy service's `fetch`: the
 * CA's host name travels to the proxy unresolved and the CA sees the proxy's
 * address, never the user's. A node whose network policy forbids direct TCP but
 * has no proxy service fails closed: nothing is sent.
 */
import { directCaTransport, type CaTransport } from '../../core/identity/ca/client.js';
import { networkPolicyOf } from '../../core/network-policy.js';
import type { PluginApi } from '../../core/plugin.js';
import { ERR_UI_NO_PROXY, UiError } from './errors.js';

/** The part of the proxy service (plugins/proxy-socks) the CA client needs. */
interface ProxyFetch {
  fetch: CaTransport;
}

/**
 * A transport that looks the proxy up at each request: the proxy plugin may
 * apply after this one, and a registration may outlive a restart.
 */
export function caTransportOf(services: Pick<PluginApi, 'tryResolve'>): CaTransport {
  return (url, init) => {
    const proxy = services.tryResolve<ProxyFetch>('proxy');
    if (proxy !== undefined) return proxy.fetch(url, init);
    if (!networkPolicyOf(services).allowDirectTcp) {
      return Promise.reject(new UiError(ERR_UI_NO_PROXY, 503, 'this node may not connect directly and has no proxy to reach the CA through'));
    }
    return directCaTransport(url, init);
  };
}
