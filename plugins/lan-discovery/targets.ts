/**
 * Where queries go: each IPv4 interface's directed broadcast address, and the IPv6
 * multicast group scoped to each IPv6 interface (spec §6.3). Pure functions over the
 * shape `os.networkInterfaces()` returns, so they are testable without a network.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

export type InterfaceMap = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface InterfaceTargets {
  /** Directed broadcast addresses, one per non-loopback IPv4 network. */
  ipv4Broadcasts: string[];
  /** Names of non-loopback interfaces with IPv6, for `ff12::1%name`. */
  ipv6Interfaces: string[];
}

function ipv4ToInt(address: string): number {
  const parts = address.split('.').map((p) => Number(p));
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

/**
 * The directed broadcast address of `address`/`netmask`, or undefined when the network
 * has none (/31 and /32: point-to-point links and host routes).
 */
export function broadcastAddress(address: string, netmask: string): string | undefined {
  if (!isIPv4(address) || !isIPv4(netmask)) return undefined;
  const mask = ipv4ToInt(netmask);
  if (mask === 0xffffffff || mask === 0xfffffffe) return undefined;
  return intToIpv4((ipv4ToInt(address) | ~mask) >>> 0);
}

function isFamily(info: NetworkInterfaceInfo, family: 4 | 6): boolean {
  // Node 18.0-18.3 reported the family as a number; later versions as 'IPv4' / 'IPv6'.
  const value: unknown = info.family;
  return value === `IPv${family}` || value === family;
}

/** Broadcast addresses and IPv6 interfaces of every non-internal interface, sorted. */
export function discoverTargets(interfaces: InterfaceMap): InterfaceTargets {
  const ipv4 = new Set<string>();
  const ipv6 = new Set<string>();
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (isFamily(info, 4)) {
        const broadcast = broadcastAddress(info.address, info.netmask);
        if (broadcast !== undefined) ipv4.add(broadcast);
      } else if (isFamily(info, 6)) {
        ipv6.add(name);
      }
    }
  }
  return { ipv4Broadcasts: [...ipv4].sort(), ipv6Interfaces: [...ipv6].sort() };
}

/** `::ffff:a.b.c.d` becomes `a.b.c.d`; everything else is returned as is. */
export function normalizeHost(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return mapped !== null ? mapped[1]! : host;
}

/** True for 127.0.0.0/8 and ::1 (the only destinations allowed with `loopbackOnly`). */
export function isLoopbackAddress(host: string): boolean {
  const plain = normalizeHost(host);
  if (isIPv4(plain)) return plain.startsWith('127.');
  const unscoped = plain.split('%')[0]!;
  return isIPv6(unscoped) && (unscoped === '::1' || unscoped === '0:0:0:0:0:0:0:1');
}
