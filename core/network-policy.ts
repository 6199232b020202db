/**
 * What this node may do on the network. A plugin that hides the node (the
 * proxy plugin, in proxy or Tor mode) registers one as service
 * `networkPolicy`; the kernel and every plugin that opens a socket of its own
 * consult it through {@link networkPolicyOf}. No service: everything allowed.
 */
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

export type NetworkMode = 'direct' | 'proxy' | 'tor';

export interface NetworkPolicy {
  /** 'proxy': outbound TCP goes through a proxy; 'tor': proxy plus no leaks. */
  readonly mode: NetworkMode;
  /** Outbound TCP that bypasses `hooks.dial` / the proxy service (raw `net.connect`). */
  readonly allowDirectTcp: boolean;
  /** Any UDP socket: UDP trackers, the mainline DHT, LAN discovery. */
  readonly allowUdp: boolean;
  /** LAN discovery (IPv4 broadcast, IPv6 multicast). */
  readonly allowLan: boolean;
  /** A listening TCP socket for inbound peers. */
  readonly allowListen: boolean;
  /** Local DNS lookups (`dns.lookup`, resolving a tracker or bootstrap name). */
  readonly allowDns: boolean;
}

/** No proxy: everything allowed (what consumers assume when no policy is registered). */
export const OPEN_NETWORK_POLICY: NetworkPolicy = Object.freeze({
  mode: 'direct',
  allowDirectTcp: true,
  allowUdp: true,
  allowLan: true,
  allowListen: true,
  allowDns: true,
});

/** HTTP(S) agents that carry requests through the proxy (service `proxy`). */
export interface ProxiedAgents {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

/** The node's policy, from whatever resolves services (a kernel or a plugin's api). */
export function networkPolicyOf(services: { tryResolve(name: string): unknown }): NetworkPolicy {
  return (services.tryResolve('networkPolicy') as NetworkPolicy | undefined) ?? OPEN_NETWORK_POLICY;
}
