/**
 * IPEP, the IP end point encoding of spec §0.1, used in peer-exchange lists.
 *
 * | off    | size    | field                                   |
 * | ------ | ------- | --------------------------------------- |
 * | 0      | 1       | family: 1 = IPv4, 2 = IPv6              |
 * | 1      | 4 or 16 | address, network byte order             |
 * | 5 / 17 | 2       | port, u16 LE                            |
 *
 * IPv4-mapped IPv6 addresses are written as IPv4 and scope IDs dropped (spec §0.1),
 * so two peers describing the same end point produce the same bytes.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6, ipv4ToBytes, ipv6ToBytes, isIPv4Mapped, mappedIPv4 } from '../ip-address.js';
import type { Endpoint } from '../types.js';
import type { ByteReader, ByteWriter } from './byte-cursor.js';
import { ChatError, ERR_CHAT_BAD_FIELD, ERR_CHAT_BAD_INPUT } from './errors.js';

export const IPEP_FAMILY_V4 = 1;
export const IPEP_FAMILY_V6 = 2;
export const IPEP_V4_BYTES = 7;
export const IPEP_V6_BYTES = 19;

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new ChatError(ERR_CHAT_BAD_INPUT, `bad port ${port}`);
}

/** Writes one IPEP; the host must be an IP literal (peer exchange carries addresses, not names). */
export function writeIpep(w: ByteWriter, ep: Endpoint): void {
  checkPort(ep.port);
  let v4: Buffer | undefined;
  let v6: Buffer | undefined;
  if (isIPv4(ep.host)) v4 = ipv4ToBytes(ep.host);
  else if (isIPv6(ep.host.split('%')[0]!)) {
    v6 = ipv6ToBytes(ep.host);
    if (isIPv4Mapped(v6)) { v4 = v6.subarray(12); v6 = undefined; }
  } else throw new ChatError(ERR_CHAT_BAD_INPUT, 'an IPEP host must be an IP address literal');
  if (v4) w.u8(IPEP_FAMILY_V4).bytes(v4);
  else w.u8(IPEP_FAMILY_V6).bytes(v6!);
  w.u16(ep.port);
}

export function readIpep(r: ByteReader): Endpoint {
  const family = r.u8('IPEP family');
  if (family === IPEP_FAMILY_V4) {
    const host = `${r.u8('IPv4 address')}.${r.u8('IPv4 address')}.${r.u8('IPv4 address')}.${r.u8('IPv4 address')}`;
    return { host, port: r.u16('port') };
  }
  if (family === IPEP_FAMILY_V6) {
    const a = r.bytes(16, 'IPv6 address');
    const port = r.u16('port');
    if (isIPv4Mapped(a)) return { host: mappedIPv4(a), port };
    return { host: formatIPv6(a), port };
  }
  throw new ChatError(ERR_CHAT_BAD_FIELD, `unknown IPEP family ${family}`);
}
