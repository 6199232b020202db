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
import type { Endpoint } from '../types.js';
import type { ByteReader, ByteWriter } from './byte-cursor.js';
import { ChatError, ERR_CHAT_BAD_FIELD, ERR_CHAT_BAD_INPUT } from './errors.js';

export const IPEP_FAMILY_V4 = 1;
export const IPEP_FAMILY_V6 = 2;
export const IPEP_V4_BYTES = 7;
export const IPEP_V6_BYTES = 19;

function parseV4(host: string): Buffer {
  return Buffer.from(host.split('.').map((p) => Number(p)));
}

/** RFC 4291 text form (with `::` and an optional dotted IPv4 tail) to 16 bytes. */
function parseV6(host: string): Buffer {
  let h = host;
  const pct = h.indexOf('%');
  if (pct !== -1) h = h.slice(0, pct);
  let tail: number[] = [];
  const lastColon = h.lastIndexOf(':');
  if (h.indexOf('.', lastColon) !== -1) {
    const v4 = parseV4(h.slice(lastColon + 1));
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    h = h.slice(0, lastColon + 1) + '0';
    // The '0' placeholder keeps the split below well-formed; it is replaced by `tail`.
  }
  const [head, rest] = h.split('::') as [string, string | undefined];
  const toGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  if (rest === undefined) groups = toGroups(head);
  else {
    const a = toGroups(head);
    const b = toGroups(rest);
    const fill = 8 - a.length - b.length - (tail.length > 0 ? 1 : 0);
    groups = [...a, ...new Array<number>(Math.max(0, fill)).fill(0), ...b];
  }
  if (tail.length > 0) groups = [...groups.slice(0, groups.length - 1), ...tail];
  const out = Buffer.alloc(16);
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Canonical compressed text form (RFC 5952): longest run of >= 2 zero groups becomes `::`. */
function formatV6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function isV4Mapped(b: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new ChatError(ERR_CHAT_BAD_INPUT, `bad port ${port}`);
}

/** Writes one IPEP; the host must be an IP literal (peer exchange carries addresses, not names). */
export function writeIpep(w: ByteWriter, ep: Endpoint): void {
  checkPort(ep.port);
  let v4: Buffer | undefined;
  let v6: Buffer | undefined;
  if (isIPv4(ep.host)) v4 = parseV4(ep.host);
  else if (isIPv6(ep.host.split('%')[0]!)) {
    v6 = parseV6(ep.host);
    if (isV4Mapped(v6)) { v4 = v6.subarray(12); v6 = undefined; }
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
    if (isV4Mapped(a)) return { host: `${a[12]}.${a[13]}.${a[14]}.${a[15]}`, port };
    return { host: formatV6(a), port };
  }
  throw new ChatError(ERR_CHAT_BAD_FIELD, `unknown IPEP family ${family}`);
}
