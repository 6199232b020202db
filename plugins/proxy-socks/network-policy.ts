/**
 * What this node may do on the network. The proxy plugin registers one under
 * the service name `networkPolicy`; the kernel and every plugin that opens a
 * socket of its own consult it (absent service = everything allowed).
 */
import { OPEN_NETWORK_POLICY, type NetworkPolicy } from '../../core/network-policy.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';

export type { NetworkMode, NetworkPolicy } from '../../core/network-policy.js';

export type NetworkCapability = 'directTcp' | 'udp' | 'lan' | 'listen' | 'dns';

const CAPABILITY_FIELD: Readonly<Record<NetworkCapability, keyof NetworkPolicy>> = Object.freeze({
  directTcp: 'allowDirectTcp',
  udp: 'allowUdp',
  lan: 'allowLan',
  listen: 'allowListen',
  dns: 'allowDns',
});

export { OPEN_NETWORK_POLICY };

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
