/**
 * End points as connection IDs and as EPN channel names (PROTOCOL.md §1.3, §1.5).
 *
 * EPN (end point in a 20-byte channel name):
 *
 * | off    | size   | field                          |
 * | ------ | ------ | ------------------------------ |
 * | 0      | 1      | family: 0 = IPv4, 1 = IPv6     |
 * | 1      | 4 / 16 | address, network byte order    |
 * | 5 / 17 | 2      | port, u16 LE                   |
 * | rest   |        | zero padding to 20 bytes       |
 */
import { isIP, isIPv4 } from 'node:net';
import type { Endpoint } from '../types.js';
import { CHANNEL_NAME_LENGTH } from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

/** IPv4-mapped IPv6 becomes IPv4, scope ids are dropped, IPv6 is lower-cased (§0.1). */
export function normalizeHost(host: string): string {
  let h = host.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const pct = h.indexOf('%');
  if (pct >= 0 && isIP(h.slice(0, pct)) === 6) h = h.slice(0, pct);
  if (isIP(h) === 6) {
    const bytes = parseIPv6(h);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}` : formatIPv6(bytes);
  }
  return h.toLowerCase();
}

/** A stable map key for an end point (normalised host + port). */
export function endpointKey(endpoint: Endpoint): string {
  const host = normalizeHost(endpoint.host);
  return isIP(host) === 6 ? `[${host}]:${endpoint.port}` : `${host}:${endpoint.port}`;
}

function parseIPv6(host: string): Buffer {
  const out = Buffer.alloc(16);
  let text = host;
  let tail: number[] = [];
  // An embedded dotted IPv4 quad fills the last 4 bytes.
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (isIPv4(maybeV4)) {
    tail = maybeV4.split('.').map(Number);
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const leftGroups = left ? left.split(':') : [];
  const rightGroups = right !== undefined && right !== '' ? right.split(':') : [];
  const groups = [...leftGroups, ...new Array<string>(8 - leftGroups.length - rightGroups.length).fill('0'), ...rightGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The EPN channel name of an IP-literal end point. */
export function encodeEpn(endpoint: Endpoint): Buffer {
  const host = normalizeHost(endpoint.host);
  const family = isIP(host);
  if (family === 0 || !Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 0xffff) {
    throw new ConnectionError(ConnectionErrorCode.TUNNEL_BAD_ENDPOINT, `tunnels need an IP literal and a port, got ${endpoint.host}:${endpoint.port}`);
  }
  const out = Buffer.alloc(CHANNEL_NAME_LENGTH);
  if (family === 4) {
    out[0] = 0;
    Buffer.from(host.split('.').map(Number)).copy(out, 1);
    out.writeUInt16LE(endpoint.port, 5);
  } else {
    out[0] = 1;
    parseIPv6(host).copy(out, 1);
    out.writeUInt16LE(endpoint.port, 17);
  }
  return out;
}

/** Reads an EPN channel name; throws ERR_TUNNEL_BAD_ENDPOINT on anything else. */
export function decodeEpn(name: Buffer): Endpoint {
  if (name.length !== CHANNEL_NAME_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.TUNNEL_BAD_ENDPOINT, 'EPN must be 20 bytes');
  }
  const family = name[0];
  let host: string;
  let port: number;
  let used: number;
  if (family === 0) {
    host = `${name[1]}.${name[2]}.${name[3]}.${name[4]}`;
    port = name.readUInt16LE(5);
    used = 7;
  } else if (family === 1) {
    host = normalizeHost(formatIPv6(name.subarray(1, 17)));
    port = name.readUInt16LE(17);
    used = 19;
  } else {
    throw new ConnectionError(ConnectionErrorCode.TUNNEL_BAD_ENDPOINT, `unknown EPN family ${family}`);
  }
  for (let i = used; i < CHANNEL_NAME_LENGTH; i++) {
    if (name[i] !== 0) throw new ConnectionError(ConnectionErrorCode.TUNNEL_BAD_ENDPOINT, 'EPN padding is not zero');
  }
  return { host, port };
}
