/**
 * SOCKS5 CONNECT (RFC 1928) with no-auth or username/password (RFC 1929),
 * negotiated by the `socks` package over a TCP socket we open ourselves (so the
 * connect timeout, the abort signal and the proxy-name lookup stay ours).
 * The destination goes to the proxy as given: a host name is sent as a name
 * (ATYP 3) and resolved by the proxy, never locally.
 */
import type { Socket } from 'node:net';
import { SocksClient, type SocksClientError } from 'socks';
import type { Endpoint } from '../../core/types.js';
import { openTcp, type DialGuard, type OpenTcpOptions } from './dial-guard.js';
import { PROXY_ERROR_CODES, ProxyError, type ProxyErrorCode } from './errors.js';
import type { ProxyServerConfig } from './options.js';

/** RFC 1928 §6 reply names as the `socks` package spells them, with their codes. */
const SOCKS5_REPLY_CODES: Readonly<Record<string, number>> = Object.freeze({
  Failure: 1,
  NotAllowed: 2,
  NetworkUnreachable: 3,
  HostUnreachable: 4,
  ConnectionRefused: 5,
  TTLExpired: 6,
  CommandNotSupported: 7,
  AddressNotSupported: 8,
});

/** What each SOCKS5 reply code means to a caller. */
function replyToCode(reply: number): ProxyErrorCode {
  if (reply === 2) return PROXY_ERROR_CODES.FORBIDDEN;
  if (reply >= 3 && reply <= 6) return PROXY_ERROR_CODES.TARGET_UNREACHABLE;
  return PROXY_ERROR_CODES.REFUSED;
}

/**
 * Turns a `socks` error into ours. The package's error object carries the
 * client options, password included, so only its message is kept (no cause).
 */
export function mapSocksError(err: SocksClientError | Error, label: string, offeredCredentials: boolean): ProxyError {
  const message = String(err.message ?? '');
  if (message.startsWith('Socks5 proxy rejected connection')) {
    const name = message.split(' - ')[1]?.trim() ?? '';
    const reply = SOCKS5_REPLY_CODES[name];
    if (reply !== undefined) {
      return new ProxyError(replyToCode(reply), `${label}: proxy refused the connection (SOCKS reply ${reply} ${name})`, { socksReply: reply });
    }
    return new ProxyError(PROXY_ERROR_CODES.REFUSED, `${label}: proxy refused the connection (unknown SOCKS reply)`);
  }
  if (message.includes('no accepted authentication type')) {
    return new ProxyError(
      PROXY_ERROR_CODES.AUTH_REQUIRED,
      offeredCredentials
        ? `${label}: proxy accepts none of our authentication methods`
        : `${label}: proxy requires authentication (set username and password)`,
    );
  }
  if (message.startsWith('Socks5 Authentication failed')) {
    return new ProxyError(PROXY_ERROR_CODES.AUTH_FAILED, `${label}: proxy rejected the username or password`);
  }
  if (message === 'Socket closed') {
    return new ProxyError(PROXY_ERROR_CODES.CLOSED, `${label}: proxy closed the connection during negotiation`);
  }
  if (message.startsWith('Received invalid') || message.startsWith('Negotiation error') || message.includes('internal error')) {
    return new ProxyError(PROXY_ERROR_CODES.BAD_RESPONSE, `${label}: proxy answered something that is not SOCKS5`);
  }
  if (message === 'Proxy connection timed out') {
    return new ProxyError(PROXY_ERROR_CODES.TIMEOUT, `${label}: SOCKS negotiation timed out`);
  }
  return new ProxyError(PROXY_ERROR_CODES.CLOSED, `${label}: SOCKS negotiation failed (${message.slice(0, 80)})`);
}

/**
 * The `socks` package pauses the socket, then one macrotask later emits any
 * bytes that arrived with the reply as a raw 'data' event and resumes. Bytes
 * emitted with nobody listening would be lost, so we collect them across that
 * turn and hand the socket back paused-but-unclaimed with them unshifted: the
 * caller may attach a 'data' listener or pipe whenever it likes.
 */
async function settleEstablished(socket: Socket): Promise<Error | undefined> {
  const early: Buffer[] = [];
  let failure: Error | undefined;
  const collect = (chunk: Buffer): void => {
    early.push(chunk);
  };
  // The package removed its own 'error' listener; an error now must not crash.
  const onError = (err: Error): void => {
    failure = err;
  };
  socket.on('data', collect);
  socket.on('error', onError);
  await new Promise<void>((resolve) => setImmediate(resolve));
  socket.removeListener('data', collect);
  socket.removeListener('error', onError);
  if (failure !== undefined) return failure;
  socket.pause();
  if (early.length > 0) socket.unshift(Buffer.concat(early));
  // Attaching and removing a 'readable' listener resets the stream to its
  // initial "no consumer yet" state, so a later on('data') starts the flow.
  const noop = (): void => {};
  socket.on('readable', noop);
  socket.removeListener('readable', noop);
  return undefined;
}

export interface Socks5DialOptions {
  proxy: ProxyServerConfig;
  target: Endpoint;
  guard: DialGuard;
  label: string;
  lookup?: OpenTcpOptions['lookup'];
}

/** Opens a tunnel to `target` through a SOCKS5 proxy; rejects with a ProxyError. */
export async function dialSocks5(options: Socks5DialOptions): Promise<Socket> {
  const { proxy, target, guard, label } = options;
  const socket = await openTcp({ host: proxy.host, port: proxy.port, label, ...(options.lookup ? { lookup: options.lookup } : {}) }, guard);
  const unwatch = guard.watch(socket);
  const offeredCredentials = proxy.username !== undefined;
  try {
    await SocksClient.createConnection({
      command: 'connect',
      destination: { host: target.host, port: target.port },
      proxy: {
        host: proxy.host,
        port: proxy.port,
        type: 5,
        ...(offeredCredentials ? { userId: proxy.username, password: proxy.password ?? '' } : {}),
      },
      existing_socket: socket,
      // Our guard owns the deadline; this is only a backstop.
      timeout: 600_000,
    });
  } catch (err) {
    socket.destroy();
    if (guard.aborted) throw guard.reason;
    throw mapSocksError(err as Error, label, offeredCredentials);
  } finally {
    unwatch();
  }
  if (guard.aborted) {
    socket.destroy();
    throw guard.reason;
  }
  const failure = await settleEstablished(socket);
  if (failure !== undefined || socket.destroyed) {
    socket.destroy();
    throw new ProxyError(PROXY_ERROR_CODES.CLOSED, `${label}: tunnel closed as it opened`);
  }
  return socket;
}
