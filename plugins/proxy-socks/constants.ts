/** Name used for every tap and service this plugin registers. */
export const PLUGIN_NAME = 'proxy-socks';
export const PLUGIN_VERSION = '0.1.0';

/** Spec §9.7: TCP connect 10 s; used when a caller gives no timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Tor's default SocksPort. */
export const TOR_DEFAULT_SOCKS_PORT = 9050;
export const DEFAULT_SOCKS_PORT = 1080;
export const DEFAULT_HTTP_PROXY_PORT = 8080;

/** Cap on an HTTP CONNECT response head (status line + headers + blank line). */
export const MAX_CONNECT_RESPONSE_BYTES = 8192;
/** Cap on the number of header lines in a CONNECT response. */
export const MAX_CONNECT_RESPONSE_HEADERS = 64;
/** RFC 1929 and RFC 1928 carry lengths in one byte. */
export const MAX_SOCKS_FIELD_BYTES = 255;
/** DNS names are at most 253 characters; we allow the RFC 1928 byte-length limit. */
export const MAX_HOST_LENGTH = 255;
/** Default cap on a body read by `proxiedFetch`. */
export const DEFAULT_MAX_FETCH_BODY_BYTES = 4 * 1024 * 1024;
/** Runs before other `dial` taps (relay fallback, core's direct TCP). */
export const DIAL_TAP_STAGE = -100;
