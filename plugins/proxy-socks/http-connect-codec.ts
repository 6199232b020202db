/**
 * HTTP CONNECT (RFC 9110 §9.3.6) request encoder and response-head decoder.
 *
 * Request (ASCII, every line ends CR LF):
 *
 * | line | content |
 * | --- | --- |
 * | request line | `CONNECT <authority> HTTP/1.1` (authority `host:port`, IPv6 as `[addr]:port`) |
 * | header | `Host: <authority>` |
 * | header (optional) | `Proxy-Authorization: Basic <base64(user ":" password)>` |
 * | end | empty line |
 *
 * Response head (what we read before the tunnel carries data):
 *
 * | part | content | checks |
 * | --- | --- | --- |
 * | status line | `HTTP/1.<0|1> <3 digits>[ <reason>]` | version, 3-digit status 100..599, no control bytes |
 * | headers | `name: value` lines | token name, no control bytes, at most 64 lines |
 * | end | empty line (CR LF, or bare LF from sloppy proxies) | whole head at most 8192 bytes |
 *
 * Bytes after the head belong to the tunnel and are returned untouched.
 */
import type { Endpoint } from '../../core/types.js';
import { MAX_CONNECT_RESPONSE_BYTES, MAX_CONNECT_RESPONSE_HEADERS } from './constants.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';
import { formatAuthority, validateTarget } from './target.js';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** A parsed CONNECT response head. */
export interface ConnectResponse {
  httpVersion: '1.0' | '1.1';
  status: number;
  reason: string;
  /** Header names lower-cased, in order; repeated names kept. */
  headers: Array<[string, string]>;
  /** Bytes the head occupied, terminator included: the tunnel starts after it. */
  headLength: number;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5][0-9]{2})(?: ([^\u0000-\u0008\u000a-\u001f\u007f]*))?$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_VALUE_BYTES = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** The CONNECT request for `target`, with Basic auth when `credentials` are given. */
export function encodeConnectRequest(target: Endpoint, credentials?: BasicCredentials): Buffer {
  validateTarget(target);
  const authority = formatAuthority(target);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (credentials !== undefined) {
    const token = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
    head += `Proxy-Authorization: Basic ${token}\r\n`;
  }
  head += '\r\n';
  return Buffer.from(head, 'latin1');
}

function badResponse(why: string): ProxyError {
  return new ProxyError(PROXY_ERROR_CODES.BAD_RESPONSE, `HTTP proxy sent a malformed response: ${why}`);
}

/** Index just past the blank line ending the head, or -1 when not seen yet. */
function findHeadEnd(buf: Buffer, limit: number): number {
  const end = Math.min(buf.length, limit);
  for (let i = 0; i < end; i++) {
    if (buf[i] !== 0x0a) continue;
    // LF LF, or LF CR LF (the usual CR LF CR LF).
    if (i + 1 < buf.length && buf[i + 1] === 0x0a) return i + 2;
    if (i + 2 < buf.length && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/**
 * Decodes a CONNECT response head from the bytes received so far. Returns
 * `undefined` while the head is incomplete and still under the cap; throws
 * ERR_PROXY_BAD_RESPONSE for anything malformed or oversized.
 */
export function decodeConnectResponse(buf: Buffer, maxBytes: number = MAX_CONNECT_RESPONSE_BYTES): ConnectResponse | undefined {
  // The first bytes must already look like HTTP: garbage fails fast, not at the cap.
  const prefix = 'HTTP/1.';
  const seen = Math.min(buf.length, prefix.length);
  if (buf.toString('latin1', 0, seen) !== prefix.slice(0, seen)) throw badResponse('no HTTP status line');
  const headEnd = findHeadEnd(buf, maxBytes);
  if (headEnd === -1 || headEnd > maxBytes) {
    if (buf.length >= maxBytes) throw badResponse(`head larger than ${maxBytes} bytes`);
    return undefined;
  }
  const lines = buf
    .toString('latin1', 0, headEnd)
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  // The split leaves two empty strings at the end (blank line + after final LF).
  lines.length -= 2;
  const statusLine = lines[0] ?? '';
  const match = STATUS_LINE.exec(statusLine);
  if (match === null) throw badResponse('bad status line');
  if (lines.length - 1 > MAX_CONNECT_RESPONSE_HEADERS) throw badResponse(`more than ${MAX_CONNECT_RESPONSE_HEADERS} headers`);
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) throw badResponse('header line without a name');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!HEADER_NAME.test(name)) throw badResponse('bad header name');
    if (FORBIDDEN_VALUE_BYTES.test(value)) throw badResponse('control byte in a header value');
    headers.push([name.toLowerCase(), value]);
  }
  return {
    httpVersion: match[1] === '0' ? '1.0' : '1.1',
    status: Number(match[2]),
    reason: match[3] ?? '',
    headers,
    headLength: headEnd,
  };
}
