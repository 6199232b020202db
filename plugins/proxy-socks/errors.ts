import { BitChatError } from '../../core/errors.js';

/** Stable codes of this plugin's errors. Callers and tests match on these. */
export const PROXY_ERROR_CODES = Object.freeze({
  /** Options are invalid (bad type, port, credentials, Tor mode with a host name). */
  BAD_OPTIONS: 'ERR_PROXY_BAD_OPTIONS',
  /** The end point to reach through the proxy is malformed. */
  BAD_TARGET: 'ERR_PROXY_BAD_TARGET',
  /** No TCP connection to the proxy itself (down, refused, unreachable). */
  UNREACHABLE: 'ERR_PROXY_UNREACHABLE',
  /** The connect timeout elapsed before the tunnel was open. */
  TIMEOUT: 'ERR_PROXY_TIMEOUT',
  /** The caller's abort signal fired. */
  ABORTED: 'ERR_PROXY_ABORTED',
  /** The proxy wants authentication we did not offer. */
  AUTH_REQUIRED: 'ERR_PROXY_AUTH_REQUIRED',
  /** The proxy rejected our credentials. */
  AUTH_FAILED: 'ERR_PROXY_AUTH_FAILED',
  /** The proxy's rules forbid this destination (SOCKS reply 2, HTTP 403). */
  FORBIDDEN: 'ERR_PROXY_FORBIDDEN',
  /** The proxy could not reach the destination (SOCKS replies 3-6, HTTP 502/503/504). */
  TARGET_UNREACHABLE: 'ERR_PROXY_TARGET_UNREACHABLE',
  /** Any other refusal by the proxy (SOCKS replies 1, 7, 8; other HTTP statuses). */
  REFUSED: 'ERR_PROXY_REFUSED',
  /** The proxy answered bytes that are not the protocol. */
  BAD_RESPONSE: 'ERR_PROXY_BAD_RESPONSE',
  /** The proxy closed the connection during negotiation. */
  CLOSED: 'ERR_PROXY_CLOSED',
  /** The network policy (Tor mode) forbids the operation. */
  POLICY: 'ERR_PROXY_POLICY',
  /** An HTTP request through the proxy failed after the tunnel opened. */
  FETCH_FAILED: 'ERR_PROXY_FETCH_FAILED',
});

export type ProxyErrorCode = (typeof PROXY_ERROR_CODES)[keyof typeof PROXY_ERROR_CODES];

/** Details a caller may inspect. Never carries credentials. */
export interface ProxyErrorDetails {
  /** SOCKS5 reply code (RFC 1928 §6) when the proxy sent one. */
  socksReply?: number;
  /** HTTP status when an HTTP proxy answered. */
  httpStatus?: number;
  cause?: unknown;
}

/**
 * A proxy failure. Messages name the proxy by type, host and port only:
 * credentials never appear in a message, a field or a cause.
 */
export class ProxyError extends BitChatError {
  readonly socksReply?: number;
  readonly httpStatus?: number;

  constructor(code: ProxyErrorCode, message: string, details: ProxyErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProxyError';
    if (details.socksReply !== undefined) this.socksReply = details.socksReply;
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
  }
}
