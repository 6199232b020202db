import { isIP } from 'node:net';
import type { JsonSchema } from '../../core/plugin.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HTTP_PROXY_PORT,
  DEFAULT_SOCKS_PORT,
  MAX_SOCKS_FIELD_BYTES,
  TOR_DEFAULT_SOCKS_PORT,
} from './constants.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';

export type ProxyType = 'socks5' | 'http';

/** The plugin's options as written in the config file. */
export interface ProxySocksOptions {
  /** Proxy protocol. @default 'socks5' */
  type?: ProxyType;
  /** Proxy host. In Tor mode it must be an IP literal (no DNS lookup, ever). @default '127.0.0.1' */
  host?: string;
  /** Proxy port. @default 9050 in Tor mode, else 1080 (socks5) or 8080 (http) */
  port?: number;
  /** SOCKS5 user name (RFC 1929) or HTTP Basic user. Never logged. */
  username?: string;
  /** Password for `username`. Never logged. */
  password?: string;
  /** Tor mode: no UDP, no LAN discovery, no listening (unless `listen`), no local DNS. @default false */
  tor?: boolean;
  /** In Tor mode, still accept inbound TCP on the configured listen port. @default false */
  listen?: boolean;
  /** Connect timeout when a caller gives none, in ms. @default 10000 */
  connectTimeoutMs?: number;
}

/** Where and how to reach the proxy. */
export interface ProxyServerConfig {
  type: ProxyType;
  host: string;
  port: number;
  username?: string;
  password?: string;
}

export interface NormalizedProxyOptions {
  proxy: ProxyServerConfig;
  tor: boolean;
  listen: boolean;
  connectTimeoutMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: ['socks5', 'http'], default: 'socks5' },
    host: { type: 'string', minLength: 1, maxLength: 255, default: '127.0.0.1' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    username: { type: 'string', minLength: 1, maxLength: MAX_SOCKS_FIELD_BYTES },
    password: { type: 'string', maxLength: MAX_SOCKS_FIELD_BYTES },
    tor: { type: 'boolean', default: false },
    listen: { type: 'boolean', default: false },
    connectTimeoutMs: { type: 'integer', minimum: 1, maximum: 600000, default: DEFAULT_CONNECT_TIMEOUT_MS },
  },
};

// Control characters would break an HTTP header or be silently mangled by a proxy.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function bad(message: string): ProxyError {
  return new ProxyError(PROXY_ERROR_CODES.BAD_OPTIONS, message);
}

/**
 * Applies defaults and checks what a JSON Schema cannot say. Messages name the
 * field, never its value when that value is a credential.
 */
export function normalizeOptions(raw: ProxySocksOptions = {}): NormalizedProxyOptions {
  const tor = raw.tor === true;
  const type: ProxyType = raw.type ?? 'socks5';
  if (type !== 'socks5' && type !== 'http') throw bad(`type must be 'socks5' or 'http'`);
  const host = raw.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0 || host.length > 255 || CONTROL_CHARS.test(host)) {
    throw bad('host must be a host name or IP literal');
  }
  // In Tor mode resolving the proxy's own name would be a DNS lookup outside the proxy.
  if (tor && isIP(host) === 0) throw bad('in Tor mode, host must be an IP literal (a name would need a DNS lookup)');
  const defaultPort = tor ? TOR_DEFAULT_SOCKS_PORT : type === 'http' ? DEFAULT_HTTP_PROXY_PORT : DEFAULT_SOCKS_PORT;
  const port = raw.port ?? defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('port must be an integer in 1..65535');

  const proxy: ProxyServerConfig = { type, host, port };
  if (raw.username !== undefined || raw.password !== undefined) {
    const username = raw.username ?? '';
    const password = raw.password ?? '';
    if (username.length === 0) throw bad('username is required when password is set');
    if (Buffer.byteLength(username) > MAX_SOCKS_FIELD_BYTES) throw bad(`username must be at most ${MAX_SOCKS_FIELD_BYTES} bytes`);
    if (Buffer.byteLength(password) > MAX_SOCKS_FIELD_BYTES) throw bad(`password must be at most ${MAX_SOCKS_FIELD_BYTES} bytes`);
    if (CONTROL_CHARS.test(username)) throw bad('username must not contain control characters');
    if (CONTROL_CHARS.test(password)) throw bad('password must not contain control characters');
    // RFC 7617: the user-id of Basic auth cannot contain a colon.
    if (type === 'http' && username.includes(':')) throw bad('username must not contain ":" for an HTTP proxy');
    proxy.username = username;
    proxy.password = password;
  }
  const connectTimeoutMs = raw.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) throw bad('connectTimeoutMs must be a positive integer');
  return { proxy, tor, listen: raw.listen === true, connectTimeoutMs };
}

/** `socks5 127.0.0.1:1080`: how logs and errors name a proxy (never with credentials). */
export function describeProxy(proxy: ProxyServerConfig): string {
  const host = isIP(proxy.host) === 6 ? `[${proxy.host}]` : proxy.host;
  return `${proxy.type} ${host}:${proxy.port}`;
}
