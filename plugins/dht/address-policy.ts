/**
 * Which peer end points a discovery source may report. Shared by the DHT and
 * tracker plugins (imported by path: no plugin state, only pure functions).
 *
 * Spec §6.5: the original ignored private addresses in the DHT; we keep that as
 * the default on the public network and add a switch for tests and LAN set-ups.
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Endpoint } from '../../core/types.js';

/** Never a reachable peer, whatever the policy. */
const UNUSABLE_V4 = [
  ['0.0.0.0', 8],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const;
const UNUSABLE_V6 = [
  ['::', 128],
  ['ff00::', 8], // multicast
] as const;

/** Loopback, RFC 1918, link-local, CGNAT, unique-local: fine on a LAN, not on the Internet. */
const PRIVATE_V4 = [
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['169.254.0.0', 16],
  ['100.64.0.0', 10],
] as const;
const PRIVATE_V6 = [
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const;

const IPV4_MAPPED_PREFIX = '::ffff:';

function buildList(v4: ReadonlyArray<readonly [string, number]>, v6: ReadonlyArray<readonly [string, number]>): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
}

const unusable = buildList(UNUSABLE_V4, UNUSABLE_V6);
const privateRanges = buildList(PRIVATE_V4, PRIVATE_V6);

/** `::ffff:1.2.3.4` -> `1.2.3.4`; anything else unchanged (lower-cased). */
export function normaliseHost(host: string): string {
  const lower = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (lower.startsWith(IPV4_MAPPED_PREFIX) && isIP(lower.slice(IPV4_MAPPED_PREFIX.length)) === 4) {
    return lower.slice(IPV4_MAPPED_PREFIX.length);
  }
  return lower;
}

function family(host: string): 'ipv4' | 'ipv6' | null {
  const v = isIP(host);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : null;
}

/** True for loopback and private ranges (IPv4 and IPv6). */
export function isPrivateAddress(host: string): boolean {
  const h = normaliseHost(host);
  const f = family(h);
  return f !== null && privateRanges.check(h, f);
}

/** Why an end point is refused, or null when it may be reported. */
export function rejectEndpoint(endpoint: Endpoint, allowPrivate: boolean): 'invalid' | 'private' | null {
  const h = normaliseHost(endpoint.host);
  const f = family(h);
  if (f === null) return 'invalid';
  if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) return 'invalid';
  if (unusable.check(h, f)) return 'invalid';
  if (!allowPrivate && privateRanges.check(h, f)) return 'private';
  return null;
}

/** Addresses of this machine's interfaces (for "is that end point ourselves?"). */
export function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) out.add(normaliseHost(entry.address));
  }
  return out;
}

/** "host:port", with IPv6 hosts bracketed: a stable key for de-duplication. */
export function endpointKey(endpoint: Endpoint): string {
  const h = normaliseHost(endpoint.host);
  return h.includes(':') ? `[${h}]:${endpoint.port}` : `${h}:${endpoint.port}`;
}

/** Parse "host:port" or "[v6]:port"; null when it is not that shape. */
export function parseHostPort(text: string): Endpoint | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: normaliseHost(m[1]!), port };
}
