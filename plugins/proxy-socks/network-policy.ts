/**
 * What this node may do on the network. The proxy plugin registers one under
 * the service name `networkPolicy`; the kernel and every plugin that opens a
 * socket of its own consult it (absent service = everything allowed).
 */
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';

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

export type NetworkCapability = 'directTcp' | 'udp' | 'lan' | 'listen' | 'dns';

const CAPABILITY_FIELD: Readonly<Record<NetworkCapability, keyof NetworkPolicy>> = Object.freeze({
  directTcp: 'allowDirectTcp',
  udp: 'allowUdp',
  lan: 'allowLan',
  listen: 'allowListen',
  dns: 'allowDns',
});

/** No proxy: everything allowed (what consumers assume when no policy is registered). */
export const OPEN_NETWORK_POLICY: NetworkPolicy = Object.freeze({
  mode: 'direct',
  allowDirectTcp: true,
  allowUdp: true,
  allowLan: true,
  allowListen: true,
  allowDns: true,
});

/**
 * The policy for a proxied node. Plain proxy mode only forbids direct TCP
 * (spec §8: LAN discovery and the listener stay direct). Tor mode forbids every
 * way a packet could leave outside the proxy; `listen` keeps the listener.
 */
export function createNetworkPolicy(options: { tor: boolean; listen: boolean }): NetworkPolicy {
  if (!options.tor) {
    return Object.freeze({ ...OPEN_NETWORK_POLICY, mode: 'proxy', allowDirectTcp: false });
  }
  return Object.freeze({
    mode: 'tor',
    allowDirectTcp: false,
    allowUdp: false,
    allowLan: false,
    allowListen: options.listen,
    allowDns: false,
  });
}

/** True when `policy` (or its absence) allows `capability`. */
export function isAllowed(policy: NetworkPolicy | undefined, capability: NetworkCapability): boolean {
  if (policy === undefined) return true;
  return policy[CAPABILITY_FIELD[capability]] === true;
}

/** Throws ERR_PROXY_POLICY when `policy` forbids `capability`; `what` names the caller. */
export function assertAllowed(policy: NetworkPolicy | undefined, capability: NetworkCapability, what: string): void {
  if (!isAllowed(policy, capability)) {
    throw new ProxyError(PROXY_ERROR_CODES.POLICY, `${what}: ${capability} is not allowed in ${policy?.mode ?? 'direct'} mode`);
  }
}
