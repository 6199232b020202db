/**
 * IP literals as bytes and back, shared by every codec that carries an
 * address (connection-layer EPN channel names, chat peer exchange).
 */
import { isIPv4 } from 'node:net';

/** A dotted IPv4 literal as 4 bytes. */
export function ipv4ToBytes(host: string): Buffer {
  return Buffer.from(host.split('.').map(Number));
}

/** True for ::ffff:a.b.c.d (an IPv4 address seen through an IPv6 socket). */
export function isIPv4Mapped(bytes: Buffer): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The dotted form of the IPv4 address inside a mapped IPv6 address. */
export function mappedIPv4(bytes: Buffer): string {
  return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
}

/** An IPv6 literal (RFC 4291 text, `::`, dotted IPv4 tail, optional %scope) as 16 bytes. */
export function ipv6ToBytes(literal: string): Buffer {
  const pct = literal.indexOf('%');
  const host = pct >= 0 ? literal.slice(0, pct) : literal;
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

/** 16 bytes as canonical compressed IPv6 text (RFC 5952). */
export function formatIPv6(bytes: Buffer): string {
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
