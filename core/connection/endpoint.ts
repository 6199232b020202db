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
import { isIP } from 'node:net';
import { formatIPv6, ipv6ToBytes, isIPv4Mapped, mappedIPv4 } from '../ip-address.js';
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
    const bytes = ipv6ToBytes(h);
    return isIPv4Mapped(bytes) ? mappedIPv4(bytes) : formatIPv6(bytes);
  }
  return h.toLowerCase();
}

/** A stable map key for an end point (normalised host + port). */
export function endpointKey(endpoint: Endpoint): string {
  const host = normalizeHost(endpoint.host);
  return isIP(host) === 6 ? `[${host}]:${endpoint.port}` : `${host}:${endpoint.port}`;
}

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
    ipv6ToBytes(host).copy(out, 1);
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
