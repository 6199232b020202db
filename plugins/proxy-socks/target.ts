import { isIP } from 'node:net';
import type { Endpoint } from '../../core/types.js';
import { MAX_HOST_LENGTH } from './constants.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';

/** Letters, digits, '-', '_' and dots: DNS names and .onion addresses, nothing that could break a request line. */
const HOSTNAME_PATTERN = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/;

/**
 * Checks an end point before it goes into a SOCKS request or an HTTP request
 * line: a malformed host could inject headers (CR/LF) or overflow a length byte.
 */
export function validateTarget(endpoint: Endpoint): void {
  const { host, port } = endpoint;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ProxyError(PROXY_ERROR_CODES.BAD_TARGET, `target port must be an integer in 1..65535, got ${String(port)}`);
  }
  if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST_LENGTH) {
    throw new ProxyError(PROXY_ERROR_CODES.BAD_TARGET, `target host must be 1..${MAX_HOST_LENGTH} characters`);
  }
  if (isIP(host) !== 0) {
    // Zone IDs (fe80::1%eth0) are local-only and awkward in an HTTP authority.
    if (host.includes('%')) throw new ProxyError(PROXY_ERROR_CODES.BAD_TARGET, 'target IPv6 zone IDs are not supported');
    return;
  }
  if (!HOSTNAME_PATTERN.test(host) || host.includes('..')) {
    throw new ProxyError(PROXY_ERROR_CODES.BAD_TARGET, 'target host is not a valid host name or IP literal');
  }
}

/** `host:port`, with IPv6 literals in brackets (RFC 9110 authority form). */
export function formatAuthority(endpoint: Endpoint): string {
  return isIP(endpoint.host) === 6 ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}
